"""RobustBench model cards of a leaderboard's rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from robin_bench.bench.leaderboard.paths import escape_name
from robin_bench.bench.leaderboard.records import interval, json_value, proof_fields
from robin_bench.bench.leaderboard.render import format_eps
from robin_bench.bench.store import ensure_writable
from robin_bench.fileio import atomic_write_text

ROBUSTBENCH_KEYS: list[str] = [
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "footnote",
    "unreliable",
]
"""Fields of a RobustBench model card, in RobustBench's order.

RobustBench's schema (``robustbench/leaderboard/template.py`` documents it; every
``model_info/<dataset>/<threat_model>/<Name>.json`` follows it): ``link``, ``name``, ``authors``,
``venue``, ``architecture``, ``dataset`` strings; ``additional_data`` bool; ``number_forward_passes``
int; ``eps`` a string (``"8/255"``, ``"0.5"``); ``clean_acc``, ``reported`` and ``autoattack_acc``
percentages as strings with two decimals (``"91.23"``); optional ``footnote`` string and ``unreliable``
bool. robin-bench's own fields go under :data:`ROBUSTBENCH_EXTRA_KEY`."""

ROBUSTBENCH_EXTRA_KEY = "robin_bench"


def _pct2(x: Any) -> str:
    return f"{100 * float(x):.2f}"


def robustbench_card(r: pd.Series, others: pd.DataFrame) -> dict[str, Any]:
    """One RobustBench model card from a leaderboard row (``others``: the model's rows at other criteria)."""
    extra = {
        k: json_value(r[k])
        for k in (
            "suite",
            "model",
            "kind",
            "arch",
            "train_objective",
            "eps_train",
            "criterion",
            "attack_set",
            "n",
            "n_seeds",
            "seeds",
            "ci_method",
            "robust_acc",
            "robust_acc_min",
            "robust_acc_max",
            "rank",
            "distinct_from_next",
            "baseline",
            "robust_acc_diff",
            "diff_ci_method",
            "mcnemar_p",
            "unreliable",
            "config_hash",
            "robin_bench_version",
            "torch_version",
            "device",
        )
    }
    extra["seeds"] = [int(s) for s in str(r["seeds"]).split(";") if s]
    extra["robust_acc_ci"] = interval(r, "robust_acc_ci_low", "robust_acc_ci_high")
    extra["robust_acc_diff_ci"] = interval(r, "robust_acc_diff_ci_low", "robust_acc_diff_ci_high")
    extra["criteria"] = {
        str(o["criterion"]): {
            "robust_acc": float(o["robust_acc"]),
            "coarse_robust_acc": json_value(o["coarse_robust_acc"]),
        }
        for _, o in others.iterrows()
    }
    extra["coarse_clean_acc"] = json_value(r["coarse_clean_acc"])
    extra["coarse_robust_acc"] = json_value(r["coarse_robust_acc"])
    extra.update(proof_fields(r))
    seeds = f"mean over {r['n_seeds']} training seeds" if int(r["n_seeds"]) > 1 else "one training seed"
    card = {
        "link": "",
        "name": f"{r['model']} ({r['kind']}, robin-bench suite {r['suite']})",
        "authors": "",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": str(r["dataset"]),
        "venue": "N/A",
        "architecture": f"{r['arch']} ({r['kind']})",
        "eps": format_eps(float(r["eps"])),
        "clean_acc": _pct2(r["clean_acc"]),
        "reported": "N/A",
        "autoattack_acc": _pct2(r["robust_acc"]),
        "footnote": (
            f"Evaluated by robin-bench: per-sample worst case over the attack set '{r['attack_set']}' "
            f"under the {r['criterion']} criterion, {r['n']} test samples, {seeds}; 'autoattack_acc' "
            "holds that worst case, which is AutoAttack's figure only where the set is AutoAttack."
        ),
        "unreliable": bool(r["unreliable"]),
        ROBUSTBENCH_EXTRA_KEY: extra,
    }
    return card


def write_robustbench(board: pd.DataFrame, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write one RobustBench model card per (suite, model, dataset, norm, eps).

    Layout as RobustBench's ``model_info``: ``<out_dir>/<dataset>/<norm>/<suite>_<model>_<eps>.json``
    (each part escaped by :func:`escape_name`, so names never collide). The card is built from the
    ``fine`` criterion row when there is one (else the first criterion in name order); every
    criterion's figures are in the extra key, and a verified row's proofs (``verified_acc``, ``unresolved``, the
    verified comparison with its baseline and their coarse twins: :func:`~.records.proof_fields`). Fields:
    :data:`ROBUSTBENCH_KEYS` plus :data:`ROBUSTBENCH_EXTRA_KEY`.

    Arguments:
        board (DataFrame): a leaderboard (:func:`table` or :func:`read`).
        out_dir (path): folder of the cards (created when absent).

    Returns:
        the paths written, in (dataset, norm, suite, model, eps) order.

    Example::

        >>> write_robustbench(read("leaderboards/demo.csv"), "leaderboards/demo-robustbench")
    """
    out = Path(out_dir)
    ensure_writable(out)
    written = []
    keys = ["dataset", "norm", "suite", "model", "eps"]
    for (dataset, norm, suite, model, eps), g in board.groupby(keys, sort=True):
        g = g.assign(_fine=g["criterion"] != "fine").sort_values(["_fine", "criterion"], kind="stable")
        card = robustbench_card(g.iloc[0], g)
        path = (
            out
            / escape_name(str(dataset))
            / escape_name(str(norm))
            / f"{escape_name(str(suite))}_{escape_name(str(model))}_{escape_name(format_eps(float(eps)))}.json"
        )
        atomic_write_text(path, json.dumps(card, indent=2, allow_nan=False) + "\n")
        written.append(path)
    return written
