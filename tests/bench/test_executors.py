"""Executors: local worker processes and Ray give the same results as the sequential run; jobs reuse the store."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from robin_bench import cli
from robin_bench.bench import store
from robin_bench.bench.config import Suite
from robin_bench.bench.executors import GPU_FRACTION, InProcessExecutor, LocalExecutor, RayExecutor, make_executor
from robin_bench.bench.runner import RunReport, run
from robin_bench.errors import RobinBenchError

from .tiny_suite import HIERARCHY, MODELS, results_table, write_suite

TINY = {
    "name": "tiny_jobs",
    "dataset": {"name": "digits", "n_examples": 10, "n_train": 60, "classes": [0, 1, 2, 3]},
    "hierarchy": HIERARCHY,
    "threat_models": [{"norm": "Linf", "eps": [0.2]}],
    "models": MODELS,
    "attacks": [
        {"attack": "pgd", "kwargs": {"steps": 2}},
        {"name": "top2", "attack": "robin", "kinds": ["robin"], "kwargs": {"strategy": "top2", "steps": 2}},
    ],
}
N_JOBS = 1 + 4 + 3  # flat model, 4 arms, HAR coarse + 2 fine


def tiny(tmp_path: Path, out: str) -> Suite:
    return write_suite(tmp_path, TINY, out)


def flags(report: RunReport) -> dict[str, dict[str, np.ndarray]]:
    files = sorted((report.out_dir / store.FLAGS_DIRNAME).glob("*.npz"))
    assert files, "a run writes per-sample flags"
    return {f.name: dict(np.load(f)) for f in files}


def assert_same_results(got: RunReport, want: RunReport) -> None:
    pd.testing.assert_frame_equal(results_table(got.results_csv), results_table(want.results_csv))
    got_flags, want_flags = flags(got), flags(want)
    assert got_flags.keys() == want_flags.keys()
    for name, arrays in want_flags.items():
        for key, value in arrays.items():
            np.testing.assert_array_equal(got_flags[name][key], value, err_msg=f"{name}: {key}")


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    """The reference: the tiny suite run one job after the other in this process."""
    report = run(tiny(tmp_path_factory.mktemp("sequential"), "out"), log=io.StringIO(), progress=False)
    assert sorted(report.trained) == ["har", "mc", "robin"] and len(report.computed) == 3
    return report


def test_local_processes_give_the_sequential_results(tmp_path: Path, sequential: RunReport) -> None:
    log = io.StringIO()
    executor = LocalExecutor(jobs=2)
    try:
        report = run(tiny(tmp_path, "out"), log=log, progress=False, executor=executor)
    finally:
        executor.close()
    assert sorted(report.trained) == ["har", "mc", "robin"] and len(report.computed) == 3
    assert_same_results(report, sequential)
    lines = log.getvalue().splitlines()
    assert sum(f"/{N_JOBS}] train " in line for line in lines) == N_JOBS, "one log line per training job"
    assert sum(line.startswith("[") and "/3] " in line for line in lines) == 3, "one log line per cell"


def test_component_jobs_found_finished_are_not_recomputed(tmp_path: Path, sequential: RunReport) -> None:
    """Jobs run in this process through the job functions (LocalExecutor(jobs=1)), as a worker runs them."""
    suite = tiny(tmp_path, "out")
    first = run(suite, log=io.StringIO(), progress=False, executor=LocalExecutor(jobs=1))
    assert_same_results(first, sequential)
    shutil.rmtree(suite.output_dir / "models")  # keep only the trained components
    shutil.rmtree(suite.output_dir / "cells")
    log = io.StringIO()
    report = run(suite, log=log, progress=False, executor=LocalExecutor(jobs=1))
    assert sum("found finished" in line for line in log.getvalue().splitlines()) == N_JOBS
    assert_same_results(report, sequential)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[object]:
    import ray  # in the dev extra: the Ray executor is tested for real, never skipped

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_sequential_results(tmp_path: Path, sequential: RunReport, ray_local: object) -> None:
    executor = RayExecutor(num_cpus=1)
    report = run(tiny(tmp_path, "out"), log=io.StringIO(), progress=False, executor=executor)
    executor.close()
    assert ray_local.is_initialized(), "an executor leaves a Ray instance it did not start running"  # type: ignore[attr-defined]
    assert_same_results(report, sequential)


def test_ray_tasks_run_with_the_requested_resources(ray_local: object) -> None:
    ray: Any = ray_local
    executor = RayExecutor(num_cpus=2)
    assigned = [r for _, r in executor.map(lambda _: ray.get_runtime_context().get_assigned_resources(), [0, 1])]
    executor.close()
    assert assigned == [{"CPU": 2.0}, {"CPU": 2.0}] and executor.cpus_per_job == 2
    for device, gpus in (("cpu", 0.0), ("cuda:0", GPU_FRACTION)):
        made = make_executor("ray", device=device)
        assert isinstance(made, RayExecutor) and (made.num_cpus, made.num_gpus) == (1.0, gpus)
        made.close()


def test_ray_missing_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(RobinBenchError, match=r"needs Ray.*pip install 'robin-bench\[ray\]'"):
        make_executor("ray")
    assert cli.main(["run", "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'robin-bench[ray]'" in err[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "dask"}, "unknown executor 'dask'; valid: local, ray"),
        ({"name": "local", "jobs": 0}, "--jobs 0 must be an integer >= 1"),
        ({"name": "local", "jobs": 2, "address": "auto"}, "--address is for --executor ray"),
        ({"name": "ray", "jobs": 2}, "--jobs 2 is for the local executor"),
    ],
)
def test_bad_executor_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RobinBenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_executor(**kwargs)  # type: ignore[arg-type]


def test_one_local_job_is_the_plain_sequential_run() -> None:
    assert isinstance(make_executor("local", jobs=1), InProcessExecutor)
    assert isinstance(make_executor("local", jobs=3), LocalExecutor)


def test_cli_refuses_bad_jobs_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--jobs", "0", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["robin-bench: error: --jobs 0 must be an integer >= 1"]
    assert not (tmp_path / "out" / "results.csv").exists()


ORPHAN_SCRIPT = """
import os, sys, time
from robin_bench.bench.executors import LocalExecutor

def job(path):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)
    return path

if __name__ == "__main__":
    for _ in LocalExecutor(jobs=1).map(job, [sys.argv[1]]):
        pass
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_killed_run_leaves_no_worker_computing(tmp_path: Path) -> None:
    script, marker = tmp_path / "orphan.py", tmp_path / "worker.pid"
    script.write_text(ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(marker)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (marker.is_file() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(marker.read_text())
        os.kill(worker, 0)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError(f"worker {worker} still alive 10 s after its run was killed")
