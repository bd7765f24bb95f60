"""robin_bench.bench: suites, runs, results and leaderboards.

``rb.bench.run(suite, models={"mine": module})`` benchmarks a suite (a file or a loaded :class:`Suite`), with
in-memory models from a notebook beside or instead of the suite's own, through the same planner, cache and rows
as ``robin-bench run``. Imported on first use, so the command line parses its arguments before torch loads.

Example::

    >>> report = rb.bench.run("benchmarks/suites/demo.yaml", models={"mine": my_flat_model})
    >>> report.results_csv
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"run": ("robin_bench.bench.runner", "run"), "load_suite": ("robin_bench.bench.config", "load_suite")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'robin_bench.bench' has no attribute {name!r}")
