"""The promise "a number our default evaluation prints is never above what AutoAttack finds", per sample, on the demo.

For each model of a finished demo run (mc flat, robin, har) and Linf eps 0.05 / 0.1 / 0.2, on the demo's
100 test digits, compares

(a) the demo's worst case: results.csv's ``worst_case`` row and the cell's per-sample flags;
(b) official AutoAttack, ``pyautoattack.AutoAttack(version="standard")`` with its full budgets, called directly
    (one ``run_standard_evaluation`` call, batch = all samples); the component that broke each sample is
    recorded by wrapping the components' ``perturb`` (which replays the official loop's bookkeeping and is
    checked against its returned labels);
(c) ``rb.standard_attacks`` with AutoAttack's full budgets (``n_iter=None, n_queries=None``; the demo's other
    options: 20 steps, surrogate mc, seed 0) through ``rb.evaluate`` as the runner calls it; ``--budget N_ITER
    N_QUERIES`` puts a candidate budget for the demo there instead.

Under the coarse criterion (hierarchy "0-4 vs 5-9") official AutoAttack runs on a coarse view written here with
plain torch, independently of robin-bench (column z = max of the fine outputs of group z, coarse labels). With two
coarse classes AutoAttack's DLR-based APGD-T cannot run (it needs 4 classes) and FAB-T has one target class, so the
coarse view runs the standard budgets of APGD-CE, FAB-T (1 target) and Square.

The promise column counts samples official AutoAttack breaks that the demo's worst case calls robust; it must be
0. Prints one line per (model, criterion, eps) and the seconds each evaluation took.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/perf/demo_vs_autoattack.py RUN_DIR [MODEL ...]``
(RUN_DIR: a finished ``robin-bench run`` of the demo suite; models: mc, robin, har, default all three;
``--coarse MODEL,...`` picks the models also compared under the coarse criterion, default har; ``--skip-fine``
runs only those).

Another suite with the demo's hierarchy (e.g. the paper suites; (a) is then "the run"): ``--suite PATH --seeds 0 1
2 3 4 --eps 0.1 --surrogate flat_pgd``, ``--skip-full`` to compare only the run with official AutoAttack::

    python benchmarks/perf/demo_vs_autoattack.py runs/paper_digits flat_pgd robin_pgd har_pgd \\
        --suite benchmarks/suites/paper_digits.yaml --seeds 0 1 2 3 4 --eps 0.1 --coarse none --skip-full
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pyautoattack import AutoAttack as OfficialAutoAttack
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.bench import results, store
from robin_bench.bench.config import demo_suite_path, load_suite
from robin_bench.bench.runner import models

EPS = (0.05, 0.1, 0.2)
GROUPS = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
COMPONENT_OF = {"apgd": "apgd-ce", "apgd_targeted": "apgd-t", "fab": "fab-t", "square": "square"}


class CoarseView(nn.Module):
    """(N, 10) fine outputs -> (N, 2): column z is the max fine output of group z (argmax = coarse prediction)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x)
        return torch.stack([out[:, list(g)].max(dim=1).values for g in GROUPS], dim=1)


def coarse_labels(y: Tensor) -> Tensor:
    return (y >= len(GROUPS[0])).long()


