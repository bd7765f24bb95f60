"""RobinClassifier: the output stacks arm logits, prediction is their argmax, shapes are checked."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robin_bench import RobinBenchError, RobinClassifier


def _arms(k: int) -> list[nn.Module]:
    return [nn.Sequential(nn.Flatten(), nn.Linear(12, 1)) for _ in range(k)]


def test_output_and_prediction_equal_arms_one_by_one() -> None:
    arms = _arms(4)
    model = RobinClassifier(arms)
    x = torch.rand(16, 3, 2, 2)
    by_hand = torch.cat([arm(x) for arm in arms], dim=1)
    out = model(x)
    assert out.shape == (16, 4) and model.n_classes == 4
    torch.testing.assert_close(out, by_hand)
    assert torch.equal(out.argmax(1), by_hand.argmax(1))
    assert len(set(out.argmax(1).tolist())) > 1  # the check is not vacuous
    torch.testing.assert_close(model.arm_logits(x, 2), by_hand[:, 2])


def test_gradients_reach_every_arm() -> None:
    arms = _arms(3)
    model = RobinClassifier(arms)
    x = torch.rand(5, 3, 2, 2)
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0, 1])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("bad", [nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), nn.Flatten(0)])
def test_arm_with_wrong_shape_is_named(bad: nn.Module) -> None:
    model = RobinClassifier([*_arms(2), bad])
    with pytest.raises(RobinBenchError, match="ROBIN arm 2 returned shape"):
        model(torch.rand(4, 3, 2, 2))


@pytest.mark.parametrize("k", [0, 1])
def test_needs_two_arms(k: int) -> None:
    with pytest.raises(RobinBenchError, match=f"at least 2 arms, got {k}"):
        RobinClassifier(_arms(k))
