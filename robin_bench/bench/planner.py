"""The planner: a validated suite -> the models to train or reuse and the cells to evaluate.

A *cell* is one model attacked at one (norm, eps) by every attack of the suite that applies to it,
judged as a per-sample worst case. Each model and each cell has a config hash over everything that
decides its numbers, so the store can tell what is already finished. Planning reads the store but
computes nothing.

Example::

    >>> plan = make_plan(load_suite("benchmarks/suites/demo.yaml"), Store("runs/demo"))
    >>> print(plan.describe())
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robin_bench import data as datasets
from robin_bench.bench.config import MODEL_KWARGS, AttackSpec, ModelSpec, Suite, train_config
from robin_bench.bench.results import cell_key
from robin_bench.bench.store import Store, config_hash

if TYPE_CHECKING:
    from robin_bench.attacks.threat import Norm

RECIPE_VERSION = 1
"""Bumped when the meaning of a cached model's recipe changes, so old caches are not reused."""


@dataclass(frozen=True)
class ModelPlan:
    """How one model of the suite is obtained.

    Attributes:
        spec (ModelSpec): the suite entry.
        key (str): config hash of its recipe (or of the checkpoint file's bytes).
        train (TrainConfig | None): hyperparameters when trained here.
        checkpoint (Path | None): the user's checkpoint, or the cached one when already trained.
    """

    spec: ModelSpec
    key: str
    train: Any
    checkpoint: Path | None

    @property
    def action(self) -> str:
        """``"load"`` (user checkpoint), ``"reuse"`` (cached) or ``"train"``."""
        if self.spec.checkpoint is not None:
            return "load"
        return "reuse" if self.checkpoint is not None else "train"

    @property
    def train_objective(self) -> str:
        """The training objective, or ``"checkpoint"`` for a loaded model."""
        return self.train.objective if self.train is not None else "checkpoint"

    @property
    def eps_train(self) -> float | None:
        """The training eps of an adversarial objective, else None."""
        return float(self.train.eps) if self.train is not None and self.train.adversarial else None


@dataclass(frozen=True)
class CellPlan:
    """One model x norm x eps evaluation.

    Attributes:
        model (str): model name.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): the budget.
        attacks (tuple[AttackSpec, ...]): the attacks that apply to the model, in suite order.
        key (str): the cell's file key (:func:`robin_bench.bench.results.cell_key`).
        hash (str): config hash over everything deciding the cell's numbers.
        done (bool): whether the store holds the finished cell with this hash.
    """

    model: str
    norm: Norm
    eps: float
    attacks: tuple[AttackSpec, ...]
    key: str
    hash: str
    done: bool


