"""Batched random crop (zero pad) and horizontal flip."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robin_bench.train import random_crop_flip


def test_each_output_is_a_crop_of_the_padded_or_flipped_input() -> None:
    x = torch.rand(16, 3, 10, 12)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape
    for i in range(16):
        candidates = [
            F.pad(img, (2, 2, 2, 2))[:, dy : dy + 10, dx : dx + 12]
            for img in (x[i], x[i].flip(-1))
            for dy in range(5)
            for dx in range(5)
        ]
        assert any(torch.equal(out[i], c) for c in candidates)


def test_varies_per_sample_and_is_seeded() -> None:
    x = torch.rand(1, 1, 8, 8).repeat(32, 1, 1, 1)
    a = random_crop_flip(x, torch.Generator().manual_seed(1))
    b = random_crop_flip(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert len({tuple(v.flatten().tolist()) for v in a}) > 10


def test_pad_zero_is_identity_or_flip() -> None:
    x = torch.rand(20, 1, 6, 6)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), pad=0)
    flipped = [torch.equal(o, xi.flip(-1)) and not torch.equal(o, xi) for o, xi in zip(out, x, strict=True)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < 20
