"""ART integration: ``to_art`` estimators for ROBIN, HAR and flat models, and robin-bench attacks as ART attacks.

torchattacks needs no adapter: robin-bench models are plain modules and its attacks are torchattacks ``Attack``s.
"""

from robin_bench.estimators.art import ART_TRAIN_CONFIG, RobinBenchClassifier, to_art
from robin_bench.estimators.evasion import ArtEvasion

__all__ = ["ART_TRAIN_CONFIG", "ArtEvasion", "RobinBenchClassifier", "to_art"]
