"""Robust accuracy against eps plots: one PNG per suite x dataset x norm, atomic."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.image
import pytest
from matplotlib.figure import Figure

from robin_bench.bench import plots, results

from .synthetic_results import write_run


def test_plot_eps_curves_writes_png(tmp_path: Path) -> None:
    write_run(tmp_path)
    paths = plots.plot_eps_curves(tmp_path)
    assert paths == [tmp_path / "plots" / "robust_acc_vs_eps_demo_digits_Linf.png"]
    data = paths[0].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert matplotlib.get_backend().lower() == "agg"
    assert [p.name for p in paths[0].parent.iterdir()] == [paths[0].name]  # no temp files left


def test_plot_without_hierarchy_has_one_panel(tmp_path: Path) -> None:
    csv = write_run(tmp_path)
    df = results.read(csv)
    df["coarse_robust_acc"] = float("nan")
    df["coarse_clean_acc"] = float("nan")
    results.append_rows(csv, df.to_dict("records"))
    with_coarse = write_run(tmp_path / "coarse")
    one = plots.plot_eps_curves(tmp_path)[0]
    two = plots.plot_eps_curves(with_coarse.parent)[0]
    assert matplotlib.image.imread(one).shape[1] < matplotlib.image.imread(two).shape[1]


def test_each_model_is_one_line_of_its_worst_case_against_eps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = write_run(tmp_path)
    figures: list[Figure] = []
    real_close = plots.plt.close

    def keep(fig: Figure) -> None:
        figures.append(fig)
        real_close(fig)

    monkeypatch.setattr(plots.plt, "close", keep)
    plots.plot_eps_curves(tmp_path)
    worst = results.read(csv).query("attack == @results.WORST_CASE")
    fine, coarse = figures[0].axes
    for ax, column in ((fine, "robust_acc"), (coarse, "coarse_robust_acc")):
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert sorted(lines) == ["har (har)", "mc (flat)", "robin (robin)"]
        for label, line in lines.items():
            g = worst[worst["model"] == label.split()[0]].sort_values("eps")
            assert list(line.get_xdata()) == list(g["eps"]) and list(line.get_ydata()) == list(g[column])
