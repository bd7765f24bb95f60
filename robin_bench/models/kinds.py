"""The model-kind registry: what makes a flat, ROBIN or HAR model, asked by every consumer instead of a switch.

A kind says how to assemble a model from components of one architecture, which components are
trained independently (one training job each), how to train one component, whether it needs a
class hierarchy and what its output holds. Adding a kind is one :class:`ModelKind` registered here
(or in its own module) plus its trainer.

Example::

    >>> KINDS.get("robin").parts(model)
    ['arm0', 'arm1', ...]
    >>> KINDS.names()
    ['flat', 'robin', 'har']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from torch import Tensor, nn

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.har import HARClassifier
from robin_bench.models.robin import RobinClassifier
from robin_bench.models.vectorized import VectorizedRobin
from robin_bench.registry import Registry

if TYPE_CHECKING:
    from robin_bench.train.config import TrainConfig

Component = Callable[[int], nn.Module]
"""``component(n_outputs)``: one freshly initialised network of the model's architecture."""


@dataclass(frozen=True)
class ModelKind:
    """One kind of classifier.

    Attributes:
        name (str): the suite's ``kind:`` value.
        build (Callable): ``build(component, n_classes, hierarchy)`` -> the assembled model.
        parts (Callable): ``parts(model)`` -> names of the independently trained components.
        part (Callable): ``part(model, name)`` -> that component (an ``nn.Module`` inside ``model``).
        train (Callable): ``train(model, name, x, y, cfg, hierarchy)`` trains component ``name`` in place and
            returns its ``TrainReport``.
        needs_hierarchy (bool): the kind is built from a class hierarchy.
        output (str): ``"logits"`` or ``"log_probs"`` (what column i of the output holds).
        marker (str): matplotlib line style of the kind in plots.
        model_types (tuple[type, ...]): the module classes a model of this kind is an instance of; empty for the
            baseline kind, which is any other module (see :func:`kind_of`).
        baseline (bool): the kind is the flat baseline that leaderboards compare the others with.
    """

    name: str
    build: Callable[[Component, int, Hierarchy | None], nn.Module]
    parts: Callable[[nn.Module], list[str]]
    part: Callable[[nn.Module, str], nn.Module]
    train: Callable[[nn.Module, str, Tensor, Tensor, TrainConfig, Hierarchy | None], Any]
    needs_hierarchy: bool
    output: Literal["logits", "log_probs"]
    marker: str
    model_types: tuple[type, ...] = ()
    baseline: bool = False


KINDS: Registry[ModelKind] = Registry("model kind")


def register_kind(kind: ModelKind) -> ModelKind:
    """Register ``kind`` under its name (a name registered twice is a bug)."""
    return KINDS.register(kind.name)(kind)


def kind_names() -> list[str]:
    """Registered kind names in registration order."""
    return KINDS.names()


def kind_of(model: nn.Module) -> ModelKind:
    """The registered kind of ``model``: the first kind whose ``model_types`` it is an instance of, else the
    baseline kind (any other module is a flat classifier).

    Example::

        >>> kind_of(rb.build_model("robin", arch="mlp", in_shape=(1, 8, 8), n_classes=10)).name
        'robin'
    """
    for name in KINDS.names():
        kind = KINDS.get(name)
        if kind.model_types and isinstance(model, kind.model_types):
            return kind
    return baseline_kind()


def baseline_kind() -> ModelKind:
    """The registered baseline kind (``flat``)."""
    return next(KINDS.get(n) for n in KINDS.names() if KINDS.get(n).baseline)


def _no_part(model: nn.Module, name: str) -> RobinBenchError:
    return RobinBenchError(f"model of type {type(model).__name__} has no component {name!r}")


def _flat_part(model: nn.Module, name: str) -> nn.Module:
    if name != "model":
        raise _no_part(model, name)
    return model


def _train_flat(model: nn.Module, name: str, x: Tensor, y: Tensor, cfg: TrainConfig, h: Hierarchy | None) -> Any:
    from robin_bench.train import train_flat  # noqa: PLC0415  (train/ builds on models/, loaded when training)

    return train_flat(_flat_part(model, name), x, y, cfg, hierarchy=h)


def _robin_part(model: nn.Module, name: str) -> nn.Module:
    if not isinstance(model, RobinClassifier) or not name.startswith("arm") or not name[3:].isdigit():
        raise _no_part(model, name)
    return model.arms[int(name[3:])]


def _train_robin(model: nn.Module, name: str, x: Tensor, y: Tensor, cfg: TrainConfig, h: Hierarchy | None) -> Any:
    from robin_bench.train.decomposed import train_arm  # noqa: PLC0415

    return train_arm(_robin_part(model, name), x, y, int(name[3:]), cfg)


def _har_part(model: nn.Module, name: str) -> nn.Module:
    if isinstance(model, HARClassifier):
        if name == "coarse":
            return model.coarse
        if name.startswith("fine") and name[4:].isdigit():
            return model.fine[int(name[4:])]
    raise _no_part(model, name)


def _train_har(model: nn.Module, name: str, x: Tensor, y: Tensor, cfg: TrainConfig, h: Hierarchy | None) -> Any:
    from robin_bench.train.decomposed import train_har_coarse, train_har_fine  # noqa: PLC0415

    if h is None:
        raise RobinBenchError("a 'har' model is trained with a hierarchy; give the suite a 'hierarchy'")
    net = _har_part(model, name)
    if name == "coarse":
        return train_har_coarse(net, h, x, y, cfg)
    return train_har_fine(net, int(name[4:]), h, x, y, cfg)


def _robin_parts(model: nn.Module) -> list[str]:
    if not isinstance(model, RobinClassifier):
        raise RobinBenchError(f"a 'robin' model is a RobinClassifier, got {type(model).__name__}")
    return [f"arm{i}" for i in range(len(model.arms))]


def _har_parts(model: nn.Module) -> list[str]:
    if not isinstance(model, HARClassifier):
        raise RobinBenchError(f"a 'har' model is a HARClassifier, got {type(model).__name__}")
    return ["coarse", *(f"fine{z}" for z in range(len(model.fine)))]


def _build_har(component: Component, n_classes: int, hierarchy: Hierarchy | None) -> nn.Module:
    if hierarchy is None:
        raise RobinBenchError("model kind 'har' needs hierarchy= (a Hierarchy grouping the fine classes)")
    if hierarchy.n_fine != n_classes:
        raise RobinBenchError(
            f"hierarchy covers {hierarchy.n_fine} fine classes but n_classes={n_classes}; they must agree"
        )
    coarse = component(hierarchy.n_coarse)  # before the fine networks: the initialization order is part of the seed
    fine: Sequence[nn.Module] = [component(len(hierarchy.fine_classes(z))) for z in range(hierarchy.n_coarse)]
    return HARClassifier(coarse, fine, hierarchy)


register_kind(ModelKind(
    name="flat", build=lambda component, n, h: component(n), parts=lambda model: ["model"], part=_flat_part,
    train=_train_flat, needs_hierarchy=False, output="logits", marker="o-", baseline=True,
))
register_kind(ModelKind(
    name="robin", build=lambda component, n, h: RobinClassifier([component(1) for _ in range(n)]),
    parts=_robin_parts, part=_robin_part, train=_train_robin,
    needs_hierarchy=False, output="logits", marker="s-", model_types=(RobinClassifier, VectorizedRobin),
))
register_kind(ModelKind(
    name="har", build=_build_har, parts=_har_parts,
    part=_har_part, train=_train_har, needs_hierarchy=True, output="log_probs", marker="^-",
    model_types=(HARClassifier,),
))
