"""How many CPU threads torch uses: chosen deliberately, never torch's oversubscribing default.

torch sizes its thread pools from the machine's core count; when other processes compete for
those cores, OpenMP threads spin-wait on each other and a run slows down by an order of magnitude.
The runner therefore sets threads from the cores actually available to the process, respecting
``OMP_NUM_THREADS`` when the user set it, and splits them between parallel jobs.

The library protects a user's own script the same way: ``import robin_bench`` calls
:func:`prepare_environment` (so torch, when loaded after it, has threads that sleep instead of spinning),
:func:`use_threads` (``rb.use_threads``) chooses the threads of a block of code, and robin-bench's own
loops (``rb.evaluate``, every ``rb.train`` function) run under :func:`own_loop` (see there).
"""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from robin_bench.errors import RobinBenchError

_P = ParamSpec("_P")
_R = TypeVar("_R")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _env_threads() -> int | None:
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise RobinBenchError(
            f"OMP_NUM_THREADS={raw!r} is not an integer; set it to a thread count >= 1 or unset it"
        ) from None
    if n < 1:
        raise RobinBenchError(f"OMP_NUM_THREADS={raw!r}; set it to a thread count >= 1 or unset it")
    return n


def default_threads(jobs: int = 1) -> int:
    """Threads per job: ``OMP_NUM_THREADS`` if set, else the available cores shared among ``jobs``.

    Arguments:
        jobs (int): jobs running at once, each getting an equal share (at least 1 thread). (Default: 1)
    """
    if jobs < 1:
        raise RobinBenchError(f"jobs must be >= 1, got {jobs}")
    env = _env_threads()
    if env is not None:
        return env
    return max(1, available_cores() // jobs)


def set_threads(n: int) -> None:
    """Make torch (and child processes) use ``n`` intra-op threads.

    Arguments:
        n (int): threads, >= 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RobinBenchError(f"threads must be an integer >= 1, got {n!r}")
    import torch

    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)


def _passive(policy: str | None) -> bool:
    return (policy or "").strip().upper() == "PASSIVE"


# Whether torch's OpenMP threads in this process sleep when idle (they read OMP_WAIT_POLICY once, when
# torch loads): None until prepare_environment() first runs.
_threads_sleep: bool | None = None


def prepare_environment() -> None:
    """Before torch loads: ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy.

    OpenMP threads that wait actively spin on their core between parallel regions; next to other
    busy processes they take turns with them and each region waits for its slowest, descheduled
    thread. Passive threads sleep instead. OpenMP reads the variable once, when torch loads:
    ``import robin_bench`` calls this (the CLI imports nothing that imports torch before it); when torch
    was already loaded it changes nothing in this process (child processes still inherit it), and
    :func:`own_loop` knows that this process's threads spin.
    """
    global _threads_sleep
    if _threads_sleep is None:
        torch_loaded = "torch" in sys.modules
        before = os.environ.get("OMP_WAIT_POLICY")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        _threads_sleep = _passive(before if torch_loaded else os.environ["OMP_WAIT_POLICY"])
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@contextmanager
def use_threads(n: int | None = None) -> Iterator[int]:
    """Run a block with ``n`` torch threads (``rb.use_threads``), then restore the previous setting.

    Inside the block ``OMP_NUM_THREADS`` says ``n`` as well (child processes inherit it), and
    robin-bench's own loops take it as the user's choice (:func:`own_loop` changes nothing). On a
    machine shared with other busy processes, ``with rb.use_threads(1):`` keeps a script at its fair
    share of the cores.

    Arguments:
        n (int | None): threads, >= 1; None: :func:`default_threads` (``OMP_NUM_THREADS`` if set, else
            the cores this process may use). (Default: None)

    Yields:
        int: the threads in use inside the block.

    Example::

        >>> with rb.use_threads(1):
        ...     result = rb.evaluate(model, x, y, attacks)
    """
    import torch

    chosen = default_threads() if n is None else n
    previous, previous_env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    set_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(previous)
        if previous_env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous_env


def runnable_elsewhere(samples: int = 5, interval_s: float = 0.002) -> int | None:
    """Tasks runnable right now besides the caller: the median of ``samples`` readings of Linux's
    ``/proc/loadavg`` (its running count includes the calling thread, which is subtracted); None where that
    file does not exist."""
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                counts.append(int(f.read().split()[3].split("/")[0]))
        except (OSError, IndexError, ValueError):
            return None
        if i + 1 < samples:
            time.sleep(interval_s)
    return max(0, sorted(counts)[len(counts) // 2] - 1)


_warned = False


@contextmanager
def own_loop() -> Iterator[None]:
    """The threads of one of robin-bench's own loops (evaluation, training), protected on a busy machine.

    It changes nothing unless all of these hold: this process's OpenMP threads spin-wait (torch was
    imported before ``robin_bench`` and ``OMP_WAIT_POLICY`` was not ``PASSIVE``), nobody chose the threads
    (``OMP_NUM_THREADS`` unset, no :func:`use_threads` block: the CLI's runner always chooses), torch
    uses more than one thread, and fewer cores are idle than torch has threads (other runnable tasks,
    :func:`runnable_elsewhere`). Then the loop runs with the idle cores' count (at least 1) and torch's
    setting is restored after it; a warning says so once per process. Spinning threads that share their
    cores with other processes slow a loop down by 10-100x (``benchmarks/RESULTS.md``, "Threads in a
    user's script").
    """
    import torch

    global _warned
    spinning = _threads_sleep is False or (_threads_sleep is None and not _passive(os.environ.get("OMP_WAIT_POLICY")))
    n = torch.get_num_threads()
    if not spinning or "OMP_NUM_THREADS" in os.environ or n == 1:
        yield
        return
    others = runnable_elsewhere()
    idle = n if others is None else min(available_cores(), (os.cpu_count() or 1) - others)
    if idle >= n:
        yield
        return
    chosen = max(1, idle)
    if not _warned:
        _warned = True
        warnings.warn(
            f"robin-bench: {others} other tasks are running on {os.cpu_count()} cores and torch's {n} OpenMP "
            f"threads spin-wait (torch was imported before robin_bench, OMP_WAIT_POLICY unset), so robin-bench's "
            f"loops use {chosen} thread(s) here; choose with rb.use_threads(n) or OMP_NUM_THREADS, or import "
            "robin_bench before torch",
            RuntimeWarning,
            stacklevel=4,
        )
    torch.set_num_threads(chosen)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def in_own_loop(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate one of robin-bench's loops: ``fn`` runs under :func:`own_loop`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with own_loop():
            return fn(*args, **kwargs)

    return wrapper
