"""Fixtures shared by the attack tests."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn

N_TEST = 200


@pytest.fixture(scope="module")
def digits_mlp() -> tuple[nn.Module, Tensor, Tensor]:
    """A 64-64-10 MLP trained full-batch on 1500 sklearn digits (8x8 in [0, 1]) and 200 held-out samples."""
    digits = load_digits()
    x = torch.tensor(digits.images / 16, dtype=torch.float32)[:, None]
    y = torch.tensor(digits.target)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=g)
    train, test = perm[:1500], perm[1500 : 1500 + N_TEST]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[train]), y[train]).backward()
        opt.step()
    model.eval()
    return model, x[test], y[test]
