"""Thread settings of a run: available cores, OMP_NUM_THREADS respected, shares per job, configure()."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from robin_bench import threads
from robin_bench.errors import RobinBenchError


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    """Each test may change torch's threads and the thread variables; put both back."""
    n = torch.get_num_threads()
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    yield
    torch.set_num_threads(n)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_available_cores_is_this_process_affinity() -> None:
    assert threads.available_cores() == len(os.sched_getaffinity(0))
    assert 1 <= threads.available_cores() <= (os.cpu_count() or 1)


@pytest.mark.parametrize(("cores", "jobs", "expected"), [(8, 1, 8), (8, 3, 2), (2, 2, 1), (2, 4, 1)])
def test_default_threads_shares_the_available_cores(cores: int, jobs: int, expected: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    assert threads.default_threads(jobs) == expected


def test_default_threads_respects_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "available_cores", lambda: 64)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_a_bad_omp_num_threads_is_a_user_error(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", raw)
    with pytest.raises(RobinBenchError, match="OMP_NUM_THREADS"):
        threads.default_threads()


@pytest.mark.parametrize("n", [0, -1, 1.0, True, "2"])
def test_set_threads_refuses_non_counts(n: object) -> None:
    with pytest.raises(RobinBenchError, match="threads must be an integer >= 1"):
        threads.set_threads(n)  # type: ignore[arg-type]


def test_set_threads_reaches_torch_and_child_processes() -> None:
    threads.set_threads(1)
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    threads.set_threads(2)
    assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"


def test_prepare_environment_makes_waiting_threads_sleep_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    threads.prepare_environment()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    threads.prepare_environment()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
