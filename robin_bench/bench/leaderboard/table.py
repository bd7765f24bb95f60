"""The leaderboard table: results rows loaded, seeds aggregated as replicates, comparisons with a flat baseline
and with the next rank, and the ranking (the statistics are described in the package docstring)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from robin_bench.bench import results
from robin_bench.bench.leaderboard.columns import (
    COLUMNS,
    COMPARISON_COLUMNS,
    GROUP,
    IDENTITY,
    NEXT_COLUMNS,
    VERIFY_COMPARISON_COLUMNS,
    mcnemar_column,
)
from robin_bench.bench.stats import mcnemar_pooled, newcombe_paired, newcombe_unpaired, t_interval, wilson
from robin_bench.bench.store import cell_ids, flags_dir_for, flags_path, load_flags, verify_results
from robin_bench.errors import RobinBenchError
from robin_bench.models.kinds import is_baseline

CI_T, CI_WILSON = "t-seeds", "wilson-1-seed"
DIFF_PAIRED_T, DIFF_NEWCOMBE_PAIRED = "paired-t-seeds", "newcombe-paired"
DIFF_WELCH, DIFF_NEWCOMBE_UNPAIRED = "welch-seeds", "newcombe-unpaired"


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

    def flags(self, seed: int, criterion: str) -> results.Flags | None:
        """The per-sample flags of one seed under ``criterion``, None when not stored."""
        path = stored_flags(self.by_seed(seed), criterion)
        return None if path is None else load_flags(path.parent, path.stem)

    def robust_flags(self, seed: int, criterion: str) -> np.ndarray | None:
        """Per-sample worst-case robust flags (robust and clean-correct) of one seed, None when not stored."""
        flags = self.flags(seed, criterion)
        return None if flags is None else flags.robust & flags.clean_correct

    def verified_flags(self, seed: int, criterion: str) -> np.ndarray | None:
        """Per-sample proofs of one seed (``rb.verify`` proved the sample robust under ``criterion``), None when
        the flags or their statuses are not stored."""
        flags = self.flags(seed, criterion)
        if flags is None or flags.verify_status is None:
            return None
        return (np.asarray(flags.verify_status) == "verified") & flags.clean_correct


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
        metric (str): ``"robust_acc"`` or ``"coarse_robust_acc"`` (paired on the attacked flags), or
            ``"verified_acc"`` or ``"coarse_verified_acc"`` (paired on the per-sample proofs).
        criterion (str, optional): criterion of the flags to pair on; default: a's own criterion for
            ``robust_acc`` and ``verified_acc``, ``"coarse"`` for the coarse metrics.

    Returns:
        a :class:`Comparison`.
    """
    if criterion is None:
        criterion = "coarse" if metric.startswith("coarse_") else str(a.rows["criterion"].iloc[0])
    same_suite = a.rows["suite"].iloc[0] == b.rows["suite"].iloc[0]
    shared = sorted(set(a.seeds) & set(b.seeds)) if same_suite else []
    flags_of = Replicates.verified_flags if metric.endswith("verified_acc") else Replicates.robust_flags
    strata: list[tuple[np.ndarray, np.ndarray]] = []
    for s in shared:
        fa, fb = flags_of(a, s, criterion), flags_of(b, s, criterion)
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


def _set_comparison(out: pd.DataFrame, idx: Any, metric: str, cmp: Comparison) -> None:
    """Row ``idx``'s ``{metric}_diff`` with its interval and McNemar p-value (:func:`mcnemar_column`)."""
    out.at[idx, f"{metric}_diff"] = cmp.diff
    out.at[idx, f"{metric}_diff_ci_low"], out.at[idx, f"{metric}_diff_ci_high"] = cmp.low, cmp.high
    out.at[idx, mcnemar_column(metric)] = cmp.p


def _add_comparisons(agg: pd.DataFrame, reps: dict[tuple[Any, ...], Replicates]) -> pd.DataFrame:
    out = agg.copy()
    out["baseline"] = ""
    out["diff_ci_method"] = ""
    out["n_paired_seeds"] = pd.array([None] * len(out), dtype="Int64")
    for c in [*COMPARISON_COLUMNS, *VERIFY_COMPARISON_COLUMNS]:
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
            out.at[idx, "diff_ci_method"] = cmp.method
            _set_comparison(out, idx, "robust_acc", cmp)
            for metric in ("coarse_robust_acc", "verified_acc", "coarse_verified_acc"):
                if not (pd.isna(row[metric]) or pd.isna(base[metric])):
                    _set_comparison(out, idx, metric, compare_replicates(a, b, metric))
    return out


def baseline_comparisons(worst: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`load` aggregated over seeds (:func:`aggregate`) plus :data:`COMPARISON_COLUMNS` and
    :data:`VERIFY_COMPARISON_COLUMNS`.

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
