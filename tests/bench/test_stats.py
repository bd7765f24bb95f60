"""Intervals (Wilson, Newcombe, t over seeds) and exact McNemar tests against known values and independent code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlxtend.evaluate import mcnemar, mcnemar_table
from scipy import stats as scipy_stats

from robin_bench.bench.stats import (
    mcnemar_exact,
    mcnemar_pooled,
    newcombe_paired,
    newcombe_unpaired,
    t_interval,
    wilson,
)
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


def test_t_interval_matches_scipy() -> None:
    v = np.array([0.5, 0.6, 0.4, 0.55])
    expected = scipy_stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=scipy_stats.sem(v))
    assert t_interval(v) == pytest.approx(expected)
    assert t_interval([0.7, 0.7, 0.7]) == (pytest.approx(0.7), pytest.approx(0.7))
    with pytest.raises(RobinBenchError, match="at least 2 replicates"):
        t_interval([0.5])
    with pytest.raises(RobinBenchError, match="finite"):
        t_interval([0.5, float("nan")])


@given(st.lists(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=20), min_size=1, max_size=4))
def test_pooled_mcnemar_equals_mcnemar_on_concatenated_strata(strata: list[list[tuple[bool, bool]]]) -> None:
    pairs = [(np.array([p[0] for p in s]), np.array([p[1] for p in s])) for s in strata]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    assert mcnemar_pooled(pairs) == pytest.approx(mcnemar_exact(a, b))


def test_pooled_mcnemar_known_value_and_errors() -> None:
    seeds = [(np.array([1, 1, 0], bool), np.zeros(3, bool)), (np.array([1, 0], bool), np.array([0, 1], bool))]
    assert mcnemar_pooled(seeds) == pytest.approx(2 * (1 + 4) / 16)  # 3 vs 1 discordant of 4
    with pytest.raises(RobinBenchError, match="at least one stratum"):
        mcnemar_pooled([])


def test_newcombe_unpaired_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II example (f): 56/70 - 48/80, method 10.
    lo, hi = newcombe_unpaired(56, 70, 48, 80)
    assert (lo, hi) == (pytest.approx(0.0524, abs=5e-5), pytest.approx(0.3339, abs=5e-5))


def test_newcombe_paired_reduces_to_unpaired_without_correlation() -> None:
    # a 2x2 table with AD = BC has phi = 0: method 10 for paired data is then the unpaired hybrid score interval.
    a = np.array([1] * 4 + [1] * 4 + [0] * 2 + [0] * 2, bool)
    b = np.array([1] * 4 + [0] * 4 + [1] * 2 + [0] * 2, bool)  # A=4, B=4, C=2, D=2: AD = BC = 8
    assert newcombe_paired(a, b) == pytest.approx(newcombe_unpaired(8, 12, 6, 12))


def test_newcombe_paired_covers_at_nominal_rate() -> None:
    rng = np.random.default_rng(0)
    n, trials, hits = 60, 2000, 0
    for _ in range(trials):
        shared = rng.random(n) < 0.7  # correlated outcomes, true difference 0.15 - 0.05 = 0.10
        u = rng.random(n)
        a = np.where(shared, u < 0.85, u < 0.5)
        b = np.where(shared, u < 0.75, u < 0.4)
        true = 0.7 * 0.10 + 0.3 * 0.10
        lo, hi = newcombe_paired(a, b)
        hits += lo <= true <= hi
    assert 0.93 <= hits / trials <= 0.985


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=80))
def test_newcombe_paired_contains_difference(pairs: list[tuple[bool, bool]]) -> None:
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    lo, hi = newcombe_paired(a, b)
    assert -1.0 <= lo <= a.mean() - b.mean() + 1e-12 and a.mean() - b.mean() - 1e-12 <= hi <= 1.0
