"""Leaderboards: seeds aggregated as replicates, ranked tables (csv, md, html), JSON records, RobustBench cards.

``build([run/results.csv, ...], "leaderboards/NAME")`` writes::

    NAME.csv                             one row per (suite, dataset, norm, eps, criterion, model), over its seeds
    NAME.md                              one ranked table per (dataset, norm, eps, criterion), percentages
    NAME.html                            the same, one sortable table per group, readable at 1400 px wide
    NAME/records/<suite>/<model>.json    one record per model (:data:`RECORD_KEYS`, :data:`EVALUATION_KEYS`)
    NAME/results/<suite>/results.csv     with ``with_results=True``: the per-seed rows, and ``flags/`` beside
                                         them, from which the leaderboard is recomputed (:func:`copy_results`)

and, with ``robustbench=True`` (``robin-bench leaderboard --format robustbench``), RobustBench model
cards under ``NAME/robustbench/<dataset>/<norm>/`` (:func:`write_robustbench`).
Suite and model names in file names are escaped by :func:`escape_name`, so two different (suite, model)
pairs never share a file.

**Seeds are replicates.** A model name trained with several seeds has one results row per seed (column
``seed``; a results file without it is one replicate per model). A leaderboard row aggregates the
``worst_case`` rows of its seeds: mean clean and robust accuracy, per-seed min and max, ``n_seeds`` and
a 95% interval of the mean robust accuracy: the t interval over the per-seed accuracies with two or
more seeds (``ci_method = "t-seeds"``: it covers training randomness), Wilson's interval on the ``n``
samples with one seed (``ci_method = "wilson-1-seed"``: it covers test-sample noise only).

**Comparisons** (:func:`compare_replicates`): each ROBIN/HAR row is compared with a flat baseline of the
same suite, dataset, norm, eps and criterion (the one sharing most of arch, train_objective, eps_train
and attack set, then the first by name), paired by seed and by sample:

* ``robust_acc_diff``: mean over the seeds both have of (model - baseline), with the t interval over
  those per-seed differences (``diff_ci_method = "paired-t-seeds"``); with one shared seed,
  Newcombe's paired interval on the per-sample flags (``"newcombe-paired"``);
* ``mcnemar_p``: the exact McNemar test pooled over the shared seeds on the per-sample worst-case
  flags (:func:`robin_bench.bench.stats.mcnemar_pooled`, whose docstring says why this test);
* the ``coarse_`` columns: the same for coarse robust accuracy and the coarse flags.

Flags are read from ``flags/`` next to each results.csv (:class:`robin_bench.bench.store.CellId`), and every
row is checked against them when read (:func:`robin_bench.bench.store.verify_results`).

**Ranking**: within (dataset, norm, eps, criterion) by mean robust accuracy (ties share a rank). Each
row is compared with the next-ranked one the same way (paired when both are in one suite, else a
Welch interval over seeds or Newcombe's interval for independent samples); ``distinct_from_next`` is
``"no"`` when that difference's interval contains 0: the two ranks are not statistically
distinguishable, and the md/html pages say so for the top ranks.

**Verification** (suites with ``verify:``): a row whose seeds were all verified carries ``verified_acc`` (mean over
seeds of the share of samples proven robust, a lower bound of ``robust_acc``) and ``unresolved`` (samples neither
proven nor broken, total over seeds), and their coarse versions; the md and html tables of a group with such rows
show the interval [verified, attacked] and the unresolved count beside the robust accuracy. Rows without
verification render as before.

Formatting (percent, ranking, HTML) happens here and nowhere else; :mod:`summary` uses the
``format_*`` helpers below.
"""

from __future__ import annotations

import glob
import html
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from robin_bench.bench import results
from robin_bench.bench.stats import mcnemar_pooled, newcombe_paired, newcombe_unpaired, t_interval, wilson
from robin_bench.bench.store import (
    RunLock,
    cell_ids,
    ensure_writable,
    flags_dir_for,
    flags_path,
    load_flags,
    refuse_overlap,
    verify_results,
)
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_bytes, atomic_write_text, make_temp_dir, replace_dir
from robin_bench.models.kinds import is_baseline

GROUP: list[str] = ["dataset", "norm", "eps", "criterion"]
"""Rows are ranked within these columns."""

IDENTITY: list[str] = ["suite", "dataset", "norm", "eps", "criterion", "model"]
"""One leaderboard row per value of these columns (its seeds aggregated)."""

CI_T, CI_WILSON = "t-seeds", "wilson-1-seed"
DIFF_PAIRED_T, DIFF_NEWCOMBE_PAIRED = "paired-t-seeds", "newcombe-paired"
DIFF_WELCH, DIFF_NEWCOMBE_UNPAIRED = "welch-seeds", "newcombe-unpaired"

COMPARISON_COLUMNS: list[str] = [
    "baseline",
    "n_paired_seeds",
    "robust_acc_diff",
    "robust_acc_diff_ci_low",
    "robust_acc_diff_ci_high",
    "diff_ci_method",
    "mcnemar_p",
    "coarse_robust_acc_diff",
    "coarse_robust_acc_diff_ci_low",
    "coarse_robust_acc_diff_ci_high",
    "coarse_mcnemar_p",
]
"""Columns comparing a row with its flat baseline (empty for flat rows and rows without a baseline)."""

