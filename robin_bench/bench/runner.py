"""The runner: plan a suite, train what is missing, evaluate every unfinished cell, write results and reports.

``run(suite)`` claims the output folder (empty, new, or already a robin-bench run folder), holds
its lock for the whole run, checks everything that can fail (data, user checkpoints, cached
checkpoints against their recipe) before it writes, archives the cells of an earlier suite
configuration, trains the models through component jobs and evaluates the cells as cell jobs on an
executor (in this process by default), rewrites ``results.csv`` after every cell with exactly the
finished cells of this suite, and rebuilds summary and plots whenever they do not match the results.
A run killed at any moment and started again finishes with the same table as an uninterrupted one:
every model and every cell is seeded on its own.

Example::

    >>> report = run(load_suite("benchmarks/suites/demo.yaml"))
    >>> report.computed, report.reused
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import torch
from torch import nn

from robin_bench.bench import results
from robin_bench.bench.context import RunContext, resolve_device
from robin_bench.bench.executors import Executor, InProcessExecutor
from robin_bench.bench.jobs import CellJob, JobResult, TrainJob, run_cell_job, train_models
from robin_bench.bench.planner import CellPlan, Plan, make_plan
from robin_bench.bench.schema import Suite
from robin_bench.bench.store import RunFolder, refuse_overlap
from robin_bench.errors import RobinBenchError
from robin_bench.registry import did_you_mean
from robin_bench.threads import default_threads, set_threads

HEARTBEAT_SECONDS = 10.0
"""Without a terminal, a line at least this often while a job works."""


@dataclass
class RunReport:
    """What a run did.

    Attributes:
        out_dir (Path): the output directory.
        results_csv (Path): the results table (exactly the cells of the suite that ran).
        computed (list[str]): keys of the cells computed by this run.
        reused (list[str]): keys of the cells found finished.
        trained (list[str]): models trained by this run (plan ids: ``name`` or ``name@seed``).
        seconds (float): wall-clock time of the run.
        archived (Path | None): where cells of an earlier suite configuration were moved, if any.
        repaired (list[str]): damaged per-cell files found (and recomputed).
        table (str): the final clean/robust table (also written to the log).
    """

    out_dir: Path
    results_csv: Path
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)
    seconds: float = 0.0
    archived: Path | None = None
    repaired: list[str] = field(default_factory=list)
    table: str = ""


def suite_inputs(suite: Suite) -> list[Path]:
    """The files a run of ``suite`` reads and must never write over: the suite file, the dataset's files and the
    models' checkpoints (those that exist)."""
    import robin_bench.data as datasets

    paths = [
        Path(suite.source),
        *datasets.input_files(suite.dataset.name, root=suite.dataset.root),
        *(Path(os.path.expanduser(m.checkpoint)) for m in suite.models if m.checkpoint is not None),
    ]
    return [p for p in paths if p.exists()]


def plan(suite: Suite) -> Plan:
    """The expanded plan of ``suite`` against its output directory (no compute, no lock, no writes)."""
    return make_plan(suite, RunFolder(suite.output_dir))


def dry_run(suite: Suite, *, timing: bool = True) -> str:
    """What ``run --dry-run`` prints: the plan with each cell's cost in gradient evaluations (and, with
    ``timing``, in seconds, from one timed forward-backward pass of each untrained model on this machine),
    and the sanity checks and coarse evaluations every cell adds (no training, no attack, no writes)."""
    the_plan = plan(suite)
    return the_plan.describe(seconds_per_eval(suite, the_plan) if timing else None)


