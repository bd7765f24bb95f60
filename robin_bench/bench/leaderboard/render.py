"""The leaderboard as pages: ``NAME.md`` and ``NAME.html``, and the ``format_*`` helpers every page uses.

Formatting (percent, ranking, HTML) happens here and nowhere else; :mod:`robin_bench.bench.summary` uses the
``format_*`` helpers below.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from robin_bench.bench.leaderboard.columns import GROUP, STRING_COLUMNS, Column, shown


def format_pct(x: Any, digits: int = 1) -> str:
    """A fraction as a percentage string (``0.5312 -> "53.1"``); NaN/None as ``"-"``."""
    if x is None or pd.isna(x):
        return "-"
    return f"{100 * float(x):.{digits}f}"


def format_diff(x: Any) -> str:
    """A difference of fractions in percentage points with its sign (``0.05 -> "+5.0"``)."""
    if x is None or pd.isna(x):
        return "-"
    return f"{100 * float(x):+.1f}"


def format_p(p: Any) -> str:
    """A p-value to three significant digits, ``"<1e-4"`` below that; NaN/None as ``"-"``."""
    if p is None or pd.isna(p):
        return "-"
    return "<1e-4" if p < 1e-4 else f"{float(p):.3g}"


def format_eps(eps: float) -> str:
    """A radius as ``"k/255"`` when it is one (``0.0313725 -> "8/255"``), else its shortest decimal."""
    k = eps * 255
    if abs(eps - round(eps, 4)) > 1e-12 and abs(k - round(k)) < 1e-6 and round(k) >= 1:
        return f"{round(k)}/255"
    return f"{eps:g}"


def format_interval(low: Any, high: Any, fmt: Callable[[Any], str] = format_pct) -> str:
    """``"[low, high]"`` with ``fmt`` applied to each end; ``"-"`` when either end is missing."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "-"
    return f"[{fmt(low)}, {fmt(high)}]"


def _training(r: pd.Series) -> str:
    eps_train = "" if pd.isna(r["eps_train"]) else f" @ {format_eps(float(r['eps_train']))}"
    return f"{r['train_objective']}{eps_train}"


def _group_title(dataset: str, norm: str, eps: float, criterion: str) -> str:
    return f"{dataset} · {norm} · eps = {format_eps(float(eps))} · {criterion} criterion"


def indistinguishable_top(g: pd.DataFrame) -> str | None:
    """A sentence when the best-ranked rows of a group are not statistically distinguishable, else None.

    Counts the top rows linked by ``distinct_from_next == "no"`` (each neighbour's difference interval
    contains 0) and names them with the first difference and its interval.
    """
    g = g.sort_values("rank", kind="stable")
    linked = 1
    for v in g["distinct_from_next"]:
        if v != "no":
            break
        linked += 1
    if linked < 2:
        return None
    top = g.iloc[0]
    names = ", ".join(str(m) for m in g["model"].iloc[:linked])
    return (
        f"The top {linked} ranks ({names}) are not statistically distinguishable: each neighbour's 95% "
        f"interval of the difference contains 0 (ranks 1-2: {format_diff(top['next_diff'])} pp, "
        f"{format_interval(top['next_diff_ci_low'], top['next_diff_ci_high'], format_diff)})."
    )


def format_count(x: Any) -> str:
    """A count as text; NaN/None/NA as ``"-"``."""
    return "-" if x is None or pd.isna(x) else str(int(x))


def proof_cells(r: pd.Series, coarse: bool = False) -> list[str]:
    """The interval [verified, attacked] of a row (a results or leaderboard row) and its unresolved count, fine or
    ``coarse``; ``"-"`` where the row was not verified."""
    prefix = "coarse_" if coarse else ""
    return [
        format_interval(r[f"{prefix}verified_acc"], r[f"{prefix}robust_acc"]),
        format_count(r[f"{prefix}unresolved"]),
    ]


