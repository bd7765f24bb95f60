"""The suite schema: pydantic models of every key of a suite file (no I/O, no registry lookups beyond kinds).

Importing it loads no torch, and validating with ``context={STRUCTURE_ONLY: True}`` skips the one lookup that
needs it (model kinds): :func:`robin_bench.bench.config.parse_suite` reports a typo that way before torch loads.

:mod:`robin_bench.bench.config` parses YAML into these models; :mod:`robin_bench.bench.suite_checks`
cross-checks names and references; :mod:`robin_bench.bench.suite_errors` words the mistakes.

Example::

    >>> Suite.model_validate({...}).models[0].kind
    'flat'
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from robin_bench.errors import RobinBenchError
from robin_bench.limits import MAX_SEED
from robin_bench.plugins import check_module_name
from robin_bench.registry import did_you_mean
from robin_bench.train.config import TrainConfig

if TYPE_CHECKING:
    from robin_bench.hierarchy import Hierarchy

CUSTOM_SET = "custom"
"""The ``attack_set`` of rows produced by an explicit list of attacks."""
WORST_CASE = "worst_case"
"""The ``attack`` of a cell's per-sample worst-case row; no attack may take this name."""
BUILTIN_HIERARCHIES = ("cifar10", "cifar100")
"""Hierarchies a suite names by a string (``Hierarchy``'s class methods of these names)."""
STRUCTURE_ONLY = "structure_only"
"""Validation context key: check keys, types and values, but no registry (no torch)."""
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"^\s*({_NUMBER})\s*(?:/\s*({_NUMBER})\s*)?$")
MAX_NAME = 64
"""Longest suite, model or attack name: names become parts of file names, which hold at most 255 bytes."""
_SAFE_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}")


def parse_eps(value: object) -> float:
    """A perturbation budget from a number or a string ``"a"`` / ``"a/b"`` (``"8/255"``), without ``eval``.

    Raises:
        ValueError: for anything else, a non-finite value or a zero denominator.
    """
    if isinstance(value, bool):
        raise ValueError(f"eps {value!r} is not a number; write e.g. 0.1 or '8/255'")
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str) and (m := _FRACTION.match(value)):
        num, den = float(m.group(1)), float(m.group(2) or 1)
        if den == 0:
            raise ValueError(f"eps {value!r} divides by zero")
        out = num / den
    else:
        raise ValueError(f"eps {value!r} is not a number; write e.g. 0.1 or '8/255'")
    if not math.isfinite(out):
        raise ValueError(f"eps {value!r} is not finite")
    return out


Eps = Annotated[float, BeforeValidator(parse_eps)]


def _known_kind(value: object, info: ValidationInfo) -> object:
    if (info.context or {}).get(STRUCTURE_ONLY):
        return value
    from robin_bench.models.kinds import kind_names

    if isinstance(value, str) and value not in kind_names():
        raise ValueError(f"unknown model kind {value!r}; {did_you_mean(value, kind_names())}")
    return value


Kind = Annotated[str, BeforeValidator(_known_kind)]
"""A registered model kind (:data:`robin_bench.models.kinds.KINDS`)."""


def _distinct_seeds(v: list[int] | None) -> list[int] | None:
    if v is not None and len(set(v)) != len(v):
        raise ValueError(f"seeds {v} repeat a seed; each replicate needs its own seed")
    return v


Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
"""A seed torch accepts (:data:`robin_bench.limits.MAX_SEED`)."""
SeedList = list[Seed]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    """``dataset:``: what to train on and which samples to attack."""

    name: str
    root: str | None = None
    split: str = "test"
    n_examples: int | None = Field(default=None, ge=1)
    seed: Seed = 0
    classes: list[int] | None = None
    train_split: str = "train"
    n_train: int | None = Field(default=None, ge=1)

    @field_validator("classes")
    @classmethod
    def _distinct(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) < 2 or len(set(v)) != len(v)):
            raise ValueError(f"classes {v} must list at least 2 distinct class indices (or be omitted for all)")
        return v

    @field_validator("root")
    @classmethod
    def _expand(cls, v: str | None) -> str | None:
        return None if v is None else os.path.expandvars(os.path.expanduser(v))


