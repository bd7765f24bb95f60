"""standard_attacks: composition per model kind and criterion, run order by family, criterion inside every attack."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import robin_bench as rb
from robin_bench.attacks import FAMILIES, AutoAttack, Coarse, Fine, standard_attacks
from robin_bench.errors import RobinBenchError
from robin_bench.models import HARClassifier, RobinClassifier

from .linear_models import linear_problem

H = rb.Hierarchy.from_groups([[0, 1], [2, 3]])
H6 = rb.Hierarchy.from_groups([[0, 1, 2], [3, 4, 5]])


def linear(k: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, k))


def models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "flat": linear(6),
        "robin": RobinClassifier([linear(1) for _ in range(6)]),
        "har": HARClassifier(linear(2), [linear(3), linear(3)], H6),
    }


@pytest.mark.parametrize("kind", ["flat", "robin", "har"])
@pytest.mark.parametrize("criterion", ["fine", "coarse"])
def test_composition_order_and_criterion(kind: str, criterion: str) -> None:
    model = models()[kind]
    attacks = standard_attacks(model, norm="L2", eps=0.5, hierarchy=H6, criterion=criterion)
    names = list(attacks)
    robin = [n for n in names if n.startswith("robin_")]
    assert len(robin) == (0 if kind == "har" else len(rb.attacks.STRATEGIES))
    assert ("pgd_ce" in names) == (kind == "har") and "pgd_margin" in names
    hierarchical = {"hierarchical_targeted", "coarse_targeted", "coarse_marginal"}
    assert hierarchical <= set(names) if criterion == "coarse" else not hierarchical & set(names)
    assert {"apgd-ce", "fab-t", "square"} <= set(names)
    assert ("apgd-t" in names) == (criterion == "fine"), "APGD-T needs 4 classes: 6 fine, 2 coarse"
    families = [a.family for a in attacks.values()]
    assert set(families) <= set(FAMILIES)
    assert families == sorted(families, key=["gradient", "gradient_free", "transfer"].index), "gradient first"
    assert attacks["square"].family == "gradient_free" and attacks["apgd-ce"].family == "gradient"
    expected = Coarse(H6) if criterion == "coarse" else Fine()
    for a in attacks.values():
        assert a.criterion == expected
        assert (a.threat.norm, a.threat.eps) == ("L2", 0.5)


def test_surrogate_adds_a_transfer_attack_last() -> None:
    m = models()
    attacks = standard_attacks(m["robin"], norm="Linf", eps=0.1, surrogate=m["flat"])
    assert list(attacks)[-1] == "transfer" and attacks["transfer"].family == "transfer"


def test_user_mistakes_raise() -> None:
    model = models()["flat"]
    with pytest.raises(RobinBenchError, match="criterion 'targeted'"):
        standard_attacks(model, norm="Linf", eps=0.1, criterion="targeted")
    with pytest.raises(RobinBenchError, match="needs a hierarchy"):
        standard_attacks(model, norm="Linf", eps=0.1, criterion="coarse")
    with pytest.raises(RobinBenchError, match="unknown criterion"):
        standard_attacks(model, norm="Linf", eps=0.1, criterion="coarsest")
    with pytest.raises(RobinBenchError, match="har model has"):
        standard_attacks(models()["har"], norm="Linf", eps=0.1, hierarchy=H6.from_groups([[0], [1, 2, 3, 4, 5]]))
    with pytest.raises(RobinBenchError, match="eps"):
        standard_attacks(model, norm="Linf", eps=-1.0)


def test_autoattack_under_the_coarse_criterion_only_returns_coarse_successes() -> None:
    model, x, y = linear_problem(4, 32, 0.0, seed=2)
    aa = AutoAttack(model, eps=0.1, version="custom", attacks_to_run=["apgd-ce"], n_iter=20, criterion=Coarse(H))
    x_adv = aa(x, y)
    moved = (x_adv != x).flatten(1).any(1)
    with torch.no_grad():
        left = H.coarse_of(model(x_adv).argmax(1)) != H.coarse_of(y)
    assert bool(moved.any())
    assert torch.equal(moved, left), "AutoAttack keeps exactly the points its coarse view misclassifies"
    with pytest.raises(RobinBenchError, match="criterion 'targeted'"):
        AutoAttack(model, eps=0.1, criterion=rb.attacks.Targeted())
