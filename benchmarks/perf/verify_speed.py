"""Verification speed: resolved share and seconds per sample by kind and eps, tightened vs plain MILP.

Trains small PGD-AT models on the embedded digits (8x8) the way the suites do (the kind registry's ``train``
per component, ``pgd_at`` Linf 0.1): a flat MLP 64-24-24-10, a ROBIN of ten 64-16-16-1 arms and a HAR of a
64-16-16-2 coarse network and two 64-16-16-5 fine networks ("0-4 vs 5-9"). Then verifies the first ``--n``
test images of each, at each eps, twice on the same problems, side by side:

- ``tightened``: ``rb.verify`` as shipped: linear bound propagation (CROWN) for every layer, margins proven by
  bounds never reach the solver, the MILP gets the tightened bounds;
- ``plain``: ``rb.verify(..., tighten=False)``: interval bounds only and a MILP for every margin.

Both decide (the solver stops at the first input with margin <= 1e-6) with the same per-sample ``--time-limit``.
Printed per (kind, criterion, eps, mode): verified / broken / unknown counts, the resolved share, mean and median
seconds per sample, MILPs and binaries; and the speed-up of tightened over plain (total seconds on the same
samples; a plain run out of time counts its limit, so the speed-up is then a lower bound). The two modes must
agree on every sample both resolve; the script stops with an error otherwise.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/perf/verify_speed.py            # 30 images, eps 0.05 and 0.1
    OMP_NUM_THREADS=1 python benchmarks/perf/verify_speed.py --n 10 --time-limit 10 --criteria fine coarse
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import scipy
import torch
from torch import nn

import robin_bench as rb
from robin_bench.models.kinds import KINDS
from robin_bench.train import TrainConfig

HIERARCHY = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
WIDTH = {"flat": 24, "robin": 16, "har": 16}


def build(kind: str, seed: int, width: int | None) -> nn.Module:
    """A ``kind`` model of two-hidden-layer MLP components (``width`` units, default :data:`WIDTH`), seeded."""
    torch.manual_seed(seed)
    width = width or WIDTH[kind]

    def component(n_out: int) -> nn.Module:
        return nn.Sequential(
            nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_out)
        )

    h = rb.Hierarchy.from_groups(HIERARCHY)
    return KINDS.get(kind).build(component, 10, h if KINDS.get(kind).needs_hierarchy else None)


def train(kind: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    """Train every component of ``model`` in place with PGD-AT (Linf 0.1, 10 steps)."""
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, objective="pgd_at", norm="Linf", eps=0.1, steps=10)
    spec = KINDS.get(kind)
    h = rb.Hierarchy.from_groups(HIERARCHY)
    for part in spec.parts(model):
        spec.train(model, part, x, y, cfg, h)
    model.eval()


def summary(res: rb.VerifyResult, limit: float) -> dict[str, float]:
    secs = res.seconds.tolist()
    return {
        "verified": int(res.verified.sum()),
        "broken": int(res.broken.sum()),
        "unknown": res.n_unresolved,
        "resolved": 1 - res.n_unresolved / res.n,
        "mean_s": statistics.mean(secs),
        "median_s": statistics.median(secs),
        "total_s": sum(min(s, limit) if st == "unknown" else s for s, st in zip(secs, res.status, strict=True)),
        "milps": sum(s["milps"] for s in res.stats),
        "binaries": max(s["binaries"] for s in res.stats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30, help="test images per model")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--kinds", nargs="+", default=["flat", "robin", "har"])
    parser.add_argument("--criteria", nargs="+", default=["fine"])
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds per sample")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--width",
        type=int,
        default=None,
        help="hidden units of every component (default: 24 flat, 16 ROBIN and HAR; 256 is the suites' mlp)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, scipy {scipy.__version__}")
    x_train, y_train = rb.datasets.load("digits", split="train")
    x_test, y_test = rb.datasets.load("digits", split="test")
    x, y = x_test[: args.n], y_test[: args.n]
    h = rb.Hierarchy.from_groups(HIERARCHY)
    header = (
        f"{'kind':6} {'crit':6} {'eps':>5} {'mode':9} {'ver':>4} {'brk':>4} {'unk':>4} {'resolved':>8} "
        f"{'mean s':>7} {'med s':>7} {'milps':>6} {'bin':>5} {'speed-up':>8}"
    )
    rows = []
    for kind in args.kinds:
        model = build(kind, args.seed, args.width)
        t0 = time.perf_counter()
        train(kind, model, x_train, y_train, args.epochs)
        with torch.no_grad():
            acc = float((model(x_test).argmax(1) == y_test).float().mean())
        print(f"{kind}: trained in {time.perf_counter() - t0:.0f} s, clean test accuracy {acc:.3f}")
        for crit in args.criteria:
            for eps in args.eps:
                runs = {}
                for mode, tighten in (("tightened", True), ("plain", False)):
                    runs[mode] = rb.verify(
                        model, x, y, eps=eps, criterion=crit, hierarchy=h, time_limit=args.time_limit, tighten=tighten
                    )
                a, b = runs["tightened"], runs["plain"]
                for i, (sa, sb) in enumerate(zip(a.status, b.status, strict=True)):
                    if "unknown" not in (sa, sb) and sa != sb:
                        raise SystemExit(f"{kind} {crit} eps {eps}: sample {i} is {sa} tightened but {sb} plain")
                sums = {mode: summary(r, args.time_limit) for mode, r in runs.items()}
                speedup = sums["plain"]["total_s"] / max(sums["tightened"]["total_s"], 1e-9)
                for mode, s in sums.items():
                    rows.append(
                        f"{kind:6} {crit:6} {eps:5.3f} {mode:9} {s['verified']:4d} {s['broken']:4d} "
                        f"{s['unknown']:4d} {s['resolved']:8.2f} {s['mean_s']:7.3f} {s['median_s']:7.3f} "
                        f"{s['milps']:6d} {s['binaries']:5d} "
                        f"{(f'{speedup:7.1f}x' if mode == 'tightened' else ''):>8}"
                    )
                print("\n".join(rows[-2:]), flush=True)
    print()
    print(header)
    print("\n".join(rows))
    print(f"load at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