def seconds_per_eval(suite: Suite, the_plan: Plan) -> dict[str, float]:
    """Measured seconds of one per-sample gradient evaluation of each model of ``the_plan``: an untrained model of
    its kind and architecture, a batch of random inputs as large as the attacks' (``batch_size``, at most
    ``n_examples``), the suite's device, best of 2 after a warm-up; models whose input shape is unknown before
    loading data are left out."""
    import robin_bench.data as datasets
    from robin_bench.models.factory import build_model
    from robin_bench.models.kinds import KINDS

    d = suite.dataset
    info = datasets.info(d.name, root=d.root) if d.root is None or Path(d.root).exists() else None
    if info is None or info.in_shape is None or info.n_classes is None:
        return {}
    n_classes = len(d.classes) if d.classes is not None else info.n_classes
    batch = min(suite.batch_size, d.n_examples or suite.batch_size)
    device = resolve_device(suite.device)
    out: dict[str, float] = {}
    timed: dict[tuple[str, str], float] = {}
    with torch.random.fork_rng(devices=[]):
        for mid, mp in the_plan.models.items():
            shape = (mp.spec.kind, mp.spec.arch or "")
            if mp.spec.arch is None:
                continue
            if shape not in timed:
                model = build_model(
                    mp.spec.kind,
                    arch=mp.spec.arch,
                    in_shape=info.in_shape,
                    n_classes=n_classes,
                    hierarchy=suite.get_hierarchy() if KINDS.get(mp.spec.kind).needs_hierarchy else None,
                ).to(device)
                x = torch.rand(batch, *info.in_shape, device=device, requires_grad=True)
                model(x).logsumexp(1).sum().backward()
                best = float("inf")
                for _ in range(2):
                    t0 = time.perf_counter()
                    model(x).logsumexp(1).sum().backward()
                    best = min(best, time.perf_counter() - t0)
                timed[shape] = best / batch
            out[mid] = timed[shape]
    return out


def models(
    suite: Suite,
    names: Sequence[str] | None = None,
    *,
    device: str | torch.device | None = None,
    log: TextIO | None = None,
) -> dict[str, nn.Module]:
    """Trained models of ``suite`` by name, in eval mode: from the user's checkpoint or the run's cache,
    trained and cached where missing (as :func:`run` does, under the output directory's lock).

    Arguments:
        suite (Suite): a validated suite.
        names (Sequence[str] | None): the models wanted (a model with several seeds: its first seed, or
            ``name@seed``). (Default: None, every model of the suite)
        device (str | torch.device | None): where to put them. (Default: None, the suite's ``device``)
        log (TextIO | None): where training lines go. (Default: ``sys.stderr``)

    Returns:
        dict[str, nn.Module]: name -> model, in the order of ``names``.

    Raises:
        RobinBenchError: a name is not a model of the suite, or the output directory is locked by a live run.

    Example::

        >>> nets = models(load_suite("benchmarks/suites/demo.yaml"), ["mc"], device="cpu")
    """
    folder = RunFolder(suite.output_dir)
    wanted = suite.model_names() if names is None else list(names)
    refuse_overlap([folder.path], suite_inputs(suite))
    folder.claim()
    with folder.lock():
        the_plan = make_plan(suite, folder)
        ids = {}
        for name in wanted:
            if name not in the_plan.models and name not in suite.model_names():
                raise RobinBenchError(
                    f"{name!r} is not a model of suite {suite.name}; {did_you_mean(name, suite.model_names())}"
                )
            ids[name] = name if name in the_plan.models else the_plan.model_id(name)
        dev = resolve_device(suite.device) if device is None else torch.device(device)
        ctx = RunContext(suite, the_plan, folder, dev, log=log)
        train_models(InProcessExecutor(), ctx, list(ids.values()), torch.get_num_threads())
        return {name: ctx.model(i) for name, i in ids.items()}


