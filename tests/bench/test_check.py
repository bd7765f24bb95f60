"""Regression gate: flags drops beyond the CI or the tolerance, passes within them, reports missing rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from robin_bench.bench import check, leaderboard, results
from robin_bench.errors import RobinBenchError

from .synthetic_results import copy_run, set_robust, write_run


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("base")
    csv = write_run(root / "run")
    board = leaderboard.build([csv], root / "demo")[0]
    return csv, board


def _shift(csv: Path, out: Path, model: str, eps: float, delta: float, column: str = "robust_acc") -> Path:
    """A copy of ``csv`` (with its flags) where one worst-case accuracy fell by ``-delta``: samples broken in the
    flags, the rows recomputed from them."""
    df = results.read(csv)
    row = df[(df["model"] == model) & (df["eps"] == eps) & (df["attack"] == "worst_case")].iloc[0]
    k = round(row[column] * row["n"]) + round(delta * row["n"])
    copy_run(csv, out)
    set_robust(out, model, eps, k, "coarse" if column.startswith("coarse") else "fine")
    return out


def test_identical_run_passes_against_results_and_leaderboard(baseline: tuple[Path, Path]) -> None:
    csv, board = baseline
    assert check.compare(csv, csv) == []
    assert check.compare(csv, board) == []
    assert check.compare(csv, board, tolerance=0.0) == []


def test_drop_beyond_ci_is_flagged(baseline: tuple[Path, Path], tmp_path: Path) -> None:
    csv, board = baseline
    cur = _shift(csv, tmp_path / "results.csv", "robin", 0.1, -0.25)
    offending = check.compare(cur, board)
    assert len(offending) == 1
    row = offending[0]
    assert (row["model"], row["eps"], row["metric"], row["status"]) == ("robin", 0.1, "robust_acc", check.BELOW)
    assert row["ci_high"] < row["baseline"] == row["threshold"] and row["margin"] < 0
    line = check.describe(row)
    assert line.startswith("FAIL demo/robin Linf eps=0.1 fine robust_acc") and "CI upper bound" in line


def test_small_drop_within_ci_passes_but_tolerance_zero_catches_it(baseline: tuple[Path, Path], tmp_path: Path) -> None:
    csv, board = baseline
    cur = _shift(csv, tmp_path / "results.csv", "har", 0.1, -1 / 60)
    assert check.compare(cur, board) == []
    assert check.compare(cur, board, tolerance=0.02) == []
    offending = check.compare(cur, board, tolerance=0.0)
    assert [(r["model"], r["metric"]) for r in offending] == [("har", "robust_acc")]
    assert offending[0]["threshold"] == pytest.approx(offending[0]["baseline"])


def test_coarse_drop_is_flagged(baseline: tuple[Path, Path], tmp_path: Path) -> None:
    csv, board = baseline
    cur = _shift(csv, tmp_path / "results.csv", "har", 0.2, -0.3, column="coarse_robust_acc")
    assert [(r["model"], r["metric"]) for r in check.compare(cur, board)] == [("har", "coarse_robust_acc")]


def test_missing_rows_are_reported(baseline: tuple[Path, Path], tmp_path: Path) -> None:
    csv, board = baseline
    df = results.read(csv)
    cur = tmp_path / "results.csv"
    copy_run(csv, cur, {"mc": "mc", "robin": "robin"})
    assert "har" in set(df["model"])
    offending = check.compare(cur, board)
    assert {r["status"] for r in offending} == {check.MISSING}
    assert {(r["model"], r["eps"], r["metric"]) for r in offending} == {
        ("har", e, m)
        for e in (0.0, 0.1, 0.2)
        for m in check.METRICS
        if "verified" not in m  # demo: no verify
    }
    assert all(r["current"] is None for r in offending)
    assert check.describe(offending[0]).startswith("MISSING demo/har")


def test_other_suite_or_bad_files_are_refused(baseline: tuple[Path, Path], tmp_path: Path) -> None:
    csv, board = baseline
    other = write_run(tmp_path / "other", suite="nightly")
    with pytest.raises(RobinBenchError, match="no rows for suite"):
        check.compare(other, board)
    with pytest.raises(RobinBenchError, match="tolerance"):
        check.compare(csv, board, tolerance=-0.1)
    junk = tmp_path / "junk.csv"
    pd.DataFrame({"a": [1]}).to_csv(junk, index=False)
    with pytest.raises(RobinBenchError, match="neither a results.csv nor a leaderboard"):
        check.compare(csv, junk)
    with pytest.raises(RobinBenchError, match="does not exist"):
        check.compare(csv, tmp_path / "absent.csv")


def test_a_collapse_of_clean_accuracy_fails_even_where_robust_accuracy_cannot_fall(tmp_path: Path) -> None:
    """Clean accuracy 36% -> 10% on 100 samples, every sample broken in both runs (robust accuracy 0)."""
    base = write_run(tmp_path / "base", n=100, drop=1.0, clean_rate=0.36)
    cur = write_run(tmp_path / "cur", n=100, drop=1.0, clean_rate=0.10)
    rep = check.report(cur, base)
    assert not rep.passed
    clean = [r for r in rep.rows if r.metric in ("clean_acc", "coarse_clean_acc")]
    assert clean and all(r.status == check.BELOW and r.ci_high < r.baseline for r in clean)
    assert all(r.status == check.PASS for r in rep.rows if r.metric == "robust_acc")
    assert "clean_acc: baseline" in rep.message()
    assert check.report(base, base).passed


def test_cells_the_baseline_lacks_are_named_as_not_compared(baseline: tuple[Path, Path], tmp_path: Path) -> None:
    csv, _ = baseline
    fewer = copy_run(csv, tmp_path / "base" / "results.csv", {"mc": "mc", "robin": "robin"})
    rep = check.report(csv, fewer)
    assert rep.passed and len(rep.uncompared) == 3 and all(u.startswith("demo/har Linf eps=") for u in rep.uncompared)
    assert "not compared (not in the baseline): 3\n  demo/har Linf eps=0 fine" in rep.message()
