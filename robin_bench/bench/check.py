"""The CI regression gate: compare a run's clean and robust accuracy with a baseline results or leaderboard CSV.

Default rule (``tolerance=None``): a value fails when the baseline lies above the current run's 95%
interval, ``current_ci_high < baseline``: the drop is beyond the sampling noise of the current run.
The interval is the one the leaderboard shows: with one training seed, Wilson's interval on the n test
samples; with several seeds, the t interval of the mean over seeds (it widens with the seed spread).

What it lets through at n = 100 samples and one seed (Wilson upper bounds)::

    baseline   lowest current value that passes   largest drop not flagged
    90%        85%  (85/100: upper bound 90.7%)     5 points
    50%        41%  (41/100: upper bound 50.8%)     9 points
    30%        22%  (22/100: upper bound 31.1%)     8 points

So the default catches a collapse (an attack that stopped working, a broken model) but not a drop of
a few points on 100 samples; gate tighter with more samples or with ``--tolerance T`` (fail when
``current < baseline - T``, fractions: 0.02 allows two points, 0 flags any drop).

Every baseline row (worst case of model x norm x eps x criterion: ``clean_acc``, ``robust_acc`` and, where
the baseline has them, ``coarse_clean_acc``, ``coarse_robust_acc`` and the proven ``verified_acc`` and
``coarse_verified_acc`` of a suite with ``verify:``) of the suites the run has is compared,
clean accuracy under the same rule and interval as robust accuracy (a model whose clean accuracy collapses
fails even where its robust accuracy, already near 0, cannot fall further); a baseline row with no
current counterpart fails as missing. A baseline whose accuracy is empty, NaN, out of [0, 1] or not a
number is refused (RobinBenchError: exit 2), and so is a comparison of no value at all: ``check``
never passes vacuously.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from robin_bench.bench import leaderboard, results
from robin_bench.bench.stats import t_interval, wilson
from robin_bench.bench.store import file_sha256
from robin_bench.errors import RobinBenchError

MATCH: list[str] = ["suite", "model", "norm", "eps", "criterion"]
"""Columns matching a current row to a baseline row (the worst case of a cell, over its seeds)."""

METRICS: list[str] = [
    "clean_acc",
    "robust_acc",
    "coarse_clean_acc",
    "coarse_robust_acc",
    "verified_acc",
    "coarse_verified_acc",
]
"""Accuracies gated: clean and worst-case robust accuracy, their coarse versions, and the verified robust accuracies
(``verify:``), each where the baseline has it."""

PASS = "pass"
BELOW = "below baseline"
MISSING = "missing from current results"


@dataclass(frozen=True)
class Baseline:
    """A baseline as read before the run (:func:`snapshot_baseline`): the file, the sha256 of its bytes and its rows
    (:func:`read_baseline`); a run that rewrites the file afterwards changes nothing that is compared."""

    path: Path
    sha256: str
    rows: pd.DataFrame

    def describe(self) -> str:
        """The file and the hash of what was compared."""
        return f"{self.path} (sha256 {self.sha256[:12]}, read before the run)"


def snapshot_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read, hash and validate baseline ``path`` now (a ``results.csv`` checked against its flags), so that the
    comparison after the run uses exactly these rows; a file that changes while it is read is refused."""
    path = Path(path)
    before = file_sha256(path) if path.is_file() else None
    rows = read_baseline(path)
    if file_sha256(path) != before:
        raise RobinBenchError(f"baseline {path} changed while it was read; rerun when nothing writes it")
    return Baseline(path=path, sha256=str(before), rows=rows)