def official_autoattack(model: nn.Module, x: Tensor, y: Tensor, eps: float, coarse: bool) -> tuple[np.ndarray, dict]:
    """Official AutoAttack, version standard, one call on all samples: (robust flags (N,), sample -> component)."""
    net = CoarseView(model).eval() if coarse else model
    labels = coarse_labels(y) if coarse else y
    aa = OfficialAutoAttack(net, norm="Linf", eps=eps, version="standard", device="cpu", seed=0)
    aa.verbose = False
    if coarse:
        aa.attacks_to_run = ["apgd-ce", "fab-t", "square"]
        aa.fab.n_target_classes = 1
    with torch.no_grad():
        robust = net(x).argmax(1) == labels
    broken_by: dict[int, str] = {}

    def recording(component: str, perturb: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
        def run(xb: Tensor, yb: Tensor) -> Tensor:
            idx = torch.nonzero(robust).flatten()
            assert torch.equal(xb, x[idx]), "batch is not the still-robust samples in order (batch_size < N?)"
            adv = perturb(xb, yb)
            with torch.no_grad():
                hit = net(adv).argmax(1) != yb
            for i in idx[hit].tolist():
                broken_by[i] = component
            robust[idx[hit]] = False
            return adv

        return run

    for attr, component in COMPONENT_OF.items():
        sub = getattr(aa, attr)
        sub.perturb = recording(component, sub.perturb)
    _, y_adv = aa.run_standard_evaluation(x, labels, batch_size=x.shape[0])
    official = (y_adv == labels).numpy()
    assert np.array_equal(official, robust.numpy()), "component bookkeeping disagrees with AutoAttack's own labels"
    return official, broken_by


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("models", nargs="*", default=["mc", "robin", "har"])
    parser.add_argument("--suite", type=Path, default=demo_suite_path(), help="the run's suite (default: the demo)")
    parser.add_argument("--eps", nargs="+", type=float, default=list(EPS), help="Linf radii (default 0.05 0.1 0.2)")
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=None,
        help="replicate seeds of a suite with 'seeds' (default: a suite without seeds)",
    )
    parser.add_argument("--surrogate", default="mc", help="the standard set's transfer surrogate in column (c)")
    parser.add_argument("--coarse", default="har", help="comma-separated models also compared at coarse level")
    parser.add_argument("--skip-fine", action="store_true", help="only the coarse comparisons")
    parser.add_argument("--skip-full", action="store_true", help="leave column (c) out (only the run vs official)")
    parser.add_argument(
        "--budget",
        nargs=2,
        type=int,
        metavar=("N_ITER", "N_QUERIES"),
        help="budgets of column (c) instead of AutoAttack's (a candidate for the demo)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_iter, n_queries = args.budget if args.budget else (None, None)
    suite = load_suite(args.suite).with_output(args.run_dir)
    d = suite.dataset
    hierarchy = rb.Hierarchy.from_groups({"low": list(GROUPS[0]), "high": list(GROUPS[1])})
    x, y = rb.datasets.load(d.name, split=d.split, n_examples=d.n_examples, seed=d.seed)[:2]
    table = results.read(args.run_dir / "results.csv")
    flags_dir = store.flags_dir_for(args.run_dir / "results.csv")
    print(
        f"suite {suite.name}, {len(y)} samples; load average at start: {os.getloadavg()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; standard set of column full-std: "
        f"{'skipped' if args.skip_full else f'n_iter={n_iter}, n_queries={n_queries}'}"
    )
    print(
        "model seed criterion eps | run AA full-std | AA-broken run-robust | AA-broken full-robust | "
        "run-broken AA-robust | seconds AA, full-std | violations (sample: component)"
    )
    violations = 0
    for seed in args.seeds or [None]:
        at = "" if seed is None else f"@{seed}"
        wanted = [*args.models, *([] if args.skip_full else [args.surrogate])]
        nets = models(suite, [f"{m}{at}" for m in dict.fromkeys(wanted)], device="cpu")
        for name in args.models:
            model = nets[f"{name}{at}"]
            criteria = [*([] if args.skip_fine else ["fine"]), *(["coarse"] if name in args.coarse.split(",") else [])]
            for criterion in criteria:
                for eps in args.eps:
                    rows = table[
                        (table["model"] == name)
                        & (table["eps"] == eps)
                        & (table["attack"] == "worst_case")
                        & (table["norm"] == "Linf")
                    ]
                    row = rows if seed is None else rows[rows["seed"] == seed]
                    assert len(row) == 1, f"{name}{at} eps {eps}: {len(row)} worst_case rows"
                    run_acc = float(row["coarse_robust_acc" if criterion == "coarse" else "robust_acc"].iloc[0])
                    run = store.load_flags(
                        flags_dir, store.CellId(suite.name, name, "Linf", eps, criterion, seed=seed).key
                    )
                    run_robust = run.robust & run.clean_correct
                    assert abs(run_robust.mean() - run_acc) < 1e-9, "flags disagree with results.csv"
                    t0 = time.perf_counter()
                    official, broken_by = official_autoattack(model, x, y, eps, coarse=criterion == "coarse")
                    t_aa = time.perf_counter() - t0
                    full, t_full = official.copy(), float("nan")
                    if not args.skip_full:
                        torch.manual_seed(0)
                        attacks = rb.standard_attacks(
                            model,
                            norm="Linf",
                            eps=eps,
                            hierarchy=hierarchy,
                            criterion=criterion,
                            surrogate=nets[f"{args.surrogate}{at}"],
                            seed=0,
                            n_iter=n_iter,
                            n_queries=n_queries,
                        )
                        t0 = time.perf_counter()
                        full = rb.evaluate(
                            model,
                            x,
                            y,
                            attacks,
                            criterion=criterion,
                            hierarchy=hierarchy,
                            batch_size=256,
                            early_exit=True,
                            norm="Linf",
                            eps=eps,
                        ).robust.numpy()
                        t_full = time.perf_counter() - t0
                    against_run = np.flatnonzero(~official & run_robust)
                    against_full = np.flatnonzero(~official & full)
                    violations += len(against_run)
                    where = ", ".join(f"{i}: {broken_by[int(i)]}" for i in against_run) or "-"
                    where_full = ", ".join(f"{i}: {broken_by[int(i)]}" for i in against_full) or "-"
                    print(
                        f"{name:5s} {'-' if seed is None else seed} {criterion:6s} {eps:4} | {run_acc:.3f} "
                        f"{official.mean():.3f} {full.mean():.3f} | {len(against_run)} | {len(against_full)} | "
                        f"{int((~run_robust & official).sum())} | {t_aa:6.1f} {t_full:6.1f} | "
                        f"run {where}; full-std {where_full}",
                        flush=True,
                    )
    print(f"samples breaking the promise: {violations}; load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
