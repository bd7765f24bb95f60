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

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from robin_bench.attacks.evaluate import AttackLike, EvalResult, evaluate
from robin_bench.attacks.sanity import ALPHA, HEALTHY_RATE, Evidence, count_tolerance, masking_evidence
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
    sub = evaluate(model, x[rows.to(x.device)], y[rows.to(y.device)], dict(attacks), criterion=criterion,
                   hierarchy=hierarchy, targets=None if targets is None else targets[rows.to(targets.device)],
                   batch_size=batch_size, norm=norm, eps=eps)  # type: ignore[arg-type]
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
        names=[*result.names, *(name + SUFFIX for name in sub.names)], criterion=result.criterion,
        clean_correct=result.clean_correct, robust=robust, success=success, ran=ran,
        grad_evals={**result.grad_evals, **{k + SUFFIX: v for k, v in sub.grad_evals.items()}},
        seconds={**result.seconds, **{k + SUFFIX: v for k, v in sub.seconds.items()}},
        flags=[*result.flags, *((code, f"escalated: {reason}") for code, reason in sub.flags)],
    )


def merged_masking_evidence(
    result: EvalResult, family: Mapping[str, str], base: Sequence[str]
) -> Evidence:
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
        part = EvalResult(names=group, criterion=result.criterion, clean_correct=result.clean_correct,
                          robust=result.robust, success={n: result.success[n] for n in group},
                          ran={n: result.ran[n] for n in group})
        ev = masking_evidence(part, gradient=gradient, gradient_free=free, transfer=transfer)
        for i, name in zip(ev.samples, ev.broken_by, strict=True):
            broken_by.setdefault(i, name)
        whats.append(ev.what)
    n = int(result.clean_correct.sum())
    samples = tuple(sorted(broken_by))
    tolerance = count_tolerance(n, HEALTHY_RATE["black_box_stronger"], ALPHA)
    return Evidence("black_box_stronger", len(samples), n, tolerance, "; ".join(whats) or "no attacks to compare",
                    samples, tuple(broken_by[i] for i in samples))
