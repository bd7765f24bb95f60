"""PGD-AT through robin_bench.train against a plain-PyTorch reference loop: trainer, recipe or budget?

Issue 12 asks whether robin-bench's trainer trains models as well as a short hand-written PGD-AT
script of the same architecture and budget. This script trains ``mlp`` (2x256) models on the full
digits training split (1433 images) with Linf PGD-AT at eps 0.1 (10 steps of 2.5 * eps / 10, one
uniform random start), ROBIN's warm-up (share of adversarial examples ``1 - (1 + cos(pi t / T)) / 2``
in epoch t), SGD (momentum 0.9, weight decay 5e-4, batch 128, remainder dropped), and for ROBIN one
binary arm per class with balanced batches (half positives). Each model is then attacked by the same
PGD-20 (Linf 0.1, cross-entropy, one random start; ``rb.attacks.PGD`` through ``rb.evaluate``) on all
364 test images.

Rows:

- ``plain``: the reference loop below (the issue's independent recipe: constant lr 0.05, T = epochs).
- ``rb``: ``train_flat`` / ``train_robin`` with the same recipe; a gap to ``plain`` is the trainer's.
- ``plain cosine`` / ``rb cosine``: cosine lr from epoch 0 under the same warm-up (robin-bench's
  default schedule); a gap to the constant rows is the recipe's.
- ``rb hold``: warm-up over the first half, lr held at 0.05 until the warm-up ends, then cosine to 0
  (``schedule_start="warmup"``).

``--convergence E`` instead trains each kind once (seed 0) with the ``rb hold`` recipe for E epochs,
holding out 10% of the training split (``val_fraction=0.1``), and prints the validation curves every
5 epochs and the plateau check of :mod:`robin_bench.analysis.convergence`: is the budget enough?

``--timing R`` instead times the two trainers on one flat model and on one ROBIN arm (class 3), 10 epochs
each of the constant recipe, plain and ours alternating R times (which one runs first alternating too),
and prints the median of the per-pair ratios ours / plain: on a shared machine this is the time
figure to quote, the table's seconds come from rows run minutes apart under different loads.

Every row is trained with ``--seeds`` seeds (the plain loop seeds torch's global RNG for the weights
and its own generator for batches and starts); the table gives the mean and the per-seed values, and
the training seconds of ``rb`` relative to ``plain``. The load average before and after is printed:
the machine may be shared.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/perf/plain_pgd_at.py --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/perf/plain_pgd_at.py --epochs 10 --seeds 0   # a quick look
    OMP_NUM_THREADS=1 python benchmarks/perf/plain_pgd_at.py --recipes "plain constant" "rb constant"
    OMP_NUM_THREADS=1 python benchmarks/perf/plain_pgd_at.py --convergence 40
    OMP_NUM_THREADS=1 python benchmarks/perf/plain_pgd_at.py --timing 5
    OMP_NUM_THREADS=1 python benchmarks/perf/plain_pgd_at.py --recipes "plain constant" --autoattack --seeds 0

``--autoattack`` judges the table's models with official AutoAttack (standard version, full budgets) instead of
PGD-20, the issue's own measure.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.train import TrainConfig, train_flat, train_robin

EPS = 0.1
STEPS = 10
BATCH = 128
LR = 0.05
SHAPE = (1, 8, 8)
"""Input shape of the digits images."""


@dataclass(frozen=True)
class Recipe:
    """One row of the comparison: who trains, the schedule, and the warm-up length as a share of the epochs."""

    label: str
    trainer: str
    schedule: Literal["constant", "cosine"]
    warmup_share: float
    schedule_start: int | Literal["warmup"] = 0


RECIPES = (
    Recipe("plain constant", "plain", "constant", 1.0),
    Recipe("rb constant", "rb", "constant", 1.0),
    Recipe("plain cosine", "plain", "cosine", 1.0),
    Recipe("rb cosine", "rb", "cosine", 1.0),
    Recipe("rb hold", "rb", "cosine", 0.5, "warmup"),
)


def share(epoch: int, warmup: int) -> float:
    """ROBIN's warm-up share of adversarial examples in epoch ``epoch`` (1 without warm-up)."""
    return 1.0 if warmup == 0 else 1 - (1 + math.cos(math.pi * min(epoch, warmup) / warmup)) / 2


def pgd(
    model: nn.Module, x: Tensor, target: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor], gen: torch.Generator
) -> Tensor:
    """Linf PGD from a uniform random start, every step taken, model in eval mode."""
    alpha = 2.5 * EPS / STEPS
    xa = (x + (2 * torch.rand(x.shape, generator=gen) - 1) * EPS).clamp(0, 1)
    for _ in range(STEPS):
        xa.requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(model(xa), target), xa)
        xa = torch.minimum(torch.maximum(xa.detach() + alpha * g.sign(), x - EPS), x + EPS).clamp(0, 1)
    return xa.detach()


