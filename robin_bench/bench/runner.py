"""The runner: plan a suite, get each model from the cache or train it, attack every cell, write the results.

``run(suite)`` holds the output directory's lock for the whole run, computes only the cells the
store does not hold yet, records each finished cell before merging its rows into ``results.csv``,
and ends with the summary and plots. A run killed at any moment and started again finishes with
the same table as an uninterrupted one: every model and every cell is seeded on its own, so the
order in which they are computed does not change a number.

Example::

    >>> report = run(load_suite("benchmarks/suites/demo.yaml"))
    >>> report.computed, report.reused
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import Tensor, nn

from robin_bench.bench import executors, results
from robin_bench.bench.config import MODEL_KWARGS, Suite, attack_parameters
from robin_bench.bench.executors import Executor
from robin_bench.bench.planner import CellPlan, ModelPlan, Plan, make_plan
from robin_bench.bench.store import RunLock, Store
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models import RobinClassifier
from robin_bench.registry import did_you_mean


@dataclass
class RunReport:
    """What a run did.

    Attributes:
        out_dir (Path): the output directory.
        results_csv (Path): the merged results table.
        computed (list[str]): keys of the cells computed by this run.
        reused (list[str]): keys of the cells found finished.
        trained (list[str]): models trained by this run.
        seconds (float): wall-clock time of the run.
    """

    out_dir: Path
    results_csv: Path
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)
    seconds: float = 0.0


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; anything else as given (checked to exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RobinBenchError(f"device {name!r} requested but CUDA is not available; use device: cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RobinBenchError("device 'mps' requested but MPS is not available; use device: cpu or auto")
    return torch.device(name)


def plan(suite: Suite) -> Plan:
    """The expanded plan of ``suite`` against its output directory (no compute, no lock, no writes)."""
    return make_plan(suite, Store(suite.output_dir))


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
        names (Sequence[str] | None): the models wanted. (Default: None, every model of the suite)
        device (str | torch.device | None): where to put them. (Default: None, the suite's ``device``)
        log (TextIO | None): where training lines go. (Default: ``sys.stderr``)

    Returns:
        dict[str, nn.Module]: name -> model, in the order of ``names``.

    Raises:
        RobinBenchError: a name is not a model of the suite, or the output directory is locked by a live run.

    Example::

        >>> nets = models(load_suite("benchmarks/suites/demo.yaml"), ["mc"], device="cpu")
    """
    wanted = [m.name for m in suite.models] if names is None else list(names)
    known = [m.name for m in suite.models]
    for name in wanted:
        if name not in known:
            raise RobinBenchError(f"{name!r} is not a model of suite {suite.name}; {did_you_mean(name, known)}")
    out_dir = suite.output_dir
    with RunLock(out_dir):
        store = Store(out_dir)
        the_plan = make_plan(suite, store)
        dev = resolve_device(suite.device) if device is None else torch.device(device)
        ctx = _Context(suite, the_plan, store, dev, log if log is not None else sys.stderr, False,
                       RunReport(out_dir=out_dir, results_csv=out_dir / results.RESULTS_NAME))
        return {name: ctx.model(name) for name in wanted}


