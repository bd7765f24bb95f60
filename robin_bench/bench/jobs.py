"""The job bodies of a run: train one model component, evaluate one cell. Nothing else computes.

A job is a small frozen value (the suite plus what it does) that any executor can ship to a worker
(:mod:`robin_bench.bench.executors`); its body opens the run's :class:`RunContext`, does the work,
writes its output into the run folder atomically and returns a :class:`JobResult`. A component job
finds its output there when it already ran; a cell job writes the cell's flags, then its record
(the record is the proof the cell is finished), exactly once.

Example::

    >>> result = run_cell_job(CellJob(suite, cell.key, threads=2))
    >>> result.rows[-1]["robust_acc"]
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import torch
from torch import Tensor, nn

from robin_bench.bench import results
from robin_bench.bench.attack_factory import build_attacks
from robin_bench.bench.context import RunContext
from robin_bench.bench.executors import Executor, InProcessExecutor
from robin_bench.bench.planner import CellPlan, ModelPlan, Plan, attack_plugins, model_plugins
from robin_bench.bench.schema import AttackSpec
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_bytes, atomic_write_text
from robin_bench.models.kinds import KINDS
from robin_bench.threads import set_threads
from robin_bench.train.progress import LOG_INTERVAL_S

if TYPE_CHECKING:
    from robin_bench.attacks.evaluate import EvalResult, ProgressHook
    from robin_bench.attacks.sanity import Evidence

CellStatus = Callable[[str], None]
"""``status(text)``: told what a cell job does now, e.g.
``mc Linf eps=0.1: apgd-t running | 62/100 still robust after apgd-ce, robust acc 0.620``."""


@dataclass(frozen=True)
class TrainJob:
    """Train component ``part`` (``"model"``, ``"arm<i>"``, ``"coarse"``, ``"fine<z>"``) of model ``model``
    (a plan id) of the run's ``plan``, with ``threads`` torch threads."""

    plan: Plan
    model: str
    part: str
    threads: int

    @property
    def label(self) -> str:
        """How the job appears on the log."""
        return f"train {self.model} {self.part}"


@dataclass(frozen=True)
class CellJob:
    """Evaluate the cell with key ``key`` of the run's ``plan`` with ``threads`` torch threads."""

    plan: Plan
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
        cached (bool): the run folder already held the job's output; nothing was computed.
        report (dict | None): a training job's ``TrainReport.to_dict()``.
        rows (list[dict] | None): a cell job's results rows.
    """

    seconds: float
    cached: bool
    report: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None


def run_train_job(job: TrainJob, ctx: RunContext | None = None) -> JobResult:
    """Train one component into the run folder's component cache, unless it is there already; ``ctx`` is the run's
    context when the job runs in the run's process, else (a worker) one is built from the job's plan."""
    from safetensors.torch import save

    set_threads(job.threads)
    ctx = ctx if ctx is not None else RunContext.of_plan(job.plan)
    mp = ctx.plan.models[job.model]
    weights, report_path = ctx.folder.component_paths(mp.spec.name, mp.key, job.part)
    cached = _cached_component(ctx, mp, job.part)
    if cached is not None:
        return JobResult(seconds=0.0, cached=True, report=cached)
    t0 = time.perf_counter()
    model, cfg = ctx.untrained(mp)
    kind = KINDS.get(mp.spec.kind)
    x, y = (t.to(ctx.device) for t in ctx.train_data())
    report = kind.train(model, job.part, x, y, cfg, ctx.hierarchy).to_dict()
    state = {k: v.detach().cpu().contiguous() for k, v in kind.part(model, job.part).state_dict().items()}
    atomic_write_bytes(weights, save(state))
    atomic_write_text(report_path, json.dumps(report))
    return JobResult(seconds=time.perf_counter() - t0, cached=False, report=report)


def _cached_component(ctx: RunContext, mp: ModelPlan, part: str) -> dict[str, Any] | None:
    """The training report of component ``part`` of ``mp`` when the component cache holds it, its report reads back
    and its weights load into the part; else None: a damaged cache is named on the log and trained again, as a
    damaged flags file is computed again."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    weights, report_path = ctx.folder.component_paths(mp.spec.name, mp.key, part)
    if not (weights.is_file() and report_path.is_file()):
        return None
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        if not isinstance(report, dict):
            raise ValueError("its report is not a JSON object")
        KINDS.get(mp.spec.kind).part(ctx.untrained(mp)[0], part).load_state_dict(load(weights.read_bytes()))
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as e:
        print(
            f"component cache {weights.parent.name}/{part} of {mp.id} is damaged ({e.__class__.__name__}); "
            "training it again",
            file=ctx.log,
            flush=True,
        )
        return None
    return report


