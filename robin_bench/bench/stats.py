"""Statistics of robust accuracy: Wilson confidence intervals and McNemar's exact paired test."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest

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
    a_arr = np.asarray(a)
    b_arr = np.asarray(b)
    if a_arr.dtype != np.bool_ or b_arr.dtype != np.bool_:
        raise RobinBenchError(f"mcnemar_exact needs boolean flags, got dtypes {a_arr.dtype} and {b_arr.dtype}")
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise RobinBenchError(
            "mcnemar_exact needs two (N,) flag arrays over the same samples, "
            f"got shapes {a_arr.shape} and {b_arr.shape}"
        )
    n10 = int(np.count_nonzero(a_arr & ~b_arr))
    n01 = int(np.count_nonzero(~a_arr & b_arr))
    if n10 + n01 == 0:
        return 1.0
    return float(binomtest(min(n10, n01), n10 + n01, 0.5, alternative="two-sided").pvalue)