class _Context:
    """Data, hierarchy and models of one run, each loaded or trained at most once, on first use."""

    def __init__(self, suite: Suite, plan: Plan, store: Store, device: torch.device, log: TextIO,
                 progress: bool, report: RunReport) -> None:
        self.suite, self.plan, self.store, self.device = suite, plan, store, device
        self.log, self.progress, self.report = log, progress, report
        self.hierarchy: Hierarchy | None = suite.get_hierarchy()
        self._models: dict[str, nn.Module] = {}
        self._eval: tuple[Tensor, Tensor] | None = None
        self._train_data: tuple[Tensor, Tensor] | None = None

    def _load(self, split: str, n: int | None) -> tuple[Tensor, Tensor]:
        import robin_bench.data as datasets  # noqa: PLC0415

        d = self.suite.dataset
        x, y = datasets.load(d.name, split=split, root=d.root, n_examples=n, classes=d.classes, seed=d.seed)[:2]
        return x, y

    def eval_data(self) -> tuple[Tensor, Tensor]:
        """The attacked samples (``dataset.split``, ``n_examples``)."""
        if self._eval is None:
            self._eval = self._load(self.suite.dataset.split, self.suite.dataset.n_examples)
        return self._eval

    def train_data(self) -> tuple[Tensor, Tensor]:
        """The training samples (``dataset.train_split``, ``n_train``)."""
        if self._train_data is None:
            self._train_data = self._load(self.suite.dataset.train_split, self.suite.dataset.n_train)
        return self._train_data

    def model(self, name: str) -> nn.Module:
        """Model ``name``: loaded from the user's checkpoint or the cache, else trained and cached."""
        if name not in self._models:
            mp = self.plan.models[name]
            path = mp.checkpoint or self.store.checkpoint_path(mp.spec.name, mp.key)
            model = load_model(path) if path is not None else self._train(mp)
            self._models[name] = arm_execution(model.to(self.device).eval(), self.suite.arm_execution,
                                               self.eval_data()[0][:64].to(self.device))
        return self._models[name]

    def _train(self, mp: ModelPlan) -> nn.Module:
        model, kwargs, cfg = self.untrained(mp)
        print(f"training {mp.spec.name} ({mp.spec.kind} {mp.spec.arch}, {cfg.objective}, {cfg.epochs} epochs)",
              file=self.log, flush=True)
        t0 = time.perf_counter()
        reports = [executors.train_part(model, part, self, cfg) for part in executors.parts_of(model)]
        return self.cache_trained(mp, model, kwargs, [r.to_dict() for r in reports], time.perf_counter() - t0)

    def untrained(self, mp: ModelPlan) -> tuple[nn.Module, dict[str, Any], Any]:
        """Model ``mp`` initialized from its training seed on the run's device, its build kwargs and train config."""
        import robin_bench.data as datasets  # noqa: PLC0415
        from robin_bench.models.factory import build_model  # noqa: PLC0415

        d = self.suite.dataset
        x, y = self.train_data()
        info = datasets.info(d.name, root=d.root)
        n_classes = len(d.classes) if d.classes is not None else int(info.n_classes or int(y.max()) + 1)
        kwargs: dict[str, Any] = {
            "arch": mp.spec.arch, "in_shape": tuple(x.shape[1:]), "n_classes": n_classes,
            "hierarchy": self.hierarchy if mp.spec.kind == "har" else None, "mean": info.mean, "std": info.std,
        }
        cfg = mp.train.__class__.from_dict({**mp.train.to_dict(), "progress": True})  # bar on a terminal, else lines
        torch.manual_seed(cfg.seed)
        return build_model(mp.spec.kind, **kwargs).to(self.device), kwargs, cfg

    def cache_trained(
        self, mp: ModelPlan, model: nn.Module, kwargs: dict[str, Any], reports: list[dict[str, Any]], seconds: float
    ) -> nn.Module:
        """Save trained model ``mp`` (with its per-component report dicts and training seconds) into the store;
        returns the model, on CPU, in eval mode."""
        from robin_bench.models.checkpoint import save_checkpoint  # noqa: PLC0415
        from robin_bench.models.factory import model_spec  # noqa: PLC0415

        metrics = {"seconds": seconds, "reports": reports}
        model = model.cpu().eval()
        spec = model_spec(mp.spec.kind, **kwargs)
        self.store.save_model(mp.spec.name, mp.key, lambda p: save_checkpoint(
            model, p, spec=spec, train_config=mp.train.to_dict(), metrics=metrics))
        self.report.trained.append(mp.spec.name)
        return model


def arm_execution(model: nn.Module, how: str, example: Tensor) -> nn.Module:
    """``model``, with a ROBIN's arms run as one vmapped module when ``how`` is ``"vmap"``, or is ``"auto"``
    and a timing of both on ``example`` favours it (``choose_arm_execution``); other models unchanged."""
    from robin_bench.models.vectorized import VectorizedRobin, choose_arm_execution  # noqa: PLC0415

    if not isinstance(model, RobinClassifier) or how == "loop":
        return model
    if how == "auto" and choose_arm_execution(model, example) == "loop":
        return model
    return VectorizedRobin.from_robin(model).eval()


def load_model(path: Path) -> nn.Module:
    """A verified checkpoint's model (``RobinBenchError`` naming the file when verification fails)."""
    from robin_bench.models.checkpoint import load_checkpoint  # noqa: PLC0415

    return load_checkpoint(path)


