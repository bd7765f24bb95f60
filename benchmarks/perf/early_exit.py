"""Early exit in worst-case evaluation: all six ROBIN strategies on a small ROBIN trained on digits.

Runs ``rb.evaluate`` twice over the same attacks, once with early exit (AutoAttack's protocol: each
later attack only on samples still robust) and once with every attack on every clean-correct
sample, and reports the cost ratio (gradient evaluations and seconds) and whether the per-sample
robust flags are identical. Attacks start at the clean input (no random start), so each sample's
outcome does not depend on which other samples share its batch. Target: ratio <= 0.4.

Usage::

    python benchmarks/perf/early_exit.py --eps 0.1 0.2 --steps 10
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

import robin_bench as rb
from robin_bench.attacks.robin import STRATEGIES, RobinAttack
from robin_bench.models import archs
from robin_bench.train import TrainConfig, train_robin


def trained_robin(epochs: int, seed: int) -> rb.RobinClassifier:
    """Ten one-vs-all MLP arms on digits, standard training."""
    x, y = rb.datasets.load("digits", split="train")
    torch.manual_seed(seed)
    arms = [archs.build("mlp", in_shape=(1, 8, 8), n_outputs=1) for _ in range(10)]
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, progress=False, seed=seed)
    model, _ = train_robin(arms, x, y, cfg)
    return model.eval()


def strategies(model: rb.RobinClassifier, eps: float, steps: int) -> dict[str, RobinAttack]:
    return {
        s: RobinAttack(model, strategy=s, norm="Linf", eps=eps, steps=steps, random_start=False) for s in STRATEGIES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    model = trained_robin(args.epochs, args.seed)
    train_s = time.perf_counter() - t0
    x, y = rb.datasets.load("digits", split="test")
    rb.evaluate(model, x[:8], y[:8], strategies(model, args.eps[0], 1))
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, 1 thread; "
        f"ROBIN trained in {train_s:.1f} s; {len(y)} test samples; Linf, {args.steps} steps, no random start"
    )
    print(
        "| eps | clean acc | robust acc | grad evals: early / all | ratio | seconds: early / all | ratio "
        "| identical flags |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for eps in args.eps:
        runs = {}
        for early in (True, False):
            res = rb.evaluate(model, x, y, strategies(model, eps, args.steps), batch_size=len(y), early_exit=early)
            runs[early] = res
        fast, full = runs[True], runs[False]
        g_fast, g_full = fast.total_grad_evals, full.total_grad_evals
        s_fast, s_full = sum(fast.seconds.values()), sum(full.seconds.values())
        assert g_fast is not None and g_full is not None
        same = bool(torch.equal(fast.robust, full.robust))
        print(
            f"| {eps:g} | {fast.clean_acc:.3f} | {fast.robust_acc:.3f} | {g_fast} / {g_full} | {g_fast / g_full:.2f} "
            f"| {s_fast:.1f} / {s_full:.1f} | {s_fast / s_full:.2f} | {same} |"
        )
        for name in fast.names:
            print(
                f"|   | {name} | robust after {fast.robust_acc_after[name]:.3f} | {fast.grad_evals[name]} / "
                f"{full.grad_evals[name]} | | {fast.seconds[name]:.2f} / {full.seconds[name]:.2f} | | |"
            )


if __name__ == "__main__":
    main()
