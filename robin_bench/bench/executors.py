"""Executors: run a suite's independent jobs in local worker processes or as Ray tasks.

A run decomposes into independent *jobs*, each a function of plain picklable inputs (the validated
suite, a name, a thread count) that reads and writes the run's store, so a job finished in any
process, on any machine sharing the output directory, is never computed again:

- a **training job** trains one component of one model: a flat model whole, one ROBIN arm, HAR's
  coarse network or one of its fine networks. Each component is initialized exactly as in a
  sequential run (the whole model is built from the training seed, then the component is taken) and
  trained with its own derived seed, so its weights do not depend on where or in which order it ran.
  A finished component is cached under ``components/<model>-<hash>/``; the run then assembles the
  model from its components and caches it like a sequentially trained one.
- a **cell job** evaluates one (model, norm, eps) cell from the cached models and records it in the
  store (``cells/<key>.json`` and its per-sample flags).

Training jobs run first, then the models are assembled, then the cell jobs run. Only the run's own
process writes ``results.csv``, one line per finished job on the log.

Example::

    >>> run(load_suite("benchmarks/suites/demo.yaml"), executor=LocalExecutor(jobs=2))
    >>> run(suite, executor=RayExecutor(address="auto"))   # pip install 'robin-bench[ray]'
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn

from robin_bench.bench import results
from robin_bench.bench.config import Suite
from robin_bench.bench.planner import CellPlan, ModelPlan, make_plan
from robin_bench.bench.store import Store
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_bytes, atomic_write_text
from robin_bench.models import HARClassifier, RobinClassifier

if TYPE_CHECKING:
    from robin_bench.bench.runner import _Context

COMPONENTS_DIR = "components"
GPU_FRACTION = 0.25
"""Default GPU share of one Ray task when the suite runs on CUDA (four jobs per GPU)."""
EXECUTORS = ("local", "ray")

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class TrainJob:
    """Train component ``part`` (``"model"``, ``"arm<i>"``, ``"coarse"``, ``"fine<z>"``) of model ``model``."""

    suite: Suite
    model: str
    part: str
    threads: int

    @property
    def label(self) -> str:
        """How the job appears on the log."""
        return f"train {self.model} {self.part}"


@dataclass(frozen=True)
class CellJob:
    """Evaluate the cell with key ``key`` of ``suite``."""

    suite: Suite
    key: str
    threads: int

    @property
    def label(self) -> str:
        """How the job appears on the log."""
        return f"cell {self.key}"


@dataclass(frozen=True)
class JobResult:
    """What a job returns to the run: seconds spent, whether it was found finished, and its payload.

    Attributes:
        seconds (float): wall-clock seconds of the job (0 when cached).
        cached (bool): the store already held the job's output; nothing was computed.
        report (dict | None): a training job's ``TrainReport.to_dict()``.
        rows (list[dict] | None): a cell job's results rows.
    """

    seconds: float
    cached: bool
    report: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None


class Executor(ABC):
    """Runs independent jobs and yields each ``(job, result)`` as it finishes (in any order)."""

    @abstractmethod
    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R]]:
        """Run ``fn(job)`` for every job; yield ``(job, fn(job))`` as each finishes."""

    def close(self) -> None:  # noqa: B027  (optional hook: executors without resources need nothing)
        """Release the executor's workers."""

    def threads_per_job(self) -> int:
        """torch threads each job uses: this process's count, split so that workers do not oversubscribe cores."""
        return torch.get_num_threads()