def build_attacks(cell: CellPlan, model: nn.Module, ctx: _Context) -> dict[str, Any]:
    """The cell's attacks, constructed as ``cls(model, norm=, eps=, **kwargs)`` with the suite's context."""
    from robin_bench.attacks.registry import ATTACKS  # noqa: PLC0415

    attacks: dict[str, Any] = {}
    for spec in cell.attacks:
        cls = ATTACKS.get(spec.attack)
        named, _ = attack_parameters(cls)
        kwargs = {k: (ctx.model(str(v)) if k in MODEL_KWARGS else v) for k, v in spec.kwargs.items()}
        if "hierarchy" in named and ctx.hierarchy is not None:
            kwargs["hierarchy"] = ctx.hierarchy
        if "seed" in named:
            kwargs.setdefault("seed", ctx.suite.seed)
        attacks[spec.label] = cls(model, norm=cell.norm, eps=cell.eps, **kwargs)
        if ctx.suite.criterion == "targeted":
            attacks[spec.label].set_mode_targeted_by_label(quiet=True)
    return attacks


def _targets(y: Tensor, n_classes: int, seed: int) -> Tensor:
    """Uniform random targets other than the true label, seeded."""
    g = torch.Generator().manual_seed(seed)
    return (y + torch.randint(1, n_classes, y.shape, generator=g)) % n_classes


def evaluate_cell(cell: CellPlan, ctx: _Context) -> list[dict[str, Any]]:
    """Attack one cell (and judge it at coarse level too when the suite has a hierarchy); its results rows."""
    from robin_bench.attacks.evaluate import evaluate  # noqa: PLC0415

    suite, mp = ctx.suite, ctx.plan.models[cell.model]
    model = ctx.model(cell.model)
    x, y = ctx.eval_data()
    x, y = x.to(ctx.device), y.to(ctx.device)
    n_out = int(model(x[:1]).shape[1])
    targets = _targets(y.cpu(), n_out, suite.seed).to(ctx.device) if suite.criterion == "targeted" else None
    common: dict[str, Any] = {
        "batch_size": suite.batch_size, "early_exit": suite.early_exit, "hierarchy": ctx.hierarchy,
    }
    torch.manual_seed(suite.seed)
    result = evaluate(model, x, y, build_attacks(cell, model, ctx), criterion=suite.criterion, targets=targets,
                      **common)
    coarse = None
    if ctx.hierarchy is not None and suite.coarse and suite.criterion == "fine":
        torch.manual_seed(suite.seed)
        coarse = evaluate(model, x, y, build_attacks(cell, model, ctx), criterion="coarse", **common)
    meta: dict[str, Any] = {
        "suite": suite.name, "dataset": suite.dataset.name, "model": cell.model, "kind": mp.spec.kind,
        "arch": mp.spec.arch or "", "train_objective": mp.train_objective, "norm": cell.norm,
        "eps_train": mp.eps_train, "eps": cell.eps, "criterion": suite.criterion, "seed": suite.seed,
        "device": str(ctx.device), "config_hash": cell.hash,
    }
    if suite.sanity_check:
        from robin_bench.attacks.sanity import sanity_check  # noqa: PLC0415

        report = sanity_check(model, x, y, norm=cell.norm, eps=cell.eps)
        meta["unreliable"] = [f"{code}: {reason}" for code, reason in report.flags] or None
    rows = results.rows_for_cell(meta, result, coarse)
    flags_dir = ctx.store.out_dir / results.FLAGS_DIRNAME
    results.save_flags(flags_dir, cell.key, result)
    if coarse is not None:
        key = results.cell_key(suite.name, cell.model, cell.norm, cell.eps, "coarse")
        results.save_flags(flags_dir, key, coarse)
    return rows


def _cell_line(i: int, total: int, cell: CellPlan, rows: Sequence[Mapping[str, Any]], seconds: float) -> str:
    worst = next(r for r in rows if r["attack"] == results.WORST_CASE)
    coarse = worst.get("coarse_robust_acc")
    extra = f" coarse {coarse:.3f}" if isinstance(coarse, float) and coarse == coarse else ""
    return (f"[{i}/{total}] {cell.model} {cell.norm} eps={cell.eps:.4g}: clean {worst['clean_acc']:.3f} "
            f"robust {worst['robust_acc']:.3f}{extra} ({seconds:.1f}s)")


