"""check's report: every value compared with its baseline, interval or tolerance; the closest calls; no vacuous pass."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from robin_bench.bench import check, leaderboard
from robin_bench.bench.stats import wilson
from robin_bench.errors import RobinBenchError

from .synthetic_results import copy_run, set_robust, write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("check")
    csv = write_run(root / "run")
    return csv, leaderboard.build([csv], root / "demo")[0]


def test_report_lists_every_value_with_baseline_now_and_interval(run: tuple[Path, Path]) -> None:
    csv, board = run
    rep = check.report(csv, board)
    assert rep.passed and len(rep.rows) == 9 * 4  # 3 models x 3 eps; clean and robust, fine and coarse
    base = leaderboard.read(board)
    for r in rep.rows:
        b = base[(base["model"] == r.model) & (base["eps"] == r.eps)].iloc[0]
        assert r.baseline == pytest.approx(b[r.metric]) and r.current == pytest.approx(b[r.metric])
        assert r.ci_method == leaderboard.CI_WILSON and r.rule == "ci"
        n = int(b["n"])
        assert (r.ci_low, r.ci_high) == pytest.approx(wilson(round(r.current * n), n))
        assert r.margin == pytest.approx(r.ci_high - r.baseline)
    text = rep.message()
    assert text.startswith(f"check passed against {board} (sha256 ")
    assert ", read before the run): 36 values compared, 0 failed; rule: fail when the baseline lies above" in text
    assert text.count("\n  ok   demo/") == 36 + 3  # every row, plus the three closest
    closest = rep.closest()
    assert [r.margin for r in closest] == sorted(r.margin for r in rep.rows)[:3]
    assert "closest to failing:\n  " + closest[0].describe() in text


def test_tolerance_rule_is_stated_per_row(run: tuple[Path, Path]) -> None:
    csv, board = run
    rep = check.report(csv, board, tolerance=0.02)
    assert rep.passed and all(
        r.rule == "tolerance" and r.threshold == pytest.approx(r.baseline - 0.02) for r in rep.rows
    )
    assert "rule: fail when current < baseline - 2.0 points" in rep.message()
    assert "now >= the baseline - tolerance = " in rep.rows[0].describe()


def test_failure_message_names_row_and_rule(run: tuple[Path, Path], tmp_path: Path) -> None:
    csv, board = run
    cur = copy_run(csv, tmp_path / "results.csv")
    set_robust(cur, "robin", 0.1, 3)
    rep = check.report(cur, board)
    assert not rep.passed and [(r.model, r.eps, r.metric) for r in rep.offending] == [("robin", 0.1, "robust_acc")]
    text = rep.message()
    assert text.startswith(f"check FAILED against {board} (sha256 ") and ": 36 values compared, 1 failed" in text
    assert "failed:\n  FAIL demo/robin Linf eps=0.1 fine robust_acc: baseline " in text
    assert "now 5.0% (95% CI [1.7, 13.7], wilson-1-seed)" in text


@pytest.mark.parametrize("bad", ["", "nan", "-0.3", "abc"])
def test_malformed_baseline_is_a_one_line_error(run: tuple[Path, Path], tmp_path: Path, bad: str) -> None:
    csv, board = run
    raw = pd.read_csv(board, dtype=str, keep_default_na=False)
    path = tmp_path / "baseline.csv"
    raw.assign(robust_acc=[*raw["robust_acc"][:-1], bad]).to_csv(path, index=False)
    with pytest.raises(RobinBenchError, match=rf"baseline.csv:{len(raw) + 1}: column 'robust_acc' holds") as e:
        check.report(csv, path)
    assert "\n" not in str(e.value)
    with pytest.raises(RobinBenchError):
        check.read_baseline(path)


def test_never_passes_vacuously(run: tuple[Path, Path], tmp_path: Path) -> None:
    csv, board = run
    base = leaderboard.read(board)
    empty = tmp_path / "empty.csv"
    base.iloc[:0].to_csv(empty, index=False)
    with pytest.raises(RobinBenchError, match="no rows for suite"):
        check.report(csv, empty)


def test_seeds_are_compared_as_means_with_their_t_interval(tmp_path: Path) -> None:
    from .test_leaderboard_seeds import write_seeded_run

    csv = write_seeded_run(tmp_path / "run")
    board = leaderboard.build([csv], tmp_path / "lb")[0]
    rep = check.report(csv, board)
    assert rep.passed and {r.ci_method for r in rep.rows} == {leaderboard.CI_T} and len(rep.rows) == 3 * 2
    robin = next(r for r in rep.rows if r.model == "robin" and r.metric == "robust_acc")
    assert robin.current == pytest.approx(22 / 30) and robin.baseline == pytest.approx(22 / 30)
    assert check.report(csv, csv).passed  # a results.csv baseline is aggregated the same way
