"""The standard attack set: the default worst case for a model kind and a criterion."""

from __future__ import annotations

from typing import Any

from torch import nn

from robin_bench.attacks.adaptive import BPDA, declared_preprocessing, undefended_twin
from robin_bench.attacks.autoattack import AutoAttack
from robin_bench.attacks.base import Attack
from robin_bench.attacks.criteria import get_criterion
from robin_bench.attacks.hierarchical import CoarseMarginal, CoarseTargeted, HierarchicalTargeted
from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.rays import RayS
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.attacks.transfer import TransferAttack
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.kinds import kind_of

AUTOATTACK_COMPONENTS: tuple[str, ...] = ("apgd-ce", "apgd-t", "fab-t", "square")
"""AutoAttack's standard components, run one by one so each keeps its own per-sample flags."""


RAYS_QUERIES = 1000
"""RayS's queries per sample in the standard set: a sample still robust after every gradient attack and Square
costs at most this many forward passes (on the demo's 8x8 digits, RayS alone comes within 0.03 of the white-box
worst case at 1000; benchmarks/RESULTS.md, "Masking checks: operating characteristic")."""

APGD_CE_RESTARTS = 5
"""Restarts of the set's APGD-CE (AutoAttack's standard version uses 1, its "plus" version 5). Run on the samples
the earlier attacks left robust, APGD-CE's random starts differ from those of an official AutoAttack call over all
samples; with one restart the demo's coarse worst case missed a sample official AutoAttack broke, with five it
misses none (benchmarks/RESULTS.md). FAB-T (9 targets) keeps the standard version's single restart."""