class ThreatSpec(_Strict):
    """``threat_models[i]``: one norm and the eps values to attack at (one cell per model and eps)."""

    norm: Literal["Linf", "L2"]
    eps: list[Eps] = Field(min_length=1)
    models: list[str] | None = None

    @model_validator(mode="after")
    def _eps_range(self) -> ThreatSpec:
        seen: set[float] = set()
        for e in self.eps:
            if e in seen:
                raise ValueError(f"eps {e:g} is listed twice; each eps gives one cell")
            seen.add(e)
            if e < 0:
                raise ValueError(f"eps {e} is negative; a budget is >= 0")
            if self.norm == "Linf" and e > 1:
                raise ValueError(f"Linf eps {e:g} exceeds the [0, 1] input range; did you mean {e:g}/255?")
        return self


class VerifySpec(_Strict):
    """``verify:``: prove or break every sample of each cell with ``rb.verify`` beside the attacks."""

    time_limit: float = Field(gt=0)


_TRAIN_EPS_KEYS = ("eps", "alpha", "val_eps")
"""``train:`` keys that take a budget: a number or a string like ``"8/255"``."""


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """``models[i].train``: the model's training recipe, validated once, into a :class:`TrainConfig`.

    Arguments:
        config (TrainConfig): the keys the suite sets (budgets like ``"8/255"`` parsed) and
            :class:`TrainConfig`'s defaults for the rest, with ``progress`` off.
        sets_augment (bool): the suite sets ``augment``; otherwise it follows the dataset
            (``rb.datasets.info(name).augment``: random crop + flip for CIFAR, none for digits and MNIST).

    Example::

        >>> spec = TrainSpec.parse({"epochs": 20, "objective": "pgd_at", "eps": "8/255"})
        >>> spec.resolve(augment=True, seed=3).augment, spec.resolve(augment=True, seed=3).seed
        (True, 3)
    """

    config: TrainConfig
    sets_augment: bool

    @classmethod
    def parse(cls, value: object) -> TrainSpec:
        """The spec of a ``train:`` mapping; ``ValueError`` naming the first wrong key or value."""
        if isinstance(value, TrainSpec):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a mapping of training options (epochs, objective, eps, ...), got {value!r}")
        raw = {"progress": False, **value}
        for key in _TRAIN_EPS_KEYS:
            if raw.get(key) is not None:
                try:
                    raw[key] = parse_eps(raw[key])
                except ValueError as e:
                    raise ValueError(f"{key}: {e}") from None
        try:
            return cls(TrainConfig.from_dict(raw, source="train"), sets_augment="augment" in value)
        except RobinBenchError as e:
            raise ValueError(str(e)) from None

    def resolve(self, *, augment: bool, seed: int | None = None) -> TrainConfig:
        """The config one replicate trains with: ``augment`` is the dataset's default where the suite does not
        set it, and ``seed``, when given, replaces the suite's training seed."""
        changes: dict[str, Any] = {} if self.sets_augment else {"augment": augment}
        if seed is not None:
            changes["seed"] = seed
        return dataclasses.replace(self.config, **changes)


Weights = str | list[str] | dict[str, str | list[str]]
"""``weights:``: one file (flat), a list of files (ROBIN: one per arm, in class order) or a mapping of component
names to files or lists of files (HAR: ``{coarse: FILE, fine: [FILE, ...]}``)."""


class NormalizeSpec(_Strict):
    """``normalize:`` of a model loaded from ``weights``: per-channel mean and std applied before the user's
    module (none unless asked for)."""

    mean: list[float] = Field(min_length=1)
    std: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_length(self) -> NormalizeSpec:
        if len(self.mean) != len(self.std):
            raise ValueError(
                f"normalize has {len(self.mean)} means and {len(self.std)} stds; give one of each per input channel"
            )
        return self


