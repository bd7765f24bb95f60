"""Every estimator test starts from seeded torch and numpy global generators (ART draws from numpy's)."""

from __future__ import annotations

import pytest

from tests.estimators.tiny import seed_all


@pytest.fixture(autouse=True)
def _seed_numpy_and_torch() -> None:
    seed_all(0)
