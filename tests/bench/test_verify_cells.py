"""``verify: {time_limit: S}`` in a suite: verified columns beside the attacked ones, statuses in the flags files,
older results files still read."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from robin_bench.bench import check, leaderboard, results, store, summary
from robin_bench.bench.runner import run
from robin_bench.errors import RobinBenchError
from robin_bench.models import build_model, save_checkpoint
from robin_bench.models.factory import model_spec
from robin_bench.models.kinds import KINDS

from .tiny_suite import HIERARCHY, MODELS, write_suite

VERIFIED = {
    "name": "tiny_verified",
    "dataset": {"name": "digits", "n_examples": 8, "n_train": 80, "classes": [0, 1, 2, 3]},
    "hierarchy": HIERARCHY,
    "threat_models": [{"norm": "Linf", "eps": [0.01]}],
    "models": MODELS,
    "attacks": [{"attack": "pgd", "kwargs": {"steps": 5}}],
    "sanity_check": False,
    "verify": {"time_limit": 5},
}


@pytest.fixture(scope="module")
def verified_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results.csv of one run of the tiny suite with verification."""
    report = run(write_suite(tmp_path_factory.mktemp("verified"), VERIFIED), log=io.StringIO(), progress=False)
    return report.results_csv


def test_verified_columns_and_statuses(verified_run: Path) -> None:
    table = results.read(verified_run)
    assert table["verified_acc"].notna().all() and table["coarse_verified_acc"].notna().all()
    assert table["unresolved"].notna().all() and table["coarse_unresolved"].notna().all()
    worst = table[table["attack"] == results.WORST_CASE]
    assert (worst["verified_acc"] <= worst["robust_acc"]).all(), "a proof is a lower bound of the attacked figure"
    assert (worst["coarse_verified_acc"] <= worst["coarse_robust_acc"]).all()
    files = sorted((verified_run.parent / store.FLAGS_DIRNAME).glob("*.npz"))
    assert len(files) == 2 * len(MODELS)  # fine and coarse per model
    for path in files:
        with np.load(path) as z:
            assert set(z["verify_status"].tolist()) <= {"verified", "broken", "unknown"}
            assert len(z["verify_status"]) == len(z["robust"])
            proven = z["verify_status"] == "verified"
            assert not (proven & ~z["robust"]).any()


def test_results_written_before_the_verified_columns_still_read(verified_run: Path, tmp_path: Path) -> None:
    table = results.read(verified_run)
    old = tmp_path / "old.csv"
    table.drop(columns=["plugins", "verified_acc", "coarse_verified_acc", "unresolved", "coarse_unresolved"]).to_csv(
        old, index=False
    )
    back = results.read(old)
    assert back["verified_acc"].isna().all() and back["unresolved"].isna().all() and list(back) == results.COLUMNS


def test_verify_with_the_targeted_criterion_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match="verify proves the fine and coarse criteria"):
        write_suite(tmp_path, {**VERIFIED, "criterion": "targeted"})


@pytest.mark.parametrize(
    ("model", "layer"),
    [
        ({"name": "conv", "kind": "flat", "arch": "cnn2", "train": {"epochs": 1}}, "MaxPool2d"),
        ({"name": "arms", "kind": "robin", "arch": "myrtle", "train": {"epochs": 1}}, "MaxPool2d"),
    ],
)
def test_verify_of_an_unencodable_architecture_is_a_suite_error(
    tmp_path: Path, model: dict[str, object], layer: str
) -> None:
    with pytest.raises(RobinBenchError) as e:
        write_suite(tmp_path, {**VERIFIED, "models": [*MODELS, model]})
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'out.yaml'}:")
    assert "models[3].arch" in message and f"{model['arch']!r}" in message and layer in message


def test_the_same_architectures_without_verify_load(tmp_path: Path) -> None:
    model = {"name": "conv", "kind": "flat", "arch": "cnn2", "train": {"epochs": 1}}
    suite = write_suite(tmp_path, {k: v for k, v in VERIFIED.items() if k != "verify"} | {"models": [*MODELS, model]})
    assert suite.verify is None


