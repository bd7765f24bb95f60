"""The committed paper leaderboards (issue 12) agree with the per-seed results committed beside them.

Each ``leaderboards/NAME.{csv,md,html}`` was written by ``robin-bench leaderboard RUN/results.csv -o
leaderboards/NAME --with-results``, which also copied the run's rows and per-sample flags under
``leaderboards/NAME/results/<suite>/``. These tests do not rerun the suites (hours of CPU); they check
the committed files: the design (samples per seed, seeds, kinds), the schema, every aggregate and paired
statistic recomputed here with numpy/scipy from the per-seed rows and flags, and the whole table, page
and records rebuilt by :mod:`robin_bench.bench.leaderboard` from the copies.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from robin_bench.bench import leaderboard, results, store
from robin_bench.bench.config import load_suite

ROOT = Path(__file__).resolve().parents[2]
BOARDS = ROOT / "leaderboards"
SUITES = ROOT / "benchmarks" / "suites"
ALL_KINDS = {"flat", "robin", "har"}
# name -> (samples attacked per seed, seeds per model, criteria, kinds)
DESIGN = {
    "paper_digits": (364, 5, {"fine"}, ALL_KINDS),
    "paper_digits_shape": (364, 5, {"coarse"}, ALL_KINDS),
    "paper_digits_advt": (364, 5, {"fine"}, {"flat", "har"}),
    "paper_mnist5k": (1000, 3, {"fine"}, ALL_KINDS),
    "paper_digits_verified": (364, 3, {"fine"}, ALL_KINDS),  # every sample proved or broken by rb.verify (issue 18)
    "plugin_ecoc": (364, 3, {"fine"}, {"flat", "robin", "ecoc"}),  # a plugin's kind (benchmarks/examples/plugin)
}
COARSE = {n for n in DESIGN if n.startswith("paper_")}
"""Boards whose suite has a hierarchy, so fine rows carry coarse figures too."""
GROUP = ["suite", "dataset", "norm", "eps", "criterion"]


def committed(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    board = leaderboard.read(BOARDS / f"{name}.csv")
    rows = leaderboard.load([leaderboard.results_path(BOARDS / name, name)])
    return board, rows


def per_seed(rows: pd.DataFrame, r: pd.Series) -> pd.DataFrame:
    worst = rows[(rows["attack"] == results.WORST_CASE) & (rows["model"] == r["model"])]
    for c in GROUP:
        worst = worst[worst[c] == r[c]]
    return worst.sort_values("seed").set_index("seed")


def robust_flags(rows: pd.DataFrame, r: pd.Series, model: str, seed: int, criterion: str) -> np.ndarray:
    flags = stored_flags(rows, r, model, seed, criterion)
    return flags.robust & flags.clean_correct


def stored_flags(rows: pd.DataFrame, r: pd.Series, model: str, seed: int, criterion: str) -> results.Flags:
    row = rows[
        (rows["model"] == model)
        & (rows["seed"] == seed)
        & (rows["attack"] == results.WORST_CASE)
        & (rows["norm"] == r["norm"])
        & (rows["eps"] == r["eps"])
        & (rows["criterion"] == r["criterion"])
    ]
    return store.load_flags(row.iloc[0]["flags_dir"], row.iloc[0]["cell"].under(criterion).key)


def t_interval(values: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


@pytest.mark.parametrize("name", sorted(DESIGN))
def test_board_has_the_suite_design(name: str) -> None:
    n, n_seeds, criteria, kinds = DESIGN[name]
    board, rows = committed(name)
    suite = load_suite(SUITES / f"{name}.yaml")
    assert set(board["suite"]) == {name} and set(board["model"]) == set(suite.model_names())
    assert set(board["kind"]) == kinds and set(board["criterion"]) == criteria
    assert board["n"].eq(n).all() and board["n_seeds"].eq(n_seeds).all()
    worst = rows[rows["attack"] == results.WORST_CASE]
    assert worst["n"].eq(n).all()
    assert worst.groupby(["model", "norm", "eps", "criterion"])["seed"].nunique().eq(n_seeds).all()
    epsilons = {(t.norm, e) for t in suite.threat_models for e in t.eps}
    assert set(zip(board["norm"], board["eps"], strict=True)) == epsilons
    assert len(board) == len(suite.models) * len(epsilons) * len(criteria)


@pytest.mark.parametrize("name", sorted(DESIGN))
def test_aggregates_recomputed_from_per_seed_rows(name: str) -> None:
    board, rows = committed(name)
    for _, r in board.iterrows():
        seeds = per_seed(rows, r)
        acc = seeds["robust_acc"].to_numpy(float)
        assert r["robust_acc"] == pytest.approx(acc.mean())
        assert r["clean_acc"] == pytest.approx(seeds["clean_acc"].mean())
        assert (r["robust_acc_min"], r["robust_acc_max"]) == pytest.approx((acc.min(), acc.max()))
        assert (r["robust_acc_ci_low"], r["robust_acc_ci_high"]) == pytest.approx(t_interval(acc))
        assert r["ci_method"] == "t-seeds"
        coarse = seeds["coarse_robust_acc"]
        assert coarse.isna().all() == (r["criterion"] == "coarse" or name not in COARSE)
        assert r["coarse_robust_acc"] == pytest.approx(coarse.mean(), nan_ok=True)


@pytest.mark.parametrize("name", sorted(DESIGN))
def test_paired_statistics_recomputed_from_per_seed_rows_and_flags(name: str) -> None:
    board, rows = committed(name)
    compared = board[board["baseline"].notna() & (board["baseline"] != "")]
    assert set(compared["kind"]) == DESIGN[name][3] - {"flat"}
    assert set(board[board["kind"] == "flat"]["model"]) >= set(compared["baseline"])
    for _, r in compared.iterrows():
        base = r.copy()
        base["model"] = r["baseline"]
        ours, theirs = per_seed(rows, r), per_seed(rows, base)
        diff = ours["robust_acc"].to_numpy(float) - theirs["robust_acc"].to_numpy(float)
        assert r["n_paired_seeds"] == len(diff)
        assert r["robust_acc_diff"] == pytest.approx(diff.mean())
        assert (r["robust_acc_diff_ci_low"], r["robust_acc_diff_ci_high"]) == pytest.approx(t_interval(diff))
        assert r["diff_ci_method"] == "paired-t-seeds"
        for column, criterion in (("mcnemar_p", r["criterion"]), ("coarse_mcnemar_p", "coarse")):
            if column == "coarse_mcnemar_p" and (r["criterion"] == "coarse" or name not in COARSE):
                continue
            n10 = n01 = 0
            for s in ours.index:
                a = robust_flags(rows, r, r["model"], s, criterion)
                b = robust_flags(rows, r, r["baseline"], s, criterion)
                n10, n01 = n10 + int((a & ~b).sum()), n01 + int((~a & b).sum())
            expected = 1.0 if n10 + n01 == 0 else stats.binomtest(n10, n10 + n01, 0.5).pvalue
            assert r[column] == pytest.approx(expected), (r["model"], r["eps"], column)
        acc = ours["robust_acc"].to_numpy(float)
        flags_acc = [robust_flags(rows, r, r["model"], s, r["criterion"]).mean() for s in ours.index]
        assert acc == pytest.approx(flags_acc)


@pytest.mark.parametrize("name", sorted(DESIGN))
def test_board_page_and_records_rebuilt_from_committed_results(name: str) -> None:
    board, rows = committed(name)
    rebuilt = leaderboard.table(rows)
    pd.testing.assert_frame_equal(rebuilt, board, check_dtype=False)
    assert (BOARDS / f"{name}.md").read_text() == leaderboard.to_markdown(board, name)
    assert (BOARDS / f"{name}.html").read_text() == leaderboard.to_html(board, name)
    for rec in leaderboard.records(rows, board):
        stored = json.loads(leaderboard.record_path(BOARDS / name, name, rec["model"]).read_text())
        assert stored == json.loads(json.dumps(rec, allow_nan=False))


def test_verified_board_recomputed_from_the_per_sample_proofs() -> None:
    """paper_digits_verified: per seed, the share of samples rb.verify proved equals verified_acc, no proved sample
    was broken by an attack, unresolved counts the unknown statuses, and the verified comparisons with the flat
    model (paired t over seeds, McNemar pooled over the seeds' proofs) are recomputed from the statuses."""
    board, rows = committed("paper_digits_verified")
    for _, r in board.iterrows():
        for prefix, criterion in (("", "fine"), ("coarse_", "coarse")):
            accs, unknown = [], 0
            for s in per_seed(rows, r).index:
                flags = stored_flags(rows, r, r["model"], s, criterion)
                assert flags.verify_status is not None
                proved = (flags.verify_status == "verified") & flags.clean_correct
                assert not (proved & ~flags.robust).any(), (r["model"], s, criterion)
                accs.append(proved.mean())
                unknown += int((flags.verify_status == "unknown").sum())
            assert r[f"{prefix}verified_acc"] == pytest.approx(np.mean(accs))
            assert r[f"{prefix}unresolved"] == unknown
    compared = board[board["baseline"].notna() & (board["baseline"] != "")]
    assert set(compared["kind"]) == {"robin", "har"}
    for _, r in compared.iterrows():
        for prefix, criterion in (("", "fine"), ("coarse_", "coarse")):
            diffs, n10, n01 = [], 0, 0
            for s in per_seed(rows, r).index:
                a, b = (stored_flags(rows, r, m, s, criterion) for m in (r["model"], r["baseline"]))
                pa = (a.verify_status == "verified") & a.clean_correct
                pb = (b.verify_status == "verified") & b.clean_correct
                diffs.append(pa.mean() - pb.mean())
                n10, n01 = n10 + int((pa & ~pb).sum()), n01 + int((~pa & pb).sum())
            d = np.array(diffs)
            assert r[f"{prefix}verified_acc_diff"] == pytest.approx(d.mean())
            ci = (r[f"{prefix}verified_acc_diff_ci_low"], r[f"{prefix}verified_acc_diff_ci_high"])
            assert ci == pytest.approx(t_interval(d))
            expected = 1.0 if n10 + n01 == 0 else stats.binomtest(n10, n10 + n01, 0.5).pvalue
            assert r[f"{prefix}verified_mcnemar_p"] == pytest.approx(expected)
