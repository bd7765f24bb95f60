"""The committed leaderboard doubles as a regression fixture.

``leaderboards/demo.*`` were generated from the packaged demo suite (what ``robin-bench run`` runs):
``robin-bench run -o runs/demo && robin-bench leaderboard runs/demo/results.csv -o leaderboards/demo``.
The first tests check that the committed files agree with each other and with the suite; the last
reruns the demo from scratch (training included, under a minute on 2 CPU cores) and compares every
row: identities exactly, accuracies within ``TOLERANCE``.

Tolerance: 0.05 absolute on every accuracy fraction (5 of the 100 samples). On the platform that
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
from robin_bench.bench.config import demo_suite_path, load_suite
from robin_bench.bench.runner import run

ROOT = Path(__file__).resolve().parents[2]
SUITE = demo_suite_path()
BOARD = ROOT / "leaderboards" / "demo"
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
    assert md == leaderboard.to_markdown(board, "demo")
    assert page == leaderboard.to_html(board, "demo")
    records = {m: json.loads(leaderboard.record_path(BOARD, "demo", m).read_text()) for m in board["model"].unique()}
    assert sorted(p.stem for p in BOARD.glob("records/*/*.json")) == sorted(records)
    for _, r in board.iterrows():
        ev = next(e for e in records[r["model"]]["evaluations"] if e["eps"] == r["eps"])
        assert ev["robust_acc"] == pytest.approx(r["robust_acc"]) and ev["rank"] == r["rank"]


def test_committed_board_matches_suite() -> None:
    suite = load_suite(SUITE)
    board = _committed()
    assert set(board["model"]) == set(suite.model_names())
    assert set(board["suite"]) == {suite.name}


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
    assert results.read(report.results_csv)["n"].eq(100).all()
