"""Where a leaderboard's files go: escaped names and the layout of the folder ``NAME/`` beside the tables."""

from __future__ import annotations

import os
from pathlib import Path

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


RECORDS_DIRNAME = "records"
ROBUSTBENCH_DIRNAME = "robustbench"
RESULTS_DIRNAME = "results"


def record_path(prefix: str | os.PathLike[str], suite: str, model: str) -> Path:
    """Where :func:`build` writes a model's record: ``NAME/records/<escaped suite>/<escaped model>.json``."""
    return Path(prefix) / RECORDS_DIRNAME / escape_name(suite) / f"{escape_name(model)}.json"


def results_path(prefix: str | os.PathLike[str], suite: str) -> Path:
    """Where :func:`build` with ``with_results=True`` copies the per-seed results of ``suite``."""
    return Path(prefix) / RESULTS_DIRNAME / escape_name(suite) / "results.csv"