NEXT_COLUMNS: list[str] = ["next_diff", "next_diff_ci_low", "next_diff_ci_high", "distinct_from_next"]
"""Columns comparing a row with the next-ranked row of its group (empty on the last row)."""

VERIFY_COLUMNS: list[str] = ["verified_acc", "unresolved", "coarse_verified_acc", "coarse_unresolved"]
"""Verified robust accuracy (mean over seeds) and unresolved samples (total over seeds), fine and coarse: empty
unless every seed of the row was verified (results columns of the same names, :data:`results.LATER_COLUMNS`)."""

COLUMNS: list[str] = [
    "rank",
    "suite",
    "dataset",
    "norm",
    "eps",
    "criterion",
    "model",
    "kind",
    "arch",
    "train_objective",
    "eps_train",
    "attack_set",
    "n_seeds",
    "seeds",
    "n",
    "clean_acc",
    "clean_acc_min",
    "clean_acc_max",
    "robust_acc",
    "robust_acc_ci_low",
    "robust_acc_ci_high",
    "robust_acc_min",
    "robust_acc_max",
    "ci_method",
    "coarse_clean_acc",
    "coarse_robust_acc",
    "coarse_robust_acc_ci_low",
    "coarse_robust_acc_ci_high",
    *NEXT_COLUMNS,
    *COMPARISON_COLUMNS,
    "unreliable",
    "grad_evals",
    "seconds",
    "config_hash",
    "robin_bench_version",
    "torch_version",
    "device",
    "plugins",
    *VERIFY_COLUMNS,
]
"""Columns of ``NAME.csv``. Accuracies (means over seeds), intervals and differences are fractions;
``seeds`` lists the seeds joined by ``;``; ``n`` is the samples per seed (the smallest when seeds
differ); ``grad_evals``, ``seconds`` and the ``unresolved`` counts are totals over seeds; p-values in [0, 1].
The :data:`VERIFY_COLUMNS` come last (a board written before them reads with them empty)."""

_FRACTION_COLUMNS = ["clean_acc", "robust_acc", "robust_acc_ci_low", "robust_acc_ci_high"]
_OPTIONAL_FRACTION_COLUMNS = [
    "clean_acc_min",
    "clean_acc_max",
    "robust_acc_min",
    "robust_acc_max",
    "coarse_clean_acc",
    "coarse_robust_acc",
    "coarse_robust_acc_ci_low",
    "coarse_robust_acc_ci_high",
    "mcnemar_p",
    "coarse_mcnemar_p",
    "verified_acc",
    "coarse_verified_acc",
]
_DIFF_COLUMNS = [
    "next_diff",
    "next_diff_ci_low",
    "next_diff_ci_high",
    "robust_acc_diff",
    "robust_acc_diff_ci_low",
    "robust_acc_diff_ci_high",
    "coarse_robust_acc_diff",
    "coarse_robust_acc_diff_ci_low",
    "coarse_robust_acc_diff_ci_high",
]
_STRING_COLUMNS = [
    "suite",
    "dataset",
    "norm",
    "criterion",
    "model",
    "kind",
    "arch",
    "train_objective",
    "attack_set",
    "seeds",
    "ci_method",
    "distinct_from_next",
    "baseline",
    "diff_ci_method",
    "unreliable",
    "config_hash",
    "robin_bench_version",
    "torch_version",
    "device",
    "plugins",
]

RECORD_KEYS: list[str] = [
    "suite",
    "dataset",
    "model",
    "kind",
    "arch",
    "train_objective",
    "eps_train",
    "seeds",
    "config_hash",
    "robin_bench_version",
    "torch_version",
    "device",
    "evaluations",
]
"""Keys of a model's JSON record, in order."""

EVALUATION_KEYS: list[str] = [
    "norm",
    "eps",
    "criterion",
    "attack_set",
    "rank",
    "n_seeds",
    "n",
    "clean_acc",
    "robust_acc",
    "robust_acc_ci",
    "ci_method",
    "robust_acc_min",
    "robust_acc_max",
    "per_seed",
    "coarse_clean_acc",
    "coarse_robust_acc",
    "attacks",
    "grad_evals",
    "seconds",
    "distinct_from_next",
    "baseline",
    "robust_acc_diff",
    "robust_acc_diff_ci",
    "diff_ci_method",
    "mcnemar_p",
    "coarse_robust_acc_diff",
    "coarse_mcnemar_p",
    "unreliable",
]
"""Keys of each entry of a record's ``evaluations`` (one per norm x eps x criterion); a verified evaluation adds
the :data:`VERIFY_COLUMNS` it has."""


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


_NAME_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")


def escape_name(name: str) -> str:
    """A name as one file-name component, reversibly: bytes outside ``[A-Za-z0-9.-]`` become ``%XX``.

    ``_`` is escaped too, so it can separate escaped parts; a leading ``.`` is escaped, so no name is
    hidden or ``..``. Distinct names give distinct results (the map is injective).

    Example::

        >>> escape_name("a__b"), escape_name("8/255")
        ('a%5F%5Fb', '8%2F255')
    """
    out = []
    for i, byte in enumerate(name.encode("utf-8")):
        c = chr(byte)
        out.append(c if c in _NAME_SAFE and not (i == 0 and c == ".") else f"%{byte:02X}")
    return "".join(out) or "%"


