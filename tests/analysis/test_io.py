"""An analysis' summary.md section: its table (summary frame as is, or accuracy pivoted by eps) and links."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robin_bench.analysis.io import ANALYSIS_DIRNAME, section_table, write_section


def test_summary_frame_is_printed_row_by_row_with_three_decimals() -> None:
    summary = pd.DataFrame(
        {"norm": ["L2", "Linf"], "view": ["arm", "arm"], "n": [100, 100], "median": [1.015625, 0.3134765625]}
    )
    lines = section_table(pd.DataFrame(), summary).splitlines()
    assert lines == [
        "| norm | view | n | median |",
        "|---|---|---|---|",
        "| L2 | arm | 100 | 1.016 |",
        "| Linf | arm | 100 | 0.313 |",
    ]


def test_accuracy_rows_are_pivoted_to_one_column_per_eps() -> None:
    frame = pd.DataFrame(
        {
            "model": ["robin"] * 4,
            "attack": ["softmax", "avg_grad"] * 2,
            "eps": [8 / 255, 8 / 255, 0.1, 0.1],
            "robust_acc": [0.5, 0.9, 0.25, 0.75],
        }
    )
    lines = section_table(frame).splitlines()
    assert lines[0] == "| model | attack | robust acc, eps 8/255 | robust acc, eps 0.1 |"
    assert lines[2:] == ["| robin | softmax | 0.500 | 0.250 |", "| robin | avg_grad | 0.900 | 0.750 |"]


def test_section_has_a_heading_the_table_and_links_relative_to_the_run_folder(tmp_path: Path) -> None:
    path = write_section(tmp_path, "boundary", title="Distance", table="| a |\n|---|\n| 1 |")
    assert path == tmp_path / "boundary.md"
    text = path.read_text()
    assert text.startswith("## Analysis: Distance\n\n| a |\n|---|\n| 1 |\n")
    assert f"![boundary]({ANALYSIS_DIRNAME}/boundary.png)" in text
    assert f"({ANALYSIS_DIRNAME}/boundary.csv)" in text
    write_section(tmp_path, "boundary", title="Distance again", table="| b |")
    assert "Distance again" in path.read_text() and "| a |" not in path.read_text()