def read_baseline(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The baseline's rows, one per (suite, model, norm, eps, criterion) over seeds, validated.

    A leaderboard ``NAME.csv`` is read as is (:func:`robin_bench.bench.leaderboard.read`); a
    ``results.csv`` is aggregated over seeds as the leaderboard would, each row checked against its per-sample
    flags. The CLI calls it (through :func:`snapshot_baseline`) before running the suite, so a bad baseline costs
    no compute.
    """
    path = Path(path)
    if not path.is_file():
        raise RobinBenchError(
            f"baseline file {path} does not exist or is not a regular file; give a results.csv "
            "or a leaderboard NAME.csv"
        )
    try:
        with path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except (UnicodeDecodeError, csv.Error) as e:
        raise RobinBenchError(
            f"baseline {path} is not a UTF-8 CSV file ({e.__class__.__name__}); give a results.csv "
            "or a leaderboard NAME.csv"
        ) from None
    if [c for c in header if c not in results.LATER_COLUMNS] == [
        c for c in results.COLUMNS if c not in results.LATER_COLUMNS
    ]:
        return leaderboard.aggregate(leaderboard.load([path]))[0]
    if [c for c in header if c not in results.LATER_COLUMNS] == [
        c for c in leaderboard.COLUMNS if c not in results.LATER_COLUMNS
    ]:
        return leaderboard.read(path)
    raise RobinBenchError(
        f"{path}: neither a results.csv nor a leaderboard CSV (header {header[:6]}...); "
        "give a file written by robin-bench run or robin-bench leaderboard"
    )


@dataclass(frozen=True)
class CheckRow:
    """One value compared by :func:`report`.

    Attributes:
        suite, model, norm, eps, criterion: the cell (worst case over seeds).
        metric (str): one of :data:`METRICS`.
        baseline (float): the baseline's value (fraction).
        current (float or None): the current run's value (mean over seeds); None when missing.
        ci_low, ci_high (float or None): the current value's 95% interval.
        ci_method (str): how that interval was computed (``t-seeds`` or ``wilson-1-seed``).
        rule (str): ``"ci"`` (default rule) or ``"tolerance"``.
        threshold (float): what had to hold: ``ci_high >= threshold`` (ci rule, threshold = baseline)
            or ``current >= threshold`` (tolerance rule, threshold = baseline - tolerance).
        margin (float or None): distance from failing, ``ci_high - threshold`` or ``current - threshold``
            (negative: failed); None when missing.
        status (str): :data:`PASS`, :data:`BELOW` or :data:`MISSING`.
    """

    suite: str
    model: str
    norm: str
    eps: float
    criterion: str
    metric: str
    baseline: float
    current: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    rule: str
    threshold: float
    margin: float | None
    status: str

    def describe(self) -> str:
        """One line: the cell, the baseline, the current value with its interval, the rule and the verdict."""
        where = (
            f"{self.suite}/{self.model} {self.norm} eps={leaderboard.format_eps(self.eps)} {self.criterion} "
            f"{self.metric}"
        )
        base = f"baseline {leaderboard.format_pct(self.baseline)}%"
        if self.status == MISSING:
            return f"MISSING {where}: {base}, no current value"
        now = (
            f"now {leaderboard.format_pct(self.current)}% "
            f"(95% CI {leaderboard.format_interval(self.ci_low, self.ci_high)}, {self.ci_method})"
        )
        relation = ">=" if self.status == PASS else "is below"
        if self.rule == "ci":
            test = (
                f"CI upper bound {leaderboard.format_pct(self.ci_high)}% {relation} the baseline "
                f"{leaderboard.format_pct(self.threshold)}%"
            )
        else:
            test = f"now {relation} the baseline - tolerance = {leaderboard.format_pct(self.threshold)}%"
        verdict = "ok  " if self.status == PASS else "FAIL"
        return f"{verdict} {where}: {base}, {now}; {test} (margin {leaderboard.format_diff(self.margin)} pp)"


@dataclass(frozen=True)
class CheckReport:
    """What :func:`report` compared, row by row, and the verdict.

    Attributes:
        rows (list[CheckRow]): every value compared, in baseline order.
        tolerance (float or None): the tolerance used; None for the default (interval) rule.
        baseline_path (str): the baseline file (and the hash of the bytes compared).
        uncompared (list[str]): current cells the baseline has no value for (named, not gated).
    """

    rows: list[CheckRow]
    tolerance: float | None
    baseline_path: str
    uncompared: list[str] = field(default_factory=list)

    @property
    def offending(self) -> list[CheckRow]:
        """The rows that failed (below or missing)."""
        return [r for r in self.rows if r.status != PASS]

    @property
    def passed(self) -> bool:
        """True when no row failed."""
        return not self.offending

    def closest(self, k: int = 3) -> list[CheckRow]:
        """The ``k`` passing rows with the smallest margin: the ones that came closest to failing."""
        ok = [r for r in self.rows if r.status == PASS and r.margin is not None]
        return sorted(ok, key=lambda r: (r.margin, r.suite, r.model, r.eps))[:k]

    def rule_text(self) -> str:
        """The rule applied, in words."""
        if self.tolerance is None:
            return (
                "fail when the baseline lies above the current run's 95% interval (t over seeds; Wilson on "
                "the samples with one seed)"
            )
        return f"fail when current < baseline - {leaderboard.format_pct(self.tolerance)} points"

    def message(self) -> str:
        """The text the CLI prints: verdict, rule, failures, the rows closest to failing, then every row."""
        n_fail = len(self.offending)
        head = (
            f"check {'passed' if self.passed else 'FAILED'} against {self.baseline_path}: "
            f"{len(self.rows)} values compared, {n_fail} failed; rule: {self.rule_text()}"
        )
        parts = [head]
        if n_fail:
            parts += ["failed:", *("  " + r.describe() for r in self.offending)]
        closest = self.closest()
        if closest:
            parts += ["closest to failing:", *("  " + r.describe() for r in closest)]
        if self.uncompared:
            parts += [
                f"not compared (not in the baseline): {len(self.uncompared)}",
                *("  " + u for u in self.uncompared),
            ]
        parts += ["all values compared:", *("  " + r.describe() for r in self.rows)]
        return "\n".join(parts)


def _key(row: Any) -> tuple[str, ...]:
    return tuple(repr(float(row[c])) if c == "eps" else str(row[c]) for c in MATCH)


def _opt(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _interval(
    cur: pd.Series, metric: str, reps: dict[tuple[Any, ...], leaderboard.Replicates]
) -> tuple[float | None, float | None]:
    """The current value's 95% interval: the leaderboard's columns where it has them (robust accuracies), else
    the same rule on the per-seed values (t over seeds; Wilson on the n samples with one seed)."""
    if f"{metric}_ci_low" in cur.index:
        return _opt(cur[f"{metric}_ci_low"]), _opt(cur[f"{metric}_ci_high"])
    rep = reps[tuple(cur[c] for c in leaderboard.IDENTITY)]
    values = rep.values(metric)
    if len(values) >= 2:
        low, high = t_interval(values)
        return max(0.0, low), min(1.0, high)
    n = int(rep.rows["n"].iloc[0])
    return wilson(int(round(float(values[0]) * n)), n)


def report(
    current_csv: str | os.PathLike[str], baseline_csv: str | os.PathLike[str] | Baseline, tolerance: float | None = None
) -> CheckReport:
    """Compare every baseline value with the current run; see the module docstring for the rule.

    Arguments:
        current_csv (path): the ``results.csv`` of the run under test (seeds aggregated as in the
            leaderboard).
        baseline_csv (path or Baseline): a ``results.csv`` or a leaderboard ``NAME.csv``, or its snapshot taken
            before the run (:func:`snapshot_baseline`).
        tolerance (float, optional): allowed drop, a fraction in [0, 1]. Default: None (the interval rule).

    Returns:
        a :class:`CheckReport`; ``.passed`` is the verdict, ``.message()`` the text to print.

    Raises:
        RobinBenchError: a malformed file, a baseline without rows for the run's suites, or nothing
            to compare.

    Example::

        >>> r = report("runs/demo/results.csv", "leaderboards/demo.csv")
        >>> r.passed, len(r.rows)
        (True, 18)
    """
    if tolerance is not None and not (isinstance(tolerance, int | float) and 0.0 <= tolerance <= 1.0):
        raise RobinBenchError(f"tolerance {tolerance!r} is not a fraction in [0, 1]; e.g. 0.02 allows a 2-point drop")
    snapshot = baseline_csv if isinstance(baseline_csv, Baseline) else snapshot_baseline(baseline_csv)
    baseline_csv = snapshot.path
    base = snapshot.rows
    current, reps = leaderboard.aggregate(leaderboard.load([current_csv]))
    suites = sorted(set(current["suite"]))
    base = base[base["suite"].isin(suites)]
    if base.empty:
        raise RobinBenchError(
            f"baseline {baseline_csv} has no rows for suite(s) {suites}; "
            "compare a run with a baseline of the same suite"
        )
    by_key = {_key(r): r for _, r in current.iterrows()}
    rows: list[CheckRow] = []
    for _, b in base.iterrows():
        cur = by_key.get(_key(b))
        for metric in METRICS:
            if pd.isna(b[metric]):
                continue
            value = float(b[metric])
            threshold = value if tolerance is None else value - tolerance
            ident = {c: (float(b[c]) if c == "eps" else str(b[c])) for c in MATCH}
            common: dict[str, Any] = {
                **ident,
                "metric": metric,
                "baseline": value,
                "rule": "ci" if tolerance is None else "tolerance",
                "threshold": threshold,
            }
            if cur is None or pd.isna(cur[metric]):
                rows.append(
                    CheckRow(
                        **common, current=None, ci_low=None, ci_high=None, ci_method="", margin=None, status=MISSING
                    )
                )
                continue
            low, high = _interval(cur, metric, reps)
            now = float(cur[metric])
            if tolerance is None:
                margin = (high if high is not None else now) - threshold
                failed = margin < 0
            else:
                margin = now - threshold
                failed = margin < -1e-12
            rows.append(
                CheckRow(
                    **common,
                    current=now,
                    ci_low=low,
                    ci_high=high,
                    ci_method=str(cur["ci_method"]),
                    margin=margin,
                    status=BELOW if failed else PASS,
                )
            )
    if not rows:
        raise RobinBenchError(
            f"baseline {baseline_csv}: no value to compare for suite(s) {suites}; "
            "a check that compares nothing cannot pass"
        )
    compared = {_key(b) for _, b in base.iterrows()}
    uncompared = [
        f"{r['suite']}/{r['model']} {r['norm']} eps={leaderboard.format_eps(float(r['eps']))} {r['criterion']}"
        for _, r in current.iterrows()
        if _key(r) not in compared
    ]
    return CheckReport(rows=rows, tolerance=tolerance, baseline_path=snapshot.describe(), uncompared=uncompared)


def compare(
    current_csv: str | os.PathLike[str], baseline_csv: str | os.PathLike[str], tolerance: float | None = None
) -> list[dict[str, Any]]:
    """The failing rows of :func:`report` as dicts (keys: the fields of :class:`CheckRow`); empty when it passes."""
    return [asdict(r) for r in report(current_csv, baseline_csv, tolerance).offending]


def describe(row: dict[str, Any]) -> str:
    """One line for a row of :func:`compare` (:meth:`CheckRow.describe`)."""
    return CheckRow(**row).describe()
