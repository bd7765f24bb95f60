"""The verification columns of results rows held against the per-sample statuses in their flags files.

A suite with ``verify:`` writes each sample's ``rb.verify`` status (``verified``, ``broken``, ``unknown``) into the
cell's flags file (``Flags.verify_status``) and, on every row of the cell, ``verified_acc`` (share ``verified``) and
``unresolved`` (count ``unknown``); the coarse flags file gives ``coarse_verified_acc`` and ``coarse_unresolved``.
:func:`disagreement` recomputes those columns from the statuses; :func:`robin_bench.bench.store.flags_disagreement`
asks it for every row read back (``robin-bench leaderboard``, ``summary.md``, ``robin-bench check``, a cell record
reused by a run), so an edited figure is refused.

Example::

    >>> disagreement(row, COLUMN_PAIRS["fine"], load_flags(flags_dir, key).verify_status)
    "verified_acc 0.5 disagrees with its per-sample statuses (3/8 verified)"
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_TOLERANCE = 1e-9

COLUMN_PAIRS: dict[str, tuple[str, str]] = {
    "fine": ("verified_acc", "unresolved"),
    "coarse": ("coarse_verified_acc", "coarse_unresolved"),
}
"""The (verified share, unresolved count) columns from the flags file of the row's own criterion (``"fine"``)
and from its coarse flags file (``"coarse"``; empty for a row judged coarse)."""


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def disagreement(row: Mapping[str, Any], columns: tuple[str, str], status: np.ndarray | None) -> str | None:
    """What the (verified share, unresolved count) ``columns`` of results ``row`` say other than the per-sample
    statuses ``status`` of its flags file (None: the file holds none, or there is no such file), or None when
    they agree."""
    acc_column, unresolved_column = columns
    acc, unresolved = row[acc_column], row[unresolved_column]
    if status is None:
        if _missing(acc) and _missing(unresolved):
            return None
        shown = acc_column if not _missing(acc) else unresolved_column
        return f"{shown} {row[shown]!r} has no per-sample verification statuses in its flags to come from"
    n = len(status)
    proven, unknown = int(np.count_nonzero(status == "verified")), int(np.count_nonzero(status == "unknown"))
    if _missing(acc) or abs(float(acc) - proven / n) > _TOLERANCE:
        return f"{acc_column} {acc!r} disagrees with its per-sample statuses ({proven}/{n} verified)"
    if _missing(unresolved) or int(unresolved) != unknown:
        return f"{unresolved_column} {unresolved!r} disagrees with its per-sample statuses ({unknown} unknown)"
    return None
