"""Suite files: the YAML schema of a benchmark run, validated before any compute.

A suite names a dataset, an optional class hierarchy, threat models (norm and eps list), the models
to train or load and the attacks to run. :func:`load_suite` parses the file, checks every key and
value with pydantic (an unknown key is an error that names the closest valid key) and every name
against the project's registries, and returns a :class:`Suite`. Every mistake raises
:class:`~robin_bench.errors.RobinBenchError` with one line: ``file:line: key.path: problem; what is valid``.

Example::

    >>> suite = load_suite("benchmarks/suites/demo.yaml")
    >>> [m.name for m in suite.models]
    ['mc', 'robin', 'har']
"""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.registry import did_you_mean

Kind = Literal["flat", "robin", "har"]
KINDS: tuple[str, ...] = ("flat", "robin", "har")
CONTEXT_KWARGS: tuple[str, ...] = ("norm", "eps", "hierarchy")
"""Attack arguments the runner supplies from the cell and the suite; a suite may not set them."""
MODEL_KWARGS: tuple[str, ...] = ("surrogate",)
"""Attack arguments whose suite value is the name of another model of the suite."""
BUILTIN_HIERARCHIES: dict[str, Any] = {"cifar10": Hierarchy.cifar10, "cifar100": Hierarchy.cifar100}
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"^\s*({_NUMBER})\s*(?:/\s*({_NUMBER})\s*)?$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    """``dataset:``: what to train on and which samples to attack."""

    name: str
    root: str | None = None
    split: str = "test"
    n_examples: int | None = Field(default=None, ge=1)
    seed: int = Field(default=0, ge=0)
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
        for e in self.eps:
            if e < 0:
                raise ValueError(f"eps {e} is negative; a budget is >= 0")
            if self.norm == "Linf" and e > 1:
                raise ValueError(f"Linf eps {e:g} exceeds the [0, 1] input range; did you mean {e:g}/255?")
        return self


class ModelSpec(_Strict):
    """``models[i]``: a model to train (``arch`` + ``train``) or to load (``checkpoint``)."""

    name: str
    kind: Kind
    arch: str | None = None
    train: dict[str, Any] | None = None
    checkpoint: str | None = None

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not _SAFE_NAME.match(v):
            raise ValueError(f"model name {v!r} must be letters, digits, '_', '.' or '-' (it names files)")
        return v

    @model_validator(mode="after")
    def _source(self) -> ModelSpec:
        if (self.train is None) == (self.checkpoint is None):
            raise ValueError(f"model {self.name!r} needs exactly one of 'train' (with 'arch') or 'checkpoint'")
        if self.train is not None and self.arch is None:
            raise ValueError(f"model {self.name!r} is trained, so it needs an 'arch'")
        return self


class AttackSpec(_Strict):
    """``attacks[i]``: a registered attack, its keyword arguments and the models it applies to."""

    attack: str
    name: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    kinds: list[Kind] | None = None
    models: list[str] | None = None

    @property
    def label(self) -> str:
        """The attack's name in results: ``name`` or the registry name."""
        return self.name or self.attack

    def applies_to(self, model: ModelSpec, kind: str) -> bool:
        """Whether this attack runs on ``model`` of kind ``kind``."""
        return (self.kinds is None or kind in self.kinds) and (self.models is None or model.name in self.models)


