"""Power of the leaderboard's paired comparisons: the smallest difference a design can detect.

The leaderboard compares a model with its flat baseline in two ways (``robin_bench.bench.stats``):

- the **paired t over seeds**: per shared seed s the difference d_s of the two robust accuracies, and
  the t test of mean(d) = 0 with k - 1 degrees of freedom. Its noise is the across-seed standard
  deviation of d (training randomness, plus the model-by-sample variation it carries);
- the **pooled McNemar** on the per-sample flags: the n x k (sample, seed) pairs, of which a share
  psi is discordant (robust under one model only); under the null each discordant pair favours
  either model with probability 1/2. It asks whether *these trained models* differ on *these samples*.

For each, :func:`paired_t_mdd` and :func:`mcnemar_mdd` give the minimum detectable difference (MDD):
the true difference in robust accuracy that the two-sided test at level ``alpha`` rejects with
probability ``power``.

Example::

    >>> round(paired_t_mdd(5, 0.01), 4)            # 5 seeds, per-seed differences spread by 0.01
    0.0168
    >>> round(mcnemar_mdd(364, 5, 0.1), 4)         # 364 samples x 5 seeds, 10% discordant pairs
    0.0208
"""

from __future__ import annotations

import math
from typing import Literal

from scipy import optimize, stats

from robin_bench.errors import RobinBenchError

TMethod = Literal["noncentral_t", "normal"]


def _check_level(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise RobinBenchError(f"alpha={alpha!r}; expected a test level in (0, 1), e.g. 0.05")
    if not alpha < power < 1:
        raise RobinBenchError(f"power={power!r}; expected a power in (alpha={alpha}, 1), e.g. 0.8")


def paired_t_power(delta: float, k: int, sd_diff: float, *, alpha: float = 0.05) -> float:
    r"""Power of the two-sided paired t test over ``k`` seeds against a true mean difference ``delta``.

    Exact under normal per-seed differences: the statistic ``mean(d) / (s / sqrt(k))`` follows a noncentral
    t distribution with ``k - 1`` degrees of freedom and noncentrality ``delta * sqrt(k) / sd_diff``
    (Cohen 1988, "Statistical Power Analysis for the Behavioral Sciences", ch. 2), so the power is
    ``P(|T| > t_{1 - alpha/2, k-1})``.

    Arguments:
        delta (float): true mean difference of robust accuracy (fraction), any sign.
        k (int): seeds (paired replicates), >= 2.
        sd_diff (float): standard deviation of the per-seed difference across seeds (fraction), > 0.
        alpha (float): two-sided test level. (Default: 0.05)

    Returns:
        float: the probability of rejecting mean difference 0, in [alpha, 1).
    """
    _check_seeds(k, sd_diff)
    _check_level(alpha, (1 + alpha) / 2)
    df = k - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(delta) * math.sqrt(k) / sd_diff
    # P(T < -crit | nc) = P(T > crit | -nc): scipy's lower tail is NaN far out, its upper tail is not.
    return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))


def paired_t_mdd(
    k: int, sd_diff: float, *, alpha: float = 0.05, power: float = 0.8, method: TMethod = "noncentral_t"
) -> float:
    r"""Minimum detectable mean difference of the paired t test over ``k`` seeds.

    ``"noncentral_t"`` solves :func:`paired_t_power` ``= power`` for ``delta`` (exact for normal per-seed
    differences; what the leaderboard's t interval implies). ``"normal"`` is the large-k approximation
    ``(z_{1-alpha/2} + z_{power}) * sd_diff / sqrt(k)``, which understates the MDD at few seeds (at k = 5
    by a factor of about 1.34) because it ignores that ``sd_diff`` is estimated.

    Arguments:
        k (int): seeds (paired replicates), >= 2.
        sd_diff (float): standard deviation of the per-seed difference across seeds (fraction), > 0.
        alpha (float): two-sided test level. (Default: 0.05)
        power (float): required probability of detection. (Default: 0.8)
        method (str): ``"noncentral_t"`` or ``"normal"``. (Default: ``"noncentral_t"``)

    Returns:
        float: the smallest true difference (fraction, > 0) detected with probability ``power``.

    Example::

        >>> round(paired_t_mdd(4, 1.0, method="normal"), 4)   # (1.96 + 0.8416) / 2
        1.4008
    """
    _check_seeds(k, sd_diff)
    _check_level(alpha, power)
    if method == "normal":
        z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
        return float(z * sd_diff / math.sqrt(k))
    if method != "noncentral_t":
        raise RobinBenchError(f"method={method!r}; expected 'noncentral_t' or 'normal'")
    high = sd_diff
    while paired_t_power(high, k, sd_diff, alpha=alpha) < power:
        high *= 2
    return float(
        optimize.brentq(lambda d: paired_t_power(d, k, sd_diff, alpha=alpha) - power, 0.0, high, xtol=1e-12 * sd_diff)
    )


