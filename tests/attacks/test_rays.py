"""RayS: label-only, within the ball, criterion inside the attack, per-sample budget and randomness."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import PGD, RayS
from robin_bench.attacks.criteria import Coarse, Fine, Targeted
from robin_bench.errors import RobinBenchError

H = rb.Hierarchy.from_groups([[0, 1], [2, 3]])


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 4)).eval()


def data(model: nn.Module, n: int = 40) -> tuple[Tensor, Tensor]:
    x = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return x, model(x).argmax(1)


class Decoy(nn.Module):
    """The decision of ``net``, every score of ``decoy`` (top-1 lifted above the rest): gradients chase the decoy."""

    def __init__(self, net: nn.Module, decoy: nn.Module) -> None:
        super().__init__()
        self.net, self.decoy = net, decoy

    def forward(self, x: Tensor) -> Tensor:
        top = self.net(x).argmax(1, keepdim=True)
        d = self.decoy(x)
        return d.scatter(1, top, d.amax(1, keepdim=True) + 1)


def test_stays_in_the_ball_and_breaks_what_pgd_breaks() -> None:
    model = mlp()
    x, y = data(model)
    x_adv = RayS(model, eps=0.15, queries=400)(x, y)
    assert float((x_adv - x).abs().max()) <= 0.15 + 1e-6 and float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    rays = rb.evaluate(model, x, y, {"rays": RayS(model, eps=0.15, queries=400)})
    pgd = rb.evaluate(model, x, y, {"pgd": PGD(model, eps=0.15, steps=20)})
    assert rays.robust_acc <= pgd.robust_acc + 0.1
    assert rays.robust_acc < rays.clean_acc


def test_decoy_scores_fool_pgd_not_rays() -> None:
    net = mlp(0)
    model = Decoy(net, mlp(1)).eval()
    x, y = data(net)
    truth = rb.evaluate(net, x, y, {"pgd": PGD(net, eps=0.15, steps=20)}).robust_acc
    pgd = rb.evaluate(model, x, y, {"pgd": PGD(model, eps=0.15, steps=20)}).robust_acc
    rays = rb.evaluate(model, x, y, {"rays": RayS(model, eps=0.15, queries=400)}).robust_acc
    assert pgd > truth + 0.2 and rays <= truth + 0.1


def test_budget_is_a_per_sample_query_count() -> None:
    model = mlp()
    x, y = data(model, 10)
    attack = RayS(model, eps=0.01, queries=25)
    attack(x, y)
    assert attack.budget(4) == 25 and 0 < attack.query_count <= 25 * 10


def test_coarse_criterion_is_honoured_inside_the_attack() -> None:
    model = mlp()
    x, y = data(model)
    crit = Coarse(H)
    x_adv = RayS(model, eps=0.3, queries=300, criterion=crit)(x, y)
    with torch.no_grad():
        out, adv = model(x), model(x_adv)
    fine_only = (adv.argmax(1) != y) & ~crit.success(adv, y)
    stopped = (x_adv - x).abs().flatten(1).amax(1) < 0.3 - 1e-6
    assert crit.correct(out, y).all()
    assert not bool((fine_only & stopped).any()), "a fine miss inside the coarse class is no reason to stop"


def test_per_sample_results_do_not_depend_on_the_batch() -> None:
    model = mlp()
    x, y = data(model, 12)
    attack = RayS(model, eps=0.1, queries=80, seed=2)
    whole = attack(x, y)
    torch.manual_seed(9)
    parts = torch.cat([attack(x[i : i + 1], y[i : i + 1]) for i in range(len(y))])
    torch.testing.assert_close(parts, whole)
    assert not torch.equal(RayS(model, eps=0.1, queries=80, seed=3)(x, y), whole), "the seed matters"


def test_eps_zero_is_the_identity() -> None:
    model = mlp()
    x, y = data(model, 5)
    assert torch.equal(RayS(model, eps=0.0)(x, y), x)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm": "L2"}, "Linf"),
        ({"queries": 0}, "queries"),
        ({"tol": -1.0}, "tol"),
        ({"criterion": Targeted()}, "untargeted"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(RobinBenchError, match=match):
        RayS(mlp(), eps=0.1, **kwargs)  # type: ignore[arg-type]


def test_is_label_only() -> None:
    assert RayS(mlp(), eps=0.1).family == "gradient_free" and RayS(mlp(), eps=0.1).criterion == Fine()
