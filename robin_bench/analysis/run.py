"""Running an analysis on a suite's models: ``robin-bench analyze NAME SUITE``.

The suite is run first (:func:`robin_bench.bench.runner.run`: it trains or reuses its models and
resumes finished cells), then the analysis loads the models it needs from the run's store and writes
``<output>/analysis/<name>.csv`` (+ ``<name>_summary.csv`` where the analysis has one) and
``<name>.png`` next to the run's ``results.csv``. Which models an analysis uses:

- ``coherence``: the first ``robin`` model and every ``flat`` model as the ensemble (the paper: 5).
- ``boundary``: the first ``robin`` model (its arm 0 is the binary classifier) and the first ``flat``.
- ``complexity``: trains its own MODEL[j] with the first ``flat`` model's arch and train config.
- ``two_stage``: the first ``har`` model's components, composed by argmax; the first ``flat`` as baseline.
- ``transfer``: the first ``robin`` model as victim, the first ``flat`` as surrogate.
- ``attack_sweep``: the first ``robin`` model; the first ``flat`` as baseline.
- ``convergence``: every trained model with ``train.val_fraction > 0``: its per-epoch validation curves,
  read from the training reports in its cached checkpoint.

In a suite with ``seeds`` the analyses of :data:`PER_SEED` run once per seed on that seed's models
(``name@seed``) and their CSVs get a ``seed`` column; ``coherence``'s ensemble is then every seed of
the first ``flat`` model.

Norm and eps come from the suite's first threat model (``boundary``: the suite's norms first, then the other
of L2 and Linf; the figure shows the first).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from torch import Tensor, nn

from robin_bench.analysis.attack_sweep import attack_sweep, plot_attack_sweep
from robin_bench.analysis.boundary import DEFAULT_EPS_MAX, boundary_distance, plot_distance, summarize_distance
from robin_bench.analysis.coherence import gradient_coherence, plot_coherence, summarize_coherence
from robin_bench.analysis.complexity import plot_complexity, summarize_complexity, task_complexity
from robin_bench.analysis.convergence import plot_convergence, summarize_convergence, training_curves
from robin_bench.analysis.io import ANALYSIS_DIRNAME, Plotter, section_table, write_analysis, write_section
from robin_bench.analysis.transfer import plot_transfer, transferability
from robin_bench.analysis.two_stage import TwoStageClassifier, plot_two_stage, two_stage_robustness
from robin_bench.bench.config import Suite, load_suite
from robin_bench.bench.summary import write_summary
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_text
from robin_bench.models.kinds import baseline_kind, is_baseline
from robin_bench.registry import did_you_mean

ANALYSES: tuple[str, ...] = (
    "coherence",
    "boundary",
    "complexity",
    "two_stage",
    "transfer",
    "attack_sweep",
    "convergence",
)
COMPLEXITY_REPEATS = 5
"""Default class orderings R of ``complexity`` (the paper: 20); small enough for a CPU."""


class _Run:
    """A finished run of a suite: its data and its models, loaded on demand."""

    def __init__(self, suite: Suite, *, repeats: int, seed: int | None = None) -> None:
        from robin_bench.bench import runner

        self.suite = suite
        self.repeats = repeats
        self.seed = seed
        self._models = runner.models
        self._loaded: dict[str, nn.Module] = {}

    def data(self, split: str, n: int | None) -> tuple[Tensor, Tensor]:
        import robin_bench.data as datasets

        d = self.suite.dataset
        x, y = datasets.load(d.name, split=split, root=d.root, n_examples=n, classes=d.classes, seed=d.seed)[:2]
        return x, y

    def eval_data(self) -> tuple[Tensor, Tensor]:
        return self.data(self.suite.dataset.split, self.suite.dataset.n_examples)

    def names(self, kind: str) -> list[str]:
        """The suite's models of ``kind`` (:data:`BASELINE`: of the baseline kind; their number was checked by
        :func:`_check_models`)."""
        return [m.name for m in self.suite.models if _is(m.kind, kind)]

    def model(self, name: str) -> nn.Module:
        """Model ``name`` of this run's seed (``name@seed``), or ``name`` as given (``"flat@3"``)."""
        if self.seed is not None and "@" not in name:
            name = f"{name}@{self.seed}"
        if name not in self._loaded:
            self._loaded.update(self._models(self.suite, [name], device="cpu"))
        return self._loaded[name]

    def flat_ensemble(self) -> list[nn.Module]:
        """Independently trained flat models: every flat model, or in a suite with seeds every seed of
        the first flat model (the same recipe, trained from different seeds, as ROBIN Section 6's ensemble)."""
        if self.suite.seeds:
            first = self.names(BASELINE)[0]
            return [self.model(f"{first}@{s}") for s in self.suite.seeds]
        return [self.model(n) for n in self.names(BASELINE)]

    def baseline(self) -> nn.Module | None:
        """The suite's first flat model, the multiclass baseline; None where it has none."""
        flats = self.names(BASELINE)
        return self.model(flats[0]) if flats else None

    def threat(self) -> tuple[str, list[float]]:
        t = self.suite.threat_models[0]
        return t.norm, [float(e) for e in t.eps]


