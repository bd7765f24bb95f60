"""Operating characteristic of the masking checks: false alarms on healthy models, power on masked ones.

The default evaluation of a run's cell, as ``robin-bench run`` does it (``bench.jobs.evaluate_cell``): the
standard set at the demo's budgets (``n_iter=30, n_queries=500``, RayS 1000 queries, 20 steps, a healthy flat
surrogate trained apart, as the demo's ``mc``), ``rb.sanity_check`` on the same inputs, and the escalation rule
(``rb.attacks.escalation.settle``: a borderline indicator re-runs the survivors at full budgets).

Models (``tests/attacks/masked_models.py``, digits 0-4, PGD-AT at Linf 0.1): flat MLP, ROBIN (5 MLP arms) and
HAR ({0, 1} / {2, 3, 4}), each trained from several torch seeds. Healthy: the trained models at Linf 0.05, 0.1
and 0.2. Masked (Linf 0.1), each wrapping a healthy model (a ROBIN arm by arm, with its own pixels per arm):
input quantization whose gradient is zeroed on a random 30 / 50 / 70 / 90% of the pixels (predictions identical),
decoy gradients (outputs of the model, gradients of an untrained MLP), decoy scores (top-1 of the model, every
other score from an untrained MLP) and a randomized transform (random 1-pixel shift plus uniform noise).

For each evaluation: the worst case of the masked model minus that of its unmasked twin under the same
evaluation (``over``: what the default evaluation overstates, the promise is ``over <= 0.06`` or a flag), the
gradient attacks' overstatement (``mask``: how much the mask fools gradient attacks, the size of the mask), the
flag codes and whether the rule escalated. Prints one CSV line per evaluation and the operating
characteristic per check (markdown) at the end; ``--out FILE`` also writes the CSV.

Usage: ``OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/perf/masking_power.py [--seeds 0 1] [--n 100]
[--out benchmarks/analyses/masking_power.csv]``
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from scipy.stats import binom
from torch import nn

import robin_bench as rb
from robin_bench.attacks.sanity import ALPHA, FLAG_CODES, HEALTHY_RATE, count_tolerance
from robin_bench.models.kinds import kind_of
from tests.attacks import masked_models as mm

BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "pgd_flat": mm.pgd_flat,
    "pgd_robin": mm.pgd_robin,
    "pgd_har": mm.pgd_har,
}
MASKS: list[tuple[str, float]] = [
    ("partial_quantized", 0.3),
    ("partial_quantized", 0.5),
    ("partial_quantized", 0.7),
    ("partial_quantized", 0.9),
    ("decoy_gradient", 0.0),
    ("decoy_scores", 0.0),
    ("random_shift", 0.0),
]
HEALTHY_EPS = (0.05, 0.1, 0.2)
FIELDS = [
    "model",
    "seed",
    "mask",
    "fraction",
    "eps",
    "n",
    "twin_worst",
    "worst",
    "gradient_worst",
    "over",
    "mask_size",
    "escalated",
    "codes",
    "seconds",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n", type=int, default=100, help="test digits per evaluation (the demo's n: 100)")
    parser.add_argument("--models", nargs="+", default=list(BUILDERS))
    parser.add_argument("--masks", nargs="+", default=sorted({m for m, _ in MASKS}), help="mask families to run")
    parser.add_argument("--no-healthy", action="store_true", help="skip the healthy models' own rows")
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--tables",
        nargs="+",
        default=None,
        metavar="CSV",
        help="print the tables of finished runs' CSV files (rows of a later file replace those of an "
        "earlier one with the same model, seed, mask, fraction and eps) and exit",
    )
    args = parser.parse_args()
    if args.tables:
        print(characteristic(_read(args.tables), args.n))
        return
    torch.set_num_threads(1)
    x, y, _, _ = mm.digits()
    rows: list[dict[str, Any]] = []
    writer = csv.DictWriter(sys.stdout, FIELDS)
    writer.writeheader()
    for seed in args.seeds:
        xt, yt = rb.datasets.load("digits", split="test", classes=mm.CLASSES, n_examples=args.n, seed=seed)
        surrogate = mm.pgd_flat(x, y, seed=100 + seed)
        for name in args.models:
            healthy = BUILDERS[name](x, y, seed=seed)
            h = healthy.hierarchy if kind_of(healthy).needs_hierarchy else None
            twin: dict[float, tuple[float, float]] = {}
            for eps in (mm.EPS,) if args.no_healthy else HEALTHY_EPS:
                t0 = time.perf_counter()
                worst, grad_worst, codes, escalated = mm.default_evaluation(healthy, xt, yt, eps, surrogate, h)
                twin[eps] = (worst, grad_worst)
                if not args.no_healthy:
                    rows.append(
                        _row(
                            name,
                            seed,
                            "healthy",
                            0.0,
                            eps,
                            args.n,
                            worst,
                            worst,
                            grad_worst,
                            escalated,
                            codes,
                            time.perf_counter() - t0,
                        )
                    )
                    writer.writerow(rows[-1])
                    sys.stdout.flush()
            for mask, fraction in (m for m in MASKS if m[0] in args.masks):
                t0 = time.perf_counter()
                masked = mm.partial_mask(mask, healthy, fraction=fraction, seed=seed)
                worst, grad_worst, codes, escalated = mm.default_evaluation(masked, xt, yt, mm.EPS, surrogate, h)
                rows.append(
                    _row(
                        name,
                        seed,
                        mask,
                        fraction,
                        mm.EPS,
                        args.n,
                        twin[mm.EPS][0],
                        worst,
                        grad_worst,
                        escalated,
                        codes,
                        time.perf_counter() - t0,
                    )
                )
                writer.writerow(rows[-1])
                sys.stdout.flush()
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(rows)
    print()
    print(characteristic(rows, args.n))


def _row(
    model: str,
    seed: int,
    mask: str,
    fraction: float,
    eps: float,
    n: int,
    twin_worst: float,
    worst: float,
    gradient_worst: float,
    escalated: bool,
    codes: list[str],
    seconds: float,
) -> dict[str, Any]:
    return {
        "model": model,
        "seed": seed,
        "mask": mask,
        "fraction": fraction,
        "eps": eps,
        "n": n,
        "twin_worst": twin_worst,
        "worst": worst,
        "gradient_worst": gradient_worst,
        "over": round(worst - twin_worst, 4),
        "mask_size": round(gradient_worst - twin_worst, 4),
        "escalated": escalated,
        "codes": " ".join(codes),
        "seconds": round(seconds, 1),
    }


def _read(paths: list[str]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                row: dict[str, Any] = {
                    **r,
                    "fraction": float(r["fraction"]),
                    "over": float(r["over"]),
                    "mask_size": float(r["mask_size"]),
                    "escalated": r["escalated"] == "True",
                }
                rows[tuple(r[k] for k in ("model", "seed", "mask", "fraction", "eps"))] = row
    return list(rows.values())


SIZE_BINS: tuple[tuple[float, float], ...] = ((-1.0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 1.0))
"""Mask sizes (the gradient attacks' overstatement over the twin's worst case) of the power-by-size table."""


def _flagged(row: dict[str, Any]) -> bool:
    """Any flag of masking (``masking_undecided`` is a note that the row's n cannot decide, not a flag)."""
    return bool(set(row["codes"].split()) - {"masking_undecided"})


def characteristic(rows: list[dict[str, Any]], n: int) -> str:
    """The markdown operating characteristic: per check, false alarms on healthy rows and firing rates on masked
    rows by mask family; then the promise per family (flagged, or overstating by at most 0.06)."""
    healthy = [r for r in rows if r["mask"] == "healthy"]
    masked = [r for r in rows if r["mask"] != "healthy"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in masked:
        label = f"{r['mask']} {r['fraction']:g}" if r["mask"] == "partial_quantized" else r["mask"]
        groups.setdefault(label, []).append(r)
    fired = {code: sum(code in r["codes"].split() for r in healthy) for code in FLAG_CODES}
    head = "| check | tolerance at n | false alarms (healthy) | " + " | ".join(groups) + " |"
    lines = [head, "|" + "---|" * (3 + len(groups))]
    for code in [*FLAG_CODES, "any flag"]:
        tol = f"{count_tolerance(n, HEALTHY_RATE[code], ALPHA)} of {n}" if code in HEALTHY_RATE else "-"
        if code == "any flag":
            fa = sum(_flagged(r) for r in healthy)
            power = [sum(_flagged(r) for r in g) for g in groups.values()]
        else:
            fa = fired[code]
            power = [sum(code in r["codes"].split() for r in g) for g in groups.values()]
        lines.append(
            f"| {code} | {tol} | {fa}/{len(healthy)} | "
            + " | ".join(f"{p}/{len(g)}" for p, g in zip(power, groups.values(), strict=True))
            + " |"
        )
    lines += [
        "",
        "| family | mask size (gradient overstatement, mean) | overstatement of the worst case (max) | "
        "escalated | promise kept (flagged or over <= 0.06) |",
        "|---|---|---|---|---|",
    ]
    for label, g in groups.items():
        kept = sum(_flagged(r) or r["over"] <= 0.06 for r in g)
        lines.append(
            f"| {label} | {sum(r['mask_size'] for r in g) / len(g):+.3f} | {max(r['over'] for r in g):+.3f} | "
            f"{sum(r['escalated'] for r in g)}/{len(g)} | {kept}/{len(g)} |"
        )
    deterministic = [r for r in masked if "randomized" not in r["codes"].split()]
    lines += [
        "",
        "Power by mask size (deterministic masks: every family but the randomized transform; mask size = "
        f"gradient attacks' worst case minus the twin's worst case, at n = {n}):",
        "",
        "| check | "
        + " | ".join(f"size in [{lo:g}, {hi:g})" if lo > -1 else f"size < {hi:g}" for lo, hi in SIZE_BINS)
        + " |",
        "|---|" + "---|" * len(SIZE_BINS),
    ]
    binned = [[r for r in deterministic if lo <= r["mask_size"] < hi] for lo, hi in SIZE_BINS]
    for code in ["black_box_stronger", "blind_coordinates", "large_eps_robust", "any flag"]:
        cells = []
        for b in binned:
            hits = sum(_flagged(r) if code == "any flag" else code in r["codes"].split() for r in b)
            cells.append(f"{hits}/{len(b)}" if b else "-")
        lines.append(f"| {code} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Smallest symptom share each count check flags with probability >= 0.9 (a mask showing the symptom "
        "on a share d of the candidates, each with probability q; binomial, level ALPHA):",
        "",
        "| check | healthy rate | n = 100 | n = 300 | n = 1000 |",
        "|---|---|---|---|---|",
    ]
    for code, p0 in HEALTHY_RATE.items():
        cells = []
        for size in (100, 300, 1000):
            t = count_tolerance(size, p0, ALPHA)
            d1, dh = (next(m for m in range(size + 1) if binom.sf(t, m, q) >= 0.9) / size for q in (1.0, 0.5))
            cells.append(f"tolerance {t}; d = {d1:.2f} (q = 1), {dh:.2f} (q = 0.5)")
        lines.append(f"| {code} | {p0:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
