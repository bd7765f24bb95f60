"""The planner: a validated suite -> the models to train or reuse and the cells to evaluate.

A *cell* is one model attacked at one (norm, eps) by every attack of the suite that applies to it,
judged as a per-sample worst case. Each model and each cell has a config hash over everything that
decides its numbers (the suite's settings, the content of the files it reads and the code's versions:
:mod:`robin_bench.bench.provenance`), so the run folder can tell what is already finished. Planning reads the
run folder but computes nothing and writes nothing.

Example::

    >>> plan = make_plan(load_suite("benchmarks/suites/demo.yaml"), RunFolder("runs/demo"))
    >>> print(plan.describe())
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robin_bench import data as datasets
from robin_bench import plugins
from robin_bench.attacks.registry import ATTACKS
from robin_bench.bench.attack_factory import ATTACK_SETS, MODEL_KWARGS, build_entry, stand_in
from robin_bench.bench.provenance import Digests, provenance
from robin_bench.bench.schema import AttackSpec, ModelSpec, Suite
from robin_bench.bench.store import CellId, RunFolder, config_hash
from robin_bench.models.kinds import KINDS

if TYPE_CHECKING:
    from robin_bench.attacks.threat import Norm

RECIPE_VERSION = 1
"""Bumped when the meaning of a cached model's recipe changes, so old caches are not reused."""


@dataclass(frozen=True)
class ModelPlan:
    """How one model of the suite (one replicate, for a model with several seeds) is obtained.

    Attributes:
        spec (ModelSpec): the suite entry.
        key (str): config hash of its recipe (or of the checkpoint file's bytes).
        train (TrainConfig | None): hyperparameters when trained here (``seed`` = the replicate's seed).
        checkpoint (Path | None): the user's checkpoint, or the cached one when already trained.
        seed (int): the model's seed: its training seed, or the suite's seed for a loaded checkpoint.
        replicated (bool): the model has several seeds, so its id and flags keys carry the seed.
        memory (bool): the model is an in-memory module handed to :func:`robin_bench.bench.runner.run`.
    """

    spec: ModelSpec
    key: str
    train: Any
    checkpoint: Path | None
    seed: int = 0
    replicated: bool = False
    memory: bool = False

    @property
    def id(self) -> str:
        """The model's id in the plan: its name, ``name@seed`` for one replicate of several."""
        return f"{self.spec.name}@{self.seed}" if self.replicated else self.spec.name

    @property
    def action(self) -> str:
        """``"load"`` (the user's checkpoint or weights), ``"reuse"`` (cached) or ``"train"``."""
        if self.spec.loaded or self.memory:
            return "load"
        return "reuse" if self.checkpoint is not None else "train"

    @property
    def train_objective(self) -> str:
        """The training objective; ``"checkpoint"``, ``"weights"`` or ``"memory"`` for a model loaded from a checkpoint,
        the user's weights or handed in memory."""
        if self.memory:
            return "memory"
        if self.train is not None:
            return str(self.train.objective)
        return "weights" if self.spec.weights is not None else "checkpoint"

    @property
    def eps_train(self) -> float | None:
        """The training eps of an adversarial objective, else None."""
        return float(self.train.eps) if self.train is not None and self.train.adversarial else None


@dataclass(frozen=True)
class CellPlan:
    """One model x norm x eps evaluation.

    Attributes:
        model (str): the model's plan id (:attr:`ModelPlan.id`).
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): the budget.
        attacks (tuple[AttackSpec, ...]): the entries that apply to the model, in suite order.
        key (str): the cell's file key (:attr:`robin_bench.bench.store.CellId.key`).
        hash (str): config hash over everything deciding the cell's numbers.
        done (bool): whether the run folder holds the finished cell with this hash.
        coarse_key (str | None): flags key of the cell judged under the coarse criterion too, else None.
        grad_evals (int | None): model evaluations (gradients or queries) the attacks' recipes allow on the cell's
            samples before early exit (:func:`attacks_budget` x samples); None where it is unknown.
    """

    model: str
    norm: Norm
    eps: float
    attacks: tuple[AttackSpec, ...]
    key: str
    hash: str
    done: bool
    coarse_key: str | None = None
    grad_evals: int | None = None

    @property
    def flags_keys(self) -> tuple[str, ...]:
        """The flags files of the cell."""
        return (self.key,) if self.coarse_key is None else (self.key, self.coarse_key)


