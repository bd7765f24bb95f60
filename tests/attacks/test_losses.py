"""max_other: the largest entry outside the given column, the margin losses built on it."""

from __future__ import annotations

import torch

from robin_bench.attacks.losses import margin, margin_targeted, max_other


def test_max_other_skips_the_given_column_even_when_it_is_the_largest() -> None:
    out = torch.tensor([[5.0, 1.0, 3.0], [0.0, -2.0, -1.0]])
    assert max_other(out, torch.tensor([0, 0])).tolist() == [3.0, -1.0]
    assert max_other(out, torch.tensor([2, 1])).tolist() == [5.0, 0.0]


def test_margins_are_max_other_minus_the_true_column_and_its_negation() -> None:
    out, y = torch.tensor([[5.0, 1.0, 3.0], [0.0, -2.0, -1.0]]), torch.tensor([1, 0])
    assert margin(out, y).tolist() == [4.0, -1.0]
    assert margin_targeted(out, y).tolist() == [-4.0, 1.0]
