"""The CI regression gate: compare a run's robust accuracy with a baseline results or leaderboard CSV."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from robin_bench.bench import leaderboard, results
from robin_bench.bench.stats import wilson
from robin_bench.errors import RobinBenchError

MATCH: list[str] = ["suite", "model", "norm", "eps", "criterion"]
"""Columns matching a current row to a baseline row (the worst-case row of a cell)."""

METRICS: list[str] = ["robust_acc", "coarse_robust_acc"]
"""Accuracies gated: worst-case robust accuracy, and coarse robust accuracy where the baseline has it."""

BELOW = "below baseline"
MISSING = "missing from current results"


def read_baseline(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The worst-case rows of a baseline ``results.csv`` or leaderboard ``NAME.csv`` (validated).

    The CLI calls it before running the suite, so a bad baseline costs no compute.
    """
    path = Path(path)
    if not path.is_file():
        raise RobinBenchError(f"baseline file {path} does not exist; give a results.csv or a leaderboard NAME.csv")
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    if header == results.COLUMNS:
        df = results.read(path)
        return df[df["attack"] == results.WORST_CASE].reset_index(drop=True)
    if header == leaderboard.COLUMNS:
        return leaderboard.read(path)
    raise RobinBenchError(f"{path}: neither a results.csv nor a leaderboard CSV (header {header[:6]}...); "
                          "give a file written by robin-bench run or robin-bench leaderboard")


def _key(row: Any) -> tuple[str, ...]:
    return tuple(repr(float(row[c])) if c == "eps" else str(row[c]) for c in MATCH)


def _ci_high(row: Any, metric: str) -> float:
    if metric == "robust_acc":
        return float(row["robust_acc_ci_high"])
    n = int(row["n"])
    return wilson(round(float(row[metric]) * n), n)[1]


def compare(current_csv: str | os.PathLike[str], baseline_csv: str | os.PathLike[str],
            tolerance: float | None = None) -> list[dict[str, Any]]:
    """The baseline rows the current run falls below, or misses.

    Compares, for every worst-case row of the baseline (model x norm x eps x criterion) whose suite
    the current run has, the worst-case ``robust_acc`` and, where the baseline has one,
    ``coarse_robust_acc``. A row regresses when

    * ``tolerance`` is None (default): the baseline's value lies above the current run's Wilson 95%
      interval, ``current_ci_high < baseline`` (for the coarse accuracy the interval is computed
      from ``coarse_robust_acc`` and ``n``), i.e. the drop is beyond sampling noise of the current run;
    * ``tolerance = T``: ``current < baseline - T`` (fractions, e.g. 0.02 for two points).

    A baseline row with no current counterpart is reported with ``reason="missing from current
    results"``. Per-attack rows are not gated: their figure depends on the attack order under early
    exit, and the worst case is what a model's robustness claim rests on.

    Arguments:
        current_csv (path): the ``results.csv`` of the run under test.
        baseline_csv (path): a ``results.csv`` or a leaderboard ``NAME.csv``.
        tolerance (float, optional): allowed drop, a fraction in [0, 1]. Default: None (the CI rule).

    Returns:
        one dict per offending row with keys ``suite, model, norm, eps, criterion, metric, baseline,
        current, current_ci_high, threshold, reason`` (``current`` and ``current_ci_high`` None when
        missing; ``threshold`` the value ``current`` had to reach); empty when the run passes.

    Example::

        >>> compare("runs/demo/results.csv", "leaderboards/demo.csv")
        []
    """
    if tolerance is not None and not (isinstance(tolerance, int | float) and 0.0 <= tolerance <= 1.0):
        raise RobinBenchError(f"tolerance {tolerance!r} is not a fraction in [0, 1]; e.g. 0.02 allows a 2-point drop")
    current = results.read(current_csv)
    current = current[current["attack"] == results.WORST_CASE]
    base = read_baseline(baseline_csv)
    suites = sorted(set(current["suite"]))
    base = base[base["suite"].isin(suites)]
    if base.empty:
        raise RobinBenchError(f"baseline {baseline_csv} has no rows for suite(s) {suites}; "
                              "compare a run with a baseline of the same suite")
    by_key = {_key(r): r for _, r in current.iterrows()}
    offending: list[dict[str, Any]] = []
    for _, b in base.iterrows():
        cur = by_key.get(_key(b))
        for metric in METRICS:
            if pd.isna(b[metric]):
                continue
            ident = {c: (float(b[c]) if c == "eps" else str(b[c])) for c in MATCH}
            entry = {**ident, "metric": metric, "baseline": float(b[metric])}
            if cur is None or pd.isna(cur[metric]):
                offending.append({**entry, "current": None, "current_ci_high": None,
                                  "threshold": float(b[metric]) if tolerance is None else float(b[metric]) - tolerance,
                                  "reason": MISSING})
                continue
            value, high = float(cur[metric]), _ci_high(cur, metric)
            if tolerance is None:
                threshold, failed = float(b[metric]), high < float(b[metric])
            else:
                threshold = float(b[metric]) - tolerance
                failed = value < threshold - 1e-12
            if failed:
                offending.append({**entry, "current": value, "current_ci_high": high, "threshold": threshold,
                                  "reason": BELOW})
    return offending


def describe(row: dict[str, Any]) -> str:
    """One line for an offending row of :func:`compare` (what the CLI prints)."""
    where = (f"{row['suite']}/{row['model']} {row['norm']} eps={leaderboard.format_eps(row['eps'])} "
             f"{row['criterion']} {row['metric']}")
    if row["reason"] == MISSING:
        return f"{where}: missing from the current results (baseline {leaderboard.format_pct(row['baseline'])}%)"
    ci = "" if row["current_ci_high"] is None or math.isnan(row["current_ci_high"]) else (
        f", 95% CI up to {leaderboard.format_pct(row['current_ci_high'])}%")
    return (f"{where}: {leaderboard.format_pct(row['current'])}%{ci} is below the baseline "
            f"{leaderboard.format_pct(row['baseline'])}% (must reach {leaderboard.format_pct(row['threshold'])}%)")