class ModelSpec(_Strict):
    """``models[i]``: a model to train (``arch`` + ``train``), to load from a robin-bench ``checkpoint``, or to
    load from the user's own state_dict files (``arch`` + ``weights``, optionally ``normalize``)."""

    name: str
    kind: Kind
    arch: str | None = None
    train: Annotated[TrainSpec | None, BeforeValidator(lambda v: None if v is None else TrainSpec.parse(v))] = None
    checkpoint: str | None = None
    weights: Weights | None = None
    normalize: NormalizeSpec | None = None
    seeds: SeedList | None = Field(default=None, min_length=1)

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not _SAFE_NAME.fullmatch(v):
            raise ValueError(
                f"model name {v!r} must be 1 to {MAX_NAME} letters, digits, '_', '.' or '-' (it names files)"
            )
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int] | None) -> list[int] | None:
        return _distinct_seeds(v)

    @model_validator(mode="after")
    def _source(self) -> ModelSpec:
        if sum(v is not None for v in (self.train, self.checkpoint, self.weights)) != 1:
            raise ValueError(
                f"model {self.name!r} needs exactly one of 'train' (with 'arch'), 'checkpoint' (a "
                "robin-bench checkpoint) or 'weights' (your state_dict files, with 'arch')"
            )
        if self.arch is None and self.checkpoint is None:
            what = "trained" if self.train is not None else "built from its 'weights'"
            raise ValueError(f"model {self.name!r} is {what}, so it needs an 'arch'")
        if self.train is None and self.seeds is not None:
            raise ValueError(f"model {self.name!r} is loaded, not trained; 'seeds' are for trained models")
        if self.normalize is not None and self.weights is None:
            raise ValueError(
                f"model {self.name!r}: 'normalize' is for models loaded from 'weights' (trained models "
                "normalize with the dataset's statistics)"
            )
        return self

    @property
    def loaded(self) -> bool:
        """The model is loaded (``checkpoint`` or ``weights``), not trained."""
        return self.train is None


class AttackSpec(_Strict):
    """``attacks[i]``: a registered attack (``attack``, its keyword arguments) or a named attack set (``set``),
    and the models it applies to."""

    attack: str | None = None
    set: str | None = None
    name: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    kinds: list[Kind] | None = None
    models: list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AttackSpec:
        if (self.attack is None) == (self.set is None):
            raise ValueError(
                "an attacks entry needs exactly one of 'attack' (a registered attack) or 'set' (a named attack set)"
            )
        if self.set is not None and self.name is not None:
            raise ValueError(
                f"attack set {self.set!r} takes no 'name' (its attacks name themselves); list extra attacks separately"
            )
        if self.name is not None and not (0 < len(self.name) <= MAX_NAME and self.name.isprintable()):
            raise ValueError(
                f"attack name {self.name!r} must be 1 to {MAX_NAME} printable characters (no control "
                "characters or line breaks)"
            )
        if self.label == WORST_CASE:
            raise ValueError(
                f"an attack may not be named {WORST_CASE!r}: that name is the worst-case row; give it another 'name'"
            )
        return self

    @property
    def label(self) -> str:
        """The attack's name in results: ``name`` or the registry name (the set name for a set)."""
        return self.name or self.attack or str(self.set)

    @property
    def set_label(self) -> str:
        """A set entry's name in rows' ``attack_set``: the set name, with its options when given,
        e.g. ``standard(n_iter=10, n_queries=300)``."""
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.kwargs.items()))
        return f"{self.set}({options})" if options else str(self.set)

    def applies_to(self, model: ModelSpec, kind: str) -> bool:
        """Whether this attack runs on ``model`` of kind ``kind``."""
        return (self.kinds is None or kind in self.kinds) and (self.models is None or model.name in self.models)


def _set_name_to_list(value: object) -> object:
    """``attacks: NAME`` is short for ``attacks: [{set: NAME}]``."""
    return [{"set": value}] if isinstance(value, str) else value