def proof_comparison_cells(r: pd.Series, coarse: bool = False) -> list[str]:
    """The verified accuracy minus the baseline's, its 95% interval and McNemar p on the proofs, fine or ``coarse``;
    ``"-"`` where the row or its baseline was not verified."""
    prefix = "coarse_verified_" if coarse else "verified_"
    return [
        format_diff(r[f"{prefix}acc_diff"]),
        format_interval(r[f"{prefix}acc_diff_ci_low"], r[f"{prefix}acc_diff_ci_high"], format_diff),
        format_p(r[f"{prefix}mcnemar_p"]),
    ]


def has_proofs(rows: pd.DataFrame, coarse: bool = False) -> bool:
    """Whether any of ``rows`` carries a verified accuracy (fine, or ``coarse``): its tables get the proof
    columns."""
    column = "coarse_verified_acc" if coarse else "verified_acc"
    return column in rows.columns and bool(rows[column].notna().any())


def _md_cells(r: pd.Series, proof: bool, coarse_proof: bool) -> list[str]:
    return [
        str(r["rank"]),
        str(r["model"]),
        str(r["kind"]),
        str(r["arch"]),
        _training(r),
        str(r["attack_set"]),
        str(r["n_seeds"]),
        format_pct(r["clean_acc"]),
        format_pct(r["robust_acc"]),
        format_interval(r["robust_acc_ci_low"], r["robust_acc_ci_high"]),
        *(proof_cells(r) if proof else []),
        f"{format_pct(r['robust_acc_min'])}-{format_pct(r['robust_acc_max'])}",
        r["distinct_from_next"] or "-",
        format_pct(r["coarse_clean_acc"]),
        format_pct(r["coarse_robust_acc"]),
        *(proof_cells(r, coarse=True) if coarse_proof else []),
        r["baseline"] or "-",
        format_diff(r["robust_acc_diff"]),
        format_interval(r["robust_acc_diff_ci_low"], r["robust_acc_diff_ci_high"], format_diff),
        format_p(r["mcnemar_p"]),
        *(proof_comparison_cells(r) if proof else []),
        format_diff(r["coarse_robust_acc_diff"]),
        format_p(r["coarse_mcnemar_p"]),
        *(proof_comparison_cells(r, coarse=True)[::2] if coarse_proof else []),
        r["unreliable"] or "-",
    ]


def _md_header(proof: bool, coarse_proof: bool) -> list[str]:
    return [c.md for c in shown(proof, coarse_proof) if c.md]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table (pipes in cells escaped)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "|".join("---" for _ in header) + "|", *(line(r) for r in rows)])


_EXPLANATION = (
    "Robust accuracy: per-sample worst case over the row's attack set, mean over training seeds. 95% CI: "
    "t interval over the seeds (Wilson interval on the test samples when there is one seed). ≠ next: whether "
    "the difference to the next rank has a 95% interval excluding 0. Δ: model minus its flat baseline of the "
    "same suite, paired by seed and by sample, in percentage points; p: exact McNemar test on the per-sample "
    "robust flags, pooled over seeds. Generated by `robin-bench leaderboard`; do not edit."
)

PROOF_EXPLANATION = (
    "[Verified, attacked]: robust accuracy proven by rb.verify (a lower bound) and under the attack set (an upper "
    "bound), means over seeds; unresolved: samples neither proven robust nor broken within the time limit, total "
    "over seeds. Δ verified: verified robust accuracy minus the baseline's, paired by seed and sample like Δ "
    "robust, with McNemar's p on the per-sample proofs."
)
"""What the proof columns mean: added to a page whose rows carry verification."""


def _explanation(board: pd.DataFrame) -> str:
    verified = has_proofs(board) or has_proofs(board, coarse=True)
    return f"{_EXPLANATION} {PROOF_EXPLANATION}" if verified else _EXPLANATION


def plugins_note(board: pd.DataFrame) -> str:
    """Which models come from which plugins (module, distribution, version), or "" when none does."""
    used = board[board["plugins"] != ""].groupby("plugins", sort=True)["model"].unique()
    return " ".join(
        f"Models {', '.join(sorted(models))} come from plugins: {plugins}." for plugins, models in used.items()
    )


