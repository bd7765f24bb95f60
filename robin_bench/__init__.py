"""robin-bench: adversarial robustness of decomposed classifiers (ROBIN, HAR) against flat baselines.

``estimators`` (ART) and ``analysis`` are imported on first use: ART alone takes seconds to import,
which every CLI call would otherwise pay.
"""

import importlib
from types import ModuleType

from robin_bench import attacks, train
from robin_bench import data as datasets
from robin_bench.attacks.evaluate import EvalResult, evaluate
from robin_bench.attacks.sanity import SanityReport, sanity_check
from robin_bench.attacks.standard import standard_attacks
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models import (
    HARClassifier,
    RobinClassifier,
    archs,
    build_model,
    load_checkpoint,
    model_spec,
    save_checkpoint,
)

__version__ = "0.1.0"

_LAZY_MODULES = {"analysis": "robin_bench.analysis", "estimators": "robin_bench.estimators"}


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_MODULES:
        module = importlib.import_module(_LAZY_MODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'robin_bench' has no attribute {name!r}")


__all__ = [
    "EvalResult",
    "HARClassifier",
    "Hierarchy",
    "RobinBenchError",
    "RobinClassifier",
    "SanityReport",
    "__version__",
    "analysis",
    "archs",
    "attacks",
    "build_model",
    "datasets",
    "estimators",
    "evaluate",
    "load_checkpoint",
    "model_spec",
    "sanity_check",
    "save_checkpoint",
    "standard_attacks",
    "train",
]
