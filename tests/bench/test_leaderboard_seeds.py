"""Seeds as replicates: aggregation, paired comparison and ranking against hand-computed values.

A synthetic run on 10 samples with three models and three training seeds. Robust samples (indices) per seed:

    seed   flat (mc)   robin       har
    0      0-4 (5)     0-6 (7)     1-6 (6)
    1      0-5 (6)     0-6 (7)     2-6 (5)
    2      0-3 (4)     0-7 (8)     0-5 (6)

Every sample is clean-correct except sample 9 at seed 2 (clean 1.0, 1.0, 0.9).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robin_bench.bench import leaderboard, results, store
from robin_bench.bench.stats import mcnemar_exact, newcombe_paired, wilson

from .synthetic_results import early_exit_result

N = 10
ROBUST = {
    "mc": [range(0, 5), range(0, 6), range(0, 4)],
    "robin": [range(0, 7), range(0, 7), range(0, 8)],
    "har": [range(1, 7), range(2, 7), range(0, 6)],
}
KINDS = {"mc": "flat", "robin": "robin", "har": "har"}
T_2 = 4.302652729911275  # Student t quantile, 2 degrees of freedom, 0.975


def write_seeded_run(out_dir: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    csv = out_dir / "results.csv"
    for model, per_seed in ROBUST.items():
        for s in seeds:
            clean = np.ones(N, bool)
            if s == 2:
                clean[9] = False
            robust = np.zeros(N, bool)
            robust[list(per_seed[s])] = True
            result = early_exit_result(clean, {"pgd": clean & ~robust})
            meta = {
                "suite": "seeds",
                "dataset": "digits",
                "model": model,
                "kind": KINDS[model],
                "arch": "mlp",
                "train_objective": "pgd_at",
                "norm": "Linf",
                "eps_train": 0.1,
                "eps": 0.1,
                "criterion": "fine",
                "seed": s,
                "attack_set": "custom",
                "device": "cpu",
                "config_hash": f"h-{model}",
                "timestamp": "2025-01-01T00:00:00",
            }
            results.append_rows(csv, results.rows_for_cell(meta, result))
            cell = store.CellId("seeds", model, "Linf", 0.1, "fine", seed=s if len(seeds) > 1 else None)
            store.save_flags(store.flags_dir_for(csv), cell.key, result)
    return csv


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    csv = write_seeded_run(tmp_path_factory.mktemp("seeds"))
    return leaderboard.table(leaderboard.load([csv])).set_index("model")


def test_results_keep_one_row_per_seed(tmp_path: Path) -> None:
    df = results.read(write_seeded_run(tmp_path))
    worst = df[df["attack"] == "worst_case"]
    assert len(worst) == 9 and sorted(worst[worst["model"] == "robin"]["seed"]) == [0, 1, 2]


def test_aggregates_over_seeds(board: pd.DataFrame) -> None:
    assert list(board["n_seeds"]) == [3, 3, 3] and set(board["seeds"]) == {"0;1;2"} and set(board["n"]) == {10}
    assert set(board["ci_method"]) == {leaderboard.CI_T}
    mc, robin = board.loc["mc"], board.loc["robin"]
    assert mc["robust_acc"] == pytest.approx(0.5)
    assert (mc["robust_acc_min"], mc["robust_acc_max"]) == (pytest.approx(0.4), pytest.approx(0.6))
    half = T_2 * 0.1 / np.sqrt(3)  # per-seed 0.5, 0.6, 0.4: sd 0.1
    assert (mc["robust_acc_ci_low"], mc["robust_acc_ci_high"]) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert robin["robust_acc"] == pytest.approx(22 / 30)
    half = T_2 * np.sqrt(1 / 300) / np.sqrt(3)  # per-seed 0.7, 0.7, 0.8: sd sqrt(1/300)
    assert robin["robust_acc_ci_low"] == pytest.approx(22 / 30 - half)
    assert robin["robust_acc_ci_high"] == pytest.approx(22 / 30 + half)
    assert mc["clean_acc"] == pytest.approx(2.9 / 3) and mc["clean_acc_min"] == pytest.approx(0.9)
    assert mc["clean_acc_max"] == 1.0


def test_paired_comparison_with_flat_baseline(board: pd.DataFrame) -> None:
    robin, har = board.loc["robin"], board.loc["har"]
    assert robin["baseline"] == har["baseline"] == "mc" and board.loc["mc"]["baseline"] == ""
    assert robin["n_paired_seeds"] == 3 and robin["diff_ci_method"] == leaderboard.DIFF_PAIRED_T
    # robin - mc per seed: 0.2, 0.1, 0.4 -> mean 7/30, sd sqrt(0.07/3)
    half = T_2 * np.sqrt(0.07 / 3) / np.sqrt(3)
    assert robin["robust_acc_diff"] == pytest.approx(7 / 30)
    assert robin["robust_acc_diff_ci_low"] == pytest.approx(7 / 30 - half)  # -0.1461
    assert robin["robust_acc_diff_ci_high"] == pytest.approx(7 / 30 + half)  # 0.6128
    # pooled discordant pairs: robin-only 2 + 1 + 4 = 7, mc-only 0 -> 2 * 0.5**7
    assert robin["mcnemar_p"] == pytest.approx(2 * 0.5**7)
    # har - mc per seed: 0.1, -0.1, 0.2; discordant har-only 2 + 1 + 2 = 5, mc-only 1 + 2 + 0 = 3
    assert har["robust_acc_diff"] == pytest.approx(0.2 / 3)
    assert har["robust_acc_diff_ci_low"] == pytest.approx(0.2 / 3 - half)
    assert har["mcnemar_p"] == pytest.approx(2 * (1 + 8 + 28 + 56) / 256)


def test_ranks_by_mean_and_flags_indistinguishable_neighbours(board: pd.DataFrame) -> None:
    assert (board.loc["robin", "rank"], board.loc["har", "rank"], board.loc["mc", "rank"]) == (1, 2, 3)
    # robin - har per seed: 0.1, 0.2, 0.2 -> mean 1/6, sd sqrt(1/300): interval excludes 0
    half = T_2 * np.sqrt(1 / 300) / np.sqrt(3)
    assert board.loc["robin", "next_diff"] == pytest.approx(1 / 6)
    assert board.loc["robin", "next_diff_ci_low"] == pytest.approx(1 / 6 - half) and 1 / 6 - half > 0
    assert board.loc["robin", "distinct_from_next"] == "yes"
    assert board.loc["har", "distinct_from_next"] == "no"  # har - mc interval contains 0
    assert board.loc["mc", "distinct_from_next"] == ""
    assert leaderboard.indistinguishable_top(board.reset_index()) is None


def test_note_when_top_ranks_are_not_distinguishable(tmp_path: Path) -> None:
    df = leaderboard.load([write_seeded_run(tmp_path)])
    board = leaderboard.table(df[df["model"] != "robin"])
    note = leaderboard.indistinguishable_top(board)
    assert note is not None and note.startswith("The top 2 ranks (har, mc) are not statistically distinguishable")
    assert "not statistically distinguishable" in leaderboard.to_markdown(board, "x")
    assert 'class="note"' in leaderboard.to_html(board, "x")


def test_one_seed_falls_back_to_wilson_and_per_sample_intervals(tmp_path: Path) -> None:
    csv = write_seeded_run(tmp_path, seeds=(0,))
    board = leaderboard.table(leaderboard.load([csv])).set_index("model")
    robin = board.loc["robin"]
    assert robin["n_seeds"] == 1 and robin["ci_method"] == leaderboard.CI_WILSON
    assert (robin["robust_acc_ci_low"], robin["robust_acc_ci_high"]) == pytest.approx(wilson(7, 10))
    a, b = np.arange(N) < 7, np.arange(N) < 5
    assert robin["diff_ci_method"] == leaderboard.DIFF_NEWCOMBE_PAIRED
    assert (robin["robust_acc_diff_ci_low"], robin["robust_acc_diff_ci_high"]) == pytest.approx(newcombe_paired(a, b))
    assert robin["mcnemar_p"] == pytest.approx(mcnemar_exact(a, b)) == pytest.approx(0.5)


def test_results_without_seed_column_are_one_replicate(tmp_path: Path) -> None:
    df = leaderboard.load([write_seeded_run(tmp_path, seeds=(0,))]).drop(columns="seed")
    board = leaderboard.table(df)
    assert set(board["n_seeds"]) == {1} and set(board["seeds"]) == {"0"}
    assert board.set_index("model").loc["robin", "mcnemar_p"] == pytest.approx(0.5)


def test_rows_name_their_attack_set(tmp_path: Path) -> None:
    df = leaderboard.load([write_seeded_run(tmp_path)])
    assert set(leaderboard.table(df)["attack_set"]) == {"custom: pgd"}
    assert set(leaderboard.table(df.assign(attack_set="standard"))["attack_set"]) == {"standard"}


def test_records_carry_per_seed_values(tmp_path: Path) -> None:
    csv = write_seeded_run(tmp_path / "run")
    written = leaderboard.build([csv], tmp_path / "lb" / "seeds")
    board = leaderboard.read(written[0])
    assert len(board) == 3 and leaderboard.read(written[0]).equals(board)
    import json

    rec = json.loads(leaderboard.record_path(tmp_path / "lb" / "seeds", "seeds", "robin").read_text())
    assert rec["seeds"] == [0, 1, 2]
    ev = rec["evaluations"][0]
    assert [ev["per_seed"][s]["robust_acc"] for s in ("0", "1", "2")] == [0.7, 0.7, 0.8]
    assert ev["n_seeds"] == 3 and ev["ci_method"] == leaderboard.CI_T and ev["baseline"] == "mc"
    assert ev["robust_acc_diff_ci"][0] < ev["robust_acc_diff"] < ev["robust_acc_diff_ci"][1]


def test_with_results_copies_the_evidence_the_board_is_recomputed_from(tmp_path: Path) -> None:
    csv = write_seeded_run(tmp_path / "run")
    prefix = tmp_path / "boards" / "seeds"
    written = leaderboard.build([csv], prefix, with_results=True)
    copied = leaderboard.results_path(prefix, "seeds")
    assert copied in written
    flags = sorted(p.name for p in store.flags_dir_for(copied).iterdir())
    assert flags == sorted(p.name for p in store.flags_dir_for(csv).iterdir()) and len(flags) == 9
    recomputed = leaderboard.table(leaderboard.load([copied]))
    pd.testing.assert_frame_equal(recomputed, leaderboard.read(prefix.with_suffix(".csv")), check_dtype=False)
    assert recomputed["mcnemar_p"].notna().sum() == 2
    stale = store.flags_dir_for(copied) / "seeds__gone__s0__Linf__0.1__fine-00000000.npz"
    stale.write_bytes(b"")
    leaderboard.build([csv], prefix, with_results=True)
    assert not stale.exists() and len(list(store.flags_dir_for(copied).iterdir())) == 9


def test_without_results_nothing_is_copied(tmp_path: Path) -> None:
    csv = write_seeded_run(tmp_path / "run")
    leaderboard.build([csv], tmp_path / "boards" / "seeds")
    assert not (tmp_path / "boards" / "seeds" / leaderboard.RESULTS_DIRNAME).exists()