def run(
    suite: Suite | str | os.PathLike[str],
    *,
    models: Mapping[str, nn.Module] | None = None,
    log: TextIO | None = None,
    progress: bool | None = None,
    after_cell: Callable[[CellPlan], None] | None = None,
    executor: Executor | None = None,
    threads: int | None = None,
) -> RunReport:
    """Run ``suite``: train or reuse its models, evaluate every unfinished cell, write results, summary and plots.

    Arguments:
        suite (Suite | str | PathLike): a validated suite (:func:`robin_bench.bench.config.load_suite`) or its file.
        models (Mapping[str, nn.Module] | None): in-memory models (a notebook's) by name: a name of the suite
            replaces that entry's training or loading (its kind must match the module's), another name adds a
            model of the module's kind (:func:`robin_bench.models.kinds.kind_of`). They go through the same plan,
            cache (keyed by their weights' bytes) and rows as the suite's own: the same weights give the same
            results as ``weights:``. They run in this process (``executor`` must be None or in-process).
            (Default: None)
        log (TextIO | None): where progress lines and the final table go. (Default: ``sys.stderr``)
        progress (bool | None): a live progress bar instead of plain lines; None = only when ``log`` is a
            terminal. Without it, a line per finished job and at least one every 10 s of work. Either way a cell
            shows the attack running, the samples still robust and the running robust accuracy (cells in worker
            processes write their own such line to stderr at most every 10 s). (Default: None)
        after_cell (Callable | None): called after each computed cell is stored (tests use it to
            interrupt a run). (Default: None)
        executor (Executor | None): runs the jobs (each model component's training, each cell):
            :class:`~robin_bench.bench.executors.LocalExecutor` or ``RayExecutor``; None = one after the
            other in this process. Results are the same either way. (Default: None)
        threads (int | None): torch threads per job; None = the suite's ``threads``, else
            :func:`robin_bench.threads.default_threads` of the executor's parallelism. (Default: None)

    Returns:
        RunReport: what was computed, reused, trained and archived, and the wall time.

    Raises:
        RobinBenchError: the output folder belongs to another program, is locked by a live run or not
            writable, the disk is full, data files are missing, ``n_examples`` exceeds the split, a
            checkpoint fails verification or does not fit its model.
    """
    t0 = time.perf_counter()
    if not isinstance(suite, Suite):
        from robin_bench.bench.config import load_suite

        suite = load_suite(suite)
    log = log if log is not None else sys.stderr
    progress = _isatty(log) if progress is None else progress
    executor = executor if executor is not None else InProcessExecutor()
    memory = dict(models or {})
    if memory:
        if not isinstance(executor, InProcessExecutor):
            raise RobinBenchError("in-memory models run in this process; drop the executor (or use jobs=1)")
        suite = with_models(suite, memory)
    n_threads = threads or suite.threads or executor.cpus_per_job or default_threads(executor.parallelism)
    folder = RunFolder(suite.output_dir)
    report = RunReport(out_dir=folder.path, results_csv=folder.results_csv)
    refuse_overlap([folder.path], suite_inputs(suite))
    try:
        folder.claim()
        with folder.lock():
            _run_locked(suite, folder, report, log, progress, after_cell, executor, n_threads, memory)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise RobinBenchError(
                f"disk full while writing {e.filename or folder.path}; free space and rerun the "
                "same command: finished cells are kept, nothing was half-written"
            ) from None
        raise
    report.seconds = time.perf_counter() - t0
    return report


def _run_locked(
    suite: Suite,
    folder: RunFolder,
    report: RunReport,
    log: TextIO,
    progress: bool,
    after_cell: Callable[[CellPlan], None] | None,
    executor: Executor,
    n_threads: int,
    memory: Mapping[str, nn.Module],
) -> None:
    folder.clean_temp()
    set_threads(n_threads)
    ctx = _checked_context(suite, folder, log, progress, memory)
    the_plan = ctx.plan
    for c in the_plan.cells:
        problem = folder.damage(c.key, c.hash, c.flags_keys)
        if problem is not None:
            print(f"{problem.split(';')[0]}; recomputing the cell", file=log, flush=True)
            report.repaired.append(c.key)
    report.archived = folder.archive_stale(
        {c.key: c.hash for c in the_plan.cells}, {c.key: c.flags_keys for c in the_plan.cells}
    )
    if report.archived is not None:
        print(f"cells of an earlier configuration of this folder moved to {report.archived}", file=log, flush=True)
    finished: dict[str, list[dict[str, Any]]] = {}
    for c in the_plan.cells:
        rows = folder.cell(c.key, c.hash, c.flags_keys) if c.done else None
        if rows is not None:
            finished[c.key] = rows
    report.reused = list(finished)
    _write_results(folder, the_plan, finished)
    todo = [c for c in the_plan.cells if c.key not in finished]
    with _Feedback(log, progress) as feedback:
        if todo:
            needed = [
                m for m in the_plan.needed_models() if any(c.model == m or m in the_plan.surrogates(c) for c in todo)
            ]
            feedback.phase("training")
            report.trained = train_models(executor, ctx, needed, n_threads, on_job=feedback.train_job)
            feedback.start_cells(len(todo))
            by_key = {c.key: c for c in todo}
            jobs = [CellJob(the_plan, c.key, n_threads) for c in todo]
            # In this process the cell uses the run's context and tells the bar or heartbeat what it does; workers
            # build their context from the job's plan and write their own lines.
            cell_fn = (
                functools.partial(run_cell_job, status=feedback.cell_status, ctx=ctx)
                if isinstance(executor, InProcessExecutor)
                else run_cell_job
            )
            for job, result in executor.map(cell_fn, jobs):
                cell = by_key[job.key]
                finished[cell.key] = result.rows or []
                _write_results(folder, the_plan, finished)
                report.computed.append(cell.key)
                feedback.cell_done(cell, result)
                if after_cell is not None:
                    after_cell(cell)
        feedback.phase("reports")
        if not folder.reports_current():
            write_reports(folder)
    report.table = final_table(folder.read_results())
    print(report.table, file=log, flush=True)


