"""Transferability from the multiclass model to ROBIN (ROBIN Appendix B.2, Table 4, Figure 7)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from matplotlib import pyplot as plt
from torch import nn

from robin_bench.analysis.io import plot_accuracy_vs_eps
from robin_bench.attacks.evaluate import evaluate
from robin_bench.attacks.robin import RobinAttack
from robin_bench.attacks.transfer import TransferAttack

WHITE_BOX: tuple[str, ...] = ("softmax", "best_arm")
"""ROBIN strategies of the white-box reference (the paper's dotted line is SOFTMAX; BEST ARM is its peer)."""


def transferability(
    robin: nn.Module,
    surrogate: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: Sequence[float],
    steps: int = 10,
    white_box: Sequence[str] = WHITE_BOX,
    batch_size: int = 256,
) -> pd.DataFrame:
    r"""ROBIN's robust accuracy against examples transferred from a multiclass surrogate, beside its
    white-box worst case, across test eps (ROBIN Appendix B.2).

    ``transfer_untargeted``: untargeted PGD on the surrogate; ``transfer_targeted``: PGD on the surrogate
    toward ROBIN's second-highest arm at the clean input (:class:`TransferAttack`); ``white_box``: the
    per-sample worst case of the ROBIN strategies ``white_box`` on ROBIN itself. Each figure is robust
    accuracy against that attack alone; higher transfer figures than white-box ones mean the examples
    transfer poorly (the paper's claim).

    Arguments:
        robin (nn.Module): the victim (``RobinClassifier`` or any (N, k) scores model).
        surrogate (nn.Module): the multiclass model the examples are crafted on.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (Sequence[float]): test budgets.
        steps (int): PGD steps of every attack. (Default: 10)
        white_box (Sequence[str]): ROBIN strategies of the white-box reference. (Default: softmax, best_arm)
        batch_size (int): samples per batch. (Default: 256)

    Returns:
        pd.DataFrame: one row per (eps, attack): ``attack``, ``norm``, ``eps``, ``clean_acc``, ``robust_acc``, ``n``.

    Example::

        >>> transferability(robin, mc, x, y, norm="L2", eps=[0.25, 0.5, 1.0])
    """
    rows = []
    for e in eps:
        kw = {"norm": norm, "eps": float(e), "steps": steps}
        untargeted = TransferAttack(surrogate, robin, targeted=False, **kw)  # type: ignore[arg-type]
        res = evaluate(robin, x, y, {"transfer_untargeted": untargeted}, batch_size=batch_size, early_exit=False)
        figures = dict(res.attack_robust_acc)
        targeted = TransferAttack(surrogate, robin, targeted=True, **kw)  # type: ignore[arg-type]
        figures["transfer_targeted"] = transferred_accuracy(robin, targeted, x, y, batch_size=batch_size)
        wb = {s: RobinAttack(robin, strategy=s, **kw) for s in white_box}  # type: ignore[arg-type]
        figures["white_box"] = evaluate(robin, x, y, wb, batch_size=batch_size).robust_acc
        for attack, acc in figures.items():
            rows.append(
                {
                    "attack": attack,
                    "norm": norm,
                    "eps": float(e),
                    "clean_acc": res.clean_acc,
                    "robust_acc": acc,
                    "n": res.n,
                }
            )
    return pd.DataFrame(rows)


def transferred_accuracy(
    robin: nn.Module, attack: TransferAttack, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256
) -> float:
    """Accuracy of ``robin`` on the examples ``attack`` crafts, in the attack's own mode: clean-correct and
    still correct after the transfer (Table 4's figure).

    A targeted transfer is run here rather than through ``rb.evaluate``, whose fine criterion would put
    the attack back in its untargeted mode for the call; judging the crafted examples on the victim
    counts every misclassification, reaching the target or not.
    """
    robust = 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            clean = robin(xb).argmax(1) == yb
            with torch.enable_grad():
                adv = attack(xb, yb)
            robust += int((clean & (robin(adv).argmax(1) == yb)).sum())
    return robust / len(y)


def plot_transfer(frame: pd.DataFrame, ax: plt.Axes) -> None:
    """ROBIN's robust accuracy against eps: transferred examples and the white-box reference (Figure 7)."""
    plot_accuracy_vs_eps(frame, ax, series="attack")
