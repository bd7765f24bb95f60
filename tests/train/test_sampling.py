"""Uniform and class-balanced batch samplers."""

from __future__ import annotations

import pytest
import torch

from robin_bench.errors import RobinBenchError
from robin_bench.train.sampling import balanced_batches, uniform_batches


def test_uniform_batches_are_full_and_distinct() -> None:
    batches = uniform_batches(100, 32, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [32, 32, 32]
    assert torch.cat(batches).unique().numel() == 96


def test_balanced_batches_hold_equal_positives_and_negatives() -> None:
    positive = torch.zeros(500, dtype=torch.bool)
    positive[:40] = True
    batches = balanced_batches(positive, 64, torch.Generator().manual_seed(0))
    assert len(batches) == 500 // 64
    for b in batches:
        assert len(b) == 64 and int(positive[b].sum()) == 32
    assert torch.cat(batches)[positive[torch.cat(batches)]].unique().numel() == 40


def test_balanced_needs_both_classes() -> None:
    with pytest.raises(RobinBenchError, match="0 positives"):
        balanced_batches(torch.zeros(10, dtype=torch.bool), 4, torch.Generator())