def run(
    suite: Suite,
    *,
    log: TextIO | None = None,
    progress: bool | None = None,
    after_cell: Callable[[CellPlan], None] | None = None,
    executor: Executor | None = None,
) -> RunReport:
    """Run ``suite``: train or reuse its models, evaluate every unfinished cell, write results, summary and plots.

    Arguments:
        suite (Suite): a validated suite (:func:`robin_bench.bench.config.load_suite`).
        log (TextIO | None): where progress lines go. (Default: ``sys.stderr``)
        progress (bool | None): progress bars (training epochs, cells) instead of one plain line per
            finished cell; None = only when ``log`` is a terminal. (Default: None)
        after_cell (Callable | None): called after each computed cell is stored (tests use it to
            interrupt a run). (Default: None)
        executor (Executor | None): runs the independent jobs (each model component's training, each
            cell) in worker processes or on Ray (:mod:`robin_bench.bench.executors`); None = one after
            the other in this process. Results are the same either way. (Default: None)

    Returns:
        RunReport: what was computed, reused and trained, and the wall time.

    Raises:
        RobinBenchError: the output directory is locked by another live run or not writable, data
            files are missing, ``n_examples`` exceeds the split, a checkpoint fails verification.
    """
    t0 = time.perf_counter()
    log = log if log is not None else sys.stderr
    progress = _isatty(log) if progress is None else progress
    out_dir = suite.output_dir
    csv_path = out_dir / results.RESULTS_NAME
    report = RunReport(out_dir=out_dir, results_csv=csv_path)
    with RunLock(out_dir):
        store = Store(out_dir)
        store.clean_temp()
        the_plan = make_plan(suite, store)
        device = resolve_device(suite.device)
        ctx = _Context(suite, the_plan, store, device, log, progress, report)
        if the_plan.todo:
            ctx.eval_data()
            for name in the_plan.needed_models():
                if the_plan.models[name].action == "load":
                    ctx.model(name)
                elif the_plan.models[name].action == "train":
                    ctx.train_data()
            if executor is not None:
                executors.train_models(executor, ctx, the_plan.needed_models())
        finished = [(c, store.cell(c.key, c.hash)) for c in the_plan.cells if c.done]
        done_rows = [r for _, rows in finished for r in rows or []]
        report.reused = [c.key for c, _ in finished]
        if done_rows:
            results.append_rows(csv_path, done_rows)
        todo = the_plan.todo
        bar = _bar(len(todo), progress, log)
        computed = executors.evaluate_cells(executor, ctx, todo) if executor is not None else _in_process(todo, ctx)
        for i, (cell, rows, seconds) in enumerate(computed, start=1):
            store.record_cell(cell.key, cell.hash, rows)
            results.append_rows(csv_path, rows)
            report.computed.append(cell.key)
            if bar is not None:
                bar.set_postfix_str(f"{cell.model} {cell.norm} eps={cell.eps:.4g}")
                bar.update(1)
            else:
                print(_cell_line(i, len(todo), cell, rows, seconds), file=log, flush=True)
            if after_cell is not None:
                after_cell(cell)
        if bar is not None:
            bar.close()
        _write_reports(out_dir, changed=bool(todo))
    report.seconds = time.perf_counter() - t0
    return report


def _in_process(cells: list[CellPlan], ctx: _Context) -> Iterator[tuple[CellPlan, list[dict[str, Any]], float]]:
    """Evaluate ``cells`` one after the other in this process; yield ``(cell, rows, seconds)``."""
    for cell in cells:
        t0 = time.perf_counter()
        rows = evaluate_cell(cell, ctx)
        yield cell, rows, time.perf_counter() - t0


def _write_reports(out_dir: Path, *, changed: bool) -> None:
    """summary.md and the eps plots, rewritten when a cell changed or they are missing."""
    if changed or not (out_dir / "summary.md").is_file():
        from robin_bench.bench import plots, summary  # noqa: PLC0415  (matplotlib: only when writing)

        summary.write_summary(out_dir)
        plots.plot_eps_curves(out_dir)


def _bar(total: int, progress: bool, log: TextIO) -> Any:
    if not progress or total == 0:
        return None
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(total=total, desc="cells", file=log, unit="cell")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False
