"""The results table: schema, rows of one evaluated cell, atomic merge into ``results.csv``, per-sample flags.

A run's output directory holds::

    results.csv            one row per suite x model x seed x norm x eps x attack (see COLUMNS); coarse
                           results are columns of the same rows
    flags/<cell key>.npz   per-sample flags of one cell (:mod:`robin_bench.bench.store` owns them)

A *cell* is one model (one seed) evaluated at one (norm, eps) under one success criterion. A cell job
(:func:`robin_bench.bench.jobs.run_cell_job`) turns its ``EvalResult`` (robin_bench/attacks/evaluate.py)
into rows with :func:`rows_for_cell` and stores its flags (:func:`flags_of`) through the run folder
(:class:`robin_bench.bench.store.RunFolder`) in ``flags/`` under the cell's key
(:class:`robin_bench.bench.store.CellId`, chosen by the planner; with the seed for a model with several
seeds); when a hierarchy is given, the coarse-criterion result of the same cell is stored too, under its
coarse key. Every row read back is checked against those flags (:func:`robin_bench.bench.store.verify_results`).
The runner then replaces ``results.csv`` with exactly the rows of the suite's finished cells (:func:`write`,
through ``RunFolder.write_results``); :func:`append_rows` merges rows into a file for other writers (tests,
tools).

What a per-attack row's ``robust_acc`` means (column ``scope``): attacks run in order with
AutoAttack's early exit, so a later attack only sees the samples no earlier attack broke.

* ``scope="alone"``: the attack ran on every clean-correct sample, so the row is the robust
  accuracy against that attack alone (always the case for the first attack).
* ``scope="cumulative"``: it ran on a subset, so the row is the cumulative worst case over this
  attack and every attack before it (fraction of samples clean-correct and broken by none of them).
* ``scope="worst_case"``: the ``attack="worst_case"`` row, the per-sample worst case over all attacks.

All accuracies are fractions in [0, 1]; formatting happens only in :mod:`robin_bench.bench.leaderboard`.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Protocol, TypedDict, get_args, get_origin, get_type_hints

import numpy as np
import pandas as pd
import torch

from robin_bench.bench.schema import WORST_CASE
from robin_bench.bench.stats import wilson
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_text
from robin_bench.models.kinds import kind_names

NONEMPTY = "nonempty"
FRACTION = "fraction"
OPTIONAL = "optional"
NONNEGATIVE = "nonnegative"


class ResultRow(TypedDict):
    """One row of ``results.csv``: the column schema, declared once (order = column order).

    ``Annotated`` marks say how a column is validated: :data:`NONEMPTY` strings, :data:`FRACTION`
    (in [0, 1]), :data:`OPTIONAL` (empty in the file, NaN/None in memory), :data:`NONNEGATIVE` numbers.
    ``seed`` is the model's training seed (a replicate of a model with ``seeds``; for a loaded
    checkpoint, the suite's seed); ``attack_set`` names what produced the row (``custom`` for an explicit
    list of attacks).
    """

    suite: Annotated[str, NONEMPTY]
    dataset: Annotated[str, NONEMPTY]
    model: Annotated[str, NONEMPTY]
    seed: int
    kind: Annotated[str, NONEMPTY]
    arch: str
    train_objective: str
    norm: Annotated[str, NONEMPTY]
    eps_train: Annotated[float, OPTIONAL, NONNEGATIVE]
    eps: Annotated[float, NONNEGATIVE]
    attack: Annotated[str, NONEMPTY]
    attack_set: Annotated[str, NONEMPTY]
    criterion: Annotated[str, NONEMPTY]
    scope: Annotated[str, NONEMPTY]
    n: int
    clean_acc: Annotated[float, FRACTION]
    robust_acc: Annotated[float, FRACTION]
    robust_acc_ci_low: Annotated[float, FRACTION]
    robust_acc_ci_high: Annotated[float, FRACTION]
    coarse_clean_acc: Annotated[float, FRACTION, OPTIONAL]
    coarse_robust_acc: Annotated[float, FRACTION, OPTIONAL]
    grad_evals: Annotated[int, OPTIONAL]
    seconds: Annotated[float, NONNEGATIVE]
    unreliable: str
    robin_bench_version: str
    torch_version: str
    device: str
    config_hash: str
    timestamp: str
    plugins: str
    verified_acc: Annotated[float, FRACTION, OPTIONAL]
    coarse_verified_acc: Annotated[float, FRACTION, OPTIONAL]
    unresolved: Annotated[int, OPTIONAL]
    coarse_unresolved: Annotated[int, OPTIONAL]


def _schema() -> dict[str, tuple[type, frozenset[str]]]:
    hints = get_type_hints(ResultRow, include_extras=True)
    return {
        name: (get_args(h)[0], frozenset(get_args(h)[1:])) if get_origin(h) is Annotated else (h, frozenset())
        for name, h in hints.items()
    }


SCHEMA: dict[str, tuple[type, frozenset[str]]] = _schema()
"""Column -> (type, validation marks), from :class:`ResultRow`."""

COLUMNS: list[str] = list(SCHEMA)
"""Column order of ``results.csv``."""

LATER_COLUMNS: dict[str, str] = {
    "plugins": "",
    "verified_acc": "",
    "coarse_verified_acc": "",
    "unresolved": "",
    "coarse_unresolved": "",
    "verified_acc_diff": "",
    "verified_acc_diff_ci_low": "",
    "verified_acc_diff_ci_high": "",
    "verified_mcnemar_p": "",
    "coarse_verified_acc_diff": "",
    "coarse_verified_acc_diff_ci_low": "",
    "coarse_verified_acc_diff_ci_high": "",
    "coarse_verified_mcnemar_p": "",
}
"""Columns added after results files (and leaderboard files, the verified comparisons) were first written, with
the value an older file's rows get."""


