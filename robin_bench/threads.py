"""How many CPU threads torch uses: chosen deliberately, never torch's oversubscribing default.

torch sizes its thread pools from the machine's core count; when other processes compete for
those cores, OpenMP threads spin-wait on each other and a run slows down by an order of magnitude.
The runner therefore sets threads from the cores actually available to the process, respecting
``OMP_NUM_THREADS`` when the user set it, and splits them between parallel jobs.
"""

from __future__ import annotations

import os

from robin_bench.errors import RobinBenchError


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


def prepare_environment() -> None:
    """Before torch loads: ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy.

    OpenMP threads that wait actively spin on their core between parallel regions; next to other
    busy processes they take turns with them and each region waits for its slowest, descheduled
    thread. Passive threads sleep instead. OpenMP reads the variable once, when torch loads: the CLI
    calls this before it imports anything that imports torch; later calls change nothing in this
    process (child processes still inherit it).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