def standard_attacks(
    model: nn.Module,
    *,
    norm: Norm,
    eps: float,
    hierarchy: Hierarchy | None = None,
    criterion: str = "fine",
    steps: int = 20,
    surrogate: nn.Module | None = None,
    seed: int = 0,
    n_iter: int | None = None,
    n_queries: int | None = None,
    rays_queries: int = RAYS_QUERIES,
) -> dict[str, Attack]:
    r"""The default worst-case attack set for ``model`` under ``criterion``: the strongest honest evaluation.

    In run order (gradient-based first, then gradient-free, then transfer, so a per-sample comparison
    can tell which samples only a gradient-free or transfer attack broke; each attack's ``family``
    says which it is):

    1. the papers' attacks that apply, as the model's kind says (:attr:`robin_bench.models.kinds.ModelKind.
       paper_attacks`): the six ROBIN strategies over PGD on models with logit outputs (ROBIN, flat, most
       plugin kinds; on a flat model ``robin_softmax`` is PGD with cross-entropy), PGD with cross-entropy on
       log-probability outputs (HAR), PGD with the margin loss on every model; under the coarse criterion also HAR's
       ``hierarchical_targeted`` (Algorithm 1), ``coarse_targeted`` and ``coarse_marginal``;
    2. AutoAttack's standard gradient components APGD-CE (``APGD_CE_RESTARTS`` restarts), APGD-T and
       FAB-T (one restart, 9 targets, as AutoAttack's standard version) (``rb.attacks.AutoAttack`` with
       one component each; APGD-T only with >= 4 classes, coarse classes under the coarse criterion,
       where AutoAttack runs on the coarse view);
    3. Square (AutoAttack's gradient-free component) and, under Linf, RayS (label-only, ``rays_queries``
       queries per sample), which reads only the criterion's decision, so faked or decoy scores cannot hide
       the boundary from it (L2 has no label-only component yet);
    4. where the model declares a non-differentiable preprocessing step
       (:func:`~robin_bench.attacks.adaptive.declared_preprocessing`), BPDA (straight-through PGD, EOT on
       randomized models);
    5. where the model names an undefended twin (:func:`~robin_bench.attacks.adaptive.undefended_twin`), a
       transfer attack from it (``transfer_twin``); with ``surrogate``, a transfer attack (PGD on the
       surrogate; in a suite, a set without one transfers from the suite's baseline-kind model).

    Every attack is built with the criterion (so its success and objective are the criterion's), the
    threat model and ``seed``. With early exit in :func:`~robin_bench.attacks.evaluate`, later attacks
    only see the samples still robust, which keeps AutoAttack's budget affordable.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits (flat), arm logits (ROBIN) or
            log-probabilities (HAR).
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): radius in input units.
        hierarchy (Hierarchy | None): needed by the coarse criterion. (Default: None)
        criterion (str): ``"fine"`` or ``"coarse"``; ``"targeted"`` has no standard set (AutoAttack
            picks its own targets): list the attacks explicitly. (Default: ``"fine"``)
        steps (int): steps of robin-bench's PGD-based attacks (per target for the hierarchical ones).
            (Default: 20)
        surrogate (nn.Module | None): a model with the same classes whose gradients craft a transfer
            attack, run last. (Default: None)
        seed (int): seed of every attack. (Default: 0)
        n_iter (int | None): iterations of APGD and FAB; None keeps AutoAttack's 100. (Default: None)
        n_queries (int | None): Square's queries; None keeps AutoAttack's 5000. (Default: None)
        rays_queries (int): RayS's queries per sample (Linf only). (Default: ``RAYS_QUERIES``)

    Returns:
        dict[str, Attack]: name -> attack, in run order; pass it to :func:`rb.evaluate`.

    Example::

        >>> attacks = rb.attacks.standard_attacks(model, norm="Linf", eps=0.1, hierarchy=h, criterion="coarse")
        >>> res = rb.evaluate(model, x, y, attacks, criterion="coarse", hierarchy=h)
    """
    ThreatModel(norm, eps)
    if criterion == "targeted":
        raise RobinBenchError(
            "standard_attacks has no set for criterion 'targeted' (AutoAttack picks its own targets); "
            "use criterion 'fine' or 'coarse', or list targeted attacks explicitly"
        )
    crit = get_criterion(criterion, hierarchy)
    kind = kind_of(model)
    own = kind.hierarchy_of(model)
    if own is not None and hierarchy is not None and own != hierarchy:
        raise RobinBenchError(
            f"standard_attacks got hierarchy {hierarchy!r}, but the {kind.name} model has {own!r}; "
            "pass the model's own hierarchy"
        )
    common: dict[str, Any] = {"norm": norm, "eps": eps, "seed": seed, "criterion": crit}
    attacks: dict[str, Attack] = dict(kind.attacks_of_papers(model, common, steps))
    attacks["pgd_margin"] = PGD(model, steps=steps, loss="margin", **common)
    n_classes = None
    if criterion == "coarse" and hierarchy is not None:
        hier: dict[str, Any] = {"hierarchy": hierarchy, "steps": steps, **common}
        attacks["hierarchical_targeted"] = HierarchicalTargeted(model, **hier)
        attacks["coarse_targeted"] = CoarseTargeted(model, **hier)
        attacks["coarse_marginal"] = CoarseMarginal(model, **hier)
        n_classes = hierarchy.n_coarse
    elif hierarchy is not None:
        n_classes = hierarchy.n_fine
    for component in AUTOATTACK_COMPONENTS:
        if component == "apgd-t" and n_classes is not None and n_classes < 4:
            continue
        attacks[component] = AutoAttack(
            model,
            version="custom",
            attacks_to_run=[component],
            n_iter=n_iter,
            n_queries=n_queries,
            restarts=APGD_CE_RESTARTS if component == "apgd-ce" else 1,
            drop_unrunnable=True,
            **common,
        )
    if norm == "Linf":
        attacks["rays"] = RayS(model, queries=rays_queries, **common)
    if declared_preprocessing(model):
        attacks["bpda"] = BPDA(model, steps=steps, **common)
    twin = undefended_twin(model)
    if twin is not None:
        attacks["transfer_twin"] = TransferAttack(twin.eval(), model, steps=steps, **common)
    if surrogate is not None:
        attacks["transfer"] = TransferAttack(surrogate, model, steps=steps, **common)
    return attacks
