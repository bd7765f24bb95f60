"""ART trainer parity: ART's adversarial trainers on plain ART's PyTorchClassifier vs through ``rb.estimators.to_art``.

ART's ``AdversarialTrainer`` and ``AdversarialTrainerMadryPGD`` call the estimator's ``fit`` once per batch, so
an estimator must keep its optimizer state (momentum) across calls to train as plain ART does. This script
trains the flat digits MLP (``rb.archs.build("mlp")``, 2 x 256) on the full embedded digits training split
(1437 images) with, for each trainer, (a) ART's ``PyTorchClassifier`` and (b) ``to_art`` wrapping a copy of the
same initial network, each with its own ``torch.optim.SGD`` of the same settings and the same seeds (torch's
and numpy's global RNGs, which ART's shuffling and random starts draw from, reseeded before each training):

- ``madry``: ``AdversarialTrainerMadryPGD`` (every sample replaced by Linf PGD, ``--train-steps`` steps of
  eps / 4, one random start);
- ``at-pgd``: ``AdversarialTrainer`` with ART's ``ProjectedGradientDescent`` (same budget, no random start)
  at ART's default ratio 0.5 (half of each batch adversarial, drawn from numpy's RNG);
- ``standard``: the estimator's own ``fit`` on clean data (the reference).

ROBIN (10 one-vs-all MLP arms) and HAR (coarse MLP "0-4 vs 5-9" and two fine MLPs) have no plain-ART
counterpart (ART's ``fit`` trains one network on one loss); they run ``madry`` and ``standard`` through
``to_art`` with the same optimizer settings and budget. Every model is evaluated on the full digits test
split (360 images): clean accuracy and robust accuracy under ART's ``ProjectedGradientDescent`` (Linf,
``--eval-steps`` steps of eps / 4, numpy seeded identically before each evaluation). Training wall time is
measured around the trainer's ``fit`` only. Each flat pair is trained ``--repeats`` times, which estimator runs
first alternating, and the time ratio is the median of the per-pair ratios (this damps the noise of a shared
machine); the seeds make every repeat train the same model, which the parity table checks. The load
average of the machine is printed at start and end.

Usage::

    OMP_NUM_THREADS=1 TQDM_DISABLE=1 python benchmarks/perf/art_parity.py  # TQDM_DISABLE: no ART progress bars
    OMP_NUM_THREADS=1 TQDM_DISABLE=1 python benchmarks/perf/art_parity.py --epochs 20 --kinds flat
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import art
import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.defences.trainer import AdversarialTrainer, AdversarialTrainerMadryPGD
from art.estimators.classification import PyTorchClassifier
from torch import nn

import robin_bench as rb
from robin_bench.estimators import to_art

IN_SHAPE = (1, 8, 8)
N_CLASSES = 10
EVAL_SEED = 123
HIERARCHY = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
TRAINERS = ("madry", "at-pgd", "standard")


@dataclass(frozen=True)
class Row:
    """One trained model: training seconds and correct counts on the test split."""

    seconds: float
    clean: int
    robust: int


def seed_all(seed: int) -> None:
    """Seed numpy's global RNG (ART's shuffling, random starts, ratio draws) and torch's."""
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (what ``lscpu`` shows), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def build(kind: str, seed: int) -> nn.Module:
    """The digits MLP as a flat, ROBIN or HAR model, initialized from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    hierarchy = rb.Hierarchy.from_groups(HIERARCHY) if kind == "har" else None
    return rb.build_model(kind, arch="mlp", in_shape=IN_SHAPE, n_classes=N_CLASSES, hierarchy=hierarchy)  # type: ignore[arg-type]


def estimator(net: nn.Module, which: str, args: argparse.Namespace) -> PyTorchClassifier:
    """Plain ART's ``PyTorchClassifier`` (``which="plain ART"``) or ``to_art``'s, each with a fresh SGD."""
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    if which == "plain ART":
        return PyTorchClassifier(
            net,
            nn.CrossEntropyLoss(),
            IN_SHAPE,
            N_CLASSES,
            optimizer=optimizer,
            clip_values=(0.0, 1.0),
            device_type="cpu",
        )
    return to_art(net, input_shape=IN_SHAPE, optimizer=optimizer)


def trainer_fit(
    trainer: str, clf: PyTorchClassifier, args: argparse.Namespace
) -> Callable[[np.ndarray, np.ndarray], None]:
    """``fit(x, y)`` of one trainer on ``clf`` with the script's budget."""
    eps, steps, bs, epochs = args.eps, args.train_steps, args.batch_size, args.epochs
    if trainer == "madry":
        madry = AdversarialTrainerMadryPGD(
            clf, nb_epochs=epochs, batch_size=bs, eps=eps, eps_step=eps / 4, max_iter=steps
        )
        return madry.fit
    if trainer == "at-pgd":
        pgd = ProjectedGradientDescent(clf, eps=eps, eps_step=eps / 4, max_iter=steps, batch_size=bs, verbose=False)
        at = AdversarialTrainer(clf, pgd, ratio=0.5)
        return lambda x, y: at.fit(x, y, batch_size=bs, nb_epochs=epochs)
    return lambda x, y: clf.fit(x, y, batch_size=bs, nb_epochs=epochs, verbose=False)