def mcnemar_power(delta: float, n: int, k: int, discordant_rate: float, *, alpha: float = 0.05) -> float:
    r"""Power of the pooled McNemar test on ``n`` samples x ``k`` seeds against a true difference ``delta``.

    Normal approximation of Connor (1987), "Sample size for testing differences in proportions for the
    paired-sample design", Biometrics 43(1):207-211: with ``N = n k`` pairs, discordant share ``psi`` and
    difference ``delta = p10 - p01`` (so ``|delta| <= psi``),
    ``power = Phi((|delta| sqrt(N) - z_{1-alpha/2} sqrt(psi)) / sqrt(psi - delta^2))``. The pooled test treats
    the N pairs as independent, so this is the power to tell *these* trained models apart on *these* samples;
    training randomness is the paired t's business. The leaderboard's test is the exact binomial one, slightly
    more conservative when few pairs are discordant.

    Arguments:
        delta (float): true difference of robust accuracy (fraction), ``|delta| <= discordant_rate``.
        n (int): test samples per seed, >= 1.
        k (int): seeds, >= 1.
        discordant_rate (float): share of (sample, seed) pairs robust under exactly one model, in (0, 1].
        alpha (float): two-sided test level. (Default: 0.05)

    Returns:
        float: the probability of rejecting equal rates, in [0, 1].
    """
    pairs, psi = _check_pairs(n, k, discordant_rate)
    _check_level(alpha, (1 + alpha) / 2)
    d = abs(delta)
    if d > psi:
        raise RobinBenchError(f"delta={delta!r}; a difference cannot exceed the discordant rate {psi}")
    z = stats.norm.ppf(1 - alpha / 2)
    num = d * math.sqrt(pairs) - z * math.sqrt(psi)
    den = math.sqrt(psi - d * d)
    if den == 0.0:
        return 1.0 if num > 0 else 0.0
    return float(stats.norm.cdf(num / den))


def mcnemar_mdd(n: int, k: int, discordant_rate: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    r"""Minimum detectable difference of the pooled McNemar test (:func:`mcnemar_power` solved for ``delta``).

    Arguments:
        n (int): test samples per seed, >= 1.
        k (int): seeds, >= 1.
        discordant_rate (float): share of (sample, seed) pairs robust under exactly one model, in (0, 1].
        alpha (float): two-sided test level. (Default: 0.05)
        power (float): required probability of detection. (Default: 0.8)

    Returns:
        float: the smallest true difference (fraction, in (0, discordant_rate]) detected with probability
        ``power``.

    Example::

        >>> round(mcnemar_mdd(155, 1, 0.2), 3)   # Connor's N = 154.6 pairs for delta 0.1 at psi 0.2
        0.1
    """
    pairs, psi = _check_pairs(n, k, discordant_rate)
    _check_level(alpha, power)
    if mcnemar_power(psi, n, k, psi, alpha=alpha) < power:
        raise RobinBenchError(
            f"n={n} x k={k} pairs at discordant rate {psi} cannot detect any difference with power {power} "
            f"(even delta = {psi}, every discordant pair favouring one model, has power "
            f"{mcnemar_power(psi, n, k, psi, alpha=alpha):.2f}); use more samples or seeds"
        )
    return float(optimize.brentq(lambda d: mcnemar_power(d, n, k, psi, alpha=alpha) - power, 0.0, psi, xtol=1e-12))


def _check_seeds(k: int, sd_diff: float) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise RobinBenchError(f"k={k!r}; a paired t over seeds needs an integer k >= 2 seeds")
    if not math.isfinite(sd_diff) or sd_diff <= 0:
        raise RobinBenchError(f"sd_diff={sd_diff!r}; expected a positive across-seed standard deviation")


def _check_pairs(n: int, k: int, discordant_rate: float) -> tuple[int, float]:
    for name, v in (("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise RobinBenchError(f"{name}={v!r}; expected an integer >= 1")
    if not math.isfinite(discordant_rate) or not 0 < discordant_rate <= 1:
        raise RobinBenchError(f"discordant_rate={discordant_rate!r}; expected a share of pairs in (0, 1]")
    return n * k, float(discordant_rate)