@dataclass(frozen=True)
class Plan:
    """Models and cells of a suite, with what is already finished, and the digests of the inputs they are keyed on
    (``inputs.changes()``: which inputs changed since the last run)."""

    suite: Suite
    models: dict[str, ModelPlan]
    cells: list[CellPlan]
    inputs: Digests

    @property
    def todo(self) -> list[CellPlan]:
        """Cells still to compute."""
        return [c for c in self.cells if not c.done]

    def surrogates(self, cell: CellPlan) -> list[str]:
        """Plan ids of the models ``cell``'s attacks name (transfer surrogates)."""
        return [
            self.model_id(str(a.kwargs[k]), self.models[cell.model].seed)
            for a in cell.attacks
            for k in MODEL_KWARGS
            if k in a.kwargs
        ]

    def model_id(self, name: str, seed: int | None = None) -> str:
        """The plan id of model ``name``: the replicate with ``seed`` where it has it, else its first."""
        return _id_of(self.models, name, seed)

    def needed_models(self) -> list[str]:
        """Models the unfinished cells need (attacked models and their transfer surrogates), in suite order."""
        needed = {c.model for c in self.todo} | {s for c in self.todo for s in self.surrogates(c)}
        return [n for n in self.models if n in needed]

    def describe(self, seconds_per_eval: Mapping[str, float] | None = None) -> str:
        """The expanded plan as text (``robin-bench run --dry-run``): models, cells with their attacks and cost in
        gradient evaluations, and the sanity checks and coarse evaluations each cell adds.

        Arguments:
            seconds_per_eval (Mapping[str, float] | None): measured seconds of one per-sample gradient evaluation
                of each model (plan id); when given, each cell's cost is also shown in estimated seconds.
        """
        per_eval = seconds_per_eval or {}
        s = self.suite
        coarse = s.hierarchy is not None and s.coarse and s.criterion == "fine"
        lines = [
            f"suite {s.name} ({s.source}) -> {s.output_dir}",
            f"dataset {s.dataset.name}: attack split {s.dataset.split!r}, n_examples {s.dataset.n_examples or 'all'}"
            + (f", hierarchy {s.hierarchy if isinstance(s.hierarchy, str) else 'groups'}" if s.hierarchy else ""),
            f"criterion {s.criterion}" + (" (+ coarse)" if coarse else "") + f", device {s.device}, "
            f"attack set {s.attack_set}",
            "plugins loaded: " + (", ".join(str(p) for p in plugins.loaded()) or "none"),
            f"models ({len(self.models)}):",
        ]
        for m in self.models.values():
            what = (
                ("in memory" if m.memory else m.spec.checkpoint or "your weights")
                if m.action == "load"
                else (
                    f"{m.train.objective} {m.train.norm} eps={m.train.eps:.4g}, {m.train.epochs} epochs"
                    if m.train.adversarial
                    else f"standard, {m.train.epochs} epochs"
                )
            )
            seed = f" seed {m.seed}" if m.replicated else ""
            lines.append(f"  {m.action:6s} {m.spec.name} [{m.spec.kind} {m.spec.arch or ''}]{seed} {what} ({m.key})")
        lines.append(f"cells ({len(self.cells)}, {len(self.todo)} to run):")
        for c in self.cells:
            attacks = ", ".join(a.label for a in c.attacks)
            cost = f"~{c.grad_evals:,} model evaluations" if c.grad_evals is not None else "cost unknown"
            if c.grad_evals is not None and c.model in per_eval:
                cost += f", ~{_duration(c.grad_evals * per_eval[c.model] * (2 if coarse else 1))}"
            lines.append(f"  {'done' if c.done else 'run ':4s} {c.model} {c.norm} eps={c.eps:.4g}: {attacks} ({cost})")
        todo = [c.grad_evals for c in self.todo]
        if todo:
            total = "unknown" if any(g is None for g in todo) else f"~{sum(g for g in todo if g is not None):,}"
            what = (
                "model evaluations to run: {} (each attack's budget: steps x restarts x targets, or queries, x "
                "attacked samples; an upper bound, before early exit{})"
            )
            lines.append(what.format(total, "; the coarse evaluation doubles it" if coarse else ""))
        lines.append(
            "per cell also: "
            + "; ".join(
                part
                for part in (
                    "the coarse criterion (fills coarse_* columns, same attacks)" if coarse else "",
                    "rb.sanity_check (zero or non-finite gradients, probability outputs, randomness, shattered "
                    "gradients, blind coordinates, convergence, eps monotonicity, FGSM vs PGD, gradient-free vs "
                    "gradient attacks; reasons go to 'unreliable')"
                    if s.sanity_check
                    else "",
                    "the per-sample masking comparison of the cell's own gradient-free and transfer attacks with its "
                    "gradient attacks; where an indicator is borderline, the survivors again at the sets' full budgets "
                    "(not counted above)",
                    f"rb.verify of every sample ({s.verify.time_limit:g} s each at most; verified_acc, unresolved"
                    f"{', coarse_verified_acc' if coarse else ''}; each sample's status in the flags file)"
                    if s.verify is not None
                    else "",
                )
                if part
            )
            if (coarse or s.sanity_check or s.verify is not None)
            else "per cell also: nothing (no coarse evaluation, no sanity check, no verification)"
        )
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def state_digest(model: Any) -> str:
    """sha256 (16 hex digits) of a module's class and state_dict: names, shapes, dtypes and bytes."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def data_digest(suite: Suite, digests: Digests) -> str:
    """The digest of the files the suite's dataset reads (:func:`robin_bench.data.input_files`; ``"absent"`` for a
    path not there, which loading the data reports)."""
    d = suite.dataset
    files: Sequence[Path] = datasets.input_files(d.name, root=d.root)
    parts = [
        digests.of(p, role=f"dataset {d.name}" + (f" #{i}" if len(files) > 1 else "")) if p.exists() else "absent"
        for i, p in enumerate(files)
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def model_recipe(suite: Suite, spec: ModelSpec, train: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Everything that decides a trained model's weights (hashed into its cache key); ``inputs`` holds the digest
    of the dataset's files (``"data"``) and the code versions (``"code"``, :func:`.provenance.provenance`)."""
    d = suite.dataset
    cfg = {k: v for k, v in train.to_dict().items() if k != "progress"}
    hierarchy = suite.get_hierarchy()
    uses_hierarchy = KINDS.get(spec.kind).needs_hierarchy or train.objective == "pgd_at_targeted"
    return {
        "recipe": RECIPE_VERSION,
        "dataset": {
            "name": d.name,
            "split": d.train_split,
            "n": d.n_train,
            "seed": d.seed,
            "classes": d.classes,
            "content": inputs["data"],
        },
        "code": inputs["code"],
        "kind": spec.kind,
        "arch": spec.arch,
        "train": cfg,
        "hierarchy": hierarchy.to_dict() if uses_hierarchy and hierarchy is not None else None,
        **_with_plugins(model_plugins(suite, spec)),
    }