def _copy(run_csv: Path, folder: Path) -> Path:
    """The results.csv of a run and its flags folder, copied into ``folder``."""
    shutil.copytree(run_csv.parent / store.FLAGS_DIRNAME, folder / store.FLAGS_DIRNAME)
    shutil.copy(run_csv, folder / results.RESULTS_NAME)
    return folder / results.RESULTS_NAME


@pytest.mark.parametrize(
    ("column", "value"),
    [("verified_acc", "0.125"), ("unresolved", "1"), ("coarse_verified_acc", ""), ("coarse_unresolved", "3")],
)
def test_an_edited_verification_figure_is_refused_by_leaderboard_and_check(
    verified_run: Path, tmp_path: Path, column: str, value: str
) -> None:
    csv = _copy(verified_run, tmp_path)
    assert len(leaderboard.load([csv])) == len(results.read(verified_run))
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    line = int(raw.index[raw["model"] == "robin"][0]) + 2
    raw.loc[line - 2, column] = value if raw.loc[line - 2, column] != value else "0.5"
    raw.to_csv(csv, index=False)
    for read in (lambda: leaderboard.load([csv]), lambda: check.report(csv, verified_run)):
        with pytest.raises(RobinBenchError) as e:
            read()
        assert str(e.value).startswith(f"{csv}:{line}: robin ") and column in str(e.value)
        assert "\n" not in str(e.value)


def test_verification_figures_without_their_statuses_are_refused(verified_run: Path, tmp_path: Path) -> None:
    csv = _copy(verified_run, tmp_path)
    for path in (tmp_path / store.FLAGS_DIRNAME).glob("*.npz"):
        with np.load(path) as z:
            kept = {k: z[k] for k in z.files if k != "verify_status"}
        np.savez_compressed(path, **kept)
    with pytest.raises(RobinBenchError, match=r"results.csv:2: .* has no per-sample verification statuses"):
        leaderboard.load([csv])


def test_leaderboard_shows_verified_and_attacked_with_the_unresolved(verified_run: Path, tmp_path: Path) -> None:
    written = leaderboard.build([verified_run], tmp_path / "board")
    board = leaderboard.read(written[0])
    rows = leaderboard.table(leaderboard.load([verified_run]))
    pd.testing.assert_frame_equal(board, rows, check_dtype=False)
    worst = results.read(verified_run).query("attack == 'worst_case'").set_index("model")
    md, page = written[1].read_text(), written[2].read_text()
    for _, r in board.iterrows():
        w = worst.loc[r["model"]]
        assert (r["verified_acc"], r["unresolved"]) == (pytest.approx(w["verified_acc"]), w["unresolved"])
        assert r["coarse_unresolved"] == w["coarse_unresolved"]
        interval = leaderboard.format_interval(w["verified_acc"], w["robust_acc"])
        assert f"| {interval} | {w['unresolved']} |" in md and f">{interval}</td>" in page
        coarse = leaderboard.format_interval(w["coarse_verified_acc"], w["coarse_robust_acc"])
        assert f"| {coarse} | {w['coarse_unresolved']} |" in md
    assert "[Verified, attacked]" in md and leaderboard.PROOF_EXPLANATION in md and "[Verified, attacked] %" in page
    record = json.loads(leaderboard.record_path(tmp_path / "board", "tiny_verified", "robin").read_text())
    assert record["evaluations"][0]["verified_acc"] == pytest.approx(worst.loc["robin", "verified_acc"])


def test_summary_shows_verified_and_worst_case(verified_run: Path) -> None:
    text = summary.render(leaderboard.load([verified_run]))
    worst = results.read(verified_run).query("attack == 'worst_case' and model == 'har'").iloc[0]
    interval = leaderboard.format_interval(worst["verified_acc"], worst["robust_acc"])
    assert "| [Verified, worst case] | Unresolved |" in text and f"| {interval} | {worst['unresolved']} |" in text
    assert summary.SUMMARY_PROOF_NOTE in text and "Coarse [verified, worst case]" in text