def train_models(
    executor: Executor,
    ctx: RunContext,
    ids: Sequence[str],
    threads: int,
    on_job: Callable[[int, int, TrainJob, JobResult], None] | None = None,
) -> list[str]:
    """Train the models ``ids`` (plan ids) that are not cached yet, one job per component on ``executor``, then
    cache each assembled model in the run folder. Returns the ids trained.

    ``on_job(i, total, job, result)`` is called as each component finishes (the runner's log line).
    """
    import safetensors.torch

    todo = [ctx.plan.models[i] for i in ids if ctx.plan.models[i].action != "load"]
    todo = [mp for mp in todo if ctx.folder.checkpoint_path(mp.spec.name, mp.key) is None]
    if not todo:
        return []
    for mp in todo:
        print(
            f"training {mp.id} ({mp.spec.kind} {mp.spec.arch}, {mp.train.objective}, {mp.train.epochs} epochs)",
            file=ctx.log,
            flush=True,
        )
    untrained = {mp.id: ctx.untrained(mp)[0] for mp in todo}
    jobs = [
        TrainJob(ctx.plan, mp.id, part, threads)
        for mp in todo
        for part in KINDS.get(mp.spec.kind).parts(untrained[mp.id])
    ]
    done: dict[tuple[str, str], JobResult] = {}
    train = functools.partial(run_train_job, ctx=ctx) if isinstance(executor, InProcessExecutor) else run_train_job
    for i, (job, result) in enumerate(executor.map(train, jobs), start=1):
        done[(job.model, job.part)] = result
        if on_job is not None:
            on_job(i, len(jobs), job, result)
    for mp in todo:
        model, kind = untrained[mp.id], KINDS.get(mp.spec.kind)
        parts = kind.parts(model)
        for part in parts:
            weights, _ = ctx.folder.component_paths(mp.spec.name, mp.key, part)
            kind.part(model, part).load_state_dict(safetensors.torch.load(weights.read_bytes()))
        metrics = {
            "seconds": sum(done[(mp.id, p)].seconds for p in parts),
            "reports": [done[(mp.id, p)].report or {} for p in parts],
        }
        model = model.cpu().eval()
        spec = ctx.expected_spec(mp)
        ctx.folder.save_model(mp.spec.name, mp.key, _checkpoint_writer(model, spec, mp.train.to_dict(), metrics))
    return [mp.id for mp in todo]


def _checkpoint_writer(
    model: nn.Module, spec: dict[str, Any], recipe: dict[str, Any], metrics: dict[str, Any]
) -> Callable[[Path], None]:
    from robin_bench.models.checkpoint import save_checkpoint

    def write(path: Path) -> None:
        save_checkpoint(model, path, spec=spec, train_config=recipe, metrics=metrics)

    return write


