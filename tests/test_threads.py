"""Thread settings: available cores, OMP_NUM_THREADS respected, shares per job, rb.use_threads, own loops."""

from __future__ import annotations

import os
import subprocess
import sys
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
def test_default_threads_shares_the_available_cores(
    cores: int, jobs: int, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def test_use_threads_sets_a_block_and_restores_torch_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    with threads.use_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    assert torch.get_num_threads() == 2 and "OMP_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with threads.use_threads() as n:
        assert n == 2
    assert os.environ["OMP_NUM_THREADS"] == "2"
    with pytest.raises(RobinBenchError, match="threads must be an integer >= 1"), threads.use_threads(0):
        pass


def test_use_threads_is_public() -> None:
    import robin_bench as rb

    assert rb.use_threads is threads.use_threads


@pytest.fixture
def busy_spinning(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A 2-core machine with 3 other runnable tasks, spinning OpenMP threads, no thread choice, torch at 2."""
    monkeypatch.setattr(threads, "_threads_sleep", False)
    monkeypatch.setattr(threads, "_warned", True)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "runnable_elsewhere", lambda: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    return monkeypatch


def test_own_loop_drops_to_the_idle_cores_when_spinning_threads_meet_a_busy_machine(
    busy_spinning: pytest.MonkeyPatch,
) -> None:
    with threads.own_loop():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("change", ["idle machine", "threads sleep", "user chose", "one thread"])
def test_own_loop_changes_nothing_otherwise(change: str, busy_spinning: pytest.MonkeyPatch) -> None:
    if change == "idle machine":
        busy_spinning.setattr(threads, "runnable_elsewhere", lambda: 0)
    elif change == "threads sleep":
        busy_spinning.setattr(threads, "_threads_sleep", True)
    elif change == "user chose":
        busy_spinning.setenv("OMP_NUM_THREADS", "2")
    else:
        torch.set_num_threads(1)
    expected = torch.get_num_threads()
    with threads.own_loop():
        assert torch.get_num_threads() == expected


def test_own_loop_warns_once(busy_spinning: pytest.MonkeyPatch) -> None:
    busy_spinning.setattr(threads, "_warned", False)
    with pytest.warns(RuntimeWarning, match=r"rb.use_threads\(n\)"), threads.own_loop():
        pass
    with threads.own_loop():  # no second warning (pytest's filter turns none into an error here)
        pass
    assert threads._warned


def test_evaluate_and_training_run_under_own_loop(busy_spinning: pytest.MonkeyPatch) -> None:
    import robin_bench as rb

    seen: list[int] = []

    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return x

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x, y = torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 0, 1])
    rb.evaluate(net, x, y, {"probe": attack}, norm="Linf", eps=0.1)
    assert set(seen) <= {1}
    original = torch.nn.Linear.forward
    busy_spinning.setattr(
        torch.nn.Linear, "forward", lambda self, v: (seen.append(torch.get_num_threads()), original(self, v))[1]
    )
    rb.train.train_flat(net, x, y, rb.train.TrainConfig(epochs=1, batch_size=2, progress=False))
    assert seen and set(seen) == {1} and torch.get_num_threads() == 2


@pytest.mark.parametrize(("first", "sleep"), [("robin_bench", True), ("torch", False)])
def test_import_order_decides_whether_torch_threads_sleep(first: str, sleep: bool) -> None:
    second = "torch" if first == "robin_bench" else "robin_bench"
    code = (
        f"import {first}, {second}, os; from robin_bench import threads; "
        "print(threads._threads_sleep, os.environ['OMP_WAIT_POLICY'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(sleep), "PASSIVE"]
