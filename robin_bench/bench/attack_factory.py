"""The one attack factory: suite entries -> attack objects, shared by suite validation and the runner.

An ``attacks:`` entry is either a registered attack (``attack: pgd`` with ``kwargs``) or a named
attack set (``set: NAME``) from :data:`ATTACK_SETS`. The factory injects what the suite knows and a
suite may not set (norm, eps, hierarchy, the seed, models named by ``surrogate``) and sets the
targeted mode under ``criterion: targeted``. Validation runs the same :func:`build_entry` on a
stand-in model at every (norm, eps) of the suite, so a suite that validates also builds.

A set is a callable ``make(model, *, norm, eps, hierarchy, criterion, seed, **options) -> dict[name,
attack]`` registered with ``ATTACK_SETS.register(name)``; a suite says ``attacks: NAME`` (or lists
``{set: NAME, kwargs: {...}}`` among explicit attacks, the kwargs being the set's options) and its rows
carry ``attack_set = NAME`` (``NAME(option=value, ...)`` with options, ``custom`` for explicit attacks,
joined by ``+`` for both). ``standard`` is :func:`robin_bench.attacks.standard_attacks`.

Example::

    >>> attacks = build_attacks(suite.attacks, model, norm="Linf", eps=0.1, criterion="fine",
    ...                         hierarchy=None, seed=0, model_of=models.__getitem__)
    >>> evaluate(model, x, y, attacks)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.standard import standard_attacks
from robin_bench.bench.schema import WORST_CASE, AttackSpec
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.registry import Registry, did_you_mean

CONTEXT_KWARGS: tuple[str, ...] = ("norm", "eps", "hierarchy")
"""Attack arguments the runner supplies from the cell and the suite; a suite may not set them."""
SET_CONTEXT_KWARGS: tuple[str, ...] = (*CONTEXT_KWARGS, "criterion", "seed")
"""Set arguments the runner supplies; a set's other keyword arguments are options a suite may set."""
MODEL_KWARGS: tuple[str, ...] = ("surrogate",)
"""Attack arguments whose suite value is the name of another model of the suite."""


ATTACK_SETS: Registry[Callable[..., Mapping[str, Any]]] = Registry("attack set")
"""Named attack sets a suite can ask for with ``attacks: NAME`` or ``{set: NAME}`` (signature: module docstring)."""


def register_attack_set(name: str) -> Callable[[Callable[..., Mapping[str, Any]]], Callable[..., Mapping[str, Any]]]:
    r"""Decorator registering an attack set ``make(model, *, norm, eps, hierarchy, criterion, seed, **options) ->
    {name: attack}`` as ``name`` (``rb.register_attack_set``), for suites (``attacks: name`` or
    ``{set: name, kwargs: {option: value}}``); rows carry ``attack_set = name``. A name already taken is a
    ``RobinBenchError``.

    Example::

        >>> @rb.register_attack_set("quick")
        ... def quick(model, *, norm, eps, hierarchy, criterion, seed, steps: int = 10):
        ...     return {"pgd": rb.attacks.PGD(model, norm=norm, eps=eps, steps=steps, seed=seed, criterion=criterion)}
    """
    return ATTACK_SETS.register(name)


register_attack_set("standard")(standard_attacks)


def stand_in(n_classes: int) -> nn.Module:
    """A stand-in model with ``n_classes`` outputs, to build attacks on before the real model exists (validation,
    cost estimates): construction reads the output size at most, never trained weights."""
    return nn.Sequential(nn.Flatten(), nn.Linear(1, n_classes))


def attack_parameters(cls: type) -> tuple[list[str], bool]:
    """Keyword arguments ``cls(model, *, ...)`` accepts, and whether it also takes ``**kwargs``."""
    params = list(inspect.signature(cls).parameters.values())[1:]
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return named, any(p.kind == p.VAR_KEYWORD for p in params)


def default(cls: type, name: str) -> Any:
    """The default of ``cls``'s argument ``name`` (``inspect.Parameter.empty`` when it has none or no such argument)."""
    p = inspect.signature(cls).parameters.get(name)
    return inspect.Parameter.empty if p is None else p.default


