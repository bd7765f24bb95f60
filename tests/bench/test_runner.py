"""The runner on a tiny suite: results, cache reuse, resume after interruption or a hard kill, the lock."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from robin_bench.bench import results, store
from robin_bench.bench.config import Suite
from robin_bench.bench.executors import InProcessExecutor
from robin_bench.bench.runner import models, plan, run
from robin_bench.bench.store import RunLock
from robin_bench.errors import RobinBenchError

from .tiny_suite import HIERARCHY, MODELS, results_table, write_suite

TINY = {
    "name": "tiny",
    "dataset": {"name": "digits", "n_examples": 12, "n_train": 80, "classes": [0, 1, 2, 3]},
    "hierarchy": HIERARCHY,
    "threat_models": [{"norm": "Linf", "eps": [0.1, 0.3]}],
    "models": MODELS,
    "attacks": [
        {"attack": "pgd", "kwargs": {"steps": 2}},
        {"name": "top2", "attack": "robin", "kinds": ["robin"], "kwargs": {"strategy": "top2", "steps": 2}},
        {"attack": "coarse_marginal", "kwargs": {"steps": 2}},
    ],
}
N_CELLS = 6


def tiny(tmp_path: Path, out: str = "out", **changes: object) -> Suite:
    return write_suite(tmp_path, TINY, out, **changes)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The results of one uninterrupted run of the tiny suite."""
    tmp = tmp_path_factory.mktemp("reference")
    report = run(tiny(tmp), log=io.StringIO(), progress=False)
    assert len(report.computed) == N_CELLS and sorted(report.trained) == ["har", "mc", "robin"]
    return results_table(report.results_csv)


def test_run_writes_one_row_per_attack_plus_worst_case(reference: pd.DataFrame) -> None:
    per_model = {"mc": 3, "robin": 4, "har": 3}  # attacks that apply + worst_case
    assert len(reference) == 2 * sum(per_model.values())
    for model, n in per_model.items():
        assert (reference["model"] == model).sum() == 2 * n
    assert not reference.duplicated(results.KEY).any()
    assert reference["coarse_robust_acc"].notna().all(), "a hierarchy gives coarse figures on every row"
    worst = reference[reference["attack"] == results.WORST_CASE]
    assert (worst["robust_acc"] <= worst["clean_acc"]).all()


def test_rerun_recomputes_nothing_and_changes_nothing(tmp_path: Path) -> None:
    suite = tiny(tmp_path)
    first = run(suite, log=io.StringIO(), progress=False)
    before = first.results_csv.read_bytes()
    second = run(suite, log=io.StringIO(), progress=False)
    assert second.computed == [] and second.trained == [] and len(second.reused) == N_CELLS
    assert first.results_csv.read_bytes() == before
    assert all(c.done for c in plan(suite).cells)


def test_changed_attack_recomputes_cells_but_reuses_models(tmp_path: Path) -> None:
    run(tiny(tmp_path), log=io.StringIO(), progress=False)
    attacks = [{"attack": "pgd", "kwargs": {"steps": 3}}, *TINY["attacks"][1:]]  # type: ignore[index]
    report = run(tiny(tmp_path, attacks=attacks), log=io.StringIO(), progress=False)
    assert len(report.computed) == N_CELLS and report.trained == []
    assert not results.read(report.results_csv).duplicated(results.KEY).any()


def test_interrupted_run_resumes_to_the_same_results(tmp_path: Path, reference: pd.DataFrame) -> None:
    suite = tiny(tmp_path)
    seen: list[str] = []

    def stop_after_two(cell: object) -> None:
        seen.append(str(cell))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(suite, log=io.StringIO(), progress=False, after_cell=stop_after_two)
    assert not (tmp_path / "out" / ".lock").exists(), "an interrupted run releases its lock"
    resumed = run(suite, log=io.StringIO(), progress=False)
    assert len(resumed.reused) == 2 and len(resumed.computed) == N_CELLS - 2
    assert "mc" not in resumed.trained, "the model finished before the interruption is reused"
    pd.testing.assert_frame_equal(results_table(resumed.results_csv), reference)


KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from robin_bench.bench import config, runner
    calls = 0
    real_replace = os.replace
    def replace(src, dst):
        global calls
        calls += 1
        if calls == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # dies mid-write: temp file written, not yet renamed
        real_replace(src, dst)
    os.replace = replace
    runner.run(config.load_suite(sys.argv[1]), progress=False)
""")


def test_hard_kill_mid_write_then_rerun_gives_the_same_results(tmp_path: Path, reference: pd.DataFrame) -> None:
    suite = tiny(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # renames: marker, empty results.csv, 16 component files (weights + report of 8 components), 3 models
    # (weights, sidecar, folder), then per cell flags (fine, coarse), record, results.csv: 33 = mid cell 2
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, suite.source, "33"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr
    out = tmp_path / "out"
    assert (out / ".lock").exists(), "a killed run leaves its lock behind"
    assert any(p.name.endswith(".tmp") for p in out.rglob(".*")), "the kill hit a write in progress"
    resumed = run(suite, log=io.StringIO(), progress=False)
    assert len(resumed.reused) >= 1 and len(resumed.computed) < N_CELLS
    assert not any(p.name.endswith(".tmp") for p in out.rglob(".*"))
    pd.testing.assert_frame_equal(results_table(resumed.results_csv), reference)


def test_second_run_on_a_locked_directory_is_refused(tmp_path: Path) -> None:
    suite = tiny(tmp_path)
    with RunLock(suite.output_dir):
        with pytest.raises(RobinBenchError, match="in use by another robin-bench run"):
            run(suite, log=io.StringIO(), progress=False)
    assert not (suite.output_dir / results.RESULTS_NAME).exists()


def test_failing_run_keeps_earlier_results(tmp_path: Path) -> None:
    report = run(tiny(tmp_path), log=io.StringIO(), progress=False)
    before = report.results_csv.read_bytes()
    bad = tiny(tmp_path, dataset={**TINY["dataset"], "n_examples": 10**6})  # type: ignore[dict-item]
    with pytest.raises(RobinBenchError, match="exceeds"):
        run(bad, log=io.StringIO(), progress=False)
    assert report.results_csv.read_bytes() == before
    assert not (tmp_path / "out" / ".lock").exists()


class _NoJobs(InProcessExecutor):
    """An executor that records whether any job was submitted."""

    submitted = False

    def map(self, fn: object, jobs: object) -> Iterator[Any]:  # type: ignore[override]
        self.submitted = True
        return iter([])


@pytest.mark.parametrize("dataset", [{"n_examples": 10**6}, {"n_train": 10**6}])
def test_data_mistakes_are_found_before_any_job_is_submitted(tmp_path: Path, dataset: dict[str, int]) -> None:
    executor = _NoJobs()
    bad = tiny(tmp_path, dataset={**TINY["dataset"], **dataset})  # type: ignore[dict-item]
    with pytest.raises(RobinBenchError, match="exceeds"):
        run(bad, log=io.StringIO(), progress=False, executor=executor)  # type: ignore[arg-type]
    assert not executor.submitted, "no training job may start before the data is known to be there"


def test_plain_log_line_per_cell_when_not_a_terminal(tmp_path: Path) -> None:
    log = io.StringIO()
    run(tiny(tmp_path), log=log, progress=None)
    cell_lines = [ln for ln in log.getvalue().splitlines() if ln.startswith("[") and " eps=" in ln]
    assert len(cell_lines) == N_CELLS
    assert cell_lines[0].startswith(f"[1/{N_CELLS}] mc Linf eps=0.1: clean ") and " robust " in cell_lines[0]


def test_progress_bar_instead_of_plain_lines_on_a_terminal(tmp_path: Path) -> None:
    suite = tiny(tmp_path, models=MODELS[:1], attacks=[{"attack": "pgd", "kwargs": {"steps": 1}}])
    log = io.StringIO()
    run(suite, log=log, progress=True)
    text = log.getvalue()
    assert "cells: 100%" in text and "2/2" in text and "mc Linf eps=0.3" in text
    assert not [ln for ln in text.splitlines() if ln.startswith("[") and " eps=" in ln], "no cell lines under a bar"


def test_run_writes_flags_summary_and_plots(tmp_path: Path) -> None:
    report = run(tiny(tmp_path), log=io.StringIO(), progress=False)
    out = report.out_dir
    key = store.CellId("tiny", "robin", "Linf", 0.3, "fine").key
    flags = store.load_flags(out / store.FLAGS_DIRNAME, key)
    assert flags.names == ["pgd", "top2", "coarse_marginal"] and flags.n == 12
    assert (out / "summary.md").is_file()
    assert list((out / "plots").glob("*.png")), "the robust accuracy vs eps plot"


def test_transfer_attack_gets_its_surrogate_model(tmp_path: Path) -> None:
    attacks = [{"attack": "transfer", "models": ["robin"], "kwargs": {"surrogate": "mc", "steps": 2}}]
    report = run(tiny(tmp_path, attacks=attacks), log=io.StringIO(), progress=False)
    df = results.read(report.results_csv)
    assert set(df["model"]) == {"robin"} and set(df["attack"]) == {"transfer", results.WORST_CASE}
    assert sorted(report.trained) == ["mc", "robin"], "the surrogate is trained though it is not attacked"


def test_targeted_criterion(tmp_path: Path) -> None:
    attacks = [{"attack": "pgd", "kwargs": {"steps": 3}}]
    report = run(tiny(tmp_path, attacks=attacks, criterion="targeted"), log=io.StringIO(), progress=False)
    df = results.read(report.results_csv)
    assert set(df["criterion"]) == {"targeted"} and len(df) == 2 * N_CELLS
    assert df["coarse_robust_acc"].isna().all(), "coarse figures only accompany the fine criterion"


def test_models_trains_what_is_missing_then_reuses_the_cache(tmp_path: Path) -> None:
    suite = tiny(tmp_path)
    log = io.StringIO()
    first = models(suite, ["mc"], device="cpu", log=log)
    assert list(first) == ["mc"] and "training mc" in log.getvalue() and "training robin" not in log.getvalue()
    assert plan(suite).models["mc"].action == "reuse" and plan(suite).models["robin"].action == "train"
    log = io.StringIO()
    again = models(suite, device="cpu", log=log)
    assert list(again) == ["mc", "robin", "har"] and "training mc" not in log.getvalue()
    x = torch.rand(3, 1, 8, 8)
    assert not again["mc"].training and torch.equal(again["mc"](x), first["mc"](x))
    assert run(suite, log=io.StringIO(), progress=False).trained == []
    with pytest.raises(RobinBenchError, match="'rbin' is not a model of suite tiny; did you mean 'robin'"):
        models(suite, ["rbin"])


def test_sanity_flags_reach_the_unreliable_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from robin_bench.attacks import sanity

    def flag_robin(model: torch.nn.Module, *args: object, **kwargs: object) -> sanity.SanityReport:
        flagged = [("zero_grad", "arm 2 has zero input gradients")] if hasattr(model, "arms") else []
        return sanity.SanityReport(flags=flagged)

    monkeypatch.setattr(sanity, "sanity_check", flag_robin)
    df = results_table(run(tiny(tmp_path), log=io.StringIO(), progress=False).results_csv)
    flagged = df[df["model"] == "robin"]["unreliable"]
    assert (flagged == "zero_grad: arm 2 has zero input gradients").all()
    assert df[df["model"] != "robin"]["unreliable"].fillna("").eq("").all()


def test_vmapped_arms_give_the_same_results_as_the_loop(tmp_path: Path, reference: pd.DataFrame) -> None:
    df = results_table(run(tiny(tmp_path, arm_execution="vmap"), log=io.StringIO(), progress=False).results_csv)
    accuracies = ["clean_acc", "robust_acc", "coarse_clean_acc", "coarse_robust_acc"]
    pd.testing.assert_frame_equal(df[results.KEY + accuracies], reference[results.KEY + accuracies])
