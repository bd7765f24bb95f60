"""results.csv schema: rows of a cell, atomic deduplicating merge, validation, per-sample flags."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from robin_bench.attacks.evaluate import EvalResult
from robin_bench.bench import results, store
from robin_bench.bench.stats import wilson
from robin_bench.errors import RobinBenchError

from .synthetic_results import early_exit_result, write_run

META = {
    "suite": "s",
    "dataset": "digits",
    "model": "m",
    "kind": "robin",
    "arch": "mlp",
    "train_objective": "pgd_at",
    "norm": "Linf",
    "eps_train": 0.1,
    "eps": 0.1,
    "criterion": "fine",
    "seed": 0,
    "attack_set": "custom",
    "device": "cpu",
    "config_hash": "abc",
}

CLEAN = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], bool)
BREAK_A = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 0], bool)
BREAK_B = np.array([1, 0, 1, 1, 0, 0, 0, 0, 0, 1], bool)


def _cell() -> EvalResult:
    return early_exit_result(CLEAN, {"a": BREAK_A, "b": BREAK_B})


def test_rows_for_cell_fractions_scopes_and_worst_case() -> None:
    rows = results.rows_for_cell(META, _cell())
    assert [r["attack"] for r in rows] == ["a", "b", "worst_case"]
    assert all(list(r) == results.COLUMNS for r in rows)
    by = {r["attack"]: r for r in rows}
    assert all(r["clean_acc"] == 0.8 and r["n"] == 10 for r in rows)
    # "a" ran on every clean-correct sample: robust against it alone (breaks samples 0, 1).
    assert by["a"]["scope"] == "alone" and by["a"]["robust_acc"] == pytest.approx(0.6)
    # "b" ran only on survivors of "a": cumulative worst case over a then b (also breaks 2, 3).
    assert by["b"]["scope"] == "cumulative" and by["b"]["robust_acc"] == pytest.approx(0.4)
    expected = CLEAN & ~(BREAK_A | BREAK_B)
    assert by["worst_case"]["robust_acc"] == pytest.approx(expected.mean())
    for r in rows:
        assert 0.0 <= r["robust_acc_ci_low"] <= r["robust_acc"] <= r["robust_acc_ci_high"] <= 1.0
        assert math.isnan(r["coarse_robust_acc"]) and math.isnan(r["coarse_clean_acc"])
    assert by["worst_case"]["grad_evals"] == by["a"]["grad_evals"] + by["b"]["grad_evals"]
    assert by["worst_case"]["seconds"] == pytest.approx(1.0)
    assert by["a"]["robin_bench_version"] and by["a"]["torch_version"] == torch.__version__


ISSUE_COLUMNS = [
    "suite",
    "dataset",
    "model",
    "seed",
    "kind",
    "arch",
    "train_objective",
    "norm",
    "eps_train",
    "eps",
    "attack",
    "attack_set",
    "criterion",
    "n",
    "clean_acc",
    "robust_acc",
    "robust_acc_ci_low",
    "robust_acc_ci_high",
    "coarse_clean_acc",
    "coarse_robust_acc",
    "grad_evals",
    "seconds",
    "unreliable",
    "robin_bench_version",
    "torch_version",
    "device",
    "config_hash",
    "timestamp",
]
"""The columns issues 4, 10 (attack_set) and 12 (seed: the model's seed) require of results.csv."""


def test_rows_carry_every_required_column_and_the_wilson_interval_of_their_count() -> None:
    assert set(ISSUE_COLUMNS) <= set(results.COLUMNS)
    for r in results.rows_for_cell(META, _cell()):
        k = round(r["robust_acc"] * r["n"])
        assert r["robust_acc"] == k / r["n"]
        assert (r["robust_acc_ci_low"], r["robust_acc_ci_high"]) == pytest.approx(wilson(k, r["n"]))


def test_rows_for_cell_alone_scope_when_every_attack_ran_on_all() -> None:
    full = torch.from_numpy(CLEAN.copy())
    res = EvalResult(
        ["a", "b"],
        "fine",
        full,
        torch.from_numpy(CLEAN & ~(BREAK_A | BREAK_B)),
        {"a": torch.from_numpy(BREAK_A & CLEAN), "b": torch.from_numpy(BREAK_B & CLEAN)},
        {"a": full, "b": full},
        {"a": None, "b": 5},
        {"a": 1.0, "b": 2.0},
    )
    rows = {r["attack"]: r for r in results.rows_for_cell(META, res)}
    assert rows["b"]["scope"] == "alone" and rows["b"]["robust_acc"] == pytest.approx(0.5)
    assert rows["worst_case"]["grad_evals"] is None  # one attack's count unknown


def test_rows_for_cell_coarse_columns() -> None:
    coarse = early_exit_result(CLEAN | np.eye(10, dtype=bool)[8], {"a": np.zeros(10, bool), "b": BREAK_B}, "coarse")
    rows = {r["attack"]: r for r in results.rows_for_cell(META, _cell(), coarse)}
    assert rows["a"]["coarse_clean_acc"] == pytest.approx(0.9)
    assert rows["a"]["coarse_robust_acc"] == pytest.approx(0.9)
    assert rows["worst_case"]["coarse_robust_acc"] == pytest.approx(0.6)


def test_rows_for_cell_rejects_incomplete_meta_and_bad_kind() -> None:
    with pytest.raises(RobinBenchError, match="config_hash"):
        results.rows_for_cell({k: v for k, v in META.items() if k != "config_hash"}, _cell())
    with pytest.raises(RobinBenchError, match="kind"):
        results.rows_for_cell({**META, "kind": "ensemble"}, _cell())


def test_append_rows_roundtrip_and_dedup(tmp_path: Path) -> None:
    csv = tmp_path / "out" / "results.csv"
    first = results.rows_for_cell(META, _cell())
    results.append_rows(csv, first)
    results.append_rows(csv, results.rows_for_cell({**META, "eps": 0.2}, _cell()))
    rerun = results.rows_for_cell({**META, "timestamp": "later"}, _cell())
    df = results.append_rows(csv, rerun)
    back = results.read(csv)
    assert len(back) == 6 and list(back.columns) == results.COLUMNS
    assert not back.duplicated(subset=results.KEY).any()
    assert (back[back["eps"] == 0.1]["timestamp"] == "later").all()
    assert list(back["eps"]) == [0.1] * 3 + [0.2] * 3  # replaced rows keep their place
    pd.testing.assert_frame_equal(df, back)
    assert back["grad_evals"].dtype == "Int64" and back["clean_acc"].dtype == "float64"
    assert back["coarse_robust_acc"].isna().all()


def test_append_rows_keeps_old_file_when_the_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "results.csv"
    results.append_rows(csv, results.rows_for_cell(META, _cell()))
    before = csv.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        results.append_rows(csv, results.rows_for_cell({**META, "eps": 0.3}, _cell()))
    assert csv.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temp file left behind


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t.replace("robust_acc_ci_low", "ci_low", 1), "header"),
        (lambda t: t.replace(",0.6,", ",1.6,", 1), "fraction"),
        (lambda t: t.replace(",robin,", ",,", 1), "non-empty"),
        (lambda t: t + t.splitlines()[1] + "\n", "duplicate"),
        (lambda t: t.replace(",10,", ",ten,", 1), "integer"),
        (lambda t: "", "readable"),
    ],
)
def test_read_rejects_malformed_files(tmp_path: Path, edit, match: str) -> None:
    csv = tmp_path / "results.csv"
    results.append_rows(csv, results.rows_for_cell(META, _cell()))
    csv.write_text(edit(csv.read_text()))
    with pytest.raises(RobinBenchError, match=match):
        results.read(csv)


