"""summary.md: per-eps attack tables, side-by-side worst case, baseline comparisons, atomic write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from robin_bench.bench import leaderboard, results, summary

from .synthetic_results import write_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    write_run(out)
    return out


def test_summary_tables(run_dir: Path) -> None:
    path = summary.write_summary(run_dir)
    assert path == run_dir / "summary.md"
    text = path.read_text()
    assert "## demo: digits, Linf, criterion fine" in text
    assert text.count("### eps = ") == 3
    assert "| Model | Kind | Clean | pgd | cw | Worst case | 95% CI | Coarse clean | Coarse worst case |" in text
    df = results.read(run_dir / "results.csv")
    r = df[(df["model"] == "robin") & (df["eps"] == 0.1) & (df["attack"] == "worst_case")].iloc[0]
    ci = f"{leaderboard.format_pct(r['robust_acc_ci_low'])}-{leaderboard.format_pct(r['robust_acc_ci_high'])}"
    assert f"| {leaderboard.format_pct(r['robust_acc'])} | {ci} |" in text
    assert "| eps | mc (flat) | mc coarse | robin (robin) | robin coarse | har (har) | har coarse |" in text
    assert "### Against the flat baseline on the same samples" in text
    assert "| robin | robin | mc | 0.2 |" in text
    assert "Unreliable" not in text


def test_cumulative_attack_figures_are_marked(run_dir: Path) -> None:
    text = summary.write_summary(run_dir).read_text()
    df = results.read(run_dir / "results.csv")
    cw = df[(df["attack"] == "cw") & (df["eps"] == 0.2) & (df["model"] == "mc")].iloc[0]
    assert cw["scope"] == "cumulative"
    assert f"{leaderboard.format_pct(cw['robust_acc'])}{summary.CUMULATIVE_MARK} |" in text


def test_unreliable_rows_are_listed(tmp_path: Path) -> None:
    csv = write_run(tmp_path)
    df = results.read(csv)
    df.loc[(df["model"] == "har") & (df["eps"] == 0.1), "unreliable"] = "zero gradients"
    results.append_rows(csv, df.to_dict("records"))
    text = summary.write_summary(tmp_path).read_text()
    assert "## Unreliable evaluations" in text and "- har at Linf eps = 0.1: zero gradients" in text


def test_summary_write_is_atomic(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = summary.write_summary(run_dir).read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("killed")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        summary.write_summary(run_dir)
    assert (run_dir / "summary.md").read_bytes() == before


def test_analysis_sections_are_appended_in_name_order_and_replaced_on_rewrite(tmp_path: Path) -> None:
    write_run(tmp_path)
    folder = tmp_path / summary.ANALYSIS_DIRNAME
    folder.mkdir()
    (folder / "transfer.md").write_text("## Analysis: transfer\n\nfirst version\n")
    (folder / "boundary.md").write_text("## Analysis: boundary\n")
    (folder / "boundary.csv").write_text("not a section\n")
    text = summary.write_summary(tmp_path).read_text()
    assert text.index("## Analysis: boundary") < text.index("## Analysis: transfer")
    assert text.index("### Worst-case robust accuracy against eps") < text.index("## Analysis: boundary")
    assert "not a section" not in text
    (folder / "transfer.md").write_text("## Analysis: transfer\n\nsecond version\n")
    text = summary.write_summary(tmp_path).read_text()
    assert text.count("## Analysis: transfer") == 1 and "second version" in text and "first version" not in text
    assert text.rstrip().splitlines()[-3:-1] == ["second version", ""], "the analysis ends the body"
    assert text.rstrip().splitlines()[-1].startswith("<!-- results.csv sha256 "), "the results hash ends the file"


def test_summary_without_analyses_has_no_analysis_section(run_dir: Path) -> None:
    text = summary.write_summary(run_dir).read_text()
    assert "## Analysis" not in text and text.endswith("\n") and not text.endswith("\n\n")
