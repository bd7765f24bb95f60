"""Models: ROBIN and HAR aggregates and the architecture registry."""

from robin_bench.models.har import HARClassifier
from robin_bench.models.robin import RobinClassifier

__all__ = ["HARClassifier", "RobinClassifier"]
