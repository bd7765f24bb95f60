"""Analyses of the ROBIN paper: gradient coherence, boundary distance, task complexity, two-stage
classifiers, transferability and the attack-strategy sweep; each a function returning a DataFrame,
with a plot and :func:`run` to compute it on a suite's models (``robin-bench analyze NAME SUITE``)."""

from robin_bench.analysis.attack_sweep import attack_sweep
from robin_bench.analysis.boundary import bisect_eps, boundary_distance, min_norm
from robin_bench.analysis.coherence import arm_gradients, coherence, gradient_coherence, summarize_coherence
from robin_bench.analysis.complexity import class_orderings, complexity_labels, summarize_complexity, task_complexity
from robin_bench.analysis.convergence import summarize_convergence, training_curves
from robin_bench.analysis.io import write_analysis
from robin_bench.analysis.run import ANALYSES, run
from robin_bench.analysis.transfer import transferability
from robin_bench.analysis.two_stage import StageAttack, TwoStageClassifier, two_stage_robustness
from robin_bench.analysis.views import one_vs_rest_robust, pgd_worst_case

__all__ = [
    "ANALYSES",
    "StageAttack",
    "TwoStageClassifier",
    "arm_gradients",
    "attack_sweep",
    "bisect_eps",
    "boundary_distance",
    "class_orderings",
    "coherence",
    "complexity_labels",
    "gradient_coherence",
    "min_norm",
    "one_vs_rest_robust",
    "pgd_worst_case",
    "run",
    "summarize_coherence",
    "summarize_complexity",
    "summarize_convergence",
    "task_complexity",
    "training_curves",
    "transferability",
    "two_stage_robustness",
    "write_analysis",
]