@dataclass(frozen=True)
class Plan:
    """Models and cells of a suite, with what is already finished."""

    suite: Suite
    models: dict[str, ModelPlan]
    cells: list[CellPlan]

    @property
    def todo(self) -> list[CellPlan]:
        """Cells still to compute."""
        return [c for c in self.cells if not c.done]

    def needed_models(self) -> list[str]:
        """Models the unfinished cells need (attacked models and their transfer surrogates), in suite order."""
        needed = {c.model for c in self.todo}
        needed |= {str(a.kwargs[k]) for c in self.todo for a in c.attacks for k in MODEL_KWARGS if k in a.kwargs}
        return [n for n in self.models if n in needed]

    def describe(self) -> str:
        """The expanded plan as text (``robin-bench run --dry-run``)."""
        s = self.suite
        lines = [
            f"suite {s.name} ({s.source}) -> {s.output_dir}",
            f"dataset {s.dataset.name}: attack split {s.dataset.split!r}, n_examples {s.dataset.n_examples or 'all'}"
            + (f", hierarchy {s.hierarchy if isinstance(s.hierarchy, str) else 'groups'}" if s.hierarchy else ""),
            f"criterion {s.criterion}" + (" (+ coarse)" if s.hierarchy is not None and s.coarse and
                                           s.criterion == "fine" else "") + f", device {s.device}",
            f"models ({len(self.models)}):",
        ]
        for m in self.models.values():
            what = m.spec.checkpoint if m.action == "load" else (
                f"{m.train.objective} {m.train.norm} eps={m.train.eps:.4g}, {m.train.epochs} epochs"
                if m.train.adversarial else f"standard, {m.train.epochs} epochs")
            lines.append(f"  {m.action:6s} {m.spec.name} [{m.spec.kind} {m.spec.arch or ''}] {what} ({m.key})")
        lines.append(f"cells ({len(self.cells)}, {len(self.todo)} to run):")
        for c in self.cells:
            attacks = ", ".join(a.label for a in c.attacks)
            lines.append(f"  {'done' if c.done else 'run ':4s} {c.model} {c.norm} eps={c.eps:.4g}: {attacks}")
        return "\n".join(lines)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def model_recipe(suite: Suite, spec: ModelSpec, train: Any) -> dict[str, Any]:
    """Everything that decides a trained model's weights (hashed into its cache key)."""
    d = suite.dataset
    cfg = {k: v for k, v in train.to_dict().items() if k != "progress"}
    hierarchy = suite.get_hierarchy()
    uses_hierarchy = spec.kind == "har" or train.objective == "pgd_at_targeted"
    return {
        "recipe": RECIPE_VERSION,
        "dataset": {"name": d.name, "split": d.train_split, "n": d.n_train, "seed": d.seed, "classes": d.classes},
        "kind": spec.kind,
        "arch": spec.arch,
        "train": cfg,
        "hierarchy": hierarchy.to_dict() if uses_hierarchy and hierarchy is not None else None,
    }


def make_plan(suite: Suite, store: Store) -> Plan:
    """Expand ``suite`` into model plans and cells, marking what ``store`` already holds."""
    models: dict[str, ModelPlan] = {}
    augment = datasets.info(suite.dataset.name).augment
    for i, spec in enumerate(suite.models):
        if spec.checkpoint is not None:
            path = Path(os.path.expanduser(spec.checkpoint))
            models[spec.name] = ModelPlan(spec=spec, key=_file_digest(path), train=None, checkpoint=path)
            continue
        cfg = train_config(spec, source=f"{suite.source}: models[{i}].train", augment=augment)
        key = config_hash(model_recipe(suite, spec, cfg))
        models[spec.name] = ModelPlan(spec=spec, key=key, train=cfg, checkpoint=store.checkpoint_path(spec.name, key))
    hierarchy = suite.get_hierarchy()
    d = suite.dataset
    evaluation = {
        "data": {"name": d.name, "split": d.split, "n": d.n_examples, "seed": d.seed, "classes": d.classes},
        "criterion": suite.criterion,
        "coarse": suite.coarse and hierarchy is not None and suite.criterion == "fine",
        "hierarchy": hierarchy.to_dict() if hierarchy is not None else None,
        "early_exit": suite.early_exit,
        "seed": suite.seed,
        "sanity_check": suite.sanity_check,
        "arm_execution": suite.arm_execution,
    }
    cells: list[CellPlan] = []
    for spec in suite.models:
        mp = models[spec.name]
        attacks = tuple(a for a in suite.attacks if a.applies_to(spec, spec.kind))
        if not attacks:
            continue
        attack_cfg = [
            {"label": a.label, "attack": a.attack,
             "kwargs": {k: (models[str(v)].key if k in MODEL_KWARGS else v) for k, v in a.kwargs.items()}}
            for a in attacks
        ]
        for t in suite.threat_models:
            if t.models is not None and spec.name not in t.models:
                continue
            for eps in t.eps:
                h = config_hash({"model": mp.key, "norm": t.norm, "eps": eps, "attacks": attack_cfg, **evaluation})
                key = cell_key(suite.name, spec.name, t.norm, eps, suite.criterion)
                cells.append(CellPlan(model=spec.name, norm=t.norm, eps=eps, attacks=attacks, key=key, hash=h,
                                      done=store.cell(key, h) is not None))
    return Plan(suite=suite, models=models, cells=cells)
