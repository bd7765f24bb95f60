"""Writing an analysis: its per-sample or per-model frame as CSV and its figure as PNG, both atomically."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from robin_bench.bench.leaderboard import format_eps, markdown_table
from robin_bench.bench.summary import ANALYSIS_DIRNAME
from robin_bench.fileio import atomic_write_bytes, atomic_write_text

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


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def section_table(frame: pd.DataFrame, summary: pd.DataFrame | None = None) -> str:
    """The markdown table of an analysis' ``summary.md`` section.

    ``summary`` (one row per group, e.g. per view or per number of classes) is printed as it is. Without
    one, a frame of accuracy-against-eps rows (columns ``attack``, ``eps``, ``robust_acc``, optionally
    ``model`` and ``seed``) is printed with one row per (seed, model, attack) and one robust-accuracy
    column per eps.
    Fractions are printed with three decimals.
    """
    if summary is None:
        keys = [c for c in ("seed", "model", "attack") if c in frame.columns]
        wide = frame.pivot_table(index=keys, columns="eps", values="robust_acc", sort=False).reset_index()
        header = [*keys, *(f"robust acc, eps {format_eps(float(e))}" for e in wide.columns[len(keys) :])]
        return markdown_table(header, [[_cell(v) for v in row] for row in wide.itertuples(index=False)])
    return markdown_table(
        [str(c) for c in summary.columns], [[_cell(v) for v in row] for row in summary.itertuples(index=False)]
    )


def write_section(out_dir: str | os.PathLike[str], name: str, *, title: str, table: str) -> Path:
    r"""Write ``<out_dir>/<name>.md``: the analysis' section of the run's ``summary.md`` (atomic).

    The section is a level-2 heading ``Analysis: <title>``, ``table``, and links to ``<name>.png`` and
    ``<name>.csv`` relative to the run folder (``out_dir`` is its ``analysis/`` sub-folder);
    :func:`robin_bench.bench.summary.write_summary` appends it. Rewriting the file replaces the section.

    Arguments:
        out_dir (str | PathLike): the run's ``analysis/`` folder.
        name (str): file stem, e.g. ``"boundary"``.
        title (str): the section's title.
        table (str): markdown table, e.g. from :func:`section_table`.

    Returns:
        Path: the section file.

    Example::

        >>> write_section("runs/demo/analysis", "boundary", title="Boundary", table=section_table(df, summary))
    """
    path = Path(out_dir) / f"{name}.md"
    text = "\n".join(
        [
            f"## Analysis: {title}",
            "",
            table,
            "",
            f"![{name}]({ANALYSIS_DIRNAME}/{name}.png)",
            "",
            f"Figures: [{ANALYSIS_DIRNAME}/{name}.csv]({ANALYSIS_DIRNAME}/{name}.csv)",
            "",
        ]
    )
    atomic_write_text(path, text)
    return path
