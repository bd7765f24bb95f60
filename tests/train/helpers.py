"""Label-recording models and label-encoding data for the training tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Recorder(nn.Module):
    """A linear model that records the label pixel (x[:, 0, 0, 0] * 10) of every training-mode input."""

    def __init__(self, n_outputs: int) -> None:
        super().__init__()
        self.lin = nn.Linear(64, n_outputs)
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.seen.append((x[:, 0, 0, 0] * 10).round().long())
        return self.lin(x.flatten(1))


def labelled_pixels(n: int, n_classes: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(N, 1, 8, 8) noise images with pixel (0, 0) = ``y / 10`` and a one-hot row 1 (``n_classes <= 8``); labels ``y``.

    Classes are drawn with weights rising linearly from 1 to 3 (class 0 rarest), and are linearly separable.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.multinomial(torch.linspace(1, 3, n_classes), n, replacement=True, generator=g)
    x = torch.rand(n, 1, 8, 8, generator=g)
    x[:, 0, 0, 0] = y.float() / 10
    x[:, 0, 1] = torch.nn.functional.one_hot(y, 8).float()
    return x, y
