"""The tiny suite of the runner and executor tests: digits classes 0..3 in two coarse groups, one flat, one
ROBIN and one HAR MLP trained for one epoch, written as YAML and loaded as a user's suite file is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from robin_bench.bench import results
from robin_bench.bench.config import Suite, load_suite

HIERARCHY = [[0, 1], [2, 3]]
MODELS = [
    {"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16, "seed": 1}},
    {"name": "robin", "kind": "robin", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}},
    {"name": "har", "kind": "har", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}},
]
TIMING = ["seconds", "timestamp"]
"""Result columns that differ between two runs of the same cells."""


def write_suite(folder: Path, spec: dict[str, Any], out: str = "out", **changes: object) -> Suite:
    """``spec`` updated with ``changes`` and output ``folder/out``, written to ``folder/out.yaml`` and loaded."""
    path = folder / f"{out}.yaml"
    path.write_text(yaml.safe_dump({**spec, **changes, "output": str(folder / out)}, sort_keys=False))
    return load_suite(path)


def results_table(csv: Path) -> pd.DataFrame:
    """A run's ``results.csv`` without the timing columns, sorted by the result key."""
    df = results.read(csv).drop(columns=TIMING)
    return df.sort_values(results.KEY).reset_index(drop=True)
