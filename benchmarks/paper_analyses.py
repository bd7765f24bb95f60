"""An analysis of a suite with seeds, aggregated over its seeds: mean and 95% t interval per row.

``robin-bench analyze NAME SUITE`` on a suite with ``seeds`` writes one block of rows per seed (column
``seed``) to ``<run>/analysis/NAME.csv`` (and ``NAME_summary.csv`` where the analysis has one). This
script groups the rows by every other non-numeric column and by ``eps`` and prints, for each numeric
column, the mean over the seeds with the half-width of its 95% Student-t interval
(``t_{0.975, k-1} * sd / sqrt(k)``, k seeds; :func:`robin_bench.bench.stats.t_interval`), and
optionally the paired difference of two groups (``--diff COLUMN A B``: per seed, A minus B, then the same
interval over seeds).

Usage::

    python benchmarks/paper_analyses.py runs/paper_digits transfer
    python benchmarks/paper_analyses.py runs/paper_digits coherence --summary
    python benchmarks/paper_analyses.py runs/paper_digits attack_sweep --diff attack softmax best_arm

Prints markdown; REPRODUCTION.md quotes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from robin_bench.bench.leaderboard import markdown_table
from robin_bench.bench.stats import t_interval


def half_width(values: np.ndarray) -> float:
    """Half-width of the 95% t interval of the mean of ``values`` (:func:`t_interval`; NaN with fewer than 2)."""
    if len(values) < 2:
        return float("nan")
    low, high = t_interval(values)
    return (high - low) / 2


def keys_of(frame: pd.DataFrame) -> list[str]:
    """Grouping columns: the non-numeric ones and ``eps`` (never ``seed``)."""
    keys = [c for c in frame.columns if c != "seed" and not pd.api.types.is_numeric_dtype(frame[c])]
    return [*keys, *(["eps"] if "eps" in frame.columns else [])]


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """Per group: ``k`` seeds, and for each numeric column its mean and ``<column>_hw`` (t half-width)."""
    keys = keys_of(frame)
    per_seed = frame.groupby([*keys, "seed"], sort=False).mean(numeric_only=True).reset_index()
    numeric = [c for c in per_seed.columns if c not in (*keys, "seed")]
    rows = []
    for key, g in per_seed.groupby(keys, sort=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        row["k"] = g["seed"].nunique()
        for c in numeric:
            row[c], row[f"{c}_hw"] = float(g[c].mean()), half_width(g[c].to_numpy(dtype=np.float64))
        rows.append(row)
    return pd.DataFrame(rows)


def paired_diff(frame: pd.DataFrame, column: str, a: str, b: str) -> pd.DataFrame:
    """Per remaining group: mean over seeds of (row with ``column == a``) minus (``column == b``), t half-width."""
    keys = [k for k in keys_of(frame) if k != column]
    value = (
        "robust_acc"
        if "robust_acc" in frame.columns
        else next(
            c for c in frame.columns if c not in (*keys, column, "seed") and pd.api.types.is_numeric_dtype(frame[c])
        )
    )
    wide = frame.pivot_table(index=[*keys, "seed"], columns=column, values=value, aggfunc="mean").reset_index()
    wide["diff"] = wide[a] - wide[b]
    rows = []
    for key, g in wide.groupby(keys, sort=False):
        d = g["diff"].to_numpy(dtype=np.float64)
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                "k": len(d),
                f"{value} {a} - {b}": float(d.mean()),
                "hw": half_width(d),
                "seeds with a > b": int((d > 0).sum()),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name", help="analysis name, e.g. transfer")
    parser.add_argument("--summary", action="store_true", help="aggregate NAME_summary.csv instead of NAME.csv")
    parser.add_argument("--diff", nargs=3, metavar=("COLUMN", "A", "B"), help="paired difference A - B over seeds")
    args = parser.parse_args()
    stem = f"{args.name}_summary" if args.summary else args.name
    path = args.run_dir / "analysis" / f"{stem}.csv"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: run 'robin-bench analyze {args.name} SUITE -o {args.run_dir}' first")
    frame = pd.read_csv(path)
    if "seed" not in frame.columns:
        raise SystemExit(f"{stem}.csv has no seed column: run the analysis on a suite with seeds")
    out = paired_diff(frame, *args.diff) if args.diff else aggregate(frame)
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in out.itertuples(index=False)]
    print(markdown_table([str(c) for c in out.columns], cells))


if __name__ == "__main__":
    main()
