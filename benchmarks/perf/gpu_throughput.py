"""PGD and AutoAttack throughput of robin-bench against torchattacks on a ResNet-18 at 32x32, on one device.

Same process, model and inputs (an untrained ``resnet18``, seed 0, uniform random images labelled by the model,
so clean accuracy is 1), Linf eps 8/255. After one warm-up each, the runs are timed round-robin ``--repeats``
times (``torch.cuda.synchronize`` around each on a GPU) and the median is reported in images per second:

- PGD, ``--steps`` steps, step 2.5 * eps / steps, one random start: ours with every sample taking every step
  (``Attack.ascend`` without a success test, the same work as torchattacks) against ``torchattacks.PGD``;
- APGD-CE, ``--steps`` iterations, one restart: ``rb.attacks.AutoAttack(version="custom",
  attacks_to_run=["apgd-ce"])`` (pyautoattack) against ``torchattacks.APGD(loss="ce")``;
- standard AutoAttack at ``--steps`` iterations and ``--queries`` Square queries: ``rb.attacks.AutoAttack``
  against ``torchattacks.AutoAttack``. Both stop a sample at its first success, and an untrained network
  breaks quickly, so this row times the ensemble's overhead more than its attacks.

A ratio above 1 means robin-bench is faster. Prints one markdown table.

Usage::

    python benchmarks/perf/gpu_throughput.py --device cuda
    python benchmarks/perf/gpu_throughput.py --device cpu --arch cnn2 --batch 4 --steps 2 --repeats 1  # a smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torchattacks

import robin_bench as rb
from robin_bench.attacks.losses import ce

EPS = 8 / 255
IN_SHAPE = (3, 32, 32)


def median_seconds(runs: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall time of each run, timed round-robin after one warm-up each."""

    def timed(run: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    for run in runs.values():
        timed(run)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(timed(run))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--queries", type=int, default=100, help="Square's queries in standard AutoAttack (100)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--arch", default="resnet18", help="registered architecture (resnet18; a smaller one for a smoke run)"
    )
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = rb.archs.build(args.arch, in_shape=IN_SHAPE, n_outputs=10).to(device).eval()
    x = torch.rand(args.batch, *IN_SHAPE, device=device)
    with torch.no_grad():
        y = model(x).argmax(1)
    alpha = 2.5 * EPS / args.steps

    ours_pgd = rb.attacks.PGD(model, norm="Linf", eps=EPS, alpha=alpha, steps=args.steps)
    ours_apgd = rb.attacks.AutoAttack(
        model, norm="Linf", eps=EPS, version="custom", attacks_to_run=["apgd-ce"], n_iter=args.steps, n_classes=10
    )
    ours_aa = rb.attacks.AutoAttack(
        model, norm="Linf", eps=EPS, n_iter=args.steps, n_queries=args.queries, n_classes=10
    )
    their_pgd = torchattacks.PGD(model, eps=EPS, alpha=alpha, steps=args.steps, random_start=True)
    their_apgd = torchattacks.APGD(model, eps=EPS, steps=args.steps, n_restarts=1, loss="ce", seed=0)
    their_aa = torchattacks.AutoAttack(model, norm="Linf", eps=EPS, version="standard", n_classes=10, seed=0)
    for sub in their_aa._autoattack.attacks:  # the same budgets as ours
        if hasattr(sub, "steps"):
            sub.steps = args.steps
        if hasattr(sub, "n_queries"):
            sub.n_queries = args.queries

    pairs = {
        f"PGD-{args.steps}": (
            lambda: ours_pgd.ascend(x, y, ce, None, steps=args.steps, alpha=alpha, generator=ours_pgd.generator(x)),
            lambda: their_pgd(x, y),
        ),
        f"APGD-CE-{args.steps}": (lambda: ours_apgd(x, y), lambda: their_apgd(x, y)),
        "AutoAttack standard": (lambda: ours_aa(x, y), lambda: their_aa(x, y)),
    }
    runs = {
        f"{row} {who}": fn for row, fns in pairs.items() for who, fn in zip(("ours", "torchattacks"), fns, strict=True)
    }
    seconds = median_seconds(runs, args.repeats, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"{name}; torch {torch.__version__}, torchattacks {torchattacks.__version__}, robin-bench "
        f"{rb.__version__}; {args.arch} {IN_SHAPE}, batch {args.batch}, Linf eps 8/255, median of {args.repeats}"
    )
    print("| attack | ours img/s | torchattacks img/s | ours / torchattacks |")
    print("|---|---|---|---|")
    for row in pairs:
        ours, theirs = args.batch / seconds[f"{row} ours"], args.batch / seconds[f"{row} torchattacks"]
        print(f"| {row} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