def model_plugins(suite: Suite, spec: ModelSpec) -> list[dict[str, Any]]:
    """The plugins model ``spec`` comes from (its kind, architecture and dataset), as JSON records."""
    from robin_bench.models.archs import ARCHS

    origins = [KINDS.origin(spec.kind), ARCHS.origin(spec.arch or ""), datasets.DATASETS.origin(suite.dataset.name)]
    return _records(origins)


def attack_plugins(entries: tuple[AttackSpec, ...]) -> list[dict[str, Any]]:
    """The plugins the attacks of ``entries`` come from, as JSON records."""
    return _records(
        [ATTACKS.origin(a.attack) if a.attack is not None else ATTACK_SETS.origin(str(a.set)) for a in entries]
    )


def _records(origins: list[Any]) -> list[dict[str, Any]]:
    unique = {o.module: o.to_dict() for o in origins if o is not None}
    return list(unique.values())


def _with_plugins(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"plugins": records}`` where there are any: robin-bench's own models and cells keep the keys they had."""
    return {"plugins": records} if records else {}


def _weights_recipe(spec: ModelSpec, suite: Suite, digests: Digests) -> dict[str, Any]:
    """What decides a model loaded from the user's weights: the files' bytes, kind, architecture, normalization."""
    from robin_bench.models.weights import layout_paths

    paths = layout_paths(spec.weights) if spec.weights is not None else []
    return {
        "weights": [digests.of(p, role=f"weights of {spec.name} #{i}") for i, p in enumerate(paths)],
        "kind": spec.kind,
        "arch": spec.arch,
        "normalize": None if spec.normalize is None else spec.normalize.model_dump(),
        **_with_plugins(model_plugins(suite, spec)),
    }


