"""Leaderboards: ranked tables (csv, md, sortable html), RobustBench-style JSON records, baseline comparisons.

``build([run/results.csv, ...], "leaderboards/NAME")`` writes::

    NAME.csv               one row per model x (dataset, norm, eps, criterion), numbers as numbers
    NAME.md                one ranked table per (dataset, norm, eps, criterion), percentages
    NAME.html              the same rows in one static table sortable by any column (inline JS)
    NAME/<suite>__<model>.json   one record per model (:data:`RECORD_KEYS`, :data:`EVALUATION_KEYS`)

Rows are the ``worst_case`` rows of the results files, ranked within each (dataset, norm, eps,
criterion) by robust accuracy (ties share a rank). Each ROBIN/HAR row is compared with a flat
baseline evaluated on the same samples (same suite, dataset, norm, eps and criterion): the
difference of robust accuracy and McNemar's exact p-value on the per-sample worst-case flags,
read from ``flags/`` next to each results.csv (:func:`robin_bench.bench.results.cell_key`), and
the same for coarse robustness when coarse flags exist. When a group holds several flat models,
the baseline is the one sharing the most of (arch, train_objective, eps_train), then the first by
name. A missing flags file leaves the p-value empty.

Formatting (percent, ranking, HTML) happens here and nowhere else; :mod:`summary` uses the
``format_*`` helpers below.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robin_bench.bench import results
from robin_bench.bench.stats import mcnemar_exact
from robin_bench.bench.store import ensure_writable
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_text

GROUP: list[str] = ["dataset", "norm", "eps", "criterion"]
"""Rows are ranked within these columns."""

COLUMNS: list[str] = [
    "rank", "suite", "dataset", "norm", "eps", "criterion", "model", "kind", "arch", "train_objective", "eps_train",
    "n", "clean_acc", "robust_acc", "robust_acc_ci_low", "robust_acc_ci_high", "coarse_clean_acc",
    "coarse_robust_acc", "baseline", "robust_acc_diff", "mcnemar_p", "coarse_robust_acc_diff", "coarse_mcnemar_p",
    "unreliable", "grad_evals", "seconds", "config_hash", "robin_bench_version", "torch_version", "device",
]
"""Columns of ``NAME.csv``; accuracies and differences are fractions, p-values in [0, 1]."""

COMPARISON_COLUMNS: list[str] = ["baseline", "robust_acc_diff", "mcnemar_p", "coarse_robust_acc_diff",
                                 "coarse_mcnemar_p"]

RECORD_KEYS: list[str] = [
    "suite", "dataset", "model", "kind", "arch", "train_objective", "eps_train", "seed", "config_hash",
    "robin_bench_version", "torch_version", "device", "evaluations",
]
"""Keys of a model's JSON record, in order."""

EVALUATION_KEYS: list[str] = [
    "norm", "eps", "criterion", "rank", "n", "clean_acc", "robust_acc", "robust_acc_ci", "coarse_clean_acc",
    "coarse_robust_acc", "attacks", "grad_evals", "seconds", "baseline", "robust_acc_diff", "mcnemar_p",
    "coarse_robust_acc_diff", "coarse_mcnemar_p", "unreliable",
]
"""Keys of each entry of a record's ``evaluations`` (one per norm x eps x criterion)."""


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


