"""The model factory: flat, ROBIN and HAR models from one architecture name, and their JSON spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models import archs
from robin_bench.models.kinds import KINDS
from robin_bench.registry import did_you_mean

SPEC_KEYS: tuple[str, ...] = ("kind", "arch", "in_shape", "n_classes", "hierarchy", "mean", "std", "plugins")
"""Keys of a model spec; ``plugins`` (where the kind or architecture came from a plugin) is provenance only."""


def build_model(
    kind: str,
    *,
    arch: str,
    in_shape: Sequence[int],
    n_classes: int,
    hierarchy: Hierarchy | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Module:
    r"""A flat, ROBIN or HAR classifier whose every component is architecture ``arch``.

    ``flat``: one network with ``n_classes`` outputs. ``robin``: a :class:`RobinClassifier` of
    ``n_classes`` arms with one output each (ROBIN Algorithm 1). ``har``: a :class:`HARClassifier` with
    a coarse network of ``hierarchy.n_coarse`` outputs and fine network ``z`` with ``|group z|``
    outputs (HAR Section 3). Each component normalizes its [0, 1] input with ``mean``/``std`` itself.
    Initialization draws from torch's global RNG: seed it for a reproducible model.

    Arguments:
        kind (str): a registered model kind (:data:`robin_bench.models.kinds.KINDS`: flat, robin, har).
        arch (str): a registered architecture (``rb.archs.names()``).
        in_shape (Sequence[int]): (C, H, W) of one input.
        n_classes (int): number of (fine) classes, >= 2.
        hierarchy (Hierarchy | None): required for ``har`` (and must cover ``n_classes`` fine classes).
        mean, std (Sequence[float] | None): per-channel normalization. (Default: None, identity)

    Shape:
        - Input: (N, C, H, W) in [0, 1].
        - Output: (N, n_classes) logits (flat, robin) or log-probabilities (har).

    Example::

        >>> h = rb.Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
        >>> model = build_model("har", arch="mlp", in_shape=(1, 8, 8), n_classes=10, hierarchy=h)
    """
    model_kind = KINDS.get(kind)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise RobinBenchError(f"n_classes={n_classes!r} for a {kind} model; expected an integer >= 2")
    shape = tuple(in_shape)

    def component(n_outputs: int) -> nn.Module:
        return archs.build(arch, in_shape=shape, n_outputs=n_outputs, mean=mean, std=std)  # type: ignore[arg-type]

    return model_kind.build(component, n_classes, hierarchy)


def model_spec(
    kind: str,
    *,
    arch: str,
    in_shape: Sequence[int],
    n_classes: int,
    hierarchy: Hierarchy | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The JSON-serialisable spec of :func:`build_model`'s arguments (what a checkpoint sidecar stores).

    The hierarchy is stored as ``{"names": [...], "groups": [[...], ...]}`` in coarse-class order, so the
    order survives JSON writers that sort keys. A kind or architecture registered by a plugin adds ``plugins``:
    each plugin's module, distribution and version (robin-bench's own models keep the spec they always had).
    """
    origins = {o.module: o.to_dict() for o in (KINDS.origin(kind), archs.ARCHS.origin(arch)) if o is not None}
    return {
        "kind": kind,
        "arch": arch,
        "in_shape": [int(v) for v in in_shape],
        "n_classes": n_classes,
        "hierarchy": None
        if hierarchy is None
        else {"names": list(hierarchy.names), "groups": [hierarchy.fine_classes(z) for z in range(hierarchy.n_coarse)]},
        "mean": None if mean is None else [float(v) for v in mean],
        "std": None if std is None else [float(v) for v in std],
        **({"plugins": list(origins.values())} if origins else {}),
    }


def build_from_spec(spec: object, *, source: str = "model spec") -> nn.Module:
    """:func:`build_model` from a spec dict (see :func:`model_spec`); a missing or unknown key names ``source``."""
    if not isinstance(spec, Mapping):
        raise RobinBenchError(f"{source} is {type(spec).__name__}; expected a mapping with keys {', '.join(SPEC_KEYS)}")
    for key in spec:
        if key not in SPEC_KEYS:
            raise RobinBenchError(f"unknown key {key!r} in {source}; {did_you_mean(str(key), list(SPEC_KEYS))}")
    for key in ("kind", "arch", "in_shape", "n_classes"):
        if key not in spec:
            raise RobinBenchError(f"{source} lacks key {key!r}; needed: kind, arch, in_shape, n_classes")
    return build_model(
        spec["kind"],
        arch=spec["arch"],
        in_shape=spec["in_shape"],
        n_classes=spec["n_classes"],
        hierarchy=_hierarchy_from_spec(spec.get("hierarchy"), source),
        mean=spec.get("mean"),
        std=spec.get("std"),
    )


def _hierarchy_from_spec(h: Any, source: str) -> Hierarchy | None:
    if h is None:
        return None
    if not isinstance(h, Mapping) or set(h) != {"names", "groups"} or len(h["names"]) != len(h["groups"]):
        raise RobinBenchError(
            f"{source} hierarchy is {h!r}; expected {{'names': [...], 'groups': [[...], ...]}} of equal lengths"
        )
    return Hierarchy(dict(zip(h["names"], h["groups"], strict=True)))
