"""Adversarial training of flat models, ROBIN arms and HAR components with one trainer loop."""

from robin_bench.train.augment import random_crop_flip
from robin_bench.train.config import TrainConfig
from robin_bench.train.decomposed import train_arm, train_har, train_har_coarse, train_har_fine, train_robin
from robin_bench.train.objectives import OBJECTIVES, TrainingAdversary
from robin_bench.train.progress import ProgressLog
from robin_bench.train.schedules import adversarial_share, learning_rate
from robin_bench.train.trainer import TrainReport, fit, split_validation, train_flat
from robin_bench.train.validation import holdout, validation_accuracy

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
