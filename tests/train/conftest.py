"""Fixtures of the training tests: the digits split and a seeded MLP builder."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb


@pytest.fixture(scope="session")
def digits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test) of scikit-learn's digits."""
    x, y = rb.datasets.load("digits", split="train")
    xt, yt = rb.datasets.load("digits", split="test")
    return x, y, xt, yt


@pytest.fixture
def mlp() -> Callable[..., nn.Module]:
    """A seeded ``mlp`` for 8x8 inputs: ``mlp(n_outputs, seed=0)``."""

    def build(n_outputs: int, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        return rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=n_outputs)

    return build
