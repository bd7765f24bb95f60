"""The leaderboard's columns, declared once in :data:`SCHEMA`; every other column list is derived from it.

A :class:`Column` names a column of ``NAME.csv``, the kind of value it holds (how :func:`~.files.read` checks
it), the part of the table it belongs to, whether it keys a row or goes into a model's JSON record, and its
markdown and HTML headers where the pages show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """What a column holds: its value's check when a ``NAME.csv`` is read (optional kinds may be empty).

    Each value is ``(optional, low, high, what the error message expects)``; strings are not checked, counts are
    integers of at least ``low``.
    """

    STRING = (False, 0.0, 0.0, "")
    FRACTION = (False, 0.0, 1.0, "a fraction in [0, 1]")
    OPTIONAL_FRACTION = (True, 0.0, 1.0, "a fraction in [0, 1] or empty")
    DIFF = (True, -1.0, 1.0, "a difference in [-1, 1] or empty")
    RADIUS = (False, 0.0, math.inf, "a finite non-negative radius")
    OPTIONAL_RADIUS = (True, 0.0, math.inf, "a finite non-negative radius or empty")
    OPTIONAL_AMOUNT = (True, 0.0, math.inf, "a non-negative number or empty")
    COUNT = (False, 1.0, math.inf, "a positive integer")
    OPTIONAL_COUNT = (True, 0.0, math.inf, "a positive integer or empty")

    @property
    def optional(self) -> bool:
        """Whether an empty cell is valid."""
        return bool(self.value[0])

    @property
    def bounds(self) -> tuple[float, float]:
        """The closed range a number must lie in."""
        return float(self.value[1]), float(self.value[2])

    @property
    def valid(self) -> str:
        """What a valid cell is, for error messages."""
        return str(self.value[3])


NUMBER_KINDS = (
    Kind.FRACTION,
    Kind.OPTIONAL_FRACTION,
    Kind.DIFF,
    Kind.RADIUS,
    Kind.OPTIONAL_RADIUS,
    Kind.OPTIONAL_AMOUNT,
)
"""The kinds read as floats, in the order :func:`~.files.read` checks them (then the counts)."""

COUNT_KINDS = (Kind.COUNT, Kind.OPTIONAL_COUNT)
"""The kinds read as integers."""


@dataclass(frozen=True)
class Column:
    """One column of ``NAME.csv``.

    Attributes:
        name (str): the column's name.
        kind (Kind): what it holds.
        part (str): ``"row"``, or the group it belongs to: ``"next"`` (:data:`NEXT_COLUMNS`), ``"comparison"``
            (:data:`COMPARISON_COLUMNS`), ``"verify"`` (:data:`VERIFY_COLUMNS`) or ``"verify_comparison"``
            (:data:`VERIFY_COMPARISON_COLUMNS`).
        key (str): ``"group"`` for the columns a table is ranked within (:data:`GROUP`), ``"identity"`` for the
            other columns of :data:`IDENTITY`, else ``""``.
        record (bool): whether a model's JSON record holds it (:data:`RECORD_KEYS`).
        md (str): its header in the markdown tables, ``""`` when they do not show it.
        html (str): its header in the HTML tables, ``""`` when they do not show it.
        tip (str): the HTML header's tooltip.
    """

    name: str
    kind: Kind
    part: str = "row"
    key: str = ""
    record: bool = False
    md: str = ""
    html: str = ""
    tip: str = ""


_S, _F, _OF, _D = Kind.STRING, Kind.FRACTION, Kind.OPTIONAL_FRACTION, Kind.DIFF
_PROOF_TIP = "Robust accuracy proven by rb.verify (lower bound) and under the attacks (upper bound), means over seeds"

SCHEMA: tuple[Column, ...] = (
    Column("rank", Kind.COUNT, md="Rank", html="Rank", tip="Rank by mean robust accuracy (ties share a rank)"),
    Column("suite", _S, key="identity", record=True),
    Column("dataset", _S, key="group", record=True),
    Column("norm", _S, key="group"),
    Column("eps", Kind.RADIUS, key="group"),
    Column("criterion", _S, key="group"),
    Column("model", _S, key="identity", record=True, md="Model", html="Model", tip="Model name, suite below"),
    Column("kind", _S, record=True, md="Kind", html="Kind", tip="flat, robin or har"),
    Column("arch", _S, record=True, md="Arch", html="Arch", tip="Architecture"),
    Column("train_objective", _S, record=True, md="Training", html="Training", tip="Training objective @ eps train"),
    Column("eps_train", Kind.OPTIONAL_RADIUS, record=True),
    Column("attack_set", _S, md="Attack set", html="Attacks", tip="Attack set of the worst case"),
    Column(
        "n_seeds",
        Kind.COUNT,
        md="Seeds",
        html="Seeds",
        tip="Training seeds (replicates); n test samples per seed below",
    ),
    Column("seeds", _S, record=True),
    Column("n", Kind.COUNT),
    Column("clean_acc", _F, md="Clean", html="Clean %", tip="Clean accuracy, mean over seeds"),
    Column("clean_acc_min", _OF),
    Column("clean_acc_max", _OF),
    Column("robust_acc", _F, md="Robust", html="Robust %", tip="Worst-case robust accuracy, mean over seeds"),
    Column(
        "robust_acc_ci_low",
        _F,
        md="95% CI",
        html="95% CI",
        tip="t interval over seeds (Wilson on samples with one seed)",
    ),
    Column("robust_acc_ci_high", _F),
    Column(
        "robust_acc_min",
        _OF,
        md="Seed range",
        html="Seed range",
        tip="Smallest and largest per-seed robust accuracy",
    ),
    Column("robust_acc_max", _OF),
    Column("ci_method", _S),
    Column("coarse_clean_acc", _OF, md="Coarse clean", html="Coarse clean %", tip="Coarse clean accuracy"),
    Column(
        "coarse_robust_acc",
        _OF,
        md="Coarse robust",
        html="Coarse robust %",
        tip="Coarse worst-case robust accuracy",
    ),
    Column("coarse_robust_acc_ci_low", _OF),
    Column("coarse_robust_acc_ci_high", _OF),
    Column(
        "next_diff",
        _D,
        part="next",
        html="vs next",
        tip="Difference to the next rank (pp); yellow: interval contains 0",
    ),
    Column("next_diff_ci_low", _D, part="next"),
    Column("next_diff_ci_high", _D, part="next"),
    Column("distinct_from_next", _S, part="next", md="≠ next"),
    Column("baseline", _S, part="comparison", md="Baseline", html="Baseline", tip="Flat baseline of the same suite"),
    Column("n_paired_seeds", Kind.OPTIONAL_COUNT, part="comparison"),
    Column(
        "robust_acc_diff",
        _D,
        part="comparison",
        md="Δ robust",
        html="Δ robust pp",
        tip="Model minus baseline, paired by seed and sample, 95% interval below",
    ),
    Column("robust_acc_diff_ci_low", _D, part="comparison", md="Δ 95% CI"),
    Column("robust_acc_diff_ci_high", _D, part="comparison"),
    Column("diff_ci_method", _S, part="comparison"),
    Column(
        "mcnemar_p",
        _OF,
        part="comparison",
        md="McNemar p",
        html="p",
        tip="Exact McNemar test on per-sample flags, pooled over seeds",
    ),
    Column(
        "coarse_robust_acc_diff",
        _D,
        part="comparison",
        md="Δ coarse",
        html="Δ coarse pp",
        tip="Coarse robust accuracy minus baseline's",
    ),
    Column("coarse_robust_acc_diff_ci_low", _D, part="comparison"),
    Column("coarse_robust_acc_diff_ci_high", _D, part="comparison"),
    Column(
        "coarse_mcnemar_p", _OF, part="comparison", md="Coarse p", html="coarse p", tip="McNemar on the coarse flags"
    ),
    Column(
        "unreliable",
        _S,
        md="Unreliable",
        html="Flags",
        tip="Masking / sanity flags (hover for the full text)",
    ),
    Column("grad_evals", Kind.OPTIONAL_COUNT),
    Column("seconds", Kind.OPTIONAL_AMOUNT),
    Column("config_hash", _S, record=True),
    Column("robin_bench_version", _S, record=True),
    Column("torch_version", _S, record=True),
    Column("device", _S, record=True),
    Column("plugins", _S),
    Column(
        "verified_acc", _OF, part="verify", md="[Verified, attacked]", html="[Verified, attacked] %", tip=_PROOF_TIP
    ),
    Column(
        "unresolved",
        Kind.OPTIONAL_COUNT,
        part="verify",
        md="Unresolved",
        html="Unresolved",
        tip="Samples neither proven robust nor broken within the time limit, total over seeds",
    ),
    Column(
        "coarse_verified_acc",
        _OF,
        part="verify",
        md="Coarse [verified, attacked]",
        html="Coarse [verified, attacked] %",
        tip="Coarse robust accuracy proven and attacked",
    ),
    Column(
        "coarse_unresolved",
        Kind.OPTIONAL_COUNT,
        part="verify",
        md="Coarse unresolved",
        html="Coarse unresolved",
        tip="Samples unresolved under the coarse criterion, total over seeds",
    ),
    Column(
        "verified_acc_diff",
        _D,
        part="verify_comparison",
        md="Δ verified",
        html="Δ verified pp",
        tip="Verified robust accuracy minus the baseline's, paired by seed and sample, 95% interval below",
    ),
    Column("verified_acc_diff_ci_low", _D, part="verify_comparison", md="Δ verified 95% CI"),
    Column("verified_acc_diff_ci_high", _D, part="verify_comparison"),
    Column(
        "verified_mcnemar_p",
        _OF,
        part="verify_comparison",
        md="Verified p",
        html="verified p",
        tip="Exact McNemar test on the per-sample proofs, pooled over seeds",
    ),
    Column(
        "coarse_verified_acc_diff",
        _D,
        part="verify_comparison",
        md="Δ coarse verified",
        html="Δ coarse verified pp",
        tip="Coarse verified robust accuracy minus the baseline's, 95% interval below",
    ),
    Column("coarse_verified_acc_diff_ci_low", _D, part="verify_comparison"),
    Column("coarse_verified_acc_diff_ci_high", _D, part="verify_comparison"),
    Column(
        "coarse_verified_mcnemar_p",
        _OF,
        part="verify_comparison",
        md="Coarse verified p",
        html="coarse verified p",
        tip="McNemar on the coarse proofs",
    ),
)
"""Every column of ``NAME.csv``, in order."""

BY_NAME: dict[str, Column] = {c.name: c for c in SCHEMA}
"""The columns of :data:`SCHEMA` by name."""

COLUMNS: list[str] = [c.name for c in SCHEMA]
"""Columns of ``NAME.csv``. Accuracies (means over seeds), intervals and differences are fractions;
``seeds`` lists the seeds joined by ``;``; ``n`` is the samples per seed (the smallest when seeds
differ); ``grad_evals``, ``seconds`` and the ``unresolved`` counts are totals over seeds; p-values in [0, 1].
The :data:`VERIFY_COLUMNS` and :data:`VERIFY_COMPARISON_COLUMNS` come last (a board written before them reads
with them empty)."""

GROUP: list[str] = [c.name for c in SCHEMA if c.key == "group"]
"""Rows are ranked within these columns."""

IDENTITY: list[str] = [c.name for c in SCHEMA if c.key]
"""One leaderboard row per value of these columns (its seeds aggregated)."""

NEXT_COLUMNS: list[str] = [c.name for c in SCHEMA if c.part == "next"]
"""Columns comparing a row with the next-ranked row of its group (empty on the last row)."""

COMPARISON_COLUMNS: list[str] = [c.name for c in SCHEMA if c.part == "comparison"]
"""Columns comparing a row with its flat baseline (empty for flat rows and rows without a baseline)."""

VERIFY_COLUMNS: list[str] = [c.name for c in SCHEMA if c.part == "verify"]
"""Verified robust accuracy (mean over seeds) and unresolved samples (total over seeds), fine and coarse: empty
unless every seed of the row was verified (results columns of the same names, :data:`results.LATER_COLUMNS`)."""

VERIFY_COMPARISON_COLUMNS: list[str] = [c.name for c in SCHEMA if c.part == "verify_comparison"]
"""The verified accuracy minus the flat baseline's, with its interval and McNemar p-value, fine and coarse: the
comparison of :data:`COMPARISON_COLUMNS` on the per-sample proofs; empty unless both rows were verified."""


def mcnemar_column(metric: str) -> str:
    """The column holding the McNemar p-value of ``metric``'s comparison with the baseline: ``mcnemar_p``
    (``robust_acc``), ``coarse_mcnemar_p``, ``verified_mcnemar_p``, ``coarse_verified_mcnemar_p``."""
    return metric.removesuffix("acc").replace("robust_", "") + "mcnemar_p"


STRING_COLUMNS: frozenset[str] = frozenset(c.name for c in SCHEMA if c.kind is Kind.STRING)
"""The columns holding text (read as is; left-aligned in HTML)."""

RECORD_KEYS: list[str] = [*(c.name for c in SCHEMA if c.record), "evaluations"]
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
"""Keys of each entry of a record's ``evaluations`` (one per norm x eps x criterion), in order: columns, and the
intervals (``robust_acc_ci``, ``robust_acc_diff_ci``), ``per_seed`` and ``attacks`` built from them; a verified
evaluation adds the :data:`VERIFY_COLUMNS` it has."""

TABLE_LAYOUT: tuple[str, ...] = (
    "rank",
    "model",
    "kind",
    "arch",
    "train_objective",
    "attack_set",
    "n_seeds",
    "clean_acc",
    "robust_acc",
    "robust_acc_ci_low",
    "verified_acc",
    "unresolved",
    "robust_acc_min",
    "distinct_from_next",
    "next_diff",
    "coarse_clean_acc",
    "coarse_robust_acc",
    "coarse_verified_acc",
    "coarse_unresolved",
    "baseline",
    "robust_acc_diff",
    "robust_acc_diff_ci_low",
    "mcnemar_p",
    "verified_acc_diff",
    "verified_acc_diff_ci_low",
    "verified_mcnemar_p",
    "coarse_robust_acc_diff",
    "coarse_mcnemar_p",
    "coarse_verified_acc_diff",
    "coarse_verified_mcnemar_p",
    "unreliable",
)
"""The columns the md and html tables show, in order (each page keeps those with its header, and the proof
columns only where a group carries verification)."""


def shown(proof: bool, coarse_proof: bool) -> list[Column]:
    """The columns of a page's table in :data:`TABLE_LAYOUT` order: the fine and coarse :data:`VERIFY_COLUMNS` and
    :data:`VERIFY_COMPARISON_COLUMNS` only with ``proof`` and ``coarse_proof``."""

    def keep(c: Column) -> bool:
        if c.part not in ("verify", "verify_comparison"):
            return True
        return coarse_proof if c.name.startswith("coarse_") else proof

    columns = (BY_NAME[n] for n in TABLE_LAYOUT)
    return [c for c in columns if keep(c)]