class Suite(_Strict):
    """A validated suite file; see ``benchmarks/README.md`` for every key."""

    name: str
    description: str = ""
    dataset: DatasetSpec
    hierarchy: Any = None
    threat_models: list[ThreatSpec] = Field(min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    attacks: list[AttackSpec] = Field(min_length=1)
    criterion: Literal["fine", "coarse", "targeted"] = "fine"
    coarse: bool = True
    sanity_check: bool = True
    arm_execution: Literal["loop", "vmap", "auto"] = "loop"
    device: str = "cpu"
    batch_size: int = Field(default=256, ge=1)
    early_exit: bool = True
    seed: int = Field(default=0, ge=0)
    output: str | None = None
    _source: str = PrivateAttr(default="<suite>")

    @property
    def source(self) -> str:
        """The file the suite came from (for error messages)."""
        return self._source

    @field_validator("hierarchy")
    @classmethod
    def _groups(cls, v: Any) -> Any:
        ok = (
            v is None or isinstance(v, str)
            or (isinstance(v, dict) and all(isinstance(g, list) for g in v.values()))
            or (isinstance(v, list) and all(isinstance(g, list) for g in v))
        )
        if not ok:
            raise ValueError(f"hierarchy {v!r} is not a built-in name (cifar10, cifar100), a mapping "
                             "name -> [fine classes] or a list of groups")
        return v

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not _SAFE_NAME.match(v):
            raise ValueError(f"suite name {v!r} must be letters, digits, '_', '.' or '-' (it names files)")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.match(r"^(cpu|auto|cuda(:\d+)?|mps)$", v):
            raise ValueError(f"device {v!r} is not one of cpu, cuda, cuda:N, mps, auto")
        return v

    def get_hierarchy(self) -> Hierarchy | None:
        """The suite's hierarchy object, or None."""
        if self.hierarchy is None:
            return None
        if isinstance(self.hierarchy, str):
            return BUILTIN_HIERARCHIES[self.hierarchy]()
        return Hierarchy.from_groups(self.hierarchy)

    def model(self, name: str) -> ModelSpec:
        """The model spec called ``name``."""
        for m in self.models:
            if m.name == name:
                return m
        raise RobinBenchError(f"no model {name!r} in suite {self.name}; {did_you_mean(name, self.model_names())}")

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


def demo_suite_path() -> Path:
    """Path of the packaged demo suite (``robin_bench/bench/suites/demo.yaml``)."""
    return Path(str(resources.files("robin_bench.bench").joinpath("suites", "demo.yaml")))


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read, parse and validate a suite file; raises ``RobinBenchError`` naming file, line and key on any mistake.

    Arguments:
        path (str | PathLike): the YAML file.

    Returns:
        Suite: validated; every dataset, architecture and attack name exists, attack keyword
        arguments match the attack's signature, and the hierarchy covers the dataset's classes.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RobinBenchError(f"suite file {path} not found; give the path of a .yaml suite") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RobinBenchError(f"suite file {path} cannot be read ({e.__class__.__name__}: {e})") from None
    return parse_suite(text, source=str(path), default_name=path.stem)


def parse_suite(text: str, *, source: str = "<suite>", default_name: str = "suite") -> Suite:
    """Validate suite YAML ``text``; ``source`` names it in error messages. See :func:`load_suite`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RobinBenchError(f"{where}: malformed YAML: {problem}; check indentation, colons and quotes") from None
    if not isinstance(data, dict):
        raise RobinBenchError(
            f"{source}: a suite is a mapping of keys (dataset, models, ...), got {type(data).__name__}"
        )
    lines = _LineMap(node)
    data.setdefault("name", default_name)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as e:
        errors = sorted(e.errors(), key=lambda err: err["type"] != "extra_forbidden")
        raise RobinBenchError(_describe(errors[0], source, lines)) from None
    suite._source = source
    _check_names(suite, lines)
    return suite


class _LineMap:
    """Key path -> 1-based line number in the YAML text, from the composed node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._lines: dict[tuple[str | int, ...], int] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: tuple[str | int, ...]) -> None:
        self._lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                self._lines[(*loc, k.value)] = k.start_mark.line + 1
                self._walk(v, (*loc, k.value))
                self._lines[(*loc, k.value)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, (*loc, i))

    def line(self, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest known prefix of ``loc``."""
        loc = tuple(loc)
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return self._lines.get(())

    def where(self, source: str, loc: Sequence[str | int]) -> str:
        """``source:line: key.path`` for error messages."""
        line = self.line(loc)
        head = f"{source}:{line}" if line is not None else source
        return f"{head}: {_dotted(loc)}" if loc else head


def _dotted(loc: Sequence[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))


_MODELS: dict[str, type[BaseModel]] = {
    "dataset": DatasetSpec, "threat_models": ThreatSpec, "models": ModelSpec, "attacks": AttackSpec,
}


def _valid_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys valid at the mapping that holds ``loc[-1]``."""
    parent = [p for p in loc[:-1] if isinstance(p, str)]
    model: type[BaseModel] = _MODELS[parent[0]] if parent and parent[0] in _MODELS and len(parent) == 1 else Suite
    return list(model.model_fields)


def _describe(err: Mapping[str, Any], source: str, lines: _LineMap) -> str:
    """One line for the first pydantic error: where, what, and what would be valid."""
    loc = list(err["loc"])
    where = lines.where(source, loc)
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return f"{where}: unknown key {key!r}; {did_you_mean(key, _valid_keys(loc))}"
    if kind == "missing":
        return f"{where}: required key missing; add {str(loc[-1])!r}"
    if kind == "literal_error":
        return f"{where}: {value!r} is not valid; {msg[len('Input should be '):] if msg.startswith('Input') else msg}"
    msg = msg.removeprefix("Value error, ")
    if kind == "value_error":
        return f"{where}: {msg}"
    return f"{where}: {msg.replace('Input should', 'expected to')}, got {value!r}"


def _check_names(suite: Suite, lines: _LineMap) -> None:
    """Registry names, cross references, the hierarchy, train configs and attack signatures."""
    import robin_bench as rb  # noqa: PLC0415 - the registries load only after the schema passed
    from robin_bench.models.archs import ARCHS  # noqa: PLC0415

    datasets = rb.datasets

    def fail(loc: Sequence[str | int], problem: str) -> RobinBenchError:
        return RobinBenchError(f"{lines.where(suite.source, loc)}: {problem}")

    names = datasets.names()
    if suite.dataset.name not in names:
        hint = did_you_mean(suite.dataset.name, names)
        raise fail(("dataset", "name"), f"unknown dataset {suite.dataset.name!r}; {hint}")
    info = datasets.info(suite.dataset.name)
    if info.needs_root and suite.dataset.root is None:
        raise fail(("dataset",), f"dataset {suite.dataset.name!r} is read from files; add 'root: <data directory>'")
    if info.n_classes is None and suite.dataset.root is not None:
        if not Path(suite.dataset.root).is_file():
            raise fail(("dataset", "root"), f"dataset {suite.dataset.name!r} reads its classes from its file, but "
                       f"{suite.dataset.root} is not a file; give the path of the data file")
        try:
            info = datasets.info(suite.dataset.name, root=suite.dataset.root)
        except RobinBenchError as e:
            raise fail(("dataset", "root"), str(e)) from None
    if info.n_classes is None:
        raise fail(("dataset",), f"the number of classes of dataset {suite.dataset.name!r} is unknown; "
                   "give 'root: <data file>'")
    total = info.n_classes
    n_classes = len(suite.dataset.classes) if suite.dataset.classes is not None else total
    for i, c in enumerate(suite.dataset.classes or []):
        if not 0 <= c < total:
            raise fail(("dataset", "classes", i),
                       f"class {c} out of range; {suite.dataset.name} has classes 0..{total - 1}")
    hierarchy = _check_hierarchy(suite, n_classes, fail)
    seen: set[str] = set()
    for i, m in enumerate(suite.models):
        if m.name in seen:
            raise fail(("models", i, "name"), f"model name {m.name!r} used twice; model names are unique")
        seen.add(m.name)
        if m.kind == "har" and hierarchy is None:
            raise fail(("models", i, "kind"), "a 'har' model needs a suite 'hierarchy' (cifar10, cifar100 or groups)")
        if m.arch is not None and m.arch not in ARCHS:
            raise fail(("models", i, "arch"), f"unknown architecture {m.arch!r}; {did_you_mean(m.arch, ARCHS.names())}")
        if m.train is not None:
            train_config(m, source=lines.where(suite.source, ("models", i, "train")), augment=info.augment)
        if m.checkpoint is not None and not Path(os.path.expanduser(m.checkpoint)).is_file():
            raise fail(("models", i, "checkpoint"),
                       f"checkpoint file {m.checkpoint} not found; give a saved .safetensors")
    for i, t in enumerate(suite.threat_models):
        _check_refs(t.models, seen, ("threat_models", i, "models"), fail)
    labels: set[str] = set()
    for i, a in enumerate(suite.attacks):
        if a.label in labels:
            raise fail(("attacks", i), f"attack name {a.label!r} used twice; give each a distinct 'name'")
        labels.add(a.label)
        _check_refs(a.models, seen, ("attacks", i, "models"), fail)
        check_attack(a, suite=suite, hierarchy=hierarchy, n_classes=n_classes,
                     fail=lambda loc, p, i=i: fail(("attacks", i, *loc), p))


def _check_hierarchy(suite: Suite, n_classes: int, fail: Any) -> Hierarchy | None:
    if isinstance(suite.hierarchy, str) and suite.hierarchy not in BUILTIN_HIERARCHIES:
        raise fail(("hierarchy",), f"unknown hierarchy {suite.hierarchy!r}; "
                   f"{did_you_mean(suite.hierarchy, list(BUILTIN_HIERARCHIES))} or a mapping of groups")
    try:
        hierarchy = suite.get_hierarchy()
    except RobinBenchError as e:
        raise fail(("hierarchy",), f"{e} (the dataset has {n_classes} classes: 0..{n_classes - 1})") from None
    if hierarchy is not None and hierarchy.n_fine != n_classes:
        raise fail(("hierarchy",), f"hierarchy covers classes 0..{hierarchy.n_fine - 1} but the dataset has "
                   f"{n_classes} classes; groups must cover exactly 0..{n_classes - 1}")
    if suite.criterion == "coarse" and hierarchy is None:
        raise fail(("criterion",), "criterion 'coarse' needs a suite 'hierarchy'")
    return hierarchy


def _check_refs(refs: list[str] | None, known: set[str], loc: tuple[str | int, ...], fail: Any) -> None:
    for j, r in enumerate(refs or []):
        if r not in known:
            raise fail((*loc, j), f"no model {r!r} in this suite; {did_you_mean(r, sorted(known))}")


def train_config(model: ModelSpec, *, source: str, augment: bool) -> Any:
    """The :class:`~robin_bench.train.TrainConfig` of a trained model spec (eps strings like ``"8/255"`` parsed).

    ``augment`` is the dataset's default (``rb.datasets.info(name).augment``: random crop + flip for
    CIFAR, none for digits and MNIST), used where the spec does not set ``augment`` itself.
    """
    from robin_bench.train.config import TrainConfig  # noqa: PLC0415

    raw = dict(model.train or {})
    try:
        if "eps" in raw:
            raw["eps"] = parse_eps(raw["eps"])
        if "alpha" in raw and raw["alpha"] is not None:
            raw["alpha"] = parse_eps(raw["alpha"])
    except ValueError as e:
        raise RobinBenchError(f"{source}: {e}") from None
    raw.setdefault("progress", False)
    raw.setdefault("augment", augment)
    try:
        return TrainConfig.from_dict(raw, source=source)
    except RobinBenchError as e:
        msg = str(e)
        raise RobinBenchError(msg if msg.startswith(source) else f"{source}: {msg}") from None


def attack_parameters(cls: type) -> tuple[list[str], bool]:
    """Keyword arguments ``cls(model, *, ...)`` accepts, and whether it also takes ``**kwargs``."""
    params = list(inspect.signature(cls).parameters.values())[1:]
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return named, any(p.kind == p.VAR_KEYWORD for p in params)


def check_attack(spec: AttackSpec, *, suite: Suite, hierarchy: Hierarchy | None, n_classes: int, fail: Any) -> None:
    """Check an attack spec against its class before any compute: name, keyword arguments (names with close
    matches, and types where the signature annotates a plain int/float/bool/str), references, and the values
    themselves, by constructing the attack at every (norm, eps) of the suite on a stand-in model with
    ``n_classes`` outputs (the constructors check ranges such as ``steps >= 1``)."""
    from robin_bench.attacks.registry import ATTACKS  # noqa: PLC0415

    if spec.attack not in ATTACKS:
        raise fail(("attack",), f"unknown attack {spec.attack!r}; {did_you_mean(spec.attack, ATTACKS.names())}")
    cls = ATTACKS.get(spec.attack)
    named, open_kwargs = attack_parameters(cls)
    annotations = _annotations(cls)
    if open_kwargs and isinstance(spec.kwargs.get("base", _default(cls, "base")), str):
        base = spec.kwargs.get("base", _default(cls, "base"))
        if base in ATTACKS:
            named += [n for n in attack_parameters(ATTACKS.get(base))[0] if n not in named]
            annotations = {**_annotations(ATTACKS.get(base)), **annotations}
    settable = [n for n in named if n not in CONTEXT_KWARGS]
    for key, value in spec.kwargs.items():
        if key in CONTEXT_KWARGS:
            raise fail(("kwargs", key), f"{key!r} comes from the suite (threat_models / hierarchy); remove it here")
        if key not in settable:
            raise fail(("kwargs", key), f"{spec.attack} has no argument {key!r}; {did_you_mean(key, settable)}")
        if key in MODEL_KWARGS and value not in suite.model_names():
            hint = did_you_mean(str(value), suite.model_names())
            raise fail(("kwargs", key), f"{key} must name a model of this suite; {hint}")
        if key not in MODEL_KWARGS and (expected := _type_mismatch(value, annotations.get(key))):
            raise fail(("kwargs", key), f"{spec.attack} argument {key} expects {expected}, got {value!r}")
    if "hierarchy" in named and hierarchy is None and _default(cls, "hierarchy") is inspect.Parameter.empty:
        raise fail(("attack",), f"attack {spec.attack!r} needs a suite 'hierarchy' (cifar10, cifar100 or groups)")
    _construct(cls, spec, suite=suite, hierarchy=hierarchy if "hierarchy" in named else None, n_classes=n_classes,
               fail=fail)


def _construct(cls: type, spec: AttackSpec, *, suite: Suite, hierarchy: Hierarchy | None, n_classes: int,
               fail: Any) -> None:
    """Build ``cls`` as the runner will, at every (norm, eps) of the suite, on a stand-in model (no compute)."""
    from torch import nn  # noqa: PLC0415

    probe = nn.Sequential(nn.Flatten(), nn.Linear(1, n_classes))
    kwargs = {k: (probe if k in MODEL_KWARGS else v) for k, v in spec.kwargs.items()}
    if hierarchy is not None:
        kwargs["hierarchy"] = hierarchy
    for t in suite.threat_models:
        for eps in t.eps:
            try:
                cls(probe, norm=t.norm, eps=eps, **kwargs)
            except RobinBenchError as e:
                raise fail(("kwargs",), str(e)) from None
            except (TypeError, ValueError) as e:
                raise fail(("kwargs",), f"{spec.attack} rejects these arguments at {t.norm} eps={eps:g} "
                                        f"({e.__class__.__name__}: {e})") from None


_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),),
}


def _annotations(cls: type) -> dict[str, Any]:
    return {name: p.annotation for name, p in inspect.signature(cls).parameters.items()}


def _type_mismatch(value: Any, annotation: Any) -> str | None:
    """What a plain annotation (``int``, ``float | None``, ...) expects when ``value`` does not fit it; None when it
    fits or the annotation is not plain (then the constructor is the judge)."""
    text = annotation.__name__ if isinstance(annotation, type) else annotation
    if not isinstance(text, str):
        return None
    names = [n.strip() for n in text.split("|")]
    if not all(n in _PLAIN_TYPES for n in names):
        return None
    for n in names:
        if isinstance(value, _PLAIN_TYPES[n]) and not (n in ("int", "float") and isinstance(value, bool)):
            return None
    return " or ".join("null" if n == "None" else n for n in names)


def _default(cls: type, name: str) -> Any:
    p = inspect.signature(cls).parameters.get(name)
    return inspect.Parameter.empty if p is None else p.default