def test_seeds_average_verified_accuracy_and_add_unresolved(verified_run: Path) -> None:
    one = leaderboard.load([verified_run])
    other = one.assign(seed=7, verified_acc=one["verified_acc"] / 2, unresolved=one["unresolved"] + 2)
    unverified = one[one["model"] == "mc"].assign(
        model="plain",
        verified_acc=float("nan"),
        unresolved=None,
        coarse_verified_acc=float("nan"),
        coarse_unresolved=None,
    )
    agg = leaderboard.aggregate(pd.concat([one, other, unverified], ignore_index=True))[0].set_index("model")
    worst = one[one["attack"] == results.WORST_CASE].set_index("model")
    for model in ("mc", "robin", "har"):
        assert agg.loc[model, "verified_acc"] == pytest.approx(0.75 * worst.loc[model, "verified_acc"])
        assert agg.loc[model, "unresolved"] == 2 * worst.loc[model, "unresolved"] + 2
        assert agg.loc[model, "coarse_unresolved"] == 2 * worst.loc[model, "coarse_unresolved"]
    assert pd.isna(agg.loc["plain", "verified_acc"]) and pd.isna(agg.loc["plain", "unresolved"])
    cells = leaderboard.proof_cells(agg.loc["plain"])
    assert cells == ["-", "-"]


def test_verify_of_a_checkpoint_is_checked_on_its_layers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    for arch in ("mlp", "cnn2"):
        model = build_model("flat", arch=arch, in_shape=(1, 8, 8), n_classes=4)
        save_checkpoint(
            model, tmp_path / f"{arch}.safetensors", spec=model_spec("flat", arch=arch, in_shape=(1, 8, 8), n_classes=4)
        )
    loaded = {"name": "loaded", "kind": "flat", "checkpoint": str(tmp_path / "mlp.safetensors")}
    assert write_suite(tmp_path, {**VERIFIED, "models": [*MODELS, loaded]}).verify is not None
    conv = {**loaded, "checkpoint": str(tmp_path / "cnn2.safetensors")}
    with pytest.raises(RobinBenchError, match=r"models\[3\]\.checkpoint: 'verify' cannot encode checkpoint .*MaxPool"):
        write_suite(tmp_path, {**VERIFIED, "models": [*MODELS, conv]})


def test_verify_of_a_kind_without_an_encoding_is_a_suite_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS._items, "robin", dataclasses.replace(KINDS.get("robin"), verify_encoding=None))
    with pytest.raises(
        RobinBenchError,
        match=r"models\[1\]\.kind: 'verify' needs a verification encoding, and model "
        r"kind 'robin' has none",
    ):
        write_suite(tmp_path, VERIFIED)


def test_verified_comparisons_pair_the_proofs_with_the_baseline_s(verified_run: Path, tmp_path: Path) -> None:
    """Δ verified is the comparison of Δ robust made on the per-sample proofs: ROBIN and HAR minus the flat model,
    McNemar's p on the samples each side proved; the pages and records show it, the flat row has none."""
    from robin_bench.bench.stats import mcnemar_pooled

    rows = leaderboard.load([verified_run])
    rows.loc[rows["model"] == "mc", "seed"] = 0  # the tiny suite trains mc with seed 1: pair it as seed 0's flat
    board = leaderboard.table(rows).set_index("model")
    worst = results.read(verified_run).query("attack == 'worst_case'").set_index("model")
    flags_dir = verified_run.parent / store.FLAGS_DIRNAME

    def proofs(model: str, criterion: str) -> np.ndarray:
        (path,) = flags_dir.glob(f"tiny_verified__{model}__*__{criterion}-*.npz")
        with np.load(path) as z:
            return (z["verify_status"] == "verified") & z["clean_correct"]

    comparisons = [c for c in board.columns if "verified_acc_diff" in c or "verified_mcnemar" in c]
    assert len(comparisons) == 8 and board.loc["mc", comparisons].isna().all()
    for model in ("robin", "har"):
        r = board.loc[model]
        for prefix, criterion in (("", "fine"), ("coarse_", "coarse")):
            expected = worst.loc[model, f"{prefix}verified_acc"] - worst.loc["mc", f"{prefix}verified_acc"]
            assert r[f"{prefix}verified_acc_diff"] == pytest.approx(expected)
            assert r[f"{prefix}verified_acc_diff_ci_low"] <= expected <= r[f"{prefix}verified_acc_diff_ci_high"]
            p = mcnemar_pooled([(proofs(model, criterion), proofs("mc", criterion))])
            assert r[f"{prefix}verified_mcnemar_p"] == pytest.approx(p)
    written = leaderboard.build([verified_run], tmp_path / "board")
    md, page = written[1].read_text(), written[2].read_text()
    assert "| Δ verified | Δ verified 95% CI | Verified p |" in md and "Δ coarse verified pp" in page
    built = leaderboard.read(written[0]).set_index("model")
    assert built.loc["har", "verified_acc_diff"] == pytest.approx(
        worst.loc["har", "verified_acc"] - worst.loc["mc", "verified_acc"]
    )
    record = json.loads(leaderboard.record_path(tmp_path / "board", "tiny_verified", "har").read_text())
    assert record["evaluations"][0]["verified_acc_diff"] == pytest.approx(built.loc["har", "verified_acc_diff"])