BASELINE = "baseline"
"""Stands for the baseline kind (:func:`robin_bench.models.kinds.is_baseline`) where an analysis needs one."""


def _is(kind: str, wanted: str) -> bool:
    return is_baseline(kind) if wanted == BASELINE else kind == wanted


_NEEDS: dict[str, dict[str, int]] = {
    "coherence": {"robin": 1, BASELINE: 2},
    "boundary": {"robin": 1, BASELINE: 1},
    "complexity": {BASELINE: 1},
    "two_stage": {"har": 1},
    "transfer": {"robin": 1, BASELINE: 1},
    "attack_sweep": {"robin": 1},
    "convergence": {},
}
"""Models of each kind an analysis needs in the suite (see the module docstring for which it uses)."""


def _check_models(name: str, suite: Suite) -> None:
    """``RobinBenchError`` before any compute when ``suite`` lacks models that analysis ``name`` needs
    (each seed of a suite with ``seeds`` is a trained model)."""
    replicas = len(suite.seeds) if suite.seeds else 1
    for kind, need in _NEEDS[name].items():
        found = sum(_is(m.kind, kind) for m in suite.models) * replicas
        if found < need:
            what = baseline_kind().name if kind == BASELINE else kind
            raise RobinBenchError(
                f"analysis {name!r} needs {need} model(s) of kind {what!r} in suite {suite.name}, "
                f"found {found}; add them under 'models' (or more 'seeds')"
            )


def _check_validation(name: str, suite: Suite) -> None:
    """``RobinBenchError`` before any compute when ``convergence`` runs on a suite without a validation split."""
    if name == "convergence" and not any(m.train is not None and m.train.config.val_fraction for m in suite.models):
        raise RobinBenchError(
            f"analysis 'convergence' needs models trained with a validation split; set train.val_fraction "
            f"(e.g. 0.1) for at least one model of suite {suite.name}"
        )


def _coherence(r: _Run) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    robin = r.model(r.names("robin")[0])
    ensemble = r.flat_ensemble()
    x, y = r.eval_data()
    df = gradient_coherence(robin, ensemble, x, y)  # type: ignore[arg-type]
    return df, summarize_coherence(df)


def _boundary(r: _Run) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    robin = r.model(r.names("robin")[0])
    flat = r.model(r.names(BASELINE)[0])
    x, y = r.eval_data()
    norms = list(dict.fromkeys([*(t.norm for t in r.suite.threat_models), *DEFAULT_EPS_MAX]))
    df = boundary_distance(robin, flat, x, y, norms=norms, batch_size=r.suite.batch_size)  # type: ignore[arg-type]
    return df, summarize_distance(df)


def _complexity(r: _Run) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    import robin_bench.data as datasets

    spec = r.suite.model(r.names(BASELINE)[0])
    if spec.arch is None or spec.train is None:
        raise RobinBenchError(f"analysis 'complexity' trains models like {spec.name!r}, which has no 'arch'/'train'")
    d = r.suite.dataset
    info = datasets.info(d.name, root=d.root)
    cfg = spec.train.resolve(augment=info.augment)
    x_tr, y_tr = r.data(d.train_split, d.n_train)
    x_te, y_te = r.eval_data()
    norm, eps = r.threat()
    df = task_complexity(
        x_tr,
        y_tr,
        x_te,
        y_te,
        arch=spec.arch,
        cfg=cfg,
        norm=norm,
        eps=eps,
        repeats=r.repeats,
        seed=r.suite.seed,
        mean=info.mean,
        std=info.std,
        batch_size=r.suite.batch_size,
    )
    return df, summarize_complexity(df)


def _two_stage(r: _Run) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    har = r.model(r.names("har")[0])
    baseline = r.baseline()
    x, y = r.eval_data()
    norm, eps = r.threat()
    model = TwoStageClassifier.from_har(har)  # type: ignore[arg-type]
    return two_stage_robustness(model, x, y, norm=norm, eps=eps, baseline=baseline, batch_size=r.suite.batch_size), None


def _transfer(r: _Run) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    robin = r.model(r.names("robin")[0])
    flat = r.model(r.names(BASELINE)[0])
    x, y = r.eval_data()
    norm, eps = r.threat()
    return transferability(robin, flat, x, y, norm=norm, eps=eps, batch_size=r.suite.batch_size), None


def _attack_sweep(r: _Run) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    robin = r.model(r.names("robin")[0])
    baseline = r.baseline()
    x, y = r.eval_data()
    norm, eps = r.threat()
    return attack_sweep(robin, x, y, norm=norm, eps=eps, baseline=baseline, batch_size=r.suite.batch_size), None