def load(results_csvs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """The rows of several results files, each checked against its per-sample flags
    (:func:`robin_bench.bench.store.verify_results`), with ``flags_dir``, ``source`` and ``cell`` (the row's
    :class:`~robin_bench.bench.store.CellId`) columns added.

    A results row key (:data:`robin_bench.bench.results.KEY`) found in two files, or an ``eps`` or
    ``eps_train`` that is not a finite non-negative radius, raises RobinBenchError.
    """
    if not results_csvs:
        raise RobinBenchError("no results file given; pass one or more results.csv paths")
    frames = []
    for p in results_csvs:
        df = results.read(p)
        for c in ("eps", "eps_train"):
            bad = df.index[df[c].notna() & ~np.isfinite(df[c].to_numpy(dtype=np.float64, na_value=np.nan))]
            if len(bad):
                raise RobinBenchError(
                    f"{p}:{int(bad[0]) + 2}: column {c!r} holds {df.at[bad[0], c]!r}; "
                    "expected a finite non-negative radius"
                )
        verify_results(df, p)
        df["cell"] = cell_ids(df)
        df["flags_dir"] = str(flags_dir_for(p))
        df["source"] = str(p)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    key = [c for c in results.KEY if c in df.columns]
    dup = df.duplicated(subset=key, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        files = sorted(set(df[dup & (df["model"] == first["model"]) & (df["suite"] == first["suite"])]["source"]))
        raise RobinBenchError(
            f"suite {first['suite']!r} model {first['model']!r} appears in several results files "
            f"{files}; give each evaluated model once"
        )
    return df


@dataclass(frozen=True)
class Replicates:
    """The per-seed worst-case rows of one leaderboard row, sorted by seed.

    Attributes:
        rows (DataFrame): the ``worst_case`` results rows of one :data:`IDENTITY`, one per seed,
            with ``flags_dir``.
    """

    rows: pd.DataFrame

    @property
    def seeds(self) -> list[int]:
        """The seeds, ascending."""
        return [int(s) for s in self.rows["seed"]]

    def values(self, metric: str) -> np.ndarray:
        """Per-seed values of ``metric`` (``robust_acc`` or ``coarse_robust_acc``), in seed order."""
        return self.rows[metric].to_numpy(dtype=np.float64)

    def by_seed(self, seed: int) -> pd.Series:
        """The row of one seed."""
        return self.rows[self.rows["seed"] == seed].iloc[0]

    def robust_flags(self, seed: int, criterion: str) -> np.ndarray | None:
        """Per-sample worst-case robust flags (robust and clean-correct) of one seed, None when not stored."""
        path = stored_flags(self.by_seed(seed), criterion)
        if path is None:
            return None
        flags = load_flags(path.parent, path.stem)
        return flags.robust & flags.clean_correct


def stored_flags(r: pd.Series, criterion: str) -> Path | None:
    """The flags file of worst-case row ``r`` (from :func:`load`) under ``criterion``, None when not stored."""
    path = flags_path(r["flags_dir"], r["cell"].under(criterion).key)
    return path if path.is_file() else None


@dataclass(frozen=True)
class Comparison:
    """A difference of (mean) accuracies ``a - b`` with its 95% interval, method and paired p-value.

    Attributes:
        diff (float): mean difference (over the paired seeds when paired), a fraction in [-1, 1].
        low, high (float): its 95% interval.
        method (str): ``"paired-t-seeds"``, ``"newcombe-paired"``, ``"welch-seeds"`` or ``"newcombe-unpaired"``.
        p (float): pooled exact McNemar p-value on the per-sample flags (NaN when not paired by sample).
        n_paired_seeds (int): seeds both sides have (0 when unpaired).
    """

    diff: float
    low: float
    high: float
    method: str
    p: float
    n_paired_seeds: int

    @property
    def distinguishable(self) -> bool:
        """Whether the interval excludes 0."""
        return self.low > 0 or self.high < 0


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = float(a.mean() - b.mean())
    va, vb = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return d, d
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(student_t.ppf(0.975, dof)) * se
    return d - half, d + half


def _counts(rep: Replicates, metric: str) -> tuple[int, int]:
    n = rep.rows["n"].to_numpy(dtype=np.int64)
    return int(round(float(np.sum(rep.values(metric) * n)))), int(n.sum())


def compare_replicates(
    a: Replicates, b: Replicates, metric: str = "robust_acc", criterion: str | None = None
) -> Comparison:
    """``a - b`` of mean ``metric`` with an interval: paired by seed and by sample where possible.

    * Same suite and two or more shared seeds: mean of the per-seed differences with its t interval
      (``"paired-t-seeds"``), and :func:`~robin_bench.bench.stats.mcnemar_pooled` over the shared
      seeds' per-sample flags.
    * Same suite, one shared seed, flags stored: Newcombe's paired interval and McNemar's exact test.
    * Otherwise (other suites, no shared seed, or no flags): Welch's interval over the seeds when both
      have two or more, else Newcombe's interval for independent proportions on the pooled counts.

    Arguments:
        a, b (Replicates): the two rows' per-seed results (same dataset, norm, eps).
        metric (str): ``"robust_acc"`` or ``"coarse_robust_acc"``.
        criterion (str, optional): criterion of the flags to pair on; default: a's own criterion for
            ``robust_acc``, ``"coarse"`` for ``coarse_robust_acc``.

    Returns:
        a :class:`Comparison`.
    """
    if criterion is None:
        criterion = "coarse" if metric == "coarse_robust_acc" else str(a.rows["criterion"].iloc[0])
    same_suite = a.rows["suite"].iloc[0] == b.rows["suite"].iloc[0]
    shared = sorted(set(a.seeds) & set(b.seeds)) if same_suite else []
    strata: list[tuple[np.ndarray, np.ndarray]] = []
    for s in shared:
        fa, fb = a.robust_flags(s, criterion), b.robust_flags(s, criterion)
        if fa is None or fb is None or fa.shape != fb.shape:
            strata = []
            break
        strata.append((fa, fb))
    p = mcnemar_pooled(strata) if strata else float("nan")
    if len(shared) >= 2:
        diffs = np.array([float(a.by_seed(s)[metric]) - float(b.by_seed(s)[metric]) for s in shared])
        low, high = t_interval(diffs)
        return Comparison(float(diffs.mean()), max(-1.0, low), min(1.0, high), DIFF_PAIRED_T, p, len(shared))
    if len(shared) == 1 and strata:
        fa, fb = strata[0]
        low, high = newcombe_paired(fa, fb)
        return Comparison(float(fa.mean() - fb.mean()), low, high, DIFF_NEWCOMBE_PAIRED, p, 1)
    va, vb = a.values(metric), b.values(metric)
    diff = float(va.mean() - vb.mean())
    if len(va) >= 2 and len(vb) >= 2:
        low, high = _welch(va, vb)
        return Comparison(diff, max(-1.0, low), min(1.0, high), DIFF_WELCH, float("nan"), 0)
    (ka, na), (kb, nb) = _counts(a, metric), _counts(b, metric)
    low, high = newcombe_unpaired(ka, na, kb, nb)
    return Comparison(diff, min(low, diff), max(high, diff), DIFF_NEWCOMBE_UNPAIRED, float("nan"), len(shared))


def _attack_set_names(df: pd.DataFrame) -> dict[tuple[Any, ...], str]:
    """Per identity: the ``attack_set`` column's value; an explicit list (``custom``, or no such column) is
    spelled out from the attacks that ran, ``"custom: a, b"``."""
    out: dict[tuple[Any, ...], str] = {}
    for ident, g in df.groupby(IDENTITY, sort=False):
        named = sorted({str(v) for v in g.get("attack_set", pd.Series(dtype=str)) if isinstance(v, str) and v})
        attacks = list(dict.fromkeys(str(a) for a in g["attack"] if a != results.WORST_CASE))
        out[ident] = "+".join(named) if named not in ([], ["custom"]) else "custom: " + ", ".join(attacks)
    return out


def _ci(values: np.ndarray, rows: pd.DataFrame) -> tuple[float, float]:
    if len(values) >= 2:
        low, high = t_interval(values)
        return max(0.0, low), min(1.0, high)
    n = int(rows["n"].iloc[0])
    return wilson(int(round(float(values[0]) * n)), n)


def _joined(values: pd.Series) -> str:
    return "; ".join(dict.fromkeys(str(v) for v in values if isinstance(v, str) and v))


def aggregate(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[Any, ...], Replicates]]:
    """The seeds of each :data:`IDENTITY` aggregated (columns of :data:`COLUMNS` but rank and comparisons).

    Arguments:
        df (DataFrame): rows from :func:`load` (all attacks; the ``worst_case`` rows are aggregated,
            the others name the attack set when the results have no ``attack_set`` column). Without
            a ``seed`` column every model is one replicate (seed 0).

    Returns:
        (rows, replicates): one row per identity, and per identity tuple its :class:`Replicates`.
    """
    if "seed" not in df.columns:
        df = df.assign(seed=0)
    worst = df[df["attack"] == results.WORST_CASE]
    if worst.empty:
        raise RobinBenchError("the results hold no worst_case row; were they written by robin-bench run?")
    attack_sets = _attack_set_names(df)
    rows, reps = [], {}
    for ident, g in worst.groupby(IDENTITY, sort=False):
        g = g.sort_values("seed", kind="stable").reset_index(drop=True)
        rep = Replicates(g)
        reps[ident] = rep
        robust, clean = rep.values("robust_acc"), g["clean_acc"].to_numpy(dtype=np.float64)
        low, high = _ci(robust, g)
        coarse = rep.values("coarse_robust_acc")
        has_coarse = not np.isnan(coarse).any()
        c_low, c_high = _ci(coarse, g) if has_coarse else (float("nan"), float("nan"))
        first = g.iloc[0]
        grad = g["grad_evals"]
        rows.append(
            {
                **dict(zip(IDENTITY, ident, strict=True)),
                "kind": first["kind"],
                "arch": first["arch"],
                "train_objective": first["train_objective"],
                "eps_train": first["eps_train"],
                "attack_set": attack_sets[ident],
                "n_seeds": len(g),
                "seeds": ";".join(str(s) for s in rep.seeds),
                "n": int(g["n"].min()),
                "clean_acc": float(clean.mean()),
                "clean_acc_min": float(clean.min()),
                "clean_acc_max": float(clean.max()),
                "robust_acc": float(robust.mean()),
                "robust_acc_ci_low": low,
                "robust_acc_ci_high": high,
                "robust_acc_min": float(robust.min()),
                "robust_acc_max": float(robust.max()),
                "ci_method": CI_T if len(g) >= 2 else CI_WILSON,
                "coarse_clean_acc": float(g["coarse_clean_acc"].mean()) if has_coarse else float("nan"),
                "coarse_robust_acc": float(coarse.mean()) if has_coarse else float("nan"),
                "coarse_robust_acc_ci_low": c_low,
                "coarse_robust_acc_ci_high": c_high,
                "unreliable": _joined(g["unreliable"]),
                "grad_evals": None if grad.isna().any() else int(grad.sum()),
                "seconds": float(g["seconds"].sum()),
                **{
                    c: _joined(g[c])
                    for c in ("config_hash", "robin_bench_version", "torch_version", "device", "plugins")
                },
                **_verified(g),
            }
        )
    out = pd.DataFrame(rows)
    for c in ("unresolved", "coarse_unresolved"):
        out[c] = pd.array(out[c], dtype="Int64")
    return out, reps


def _verified(g: pd.DataFrame) -> dict[str, Any]:
    """The :data:`VERIFY_COLUMNS` of one row's seeds ``g``: mean verified accuracy and total unresolved, fine and
    coarse, each empty unless every seed has it."""
    out: dict[str, Any] = {}
    for acc, unresolved in (("verified_acc", "unresolved"), ("coarse_verified_acc", "coarse_unresolved")):
        have = acc in g.columns and bool(g[acc].notna().all() and g[unresolved].notna().all())
        out[acc] = float(g[acc].mean()) if have else float("nan")
        out[unresolved] = int(g[unresolved].sum()) if have else None
    return out


def _pick_baseline(row: pd.Series, flats: pd.DataFrame) -> pd.Series:
    def score(f: pd.Series) -> tuple[int, str]:
        same = sum(
            f[c] == row[c] or (pd.isna(f[c]) and pd.isna(row[c]))
            for c in ("arch", "train_objective", "eps_train", "attack_set")
        )
        return (-int(same), str(f["model"]))

    return min((f for _, f in flats.iterrows()), key=score)


def _ident(row: pd.Series) -> tuple[Any, ...]:
    return tuple(row[c] for c in IDENTITY)


def _add_comparisons(agg: pd.DataFrame, reps: dict[tuple[Any, ...], Replicates]) -> pd.DataFrame:
    out = agg.copy()
    out["baseline"] = ""
    out["diff_ci_method"] = ""
    out["n_paired_seeds"] = pd.array([None] * len(out), dtype="Int64")
    for c in COMPARISON_COLUMNS:
        if c not in ("baseline", "diff_ci_method", "n_paired_seeds"):
            out[c] = float("nan")
    for _, g in agg.groupby(["suite", *GROUP], sort=False):
        baseline = g["kind"].map(is_baseline).astype(bool)
        flats = g[baseline]
        if flats.empty:
            continue
        for idx, row in g[~baseline].iterrows():
            base = _pick_baseline(row, flats)
            a, b = reps[_ident(row)], reps[_ident(base)]
            cmp = compare_replicates(a, b, "robust_acc")
            out.at[idx, "baseline"] = base["model"]
            out.at[idx, "n_paired_seeds"] = cmp.n_paired_seeds
            out.at[idx, "robust_acc_diff"] = cmp.diff
            out.at[idx, "robust_acc_diff_ci_low"], out.at[idx, "robust_acc_diff_ci_high"] = cmp.low, cmp.high
            out.at[idx, "diff_ci_method"] = cmp.method
            out.at[idx, "mcnemar_p"] = cmp.p
            if not (pd.isna(row["coarse_robust_acc"]) or pd.isna(base["coarse_robust_acc"])):
                ccmp = compare_replicates(a, b, "coarse_robust_acc")
                out.at[idx, "coarse_robust_acc_diff"] = ccmp.diff
                out.at[idx, "coarse_robust_acc_diff_ci_low"] = ccmp.low
                out.at[idx, "coarse_robust_acc_diff_ci_high"] = ccmp.high
                out.at[idx, "coarse_mcnemar_p"] = ccmp.p
    return out


def baseline_comparisons(worst: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`load` aggregated over seeds (:func:`aggregate`) plus :data:`COMPARISON_COLUMNS`.

    ``robust_acc_diff`` = model minus its flat baseline (see the module docstring for the pairing and
    the intervals); flat rows and rows without a flat model in their group get empty comparison cells.
    """
    agg, reps = aggregate(worst)
    return _add_comparisons(agg, reps)


def _add_ranks(board: pd.DataFrame, reps: dict[tuple[Any, ...], Replicates]) -> pd.DataFrame:
    board = board.sort_values(
        [*GROUP, "robust_acc", "clean_acc", "model", "suite"],
        ascending=[True, True, True, True, False, False, True, True],
        kind="stable",
    )
    board["rank"] = board.groupby(GROUP)["robust_acc"].rank(method="min", ascending=False).astype(int)
    board = board.reset_index(drop=True)
    for c in NEXT_COLUMNS[:3]:
        board[c] = float("nan")
    board["distinct_from_next"] = ""
    for _, g in board.groupby(GROUP, sort=False):
        idx = list(g.index)
        for i, j in zip(idx, idx[1:], strict=False):
            cmp = compare_replicates(reps[_ident(board.loc[i])], reps[_ident(board.loc[j])], "robust_acc")
            board.loc[i, NEXT_COLUMNS[:3]] = [cmp.diff, cmp.low, cmp.high]
            board.loc[i, "distinct_from_next"] = "yes" if cmp.distinguishable else "no"
    return board


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The ranked leaderboard (:data:`COLUMNS`) of the rows returned by :func:`load`."""
    agg, reps = aggregate(df)
    board = _add_ranks(_add_comparisons(agg, reps), reps)
    return board[COLUMNS]


def _json_value(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return _json_value(v.item())
    if isinstance(v, str):
        return v or None
    return v


def _interval(r: pd.Series, low: str, high: str) -> list[float] | None:
    if pd.isna(r[low]) or pd.isna(r[high]):
        return None
    return [float(r[low]), float(r[high])]


def records(df: pd.DataFrame, board: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per (suite, model): identity, provenance and one evaluation per threat and criterion."""
    if "seed" not in df.columns:
        df = df.assign(seed=0)
    out = []
    for (suite, model), rows in board.groupby(["suite", "model"], sort=True):
        mine = df[(df["suite"] == suite) & (df["model"] == model)]
        first = rows.iloc[0]
        rec: dict[str, Any] = {k: _json_value(first[k]) for k in RECORD_KEYS if k in board.columns}
        rec["seeds"] = sorted({int(s) for s in mine["seed"]})
        rec["evaluations"] = []
        for _, r in rows.sort_values(["norm", "criterion", "eps"]).iterrows():
            cell = mine[(mine["norm"] == r["norm"]) & (mine["eps"] == r["eps"]) & (mine["criterion"] == r["criterion"])]
            attacks = {}
            for name, a in cell[cell["attack"] != results.WORST_CASE].groupby("attack", sort=False):
                evals = None if a["grad_evals"].isna().any() else int(a["grad_evals"].sum())
                attacks[str(name)] = {
                    "robust_acc": float(a["robust_acc"].mean()),
                    "scope": "; ".join(dict.fromkeys(a["scope"])),
                    "grad_evals": evals,
                    "seconds": float(a["seconds"].sum()),
                }
            worst = cell[cell["attack"] == results.WORST_CASE].sort_values("seed")
            per_seed = {
                str(int(w["seed"])): {
                    "n": int(w["n"]),
                    "clean_acc": float(w["clean_acc"]),
                    "robust_acc": float(w["robust_acc"]),
                    "coarse_robust_acc": _json_value(w["coarse_robust_acc"]),
                }
                for _, w in worst.iterrows()
            }
            ev = {k: _json_value(r[k]) for k in EVALUATION_KEYS if k in board.columns}
            ev.update(
                robust_acc_ci=_interval(r, "robust_acc_ci_low", "robust_acc_ci_high"),
                per_seed=per_seed,
                attacks=attacks,
                robust_acc_diff_ci=_interval(r, "robust_acc_diff_ci_low", "robust_acc_diff_ci_high"),
            )
            proofs = {c: _json_value(r[c]) for c in VERIFY_COLUMNS if not pd.isna(r[c])}  # only a verified row's
            rec["evaluations"].append({**{k: ev[k] for k in EVALUATION_KEYS}, **proofs})
        plugins = {"plugins": first["plugins"]} if first.get("plugins") else {}  # only a plugin's model has the key
        out.append({**{k: rec[k] for k in RECORD_KEYS}, **plugins})
    return out


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
    df = pd.DataFrame({c: raw[c] for c in _STRING_COLUMNS})

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

    specs = (
        [(c, False, 0.0, 1.0, "a fraction in [0, 1]") for c in _FRACTION_COLUMNS]
        + [(c, True, 0.0, 1.0, "a fraction in [0, 1] or empty") for c in _OPTIONAL_FRACTION_COLUMNS]
        + [(c, True, -1.0, 1.0, "a difference in [-1, 1] or empty") for c in _DIFF_COLUMNS]
        + [
            ("eps", False, 0.0, math.inf, "a finite non-negative radius"),
            ("eps_train", True, 0.0, math.inf, "a finite non-negative radius or empty"),
            ("seconds", True, 0.0, math.inf, "a non-negative number or empty"),
        ]
    )
    for c, optional, lo, hi, valid in specs:
        df[c] = [number(c, i, v, optional, lo, hi, valid) for i, v in enumerate(raw[c])]
    for c, optional in (
        ("rank", False),
        ("n_seeds", False),
        ("n", False),
        ("n_paired_seeds", True),
        ("grad_evals", True),
        ("unresolved", True),
        ("coarse_unresolved", True),
    ):
        vals: list[int | None] = []
        for i, v in enumerate(raw[c]):
            if v == "" and optional:
                vals.append(None)
            elif v.isdigit() and (int(v) >= 1 or optional):
                vals.append(int(v))
            else:
                raise _line_error(path, i + 2, c, v, "a positive integer" + (" or empty" if optional else ""))
        df[c] = pd.array(vals, dtype="Int64") if optional else np.asarray(vals, dtype=np.int64)
    return df[COLUMNS]


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


_MD_HEADER = [
    "Rank",
    "Model",
    "Kind",
    "Arch",
    "Training",
    "Attack set",
    "Seeds",
    "Clean",
    "Robust",
    "95% CI",
    "Seed range",
    "≠ next",
    "Coarse clean",
    "Coarse robust",
    "Baseline",
    "Δ robust",
    "Δ 95% CI",
    "McNemar p",
    "Δ coarse",
    "Coarse p",
    "Unreliable",
]


_MD_PROOF_HEADER = ["[Verified, attacked]", "Unresolved"]
_MD_COARSE_PROOF_HEADER = ["Coarse [verified, attacked]", "Coarse unresolved"]


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
        format_diff(r["coarse_robust_acc_diff"]),
        format_p(r["coarse_mcnemar_p"]),
        r["unreliable"] or "-",
    ]


def _md_header(proof: bool, coarse_proof: bool) -> list[str]:
    h = _MD_HEADER
    return [
        *h[:10],
        *(_MD_PROOF_HEADER if proof else []),
        *h[10:14],
        *(_MD_COARSE_PROOF_HEADER if coarse_proof else []),
        *h[14:],
    ]


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
    "over seeds."
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

_HTML_COLUMNS: list[tuple[str, str, str]] = [
    ("rank", "Rank", "Rank by mean robust accuracy (ties share a rank)"),
    ("model", "Model", "Model name, suite below"),
    ("kind", "Kind", "flat, robin or har"),
    ("arch", "Arch", "Architecture"),
    ("train_objective", "Training", "Training objective @ eps train"),
    ("attack_set", "Attacks", "Attack set of the worst case"),
    ("n_seeds", "Seeds", "Training seeds (replicates); n test samples per seed below"),
    ("clean_acc", "Clean %", "Clean accuracy, mean over seeds"),
    ("robust_acc", "Robust %", "Worst-case robust accuracy, mean over seeds"),
    ("robust_acc_ci_low", "95% CI", "t interval over seeds (Wilson on samples with one seed)"),
    ("robust_acc_min", "Seed range", "Smallest and largest per-seed robust accuracy"),
    ("next_diff", "vs next", "Difference to the next rank (pp); yellow: interval contains 0"),
    ("coarse_clean_acc", "Coarse clean %", "Coarse clean accuracy"),
    ("coarse_robust_acc", "Coarse robust %", "Coarse worst-case robust accuracy"),
    ("baseline", "Baseline", "Flat baseline of the same suite"),
    ("robust_acc_diff", "Δ robust pp", "Model minus baseline, paired by seed and sample, 95% interval below"),
    ("mcnemar_p", "p", "Exact McNemar test on per-sample flags, pooled over seeds"),
    ("coarse_robust_acc_diff", "Δ coarse pp", "Coarse robust accuracy minus baseline's"),
    ("coarse_mcnemar_p", "coarse p", "McNemar on the coarse flags"),
    ("unreliable", "Flags", "Masking / sanity flags (hover for the full text)"),
]

_HTML_PROOF_COLUMNS: list[tuple[str, str, str]] = [
    (
        "verified_acc",
        "[Verified, attacked] %",
        "Robust accuracy proven by rb.verify (lower bound) and under the attacks (upper bound), means over seeds",
    ),
    ("unresolved", "Unresolved", "Samples neither proven robust nor broken within the time limit, total over seeds"),
]
_HTML_COARSE_PROOF_COLUMNS: list[tuple[str, str, str]] = [
    ("coarse_verified_acc", "Coarse [verified, attacked] %", "Coarse robust accuracy proven and attacked"),
    ("coarse_unresolved", "Coarse unresolved", "Samples unresolved under the coarse criterion, total over seeds"),
]


def _html_columns(proof: bool, coarse_proof: bool) -> list[tuple[str, str, str]]:
    c = _HTML_COLUMNS
    return [
        *c[:10],
        *(_HTML_PROOF_COLUMNS if proof else []),
        *c[10:14],
        *(_HTML_COARSE_PROOF_COLUMNS if coarse_proof else []),
        *c[14:],
    ]


def _html_proof_cells(r: pd.Series, coarse: bool = False) -> list[str]:
    prefix = "coarse_" if coarse else ""
    interval, unresolved = proof_cells(r, coarse)
    return [_cell(r[f"{prefix}verified_acc"], interval), _cell(r[f"{prefix}unresolved"], unresolved)]


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
        _cell(
            r["robust_acc_diff"],
            diff(r["robust_acc_diff"]),
            extra=format_interval(r["robust_acc_diff_ci_low"], r["robust_acc_diff_ci_high"], diff)
            if r["baseline"]
            else "",
            title=str(r["diff_ci_method"]),
        ),
        _cell(r["mcnemar_p"], format_p(r["mcnemar_p"])),
        _cell(
            r["coarse_robust_acc_diff"],
            diff(r["coarse_robust_acc_diff"]),
            extra=format_interval(r["coarse_robust_acc_diff_ci_low"], r["coarse_robust_acc_diff_ci_high"], diff)
            if r["baseline"]
            else "",
        ),
        _cell(r["coarse_mcnemar_p"], format_p(r["coarse_mcnemar_p"])),
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
            f'<th{left if c in _STRING_COLUMNS else ""} onclick="sortBy(this)" title="{html.escape(t)}">'
            f"{html.escape(h)}</th>"
            for c, h, t in _html_columns(proof, coarse_proof)
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


ROBUSTBENCH_KEYS: list[str] = [
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "footnote",
    "unreliable",
]
"""Fields of a RobustBench model card, in RobustBench's order.

RobustBench's schema (``robustbench/leaderboard/template.py`` documents it; every
``model_info/<dataset>/<threat_model>/<Name>.json`` follows it): ``link``, ``name``, ``authors``,
``venue``, ``architecture``, ``dataset`` strings; ``additional_data`` bool; ``number_forward_passes``
int; ``eps`` a string (``"8/255"``, ``"0.5"``); ``clean_acc``, ``reported`` and ``autoattack_acc``
percentages as strings with two decimals (``"91.23"``); optional ``footnote`` string and ``unreliable``
bool. robin-bench's own fields go under :data:`ROBUSTBENCH_EXTRA_KEY`."""

ROBUSTBENCH_EXTRA_KEY = "robin_bench"


def _pct2(x: Any) -> str:
    return f"{100 * float(x):.2f}"


def robustbench_card(r: pd.Series, others: pd.DataFrame) -> dict[str, Any]:
    """One RobustBench model card from a leaderboard row (``others``: the model's rows at other criteria)."""
    extra = {
        k: _json_value(r[k])
        for k in (
            "suite",
            "model",
            "kind",
            "arch",
            "train_objective",
            "eps_train",
            "criterion",
            "attack_set",
            "n",
            "n_seeds",
            "seeds",
            "ci_method",
            "robust_acc",
            "robust_acc_min",
            "robust_acc_max",
            "rank",
            "distinct_from_next",
            "baseline",
            "robust_acc_diff",
            "diff_ci_method",
            "mcnemar_p",
            "unreliable",
            "config_hash",
            "robin_bench_version",
            "torch_version",
            "device",
        )
    }
    extra["seeds"] = [int(s) for s in str(r["seeds"]).split(";") if s]
    extra["robust_acc_ci"] = _interval(r, "robust_acc_ci_low", "robust_acc_ci_high")
    extra["robust_acc_diff_ci"] = _interval(r, "robust_acc_diff_ci_low", "robust_acc_diff_ci_high")
    extra["criteria"] = {
        str(o["criterion"]): {
            "robust_acc": float(o["robust_acc"]),
            "coarse_robust_acc": _json_value(o["coarse_robust_acc"]),
        }
        for _, o in others.iterrows()
    }
    extra["coarse_clean_acc"] = _json_value(r["coarse_clean_acc"])
    extra["coarse_robust_acc"] = _json_value(r["coarse_robust_acc"])
    seeds = f"mean over {r['n_seeds']} training seeds" if int(r["n_seeds"]) > 1 else "one training seed"
    card = {
        "link": "",
        "name": f"{r['model']} ({r['kind']}, robin-bench suite {r['suite']})",
        "authors": "",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": str(r["dataset"]),
        "venue": "N/A",
        "architecture": f"{r['arch']} ({r['kind']})",
        "eps": format_eps(float(r["eps"])),
        "clean_acc": _pct2(r["clean_acc"]),
        "reported": "N/A",
        "autoattack_acc": _pct2(r["robust_acc"]),
        "footnote": (
            f"Evaluated by robin-bench: per-sample worst case over the attack set '{r['attack_set']}' "
            f"under the {r['criterion']} criterion, {r['n']} test samples, {seeds}; 'autoattack_acc' "
            "holds that worst case, which is AutoAttack's figure only where the set is AutoAttack."
        ),
        "unreliable": bool(r["unreliable"]),
        ROBUSTBENCH_EXTRA_KEY: extra,
    }
    return card


def write_robustbench(board: pd.DataFrame, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write one RobustBench model card per (suite, model, dataset, norm, eps).

    Layout as RobustBench's ``model_info``: ``<out_dir>/<dataset>/<norm>/<suite>_<model>_<eps>.json``
    (each part escaped by :func:`escape_name`, so names never collide). The card is built from the
    ``fine`` criterion row when there is one (else the first criterion in name order); every
    criterion's figures are in the extra key. Fields: :data:`ROBUSTBENCH_KEYS` plus
    :data:`ROBUSTBENCH_EXTRA_KEY`.

    Arguments:
        board (DataFrame): a leaderboard (:func:`table` or :func:`read`).
        out_dir (path): folder of the cards (created when absent).

    Returns:
        the paths written, in (dataset, norm, suite, model, eps) order.

    Example::

        >>> write_robustbench(read("leaderboards/demo.csv"), "leaderboards/demo-robustbench")
    """
    out = Path(out_dir)
    ensure_writable(out)
    written = []
    keys = ["dataset", "norm", "suite", "model", "eps"]
    for (dataset, norm, suite, model, eps), g in board.groupby(keys, sort=True):
        g = g.assign(_fine=g["criterion"] != "fine").sort_values(["_fine", "criterion"], kind="stable")
        card = robustbench_card(g.iloc[0], g)
        path = (
            out
            / escape_name(str(dataset))
            / escape_name(str(norm))
            / f"{escape_name(str(suite))}_{escape_name(str(model))}_{escape_name(format_eps(float(eps)))}.json"
        )
        atomic_write_text(path, json.dumps(card, indent=2, allow_nan=False) + "\n")
        written.append(path)
    return written


RECORDS_DIRNAME = "records"
ROBUSTBENCH_DIRNAME = "robustbench"
RESULTS_DIRNAME = "results"


def record_path(prefix: str | os.PathLike[str], suite: str, model: str) -> Path:
    """Where :func:`build` writes a model's record: ``NAME/records/<escaped suite>/<escaped model>.json``."""
    return Path(prefix) / RECORDS_DIRNAME / escape_name(suite) / f"{escape_name(model)}.json"


def results_path(prefix: str | os.PathLike[str], suite: str) -> Path:
    """Where :func:`build` with ``with_results=True`` copies the per-seed results of ``suite``."""
    return Path(prefix) / RESULTS_DIRNAME / escape_name(suite) / "results.csv"


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
