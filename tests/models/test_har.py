"""HARClassifier: log P(y|x) = log P(z|x) + log P(y|x,z) on non-contiguous groups, checks, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robin_bench import HARClassifier, Hierarchy, RobinBenchError

GROUPS = {"a": [0, 3, 4], "b": [1, 2]}


def _net(n_out: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(8, n_out))


def _har() -> HARClassifier:
    h = Hierarchy.from_groups(GROUPS)
    return HARClassifier(_net(2), [_net(3), _net(2)], h).double()


def test_output_equals_product_of_softmaxes_by_hand() -> None:
    model = _har()
    x = torch.rand(7, 2, 2, 2, dtype=torch.float64)
    p_z = torch.softmax(model.coarse(x), dim=1)
    p_a = torch.softmax(model.fine[0](x), dim=1)  # over fine classes 0, 3, 4 in that order
    p_b = torch.softmax(model.fine[1](x), dim=1)  # over fine classes 1, 2
    p = torch.empty(7, 5, dtype=torch.float64)
    for i, c in enumerate(GROUPS["a"]):
        p[:, c] = p_z[:, 0] * p_a[:, i]
    for i, c in enumerate(GROUPS["b"]):
        p[:, c] = p_z[:, 1] * p_b[:, i]
    out = model(x)
    assert out.shape == (7, 5) and model.n_classes == 5
    torch.testing.assert_close(out, p.log())


def test_log_probs_normalized_and_coarse_consistent() -> None:
    model = _har()
    x = torch.rand(9, 2, 2, 2, dtype=torch.float64)
    out = model(x)
    torch.testing.assert_close(torch.logsumexp(out, dim=1), torch.zeros(9, dtype=torch.float64))
    coarse = model.coarse_log_probs(x)
    assert coarse.shape == (9, 2)
    torch.testing.assert_close(coarse, torch.log_softmax(model.coarse(x), dim=1))
    torch.testing.assert_close(model.hierarchy.coarse_log_probs_from_fine(out), coarse)


def test_wrong_number_of_fine_networks() -> None:
    h = Hierarchy.from_groups(GROUPS)
    with pytest.raises(RobinBenchError, match="1 fine networks for 2 coarse classes"):
        HARClassifier(_net(2), [_net(3)], h)


def test_hierarchy_must_be_a_hierarchy() -> None:
    with pytest.raises(RobinBenchError, match="HAR hierarchy is a dict; pass a Hierarchy"):
        HARClassifier(_net(2), [_net(3), _net(2)], GROUPS)  # type: ignore[arg-type]


def test_wrong_output_widths_are_named() -> None:
    h = Hierarchy.from_groups(GROUPS)
    x = torch.rand(3, 2, 2, 2)
    with pytest.raises(RobinBenchError, match=r"fine network 1 returned shape \(3, 3\); expected \(N, 2\)"):
        HARClassifier(_net(2), [_net(3), _net(3)], h)(x)
    with pytest.raises(RobinBenchError, match=r"coarse network returned shape \(3, 4\); expected \(N, 2\)"):
        HARClassifier(_net(4), [_net(3), _net(2)], h)(x)


def test_gradients_flow_to_every_component() -> None:
    model = _har()
    x = torch.rand(6, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    nn.functional.nll_loss(model(x), torch.tensor([0, 1, 2, 3, 4, 0])).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for part in [model.coarse, *model.fine]:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