def fill_later_columns(raw: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``raw`` with the :data:`LATER_COLUMNS` of ``columns`` it lacks filled with their defaults, where its other
    columns are ``columns`` in order (a file written before those columns existed); else ``raw`` unchanged."""
    missing = [c for c in columns if c not in raw.columns]
    if (
        missing
        and all(c in LATER_COLUMNS for c in missing)
        and list(raw.columns) == [c for c in columns if c not in missing]
    ):
        return raw.assign(**{c: LATER_COLUMNS[c] for c in missing})[list(columns)]
    return raw


KEY: list[str] = ["suite", "model", "seed", "norm", "eps", "attack", "criterion"]
"""Columns identifying a row: a rerun replaces the row with the same key, never duplicates it."""

SCOPES = ("alone", "cumulative", WORST_CASE)
RESULTS_NAME = "results.csv"

META_REQUIRED: list[str] = [
    "suite",
    "dataset",
    "model",
    "seed",
    "kind",
    "arch",
    "train_objective",
    "norm",
    "eps_train",
    "eps",
    "attack_set",
    "criterion",
    "device",
    "config_hash",
]
"""Keys ``rows_for_cell`` needs in ``meta``; ``unreliable``, versions and timestamp are filled in when absent."""

_STR = tuple(c for c, (t, _) in SCHEMA.items() if t is str)
_NONEMPTY = tuple(c for c, (_, m) in SCHEMA.items() if NONEMPTY in m)
_FRACTIONS = tuple(c for c, (_, m) in SCHEMA.items() if FRACTION in m and OPTIONAL not in m)
_OPTIONAL_FRACTIONS = tuple(c for c, (_, m) in SCHEMA.items() if FRACTION in m and OPTIONAL in m)
_FLOATS = tuple(c for c, (t, m) in SCHEMA.items() if t is float and not m & {FRACTION, OPTIONAL})
_OPTIONAL_FLOATS = tuple(c for c, (t, m) in SCHEMA.items() if t is float and OPTIONAL in m and FRACTION not in m)
_INTS = tuple(c for c, (t, m) in SCHEMA.items() if t is int and OPTIONAL not in m)
_OPTIONAL_INTS = tuple(c for c, (t, m) in SCHEMA.items() if t is int and OPTIONAL in m)


class EvalResultLike(Protocol):
    """What :func:`rows_for_cell` and :func:`flags_of` read from ``attacks.evaluate``'s result (read-only)."""

    @property
    def names(self) -> Sequence[str]: ...
    @property
    def clean_correct(self) -> Any: ...
    @property
    def robust(self) -> Any: ...
    @property
    def success(self) -> Mapping[str, Any]: ...
    @property
    def ran(self) -> Mapping[str, Any]: ...
    @property
    def grad_evals(self) -> Mapping[str, int | None]: ...
    @property
    def seconds(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class Flags:
    """Per-sample flags of one cell, as numpy bool arrays of shape (N,).

    Attributes:
        names (list[str]): attacks in the order they ran.
        clean_correct: samples classified correctly without attack.
        robust: samples clean-correct and broken by no attack (the worst case).
        success (dict[str, array]): samples each attack broke (only where it ran).
        ran (dict[str, array]): samples each attack was run on.
        verify_status (array | None): each sample's ``rb.verify`` status (``verified``, ``broken``, ``unknown``)
            where the cell was verified, else None.
        verify_stats (dict[str, array] | None): each sample's proven margin bounds, seconds and solver counts
            (``VerifyResult.solver_stats``) where the cell stored them, else None.
    """

    names: list[str]
    clean_correct: np.ndarray
    robust: np.ndarray
    success: dict[str, np.ndarray]
    ran: dict[str, np.ndarray]
    verify_status: np.ndarray | None = None
    verify_stats: dict[str, np.ndarray] | None = None

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.clean_correct.shape[0])


def _bool_array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(bool).reshape(-1)


def flags_of(result: EvalResultLike) -> Flags:
    """The per-sample flags of an ``EvalResult`` as numpy arrays, checked for consistent shapes."""
    clean = _bool_array(result.clean_correct)
    flags = Flags(
        names=list(result.names),
        clean_correct=clean,
        robust=_bool_array(result.robust),
        success={a: _bool_array(result.success[a]) for a in result.names},
        ran={a: _bool_array(result.ran[a]) for a in result.names},
    )
    for what, arr in [
        ("robust", flags.robust),
        *[(f"success[{a!r}]", s) for a, s in flags.success.items()],
        *[(f"ran[{a!r}]", r) for a, r in flags.ran.items()],
    ]:
        if arr.shape != clean.shape:
            raise RobinBenchError(f"evaluation result: {what} has shape {arr.shape}, clean_correct has {clean.shape}")
    if WORST_CASE in flags.names:
        raise RobinBenchError(f"an attack may not be named {WORST_CASE!r}: that name is the worst-case row")
    return flags


def per_attack_robust(flags: Flags) -> dict[str, tuple[np.ndarray, str]]:
    """Per attack: the (N,) robust flags of its row and the row's scope ("alone" or "cumulative").

    See the module docstring for what each scope means.
    """
    out: dict[str, tuple[np.ndarray, str]] = {}
    broken = np.zeros_like(flags.clean_correct)
    for a in flags.names:
        hit = flags.success[a] & flags.ran[a]
        broken = broken | hit
        if np.all(flags.ran[a] | ~flags.clean_correct):
            out[a] = (flags.clean_correct & ~hit, "alone")
        else:
            out[a] = (flags.clean_correct & ~broken, "cumulative")
    return out


def _frac(flags: np.ndarray) -> float:
    return float(np.count_nonzero(flags)) / flags.shape[0]


def _unreliable_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "; ".join(str(v) for v in value)
    raise RobinBenchError(f"meta['unreliable'] is {value!r}; give a reason string or a list of reasons")


def rows_for_cell(
    meta: Mapping[str, Any],
    result: EvalResultLike,
    coarse_result: EvalResultLike | None = None,
    *,
    verified: Any = None,
    coarse_verified: Any = None,
) -> list[dict[str, Any]]:
    """The ``results.csv`` rows of one cell: one per attack, then the ``worst_case`` row.

    Arguments:
        meta (Mapping): provenance and identity of the cell: every key of :data:`META_REQUIRED`;
            optionally ``unreliable`` (a reason string or list of reasons from the sanity checks,
            default none), ``robin_bench_version``, ``torch_version`` and ``timestamp`` (filled in
            with the running versions and the current UTC time when absent).
        result (EvalResult): ``attacks.evaluate``'s result under ``meta["criterion"]``.
        coarse_result (EvalResult, optional): the same cell under the coarse criterion (needs a
            hierarchy); fills ``coarse_clean_acc`` and ``coarse_robust_acc``, else they are NaN.
        verified (VerifyResult, optional): ``rb.verify`` of the cell's samples under its criterion; fills
            ``verified_acc`` and ``unresolved`` of every row (else NaN and empty).
        coarse_verified (VerifyResult, optional): the same under the coarse criterion; fills
            ``coarse_verified_acc`` and ``coarse_unresolved``.

    Returns:
        list of dicts with exactly the keys of :data:`COLUMNS`, fractions in [0, 1], a Wilson 95%
        interval around each ``robust_acc``; ``grad_evals`` of the worst-case row is the sum over
        attacks (None when any attack's count is unknown), ``seconds`` the sum.

    Example::

        >>> rows = rows_for_cell(meta, evaluate(model, x, y, attacks))
        >>> append_rows(out_dir / "results.csv", rows)
    """
    missing = [k for k in META_REQUIRED if k not in meta]
    if missing:
        raise RobinBenchError(f"rows_for_cell: meta lacks {missing}; it needs {META_REQUIRED}")
    if meta["kind"] not in kind_names():
        raise RobinBenchError(f"rows_for_cell: meta kind {meta['kind']!r} is not one of {kind_names()}")
    flags = flags_of(result)
    n = flags.n
    if n == 0:
        raise RobinBenchError(f"rows_for_cell: cell {meta['model']!r} at eps={meta['eps']} evaluated no sample")
    coarse_flags = flags_of(coarse_result) if coarse_result is not None else None
    if coarse_flags is not None and coarse_flags.n != n:
        raise RobinBenchError(f"rows_for_cell: coarse result has {coarse_flags.n} samples, fine result {n}")
    coarse_robust = per_attack_robust(coarse_flags) if coarse_flags is not None else {}
    for proof in (verified, coarse_verified):
        if proof is not None and proof.n != n:
            raise RobinBenchError(f"rows_for_cell: a verification has {proof.n} samples, the cell {n}")
    from robin_bench import __version__

    base = {
        **{k: meta[k] for k in META_REQUIRED},
        "eps": float(meta["eps"]),
        "eps_train": float("nan") if meta["eps_train"] is None else float(meta["eps_train"]),
        "unreliable": _unreliable_text(meta.get("unreliable")),
        "plugins": str(meta.get("plugins") or ""),
        "robin_bench_version": meta.get("robin_bench_version", __version__),
        "torch_version": meta.get("torch_version", torch.__version__),
        "timestamp": meta.get("timestamp", datetime.now(timezone.utc).isoformat(timespec="seconds")),
        "n": n,
        "clean_acc": _frac(flags.clean_correct),
        "coarse_clean_acc": _frac(coarse_flags.clean_correct) if coarse_flags is not None else float("nan"),
        "verified_acc": float(verified.verified_acc) if verified is not None else float("nan"),
        "coarse_verified_acc": float(coarse_verified.verified_acc) if coarse_verified is not None else float("nan"),
        "unresolved": int(verified.n_unresolved) if verified is not None else None,
        "coarse_unresolved": int(coarse_verified.n_unresolved) if coarse_verified is not None else None,
    }

    def row(
        attack: str, scope: str, robust: np.ndarray, coarse: np.ndarray | None, grad_evals: int | None, seconds: float
    ) -> dict[str, Any]:
        k = int(np.count_nonzero(robust))
        low, high = wilson(k, n)
        r = {
            **base,
            "attack": attack,
            "scope": scope,
            "robust_acc": k / n,
            "robust_acc_ci_low": low,
            "robust_acc_ci_high": high,
            "coarse_robust_acc": _frac(coarse) if coarse is not None else float("nan"),
            "grad_evals": grad_evals,
            "seconds": float(seconds),
        }
        return {c: r[c] for c in COLUMNS}

    rows = []
    for a, (robust, scope) in per_attack_robust(flags).items():
        coarse = coarse_robust[a][0] if a in coarse_robust else None
        rows.append(row(a, scope, robust, coarse, result.grad_evals.get(a), result.seconds.get(a, 0.0)))
    counts = [result.grad_evals.get(a) for a in flags.names]
    total_evals = None if any(c is None for c in counts) else sum(int(c) for c in counts if c is not None)
    rows.append(
        row(
            WORST_CASE,
            WORST_CASE,
            flags.robust & flags.clean_correct,
            coarse_flags.robust & coarse_flags.clean_correct if coarse_flags is not None else None,
            total_evals,
            sum(float(result.seconds.get(a, 0.0)) for a in flags.names),
        )
    )
    return rows


def _key_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(repr(float(row[k])) if k == "eps" else str(row[k]) for k in KEY)


def to_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the columns of :data:`COLUMNS`, in order, and the schema's dtypes."""
    rows = list(rows)
    for i, r in enumerate(rows):
        missing = [c for c in COLUMNS if c not in r]
        if missing:
            raise RobinBenchError(f"results row {i} lacks columns {missing}")
    df = pd.DataFrame([{c: r[c] for c in COLUMNS} for r in rows], columns=COLUMNS)
    for c in _FRACTIONS + _OPTIONAL_FRACTIONS + _FLOATS + _OPTIONAL_FLOATS:
        df[c] = pd.to_numeric(df[c], errors="raise").astype("float64")
    for c in _INTS:
        df[c] = df[c].astype("int64")
    for c in _OPTIONAL_INTS:
        df[c] = pd.array(
            [None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v) for v in df[c]], dtype="Int64"
        )
    for c in _STR:
        df[c] = ["" if v is None else str(v) for v in df[c]]
    return df


