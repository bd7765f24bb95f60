"""Statistics of robust accuracy: Wilson and Newcombe intervals, t intervals over seeds, exact McNemar tests."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from robin_bench.errors import RobinBenchError


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    r"""Wilson score interval for a binomial proportion ``k / n``.

    Wilson (1927), "Probable inference, the law of succession, and statistical inference";
    Newcombe (1998) shows it keeps its coverage near 0 and 1, where robust accuracies live and
    the normal (Wald) interval collapses to a point.

    Arguments:
        k (int): successes (robust samples), ``0 <= k <= n``.
        n (int): trials (evaluated samples), ``n >= 1``.
        z (float): normal quantile of the two-sided level. Default: 1.96 (95%).

    Returns:
        (low, high): bounds in [0, 1] with ``low <= k / n <= high``.

    Example::

        >>> wilson(0, 10)
        (0.0, 0.2775...)
    """
    if n < 1:
        raise RobinBenchError(f"wilson interval needs n >= 1 samples, got n={n}")
    if not 0 <= k <= n:
        raise RobinBenchError(f"wilson interval needs 0 <= k <= n, got k={k}, n={n}")
    if z <= 0:
        raise RobinBenchError(f"wilson interval needs a positive quantile z, got z={z}")
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return low, high


def mcnemar_exact(a: ArrayLike, b: ArrayLike) -> float:
    r"""Two-sided exact McNemar test that two paired per-sample outcomes have the same rate.

    McNemar (1947); the exact form is the two-sided binomial test of the discordant pairs:
    with ``n01`` samples where only ``b`` holds and ``n10`` where only ``a`` holds, the p-value is
    that of ``min(n01, n10)`` under Binomial(``n01 + n10``, 1/2). Used to ask whether a ROBIN/HAR
    model is robust on different samples than its flat baseline, beyond sampling noise.

    Arguments:
        a (array of bool, shape (N,)): per-sample outcome of the first model (e.g. robust).
        b (array of bool, shape (N,)): the second model's outcome on the same N samples.

    Returns:
        p-value in [0, 1]; 1.0 when there is no discordant pair.

    Example::

        >>> mcnemar_exact([True] * 5, [False] * 5)
        0.0625
    """
    return mcnemar_pooled([(a, b)])


def t_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    r"""Student-t confidence interval for the mean of independent replicates (e.g. per-seed accuracies).

    ``mean +- t_{k-1, (1+level)/2} * sd / sqrt(k)`` with the sample standard deviation (``ddof=1``)
    over the ``k`` values. Used across training seeds, where each seed is one draw of the training
    randomness: the interval is about the recipe, not about one trained model.

    Arguments:
        values (array of float, shape (k,)): the replicates, ``k >= 2``, all finite.
        level (float): two-sided confidence level in (0, 1). Default: 0.95.

    Returns:
        (low, high), not clipped: a caller clips to its own range when it needs to.

    Example::

        >>> t_interval([0.5, 0.6, 0.4])  # mean 0.5, sd 0.1, t_{2,0.975} = 4.3027
        (0.2515..., 0.7484...)
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape[0] < 2:
        raise RobinBenchError(f"a t interval needs at least 2 replicates, got {v.shape[0]}; use wilson() for one")
    if not np.all(np.isfinite(v)):
        raise RobinBenchError(f"a t interval needs finite values, got {v.tolist()}")
    if not 0.0 < level < 1.0:
        raise RobinBenchError(f"confidence level {level} is not in (0, 1); e.g. 0.95")
    mean = float(v.mean())
    from scipy.stats import t as student_t

    half = float(student_t.ppf((1 + level) / 2, v.shape[0] - 1)) * float(v.std(ddof=1)) / math.sqrt(v.shape[0])
    return mean - half, mean + half


def discordant(a: ArrayLike, b: ArrayLike) -> tuple[int, int]:
    """``(n10, n01)``: samples where only ``a`` holds and where only ``b`` holds (validated like mcnemar_exact)."""
    a_arr = np.asarray(a)
    b_arr = np.asarray(b)
    if a_arr.dtype != np.bool_ or b_arr.dtype != np.bool_:
        raise RobinBenchError(f"paired tests need boolean flags, got dtypes {a_arr.dtype} and {b_arr.dtype}")
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise RobinBenchError(
            f"paired tests need two (N,) flag arrays over the same samples, got shapes {a_arr.shape} and {b_arr.shape}"
        )
    return int(np.count_nonzero(a_arr & ~b_arr)), int(np.count_nonzero(~a_arr & b_arr))


