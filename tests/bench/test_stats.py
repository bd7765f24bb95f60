"""Wilson intervals and McNemar's exact test against known values and an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlxtend.evaluate import mcnemar, mcnemar_table

from robin_bench.bench.stats import mcnemar_exact, wilson
from robin_bench.errors import RobinBenchError


def test_wilson_k0_and_kn_closed_forms() -> None:
    z2 = 1.96**2
    assert wilson(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert wilson(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)


@pytest.mark.parametrize(("k", "n", "low", "high"), [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605)])
def test_wilson_textbook_values(k: int, n: int, low: float, high: float) -> None:
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (score interval).
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate_and_stays_in_unit_interval(kn: tuple[int, int]) -> None:
    k, n = kn
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert hi - lo <= wilson(k, n, z=2.58)[1] - wilson(k, n, z=2.58)[0]


@pytest.mark.parametrize(("k", "n"), [(0, 0), (3, 2), (-1, 5)])
def test_wilson_rejects_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(RobinBenchError, match="wilson"):
        wilson(k, n)


def test_mcnemar_known_values() -> None:
    assert mcnemar_exact(np.ones(5, bool), np.zeros(5, bool)) == pytest.approx(0.0625)  # 2 * 0.5**5
    a = np.array([1] * 9 + [0] + [1] * 5 + [0] * 3, bool)
    b = np.array([0] * 9 + [1] + [1] * 5 + [0] * 3, bool)
    assert mcnemar_exact(a, b) == pytest.approx(2 * 11 / 1024)  # 9 vs 1 discordant
    assert mcnemar_exact(a, a) == 1.0
    assert mcnemar_exact(a, b) == mcnemar_exact(b, a)


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_mcnemar_matches_mlxtend_exact(pairs: list[tuple[bool, bool]]) -> None:
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    if np.count_nonzero(a != b) == 0:
        assert mcnemar_exact(a, b) == 1.0
        return
    table = mcnemar_table(np.ones(len(a), int), a.astype(int), b.astype(int))
    assert mcnemar_exact(a, b) == pytest.approx(min(1.0, float(mcnemar(table, exact=True)[1])))


def test_mcnemar_rejects_unpaired_or_non_boolean() -> None:
    with pytest.raises(RobinBenchError, match="same samples"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(RobinBenchError, match="boolean"):
        mcnemar_exact(np.ones(3), np.ones(3))