def load(results_csvs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """The validated rows of several results files, with a ``flags_dir`` column naming each row's flags folder.

    A (suite, model, norm, eps, attack, criterion) key found in two files raises RobinBenchError.
    """
    if not results_csvs:
        raise RobinBenchError("no results file given; pass one or more results.csv paths")
    frames = []
    for p in results_csvs:
        df = results.read(p)
        df["flags_dir"] = str(results.flags_dir_for(p))
        df["source"] = str(p)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(subset=results.KEY, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        files = sorted(set(df[dup & (df["model"] == first["model"]) & (df["suite"] == first["suite"])]["source"]))
        raise RobinBenchError(f"suite {first['suite']!r} model {first['model']!r} appears in several results files "
                              f"{files}; give each evaluated model once")
    return df


def _worst(flags: results.Flags) -> np.ndarray:
    return flags.robust & flags.clean_correct


def _mcnemar(row: pd.Series, base: pd.Series, criterion: str) -> float:
    try:
        a = results.load_flags(row["flags_dir"], results.cell_key(row["suite"], row["model"], row["norm"],
                                                                   row["eps"], criterion))
        b = results.load_flags(base["flags_dir"], results.cell_key(base["suite"], base["model"], base["norm"],
                                                                    base["eps"], criterion))
    except RobinBenchError:
        return float("nan")
    if a.n != b.n:
        return float("nan")
    return mcnemar_exact(_worst(a), _worst(b))


def _pick_baseline(row: pd.Series, flats: pd.DataFrame) -> pd.Series:
    def score(f: pd.Series) -> tuple[int, str]:
        same = sum(f[c] == row[c] or (pd.isna(f[c]) and pd.isna(row[c])) for c in ("arch", "train_objective",
                                                                                  "eps_train"))
        return (-int(same), str(f["model"]))

    return min((f for _, f in flats.iterrows()), key=score)


def baseline_comparisons(worst: pd.DataFrame) -> pd.DataFrame:
    """``worst`` (worst-case rows with ``flags_dir``) plus :data:`COMPARISON_COLUMNS` for each ROBIN/HAR row.

    ``robust_acc_diff`` = model minus baseline; ``mcnemar_p`` compares their per-sample worst-case
    robust flags; the ``coarse_`` pair does the same under the coarse criterion (from
    ``coarse_robust_acc`` and the coarse flags). Flat rows and rows without a flat model in their
    group get empty comparison cells.
    """
    out = worst.copy()
    out["baseline"] = ""
    for c in COMPARISON_COLUMNS[1:]:
        out[c] = float("nan")
    for (_suite, _dataset, _norm, _eps, _crit), g in worst.groupby(["suite", *GROUP], sort=False):
        flats = g[g["kind"] == "flat"]
        if flats.empty:
            continue
        for idx, row in g[g["kind"] != "flat"].iterrows():
            base = _pick_baseline(row, flats)
            out.at[idx, "baseline"] = base["model"]
            out.at[idx, "robust_acc_diff"] = row["robust_acc"] - base["robust_acc"]
            out.at[idx, "mcnemar_p"] = _mcnemar(row, base, row["criterion"])
            if not (pd.isna(row["coarse_robust_acc"]) or pd.isna(base["coarse_robust_acc"])):
                out.at[idx, "coarse_robust_acc_diff"] = row["coarse_robust_acc"] - base["coarse_robust_acc"]
                out.at[idx, "coarse_mcnemar_p"] = _mcnemar(row, base, "coarse")
    return out


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The ranked leaderboard (:data:`COLUMNS`) of the rows returned by :func:`load`."""
    worst = df[df["attack"] == results.WORST_CASE].reset_index(drop=True)
    if worst.empty:
        raise RobinBenchError("the results hold no worst_case row; were they written by robin-bench run?")
    worst = baseline_comparisons(worst)
    worst = worst.sort_values([*GROUP, "robust_acc", "clean_acc", "model"],
                              ascending=[True, True, True, True, False, False, True], kind="stable")
    worst["rank"] = worst.groupby(GROUP)["robust_acc"].rank(method="min", ascending=False).astype(int)
    return worst[COLUMNS].reset_index(drop=True)


def _json_value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, np.generic):
        return _json_value(v.item())
    return v


def records(df: pd.DataFrame, board: pd.DataFrame) -> list[dict[str, Any]]:
    """One RobustBench-style record per (suite, model): identity, provenance and one evaluation per threat."""
    out = []
    for (suite, model), rows in board.groupby(["suite", "model"], sort=True):
        first = df[(df["suite"] == suite) & (df["model"] == model)].iloc[0]
        rec: dict[str, Any] = {k: _json_value(first[k]) for k in RECORD_KEYS if k != "evaluations"}
        rec["evaluations"] = []
        for _, r in rows.sort_values(["norm", "criterion", "eps"]).iterrows():
            cell = df[(df["suite"] == suite) & (df["model"] == model) & (df["norm"] == r["norm"])
                      & (df["eps"] == r["eps"]) & (df["criterion"] == r["criterion"])
                      & (df["attack"] != results.WORST_CASE)]
            ev = {k: _json_value(r[k]) for k in EVALUATION_KEYS if k in board.columns}
            ev["robust_acc_ci"] = [float(r["robust_acc_ci_low"]), float(r["robust_acc_ci_high"])]
            ev["attacks"] = {a["attack"]: {"robust_acc": float(a["robust_acc"]), "scope": a["scope"],
                                           "grad_evals": _json_value(a["grad_evals"]),
                                           "seconds": float(a["seconds"])} for _, a in cell.iterrows()}
            ev["baseline"] = r["baseline"] or None
            ev["unreliable"] = r["unreliable"] or None
            rec["evaluations"].append({k: ev[k] for k in EVALUATION_KEYS})
        out.append({k: rec[k] for k in RECORD_KEYS})
    return out


def read(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a leaderboard ``NAME.csv`` written by :func:`build`; a wrong header raises RobinBenchError."""
    path = Path(csv_path)
    if not path.is_file():
        raise RobinBenchError(f"leaderboard file {path} does not exist")
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RobinBenchError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from e
    if list(df.columns) != COLUMNS:
        raise RobinBenchError(f"{path}: header does not match the leaderboard schema; expected {', '.join(COLUMNS)}")
    for c in ("baseline", "unreliable"):
        df[c] = df[c].fillna("").astype(str)
    return df


_MD_HEADER = ["Rank", "Model", "Kind", "Arch", "Training", "eps train", "Clean", "Robust", "95% CI", "Coarse clean",
              "Coarse robust", "Baseline", "Δ robust", "McNemar p", "Δ coarse", "Coarse p", "Unreliable"]


def _md_cells(r: pd.Series) -> list[str]:
    eps_train = "-" if pd.isna(r["eps_train"]) else format_eps(float(r["eps_train"]))
    return [str(r["rank"]), str(r["model"]), str(r["kind"]), str(r["arch"]), str(r["train_objective"]), eps_train,
            format_pct(r["clean_acc"]), format_pct(r["robust_acc"]),
            f"{format_pct(r['robust_acc_ci_low'])}-{format_pct(r['robust_acc_ci_high'])}",
            format_pct(r["coarse_clean_acc"]), format_pct(r["coarse_robust_acc"]), r["baseline"] or "-",
            format_diff(r["robust_acc_diff"]), format_p(r["mcnemar_p"]), format_diff(r["coarse_robust_acc_diff"]),
            format_p(r["coarse_mcnemar_p"]), r["unreliable"] or "-"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table (pipes in cells escaped)."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "|".join("---" for _ in header) + "|", *(line(r) for r in rows)])


def to_markdown(board: pd.DataFrame, name: str) -> str:
    """``NAME.md``: one ranked table per (dataset, norm, eps, criterion), accuracies in percent."""
    parts = [f"# Leaderboard: {name}", "",
             "Worst-case robust accuracy over each evaluation's attacks (per-sample, AutoAttack protocol), in "
             "percent with its Wilson 95% interval. Δ: model minus its flat baseline on the same samples, in "
             "percentage points; p: McNemar's exact test on the per-sample robust flags. Generated by "
             "`robin-bench leaderboard`; do not edit.", ""]
    for (dataset, norm, eps, criterion), g in board.groupby(GROUP, sort=False):
        parts += [f"## {dataset} · {norm} · eps = {format_eps(float(eps))} · {criterion}", "",
                  markdown_table(_MD_HEADER, [_md_cells(r) for _, r in g.iterrows()]), ""]
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
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { cursor: pointer; background: #f3f3f3; user-select: none; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
td.s { text-align: left; }
"""

_HTML_COLUMNS: list[tuple[str, str, str]] = [
    ("rank", "Rank", "int"), ("dataset", "Dataset", "str"), ("norm", "Norm", "str"), ("eps", "eps", "eps"),
    ("criterion", "Criterion", "str"), ("model", "Model", "str"), ("kind", "Kind", "str"), ("arch", "Arch", "str"),
    ("train_objective", "Training", "str"), ("n", "n", "int"), ("clean_acc", "Clean %", "pct"),
    ("robust_acc", "Robust %", "pct"), ("robust_acc_ci_low", "CI low %", "pct"),
    ("robust_acc_ci_high", "CI high %", "pct"), ("coarse_clean_acc", "Coarse clean %", "pct"),
    ("coarse_robust_acc", "Coarse robust %", "pct"), ("baseline", "Baseline", "str"),
    ("robust_acc_diff", "Δ robust (pp)", "diff"), ("mcnemar_p", "McNemar p", "p"),
    ("coarse_robust_acc_diff", "Δ coarse (pp)", "diff"), ("coarse_mcnemar_p", "Coarse p", "p"),
    ("unreliable", "Unreliable", "str"), ("suite", "Suite", "str"),
]


def _html_cell(v: Any, kind: str) -> str:
    missing = v is None or (not isinstance(v, str) and pd.isna(v))
    sort_value = "" if missing or v == "" else str(v)
    shown = {"pct": format_pct, "diff": format_diff, "p": format_p}.get(kind)
    if shown is not None:
        text = shown(v)
    elif kind == "eps":
        text = format_eps(float(v))
    else:
        text = "-" if sort_value == "" else str(v)
    cls = ' class="s"' if kind == "str" else ""
    return f'<td{cls} data-v="{html.escape(sort_value)}">{html.escape(text)}</td>'


def to_html(board: pd.DataFrame, name: str) -> str:
    """``NAME.html``: one self-contained page (inline CSS and JS, no network); click a header to sort."""
    head = "".join(f'<th onclick="sortBy(this)">{html.escape(h)}</th>' for _, h, _ in _HTML_COLUMNS)
    body = "\n".join("<tr>" + "".join(_html_cell(r[c], k) for c, _, k in _HTML_COLUMNS) + "</tr>"
                     for _, r in board.iterrows())
    title = html.escape(f"robin-bench leaderboard: {name}")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
            f"<style>{_CSS}</style>\n<script>{_SORT_JS}</script>\n</head>\n<body>\n<h1>{title}</h1>\n"
            "<p>Worst-case robust accuracy per model, ranked within dataset, norm, eps and criterion. "
            "Click a column header to sort.</p>\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n</body>\n</html>\n")


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s)


def build(results_csvs: Sequence[str | os.PathLike[str]], out_prefix: str | os.PathLike[str]) -> list[Path]:
    """Write ``NAME.csv``, ``NAME.md``, ``NAME.html`` and ``NAME/<suite>__<model>.json`` from results files.

    Arguments:
        results_csvs (sequence of paths): ``results.csv`` files of runs (their ``flags/`` folders
            next to them give the McNemar p-values).
        out_prefix (path): ``leaderboards/NAME``; NAME is the stem of every file written.

    Returns:
        the paths written: ``NAME.csv`` (the table of :func:`table`), ``.md``, ``.html``, then the records.

    Raises:
        RobinBenchError: a results file is missing or malformed, or the output folder is not writable.

    Example::

        >>> build(["runs/demo/results.csv"], "leaderboards/demo")
    """
    prefix = Path(out_prefix)
    name = prefix.name
    if not name or name in (".", ".."):
        raise RobinBenchError(f"leaderboard output {str(out_prefix)!r} has no file stem; give e.g. leaderboards/demo")
    df = load(results_csvs)
    board = table(df)
    ensure_writable(prefix.parent)
    ensure_writable(prefix)
    written = [prefix.with_name(f"{name}.{ext}") for ext in ("csv", "md", "html")]
    atomic_write_text(written[0], board.to_csv(index=False, na_rep=""))
    atomic_write_text(written[1], to_markdown(board, name))
    atomic_write_text(written[2], to_html(board, name))
    for rec in records(df, board):
        path = prefix / f"{_safe(rec['suite'])}__{_safe(rec['model'])}.json"
        atomic_write_text(path, json.dumps(rec, indent=2, allow_nan=False) + "\n")
        written.append(path)
    return written