def test_check_gates_the_verified_accuracies(verified_run: Path, tmp_path: Path) -> None:
    """``check`` compares the proofs like the attacked figures: a verified accuracy below the baseline's interval
    fails, and a run without verification against a verified baseline fails as missing."""
    board = leaderboard.build([verified_run], tmp_path / "board")[0]
    same = check.report(verified_run, board)
    assert same.passed
    gated = {(r.model, r.metric) for r in same.rows}
    assert {("robin", "verified_acc"), ("har", "coarse_verified_acc")} <= gated
    raised = pd.read_csv(board, dtype=str, keep_default_na=False)
    raised.loc[raised["model"] == "robin", "verified_acc"] = "1.0"
    raised_csv = tmp_path / "raised.csv"
    raised.to_csv(raised_csv, index=False)
    failed = check.report(verified_run, raised_csv)
    assert [(r.model, r.metric, r.status) for r in failed.offending] == [("robin", "verified_acc", check.BELOW)]
    plain = run(
        write_suite(tmp_path, {k: v for k, v in VERIFIED.items() if k != "verify"}),
        log=io.StringIO(),
        progress=False,
    ).results_csv
    missing = check.report(plain, board)
    assert {r.metric for r in missing.offending} == {"verified_acc", "coarse_verified_acc"}
    assert {r.status for r in missing.offending} == {check.MISSING}


def test_flags_keep_each_sample_s_solver_statistics(verified_run: Path) -> None:
    """Beside each status the flags file keeps the sample's proven margin bounds, seconds and solver counts: a
    proof has a positive lower bound, a counterexample a negative upper bound, and the bounds are ordered."""
    files = sorted((verified_run.parent / store.FLAGS_DIRNAME).glob("*.npz"))
    for path in files:
        flags = store.load_flags(path.parent, path.stem)
        assert flags.verify_status is not None and flags.verify_stats is not None
        stats = flags.verify_stats
        assert {"margin_lower", "margin_upper", "seconds", "milps", "binaries"} <= set(stats)
        verified, broken = flags.verify_status == "verified", flags.verify_status == "broken"
        assert (stats["margin_lower"][verified] > 0).all() and (stats["margin_upper"][broken] < 0).all()
        assert (stats["margin_lower"] <= stats["margin_upper"] + 1e-9).all()
        assert (stats["seconds"] >= 0).all() and (stats["milps"] >= 0).all()


def test_robustbench_cards_carry_the_proofs(verified_run: Path, tmp_path: Path) -> None:
    written = leaderboard.build([verified_run], tmp_path / "board", robustbench=True)
    board = leaderboard.read(written[0]).set_index("model")
    cards = [json.loads(p.read_text()) for p in written if leaderboard.ROBUSTBENCH_DIRNAME in p.parts]
    assert len(cards) == len(MODELS)
    for card in cards:
        extra = card[leaderboard.ROBUSTBENCH_EXTRA_KEY]
        row = board.loc[extra["model"]]
        assert extra["verified_acc"] == pytest.approx(row["verified_acc"])
        assert extra["coarse_unresolved"] == row["coarse_unresolved"]
        assert ("verified_acc_diff" in extra) == (extra["model"] != "mc")
