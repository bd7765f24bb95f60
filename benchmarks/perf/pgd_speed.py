"""Wall time of Linf PGD on cnn2 (MNIST shape): robin-bench vs torchattacks.PGD vs ART's ProjectedGradientDescent.

All three run the same budget in one process, on the same model and inputs: batch 256, 10 steps, eps 0.3,
step 2.5 * eps / steps, one random start. After one warm-up each, the four runs are timed round-robin
``--repeats`` times (so load from other processes hits all alike); the median is reported, with ratios.

Two figures for ours:
- ``ours (no early exit)``: ``Attack.ascend`` with ``success=None``, every sample takes every step, the
  same work as the toolkits (the fair comparison; the targets apply to it).
- ``ours (early exit)``: ``PGD(...)(x, y)`` as users call it; samples stop at their first success, so on
  this untrained network (easily broken) it is faster. Reported separately, not used for the targets.

Usage::

    python benchmarks/perf/pgd_speed.py [--repeats 5] [--batch 256] [--steps 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import art
import numpy as np
import torch
import torchattacks
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
from torch import nn

from robin_bench.attacks import PGD
from robin_bench.attacks.losses import ce
from robin_bench.models import archs

EPS = 0.3
IN_SHAPE = (1, 28, 28)


def _median_seconds(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each run, timed round-robin so that load from other processes hits all alike."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = archs.build("cnn2", in_shape=IN_SHAPE, n_outputs=10).eval()
    x = torch.rand(args.batch, *IN_SHAPE)
    with torch.no_grad():
        y = model(x).argmax(1)
    alpha = 2.5 * EPS / args.steps

    ours = PGD(model, norm="Linf", eps=EPS, alpha=alpha, steps=args.steps)
    theirs = torchattacks.PGD(model, eps=EPS, alpha=alpha, steps=args.steps, random_start=True)
    classifier = PyTorchClassifier(
        model, loss=nn.CrossEntropyLoss(), input_shape=IN_SHAPE, nb_classes=10, clip_values=(0.0, 1.0)
    )
    art_pgd = ProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=EPS,
        eps_step=alpha,
        max_iter=args.steps,
        num_random_init=1,
        batch_size=args.batch,
        verbose=False,
    )
    x_np, y_np = x.numpy(), y.numpy()

    def ours_full() -> object:
        return ours.ascend(x, y, ce, None, steps=args.steps, alpha=alpha, generator=ours.generator(x))

    timings = _median_seconds(
        {
            "ours (no early exit)": ours_full,
            "ours (early exit)": lambda: ours(x, y),
            "torchattacks.PGD": lambda: theirs(x, y),
            "ART ProjectedGradientDescent": lambda: art_pgd.generate(x_np, y=y_np),
        },
        args.repeats,
    )
    with torch.no_grad():
        broken = float((model(ours(x, y)).argmax(1) != y).float().mean())

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)")
    print(
        f"versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"torchattacks {torchattacks.__version__}, art {art.__version__}"
    )
    print(f"cnn2 {IN_SHAPE}, batch {args.batch}, {args.steps} steps, Linf eps {EPS}, median of {args.repeats}")
    print(f"early exit: ours breaks {broken:.0%} of this untrained network's predictions")
    for name, seconds in timings.items():
        print(f"{name:30s} {seconds:8.3f} s")
    full = timings["ours (no early exit)"]
    print(f"ratio ours(no early exit) / torchattacks = {full / timings['torchattacks.PGD']:.2f} (target <= 1.00)")
    print(
        f"ratio ours(no early exit) / ART          = {full / timings['ART ProjectedGradientDescent']:.2f} "
        "(target <= 0.80)"
    )
    early = timings["ours (early exit)"]
    print(f"ratio ours(early exit)    / torchattacks = {early / timings['torchattacks.PGD']:.2f}")


if __name__ == "__main__":
    main()