def to_markdown(board: pd.DataFrame, name: str) -> str:
    """``NAME.md``: one ranked table per (dataset, norm, eps, criterion), accuracies in percent."""
    note = plugins_note(board)
    parts = [f"# Leaderboard: {name}", "", _explanation(board), "", *([note, ""] if note else [])]
    for (dataset, norm, eps, criterion), g in board.groupby(GROUP, sort=False):
        parts += [f"## {_group_title(dataset, norm, eps, criterion)}", ""]
        top = indistinguishable_top(g)
        if top:
            parts += [f"> **Note:** {top}", ""]
        proof, coarse_proof = has_proofs(g), has_proofs(g, coarse=True)
        parts += [
            markdown_table(
                _md_header(proof, coarse_proof), [_md_cells(r, proof, coarse_proof) for _, r in g.iterrows()]
            ),
            "",
        ]
    return "\n".join(parts)


_SORT_JS = """
function sortBy(th) {
  const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
  const asc = th.dataset.dir !== "asc";
  for (const h of table.tHead.rows[0].cells) { h.dataset.dir = ""; h.classList.remove("asc", "desc"); }
  th.dataset.dir = asc ? "asc" : "desc"; th.classList.add(asc ? "asc" : "desc");
  const key = r => r.cells[col].dataset.v;
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
    const empty = (x === "") - (y === "");
    if (empty !== 0) return empty;
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return asc ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
}
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; }
h2 { font-size: 1.1em; margin: 1.6em 0 0.4em; }
table { border-collapse: collapse; font-size: 0.82em; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.35em; text-align: right; vertical-align: top; }
td { white-space: nowrap; }
th { cursor: pointer; background: #f3f3f3; user-select: none; font-weight: 600; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
td.s, th.s { text-align: left; }
td.w { white-space: normal; overflow-wrap: anywhere; min-width: 5em; }
td small { color: #666; display: block; white-space: normal; }
td.no { background: #fff4d6; }
p.note { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.4em 0.7em; margin: 0.4em 0; }
p.about { max-width: 70em; }
"""


def _html_columns(proof: bool, coarse_proof: bool) -> list[Column]:
    return [c for c in shown(proof, coarse_proof) if c.html]


def _html_proof_cells(r: pd.Series, coarse: bool = False) -> list[str]:
    prefix = "coarse_" if coarse else ""
    interval, unresolved = proof_cells(r, coarse)
    return [_cell(r[f"{prefix}verified_acc"], interval), _cell(r[f"{prefix}unresolved"], unresolved)]


def _html_proof_comparison_cells(r: pd.Series, coarse: bool = False) -> list[str]:
    prefix = "coarse_verified_" if coarse else "verified_"
    return [_diff_cell(r, f"{prefix}acc_diff"), _cell(r[f"{prefix}mcnemar_p"], format_p(r[f"{prefix}mcnemar_p"]))]


def _diff_cell(r: pd.Series, column: str, title: str = "") -> str:
    """A difference from the baseline (``column``) with its 95% interval below, where the row has a baseline."""
    interval = format_interval(r[f"{column}_ci_low"], r[f"{column}_ci_high"], format_diff) if r["baseline"] else ""
    return _cell(r[column], format_diff(r[column]), extra=interval, title=title)


def _cell(
    sort_value: Any,
    text: str,
    *,
    left: bool = False,
    wrap: bool = False,
    extra: str = "",
    title: str = "",
    cls: str = "",
) -> str:
    missing = sort_value is None or (not isinstance(sort_value, str) and pd.isna(sort_value))
    v = "" if missing else str(sort_value)
    classes = " ".join(c for c in ("s" if left else "", "w" if wrap else "", cls) if c)
    attrs = (f' class="{classes}"' if classes else "") + (f' title="{html.escape(title)}"' if title else "")
    small = f"<small>{html.escape(extra)}</small>" if extra and extra != "-" else ""
    return f'<td{attrs} data-v="{html.escape(v)}">{html.escape(text)}{small}</td>'