def append_rows(csv_path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Merge ``rows`` into ``results.csv`` atomically and return the merged table.

    A row whose :data:`KEY` is already in the file replaces it in place (so a rerun never
    duplicates); new rows are appended in order. The whole file is rewritten through a temp file
    and ``os.replace``, so a crash leaves the old file intact. Not safe for two concurrent writers:
    the runner's lock on the output directory serializes them.

    Arguments:
        csv_path (path): the results file; created with its folder when absent.
        rows (sequence of dict): rows with the keys of :data:`COLUMNS` (see :func:`rows_for_cell`).
    """
    csv_path = Path(csv_path)
    new = to_frame(rows)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    if csv_path.exists():
        for r in read(csv_path).to_dict("records"):
            merged[_key_of(r)] = r
    for r in new.to_dict("records"):
        merged[_key_of(r)] = r
    return write(csv_path, list(merged.values()))


def write(csv_path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Replace ``results.csv`` by exactly ``rows`` (the schema's columns and dtypes, keys unique; atomic: a crash
    leaves the old file) and return the table."""
    df = to_frame(rows)
    dup = df.duplicated(subset=KEY, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        raise RobinBenchError(f"results rows repeat the key {dict(first[KEY])}; each key may appear once")
    buf = io.StringIO()
    df.to_csv(buf, index=False, na_rep="")
    atomic_write_text(csv_path, buf.getvalue())
    return df


def _bad(path: Path, line: int, column: str, value: str, valid: str) -> RobinBenchError:
    return RobinBenchError(f"{path}:{line}: column {column!r} holds {value!r}; expected {valid}")


def read(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a ``results.csv``.

    Checks the header (exactly :data:`COLUMNS`), every value's type and range (fractions in
    [0, 1], ``ci_low <= robust_acc <= ci_high``, ``n >= 1``), known ``scope`` values and
    unique :data:`KEY`; a ``kind`` unknown to this process (a plugin's, not installed here) is data, not an
    error. A file written before a column of :data:`LATER_COLUMNS` existed reads with its default. A violation
    raises :class:`RobinBenchError` naming file, line and column.

    Returns:
        DataFrame with columns :data:`COLUMNS`: floats (NaN where optional and empty), ints,
        nullable ``Int64`` ``grad_evals`` and strings.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise RobinBenchError(f"results file {path} does not exist")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RobinBenchError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from e
    raw = fill_later_columns(raw, COLUMNS)
    if list(raw.columns) != COLUMNS:
        missing = [c for c in COLUMNS if c not in raw.columns]
        extra = [c for c in raw.columns if c not in COLUMNS]
        raise RobinBenchError(
            f"{path}: header does not match the results schema (missing {missing}, unexpected {extra}); "
            f"expected columns {', '.join(COLUMNS)}"
        )
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    seen: dict[tuple[Any, ...], int] = {}
    for i, rec in enumerate(raw.to_dict("records")):
        line = i + 2
        for c in _NONEMPTY:
            if rec[c] == "":
                raise _bad(path, line, c, rec[c], "a non-empty value")
        for c in _STR:
            out[c].append(rec[c])
        for c in _FRACTIONS + _OPTIONAL_FRACTIONS + _FLOATS + _OPTIONAL_FLOATS:
            v = rec[c]
            optional = c in _OPTIONAL_FRACTIONS + _OPTIONAL_FLOATS
            if v == "" and optional:
                out[c].append(float("nan"))
                continue
            try:
                x = float(v)
            except ValueError:
                raise _bad(path, line, c, v, "a number" + (" or empty" if optional else "")) from None
            if math.isnan(x) or (c in _FRACTIONS + _OPTIONAL_FRACTIONS and not 0.0 <= x <= 1.0):
                raise _bad(
                    path, line, c, v, "a fraction in [0, 1]" if c in _FRACTIONS + _OPTIONAL_FRACTIONS else "a number"
                )
            if c in _FLOATS + _OPTIONAL_FLOATS and x < 0:
                raise _bad(path, line, c, v, "a non-negative number")
            out[c].append(x)
        for c in _INTS + _OPTIONAL_INTS:
            v = rec[c]
            if v == "" and c in _OPTIONAL_INTS:
                out[c].append(None)
                continue
            if not re.fullmatch(r"-?\d+", v):
                raise _bad(path, line, c, v, "an integer")
            out[c].append(int(v))
        if out["n"][-1] < 1:
            raise _bad(path, line, "n", rec["n"], "a positive sample count")
        if rec["scope"] not in SCOPES:
            raise _bad(path, line, "scope", rec["scope"], f"one of {list(SCOPES)}")
        if not out["robust_acc_ci_low"][-1] <= out["robust_acc"][-1] <= out["robust_acc_ci_high"][-1]:
            raise _bad(
                path,
                line,
                "robust_acc",
                rec["robust_acc"],
                f"a value inside its interval [{rec['robust_acc_ci_low']}, {rec['robust_acc_ci_high']}]",
            )
        key = _key_of({**rec, "eps": out["eps"][-1]})
        if key in seen:
            raise RobinBenchError(
                f"{path}:{line}: duplicate row for {dict(zip(KEY, key, strict=True))} "
                f"(first on line {seen[key]}); each key may appear once"
            )
        seen[key] = line
    rows = [{c: out[c][i] for c in COLUMNS} for i in range(len(raw))]
    return to_frame(rows)


def plugins_text(records: Iterable[Mapping[str, Any]]) -> str:
    """The ``plugins`` column: ``module (distribution version)`` of each plugin a row's model or attacks came
    from, joined by ``"; "``, each once; empty for robin-bench's own."""
    seen = {}
    for r in records:
        dist = f" ({r.get('distribution') or 'not installed'} {r.get('version') or ''}".rstrip() + ")"
        seen[r["module"]] = f"{r['module']}{dist}"
    return "; ".join(seen.values())
