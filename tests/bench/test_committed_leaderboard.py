"""The committed leaderboard doubles as a regression fixture.

``leaderboards/fixture.*`` were generated from ``tests/bench/data/leaderboard_fixture.yaml`` (a
fixture-sized variant of the demo suite: same three models, training objective and hierarchy, 60
samples, 2 epochs, three attacks). The fast tests check that the committed files agree with each
other and with the schema; the slow test reruns the suite from scratch (training included) and
compares every row: identities exactly, accuracies within ``TOLERANCE``.

Tolerance: 0.05 absolute on every accuracy fraction (3 of the 60 samples). On the platform that
generated the files (torch CPU, seeded) the rerun matched exactly; the margin absorbs
floating-point differences of other BLAS builds or torch versions in training, which can move a
sample near a decision boundary.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from robin_bench.bench import leaderboard, results
from robin_bench.bench.config import load_suite
from robin_bench.bench.runner import run

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(__file__).parent / "data" / "leaderboard_fixture.yaml"
BOARD = ROOT / "leaderboards" / "fixture"
TOLERANCE = 0.05
IDENTITY = ["suite", "dataset", "norm", "eps", "criterion", "model", "kind", "arch", "train_objective", "n"]
ACCURACIES = ["clean_acc", "robust_acc", "coarse_clean_acc", "coarse_robust_acc"]


def _committed() -> pd.DataFrame:
    return leaderboard.read(BOARD.with_suffix(".csv"))


def test_committed_files_agree() -> None:
    board = _committed()
    assert set(board["kind"]) == {"flat", "robin", "har"}
    md = BOARD.with_suffix(".md").read_text()
    page = BOARD.with_suffix(".html").read_text()
    assert md == leaderboard.to_markdown(board, "fixture")
    assert page == leaderboard.to_html(board, "fixture")
    records = {p.stem: json.loads(p.read_text()) for p in BOARD.glob("*.json")}
    assert sorted(records) == sorted(f"fixture__{m}" for m in board["model"].unique())
    for _, r in board.iterrows():
        ev = next(e for e in records[f"fixture__{r['model']}"]["evaluations"] if e["eps"] == r["eps"])
        assert ev["robust_acc"] == pytest.approx(r["robust_acc"]) and ev["rank"] == r["rank"]


def test_committed_board_matches_suite() -> None:
    suite = load_suite(SUITE)
    board = _committed()
    assert set(board["model"]) == set(suite.model_names())
    assert set(board["suite"]) == {suite.name}


@pytest.mark.slow
def test_rerun_reproduces_committed_leaderboard(tmp_path: Path) -> None:
    report = run(load_suite(SUITE).with_output(str(tmp_path / "run")), progress=False)
    fresh = leaderboard.table(leaderboard.load([report.results_csv]))
    committed = _committed()
    key = ["suite", "dataset", "norm", "eps", "criterion", "model"]
    fresh, committed = fresh.sort_values(key).reset_index(drop=True), committed.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(fresh[IDENTITY], committed[IDENTITY], check_dtype=False)
    for c in ACCURACIES:
        for a, b in zip(fresh[c], committed[c], strict=True):
            assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOLERANCE, (c, a, b)
    assert results.read(report.results_csv)["n"].eq(60).all()