def attacks_budget(suite: Suite, entries: tuple[AttackSpec, ...], n_classes: int | None) -> int | None:
    """Model evaluations per attacked sample that ``entries`` may spend on a model before early exit: the sum
    of each attack's :meth:`~robin_bench.attacks.Attack.budget`, the attacks built as the runner builds them (at the
    first threat model, on a stand-in with the dataset's classes: budgets do not depend on eps or weights); None
    when the class count is unknown or an attack (a third-party one) has no budget."""
    if n_classes is None:
        return None
    t = suite.threat_models[0]
    probe = stand_in(n_classes)
    total = 0
    for entry in entries:
        built = build_entry(
            entry,
            probe,
            norm=t.norm,
            eps=t.eps[0],
            criterion=suite.criterion,
            hierarchy=suite.get_hierarchy(),
            seed=suite.seed,
            model_of=lambda _name: probe,
        )
        for attack in built.values():
            if not hasattr(attack, "budget"):
                return None
            total += int(attack.budget(n_classes))
    return total


def _split_size(name: str, root: str | None, split: str) -> int:
    """Samples in a dataset split (0 when its files are not there to count)."""
    info = datasets.info(name, root=root) if root is None or Path(root).exists() else None
    if info is None or (info.needs_root and root is None):
        return 0
    return int(datasets.load(name, split=split, root=root)[1].shape[0])


