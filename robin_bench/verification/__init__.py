"""Verification: per-sample proofs of robustness, or counterexamples, for flat, ROBIN and HAR ReLU models.

Bound propagation (:mod:`~robin_bench.verification.bounds`) proves the easy margins; a big-M MILP
(:mod:`~robin_bench.verification.milp`, HiGHS) decides the rest; each model kind supplies its chains and margins
(:mod:`~robin_bench.verification.encodings`). :func:`verify` is the entry point and :func:`cross_check` holds a
verification against an attacked evaluation of the same samples.
"""

from robin_bench.verification.api import VerifyResult, verify
from robin_bench.verification.crosscheck import cross_check

__all__ = ["VerifyResult", "cross_check", "verify"]
