"""Tiny seeded ReLU models for the verification tests: flat, ROBIN and HAR on (1, 1, 2) or (1, 4, 4) inputs."""

from __future__ import annotations

import torch
from torch import nn

import robin_bench as rb

GROUPS = [[0, 1], [2, 3]]


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int, seed: int, scale: float = 1.0) -> nn.Sequential:
    """``Flatten, (Linear, ReLU)*, Linear`` with seeded Gaussian weights times ``scale``."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    sizes = [n_in, *hidden, n_out]
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g) * scale / a**0.5)
            lin.bias.copy_(torch.randn(b, generator=g) * 0.1)
        layers.append(lin)
        if k < len(hidden):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def flat(n_in: int, hidden: tuple[int, ...], k: int, seed: int) -> nn.Module:
    """A flat classifier of ``k`` classes."""
    return mlp(n_in, hidden, k, seed, scale=2.0)


def robin(n_in: int, hidden: tuple[int, ...], k: int, seed: int) -> nn.Module:
    """A ROBIN of ``k`` arms."""
    return rb.RobinClassifier([mlp(n_in, hidden, 1, seed * 100 + i, scale=2.0) for i in range(k)])


def har(n_in: int, hidden: tuple[int, ...], seed: int) -> nn.Module:
    """A HAR over :data:`GROUPS` (4 fine classes in 2 groups)."""
    h = rb.Hierarchy.from_groups(GROUPS)
    fine = [mlp(n_in, hidden, len(g), seed * 100 + 1 + z, scale=2.0) for z, g in enumerate(GROUPS)]
    return rb.HARClassifier(mlp(n_in, hidden, len(GROUPS), seed * 100, scale=2.0), fine, h)


def hierarchy() -> rb.Hierarchy:
    """The hierarchy of :data:`GROUPS`."""
    return rb.Hierarchy.from_groups(GROUPS)


def inputs(n: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """``n`` seeded uniform inputs of ``shape`` in [0, 1]."""
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def labels(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's own predictions (every sample clean-correct)."""
    with torch.no_grad():
        return model(x).argmax(1)
