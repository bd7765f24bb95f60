"""Adversarial training of flat models, ROBIN arms and HAR components with one trainer loop.

Every public name is imported on first use (PEP 562), as in :mod:`robin_bench`: the suite schema reads
:class:`~robin_bench.train.config.TrainConfig` (``models[i].train``) without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robin_bench.train.augment import random_crop_flip
    from robin_bench.train.config import TrainConfig
    from robin_bench.train.decomposed import train_arm, train_har, train_har_coarse, train_har_fine, train_robin
    from robin_bench.train.objectives import OBJECTIVES, TrainingAdversary
    from robin_bench.train.progress import ProgressLog
    from robin_bench.train.schedules import adversarial_share, learning_rate
    from robin_bench.train.trainer import TrainReport, fit, split_validation, train_flat
    from robin_bench.train.validation import holdout, validation_accuracy

# public name -> the module of robin_bench.train that defines it
_LAZY: dict[str, str] = {
    "OBJECTIVES": "objectives",
    "ProgressLog": "progress",
    "TrainConfig": "config",
    "TrainReport": "trainer",
    "TrainingAdversary": "objectives",
    "adversarial_share": "schedules",
    "fit": "trainer",
    "holdout": "validation",
    "learning_rate": "schedules",
    "random_crop_flip": "augment",
    "split_validation": "trainer",
    "train_arm": "decomposed",
    "train_flat": "trainer",
    "train_har": "decomposed",
    "train_har_coarse": "decomposed",
    "train_har_fine": "decomposed",
    "train_robin": "decomposed",
    "validation_accuracy": "validation",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'robin_bench.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "OBJECTIVES",
    "ProgressLog",
    "TrainConfig",
    "TrainReport",
    "TrainingAdversary",
    "adversarial_share",
    "fit",
    "holdout",
    "learning_rate",
    "random_crop_flip",
    "split_validation",
    "train_arm",
    "train_flat",
    "train_har",
    "train_har_coarse",
    "train_har_fine",
    "train_robin",
    "validation_accuracy",
]
