"""The model-kind registry: the one place that knows what makes a flat, ROBIN, HAR (or a plugin's) model.

A kind says how to assemble a model from components of one architecture, which components are trained
independently (one training job each, each saved and loaded as its own weights), how to train one component,
whether it needs a class hierarchy and what its output holds; and, for every consumer that used to ask
``isinstance``: whether it is the flat baseline that leaderboards compare the others with, which of the
papers' attacks apply (:attr:`ModelKind.paper_attacks`), which raw-score components the sanity checks
look at, how ART's ``fit`` splits it, its coarse view and its own hierarchy. Adding a kind is one
:class:`ModelKind` given to :func:`register_kind` (``rb.register_kind``), from robin-bench or from a plugin.

Example::

    >>> KINDS.get("robin").parts(model)
    ['arm0', 'arm1', ...]
    >>> kind_of(model).name
    'robin'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from torch import Tensor, nn

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.har import HARClassifier
from robin_bench.models.robin import RobinClassifier
from robin_bench.models.vectorized import VectorizedRobin, choose_arm_execution
from robin_bench.registry import Registry

if TYPE_CHECKING:
    from robin_bench.train.config import TrainConfig

Component = Callable[[int], nn.Module]
"""``component(n_outputs)``: one freshly initialised network of the model's architecture."""

Head = tuple[str, nn.Module, "int | None"]
"""``(name, module giving raw scores, fine index within a HAR group or None)``: one arm or head."""

FitJob = tuple[nn.Module, Tensor, Tensor, "Tensor | None"]
"""``(module, inputs, its labels, positives for balanced batches or None)``: one component of ART's ``fit``."""


