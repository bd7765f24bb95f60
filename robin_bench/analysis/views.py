"""Robustness on a one-class-vs-rest task of a multiclass model (ROBIN Section 3.1, Figure 2c), the
default worst-case attack set the analyses use, and the PGD baseline row of the accuracy-against-eps ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from robin_bench.attacks.evaluate import AttackLike, EvalResult, evaluate
from robin_bench.attacks.pgd import PGD

AttackFactory = Callable[[nn.Module, str, float], Mapping[str, AttackLike]]
"""(model, norm, eps) -> named attacks whose per-sample worst case is taken."""


def pgd_worst_case(model: nn.Module, norm: str, eps: float, *, steps: int = 20) -> dict[str, AttackLike]:
    r"""The analyses' default attack set: PGD on cross-entropy from a random start and PGD on the
    Carlini-Wagner margin from the clean input, ``steps`` steps each, worst case taken per sample.

    The start at the clean input matters for minimum-norm search: a random start leaves a component
    orthogonal to the gradient that L2 projection only shrinks, so near the boundary it needs a
    slightly larger eps than the true distance.

    Arguments:
        model (nn.Module): the attacked model.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): budget in input units.
        steps (int): PGD steps per attack. (Default: 20)
    """
    return {
        "pgd_ce": PGD(model, norm=norm, eps=eps, steps=steps, loss="ce", seed=0),  # type: ignore[arg-type]
        "pgd_margin": PGD(
            model,
            norm=norm,  # type: ignore[arg-type]
            eps=eps,
            steps=steps,
            loss="margin",
            random_start=False,
        ),
    }


def accuracy_rows(
    model: str, figures: Mapping[str, float], res: EvalResult, *, norm: str, eps: float
) -> list[dict[str, object]]:
    """Rows of an accuracy-against-eps analysis, one per attack of ``figures`` (attack -> robust accuracy):
    ``model``, ``attack``, ``norm``, ``eps``, ``clean_acc`` and ``n`` (from ``res``), ``robust_acc``."""
    return [
        {
            "model": model,
            "attack": attack,
            "norm": norm,
            "eps": eps,
            "clean_acc": res.clean_acc,
            "robust_acc": acc,
            "n": res.n,
        }
        for attack, acc in figures.items()
    ]


def pgd_baseline_row(
    baseline: nn.Module, x: Tensor, y: Tensor, *, norm: str, eps: float, steps: int, batch_size: int
) -> dict[str, object]:
    r"""The multiclass baseline's robust accuracy under PGD at ``eps``: the row ``pgd (baseline)`` of the
    accuracy-against-eps analyses (ROBIN's "standard attack on the multiclass", Figures 5 and 8).

    Returns:
        dict: an :func:`accuracy_rows` row of model ``"baseline"``, attack ``"pgd (baseline)"``.
    """
    b = evaluate(
        baseline,
        x,
        y,
        [PGD(baseline, norm=norm, eps=eps, steps=steps)],  # type: ignore[arg-type]
        batch_size=batch_size,
    )
    return accuracy_rows("baseline", {"pgd (baseline)": b.robust_acc}, b, norm=norm, eps=eps)[0]


def _targeted(attacks: Mapping[str, AttackLike]) -> Mapping[str, AttackLike]:
    for a in attacks.values():
        a.set_mode_targeted_by_label(quiet=True)  # type: ignore[attr-defined]
    return attacks


def _predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return torch.cat([model(x[s : s + batch_size]).argmax(1).cpu() for s in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was)


def one_vs_rest_robust(
    model: nn.Module,
    x: Tensor,
    positive: Tensor,
    cls: int,
    *,
    norm: str,
    eps: float,
    attacks: AttackFactory = pgd_worst_case,
    batch_size: int = 256,
) -> tuple[Tensor, Tensor]:
    r"""Clean and robust correctness of a multiclass model on the binary task "class ``cls`` or not".

    ROBIN Section 3.1 (Figure 2c): only the boundary between ``cls`` and the rest counts. A positive
    input (``positive``) is correct while the prediction is ``cls`` and broken by any untargeted
    perturbation away from it; a negative input is correct while the prediction is not ``cls`` and
    broken only by a perturbation *to* ``cls`` (targeted attacks, from the model's own clean
    prediction). The worst case over ``attacks(model, norm, eps)`` is taken per sample.

    Arguments:
        model (nn.Module): (N, C, H, W) -> (N, K) scores, class ``cls`` among them.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        positive (Tensor): (N,) bool, True for inputs of class ``cls``.
        cls (int): the output column of the positive class.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): budget; 0 gives the clean correctness twice.
        attacks (AttackFactory): the attack set. (Default: :func:`pgd_worst_case`)
        batch_size (int): samples per batch. (Default: 256)

    Returns:
        tuple[Tensor, Tensor]: (N,) bool clean-correct and (N,) bool robust (clean-correct and unbroken).
    """
    pred = _predict(model, x, batch_size)
    positive = positive.cpu().bool()
    clean = torch.where(positive, pred == cls, pred != cls)
    robust = torch.zeros_like(clean)
    pos, neg = (positive & clean).nonzero()[:, 0], (~positive & clean).nonzero()[:, 0]
    if pos.numel():
        res = evaluate(model, x[pos], torch.full((pos.numel(),), cls), attacks(model, norm, eps), batch_size=batch_size)
        robust[pos] = res.robust
    if neg.numel():
        res = evaluate(
            model,
            x[neg],
            pred[neg],
            _targeted(attacks(model, norm, eps)),
            criterion="targeted",
            targets=torch.full((neg.numel(),), cls),
            batch_size=batch_size,
        )
        robust[neg] = res.robust
    return clean, robust
