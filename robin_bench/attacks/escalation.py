"""Budget escalation: when a masking indicator is borderline, the survivors meet the attacks at full budgets.

A cut budget (the demo's AutoAttack at 30 iterations and Square at 500 queries) can hide a mask that full
budgets expose: gradient attacks and gradient-free ones both fall short, so the per-sample comparison has
little to count. :func:`escalate` re-runs the samples an evaluation left robust against the attacks whose
budget grows at full strength and appends them to the evaluation (names suffixed ``@full``), so the worst
case and the per-sample flags both see them; :func:`merged_masking_evidence` counts the masking symptom over
the base attacks and the escalated ones.

Example::

    >>> if any(e.borderline for e in evidence):
    ...     result = escalate(model, x, y, result, full_attacks, criterion="fine")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from robin_bench.attacks.evaluate import AttackLike, EvalResult, evaluate
from robin_bench.attacks.sanity import (
    ALPHA,
    BORDERLINE_ALPHA,
    HEALTHY_RATE,
    Evidence,
    count_tolerance,
    masking_evidence,
)
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy

SUFFIX = "@full"
"""Appended to the name of an escalated attack in the result and the flags file."""


def grown(cut: Mapping[str, Any], full: Mapping[str, Any], n_classes: int) -> dict[str, AttackLike]:
    """The attacks of ``full`` whose budget (``Attack.budget``) exceeds that of the same name in ``cut``.

    An attack with the same budget, seed and per-sample randomness would repeat its verdicts, so only the
    grown ones are worth running again (attacks without a ``budget`` method are left out).
    """
    out = {}
    for name, attack in full.items():
        before = cut.get(name)
        if not hasattr(attack, "budget") or before is None or not hasattr(before, "budget"):
            continue
        if attack.budget(n_classes) > before.budget(n_classes):
            out[name] = attack
    return out


def escalate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    result: EvalResult,
    attacks: Mapping[str, AttackLike],
    *,
    criterion: str = "fine",
    hierarchy: Hierarchy | None = None,
    targets: Tensor | None = None,
    batch_size: int = 256,
    norm: str | None = None,
    eps: float | None = None,
) -> EvalResult:
    r"""``result`` with ``attacks`` run on the samples it left robust and appended (names + ``SUFFIX``).

    The escalated attacks run through :func:`~robin_bench.attacks.evaluate.evaluate` (early exit, success
    re-checked, ball checked) on the robust samples only; their ``success`` and ``ran`` are False on the
    others. The worst case (``robust``) drops every sample they break, so the number printed is the lower
    one. Names, seconds and gradient counts are kept per attack; ``flags`` are concatenated.

    Arguments:
        model (nn.Module): the evaluated model.
        x (Tensor): (N, C, H, W) the evaluated inputs (as given to ``evaluate``).
        y (Tensor): (N,) labels.
        result (EvalResult): the evaluation to escalate.
        attacks (Mapping[str, AttackLike]): the full-budget attacks, in run order.
        criterion, hierarchy, targets, batch_size, norm, eps: as for ``evaluate`` (same values as ``result``'s).

    Returns:
        EvalResult: the merged evaluation over all N samples.
    """
    rows = result.robust.nonzero()[:, 0]
    if not attacks or rows.numel() == 0:
        return result
    sub = evaluate(
        model,
        x[rows.to(x.device)],
        y[rows.to(y.device)],
        dict(attacks),
        criterion=criterion,
        hierarchy=hierarchy,
        targets=None if targets is None else targets[rows.to(targets.device)],
        batch_size=batch_size,
        norm=norm,  # type: ignore[arg-type]
        eps=eps,
    )
    n = result.n
    success, ran = dict(result.success), dict(result.ran)
    robust = result.robust.clone()
    for name in sub.names:
        full_name = name + SUFFIX
        hit = torch.zeros(n, dtype=torch.bool, device=robust.device)
        went = torch.zeros(n, dtype=torch.bool, device=robust.device)
        hit[rows] = sub.success[name].to(robust.device)
        went[rows] = sub.ran[name].to(robust.device)
        success[full_name], ran[full_name] = hit, went
        robust &= ~hit
    return EvalResult(
        names=[*result.names, *(name + SUFFIX for name in sub.names)],
        criterion=result.criterion,
        clean_correct=result.clean_correct,
        robust=robust,
        success=success,
        ran=ran,
        grad_evals={**result.grad_evals, **{k + SUFFIX: v for k, v in sub.grad_evals.items()}},
        seconds={**result.seconds, **{k + SUFFIX: v for k, v in sub.seconds.items()}},
        flags=[*result.flags, *((code, f"escalated: {reason}") for code, reason in sub.flags)],
    )


def merged_masking_evidence(result: EvalResult, family: Mapping[str, str], base: Sequence[str]) -> Evidence:
    """The ``black_box_stronger`` count over the base attacks and the escalated ones of ``result``.

    A sample shows the symptom when, among the base attacks (``base``, in run order) or among the escalated
    ones (suffixed ``SUFFIX``), a gradient-free or transfer attack broke it and no gradient attack of the same
    group did (:func:`~robin_bench.attacks.sanity.masking_evidence` within each group; each group runs its
    gradient attacks first). Candidates are the clean-correct samples; each sample counts once.

    Arguments:
        result (EvalResult): an escalated evaluation (:func:`escalate`).
        family (Mapping[str, str]): attack name (unsuffixed) -> ``"gradient"``, ``"gradient_free"`` or
            ``"transfer"``.
        base (Sequence[str]): the names of the base attacks.
    """
    broken_by: dict[int, str] = {}
    whats = []
    for group in (list(base), [n for n in result.names if n.endswith(SUFFIX)]):
        kinds = {n: family.get(n.removesuffix(SUFFIX), "gradient") for n in group}
        gradient = [n for n in group if kinds[n] == "gradient"]
        free = [n for n in group if kinds[n] == "gradient_free"]
        transfer = [n for n in group if kinds[n] == "transfer"]
        if not gradient or not (free or transfer):
            continue
        part = EvalResult(
            names=group,
            criterion=result.criterion,
            clean_correct=result.clean_correct,
            robust=result.robust,
            success={n: result.success[n] for n in group},
            ran={n: result.ran[n] for n in group},
        )
        ev = masking_evidence(part, gradient=gradient, gradient_free=free, transfer=transfer)
        for i, name in zip(ev.samples, ev.broken_by, strict=True):
            broken_by.setdefault(i, name)
        whats.append(ev.what)
    n = int(result.clean_correct.sum())
    samples = tuple(sorted(broken_by))
    tolerance = count_tolerance(n, HEALTHY_RATE["black_box_stronger"], ALPHA)
    return Evidence(
        "black_box_stronger",
        len(samples),
        n,
        tolerance,
        "; ".join(whats) or "no attacks to compare",
        samples,
        tuple(broken_by[i] for i in samples),
    )


def masking_evidence_of(result: EvalResult, attacks: Mapping[str, Any]) -> list[Evidence] | tuple[str, str]:
    """:func:`~robin_bench.attacks.sanity.masking_evidence` over an evaluation's own attacks, grouped by their
    ``family`` (an attack without one, e.g. a third-party attack, counts as gradient-based: the conservative
    side): ``[]`` for a set without gradient-free or transfer attacks (nothing to compare), a
    ``("masking_not_compared", reason)`` flag for one that runs them before a gradient attack under early exit."""
    family = families(result.names, attacks)
    gradient = [n for n in result.names if family[n] == "gradient"]
    free = [n for n in result.names if family[n] == "gradient_free"]
    transfer = [n for n in result.names if family[n] == "transfer"]
    if not gradient or not (free or transfer):
        return []
    try:
        return [masking_evidence(result, gradient=gradient, gradient_free=free, transfer=transfer)]
    except RobinBenchError as e:
        return ("masking_not_compared", str(e))


def families(names: Sequence[str], attacks: Mapping[str, Any]) -> dict[str, str]:
    """Attack name -> its ``family`` (``"gradient"`` for an attack that does not say)."""
    return {name: getattr(attacks[name], "family", "gradient") for name in names}


def settle(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    result: EvalResult,
    cut: Mapping[str, Any],
    full: Callable[[], Mapping[str, Any]],
    sanity: Sequence[Evidence],
    *,
    criterion: str = "fine",
    hierarchy: Hierarchy | None = None,
    targets: Tensor | None = None,
    batch_size: int = 256,
    norm: str | None = None,
    eps: float | None = None,
    early_exit: bool = True,
) -> tuple[EvalResult, list[tuple[str, str]]]:
    r"""An evaluation after the escalation rule, and its masking flags: what a cell of a run reports.

    The rule: when the evaluation's own masking comparison (:func:`masking_evidence_of`) or any count check of
    a sanity check of the same model and inputs (``sanity``) is borderline
    (:attr:`~robin_bench.attacks.sanity.Evidence.borderline`), the samples still robust meet ``full()`` (the
    same attacks at full budgets; only those whose budget grows run, :func:`grown`) through :func:`escalate`,
    and the masking comparison counts both groups (:func:`merged_masking_evidence`).

    Arguments:
        model (nn.Module): the evaluated model.
        x (Tensor): (N, C, H, W) inputs of ``result``.
        y (Tensor): (N,) labels.
        result (EvalResult): ``evaluate(model, x, y, cut, ...)``.
        cut (Mapping[str, Any]): the attacks of ``result`` (their ``family`` and ``budget``).
        full (Callable[[], Mapping[str, Any]]): builds the same attacks at full budgets (called on escalation).
        sanity (Sequence[Evidence]): count checks of ``rb.sanity_check`` on the same model and inputs, or ().
        criterion, hierarchy, targets, batch_size, norm, eps: as for ``evaluate``; ``early_exit`` is accepted
            for symmetry with ``evaluate``'s keywords (the escalated attacks run with early exit).

    Returns:
        tuple[EvalResult, list[tuple[str, str]]]: the (possibly escalated) evaluation and its flags: the
        evaluation's own (``noop_attack``...), a ``black_box_stronger`` flag naming its samples, or a
        ``masking_undecided`` note (:func:`undecided`) where the comparison stays borderline.

    Example::

        >>> cut = standard_attacks(model, norm="Linf", eps=0.1, n_iter=30, n_queries=500)
        >>> res = evaluate(model, x, y, cut)
        >>> res, flags = settle(model, x, y, res, cut, lambda: standard_attacks(model, norm="Linf", eps=0.1),
        ...                     sanity_check(model, x, y, eps=0.1).evidence)
    """
    found = masking_evidence_of(result, cut)
    if isinstance(found, tuple):
        return result, [*result.flags, found]
    evidence = found
    if any(e.borderline for e in [*evidence, *sanity]):
        with torch.no_grad():
            n_out = int(model(x[:1]).shape[1])
        more = grown(cut, full(), hierarchy.n_coarse if criterion == "coarse" and hierarchy is not None else n_out)
        if more:
            result = escalate(
                model,
                x,
                y,
                result,
                more,
                criterion=criterion,
                hierarchy=hierarchy,
                targets=targets,
                batch_size=batch_size,
                norm=norm,
                eps=eps,
            )
            family = {**families(list(cut), cut), **families(list(more), more)}
            evidence = [merged_masking_evidence(result, family, list(cut))]
    return result, [*result.flags, *(e.flag for e in evidence if e.flagged), *undecided(evidence)]


def undecided(evidence: Sequence[Evidence]) -> list[tuple[str, str]]:
    """``("masking_undecided", reason)`` for each count check that is borderline and not flagged: the row's n is
    too small for the check to tell a mask of that size from a healthy model (after escalation, where it ran).

    The reason names the check, its count and samples, and the smallest count the check flags at this n, so a
    reader knows what the row's n can and cannot rule out.
    """
    return [
        (
            "masking_undecided",
            f"{e.code}: {e.count} of {e.n} samples show the symptom, more than a healthy model shows at level "
            f"{BORDERLINE_ALPHA:g} but not more than the tolerance {e.tolerance} (level {ALPHA:g}): at n = {e.n} "
            f"this check flags only counts of {e.tolerance + 1} or more"
            + (f"; samples: {e.listing}" if e.samples else ""),
        )
        for e in evidence
        if e.borderline and not e.flagged
    ]