def test_read_names_line_of_bad_value(tmp_path: Path) -> None:
    csv = tmp_path / "results.csv"
    results.append_rows(csv, results.rows_for_cell(META, _cell()))
    lines = csv.read_text().splitlines()
    lines[3] = lines[3].replace(",Linf,0.1,0.1,", ",Linf,0.1,-0.1,")
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(RobinBenchError, match=r"results.csv:4: column 'eps'"):
        results.read(csv)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match="does not exist"):
        results.read(tmp_path / "nope.csv")


def test_flags_roundtrip(tmp_path: Path) -> None:
    cell = _cell()
    key = store.CellId("s", "m/odd name", "Linf", 8 / 255, "fine").key
    assert "/" not in key and " " not in key
    assert key != store.CellId("s", "m/odd_name", "Linf", 8 / 255, "fine").key
    path = store.save_flags(tmp_path, key, cell)
    flags = store.load_flags(tmp_path, key)
    assert path.exists() and flags.names == ["a", "b"] and flags.n == 10
    np.testing.assert_array_equal(flags.clean_correct, CLEAN)
    np.testing.assert_array_equal(flags.robust, cell.robust.numpy())
    for a in ("a", "b"):
        np.testing.assert_array_equal(flags.success[a], cell.success[a].numpy())
        np.testing.assert_array_equal(flags.ran[a], cell.ran[a].numpy())
        assert flags.success[a].dtype == np.bool_


def test_load_flags_missing_or_damaged(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match="no per-sample flags"):
        store.load_flags(tmp_path, "absent")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(RobinBenchError, match="damaged"):
        store.load_flags(tmp_path, "bad")
    with pytest.raises(RobinBenchError, match="plain file name"):
        store.save_flags(tmp_path, "../escape", _cell())


def test_synthetic_run_is_valid(tmp_path: Path) -> None:
    df = results.read(write_run(tmp_path))
    assert set(df["attack"]) == {"pgd", "cw", "worst_case"}
    assert len(df) == 3 * 3 * 3


def test_a_kind_unknown_to_this_process_is_data(tmp_path: Path) -> None:
    csv = tmp_path / "results.csv"
    results.append_rows(csv, results.rows_for_cell(META, _cell()))
    csv.write_text(csv.read_text().replace(",robin,", ",ensemble_from_a_plugin,"))
    assert set(results.read(csv)["kind"]) == {"ensemble_from_a_plugin"}


def test_a_file_from_before_the_plugins_column_reads_with_it_empty(tmp_path: Path) -> None:
    import pandas as pd

    csv = tmp_path / "results.csv"
    results.append_rows(csv, results.rows_for_cell(META, _cell()))
    pd.read_csv(csv, dtype=str, keep_default_na=False).drop(columns=["plugins"]).to_csv(csv, index=False)
    assert results.read(csv)["plugins"].eq("").all()
