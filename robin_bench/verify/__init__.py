"""Verification: per-sample proofs of robustness, or counterexamples, for flat, ROBIN and HAR ReLU models.

Bound propagation (:mod:`~robin_bench.verify.bounds`) proves the easy margins; a big-M MILP
(:mod:`~robin_bench.verify.milp`, HiGHS) decides the rest; each model kind supplies its chains and margins
(:mod:`~robin_bench.verify.encodings`). :func:`verify` is the entry point and :func:`cross_check` holds a
verification against an attacked evaluation of the same samples.
"""

from robin_bench.verify.api import VerifyResult, verify

__all__ = ["VerifyResult", "verify"]
