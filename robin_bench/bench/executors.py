"""Executors: run independent jobs in this process, in local worker processes or on Ray. They only run jobs.

An executor maps a picklable function over picklable jobs and yields each ``(job, result)`` as it
finishes; it knows nothing of suites, models or cells (it imports nothing from ``robin_bench.bench``).
The job bodies (:mod:`robin_bench.bench.jobs`) set each job's torch threads; :attr:`Executor.parallelism`
tells the runner how many jobs run at once, so it can give each its share of the cores.

Example::

    >>> run(load_suite("benchmarks/suites/demo.yaml"), executor=LocalExecutor(jobs=2))
    >>> run(suite, executor=RayExecutor(address="auto"))   # pip install 'robin-bench[ray]'
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from robin_bench.errors import RobinBenchError

GPU_FRACTION = 0.25
"""Default GPU share of one Ray task when the suite runs on CUDA (four jobs per GPU)."""
EXECUTORS = ("local", "ray")

J = TypeVar("J")
R = TypeVar("R")


class Executor(ABC):
    """Runs independent jobs and yields each ``(job, result)`` as it finishes (in any order)."""

    @abstractmethod
    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R]]:
        """Run ``fn(job)`` for every job; yield ``(job, fn(job))`` as each finishes."""

    @property
    def parallelism(self) -> int:
        """How many jobs run at once on this machine (each job gets this share of its cores)."""
        return 1

    @property
    def cpus_per_job(self) -> int | None:
        """CPUs each job is granted elsewhere (a Ray task's ``num_cpus``); None = a share of this machine."""
        return None

    def close(self) -> None:  # noqa: B027  (optional hook: executors without resources need nothing)
        """Release the executor's workers."""


class InProcessExecutor(Executor):
    """Runs jobs one after the other in this process (``--jobs 1``)."""

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R]]:
        for job in jobs:
            yield job, fn(job)


PR_SET_PDEATHSIG = 1
"""Linux prctl option: the signal a process gets when its parent dies."""


def _die_with_parent(parent: int) -> None:
    """Worker initializer: on Linux, end this worker when the run that started it dies (killed included),
    instead of computing on as an orphan; a parent gone before this ran ends it at once."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)


class LocalExecutor(Executor):
    r"""Runs jobs in ``jobs`` worker processes on this machine (``spawn`` start method).

    On Linux a worker ends with its parent: killing the run (even with SIGKILL) leaves no worker computing on.

    Arguments:
        jobs (int): number of worker processes (>= 1; 1 still uses a worker process, see
            :class:`InProcessExecutor` for none). (Default: 2)

    Example::

        >>> run(suite, executor=LocalExecutor(jobs=4))
    """

    def __init__(self, jobs: int = 2) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise RobinBenchError(f"--jobs {jobs!r} must be an integer >= 1")
        self.jobs = jobs
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    @property
    def parallelism(self) -> int:
        return self.jobs

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R]]:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
        futures = {self._pool.submit(fn, job): job for job in jobs}
        try:
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor(Executor):
    r"""Runs each job as a Ray task with a resource request (Ray: https://docs.ray.io).

    Connects to the cluster at ``address`` (``"auto"``: the one this machine belongs to), or starts
    a local Ray instance when ``address`` is None and Ray is not initialized yet. Every node must
    have robin-bench installed and see the run's output directory (the store) at the same path.

    Arguments:
        address (str | None): Ray cluster address, e.g. ``"auto"`` or ``"ray://head:10001"``. (Default: None)
        num_cpus (float): CPUs requested per task (the runner gives each task that many torch threads). (Default: 1)
        num_gpus (float): GPU fraction requested per task; use > 0 when the suite runs on CUDA. (Default: 0)

    Example::

        >>> run(suite, executor=RayExecutor(address="auto", num_gpus=0.25))
    """

    def __init__(self, address: str | None = None, *, num_cpus: float = 1.0, num_gpus: float = 0.0) -> None:
        ray = import_ray()
        if num_cpus < 0 or num_gpus < 0:
            raise RobinBenchError(f"Ray resources must be >= 0, got num_cpus={num_cpus}, num_gpus={num_gpus}")
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            _probe(address)
            try:
                ray.init(address=address, include_dashboard=False)
            except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
                first = (str(e).strip().splitlines() or [""])[0]
                raise RobinBenchError(
                    f"cannot connect to the Ray cluster at --address {address!r} ({e.__class__.__name__}: {first}); "
                    "check the address, or start a cluster with 'ray start --head'"
                ) from None
        self.num_cpus, self.num_gpus = num_cpus, num_gpus

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R]]:
        ray = import_ray()
        task = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus)(fn)
        pending = {task.remote(job): job for job in jobs}
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                yield pending.pop(ref), ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)

    @property
    def cpus_per_job(self) -> int | None:
        return max(1, int(self.num_cpus))

    def close(self) -> None:
        """Disconnect from Ray if this executor initialized it (a local instance it started stops)."""
        if self._owns_ray:
            import_ray().shutdown()
            self._owns_ray = False


RAY_CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a Ray cluster's address to answer before giving up (Ray itself retries for minutes)."""


def _probe(address: str | None) -> None:
    """Refuse (one ``RobinBenchError`` line) a Ray address ``host:port`` or ``ray://host:port`` whose port does not
    accept a connection within :data:`RAY_CONNECT_TIMEOUT_S`; ``None`` and ``"auto"`` are Ray's to find."""
    if address is None or address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise RobinBenchError(f"--address {address!r} is not 'auto', 'host:port' or 'ray://host:port'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise RobinBenchError(
            f"cannot connect to the Ray cluster at --address {address!r} within "
            f"{RAY_CONNECT_TIMEOUT_S:g}s ({e.strerror or e.__class__.__name__}); check the address, "
            "or start a cluster with 'ray start --head'"
        ) from None


def import_ray() -> Any:
    """The ``ray`` module, or ``RobinBenchError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RobinBenchError(
            "--executor ray needs Ray, which is not installed; install it with: pip install 'robin-bench[ray]'"
        ) from None
    return ray


def make_executor(
    name: str, *, jobs: int = 1, address: str | None = None, device: str = "cpu", cuda: bool | None = None
) -> Executor:
    r"""The executor named on the command line.

    Arguments:
        name (str): ``"local"`` or ``"ray"``.
        jobs (int): local worker processes; 1 = :class:`InProcessExecutor` (no worker). (Default: 1)
        address (str | None): Ray cluster address (``--address``); only with ``"ray"``. (Default: None)
        device (str): the suite's device; Ray tasks request ``GPU_FRACTION`` of a GPU when it is CUDA
            (``"cuda..."``, or ``"auto"`` with ``cuda`` true). (Default: ``"cpu"``)
        cuda (bool | None): whether CUDA is visible here (decides ``"auto"``); None = ask torch. (Default: None)
    """
    if name not in EXECUTORS:
        raise RobinBenchError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if name == "local":
        if address is not None:
            raise RobinBenchError("--address is for --executor ray; the local executor runs on this machine")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise RobinBenchError(f"--jobs {jobs!r} must be an integer >= 1")
        return LocalExecutor(jobs) if jobs > 1 else InProcessExecutor()
    if jobs != 1:
        raise RobinBenchError(f"--jobs {jobs} is for the local executor; Ray schedules its tasks on the cluster")
    if cuda is None and device == "auto":
        import torch  # only to resolve device "auto"

        cuda = torch.cuda.is_available()
    on_gpu = device.startswith("cuda") or (device == "auto" and bool(cuda))
    return RayExecutor(address, num_gpus=GPU_FRACTION if on_gpu else 0.0)
