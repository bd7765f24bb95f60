"""evaluate() streams: the model and the attacks only ever see batches of at most batch_size samples."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import PGD


class BatchRecorder(nn.Module):
    """Wraps a model and records the batch size of every forward pass."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.sizes: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.sizes.append(x.shape[0])
        return self.inner(x)


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_model_never_sees_more_than_batch_size(batch_size: int) -> None:
    model = BatchRecorder(nn.Sequential(nn.Flatten(), nn.Linear(16, 3))).eval()
    x = torch.rand(50, 1, 4, 4)
    with torch.no_grad():
        y = model.inner(x).argmax(1)
    res = rb.evaluate(model, x, y, [PGD(model, eps=0.05, steps=2)], batch_size=batch_size)
    assert res.n == 50 and bool(res.ran["PGD"].all())
    assert max(model.sizes) == min(batch_size, 50)
    assert 50 % batch_size == 0 or 50 % batch_size in model.sizes  # the last, partial batch