def with_models(suite: Suite, models: Mapping[str, nn.Module]) -> Suite:
    """``suite`` with an entry for every in-memory model of ``models`` that it does not name (of the module's kind);
    a named entry whose kind differs from its module's is a ``RobinBenchError``."""
    from robin_bench.bench.schema import ModelSpec
    from robin_bench.models.kinds import kind_of

    extra = []
    for name, module in models.items():
        if not isinstance(module, nn.Module):
            raise RobinBenchError(f"models[{name!r}] is {type(module).__name__}; give an nn.Module")
        kind = kind_of(module).name
        if name in suite.model_names():
            if suite.model(name).kind != kind:
                raise RobinBenchError(
                    f"models[{name!r}] is a {kind} model, the suite's {name!r} is "
                    f"{suite.model(name).kind}; give a module of that kind or another name"
                )
            continue
        spec = ModelSpec.model_validate(
            {"name": name, "kind": kind, "arch": type(module).__name__, "weights": "in memory"}
        )
        extra.append(spec)
    return suite.model_copy(update={"models": [*suite.models, *extra]}) if extra else suite


def _checked_context(
    suite: Suite, folder: RunFolder, log: TextIO, progress: bool, memory: Mapping[str, nn.Module]
) -> RunContext:
    """The run's context after every check that can fail without writing: the attacked data, the training data
    when a model is trained, each user checkpoint (verified, and fitting its model); a cached model that does not
    fit its recipe is dropped from the cache (and trained again). Inputs that changed since the last run are named
    on the log (their models and cells have new keys) and the input digests saved."""
    the_plan = make_plan(suite, folder, memory)
    for change in the_plan.inputs.changes():
        print(f"{change}: what depends on it is computed again", file=log, flush=True)
    ctx = RunContext(suite, the_plan, folder, resolve_device(suite.device), log=log, memory=memory)
    ctx.eval_data()
    needed = set(the_plan.needed_models())
    for mp in the_plan.models.values():
        if mp.action == "load" and mp.id in needed:
            ctx.model(mp.id)
        elif mp.action == "train" and mp.id in needed:
            ctx.train_data()
    stale = [(mp, why) for mp in the_plan.models.values() if (why := ctx.cache_fits(mp)) is not None]
    for mp, why in stale:
        print(f"cached model {mp.id} does not fit the suite ({why}); training it again", file=log, flush=True)
        folder.drop_model(mp.spec.name, mp.key)
    if stale:
        ctx = RunContext(suite, make_plan(suite, folder, memory), folder, ctx.device, log=log, memory=memory)
        ctx.train_data()
    the_plan.inputs.save()
    return ctx


def _write_results(folder: RunFolder, the_plan: Plan, finished: Mapping[str, list[dict[str, Any]]]) -> None:
    """``results.csv`` = the rows of the finished cells of this plan, in plan order."""
    rows = [r for c in the_plan.cells for r in finished.get(c.key, [])]
    if rows or not folder.results_csv.exists():
        folder.write_results(rows)
    elif folder.read_results().shape[0]:
        folder.write_results([])


def write_reports(folder: RunFolder) -> None:
    """``summary.md`` (ending with the hash of the ``results.csv`` it shows) and the eps plots."""
    from robin_bench.bench import plots, summary  # matplotlib: only when writing

    folder.plots_dir.mkdir(parents=True, exist_ok=True)
    plots.plot_eps_curves(folder.path)
    summary.write_summary(folder.path)


