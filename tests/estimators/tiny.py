"""Tiny seeded ROBIN, HAR and flat models on 8x8 inputs with 4 classes, shared by the estimator tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import robin_bench as rb
from robin_bench.models import HARClassifier, RobinClassifier

SHAPE = (1, 8, 8)
K = 4
EPS = 0.3
KINDS = ["robin", "har", "flat"]
GROUPS = [[0, 1], [2, 3]]


def linear(k: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), k))


def build(kind: str) -> nn.Module:
    """A seeded linear ROBIN (4 arms), HAR (2 coarse x 2 fine) or flat model."""
    torch.manual_seed(0)
    if kind == "robin":
        return RobinClassifier([linear(1) for _ in range(K)])
    if kind == "har":
        return HARClassifier(linear(2), [linear(2), linear(2)], rb.Hierarchy.from_groups(GROUPS))
    return linear(K)


def inputs(model: nn.Module, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Seeded float32 inputs labelled with the model's own predictions, so clean accuracy is 1."""
    x = torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    return x.numpy(), y.numpy()


def seed_all(seed: int = 0) -> None:
    """Seed torch's and numpy's global generators (ART draws random starts and shuffles from numpy's)."""
    torch.manual_seed(seed)
    np.random.seed(seed)


def learnable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random inputs with a learnable signal per class (the one-hot label in the first pixels)."""
    x = torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(seed))
    y = torch.arange(n) % K
    x[:, 0, 0, :K] = torch.nn.functional.one_hot(y, K).float()
    return x, y
