"""Adversarial training of flat models, ROBIN arms and HAR components with one trainer loop."""

from robin_bench.train.augment import random_crop_flip
from robin_bench.train.config import TrainConfig
from robin_bench.train.decomposed import train_arm, train_har, train_har_coarse, train_har_fine, train_robin
from robin_bench.train.objectives import OBJECTIVES, TrainingAdversary
from robin_bench.train.schedules import adversarial_share, learning_rate
from robin_bench.train.trainer import TrainReport, fit, train_flat

__all__ = [
    "OBJECTIVES",
    "TrainConfig",
    "TrainReport",
    "TrainingAdversary",
    "adversarial_share",
    "fit",
    "learning_rate",
    "random_crop_flip",
    "train_arm",
    "train_flat",
    "train_har",
    "train_har_coarse",
    "train_har_fine",
    "train_robin",
]