def _convergence(r: _Run) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from robin_bench.bench.planner import make_plan
    from robin_bench.bench.store import RunFolder
    from robin_bench.models.checkpoint import read_sidecar

    store = RunFolder(r.suite.output_dir)
    names = [n for n, mp in make_plan(r.suite, store).models.items() if mp.train is not None and mp.train.val_fraction]
    for name in names:
        r.model(name)  # trained and cached if the run did not need it
    plan = make_plan(r.suite, store)
    histories = {}
    for name in names:
        path = plan.models[name].checkpoint
        metrics = read_sidecar(path).get("metrics") if path is not None else None
        if not metrics or "reports" not in metrics:
            raise RobinBenchError(f"model {name!r} of suite {r.suite.name} has no training reports in {path}")
        histories[name] = metrics["reports"]
    frame = training_curves(histories)
    return frame, summarize_convergence(frame)


_RUNNERS: dict[str, tuple[Callable[[_Run], tuple[pd.DataFrame, pd.DataFrame | None]], Plotter, str]] = {
    "coherence": (_coherence, plot_coherence, "Gradient coherence (ROBIN Figure 6)"),
    "boundary": (_boundary, plot_distance, "Distance to the decision boundary (ROBIN Figure 1)"),
    "complexity": (_complexity, plot_complexity, "Robustness vs task complexity (ROBIN Figure 3)"),
    "two_stage": (_two_stage, plot_two_stage, "Two-stage classifier attacks (ROBIN Figure 8)"),
    "transfer": (_transfer, plot_transfer, "Transfer from the multiclass model (ROBIN Figure 7)"),
    "attack_sweep": (_attack_sweep, plot_attack_sweep, "ROBIN attack strategies vs eps (ROBIN Figure 5)"),
    "convergence": (_convergence, plot_convergence, "Validation accuracy per epoch (training budgets)"),
}


PER_SEED: frozenset[str] = frozenset({"coherence", "boundary", "two_stage", "transfer", "attack_sweep"})
"""Analyses of a suite's trained models, run once per replicate seed of a suite with ``seeds`` (a ``seed``
column in their CSVs, the figure shows the first seed); ``complexity`` trains its own models and
``convergence`` reads every model's curves, so they run once."""


def _seed_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["seed", *(c for c in frame.columns if c != "seed")]]


def run(
    name: str,
    suite: str | os.PathLike[str] | Suite,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    repeats: int = COMPLEXITY_REPEATS,
) -> list[Path]:
    r"""Run analysis ``name`` on the models of ``suite`` and write its files next to the run's results.

    Writes ``<output>/analysis/<name>.csv``, ``<name>.png``, ``<name>_summary.csv`` (where the analysis
    has one) and ``<name>.md``, its section of ``<output>/summary.md``, then rewrites ``summary.md``:
    rerunning an analysis replaces its section.

    Arguments:
        name (str): one of :data:`ANALYSES`.
        suite (str | PathLike | Suite): a suite file or a loaded suite.
        out_dir (str | PathLike | None): the run's output directory (overrides the suite's ``output``).
            (Default: None)
        repeats (int): class orderings R of ``complexity`` (the paper: 20); other analyses ignore it.
            (Default: :data:`COMPLEXITY_REPEATS`, 5)

    Returns:
        list[Path]: the files written under ``<output>/analysis/``, then ``<output>/summary.md``.

    Example::

        >>> run("coherence", "benchmarks/suites/analysis_digits.yaml")
        [PosixPath('runs/analysis_digits/analysis/coherence.csv'), ...]
    """
    if name not in _RUNNERS:
        raise RobinBenchError(f"unknown analysis {name!r}; {did_you_mean(name, list(ANALYSES))}")
    loaded = suite if isinstance(suite, Suite) else load_suite(suite)
    loaded = loaded.with_output(out_dir)
    _check_models(name, loaded)
    _check_validation(name, loaded)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise RobinBenchError(f"repeats={repeats!r} class orderings for 'complexity'; give an integer >= 1")
    from robin_bench.bench import runner

    compute, plot, title = _RUNNERS[name]
    runner.run(loaded)
    seeds = list(loaded.seeds or []) if name in PER_SEED else []
    figure: Plotter = plot
    caption = f"{title}: {loaded.name}"
    if seeds:
        parts = [compute(_Run(loaded, repeats=repeats, seed=s)) for s in seeds]
        frame = _seed_first(
            pd.concat([f.assign(seed=s) for (f, _), s in zip(parts, seeds, strict=True)], ignore_index=True)
        )
        summaries = [m.assign(seed=s) for (_, m), s in zip(parts, seeds, strict=True) if m is not None]
        summary = _seed_first(pd.concat(summaries, ignore_index=True)) if summaries else None
        first = seeds[0]

        def first_seed(f: pd.DataFrame, ax: Any) -> None:
            plot(f[f["seed"] == first], ax)

        figure, caption = first_seed, f"{caption}, seed {first}"
    else:
        frame, summary = compute(_Run(loaded, repeats=repeats))
    folder = loaded.output_dir / ANALYSIS_DIRNAME
    written = list(write_analysis(frame, folder, name, figure, title=caption))
    if summary is not None:
        path = folder / f"{name}_summary.csv"
        atomic_write_text(path, summary.to_csv(index=False))
        written.append(path)
    written.append(write_section(folder, name, title=title, table=section_table(frame, summary)))
    written.append(write_summary(loaded.output_dir))
    return written
