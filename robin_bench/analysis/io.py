"""Writing an analysis: its per-sample or per-model frame as CSV and its figure as PNG, both atomically."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from robin_bench.bench.results import atomic_write_bytes, atomic_write_text  # noqa: E402

ANALYSIS_DIRNAME = "analysis"
"""Sub-folder of a run's output directory that holds the analyses (``<out>/analysis/<name>.csv|png``)."""

Plotter = Callable[[pd.DataFrame, plt.Axes], None]
"""Draws an analysis frame on one matplotlib axes."""


def write_analysis(
    frame: pd.DataFrame, out_dir: str | os.PathLike[str], name: str, plot: Plotter, *, title: str
) -> tuple[Path, Path]:
    r"""Write ``frame`` to ``<out_dir>/<name>.csv`` and its figure to ``<out_dir>/<name>.png``.

    Both files are written atomically (temp file, fsync, rename), so an interrupted run leaves the
    previous files intact; the figure uses matplotlib's Agg backend (no display needed).

    Arguments:
        frame (pd.DataFrame): the analysis' figures (one row per sample or per model and eps).
        out_dir (str | PathLike): folder to write in; created if missing.
        name (str): file stem, e.g. ``"coherence"``.
        plot (Plotter): draws ``frame`` on an axes.
        title (str): the figure's title.

    Returns:
        tuple[Path, Path]: the CSV and PNG paths.

    Example::

        >>> write_analysis(frame, "runs/demo/analysis", "coherence", plot_coherence, title="coherence")
    """
    out = Path(out_dir)
    csv_path, png_path = out / f"{name}.csv", out / f"{name}.png"
    atomic_write_text(csv_path, frame.to_csv(index=False))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    try:
        plot(frame, ax)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
    finally:
        plt.close(fig)
    atomic_write_bytes(png_path, buf.getvalue())
    return csv_path, png_path


def plot_accuracy_vs_eps(frame: pd.DataFrame, ax: plt.Axes, *, series: str, y: str = "robust_acc") -> None:
    """One line of ``y`` against ``eps`` per value of column ``series`` (robust-accuracy curves)."""
    for label, g in frame.groupby(series, sort=False):
        g = g.sort_values("eps")
        ax.plot(g["eps"], g[y], "o-", label=str(label))
    ax.set_xlabel("eps")
    ax.set_ylabel(y.replace("_", " "))
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small")