def _abbreviate(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _html_row(r: pd.Series, proof: bool, coarse_proof: bool) -> str:
    pct, diff = format_pct, format_diff
    unreliable = str(r["unreliable"])
    cells = [
        _cell(r["rank"], str(r["rank"])),
        _cell(r["model"], str(r["model"]), left=True, wrap=True, extra=str(r["suite"])),
        _cell(r["kind"], str(r["kind"]), left=True, wrap=True),
        _cell(r["arch"], str(r["arch"]), left=True, wrap=True),
        _cell(_training(r), _training(r), left=True, wrap=True),
        _cell(r["attack_set"], _abbreviate(str(r["attack_set"])), left=True, wrap=True, title=str(r["attack_set"])),
        _cell(r["n_seeds"], str(r["n_seeds"]), extra=f"n={r['n']}", title=f"seeds {r['seeds']}"),
        _cell(r["clean_acc"], pct(r["clean_acc"])),
        _cell(r["robust_acc"], pct(r["robust_acc"]), title=str(r["ci_method"])),
        _cell(
            r["robust_acc_ci_low"],
            format_interval(r["robust_acc_ci_low"], r["robust_acc_ci_high"]),
            title=str(r["ci_method"]),
        ),
        *(_html_proof_cells(r) if proof else []),
        _cell(r["robust_acc_min"], f"{pct(r['robust_acc_min'])}-{pct(r['robust_acc_max'])}"),
        _cell(
            r["next_diff"],
            diff(r["next_diff"]),
            extra=format_interval(r["next_diff_ci_low"], r["next_diff_ci_high"], diff)
            if r["distinct_from_next"]
            else "",
            cls="no" if r["distinct_from_next"] == "no" else "",
        ),
        _cell(r["coarse_clean_acc"], pct(r["coarse_clean_acc"])),
        _cell(r["coarse_robust_acc"], pct(r["coarse_robust_acc"])),
        *(_html_proof_cells(r, coarse=True) if coarse_proof else []),
        _cell(r["baseline"], r["baseline"] or "-", left=True, wrap=True),
        _diff_cell(r, "robust_acc_diff", title=str(r["diff_ci_method"])),
        _cell(r["mcnemar_p"], format_p(r["mcnemar_p"])),
        *(_html_proof_comparison_cells(r) if proof else []),
        _diff_cell(r, "coarse_robust_acc_diff"),
        _cell(r["coarse_mcnemar_p"], format_p(r["coarse_mcnemar_p"])),
        *(_html_proof_comparison_cells(r, coarse=True) if coarse_proof else []),
        _cell(unreliable, _abbreviate(unreliable) if unreliable else "-", left=True, wrap=True, title=unreliable),
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def to_html(board: pd.DataFrame, name: str) -> str:
    """``NAME.html``: one self-contained page (inline CSS and JS, no network), one table per group.

    Groups are (dataset, norm, eps, criterion); each table sorts by any column (click a header) and is
    preceded by a highlighted note when its top ranks are not statistically distinguishable. Long
    columns wrap and long texts are abbreviated with the full text on hover, so the page fits 1400 px.
    """
    left = ' class="s"'
    sections = []
    for (dataset, norm, eps, criterion), g in board.groupby(GROUP, sort=False):
        note = indistinguishable_top(g)
        proof, coarse_proof = has_proofs(g), has_proofs(g, coarse=True)
        head = "".join(
            f'<th{left if c.name in STRING_COLUMNS else ""} onclick="sortBy(this)" title="{html.escape(c.tip)}">'
            f"{html.escape(c.html)}</th>"
            for c in _html_columns(proof, coarse_proof)
        )
        body = "\n".join(_html_row(r, proof, coarse_proof) for _, r in g.iterrows())
        sections.append(
            f"<h2>{html.escape(_group_title(dataset, norm, eps, criterion))}</h2>\n"
            + (f'<p class="note">{html.escape(note)}</p>\n' if note else "")
            + f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
        )
    title = html.escape(f"robin-bench leaderboard: {name}")
    note = f" {html.escape(plugins_note(board))}" if plugins_note(board) else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{_CSS}</style>\n<script>{_SORT_JS}</script>\n</head>\n<body>\n<h1>{title}</h1>\n"
        f'<p class="about">{html.escape(_explanation(board))} Click a column header to sort; hover a header for '
        f"its meaning.{note}</p>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )
