"""Plots of a run: worst-case robust accuracy against eps per model (ROBIN Figures 3 and 5 style)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from robin_bench.bench import results
from robin_bench.bench.store import PLOTS_DIR, RunFolder
from robin_bench.fileio import atomic_write_bytes
from robin_bench.models.kinds import KINDS

PLOTS_DIRNAME = PLOTS_DIR


def _panel(ax: plt.Axes, worst: pd.DataFrame, column: str, title: str, with_ci: bool) -> None:
    many_criteria = worst["criterion"].nunique() > 1
    for (model, criterion), g in worst.groupby(["model", "criterion"], sort=True):
        g = g.sort_values("eps")
        if g[column].isna().all():
            continue
        label = f"{model} ({g['kind'].iloc[0]})" + (f", {criterion}" if many_criteria else "")
        (line,) = ax.plot(g["eps"], g[column], _marker(str(g["kind"].iloc[0])), label=label)
        if with_ci:
            ax.fill_between(
                g["eps"],
                g["robust_acc_ci_low"],
                g["robust_acc_ci_high"],
                color=line.get_color(),
                alpha=0.15,
                linewidth=0,
            )
    ax.set_title(title)
    ax.set_xlabel("eps")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def _marker(kind: str) -> str:
    return KINDS.get(kind).marker if kind in KINDS else "o-"


def plot_eps_curves(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw worst-case robust accuracy against eps, one line per model, from ``<out_dir>/results.csv``.

    One PNG per (suite, dataset, norm): ``<out_dir>/plots/robust_acc_vs_eps_<suite>_<dataset>_<norm>.png``,
    with a panel of fine robust accuracy (shaded: Wilson 95% interval) and, when the run has a
    hierarchy, a panel of coarse robust accuracy (HAR's hierarchical robustness). Files are
    written atomically; the figure uses matplotlib's Agg backend (no display needed).

    Returns:
        the paths written.

    Example::

        >>> plot_eps_curves("runs/demo")
        [PosixPath('runs/demo/plots/robust_acc_vs_eps_demo_digits_Linf.png')]
    """
    folder = RunFolder(out_dir)
    df = folder.read_results()
    worst = df[df["attack"] == results.WORST_CASE]
    written = []
    for (suite, dataset, norm), g in worst.groupby(["suite", "dataset", "norm"], sort=True):
        coarse = g["coarse_robust_acc"].notna().any()
        fig, axes = plt.subplots(1, 2 if coarse else 1, figsize=(11 if coarse else 5.5, 4), squeeze=False)
        try:
            _panel(axes[0][0], g, "robust_acc", f"{dataset}, {norm}: robust accuracy", with_ci=True)
            if coarse:
                _panel(axes[0][1], g, "coarse_robust_acc", f"{dataset}, {norm}: coarse robust accuracy", with_ci=False)
            fig.suptitle(f"suite {suite}")
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
        finally:
            plt.close(fig)
        stem = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(s)) for s in (suite, dataset, norm))
        path = folder.plots_dir / f"robust_acc_vs_eps_{stem}.png"
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written