class Suite(_Strict):
    """A validated suite file; see ``benchmarks/README.md`` for every key."""

    name: str
    description: str = ""
    dataset: DatasetSpec
    hierarchy: Any = None
    threat_models: list[ThreatSpec] = Field(min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    attacks: Annotated[list[AttackSpec], BeforeValidator(_set_name_to_list)] = Field(min_length=1)
    criterion: Literal["fine", "coarse", "targeted"] = "fine"
    coarse: bool = True
    sanity_check: bool = True
    arm_execution: Literal["loop", "vmap", "auto"] = "loop"
    device: str = "cpu"
    batch_size: int = Field(default=256, ge=1)
    early_exit: bool = True
    seed: Seed = 0
    output: str | None = None
    seeds: SeedList | None = Field(default=None, min_length=1)
    threads: int | None = Field(default=None, ge=1)
    plugins: list[str] = Field(default_factory=list)
    verify: VerifySpec | None = None
    _source: str = PrivateAttr(default="<suite>")

    @property
    def source(self) -> str:
        """The file the suite came from (for error messages)."""
        return self._source

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int] | None) -> list[int] | None:
        return _distinct_seeds(v)

    @model_validator(mode="after")
    def _verified_criterion(self) -> Suite:
        if self.verify is not None and self.criterion == "targeted":
            raise ValueError(
                "verify proves the fine and coarse criteria, not 'targeted'; drop verify or change the criterion"
            )
        return self

    @field_validator("plugins")
    @classmethod
    def _modules(cls, v: list[str]) -> list[str]:
        for name in v:
            check_module_name(name, "plugins entry")
        return v

    @field_validator("hierarchy")
    @classmethod
    def _groups(cls, v: Any) -> Any:
        ok = (
            v is None
            or isinstance(v, str)
            or (isinstance(v, dict) and all(isinstance(g, list) for g in v.values()))
            or (isinstance(v, list) and all(isinstance(g, list) for g in v))
        )
        if not ok:
            raise ValueError(
                f"hierarchy {v!r} is not a built-in name (cifar10, cifar100), a mapping "
                "name -> [fine classes] or a list of groups"
            )
        return v

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not _SAFE_NAME.fullmatch(v):
            raise ValueError(
                f"suite name {v!r} must be 1 to {MAX_NAME} letters, digits, '_', '.' or '-' (it names files)"
            )
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.match(r"^(cpu|auto|cuda(:\d+)?|mps)$", v):
            raise ValueError(f"device {v!r} is not one of cpu, cuda, cuda:N, mps, auto")
        return v

    def get_hierarchy(self) -> Hierarchy | None:
        """The suite's hierarchy object, or None."""
        from robin_bench.hierarchy import Hierarchy

        if self.hierarchy is None:
            return None
        if isinstance(self.hierarchy, str):
            return getattr(Hierarchy, self.hierarchy)()
        return Hierarchy.from_groups(self.hierarchy)

    def model(self, name: str) -> ModelSpec:
        """The model spec called ``name``."""
        for m in self.models:
            if m.name == name:
                return m
        raise RobinBenchError(f"no model {name!r} in suite {self.name}; {did_you_mean(name, self.model_names())}")

    def model_seeds(self, model: ModelSpec) -> list[int] | None:
        """The replicate seeds of ``model``: its own ``seeds``, else the suite's (trained models only), else None."""
        if model.loaded:
            return None
        return model.seeds if model.seeds is not None else self.seeds

    @property
    def attack_set(self) -> str:
        """What produced the suite's rows: the set name(s), ``"custom"`` for explicit attacks, joined by ``+``."""
        sets = list(dict.fromkeys(a.set_label for a in self.attacks if a.set is not None))
        explicit = [CUSTOM_SET] if any(a.set is None for a in self.attacks) else []
        return "+".join(sets + explicit)

    def model_names(self) -> list[str]:
        """Names of the suite's models in file order."""
        return [m.name for m in self.models]

    @property
    def output_dir(self) -> Path:
        """Where the run writes: ``output`` or ``runs/<name>`` (relative to the working directory)."""
        return Path(os.path.expanduser(self.output or os.path.join("runs", self.name)))

    def with_output(self, output: str | os.PathLike[str] | None) -> Suite:
        """A copy writing to ``output`` (unchanged when None)."""
        return self if output is None else self.model_copy(update={"output": os.fspath(output)})