def _logits_paper_attacks(model: nn.Module, common: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """ROBIN's six strategies (each over PGD): they read the output as per-class scores, so they apply to any
    model whose output columns are logits (the flat baseline too, where they are PGD variants)."""
    from robin_bench.attacks.robin import STRATEGIES, RobinAttack

    return {f"robin_{s}": RobinAttack(model, strategy=s, steps=steps, **common) for s in STRATEGIES}


def _log_prob_paper_attacks(model: nn.Module, common: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """PGD on cross-entropy: on log-probabilities it is the NLL of HAR's P(y|x) (HAR's own attack; ROBIN's
    strategies assume arm logits)."""
    from robin_bench.attacks.pgd import PGD

    return {"pgd_ce": PGD(model, steps=steps, loss="ce", **common)}


def _no_heads(model: nn.Module) -> list[Head]:
    return []


def _whole_fit(model: nn.Module, x: Tensor, y: Tensor, balanced: bool) -> list[FitJob]:
    return [(model, x, y, None)]


def _no_view(model: nn.Module) -> None:
    return None


def _same(model: nn.Module, how: str, example: Tensor) -> nn.Module:
    return model


@dataclass(frozen=True)
class ModelKind:
    """One kind of classifier.

    Attributes:
        name (str): the suite's ``kind:`` value.
        build (Callable): ``build(component, n_classes, hierarchy)`` -> the assembled model.
        parts (Callable): ``parts(model)`` -> names of the independently trained components, in a fixed order
            (the order of a ``weights:`` list).
        part (Callable): ``part(model, name)`` -> that component (an ``nn.Module`` inside ``model``).
        train (Callable): ``train(model, name, x, y, cfg, hierarchy)`` trains component ``name`` in place and
            returns its ``TrainReport``.
        needs_hierarchy (bool): the kind is built from a class hierarchy.
        output (str): ``"logits"`` or ``"log_probs"`` (what column i of the output holds).
        marker (str): matplotlib line style of the kind in plots.
        model_types (tuple[type, ...]): the module classes a model of this kind is an instance of; empty for the
            baseline kind, which is any other module (see :func:`kind_of`).
        baseline (bool): the kind is the flat baseline that leaderboards compare the others with.
        paper_attacks (Callable | None): ``paper_attacks(model, common, steps)`` -> ``{name: attack}``, the papers'
            attacks that apply to the kind, first in the standard set (``common``: norm, eps, seed, criterion).
            None: by ``output`` (logits: ROBIN's strategies; log-probabilities: PGD on cross-entropy).
        heads (Callable): ``heads(model)`` -> the arms or heads whose raw scores the sanity checks look at besides
            the output (a one-class head, constant by construction, left out). (Default: none)
        fit_jobs (Callable): ``fit_jobs(model, x, y, balanced)`` -> how ART's ``fit`` trains the model: one
            :data:`FitJob` per component. (Default: the whole model on ``(x, y)``)
        coarse_view (Callable): ``coarse_view(model)`` -> a function ``x -> (N, Z)`` coarse log-probabilities
            computed by the model's own coarse network, or None (coarse attacks then marginalize the fine output).
        hierarchy_of (Callable): ``hierarchy_of(model)`` -> the hierarchy the model was built with, or None.
        fast (Callable): ``fast(model, how, example)`` -> the model run as ``arm_execution`` says (``"loop"``,
            ``"vmap"``, ``"auto"``), numerically the same function. (Default: the model itself)
        verify_encoding (Callable | None): ``verify_encoding(model, in_shape)`` -> the model's
            :class:`~robin_bench.verification.encodings.Encoding` (its ReLU chains and margins) for ``rb.verify``;
            None: the kind cannot be verified. (Default: None)
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
    paper_attacks: Callable[[nn.Module, Mapping[str, Any], int], dict[str, Any]] | None = None
    heads: Callable[[nn.Module], list[Head]] = _no_heads
    fit_jobs: Callable[[nn.Module, Tensor, Tensor, bool], list[FitJob]] = _whole_fit
    coarse_view: Callable[[nn.Module], Callable[[Tensor], Tensor] | None] = _no_view
    hierarchy_of: Callable[[nn.Module], Hierarchy | None] = _no_view
    fast: Callable[[nn.Module, str, Tensor], nn.Module] = _same
    verify_encoding: Callable[[nn.Module, tuple[int, ...]], Any] | None = None

    def attacks_of_papers(self, model: nn.Module, common: Mapping[str, Any], steps: int) -> dict[str, Any]:
        """The papers' attacks that apply to this kind (see :attr:`paper_attacks`)."""
        if self.paper_attacks is not None:
            return self.paper_attacks(model, common, steps)
        make = _logits_paper_attacks if self.output == "logits" else _log_prob_paper_attacks
        return make(model, common, steps)


KINDS: Registry[ModelKind] = Registry("model kind")


def register_kind(kind: ModelKind) -> ModelKind:
    r"""Register model kind ``kind`` under ``kind.name`` (``rb.register_kind``).

    A name registered twice (by robin-bench and a plugin, or two plugins) is a ``RobinBenchError``. A kind
    registered by a plugin module is recorded with that plugin (module, distribution, version).

    Example::

        >>> rb.register_kind(rb.ModelKind(
        ...     name="ovo", build=build_pairs, parts=lambda m: [f"pair{i}" for i in range(len(m.pairs))],
        ...     part=lambda m, name: m.pairs[int(name[4:])], train=train_pair, needs_hierarchy=False,
        ...     output="logits", marker="d-", model_types=(PairwiseVote,)))
    """
    if not isinstance(kind, ModelKind):
        raise RobinBenchError(f"register_kind takes a robin_bench ModelKind, got {type(kind).__name__}")
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


def is_baseline(name: object) -> bool:
    """Whether kind ``name`` is the baseline; a kind unknown to this process (a plugin not installed where
    results are read back) is data, not an error: it is not the baseline."""
    return isinstance(name, str) and name in KINDS and KINDS.get(name).baseline


def _no_part(model: nn.Module, name: str) -> RobinBenchError:
    return RobinBenchError(f"model of type {type(model).__name__} has no component {name!r}")


def _flat_part(model: nn.Module, name: str) -> nn.Module:
    if name != "model":
        raise _no_part(model, name)
    return model


def _train_flat(model: nn.Module, name: str, x: Tensor, y: Tensor, cfg: TrainConfig, h: Hierarchy | None) -> Any:
    from robin_bench.train import train_flat  # train/ builds on models/, loaded when training

    return train_flat(_flat_part(model, name), x, y, cfg, hierarchy=h)


def _robin(model: nn.Module) -> RobinClassifier:
    if not isinstance(model, RobinClassifier):
        raise RobinBenchError(f"a 'robin' model is a RobinClassifier, got {type(model).__name__}")
    return model


def _robin_part(model: nn.Module, name: str) -> nn.Module:
    if not name.startswith("arm") or not name[3:].isdigit():
        raise _no_part(model, name)
    return _robin(model).arms[int(name[3:])]


def _train_robin(model: nn.Module, name: str, x: Tensor, y: Tensor, cfg: TrainConfig, h: Hierarchy | None) -> Any:
    from robin_bench.train.decomposed import train_arm

    return train_arm(_robin_part(model, name), x, y, int(name[3:]), cfg)


def _robin_heads(model: nn.Module) -> list[Head]:
    robin = model.to_robin() if isinstance(model, VectorizedRobin) else _robin(model)  # the same arms, one by one
    return [(f"arm {i}", arm, None) for i, arm in enumerate(robin.arms)]


def _robin_fit(model: nn.Module, x: Tensor, y: Tensor, balanced: bool) -> list[FitJob]:
    from robin_bench.train.decomposed import TwoClassView

    jobs: list[FitJob] = []
    for i, arm in enumerate(_robin(model).arms):
        bits = (y == i).long()
        if 0 < int(bits.sum()) < bits.numel() or not balanced:
            jobs.append((TwoClassView(arm), x, bits, bits.bool() if balanced else None))
    return jobs


def _robin_fast(model: nn.Module, how: str, example: Tensor) -> nn.Module:
    if how == "loop" or not isinstance(model, RobinClassifier):
        return model
    if how == "auto" and choose_arm_execution(model, example) == "loop":
        return model
    return VectorizedRobin.from_robin(model).eval()


def _har(model: nn.Module) -> HARClassifier:
    if not isinstance(model, HARClassifier):
        raise RobinBenchError(f"a 'har' model is a HARClassifier, got {type(model).__name__}")
    return model


def _har_part(model: nn.Module, name: str) -> nn.Module:
    har = _har(model)
    if name == "coarse":
        return har.coarse
    if name.startswith("fine") and name[4:].isdigit() and int(name[4:]) < len(har.fine):
        return har.fine[int(name[4:])]
    raise _no_part(model, name)


def _train_har(model: nn.Module, name: str, x: Tensor, y: Tensor, cfg: TrainConfig, h: Hierarchy | None) -> Any:
    from robin_bench.train.decomposed import train_har_coarse, train_har_fine

    if h is None:
        raise RobinBenchError("a 'har' model is trained with a hierarchy; give the suite a 'hierarchy'")
    net = _har_part(model, name)
    if name == "coarse":
        return train_har_coarse(net, h, x, y, cfg)
    return train_har_fine(net, int(name[4:]), h, x, y, cfg)


def _har_heads(model: nn.Module) -> list[Head]:
    har = _har(model)
    heads: list[Head] = [("coarse head", har.coarse, None)]
    heads += [
        (f"fine head {z}", fine, z) for z, fine in enumerate(har.fine) if len(har.hierarchy.fine_classes(z)) > 1
    ]  # a one-class head is constant by construction
    return heads


def _har_fit(model: nn.Module, x: Tensor, y: Tensor, balanced: bool) -> list[FitJob]:
    har = _har(model)
    h = har.hierarchy
    coarse = h.coarse_of(y.cpu()).to(y.device)
    jobs: list[FitJob] = [(har.coarse, x, coarse, None)]
    for z, fine in enumerate(har.fine):
        members = coarse == z
        if bool(members.any()):
            jobs.append((fine, x[members], h.position_in_group.to(y.device)[y[members]], None))
    return jobs


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


def _verify_flat(model: nn.Module, in_shape: tuple[int, ...]) -> Any:
    from robin_bench.verification.encodings import flat_encoding  # scipy and HiGHS, loaded when verifying

    return flat_encoding(model, in_shape)


def _verify_robin(model: nn.Module, in_shape: tuple[int, ...]) -> Any:
    from robin_bench.verification.encodings import robin_encoding

    return robin_encoding(model, in_shape)


def _verify_har(model: nn.Module, in_shape: tuple[int, ...]) -> Any:
    from robin_bench.verification.encodings import har_encoding

    return har_encoding(_har(model), in_shape)


register_kind(
    ModelKind(
        name="flat",
        build=lambda component, n, h: component(n),
        parts=lambda model: ["model"],
        part=_flat_part,
        train=_train_flat,
        needs_hierarchy=False,
        output="logits",
        marker="o-",
        baseline=True,
        verify_encoding=_verify_flat,
    )
)
register_kind(
    ModelKind(
        name="robin",
        build=lambda component, n, h: RobinClassifier([component(1) for _ in range(n)]),
        parts=lambda model: [f"arm{i}" for i in range(len(_robin(model).arms))],
        part=_robin_part,
        train=_train_robin,
        needs_hierarchy=False,
        output="logits",
        marker="s-",
        model_types=(RobinClassifier, VectorizedRobin),
        heads=_robin_heads,
        fit_jobs=_robin_fit,
        fast=_robin_fast,
        verify_encoding=_verify_robin,
    )
)
register_kind(
    ModelKind(
        name="har",
        build=_build_har,
        parts=lambda model: ["coarse", *(f"fine{z}" for z in range(len(_har(model).fine)))],
        part=_har_part,
        train=_train_har,
        needs_hierarchy=True,
        output="log_probs",
        marker="^-",
        model_types=(HARClassifier,),
        heads=_har_heads,
        fit_jobs=_har_fit,
        coarse_view=lambda model: _har(model).coarse_log_probs,
        hierarchy_of=lambda model: _har(model).hierarchy,
        verify_encoding=_verify_har,
    )
)
