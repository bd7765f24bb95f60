"""Models: ROBIN and HAR aggregates and the architecture registry."""

from robin_bench.models.checkpoint import load_checkpoint, save_checkpoint
from robin_bench.models.factory import build_model, model_spec
from robin_bench.models.har import HARClassifier
from robin_bench.models.robin import RobinClassifier
from robin_bench.models.vectorized import VectorizedRobin, choose_arm_execution

__all__ = [
    "HARClassifier",
    "RobinClassifier",
    "build_model",
    "load_checkpoint",
    "model_spec",
    "save_checkpoint",
    "VectorizedRobin",
    "choose_arm_execution",
]
