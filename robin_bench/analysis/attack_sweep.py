"""The six ROBIN attack strategies across test eps (ROBIN Table 3, Figure 5)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from matplotlib import pyplot as plt
from torch import nn

from robin_bench.analysis.io import plot_accuracy_vs_eps
from robin_bench.analysis.views import accuracy_rows, pgd_baseline_row
from robin_bench.attacks.evaluate import evaluate
from robin_bench.attacks.robin import STRATEGIES, RobinAttack
from robin_bench.errors import RobinBenchError

WORST = "worst_case"


def attack_sweep(
    robin: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: Sequence[float],
    strategies: Sequence[str] = STRATEGIES,
    base: str = "pgd",
    steps: int = 10,
    baseline: nn.Module | None = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    r"""Robust accuracy of ROBIN against each of its attack strategies across test eps (ROBIN Table 3, Figure 5).

    Every strategy runs on every clean-correct sample (no early exit), so each figure is exact for
    that attack alone; the row ``worst_case`` is the per-sample worst case over all of them. With
    ``baseline``, a multiclass model attacked by PGD (the paper's "standard attack on the multiclass")
    is added as attack ``pgd (baseline)``.

    Arguments:
        robin (nn.Module): the ROBIN model.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (Sequence[float]): test budgets.
        strategies (Sequence[str]): ROBIN strategies. (Default: all six of ``STRATEGIES``)
        base (str): ``"pgd"`` or ``"cw"``. (Default: ``"pgd"``)
        steps (int): steps of the base attack. (Default: 10)
        baseline (nn.Module | None): the multiclass benchmark. (Default: None)
        batch_size (int): samples per batch. (Default: 256)

    Returns:
        pd.DataFrame: one row per (eps, attack): ``model``, ``attack``, ``norm``, ``eps``, ``clean_acc``,
        ``robust_acc``, ``n``.

    Example::

        >>> attack_sweep(robin, x, y, norm="L2", eps=[0.25, 0.5, 0.75, 1.0])
    """
    if not strategies:
        raise RobinBenchError(f"strategies is empty; give some of {', '.join(STRATEGIES)}")
    rows = []
    for e in eps:
        attacks = {
            s: RobinAttack(robin, strategy=s, base=base, norm=norm, eps=float(e), steps=steps)  # type: ignore[arg-type]
            for s in strategies
        }
        res = evaluate(robin, x, y, attacks, batch_size=batch_size, early_exit=False)
        rows += accuracy_rows("robin", {**res.attack_robust_acc, WORST: res.robust_acc}, res, norm=norm, eps=float(e))
        if baseline is not None:
            rows.append(pgd_baseline_row(baseline, x, y, norm=norm, eps=float(e), steps=steps, batch_size=batch_size))
    return pd.DataFrame(rows)


def plot_attack_sweep(frame: pd.DataFrame, ax: plt.Axes) -> None:
    """Robust accuracy against eps, one line per strategy (ROBIN Figure 5)."""
    plot_accuracy_vs_eps(frame, ax, series="attack")