def batches(labels: Tensor, balanced: bool, gen: torch.Generator) -> list[Tensor]:
    """One epoch of index batches: a shuffled split, or half positives (upsampled) and half negatives."""
    n = labels.shape[0]
    if not balanced:
        return list(torch.randperm(n, generator=gen)[: n // BATCH * BATCH].split(BATCH))
    pos, neg = labels.nonzero()[:, 0], (labels == 0).nonzero()[:, 0]
    half, count = BATCH // 2, n // BATCH * (BATCH // 2)
    p = torch.cat([pos[torch.randperm(pos.numel(), generator=gen)] for _ in range(-(-count // pos.numel()))])
    q = neg[torch.randperm(neg.numel(), generator=gen)][:count]
    both = torch.cat([p[:count].view(-1, half), q.view(-1, half)], dim=1)
    return [b[torch.randperm(BATCH, generator=gen)] for b in both]


def plain_fit(
    model: nn.Module, x: Tensor, labels: Tensor, *, binary: bool, epochs: int, warmup: int, schedule: str, seed: int
) -> None:
    """The reference loop: per batch, perturb the first share * B samples, cross-entropy (or BCE), SGD step."""

    def loss_fn(out: Tensor, t: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(out[:, 0], t.float()) if binary else F.cross_entropy(out, t)

    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        lr = LR * (1 + math.cos(math.pi * epoch / epochs)) / 2 if schedule == "cosine" else LR
        for group in opt.param_groups:
            group["lr"] = lr
        for idx in batches(labels, binary, gen):
            xb, tb = x[idx], labels[idx]
            k = round(share(epoch, warmup) * xb.shape[0])
            if k:
                model.eval()
                xb = torch.cat([pgd(model, xb[:k], tb[:k], loss_fn, gen), xb[k:]])
            model.train()
            loss = loss_fn(model(xb), tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()


def train(recipe: Recipe, kind: str, x: Tensor, y: Tensor, epochs: int, seed: int) -> tuple[nn.Module, float]:
    """A trained flat model or ROBIN classifier and its training seconds."""
    warmup = round(recipe.warmup_share * epochs)
    torch.manual_seed(seed)
    nets = (
        [rb.archs.build("mlp", in_shape=SHAPE, n_outputs=10)]
        if kind == "flat"
        else [rb.archs.build("mlp", in_shape=SHAPE, n_outputs=1) for _ in range(10)]
    )
    t0 = time.perf_counter()
    if recipe.trainer == "plain":
        for i, net in enumerate(nets):
            labels = y if kind == "flat" else (y == i).long()
            plain_fit(
                net,
                x,
                labels,
                binary=kind == "robin",
                epochs=epochs,
                warmup=warmup,
                schedule=recipe.schedule,
                seed=seed * 100 + i,
            )
        model: nn.Module = nets[0] if kind == "flat" else rb.RobinClassifier(nets)
    else:
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=BATCH,
            lr=LR,
            schedule=recipe.schedule,
            schedule_start=recipe.schedule_start,
            objective="pgd_at",
            norm="Linf",
            eps=EPS,
            steps=STEPS,
            warmup_epochs=warmup,
            balanced=True,
            seed=seed,
            progress=False,
        )
        if kind == "flat":
            train_flat(nets[0], x, y, cfg)
            model = nets[0]
        else:
            model = train_robin(nets, x, y, cfg)[0]
    return model.eval(), time.perf_counter() - t0


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, autoattack: bool = False) -> tuple[float, float]:
    """Clean and PGD-20 (Linf 0.1) accuracy on ``x``; with ``autoattack``, official AutoAttack (standard version,
    full budgets, pyautoattack through ``rb.attacks.AutoAttack``) instead of PGD-20."""
    attack = (
        rb.attacks.AutoAttack(model, norm="Linf", eps=EPS, version="standard")
        if autoattack
        else rb.attacks.PGD(model, norm="Linf", eps=EPS, steps=20, seed=0)
    )
    res = rb.evaluate(model, x, y, [attack], batch_size=len(y))
    return res.clean_acc, res.robust_acc


def convergence(kinds: list[str], x: Tensor, y: Tensor, epochs: int) -> None:
    """Validation curves of the ``rb hold`` recipe over ``epochs`` epochs and their plateau check."""
    from robin_bench.analysis.convergence import summarize_convergence, training_curves

    hold = RECIPES[-1]
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=BATCH,
        lr=LR,
        schedule=hold.schedule,
        schedule_start=hold.schedule_start,
        objective="pgd_at",
        norm="Linf",
        eps=EPS,
        steps=STEPS,
        warmup_epochs=round(hold.warmup_share * epochs),
        val_fraction=0.1,
        val_steps=20,
        progress=False,
    )
    histories = {}
    for kind in kinds:
        torch.manual_seed(0)
        if kind == "flat":
            histories[kind] = [train_flat(rb.archs.build("mlp", in_shape=SHAPE, n_outputs=10), x, y, cfg)]
        else:
            arms = [rb.archs.build("mlp", in_shape=SHAPE, n_outputs=1) for _ in range(10)]
            histories[kind] = train_robin(arms, x, y, cfg)[1]
    frame = training_curves(histories)
    mean = frame.groupby(["model", "epoch"])[["val_clean_acc", "val_robust_acc"]].mean().reset_index()
    print(mean[mean["epoch"] % 5 == 0].to_string(index=False, float_format="%.3f"))
    print(summarize_convergence(frame).to_string(index=False, float_format="%.3f"))


def timing(x: Tensor, y: Tensor, repeats: int) -> None:
    """Median ratio ours / plain of the training seconds of one flat model and one ROBIN arm, alternating."""
    from robin_bench.train.decomposed import train_arm

    epochs = 10
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=BATCH,
        lr=LR,
        schedule="constant",
        objective="pgd_at",
        norm="Linf",
        eps=EPS,
        steps=STEPS,
        warmup_epochs=epochs,
        progress=False,
    )
    runs: dict[str, dict[str, Callable[[nn.Module], object]]] = {
        "flat": {
            "plain": lambda net: plain_fit(
                net, x, y, binary=False, epochs=epochs, warmup=epochs, schedule="constant", seed=0
            ),
            "rb": lambda net: train_flat(net, x, y, cfg),
        },
        "arm": {
            "plain": lambda net: plain_fit(
                net, x, (y == 3).long(), binary=True, epochs=epochs, warmup=epochs, schedule="constant", seed=0
            ),
            "rb": lambda net: train_arm(net, x, y, 3, cfg),
        },
    }
    for what, fns in runs.items():
        ratios: list[float] = []
        seconds: dict[str, list[float]] = {"plain": [], "rb": []}
        for rep in range(repeats):
            pair = {}
            for who in ("plain", "rb") if rep % 2 == 0 else ("rb", "plain"):
                torch.manual_seed(0)
                net = rb.archs.build("mlp", in_shape=SHAPE, n_outputs=10 if what == "flat" else 1)
                t0 = time.perf_counter()
                fns[who](net)
                pair[who] = time.perf_counter() - t0
                seconds[who].append(pair[who])
            ratios.append(pair["rb"] / pair["plain"])
        print(
            f"# {what}: {epochs} epochs, plain median {statistics.median(seconds['plain']):.2f} s, rb median "
            f"{statistics.median(seconds['rb']):.2f} s, median ratio rb / plain {statistics.median(ratios):.2f} "
            f"(per pair {', '.join(f'{r:.2f}' for r in ratios)}); load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--kinds", nargs="+", default=["flat", "robin"], choices=["flat", "robin"])
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=[r.label for r in RECIPES],
        choices=[r.label for r in RECIPES],
        metavar="LABEL",
        help="rows to run (default: all); e.g. 'plain constant' 'rb constant'",
    )
    parser.add_argument(
        "--convergence",
        type=int,
        default=0,
        metavar="E",
        help="instead of the table: validation curves of 'rb hold' over E epochs",
    )
    parser.add_argument(
        "--autoattack",
        action="store_true",
        help="judge the table's models with official AutoAttack (standard) instead of PGD-20",
    )
    parser.add_argument(
        "--timing",
        type=int,
        default=0,
        metavar="R",
        help="instead of the table: R alternating timings of plain vs ours (one flat model, one arm)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = rb.datasets.load("digits", split="train")[:2]
    if args.timing:
        print(f"# load average {os.getloadavg()[0]:.2f}")
        train(RECIPES[0], "flat", x, y, 1, 0)  # untimed: the first call pays one-off costs
        timing(x, y, args.timing)
        return
    if args.convergence:
        print(f"# load average {os.getloadavg()[0]:.2f}")
        convergence(args.kinds, x, y, args.convergence)
        return
    xt, yt = rb.datasets.load("digits", split="test")[:2]
    print(
        f"# torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, 1 thread, "
        f"load average {os.getloadavg()[0]:.2f}; {x.shape[0]} train / {xt.shape[0]} test images, "
        f"{args.epochs} epochs, seeds {args.seeds}"
    )
    train(RECIPES[0], "flat", x, y, 1, 0)  # untimed: the first call pays one-off costs
    judge = "AutoAttack" if args.autoattack else "PGD-20"
    print(f"| kind | recipe | clean | {judge} robust (mean) | per seed | train s (mean) |")
    print("|---|---|---|---|---|---|")
    for kind in args.kinds:
        seconds: dict[str, float] = {}
        for recipe in (r for r in RECIPES if r.label in args.recipes):
            runs = [train(recipe, kind, x, y, args.epochs, seed) for seed in args.seeds]
            accs = [robust_accuracy(model, xt, yt, args.autoattack) for model, _ in runs]
            seconds[recipe.label] = statistics.mean(s for _, s in runs)
            per_seed = " / ".join(f"{r:.3f}" for _, r in accs)
            print(
                f"| {kind} | {recipe.label} | {statistics.mean(c for c, _ in accs):.3f} | "
                f"{statistics.mean(r for _, r in accs):.3f} | {per_seed} | {seconds[recipe.label]:.1f} |",
                flush=True,
            )
        if {"rb constant", "plain constant"} <= seconds.keys():
            print(
                f"# {kind}: time rb constant / plain constant = "
                f"{seconds['rb constant'] / seconds['plain constant']:.2f}",
                flush=True,
            )
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
