"""A leaderboard's files: ``NAME.csv`` read back and checked, and the whole leaderboard built from results files
(tables, records, cards and, with them, the results and flags it was computed from)."""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robin_bench.bench import results
from robin_bench.bench.leaderboard.columns import COLUMNS, COUNT_KINDS, NUMBER_KINDS, SCHEMA, STRING_COLUMNS
from robin_bench.bench.leaderboard.paths import (
    RECORDS_DIRNAME,
    RESULTS_DIRNAME,
    ROBUSTBENCH_DIRNAME,
    record_path,
    results_path,
)
from robin_bench.bench.leaderboard.records import records
from robin_bench.bench.leaderboard.render import to_html, to_markdown
from robin_bench.bench.leaderboard.robustbench import write_robustbench
from robin_bench.bench.leaderboard.table import load, stored_flags, table
from robin_bench.bench.store import RunLock, flags_dir_for, refuse_overlap
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_bytes, atomic_write_text, make_temp_dir, replace_dir


def _line_error(path: Path, line: int, column: str, value: Any, valid: str) -> RobinBenchError:
    return RobinBenchError(f"{path}:{line}: column {column!r} holds {value!r}; expected {valid}")


def read(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a leaderboard ``NAME.csv`` written by :func:`build`.

    A wrong header, an accuracy that is empty, NaN, a non-number or outside [0, 1], an ``eps`` that is
    not finite and non-negative, or a non-positive ``n`` / ``n_seeds`` raises RobinBenchError naming
    the file, line and column.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise RobinBenchError(f"leaderboard file {path} does not exist")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RobinBenchError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from e
    raw = results.fill_later_columns(raw, COLUMNS)
    if list(raw.columns) != COLUMNS:
        missing = [c for c in COLUMNS if c not in raw.columns]
        extra = [c for c in raw.columns if c not in COLUMNS]
        raise RobinBenchError(
            f"{path}: header does not match the leaderboard schema (missing {missing}, unexpected "
            f"{extra}); regenerate it with robin-bench leaderboard"
        )
    df = pd.DataFrame({c: raw[c] for c in COLUMNS if c in STRING_COLUMNS})

    def number(c: str, i: int, v: str, optional: bool, lo: float, hi: float, valid: str) -> float:
        if v == "" and optional:
            return float("nan")
        try:
            x = float(v)
        except ValueError:
            raise _line_error(path, i + 2, c, v, valid) from None
        if not (math.isfinite(x) and lo <= x <= hi):
            raise _line_error(path, i + 2, c, v, valid)
        return x

    for kind in NUMBER_KINDS:
        lo, hi = kind.bounds
        for c in (col.name for col in SCHEMA if col.kind is kind):
            df[c] = [number(c, i, v, kind.optional, lo, hi, kind.valid) for i, v in enumerate(raw[c])]
    for col in (col for col in SCHEMA if col.kind in COUNT_KINDS):
        c, optional = col.name, col.kind.optional
        vals: list[int | None] = []
        for i, v in enumerate(raw[c]):
            if v == "" and optional:
                vals.append(None)
            elif v.isdigit() and int(v) >= col.kind.bounds[0]:
                vals.append(int(v))
            else:
                raise _line_error(path, i + 2, c, v, col.kind.valid)
        df[c] = pd.array(vals, dtype="Int64") if optional else np.asarray(vals, dtype=np.int64)
    return df[COLUMNS]


def copy_results(df: pd.DataFrame, prefix: str | os.PathLike[str]) -> list[Path]:
    """Copy the evidence of a leaderboard next to it: each suite's results rows and the flags its rows use.

    For every suite of ``df`` (rows from :func:`load`), ``NAME/results/<suite>/results.csv`` gets the
    suite's rows (all attacks and seeds, the results schema) and ``flags/`` beside it the per-sample
    flags of its ``worst_case`` rows under their criterion and under ``coarse``, so that
    ``table(load(NAME/results/*/results.csv))`` recomputes the leaderboard, paired tests included,
    without the run folders.

    Returns:
        the paths written.
    """
    written = []
    for suite, rows in df.groupby("suite", sort=True):
        dest = results_path(prefix, str(suite))
        rows = rows.drop(columns=["flags_dir", "source", "cell"])
        atomic_write_text(dest, rows.to_csv(index=False, na_rep=""))
        written.append(dest)
        worst = df[(df["suite"] == suite) & (df["attack"] == results.WORST_CASE)]
        for _, r in worst.iterrows():
            for criterion in dict.fromkeys((str(r["criterion"]), "coarse")):
                src = stored_flags(r, criterion)
                if src is not None:
                    target = flags_dir_for(dest) / src.name
                    atomic_write_bytes(target, src.read_bytes())
                    written.append(target)
    return written


def build(
    results_csvs: Sequence[str | os.PathLike[str]],
    out_prefix: str | os.PathLike[str],
    robustbench: bool = False,
    with_results: bool = False,
) -> list[Path]:
    """Write ``NAME.csv``, ``NAME.md``, ``NAME.html`` and the JSON records (and cards) from results files.

    Arguments:
        results_csvs (sequence of paths): ``results.csv`` files of runs (their ``flags/`` folders
            next to them give the paired tests).
        out_prefix (path): ``leaderboards/NAME``; NAME is the stem of every file written.
        robustbench (bool): also write RobustBench model cards under ``NAME/robustbench/``
            (:func:`write_robustbench`). Default: False.
        with_results (bool): also copy the per-seed results and the per-sample flags they use under
            ``NAME/results/<suite>/`` (:func:`copy_results`), so the leaderboard can be recomputed and
            its paired tests checked from the committed files alone. Default: False.

    Returns:
        the paths written: ``NAME.csv`` (the table of :func:`table`), ``.md``, ``.html``, the records,
        then the RobustBench cards, then the copied results and flags.

    ``NAME/`` is built whole in a temp folder and swapped in, under a lock (``.NAME.lock`` beside it): what an
    earlier build wrote and this one does not (a model dropped since) is gone with the old folder.

    Raises:
        RobinBenchError: a results file is missing, malformed (e.g. an infinite eps) or disagrees with its
            per-sample flags; an output is, holds or resolves to an input or a run folder's own file; ``NAME/``
            holds files robin-bench did not write; the output folder is not writable or locked by another build.

    Example::

        >>> build(["runs/demo/results.csv"], "leaderboards/demo")
    """
    prefix = Path(out_prefix)
    name = prefix.name
    if not name or name in (".", "..") or not name.isprintable():
        raise RobinBenchError(
            f"leaderboard output {str(out_prefix)!r} has no printable file stem; give e.g. leaderboards/demo"
        )
    tables = [prefix.with_name(f"{name}.{ext}") for ext in ("csv", "md", "html")]
    inputs = [Path(p) for p in results_csvs]
    refuse_overlap([*tables, prefix], [*inputs, *(flags_dir_for(p) for p in inputs)])
    df = load(results_csvs)
    board = table(df)
    with RunLock(prefix.parent, name=f".{name}.lock"):
        _clear_leftovers(prefix)
        tmp = make_temp_dir(prefix.parent, prefix=f".{name}.build-")
        try:
            inside = []
            for rec in records(df, board):
                path = record_path(tmp, rec["suite"], rec["model"])
                atomic_write_text(path, json.dumps(rec, indent=2, allow_nan=False) + "\n")
                inside.append(path)
            if robustbench:
                inside += write_robustbench(board, tmp / ROBUSTBENCH_DIRNAME)
            if with_results:
                inside += copy_results(df, tmp)
            replace_dir(tmp, prefix)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        atomic_write_text(tables[0], board.to_csv(index=False, na_rep=""))
        atomic_write_text(tables[1], to_markdown(board, name))
        atomic_write_text(tables[2], to_html(board, name))
    return [*tables, *(prefix / p.relative_to(tmp) for p in inside)]


_GENERATED = frozenset({RECORDS_DIRNAME, ROBUSTBENCH_DIRNAME, RESULTS_DIRNAME})
"""What a leaderboard folder ``NAME/`` holds: :func:`build` replaces it whole, so it must hold nothing else."""


def _clear_leftovers(prefix: Path) -> None:
    """Refuse a ``NAME/`` that is a link or holds what :func:`build` did not write; remove the temp folders of a
    killed build."""
    if prefix.is_symlink() or (prefix.exists() and not prefix.is_dir()):
        raise RobinBenchError(
            f"leaderboard folder {prefix} is a link or a file; a leaderboard is written as a new "
            "folder: remove it or choose another -o"
        )
    foreign = sorted(p.name for p in prefix.iterdir() if p.name not in _GENERATED) if prefix.is_dir() else []
    if foreign:
        raise RobinBenchError(
            f"leaderboard folder {prefix} holds {foreign[:3]}, which robin-bench leaderboard did not "
            f"write (it holds only {sorted(_GENERATED)}); choose another -o"
        )
    for p in prefix.parent.glob(f".{glob.escape(prefix.name)}.*"):
        if p.name.startswith((f".{prefix.name}.build-", f".{prefix.name}.old-")) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