def mcnemar_pooled(strata: Sequence[tuple[ArrayLike, ArrayLike]]) -> float:
    r"""Exact McNemar test pooled over strata (e.g. training seeds) of paired per-sample outcomes.

    Each stratum is one pair of models (say ROBIN and flat trained with the same seed) evaluated on
    the same samples. Under the null hypothesis that, in every stratum, a discordant sample is as
    likely to favour either model, the discordant counts are ``n10_s ~ Binomial(n10_s + n01_s, 1/2)``
    independently per stratum given their totals, so ``sum_s n10_s ~ Binomial(sum_s (n10_s + n01_s),
    1/2)``: the pooled test is the two-sided exact binomial test of the summed discordant counts. It
    is the exact conditional (Mantel-Haenszel type) test of a common paired odds ratio of 1, not an
    approximation, and with one stratum it is :func:`mcnemar_exact`.

    Why this test rather than a t-test on per-seed differences: it uses every sample's flag (power
    from ``sum_s n_s`` paired samples rather than from ``k`` seeds) and stays exact at the small
    discordant counts robust-accuracy comparisons produce. What it does not do is treat the seed as
    random: it asks whether *these* trained models differ on *these* samples. Whether the recipes
    differ across training randomness is what the across-seed interval of the mean difference
    (:func:`t_interval` on per-seed differences) answers; report both.

    Arguments:
        strata (sequence of (a, b)): per stratum, two (N_s,) boolean arrays over the same N_s samples.

    Returns:
        p-value in [0, 1]; 1.0 when no stratum has a discordant pair.

    Example::

        >>> mcnemar_pooled([([True] * 3, [False] * 3), ([True] * 2, [False] * 2)])  # 5 vs 0 discordant
        0.0625
    """
    if not strata:
        raise RobinBenchError("mcnemar_pooled needs at least one stratum of paired flags")
    n10 = n01 = 0
    for a, b in strata:
        x, y = discordant(a, b)
        n10, n01 = n10 + x, n01 + y
    if n10 + n01 == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(min(n10, n01), n10 + n01, 0.5, alternative="two-sided").pvalue)


def newcombe_paired(a: ArrayLike, b: ArrayLike, z: float = 1.96) -> tuple[float, float]:
    r"""Interval for the difference of two paired proportions, ``mean(a) - mean(b)``.

    Newcombe (1998), "Improved confidence intervals for the difference between binomial proportions
    based on paired data", Statistics in Medicine 17:2635-2650, method 10: the Wilson intervals
    ``(l1, u1)`` of ``mean(a)`` and ``(l2, u2)`` of ``mean(b)`` combined with the correlation ``phi``
    of the 2x2 table (``phi = (AD - BC) / sqrt(EFGH)``, 0 when a margin is empty)::

        L = d - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)
        U = d + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2)

    It keeps its coverage near 0 and 1 where the Wald interval of paired differences collapses.
    Used when a comparison has a single seed, so no across-seed interval exists.

    Arguments:
        a, b (array of bool, shape (N,)): per-sample outcomes of two models on the same N samples.
        z (float): normal quantile of the two-sided level. Default: 1.96 (95%).

    Returns:
        (low, high) within [-1, 1], containing ``mean(a) - mean(b)``.

    Example::

        >>> newcombe_paired([True] * 8 + [False] * 2, [True] * 5 + [False] * 5)
        (0.0105..., 0.5284...)
    """
    n10, n01 = discordant(a, b)
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    n = a_arr.shape[0]
    if n < 1:
        raise RobinBenchError("newcombe_paired needs at least one paired sample")
    both = int(np.count_nonzero(a_arr & b_arr))
    neither = n - both - n10 - n01
    k1, k2 = both + n10, both + n01
    p1, p2 = k1 / n, k2 / n
    l1, u1 = wilson(k1, n, z)
    l2, u2 = wilson(k2, n, z)
    margins = (both + n10) * (n01 + neither) * (both + n01) * (n10 + neither)
    phi = 0.0 if margins == 0 else (both * neither - n10 * n01) / math.sqrt(margins)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, low), min(1.0, high)


def newcombe_unpaired(k1: int, n1: int, k2: int, n2: int, z: float = 1.96) -> tuple[float, float]:
    r"""Interval for ``k1/n1 - k2/n2`` from independent samples.

    Newcombe (1998), "Interval estimation for the difference between independent proportions",
    Statistics in Medicine 17:873-890, method 10 (hybrid score): ``d - sqrt((p1-l1)^2 + (u2-p2)^2)``
    to ``d + sqrt((u1-p1)^2 + (p2-l2)^2)`` with the Wilson intervals of each proportion.

    Arguments:
        k1, n1 (int): successes and trials of the first proportion.
        k2, n2 (int): the same for the second.
        z (float): normal quantile. Default: 1.96 (95%).

    Returns:
        (low, high) within [-1, 1].

    Example::

        >>> newcombe_unpaired(56, 70, 48, 80)  # Newcombe's example (f): 0.0524 to 0.3339
        (0.0524..., 0.3338...)
    """
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    return max(-1.0, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)), min(
        1.0, d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    )