class StatusLines:
    r"""A cell's status as plain lines (a job in a worker process, where no progress bar is): a line when at least
    ``interval`` seconds of ``clock`` passed since the previous one (or since the first status), so a long cell
    writes one line per ``interval`` at most, each naming the attack running, the samples still robust and the
    running robust accuracy. A line reads
    ``... mc Linf eps=0.1: apgd-t running | 62/100 still robust after apgd-ce, robust acc 0.620 (12s)``.

    Arguments:
        stream (TextIO): where lines go (flushed after each).
        interval (float): seconds between lines, >= 0. (Default: :data:`~robin_bench.train.progress.LOG_INTERVAL_S`)
        clock (Callable[[], float]): a monotonic clock in seconds. (Default: ``time.monotonic``)

    Example::

        >>> run_cell_job(job, status=StatusLines(sys.stderr))
    """

    def __init__(
        self, stream: TextIO, *, interval: float = LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream, self.interval, self.clock = stream, interval, clock
        self.start = self.last = clock()

    def __call__(self, text: str) -> None:
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            print(f"... {text} ({now - self.start:.0f}s)", file=self.stream, flush=True)


def _status_hook(label: str, names: Sequence[str], status: CellStatus) -> ProgressHook:
    """``evaluate``'s progress hook for one evaluation of a cell: tells ``status`` which attack runs now (the next
    one of ``names``), how many judged samples are still robust and the running robust accuracy."""
    order = list(names)

    def hook(attack: str, robust: int, judged: int, n: int) -> None:
        i = order.index(attack) + 1
        running = order[i] if i < len(order) else order[0] if judged < n else None
        head = f"{running} running" if running is not None else "attacks done"
        seen = f" | judged {judged}/{n}" if judged < n else ""
        acc = f"{robust / judged:.3f}" if judged else "-"
        status(f"{label}: {head} | {robust}/{judged} still robust after {attack}, robust acc {acc}{seen}")

    return hook


def _targets(y: Tensor, n_classes: int, seed: int) -> Tensor:
    """Uniform random targets other than the true label, seeded."""
    g = torch.Generator().manual_seed(seed)
    return (y + torch.randint(1, n_classes, y.shape, generator=g)) % n_classes


def evaluate_cell(cell: CellPlan, ctx: RunContext, status: CellStatus | None = None) -> list[dict[str, Any]]:
    """Attack one cell (and judge it at coarse level too when the plan says so), store its per-sample flags;
    its results rows. ``status`` (if given) is told after each attack on each batch what runs now."""
    from robin_bench.attacks.escalation import settle, undecided
    from robin_bench.attacks.evaluate import evaluate

    suite = ctx.suite
    mp: ModelPlan = ctx.plan.models[cell.model]
    model = ctx.model(cell.model)
    x, y = ctx.eval_data()
    x, y = x.to(ctx.device), y.to(ctx.device)
    n_out = int(model(x[:1]).shape[1])
    targets = _targets(y.cpu(), n_out, suite.seed).to(ctx.device) if suite.criterion == "targeted" else None
    common: dict[str, Any] = {
        "batch_size": suite.batch_size,
        "early_exit": suite.early_exit,
        "hierarchy": ctx.hierarchy,
        "norm": cell.norm,
        "eps": cell.eps,
    }

    def attacks(criterion: str, entries: Sequence[AttackSpec] = cell.attacks) -> dict[str, Any]:
        return build_attacks(
            entries,
            model,
            norm=cell.norm,
            eps=cell.eps,
            criterion=criterion,
            hierarchy=ctx.hierarchy,
            seed=suite.seed,
            model_of=lambda name: _surrogate(ctx, name, mp.seed),
        )

    label = f"{cell.model} {cell.norm} eps={cell.eps:.4g}"

    def hook(what: str, names: Sequence[str]) -> ProgressHook | None:
        if status is None or not names:
            return None
        status(f"{what}: {names[0]} running")
        return _status_hook(what, names, status)

    torch.manual_seed(suite.seed)
    fine_attacks = attacks(suite.criterion)
    result = evaluate(
        model,
        x,
        y,
        fine_attacks,
        criterion=suite.criterion,
        targets=targets,
        progress=hook(label, list(fine_attacks)),
        **common,
    )
    coarse = None
    if cell.coarse_key is not None:
        torch.manual_seed(suite.seed)
        coarse_attacks = attacks("coarse")
        coarse = evaluate(
            model,
            x,
            y,
            coarse_attacks,
            criterion="coarse",
            progress=hook(f"{label} coarse", list(coarse_attacks)),
            **common,
        )
    flags: list[tuple[str, str]] = []
    sanity: list[Evidence] = []
    if suite.sanity_check:
        from robin_bench.attacks.sanity import sanity_check
        from robin_bench.attacks.standard import RAYS_QUERIES

        if status is not None:
            status(f"{label}: sanity check running")
        rays = any(getattr(a, "attack", "") == "RayS" for a in fine_attacks.values())  # the cell's set ran it
        report = sanity_check(model, x, y, norm=cell.norm, eps=cell.eps, rays_queries=0 if rays else RAYS_QUERIES)
        flags += report.flags
        sanity = report.evidence

    def settled(res: EvalResult, cut: dict[str, Any], criterion: str) -> tuple[EvalResult, list[tuple[str, str]]]:
        if status is not None:
            status(f"{label}: masking checks ({criterion})")
        return settle(
            model,
            x,
            y,
            res,
            cut,
            lambda: attacks(criterion, _full_budget(cell.attacks)),
            sanity,
            criterion=criterion,
            targets=targets if criterion == suite.criterion else None,
            **common,
        )

    result, fine_flags = settled(result, fine_attacks, suite.criterion)
    flags = [*fine_flags, *flags, *undecided(sanity)]
    if coarse is not None:
        coarse, coarse_flags = settled(coarse, coarse_attacks, "coarse")
        flags += [(code, f"coarse criterion: {reason}") for code, reason in coarse_flags]
    meta: dict[str, Any] = {
        "suite": suite.name,
        "dataset": suite.dataset.name,
        "model": mp.spec.name,
        "seed": mp.seed,
        "kind": mp.spec.kind,
        "arch": mp.spec.arch or "",
        "train_objective": mp.train_objective,
        "norm": cell.norm,
        "eps_train": mp.eps_train,
        "eps": cell.eps,
        "attack_set": suite.attack_set,
        "criterion": suite.criterion,
        "device": str(ctx.device),
        "config_hash": cell.hash,
        "plugins": results.plugins_text([*model_plugins(suite, mp.spec), *attack_plugins(cell.attacks)]),
    }
    proof = coarse_proof = None
    if suite.verify is not None:
        if status is not None:
            status(f"{label}: verification running")
        limit = suite.verify.time_limit
        proof, missed = _verify_cell(model, x, y, cell, ctx, suite.criterion, result, limit)
        flags += missed
        if coarse is not None:
            coarse_proof, missed = _verify_cell(model, x, y, cell, ctx, "coarse", coarse, limit)
            flags += [(code, f"coarse criterion: {reason}") for code, reason in missed]
    meta["unreliable"] = [f"{code}: {reason}" for code, reason in flags] or None
    rows = results.rows_for_cell(meta, result, coarse, verified=proof, coarse_verified=coarse_proof)
    for key, evaluated, proved in ((cell.key, result, proof), (cell.coarse_key, coarse, coarse_proof)):
        if key is not None and evaluated is not None:
            ctx.folder.save_flags(
                key,
                evaluated,
                verify_status=proved.status if proved is not None else None,
                verify_stats=proved.solver_stats() if proved is not None else None,
            )
    return rows


def _verify_cell(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    cell: CellPlan,
    ctx: RunContext,
    criterion: str,
    attacked: EvalResult,
    time_limit: float,
) -> tuple[Any, list[tuple[str, str]]]:
    """``rb.verify`` of the cell's samples under ``criterion``, held against its attacked evaluation: a sample proven
    robust that an attack broke is an error (``cross_check``); those broken by proof yet called robust come back as
    ``attack_missed_verified`` flags."""
    from robin_bench.verification import cross_check, verify  # scipy and HiGHS, loaded when a suite verifies

    proof = verify(
        model, x, y, norm=cell.norm, eps=cell.eps, criterion=criterion, hierarchy=ctx.hierarchy, time_limit=time_limit
    )
    missed = cross_check(proof, attacked)
    if not missed:
        return proof, []
    shown = ", ".join(map(str, missed[:10])) + (", ..." if len(missed) > 10 else "")
    return proof, [
        (
            "attack_missed_verified",
            f"{len(missed)} samples broken by a verified counterexample are "
            f"called robust by the attacks (samples {shown})",
        )
    ]


BUDGET_CUTS: tuple[str, ...] = ("n_iter", "n_queries", "rays_queries")
"""Options of an attack set that cut its budgets; escalation drops them, so the set's full defaults apply
(AutoAttack's 100 iterations and 5000 queries, RayS's ``ESCALATED_RAYS_QUERIES``)."""

ESCALATED_RAYS_QUERIES = 5000
"""RayS's queries per sample at full budget (as Square's 5000)."""


def _full_budget(entries: Sequence[AttackSpec]) -> list[AttackSpec]:
    """The set entries of ``entries`` at full budgets (explicit attacks would only repeat their verdicts)."""
    import inspect

    from robin_bench.bench.attack_factory import ATTACK_SETS

    out = []
    for spec in entries:
        if spec.set is None:
            continue
        kwargs = {k: v for k, v in spec.kwargs.items() if k not in BUDGET_CUTS}
        if "rays_queries" in inspect.signature(ATTACK_SETS.get(spec.set)).parameters:
            kwargs["rays_queries"] = ESCALATED_RAYS_QUERIES
        out.append(spec.model_copy(update={"kwargs": kwargs}))
    return out


def _surrogate(ctx: RunContext, name: str, seed: int) -> nn.Module:
    return ctx.model(ctx.plan.model_id(name, seed))


def run_cell_job(job: CellJob, status: CellStatus | None = None, ctx: RunContext | None = None) -> JobResult:
    """Evaluate one cell and record it (flags, then the cell record) in the run folder, unless it is recorded.

    ``status`` is told what the cell does now after each attack on each batch (the runner's progress bar or
    heartbeat in this process); None = plain :class:`StatusLines` on ``sys.stderr`` (a job in a worker process).
    ``ctx`` is the run's context when the job runs in the run's process, else one is built from the job's plan.
    """
    set_threads(job.threads)
    ctx = ctx if ctx is not None else RunContext.of_plan(job.plan)
    cell = next((c for c in ctx.plan.cells if c.key == job.key), None)
    if cell is None:
        raise RobinBenchError(f"suite {job.plan.suite.name} has no cell {job.key!r}")
    done = ctx.folder.cell(cell.key, cell.hash, cell.flags_keys)
    if done is not None:
        return JobResult(seconds=0.0, cached=True, rows=done)
    t0 = time.perf_counter()
    rows = evaluate_cell(cell, ctx, status if status is not None else StatusLines(sys.stderr))
    ctx.folder.record_cell(cell.key, cell.hash, rows)
    return JobResult(seconds=time.perf_counter() - t0, cached=False, rows=rows)
