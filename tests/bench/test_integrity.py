"""Numbers cannot be edited into the record and outputs never overwrite inputs: rows are checked against their flags
in every command, check compares a snapshot of its baseline, and no output is, holds or resolves to an input, a run
folder's own file, or a planted link."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from robin_bench import cli
from robin_bench.bench import leaderboard, results, runner, store
from robin_bench.bench.store import RunFolder, RunLock
from robin_bench.errors import RobinBenchError

from .synthetic_results import copy_run, write_run
from .tiny_suite import write_suite


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = cli.main(argv)
    return status, capsys.readouterr().err.strip().splitlines()


def _edit(csv: Path, model: str, eps: float, column: str, value: Any) -> None:
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    i = raw.index[(raw["model"] == model) & (raw["eps"].astype(float) == eps) & (raw["attack"] == "worst_case")][0]
    raw.loc[i, column] = str(value)
    raw.to_csv(csv, index=False)


def test_an_edited_robust_accuracy_is_refused_naming_file_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_run(tmp_path / "run")
    df = results.read(csv)
    line = int(df.index[(df["model"] == "robin") & (df["eps"] == 0.1) & (df["attack"] == "worst_case")][0]) + 2
    _edit(csv, "robin", 0.1, "robust_acc", 0.999)
    _edit(csv, "robin", 0.1, "robust_acc_ci_high", 1.0)
    status, err = _cli(["leaderboard", str(csv), "-o", str(tmp_path / "lb" / "demo")], capsys)
    assert status == 2 and len(err) == 1, err
    assert f"{csv}:{line}: robin Linf eps=0.1 fine: robust_acc 0.999" in err[0] and "per-sample flags" in err[0]
    assert not (tmp_path / "lb").exists(), "nothing is written"


def test_a_removed_worst_case_row_is_refused(tmp_path: Path) -> None:
    csv = write_run(tmp_path / "run")
    df = results.read(csv)
    results.write(csv, df[~((df["model"] == "har") & (df["attack"] == "worst_case"))].to_dict("records"))
    with pytest.raises(RobinBenchError, match=r"har Linf eps=0 fine: no row for attack\(s\) \['worst_case'\]"):
        leaderboard.load([csv])
    results.write(csv, df[df["model"] != "har"].to_dict("records"))
    with pytest.raises(RobinBenchError, match=r"per-sample flags .*demo__har__.* have no rows in it"):
        leaderboard.load([csv])


def test_an_edited_coarse_accuracy_is_refused(tmp_path: Path) -> None:
    csv = write_run(tmp_path / "run")
    _edit(csv, "mc", 0.2, "coarse_robust_acc", 0.95)
    with pytest.raises(RobinBenchError, match="coarse_robust_acc 0.95 of attack 'worst_case' disagrees"):
        leaderboard.load([csv])


def test_leaderboard_refuses_outputs_over_its_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write_run(tmp_path / "run")
    (tmp_path / "run" / store.MARKER_NAME).write_text("run folder\n")
    before = csv.read_bytes()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "run")
    run = tmp_path / "run"
    for out in (run / "results", run / "flags", link / "results", run / "summary", run / "cells"):
        status, err = _cli(["leaderboard", str(csv), "-o", str(out)], capsys)
        assert (
            status == 2
            and len(err) == 1
            and ("would overwrite the input" in err[0] or "part of the run folder" in err[0])
        ), (out, err)
    assert "through a symbolic link" in _cli(["leaderboard", str(csv), "-o", str(link / "results")], capsys)[1][0]
    assert csv.read_bytes() == before and not (tmp_path / "run" / "summary.md").exists()
    assert leaderboard.build([csv], tmp_path / "run" / "boards" / "demo")[0].is_file(), "a folder of its own is fine"


def test_a_rebuilt_leaderboard_keeps_nothing_of_the_old_one(tmp_path: Path) -> None:
    csv = write_run(tmp_path / "run")
    prefix = tmp_path / "lb" / "demo"
    leaderboard.build([csv], prefix, robustbench=True, with_results=True)
    old = leaderboard.record_path(prefix, "demo", "har")
    assert old.is_file()
    fewer = copy_run(csv, tmp_path / "fewer" / "results.csv", {"mc": "mc", "robin": "robin"})
    written = leaderboard.build([fewer], prefix, robustbench=True, with_results=True)
    assert not old.exists() and not any("har" in p.name for p in prefix.rglob("*")), "no record or card of har left"
    assert {p for p in prefix.rglob("*") if p.is_file()} == set(written[3:])
    assert not [p for p in prefix.parent.iterdir() if p.name.startswith(".demo.")], "no temp folder or lock is left"


def test_a_leaderboard_folder_with_foreign_files_is_refused(tmp_path: Path) -> None:
    csv = write_run(tmp_path / "run")
    prefix = tmp_path / "lb" / "demo"
    (prefix / "notes").mkdir(parents=True)
    with pytest.raises(RobinBenchError, match=r"holds \['notes'\], which robin-bench leaderboard did not write"):
        leaderboard.build([csv], prefix)
    assert (prefix / "notes").is_dir()


def test_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / store.LOCK_NAME).symlink_to(target)
    with pytest.raises(RobinBenchError, match="is a symbolic link"):
        RunLock(out).acquire()
    assert target.read_text() == "keep me\n"


SMALL: dict[str, Any] = {
    "name": "small",
    "dataset": {"name": "digits", "n_examples": 8, "n_train": 40, "classes": [0, 1, 2]},
    "threat_models": [{"norm": "Linf", "eps": [0.1]}],
    "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}}],
    "attacks": [{"attack": "fgsm"}],
    "sanity_check": False,
}


def test_run_folder_edits_are_recomputed_and_check_compares_a_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, SMALL, "out")
    first = runner.run(suite, log=io.StringIO(), progress=False)
    folder = RunFolder(first.out_dir)
    record = next(folder.cells_dir.glob("*.json"))
    data = json.loads(record.read_text())
    truth = data["rows"][-1]["robust_acc"]
    data["rows"][-1]["robust_acc"] = 1.0 if truth < 1 else 0.0
    record.write_text(json.dumps(data))
    log = io.StringIO()
    again = runner.run(suite, log=log, progress=False)
    assert again.computed == [record.stem] and "disagrees with its flags" in log.getvalue()
    assert results.read(again.results_csv).iloc[-1]["robust_acc"] == truth
    baseline = tmp_path / "baseline" / "results.csv"
    copy_run(again.results_csv, baseline)
    capsys.readouterr()
    status, err = _cli(["check", str(tmp_path / "out.yaml"), "--baseline", str(again.results_csv)], capsys)
    assert status == 2 and len(err) == 1 and "would overwrite the input" in err[0], err
    status = cli.main(["check", str(tmp_path / "out.yaml"), "--baseline", str(baseline)])
    out = capsys.readouterr().out
    assert status == 0 and f"check passed against {baseline} (sha256 " in out


def test_a_suite_file_inside_its_output_is_refused(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, SMALL, "out")
    inner = suite.with_output(str(tmp_path))
    with pytest.raises(RobinBenchError, match=r"would overwrite the input .*out\.yaml"):
        runner.run(inner, log=io.StringIO(), progress=False)
    assert not (tmp_path / store.MARKER_NAME).exists()


def test_a_planted_link_in_place_of_an_output_file_is_replaced_not_followed(tmp_path: Path) -> None:
    from .synthetic_results import early_exit_result

    target = tmp_path / "precious.npz"
    target.write_bytes(b"keep me")
    flags = tmp_path / "run" / "flags"
    flags.mkdir(parents=True)
    (flags / "k.npz").symlink_to(target)
    store.save_flags(flags, "k", early_exit_result(np.array([True, False]), {"pgd": np.array([True, False])}))
    assert target.read_bytes() == b"keep me" and not (flags / "k.npz").is_symlink()
    assert store.load_flags(flags, "k").n == 2
