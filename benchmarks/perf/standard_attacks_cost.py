"""Cost of ``rb.standard_attacks`` per model kind: the demo's budgets against AutoAttack's own.

Takes the demo suite's three models (flat ``mc``, ``robin``, ``har``: MLPs on 500 digits, PGD-AT Linf 0.1,
8 epochs) from a run folder (trained and cached there where missing, as ``robin-bench run`` does), then times
``rb.evaluate`` with early exit on the demo's 100 test digits at Linf 0.05 / 0.1 / 0.2 under the fine and the
coarse criterion, for the standard set (20 steps, surrogate mc, seed 0, as in the demo) with

- the demo's budgets (``n_iter=20, n_queries=500``),
- AutoAttack's own budgets (``n_iter=None, n_queries=None``: 100 iterations, 5000 queries),
- optionally ``n_iter``/``n_queries`` given on the command line.

Prints one line per (model, budget): seconds summed over the six cells, robust accuracy per cell and the
attacks that took longest.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/perf/standard_attacks_cost.py RUN_DIR [--budget N_ITER N_QUERIES]
[--models mc robin har]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

import robin_bench as rb
from robin_bench.bench.config import demo_suite_path, load_suite
from robin_bench.bench.runner import models

EPS = (0.05, 0.1, 0.2)
H = rb.Hierarchy.from_groups({"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--budget", nargs=2, type=int, metavar=("N_ITER", "N_QUERIES"))
    parser.add_argument("--models", nargs="+", default=["mc", "robin", "har"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    nets = models(load_suite(demo_suite_path()).with_output(args.run_dir), sorted({*args.models, "mc"}), device="cpu")
    x, y = rb.datasets.load("digits", split="test", n_examples=100, seed=0)[:2]
    budgets: dict[str, dict[str, int | None]] = {
        "demo (20, 500)": {"n_iter": 20, "n_queries": 500},
        "AutoAttack's (100, 5000)": {"n_iter": None, "n_queries": None},
    }
    if args.budget:
        budgets[f"({args.budget[0]}, {args.budget[1]})"] = {"n_iter": args.budget[0], "n_queries": args.budget[1]}
    print(f"load average at start: {os.getloadavg()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    for name in args.models:
        model = nets[name]
        for label, budget in budgets.items():
            seconds, accs, per_attack = 0.0, [], {}
            for criterion in ("fine", "coarse"):
                for eps in EPS:
                    torch.manual_seed(0)
                    attacks = rb.standard_attacks(
                        model,
                        norm="Linf",
                        eps=eps,
                        hierarchy=H,
                        criterion=criterion,
                        surrogate=nets["mc"],
                        seed=0,
                        **budget,
                    )
                    t = time.perf_counter()
                    res = rb.evaluate(
                        model,
                        x,
                        y,
                        attacks,
                        criterion=criterion,
                        hierarchy=H,
                        batch_size=256,
                        early_exit=True,
                        norm="Linf",
                        eps=eps,
                    )
                    seconds += time.perf_counter() - t
                    accs.append(f"{criterion[0]}{eps}:{res.robust_acc:.2f}")
                    for attack, s in res.seconds.items():
                        per_attack[attack] = per_attack.get(attack, 0.0) + s
            top = sorted(per_attack.items(), key=lambda kv: -kv[1])[:4]
            print(
                f"{name:5s} {label:24s} {seconds:6.1f} s  {' '.join(accs)}  slowest: "
                + ", ".join(f"{n} {s:.1f}s" for n, s in top),
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