def make_plan(suite: Suite, folder: RunFolder, memory: Mapping[str, Any] | None = None) -> Plan:
    """Expand ``suite`` into model plans (one per model and seed) and cells, marking what ``folder`` holds. Input
    files are hashed through the folder's digest cache (:meth:`RunFolder.digests`), which only the run saves.

    ``memory`` maps model names to in-memory modules that replace those entries (keyed by their weights' bytes)."""
    models: dict[str, ModelPlan] = {}
    augment = datasets.info(suite.dataset.name).augment
    digests = folder.digests()
    inputs = {"data": data_digest(suite, digests), "code": digests.code(provenance())}
    for spec in suite.models:
        if memory is not None and spec.name in memory:
            mp = ModelPlan(
                spec=spec,
                key=config_hash(
                    {"memory": state_digest(memory[spec.name]), **_with_plugins(model_plugins(suite, spec))}
                ),
                train=None,
                checkpoint=None,
                seed=suite.seed,
                memory=True,
            )
            models[mp.id] = mp
            continue
        if spec.checkpoint is not None:
            path = Path(os.path.expanduser(spec.checkpoint))
            key = digests.of(path, role=f"checkpoint of {spec.name}")[:16]
            mp = ModelPlan(spec=spec, key=key, train=None, checkpoint=path, seed=suite.seed)
            models[mp.id] = mp
            continue
        if spec.weights is not None:
            mp = ModelPlan(
                spec=spec,
                key=config_hash(_weights_recipe(spec, suite, digests)),
                train=None,
                checkpoint=None,
                seed=suite.seed,
            )
            models[mp.id] = mp
            continue
        seeds = suite.model_seeds(spec)
        for seed in seeds if seeds is not None else [None]:
            assert spec.train is not None  # neither loaded from memory, a checkpoint nor weights: trained
            cfg = spec.train.resolve(augment=augment, seed=seed)
            key = config_hash(model_recipe(suite, spec, cfg, inputs))
            mp = ModelPlan(
                spec=spec,
                key=key,
                train=cfg,
                checkpoint=folder.checkpoint_path(spec.name, key),
                seed=int(cfg.seed),
                replicated=seeds is not None and len(seeds) > 1,
            )
            models[mp.id] = mp
    hierarchy = suite.get_hierarchy()
    d = suite.dataset
    coarse = suite.coarse and hierarchy is not None and suite.criterion == "fine"
    evaluation = {
        "data": {
            "name": d.name,
            "split": d.split,
            "n": d.n_examples,
            "seed": d.seed,
            "classes": d.classes,
            "content": inputs["data"],
        },
        "code": inputs["code"],
        "criterion": suite.criterion,
        "coarse": coarse,
        "hierarchy": hierarchy.to_dict() if hierarchy is not None else None,
        "early_exit": suite.early_exit,
        "seed": suite.seed,
        "sanity_check": suite.sanity_check,
        "arm_execution": suite.arm_execution,
        **({"verify": suite.verify.model_dump()} if suite.verify is not None else {}),
    }
    info = datasets.info(d.name, root=d.root) if d.root is None or Path(d.root).exists() else None
    n_classes = len(d.classes) if d.classes is not None else (info.n_classes if info is not None else None)
    n = d.n_examples or _split_size(d.name, d.root, d.split)
    budgets: dict[tuple[int | str, ...], int | None] = {}
    cells: list[CellPlan] = []
    for mp in models.values():
        spec = mp.spec
        attacks = tuple(a for a in suite.attacks if a.applies_to(spec, spec.kind))
        if not attacks:
            continue
        attacks = _with_baseline_surrogate(attacks, models, spec)
        selected: tuple[int | str, ...] = (
            *(i for i, a in enumerate(suite.attacks) if a.applies_to(spec, spec.kind)),
            *(str(a.kwargs.get("surrogate", "")) for a in attacks),
        )
        attack_cfg = []
        for a in attacks:
            kwargs = {
                k: (models[_id_of(models, str(v), mp.seed)].key if k in MODEL_KWARGS else v)
                for k, v in a.kwargs.items()
            }
            source = {"label": a.label, "attack": a.attack} if a.set is None else {"set": a.set}
            attack_cfg.append({**source, "kwargs": kwargs, **_with_plugins(attack_plugins((a,)))})
        if selected not in budgets:  # the same entries (e.g. every seed of a model) cost the same: build them once
            budgets[selected] = attacks_budget(suite, attacks, n_classes)
        budget = budgets[selected]
        grad_evals = None if budget is None or not n else budget * n
        seed = mp.seed if mp.replicated else None
        for t in suite.threat_models:
            if t.models is not None and spec.name not in t.models:
                continue
            for eps in t.eps:
                h = config_hash({"model": mp.key, "norm": t.norm, "eps": eps, "attacks": attack_cfg, **evaluation})
                cell = CellId(suite.name, spec.name, t.norm, eps, suite.criterion, seed)
                key = cell.key
                coarse_key = cell.under("coarse").key if coarse else None
                flags = (key,) if coarse_key is None else (key, coarse_key)
                cells.append(
                    CellPlan(
                        model=mp.id,
                        norm=t.norm,
                        eps=eps,
                        attacks=attacks,
                        key=key,
                        hash=h,
                        done=folder.cell(key, h, flags) is not None,
                        coarse_key=coarse_key,
                        grad_evals=grad_evals,
                    )
                )
    return Plan(suite=suite, models=models, cells=cells, inputs=digests)


def _with_baseline_surrogate(
    entries: tuple[AttackSpec, ...], models: dict[str, ModelPlan], spec: ModelSpec
) -> tuple[AttackSpec, ...]:
    """``entries`` where every attack-set entry that takes a ``surrogate`` and names none transfers from the suite's
    first model of the baseline kind (the undefended twin every run has at hand: same data, no decomposition), unless
    ``spec`` is that model; the per-sample masking comparison then flags a cell where transfer from it breaks samples
    every gradient attack left robust (``black_box_stronger``)."""
    baseline = next((m.spec.name for m in models.values() if KINDS.get(m.spec.kind).baseline), None)
    if baseline is None or baseline == spec.name:
        return entries
    out = []
    for a in entries:
        if (
            a.set is not None
            and "surrogate" not in a.kwargs
            and "surrogate" in inspect.signature(ATTACK_SETS.get(a.set)).parameters
        ):
            a = a.model_copy(update={"kwargs": {**a.kwargs, "surrogate": baseline}})
        out.append(a)
    return tuple(out)


def _id_of(models: dict[str, ModelPlan], name: str, seed: int | None) -> str:
    ids = [i for i, m in models.items() if m.spec.name == name]
    same = [i for i in ids if models[i].seed == seed]
    return (same or ids)[0]
