"""Tiny linear models with closed-form answers for the analysis tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Linear(nn.Module):
    """``f(x) = W flatten(x) + b``: (N, C, H, W) -> (N, K) scores."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def random_linear(k: int, d: int = 16, *, seed: int = 0, scale: float = 1.0) -> Linear:
    g = torch.Generator().manual_seed(seed)
    return Linear(torch.randn(k, d, generator=g) * scale, torch.randn(k, generator=g) * 0.1 * scale)


def images(n: int, *, seed: int = 0, low: float = 0.0, high: float = 1.0) -> Tensor:
    """``n`` inputs of shape (1, 4, 4), uniform in [low, high]."""
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, 1, 4, 4, generator=g)
