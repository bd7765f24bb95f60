"""A model's JSON record: identity, provenance and one evaluation per threat and criterion of a leaderboard."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from robin_bench.bench import results
from robin_bench.bench.leaderboard.columns import (
    EVALUATION_KEYS,
    RECORD_KEYS,
    VERIFY_COLUMNS,
    VERIFY_COMPARISON_COLUMNS,
)


def proof_fields(r: pd.Series) -> dict[str, Any]:
    """The :data:`VERIFY_COLUMNS` and :data:`VERIFY_COMPARISON_COLUMNS` a leaderboard row has (none unless it was
    verified), as JSON values: what a record's evaluation and a RobustBench card add for a verified row."""
    return {c: json_value(r[c]) for c in [*VERIFY_COLUMNS, *VERIFY_COMPARISON_COLUMNS] if not pd.isna(r[c])}


def json_value(v: Any) -> Any:
    """A table cell as a JSON value: NaN, NA and the empty string as None, numpy scalars as Python ones."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return json_value(v.item())
    if isinstance(v, str):
        return v or None
    return v


def interval(r: pd.Series, low: str, high: str) -> list[float] | None:
    """The interval ``[r[low], r[high]]``, None when either end is missing."""
    if pd.isna(r[low]) or pd.isna(r[high]):
        return None
    return [float(r[low]), float(r[high])]


def records(df: pd.DataFrame, board: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per (suite, model): identity, provenance and one evaluation per threat and criterion."""
    if "seed" not in df.columns:
        df = df.assign(seed=0)
    out = []
    for (suite, model), rows in board.groupby(["suite", "model"], sort=True):
        mine = df[(df["suite"] == suite) & (df["model"] == model)]
        first = rows.iloc[0]
        rec: dict[str, Any] = {k: json_value(first[k]) for k in RECORD_KEYS if k in board.columns}
        rec["seeds"] = sorted({int(s) for s in mine["seed"]})
        rec["evaluations"] = []
        for _, r in rows.sort_values(["norm", "criterion", "eps"]).iterrows():
            cell = mine[(mine["norm"] == r["norm"]) & (mine["eps"] == r["eps"]) & (mine["criterion"] == r["criterion"])]
            attacks = {}
            for name, a in cell[cell["attack"] != results.WORST_CASE].groupby("attack", sort=False):
                evals = None if a["grad_evals"].isna().any() else int(a["grad_evals"].sum())
                attacks[str(name)] = {
                    "robust_acc": float(a["robust_acc"].mean()),
                    "scope": "; ".join(dict.fromkeys(a["scope"])),
                    "grad_evals": evals,
                    "seconds": float(a["seconds"].sum()),
                }
            worst = cell[cell["attack"] == results.WORST_CASE].sort_values("seed")
            per_seed = {
                str(int(w["seed"])): {
                    "n": int(w["n"]),
                    "clean_acc": float(w["clean_acc"]),
                    "robust_acc": float(w["robust_acc"]),
                    "coarse_robust_acc": json_value(w["coarse_robust_acc"]),
                }
                for _, w in worst.iterrows()
            }
            ev = {k: json_value(r[k]) for k in EVALUATION_KEYS if k in board.columns}
            ev.update(
                robust_acc_ci=interval(r, "robust_acc_ci_low", "robust_acc_ci_high"),
                per_seed=per_seed,
                attacks=attacks,
                robust_acc_diff_ci=interval(r, "robust_acc_diff_ci_low", "robust_acc_diff_ci_high"),
            )
            rec["evaluations"].append({**{k: ev[k] for k in EVALUATION_KEYS}, **proof_fields(r)})
        plugins = {"plugins": first["plugins"]} if first.get("plugins") else {}  # only a plugin's model has the key
        out.append({**{k: rec[k] for k in RECORD_KEYS}, **plugins})
    return out
