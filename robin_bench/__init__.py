"""robin-bench: adversarial robustness of decomposed classifiers (ROBIN, HAR) against flat baselines."""

from robin_bench import data as datasets
from robin_bench import estimators
from robin_bench.attacks.evaluate import EvalResult, evaluate
from robin_bench.attacks.sanity import SanityReport, sanity_check
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench import train
from robin_bench.models import HARClassifier, RobinClassifier, archs
from robin_bench.models import build_model, load_checkpoint, model_spec, save_checkpoint

__version__ = "0.1.0"

__all__ = [
    "EvalResult",
    "evaluate",
    "HARClassifier",
    "Hierarchy",
    "RobinBenchError",
    "RobinClassifier",
    "__version__",
    "archs",
    "datasets",
    "estimators",
    "sanity_check",
    "SanityReport",
    "build_model",
    "load_checkpoint",
    "model_spec",
    "save_checkpoint",
    "train",
]