class LocalExecutor(Executor):
    r"""Runs jobs in ``jobs`` worker processes on this machine (``spawn`` start method); 1 = in this process.

    Each worker uses ``torch.get_num_threads() // jobs`` torch threads (at least 1), so the workers
    share this process's cores instead of oversubscribing them.

    Arguments:
        jobs (int): number of worker processes (>= 1). (Default: 1)

    Example::

        >>> run(suite, executor=LocalExecutor(jobs=4))
    """

    def __init__(self, jobs: int = 1) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise RobinBenchError(f"--jobs {jobs!r} must be an integer >= 1")
        self.jobs = jobs
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R]]:
        if self.jobs == 1:
            for job in jobs:
                yield job, fn(job)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn")
            )
        futures = {self._pool.submit(fn, job): job for job in jobs}
        try:
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def threads_per_job(self) -> int:
        return max(1, torch.get_num_threads() // self.jobs)

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
        num_cpus (float): CPUs requested per task; a task uses that many torch threads (at least 1). (Default: 1)
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
            ray.init(address=address, include_dashboard=False)
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

    def threads_per_job(self) -> int:
        return max(1, int(self.num_cpus))

    def close(self) -> None:
        """Disconnect from Ray if this executor initialized it (a local instance it started stops)."""
        if self._owns_ray:
            import_ray().shutdown()
            self._owns_ray = False


def import_ray() -> Any:
    """The ``ray`` module, or ``RobinBenchError`` saying how to install it."""
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        raise RobinBenchError(
            "--executor ray needs Ray, which is not installed; install it with: pip install 'robin-bench[ray]'"
        ) from None
    return ray


def make_executor(name: str, *, jobs: int = 1, address: str | None = None, device: str = "cpu") -> Executor | None:
    r"""The executor named on the command line, or None for the plain sequential run.

    Arguments:
        name (str): ``"local"`` or ``"ray"``.
        jobs (int): local worker processes; 1 = sequential in this process (None is returned). (Default: 1)
        address (str | None): Ray cluster address (``--address``); only with ``"ray"``. (Default: None)
        device (str): the suite's device; Ray tasks request ``GPU_FRACTION`` of a GPU when it is CUDA
            (``"cuda..."``, or ``"auto"`` with CUDA visible here). (Default: ``"cpu"``)
    """
    if name not in EXECUTORS:
        raise RobinBenchError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if name == "local":
        if address is not None:
            raise RobinBenchError("--address is for --executor ray; the local executor runs on this machine")
        executor = LocalExecutor(jobs)
        return executor if jobs > 1 else None
    if jobs != 1:
        raise RobinBenchError(f"--jobs {jobs} is for the local executor; Ray schedules its tasks on the cluster")
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return RayExecutor(address, num_gpus=GPU_FRACTION if cuda else 0.0)


def parts_of(model: nn.Module) -> list[str]:
    """The independently trained components of ``model``: ``model`` (flat), ``arm<i>``, or ``coarse`` + ``fine<z>``."""
    if isinstance(model, RobinClassifier):
        return [f"arm{i}" for i in range(len(model.arms))]
    if isinstance(model, HARClassifier):
        return ["coarse", *(f"fine{z}" for z in range(len(model.fine)))]
    return ["model"]


def _submodule(model: nn.Module, part: str) -> nn.Module:
    if part.startswith("arm") and isinstance(model, RobinClassifier):
        return model.arms[int(part[3:])]
    if part == "coarse" and isinstance(model, HARClassifier):
        return model.coarse
    if part.startswith("fine") and isinstance(model, HARClassifier):
        return model.fine[int(part[4:])]
    if part == "model":
        return model
    raise RobinBenchError(f"model of type {type(model).__name__} has no component {part!r}")


def train_part(model: nn.Module, part: str, ctx: _Context, cfg: Any) -> Any:
    """Train component ``part`` of ``model`` in place (the same call a sequential run makes for it)."""
    from robin_bench.train import train_flat  # noqa: PLC0415
    from robin_bench.train.decomposed import train_arm, train_har_coarse, train_har_fine  # noqa: PLC0415

    x, y = (t.to(ctx.device) for t in ctx.train_data())
    if part == "model":
        return train_flat(model, x, y, cfg, hierarchy=ctx.hierarchy)
    if isinstance(model, RobinClassifier):
        return train_arm(_submodule(model, part), x, y, int(part[3:]), cfg)
    if not isinstance(model, HARClassifier) or ctx.hierarchy is None:
        raise RobinBenchError(f"cannot train component {part!r} of a {type(model).__name__}")
    if part == "coarse":
        return train_har_coarse(model.coarse, ctx.hierarchy, x, y, cfg)
    z = int(part[4:])
    return train_har_fine(model.fine[z], z, ctx.hierarchy, x, y, cfg)


def _part_paths(store: Store, mp: ModelPlan, part: str) -> tuple[Path, Path]:
    folder = store.out_dir / COMPONENTS_DIR / f"{mp.spec.name}-{mp.key}"
    return folder / f"{part}.safetensors", folder / f"{part}.json"


def _worker_context(suite: Suite, threads: int) -> _Context:
    from robin_bench.bench.runner import RunReport, _Context, resolve_device  # noqa: PLC0415

    torch.set_num_threads(threads)
    store = Store(suite.output_dir)
    report = RunReport(out_dir=store.out_dir, results_csv=store.out_dir / results.RESULTS_NAME)
    return _Context(suite, make_plan(suite, store), store, resolve_device(suite.device), sys.stderr, False, report)


def run_train_job(job: TrainJob) -> JobResult:
    """Train one component into the store's component cache, unless it is there already."""
    from safetensors.torch import save  # noqa: PLC0415

    ctx = _worker_context(job.suite, job.threads)
    mp = ctx.plan.models[job.model]
    weights, report_path = _part_paths(ctx.store, mp, job.part)
    if weights.is_file() and report_path.is_file():
        return JobResult(seconds=0.0, cached=True, report=json.loads(report_path.read_text(encoding="utf-8")))
    t0 = time.perf_counter()
    model, _, cfg = ctx.untrained(mp)
    report = train_part(model, job.part, ctx, cfg).to_dict()
    state = {k: v.detach().cpu().contiguous() for k, v in _submodule(model, job.part).state_dict().items()}
    atomic_write_bytes(weights, save(state))
    atomic_write_text(report_path, json.dumps(report))
    return JobResult(seconds=time.perf_counter() - t0, cached=False, report=report)


def run_cell_job(job: CellJob) -> JobResult:
    """Evaluate one cell and record it in the store, unless it is recorded already."""
    from robin_bench.bench.runner import evaluate_cell  # noqa: PLC0415

    ctx = _worker_context(job.suite, job.threads)
    cell = next(c for c in ctx.plan.cells if c.key == job.key)
    done = ctx.store.cell(cell.key, cell.hash)
    if done is not None:
        return JobResult(seconds=0.0, cached=True, rows=done)
    t0 = time.perf_counter()
    rows = evaluate_cell(cell, ctx)
    ctx.store.record_cell(cell.key, cell.hash, rows)
    return JobResult(seconds=time.perf_counter() - t0, cached=False, rows=rows)


def _log_line(i: int, total: int, label: str, result: JobResult) -> str:
    return f"[{i}/{total}] {label}: " + ("found finished" if result.cached else f"done ({result.seconds:.1f}s)")


def train_models(executor: Executor, ctx: _Context, names: Sequence[str]) -> None:
    """Train the models ``names`` that are not cached yet, one job per component, then cache each assembled model."""
    import safetensors.torch  # noqa: PLC0415

    todo = [ctx.plan.models[n] for n in names if ctx.plan.models[n].action == "train"]
    todo = [mp for mp in todo if ctx.store.checkpoint_path(mp.spec.name, mp.key) is None]
    if not todo:
        return
    threads = executor.threads_per_job()
    untrained = {mp.spec.name: ctx.untrained(mp) for mp in todo}
    jobs = [
        TrainJob(ctx.suite, mp.spec.name, part, threads) for mp in todo for part in parts_of(untrained[mp.spec.name][0])
    ]
    done: dict[tuple[str, str], JobResult] = {}
    for i, (job, result) in enumerate(executor.map(run_train_job, jobs), start=1):
        done[(job.model, job.part)] = result
        print(_log_line(i, len(jobs), job.label, result), file=ctx.log, flush=True)
    for mp in todo:
        model, kwargs, _ = untrained[mp.spec.name]
        parts = parts_of(model)
        for part in parts:
            weights, _ = _part_paths(ctx.store, mp, part)
            _submodule(model, part).load_state_dict(safetensors.torch.load(weights.read_bytes()))
        reports = [done[(mp.spec.name, p)].report or {} for p in parts]
        ctx.cache_trained(mp, model, kwargs, reports, sum(done[(mp.spec.name, p)].seconds for p in parts))


def evaluate_cells(
    executor: Executor, ctx: _Context, cells: Sequence[CellPlan]
) -> Iterator[tuple[CellPlan, list[dict[str, Any]], float]]:
    """Evaluate ``cells`` as jobs on ``executor``; yield ``(cell, rows, seconds)`` as each finishes."""
    threads = executor.threads_per_job()
    by_key = {c.key: c for c in cells}
    jobs = [CellJob(ctx.suite, c.key, threads) for c in cells]
    for job, result in executor.map(run_cell_job, jobs):
        yield by_key[job.key], result.rows or [], result.seconds
