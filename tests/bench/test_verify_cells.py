"""``verify: {time_limit: S}`` in a suite: verified columns beside the attacked ones, statuses in the flags files,
older results files still read."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robin_bench.bench import check, leaderboard, results, store
from robin_bench.bench.runner import run
from robin_bench.errors import RobinBenchError

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
        old, index=False)
    back = results.read(old)
    assert back["verified_acc"].isna().all() and back["unresolved"].isna().all() and list(back) == results.COLUMNS


def test_verify_with_the_targeted_criterion_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match="verify proves the fine and coarse criteria"):
        write_suite(tmp_path, {**VERIFIED, "criterion": "targeted"})


@pytest.mark.parametrize(("model", "layer"), [
    ({"name": "conv", "kind": "flat", "arch": "cnn2", "train": {"epochs": 1}}, "MaxPool2d"),
    ({"name": "arms", "kind": "robin", "arch": "myrtle", "train": {"epochs": 1}}, "BatchNorm2d"),
])
def test_verify_of_an_unencodable_architecture_is_a_suite_error(tmp_path: Path, model: dict[str, object],
                                                                 layer: str) -> None:
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


@pytest.mark.parametrize(("column", "value"), [("verified_acc", "0.125"), ("unresolved", "1"),
                                               ("coarse_verified_acc", ""), ("coarse_unresolved", "3")])
def test_an_edited_verification_figure_is_refused_by_leaderboard_and_check(verified_run: Path, tmp_path: Path,
                                                                          column: str, value: str) -> None:
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
