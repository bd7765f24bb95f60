"""``summary.md`` of a run: the tables a paper would print, from ``results.csv`` and the per-sample flags."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from robin_bench.bench import results
from robin_bench.bench.leaderboard import (
    baseline_comparisons,
    format_diff,
    format_eps,
    format_p,
    format_pct,
    has_proofs,
    load,
    markdown_table,
    proof_cells,
)
from robin_bench.bench.store import ANALYSIS_DIR, REPORT_HASH_PREFIX, SUMMARY_NAME, RunFolder, file_sha256
from robin_bench.fileio import atomic_write_text

__all__ = ["ANALYSIS_DIRNAME", "SUMMARY_NAME", "analysis_sections", "render", "write_summary"]

CUMULATIVE_MARK = "*"
SUMMARY_PROOF_NOTE = (
    "[Verified, worst case]: the share of samples rb.verify proved robust (a lower bound) and the worst case "
    "(an upper bound); unresolved: samples neither proven robust nor broken within the time limit."
)
"""The sentence a summary of verified cells adds to its introduction."""
ANALYSIS_DIRNAME = ANALYSIS_DIR
"""Sub-folder of a run's output directory holding the analyses (``robin_bench.analysis``): their CSVs, PNGs
and one ``<name>.md`` section each, which :func:`write_summary` appends to ``summary.md`` in name order."""


def _attack_table(cell: pd.DataFrame, attacks: list[str]) -> str:
    proof, coarse_proof = has_proofs(cell), has_proofs(cell, coarse=True)
    header = [
        "Model",
        "Kind",
        "Clean",
        *attacks,
        "Worst case",
        "95% CI",
        *(["[Verified, worst case]", "Unresolved"] if proof else []),
        "Coarse clean",
        "Coarse worst case",
        *(["Coarse [verified, worst case]", "Coarse unresolved"] if coarse_proof else []),
    ]
    rows = []
    for model, g in cell.groupby("model", sort=False):
        by = {r["attack"]: r for _, r in g.iterrows()}
        worst = by[results.WORST_CASE]
        per_attack = [
            format_pct(by[a]["robust_acc"]) + (CUMULATIVE_MARK if by[a]["scope"] == "cumulative" else "")
            if a in by
            else "-"
            for a in attacks
        ]
        rows.append(
            [
                str(model),
                str(worst["kind"]),
                format_pct(worst["clean_acc"]),
                *per_attack,
                format_pct(worst["robust_acc"]),
                f"{format_pct(worst['robust_acc_ci_low'])}-{format_pct(worst['robust_acc_ci_high'])}",
                *(proof_cells(worst) if proof else []),
                format_pct(worst["coarse_clean_acc"]),
                format_pct(worst["coarse_robust_acc"]),
                *(proof_cells(worst, coarse=True) if coarse_proof else []),
            ]
        )
    return markdown_table(header, rows)


def _side_by_side(worst: pd.DataFrame) -> str:
    models = list(dict.fromkeys(worst["model"]))
    kinds = {m: worst[worst["model"] == m]["kind"].iloc[0] for m in models}
    has_coarse = worst["coarse_robust_acc"].notna().any()
    header = ["eps"]
    for m in models:
        header += [f"{m} ({kinds[m]})"] + ([f"{m} coarse"] if has_coarse else [])
    rows = []
    for eps, g in worst.groupby("eps", sort=True):
        by = {r["model"]: r for _, r in g.iterrows()}
        row = [format_eps(float(eps))]
        for m in models:
            row.append(format_pct(by[m]["robust_acc"]) if m in by else "-")
            if has_coarse:
                row.append(format_pct(by[m]["coarse_robust_acc"]) if m in by else "-")
        rows.append(row)
    return markdown_table(header, rows)


def _comparisons(compared: pd.DataFrame) -> str | None:
    rows = [
        [
            str(r["model"]),
            str(r["kind"]),
            str(r["baseline"]),
            format_eps(float(r["eps"])),
            format_diff(r["robust_acc_diff"]),
            format_p(r["mcnemar_p"]),
            format_diff(r["coarse_robust_acc_diff"]),
            format_p(r["coarse_mcnemar_p"]),
        ]
        for _, r in compared.sort_values(["model", "eps"], kind="stable").iterrows()
        if r["baseline"]
    ]
    if not rows:
        return None
    return markdown_table(
        ["Model", "Kind", "Flat baseline", "eps", "Δ robust (pp)", "McNemar p", "Δ coarse (pp)", "Coarse p"], rows
    )


def render(df: pd.DataFrame) -> str:
    """The summary text of the rows returned by :func:`robin_bench.bench.leaderboard.load`."""
    parts = [
        "# Summary",
        "",
        "Accuracies in percent. Worst case: per-sample worst case over the cell's attack set (column "
        "attack_set of results.csv; Wilson 95% interval). A per-attack figure marked "
        f"{CUMULATIVE_MARK} is cumulative (that attack ran "
        "only on the samples earlier attacks left robust, so it is the worst case over it and the attacks "
        "before it); unmarked, it is the robust accuracy against that attack alone."
        + (f" {SUMMARY_PROOF_NOTE}" if has_proofs(df) or has_proofs(df, coarse=True) else ""),
        "",
    ]
    worst_all = baseline_comparisons(df[df["attack"] == results.WORST_CASE].reset_index(drop=True))
    for (suite, dataset, norm, criterion), g in df.groupby(["suite", "dataset", "norm", "criterion"], sort=False):
        parts += [f"## {suite}: {dataset}, {norm}, criterion {criterion}", ""]
        attacks = list(dict.fromkeys(g[g["attack"] != results.WORST_CASE]["attack"]))
        for eps, cell in g.groupby("eps", sort=True):
            parts += [f"### eps = {format_eps(float(eps))}", "", _attack_table(cell, attacks), ""]
        worst = worst_all[
            (worst_all["suite"] == suite)
            & (worst_all["dataset"] == dataset)
            & (worst_all["norm"] == norm)
            & (worst_all["criterion"] == criterion)
        ]
        parts += ["### Worst-case robust accuracy against eps, side by side", "", _side_by_side(worst), ""]
        table = _comparisons(worst)
        if table is not None:
            parts += [
                "### Against the flat baseline on the same samples",
                "",
                "Δ: model minus baseline in percentage points; p: McNemar's exact test on the per-sample "
                "worst-case robust flags (empty when the flags are missing).",
                "",
                table,
                "",
            ]
    flagged = df[(df["attack"] == results.WORST_CASE) & (df["unreliable"] != "")]
    if not flagged.empty:
        parts += ["## Unreliable evaluations", ""]
        parts += [
            f"- {r['model']} at {r['norm']} eps = {format_eps(float(r['eps']))}: {r['unreliable']}"
            for _, r in flagged.iterrows()
        ]
        parts.append("")
    return "\n".join(parts)


def analysis_sections(out_dir: str | os.PathLike[str]) -> list[str]:
    """The analysis sections of a run: the text of each ``<out_dir>/analysis/*.md``, in file-name order.

    Each analysis owns its section file (``robin_bench.analysis.run`` rewrites it atomically on every
    run of that analysis), so rerunning an analysis replaces its section rather than adding one.
    """
    folder = Path(out_dir) / ANALYSIS_DIRNAME
    return [p.read_text(encoding="utf-8").strip() for p in sorted(folder.glob("*.md"))]


def write_summary(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``<out_dir>/summary.md`` (atomic) from ``<out_dir>/results.csv`` and ``<out_dir>/flags/``.

    Per suite, dataset, norm and criterion: a table per eps of clean, per-attack and worst-case
    robust accuracy with fine and coarse columns; worst-case robust accuracy against eps with the
    flat, ROBIN and HAR models side by side; each ROBIN/HAR model against its flat baseline
    (difference and McNemar's exact p-value); then the evaluations flagged unreliable; then the
    sections of the analyses run on it (:func:`analysis_sections`); last, a comment naming the sha256 of the
    ``results.csv`` it was built from (the runner rebuilds reports whose hash no longer matches).

    Returns:
        the path written.

    Example::

        >>> write_summary("runs/demo")
        PosixPath('runs/demo/summary.md')
    """
    folder = RunFolder(out_dir)
    digest = file_sha256(folder.results_csv)
    body = "\n\n".join([render(load([folder.results_csv])).rstrip(), *analysis_sections(folder.path)])
    atomic_write_text(folder.summary_md, f"{body}\n\n{REPORT_HASH_PREFIX}{digest} -->\n")
    return folder.summary_md
