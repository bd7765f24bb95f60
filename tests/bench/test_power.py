"""Minimum detectable differences of the paired t over seeds and the pooled McNemar test."""

import numpy as np
import pytest
from scipy import stats

from robin_bench.bench.power import mcnemar_mdd, mcnemar_power, paired_t_mdd, paired_t_power
from robin_bench.errors import RobinBenchError


def test_normal_mdd_matches_hand_value():
    # (z_0.975 + z_0.8) * sd / sqrt(k) = (1.959964 + 0.841621) * 1 / 2
    assert paired_t_mdd(4, 1.0, method="normal") == pytest.approx(1.4007925, abs=1e-6)
    assert paired_t_mdd(4, 0.02, method="normal") == pytest.approx(0.02801585, abs=1e-7)


def test_noncentral_t_mdd_exceeds_normal_at_few_seeds_and_meets_it_at_many():
    few = paired_t_mdd(5, 1.0)
    assert few > 1.3 * paired_t_mdd(5, 1.0, method="normal")
    assert paired_t_mdd(2000, 1.0) == pytest.approx(paired_t_mdd(2000, 1.0, method="normal"), rel=2e-3)
    assert paired_t_power(few, 5, 1.0) == pytest.approx(0.8, abs=1e-9)


def test_t_power_is_alpha_at_zero_and_grows_with_delta():
    assert paired_t_power(0.0, 5, 0.01) == pytest.approx(0.05, abs=1e-9)
    powers = [paired_t_power(d, 5, 0.01) for d in (0.005, 0.01, 0.02, 0.04)]
    assert powers == sorted(powers) and powers[-1] > 0.99


def test_paired_t_mdd_by_simulation():
    k, sd = 5, 0.01
    mdd = paired_t_mdd(k, sd)
    d = np.random.default_rng(0).normal(mdd, sd, size=(20000, k))
    rejected = stats.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.012)


def test_mcnemar_power_matches_connor_hand_value():
    # Connor (1987): N = (1.959964 sqrt(0.2) + 0.841621 sqrt(0.19))^2 / 0.1^2 = 154.6 pairs for delta 0.1, psi 0.2;
    # at N = 155: Phi((0.1 sqrt(155) - 1.959964 sqrt(0.2)) / sqrt(0.19)) = Phi(0.84532) = 0.80103
    assert mcnemar_power(0.1, 155, 1, 0.2) == pytest.approx(0.80103, abs=1e-4)
    assert mcnemar_mdd(155, 1, 0.2) == pytest.approx(0.0999, abs=2e-4)
    assert mcnemar_mdd(31, 5, 0.2) == pytest.approx(mcnemar_mdd(155, 1, 0.2), abs=1e-12)


def test_mcnemar_mdd_by_simulation_of_the_exact_test():
    n, k, psi = 364, 5, 0.1
    mdd = mcnemar_mdd(n, k, psi)
    rng = np.random.default_rng(1)
    counts = rng.multinomial(n * k, [(psi + mdd) / 2, (psi - mdd) / 2, 1 - psi], size=4000)
    b, c = counts[:, 0], counts[:, 1]
    p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, c), b + c, 0.5))
    assert (p < 0.05).mean() == pytest.approx(0.8, abs=0.03)


def test_more_samples_or_seeds_detect_smaller_differences():
    assert mcnemar_mdd(364, 5, 0.1) < mcnemar_mdd(364, 3, 0.1) < mcnemar_mdd(100, 3, 0.1)
    assert paired_t_mdd(10, 0.01) < paired_t_mdd(5, 0.01) < paired_t_mdd(3, 0.01)


@pytest.mark.parametrize(
    "call",
    [
        lambda: paired_t_mdd(1, 0.01),
        lambda: paired_t_mdd(5, 0.0),
        lambda: paired_t_mdd(5, 0.01, power=0.01),
        lambda: paired_t_mdd(5, 0.01, method="wald"),
        lambda: mcnemar_mdd(0, 5, 0.1),
        lambda: mcnemar_mdd(364, 5, 1.5),
        lambda: mcnemar_mdd(3, 1, 0.1),
        lambda: mcnemar_power(0.2, 364, 5, 0.1),
    ],
)
def test_bad_inputs_raise_one_line_errors(call):
    with pytest.raises(RobinBenchError):
        call()