def correct(clf: PyTorchClassifier, x: np.ndarray, y: np.ndarray, eps: float, steps: int) -> tuple[int, int]:
    """Clean and ART-PGD (Linf ``eps``, ``steps`` steps of eps / 4) correct counts on ``(x, y)``."""
    clean = int((clf.predict(x).argmax(1) == y).sum())
    np.random.seed(EVAL_SEED)
    attack = ProjectedGradientDescent(clf, eps=eps, eps_step=eps / 4, max_iter=steps, verbose=False)
    robust = int((clf.predict(attack.generate(x, y)).argmax(1) == y).sum())
    return clean, robust


def run(
    kind: str, trainer: str, which: str, net: nn.Module, data: tuple[np.ndarray, ...], args: argparse.Namespace
) -> Row:
    """Train ``net`` with ``trainer`` on estimator ``which`` (seeded, timed), evaluate it, print its table row."""
    x, y, xt, yt = data
    clf = estimator(net, which, args)
    fit = trainer_fit(trainer, clf, args)
    seed_all(args.seed)
    start = time.perf_counter()
    fit(x, y)
    seconds = time.perf_counter() - start
    clean, robust = correct(clf, xt, yt, args.eps, args.eval_steps)
    row = Row(seconds, clean, robust)
    n = len(yt)
    print(f"| {kind} | {trainer} | {which} | {clean / n:.3f} | {robust / n:.3f} | {seconds:.1f} |", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every model (default 10)")
    parser.add_argument("--eps", type=float, default=0.1, help="Linf budget of training and evaluation (default 0.1)")
    parser.add_argument("--train-steps", type=int, default=5, help="PGD steps of the trainers (default 5)")
    parser.add_argument("--eval-steps", type=int, default=10, help="PGD steps of the evaluation (default 10)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate, constant (default 0.05)")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0, help="model initialization and training RNG seed (default 0)")
    parser.add_argument("--kinds", nargs="+", choices=("flat", "robin", "har"), default=["flat", "robin", "har"])
    parser.add_argument("--trainers", nargs="+", choices=TRAINERS, default=list(TRAINERS))
    parser.add_argument("--repeats", type=int, default=2, help="trainings of each flat pair, for timing (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y = rb.datasets.load("digits", split="train")
    xt, yt = rb.datasets.load("digits", split="test")
    data = (x.numpy(), y.numpy(), xt.numpy(), yt.numpy())
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cpus ({len(os.sched_getaffinity(0))} usable), "
        f"torch threads {args.threads}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"python {platform.python_version()}, torch {torch.__version__}, ART {art.__version__}, "
        f"robin_bench {rb.__version__}"
    )
    print(f"load average (1, 5, 15 min) at start: {load_average()}")
    print(
        f"digits: {len(y)} training images, {len(yt)} test images; {args.epochs} epochs, batch {args.batch_size}, "
        f"SGD lr {args.lr} momentum {args.momentum} (constant); train Linf eps {args.eps}, {args.train_steps} "
        f"steps of eps/4; eval ART PGD-{args.eval_steps} at eps {args.eps}, step eps/4; seed {args.seed}"
    )
    print()
    print("| model | trainer | estimator | clean | robust | train s |")
    print("|---|---|---|---:|---:|---:|")
    pairs: dict[str, list[tuple[Row, Row]]] = {}
    for kind in args.kinds:
        for trainer in args.trainers:
            if kind == "flat":
                for r in range(args.repeats):
                    net = build(kind, args.seed)
                    order = [("plain ART", copy.deepcopy(net)), ("to_art", net)]
                    if r % 2 == 1:  # alternate which runs first, so load drift favours neither
                        order.reverse()
                    done = {which: run(kind, trainer, which, model, data, args) for which, model in order}
                    pairs.setdefault(trainer, []).append((done["plain ART"], done["to_art"]))
            elif trainer != "at-pgd":
                run(kind, trainer, "to_art", build(kind, args.seed), data, args)
    print()
    print(f"load average (1, 5, 15 min) at end: {load_average()}")
    if pairs:
        print()
        print(
            f"parity on the flat MLP (correct test samples of {len(yt)}, diff = to_art - plain ART; seconds: median "
            f"of {args.repeats} trainings; ratio: median of per-pair to_art / plain):"
        )
        print()
        print(
            "| trainer | robust plain | robust to_art | robust diff | clean diff | repeats agree | plain s "
            "| to_art s | ratio |"
        )
        print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
        for trainer, runs in pairs.items():
            plain, ours = runs[0]
            agree = all(
                (p.clean, p.robust, o.clean, o.robust) == (plain.clean, plain.robust, ours.clean, ours.robust)
                for p, o in runs
            )
            ratio = statistics.median(o.seconds / p.seconds for p, o in runs)
            print(
                f"| {trainer} | {plain.robust} | {ours.robust} | {ours.robust - plain.robust:+d} | "
                f"{ours.clean - plain.clean:+d} | {'yes' if agree else 'NO'} | "
                f"{statistics.median(p.seconds for p, _ in runs):.1f} | "
                f"{statistics.median(o.seconds for _, o in runs):.1f} | {ratio:.2f} |"
            )


if __name__ == "__main__":
    main()
