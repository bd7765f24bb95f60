"""Training objectives, the training adversary and ADV-T target samplers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robin_bench.attacks.losses import ce
from robin_bench.hierarchy import Hierarchy
from robin_bench.train import OBJECTIVES, TrainingAdversary
from robin_bench.train.objectives import (
    coarse_targets_outside_group,
    fine_targets_outside_group,
    kl_from_clean,
    targets_other_class,
)

H = Hierarchy.from_groups([[0, 1, 2], [3, 4], [5]])


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_adversary_stays_in_ball_and_raises_the_loss(norm: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.rand(32, 1, 4, 4), torch.randint(0, 3, (32,))
    eps = 0.1 if norm == "Linf" else 0.5
    adv = TrainingAdversary(net, norm=norm, eps=eps, steps=10, alpha=2.5 * eps / 10)  # type: ignore[arg-type]
    xa = adv.perturb(x, y, ce, torch.Generator().manual_seed(0))
    assert adv.grad_evals == 320
    delta = (xa - x).flatten(1)
    size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    assert bool((size <= eps + 1e-6).all()) and xa.min() >= 0 and xa.max() <= 1
    with torch.no_grad():
        assert float(ce(net(xa), y).mean()) > float(ce(net(x), y).mean())


def test_fine_targets_come_from_other_coarse_classes_uniformly() -> None:
    y = torch.tensor([0] * 3000 + [5] * 3000)
    t = fine_targets_outside_group(H)(y, torch.Generator().manual_seed(0))
    assert bool((H.coarse_of(t) != H.coarse_of(y)).all())
    assert set(t[:3000].tolist()) == {3, 4, 5}
    counts = torch.bincount(t[3000:], minlength=6)[:5].float()
    assert float(counts.min()) > 0.8 * float(counts.max())


def test_coarse_and_in_group_targets_differ_from_the_label() -> None:
    z = torch.tensor([0, 1, 2] * 500)
    tz = coarse_targets_outside_group(H)(z, torch.Generator().manual_seed(0))
    assert bool((tz != z).all())
    # coarse 2 draws coarse 0 (3 fine classes) more often than coarse 1 (2 fine classes)
    from_two = tz[z == 2]
    assert int((from_two == 0).sum()) > int((from_two == 1).sum())
    y = torch.tensor([0, 1, 2] * 100)
    assert bool((targets_other_class(3)(y, torch.Generator().manual_seed(0)) != y).all())


def test_trades_and_mart_reduce_to_their_parts_at_the_clean_point() -> None:
    out, y = torch.randn(8, 4), torch.randint(0, 4, (8,))
    assert torch.allclose(kl_from_clean(out, torch.log_softmax(out, 1)), torch.zeros(8), atol=1e-6)
    trades = OBJECTIVES.get("trades").loss(out, out, y, beta=6.0)
    assert torch.allclose(trades, F.cross_entropy(out, y), atol=1e-6)
    mart = OBJECTIVES.get("mart").loss(out, out, y, beta=6.0)
    p = out.softmax(1)
    other = p.scatter(1, y[:, None], 0).amax(1)
    assert torch.allclose(mart, F.cross_entropy(out, y) - torch.log(1 - other).mean(), atol=1e-5)


def test_registry_names_match_config() -> None:
    from robin_bench.train.config import OBJECTIVE_NAMES

    assert tuple(OBJECTIVES.names()) == OBJECTIVE_NAMES
