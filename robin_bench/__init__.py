"""robin-bench: adversarial robustness of decomposed classifiers (ROBIN, HAR) against flat baselines.

Every public name is imported on first use (PEP 562): ``import robin_bench`` loads no torch, so the
``robin-bench`` command parses its arguments (``--help`` included) without paying torch's, ART's
or torchattacks' seconds of import. ``rb.evaluate``, ``rb.attacks.PGD`` and ``from robin_bench import
evaluate`` work as if everything had been imported eagerly.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is set
(:func:`robin_bench.threads.prepare_environment`): torch loaded afterwards has OpenMP threads that sleep
rather than spin while they wait, which keeps a script fast on a machine shared with other busy processes.
``rb.use_threads(n)`` chooses the threads of a block of code.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from robin_bench import threads as _threads

__version__ = "0.1.0"

_threads.prepare_environment()

if TYPE_CHECKING:
    from robin_bench import analysis, attacks, estimators, train
    from robin_bench import data as datasets
    from robin_bench.attacks.evaluate import EvalResult, evaluate
    from robin_bench.attacks.registry import register_attack
    from robin_bench.attacks.sanity import SanityReport, sanity_check
    from robin_bench.attacks.standard import standard_attacks
    from robin_bench.bench.attack_factory import register_attack_set
    from robin_bench.data.registry import register_dataset
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
    from robin_bench.models.archs import register_arch
    from robin_bench.models.kinds import ModelKind, register_kind
    from robin_bench.models.weights import load_weights
    from robin_bench.threads import use_threads
    from robin_bench.verification import VerifyResult, cross_check, verify

# public name -> (module, attribute of that module, or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "analysis": ("robin_bench.analysis", None),
    "attacks": ("robin_bench.attacks", None),
    "datasets": ("robin_bench.data", None),
    "estimators": ("robin_bench.estimators", None),
    "train": ("robin_bench.train", None),
    "EvalResult": ("robin_bench.attacks.evaluate", "EvalResult"),
    "evaluate": ("robin_bench.attacks.evaluate", "evaluate"),
    "SanityReport": ("robin_bench.attacks.sanity", "SanityReport"),
    "sanity_check": ("robin_bench.attacks.sanity", "sanity_check"),
    "standard_attacks": ("robin_bench.attacks.standard", "standard_attacks"),
    "RobinBenchError": ("robin_bench.errors", "RobinBenchError"),
    "Hierarchy": ("robin_bench.hierarchy", "Hierarchy"),
    "HARClassifier": ("robin_bench.models", "HARClassifier"),
    "RobinClassifier": ("robin_bench.models", "RobinClassifier"),
    "archs": ("robin_bench.models", "archs"),
    "build_model": ("robin_bench.models", "build_model"),
    "load_checkpoint": ("robin_bench.models", "load_checkpoint"),
    "model_spec": ("robin_bench.models", "model_spec"),
    "save_checkpoint": ("robin_bench.models", "save_checkpoint"),
    "ModelKind": ("robin_bench.models.kinds", "ModelKind"),
    "register_arch": ("robin_bench.models.archs", "register_arch"),
    "register_attack": ("robin_bench.attacks.registry", "register_attack"),
    "register_attack_set": ("robin_bench.bench.attack_factory", "register_attack_set"),
    "register_dataset": ("robin_bench.data.registry", "register_dataset"),
    "register_kind": ("robin_bench.models.kinds", "register_kind"),
    "load_weights": ("robin_bench.models.weights", "load_weights"),
    "use_threads": ("robin_bench.threads", "use_threads"),
    "VerifyResult": ("robin_bench.verification", "VerifyResult"),
    "cross_check": ("robin_bench.verification", "cross_check"),
    "verify": ("robin_bench.verification", "verify"),
}


def __getattr__(name: str) -> Any:
    """A public name, or a subpackage (``rb.models``, ``rb.bench``: attributes once the package imported them
    eagerly), imported on first use."""
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        module_name, attribute = f"{__name__}.{name}", None
    else:
        raise AttributeError(f"module 'robin_bench' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "EvalResult",
    "HARClassifier",
    "Hierarchy",
    "ModelKind",
    "RobinBenchError",
    "RobinClassifier",
    "SanityReport",
    "VerifyResult",
    "__version__",
    "analysis",
    "archs",
    "attacks",
    "build_model",
    "cross_check",
    "datasets",
    "estimators",
    "evaluate",
    "load_checkpoint",
    "load_weights",
    "model_spec",
    "register_arch",
    "register_attack",
    "register_attack_set",
    "register_dataset",
    "register_kind",
    "sanity_check",
    "save_checkpoint",
    "standard_attacks",
    "train",
    "use_threads",
    "verify",
]
