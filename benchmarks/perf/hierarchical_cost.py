"""Cheapest hierarchical attack at least as strong as HAR's Algorithm 1, on a small HAR trained on digits.

Trains a HAR network on digits (coarse classes: digits 0-4 and 5-9; MLP components), evaluates
HAR's worst-case targeted Algorithm 1 (every fine target outside the true coarse class, PGD with
``--alg1-steps`` steps each from a random start, success = target hit) under the coarse criterion,
the same from the clean input (for contrast, not a reference), then a grid of
cheaper configurations of our hierarchical attacks (CoarseMarginal with few steps/restarts,
HierarchicalTargeted over the top-m targets with the coarse success test, and a combination),
and reports, for each, the robust coarse accuracy and the gradient evaluations. Target: a
configuration with robust coarse accuracy no higher than Algorithm 1's at <= 10% of its
gradient evaluations.

Usage::

    python benchmarks/perf/hierarchical_cost.py --eps 0.1 --alg1-steps 20
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

import robin_bench as rb
from robin_bench.attacks import Attack, CoarseMarginal, CoarseTargeted, HierarchicalTargeted
from robin_bench.models import archs
from robin_bench.train import TrainConfig, train_har

HIERARCHY = rb.Hierarchy.from_groups({"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]})


def trained_har(epochs: int, objective: str, eps: float, seed: int) -> rb.HARClassifier:
    """HAR on digits: an MLP coarse network and one MLP fine network per coarse class."""
    x, y = rb.datasets.load("digits", split="train")
    torch.manual_seed(seed)
    coarse = archs.build("mlp", in_shape=(1, 8, 8), n_outputs=2)
    fine = [archs.build("mlp", in_shape=(1, 8, 8), n_outputs=5) for _ in range(2)]
    cfg = TrainConfig(
        epochs=epochs, batch_size=64, lr=0.05, objective=objective, eps=eps, steps=5, progress=False, seed=seed
    )
    model, _ = train_har(coarse, fine, HIERARCHY, x, y, cfg)
    return model.eval()


Config = Callable[[nn.Module, float], list[Attack]]


def configurations() -> dict[str, Config]:
    h = HIERARCHY
    return {
        "CoarseMarginal 5 steps": lambda m, e: [CoarseMarginal(m, hierarchy=h, eps=e, steps=5)],
        "CoarseMarginal 10 steps": lambda m, e: [CoarseMarginal(m, hierarchy=h, eps=e, steps=10)],
        "CoarseMarginal 5 steps x 2 restarts": lambda m, e: [
            CoarseMarginal(m, hierarchy=h, eps=e, steps=5, restarts=2)
        ],
        "CoarseMarginal 10 steps, no random start": lambda m, e: [
            CoarseMarginal(m, hierarchy=h, eps=e, steps=10, random_start=False)
        ],
        "CoarseTargeted 10 steps": lambda m, e: [CoarseTargeted(m, hierarchy=h, eps=e, steps=10)],
        "HierarchicalTargeted top-1, 10 steps, coarse success": lambda m, e: [
            HierarchicalTargeted(m, hierarchy=h, eps=e, steps=10, max_targets=1)
        ],
        "HierarchicalTargeted top-1, 5 steps, coarse success": lambda m, e: [
            HierarchicalTargeted(m, hierarchy=h, eps=e, steps=5, max_targets=1)
        ],
        "HierarchicalTargeted top-1, 7 steps, coarse success": lambda m, e: [
            HierarchicalTargeted(m, hierarchy=h, eps=e, steps=7, max_targets=1)
        ],
        "HierarchicalTargeted top-1, 5 steps, margin loss, coarse success": lambda m, e: [
            HierarchicalTargeted(m, hierarchy=h, eps=e, steps=5, max_targets=1, loss="margin")
        ],
        "HierarchicalTargeted top-2, 4 steps, coarse success": lambda m, e: [
            HierarchicalTargeted(m, hierarchy=h, eps=e, steps=4, max_targets=2)
        ],
        "CoarseMarginal 5 steps + HierarchicalTargeted top-1 5 steps": lambda m, e: [
            CoarseMarginal(m, hierarchy=h, eps=e, steps=5),
            HierarchicalTargeted(m, hierarchy=h, eps=e, steps=5, max_targets=1),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, default=0.1, help="Linf radius of the evaluation")
    parser.add_argument("--alg1-steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-objective", default="pgd_at")
    parser.add_argument("--train-eps", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    model = trained_har(args.epochs, args.train_objective, args.train_eps, args.seed)
    train_s = time.perf_counter() - t0
    x, y = rb.datasets.load("digits", split="test")
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, 1 thread; "
        f"HAR ({args.train_objective}, train eps {args.train_eps}) trained in {train_s:.1f} s; {len(y)} test "
        f"samples; Linf eps {args.eps}; criterion coarse"
    )

    def run(attacks: list[Attack]) -> rb.EvalResult:
        return rb.evaluate(model, x, y, attacks, criterion="coarse", hierarchy=HIERARCHY, batch_size=len(y))

    alg1 = run([HierarchicalTargeted(model, hierarchy=HIERARCHY, eps=args.eps, steps=args.alg1_steps)])
    g1 = alg1.total_grad_evals
    assert g1 is not None
    print("| configuration | robust coarse acc | grad evals | share of Algorithm 1 | seconds | meets target |")
    print("|---|---|---|---|---|---|")
    print(
        f"| Algorithm 1 (all targets, {args.alg1_steps} steps, target success) | {alg1.robust_acc:.3f} | {g1} "
        f"| 1.00 | {sum(alg1.seconds.values()):.1f} | reference (clean coarse acc {alg1.clean_acc:.3f}) |"
    )
    clean_start = run(
        [HierarchicalTargeted(model, hierarchy=HIERARCHY, eps=args.eps, steps=args.alg1_steps, random_start=False)]
    )
    g0 = clean_start.total_grad_evals
    assert g0 is not None
    print(
        f"| Algorithm 1 from the clean input (random_start=False) | {clean_start.robust_acc:.3f} | {g0} "
        f"| {g0 / g1:.2f} | {sum(clean_start.seconds.values()):.1f} | contrast |"
    )
    best: tuple[int, str] | None = None
    for name, make in configurations().items():
        res = run(make(model, args.eps))
        g = res.total_grad_evals
        assert g is not None
        ok = res.robust_acc <= alg1.robust_acc and g <= 0.1 * g1
        if ok and (best is None or g < best[0]):
            best = (g, name)
        print(
            f"| {name} | {res.robust_acc:.3f} | {g} | {g / g1:.3f} | {sum(res.seconds.values()):.1f} "
            f"| {'yes' if ok else 'no'} |"
        )
    print(f"cheapest configuration meeting the target: {best[1] if best else 'none'}")


if __name__ == "__main__":
    main()