def settable_kwargs(cls: type, kwargs: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The arguments a suite may set on ``cls`` (a wrapper's base attack's too) and their annotations."""
    named, open_kwargs = attack_parameters(cls)
    annotations = _annotations(cls)
    base = kwargs.get("base", default(cls, "base"))
    if open_kwargs and isinstance(base, str) and base in ATTACKS:
        named += [n for n in attack_parameters(ATTACKS.get(base))[0] if n not in named]
        annotations = {**_annotations(ATTACKS.get(base)), **annotations}
    return [n for n in named if n not in CONTEXT_KWARGS], annotations


def check_kwargs(spec: AttackSpec, model_names: Sequence[str]) -> list[tuple[tuple[str, ...], str]]:
    """Mistakes in ``spec``'s name and keyword arguments as ``(key path inside the entry, problem)``: unknown
    attack or set, unknown arguments (with close matches), arguments the suite supplies, plain-typed values of
    the wrong type, models named by ``surrogate`` that the suite lacks."""
    if spec.set is not None:
        if spec.set not in ATTACK_SETS:
            return [(("set",), f"unknown attack set {spec.set!r}; {did_you_mean(spec.set, ATTACK_SETS.names())}")]
        make: Any = ATTACK_SETS.get(spec.set)
        name, context = f"attack set {spec.set!r}", SET_CONTEXT_KWARGS
        settable = [n for n in inspect.signature(make).parameters if n != "model" and n not in context]
        annotations = _annotations(make)
    else:
        name, context = str(spec.attack), CONTEXT_KWARGS
        if name not in ATTACKS:
            return [(("attack",), f"unknown attack {name!r}; {did_you_mean(name, ATTACKS.names())}")]
        settable, annotations = settable_kwargs(ATTACKS.get(name), spec.kwargs)
    problems: list[tuple[tuple[str, ...], str]] = []
    for key, value in spec.kwargs.items():
        if key in context:
            problems.append(
                (
                    ("kwargs", key),
                    f"{key!r} comes from the suite (threat_models / hierarchy / criterion / seed); remove it",
                )
            )
        elif key not in settable:
            problems.append((("kwargs", key), f"{name} has no argument {key!r}; {did_you_mean(key, settable)}"))
        elif key in MODEL_KWARGS and value not in model_names:
            problems.append(
                (
                    ("kwargs", key),
                    f"{key} must name a model of this suite; {did_you_mean(str(value), list(model_names))}",
                )
            )
        elif key not in MODEL_KWARGS and (expected := _type_mismatch(value, annotations.get(key))):
            problems.append((("kwargs", key), f"{name} argument {key} expects {expected}, got {value!r}"))
    return problems


def needs_hierarchy(spec: AttackSpec) -> bool:
    """Whether ``spec``'s attack cannot be built without a hierarchy."""
    if spec.attack is None or spec.attack not in ATTACKS:
        return False
    cls = ATTACKS.get(spec.attack)
    return "hierarchy" in attack_parameters(cls)[0] and default(cls, "hierarchy") is inspect.Parameter.empty


def build_entry(
    spec: AttackSpec,
    model: nn.Module,
    *,
    norm: str,
    eps: float,
    criterion: str,
    hierarchy: Hierarchy | None,
    seed: int,
    model_of: Callable[[str], nn.Module],
) -> dict[str, Any]:
    r"""The attacks of one ``attacks:`` entry on ``model`` at (``norm``, ``eps``), by name.

    A registered attack is constructed as ``cls(model, norm=, eps=, **kwargs)`` with the suite's
    hierarchy (where the class takes one), ``seed`` (where it takes one and the entry does not set it)
    and the models ``surrogate`` names (``model_of(name)``); under ``criterion="targeted"`` it is put in
    targeted mode. A set entry calls the set.

    Arguments:
        spec (AttackSpec): the entry.
        model (nn.Module): the attacked model (N, C, H, W) in [0, 1] -> (N, K).
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): the budget, in input units ([0, 1] pixels).
        criterion (str): ``"fine"``, ``"coarse"`` or ``"targeted"``.
        hierarchy (Hierarchy | None): the suite's hierarchy.
        seed (int): the suite's evaluation seed.
        model_of (Callable[[str], nn.Module]): the trained model of a suite model name.

    Raises:
        RobinBenchError: the attack rejects these arguments, or cannot run under ``criterion``.
    """
    options = {k: (model_of(str(v)) if k in MODEL_KWARGS else v) for k, v in spec.kwargs.items()}
    if spec.set is not None:
        try:
            made = dict(
                ATTACK_SETS.get(spec.set)(
                    model, norm=norm, eps=eps, hierarchy=hierarchy, criterion=criterion, seed=seed, **options
                )
            )
        except RobinBenchError:
            raise
        except (TypeError, ValueError) as e:
            raise RobinBenchError(
                f"attack set {spec.set!r} cannot be built at {norm} eps={eps:g} under criterion "
                f"{criterion!r} ({e.__class__.__name__}: {e})"
            ) from None
        return {_checked_name(n, f"attack set {spec.set!r}"): a for n, a in made.items()}
    name = str(spec.attack)
    cls = ATTACKS.get(name)
    named, _ = attack_parameters(cls)
    kwargs = dict(options)
    if "hierarchy" in named and hierarchy is not None:
        kwargs["hierarchy"] = hierarchy
    if "seed" in named:
        kwargs.setdefault("seed", seed)
    try:
        attack = cls(model, norm=norm, eps=eps, **kwargs)
        if criterion == "targeted":
            attack.set_mode_targeted_by_label(quiet=True)
    except RobinBenchError as e:
        raise RobinBenchError(f"{spec.label}: {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise RobinBenchError(
            f"{name} rejects these arguments at {norm} eps={eps:g} under criterion {criterion!r} "
            f"({e.__class__.__name__}: {e})"
        ) from None
    return {spec.label: attack}


def build_attacks(
    entries: Sequence[AttackSpec],
    model: nn.Module,
    *,
    norm: str,
    eps: float,
    criterion: str,
    hierarchy: Hierarchy | None,
    seed: int,
    model_of: Callable[[str], nn.Module],
) -> dict[str, Any]:
    """Every entry's attacks (:func:`build_entry`) in suite order; a name produced twice is a ``RobinBenchError``."""
    attacks: dict[str, Any] = {}
    for spec in entries:
        for name, attack in build_entry(
            spec, model, norm=norm, eps=eps, criterion=criterion, hierarchy=hierarchy, seed=seed, model_of=model_of
        ).items():
            if name in attacks:
                raise RobinBenchError(
                    f"attack name {name!r} produced twice (entry {spec.label!r}); give each attack a distinct 'name'"
                )
            attacks[name] = attack
    return attacks


def _checked_name(name: str, where: str) -> str:
    if name == WORST_CASE:
        raise RobinBenchError(f"{where} names an attack {WORST_CASE!r}, the worst-case row's name")
    return name


_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "None": (type(None),),
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