def final_table(df: pd.DataFrame) -> str:
    """A compact text table of the worst-case rows: clean and robust accuracy (percent) per model and eps."""
    worst = df[df["attack"] == results.WORST_CASE]
    if worst.empty:
        return "no finished cells"
    coarse = worst["coarse_robust_acc"].notna().any()
    head = ["model", "seed", "kind", "norm", "eps", "criterion", "clean%", "robust%"] + (["coarse%"] if coarse else [])
    body = []
    for _, r in worst.sort_values(["norm", "criterion", "model", "seed", "eps"], kind="stable").iterrows():
        line = [
            str(r["model"]),
            str(r["seed"]),
            str(r["kind"]),
            str(r["norm"]),
            f"{r['eps']:.4g}",
            str(r["criterion"]),
            f"{100 * r['clean_acc']:.1f}",
            f"{100 * r['robust_acc']:.1f}",
        ]
        if coarse:
            line.append("-" if pd.isna(r["coarse_robust_acc"]) else f"{100 * r['coarse_robust_acc']:.1f}")
        body.append(line)
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*line).rstrip() for line in [head, *body])


class _Feedback:
    """Progress of a run: a bar in a terminal, plain lines otherwise, and a heartbeat line at least every
    :data:`HEARTBEAT_SECONDS` of work (what is running, for how long; in a cell, the attack running, the samples
    still robust and the running robust accuracy)."""

    def __init__(self, log: TextIO, progress: bool, clock: Callable[[], float] = time.perf_counter) -> None:
        self.log, self.progress, self.clock = log, progress, clock
        self.interval = HEARTBEAT_SECONDS
        self._what = "starting"
        self._status = ""
        self._since = clock()
        self._last = self._since
        self._bar: Any = None
        self._total = 0
        self._done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> _Feedback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._bar is not None:
            self._bar.close()

    def _line(self, text: str) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.write(text, file=self.log)
            else:
                print(text, file=self.log, flush=True)
            self._last = self.clock()

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            self.beat()

    def beat(self) -> None:
        """Show what runs now: the bar's postfix, or a plain line when :data:`HEARTBEAT_SECONDS` passed since the
        last line."""
        now = self.clock()
        what = f"{self._what} {self._status}" if self._status else self._what
        with self._lock:
            if self._bar is not None:
                self._bar.set_postfix_str(f"{what} ({now - self._since:.0f}s)")
            elif now - self._last >= self.interval:
                print(f"... {what} ({now - self._since:.0f}s)", file=self.log, flush=True)
                self._last = now

    def phase(self, what: str) -> None:
        """Name what the run does now."""
        self._what, self._status, self._since = what, "", self.clock()

    def cell_status(self, text: str) -> None:
        """The running cell's status (:data:`~robin_bench.bench.jobs.CellStatus`), shown at once on the bar and in
        the next heartbeat line."""
        self._status = text
        self.beat()

    def train_job(self, i: int, total: int, job: TrainJob, result: JobResult) -> None:
        """A component finished training."""
        self._line(
            f"[{i}/{total}] {job.label}: " + ("found finished" if result.cached else f"done ({result.seconds:.1f}s)")
        )
        self.phase(f"training: {i}/{total} components done")

    def start_cells(self, total: int) -> None:
        """Cells start."""
        self._total, self._done = total, 0
        if self.progress and total:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="cells", file=self.log, unit="cell")
        self.phase(f"cell 1/{total}")

    def cell_done(self, cell: CellPlan, result: JobResult) -> None:
        """A cell finished: its clean and robust accuracy."""
        self._done += 1
        text = _cell_line(self._done, self._total, cell, result.rows or [], result.seconds)
        if self._bar is not None:
            with self._lock:
                self._bar.set_postfix_str(text.split("] ", 1)[1])
                self._bar.update(1)
        else:
            self._line(text)
        self.phase(f"cell {self._done + 1}/{self._total}")


def _cell_line(i: int, total: int, cell: CellPlan, rows: Sequence[Mapping[str, Any]], seconds: float) -> str:
    worst = next((r for r in rows if r["attack"] == results.WORST_CASE), None)
    if worst is None:
        return f"[{i}/{total}] {cell.model} {cell.norm} eps={cell.eps:.4g}: no rows"
    coarse = worst.get("coarse_robust_acc")
    extra = f" coarse {coarse:.3f}" if isinstance(coarse, float) and coarse == coarse else ""
    return (
        f"[{i}/{total}] {cell.model} {cell.norm} eps={cell.eps:.4g}: clean {worst['clean_acc']:.3f} "
        f"robust {worst['robust_acc']:.3f}{extra} ({seconds:.1f}s)"
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False
