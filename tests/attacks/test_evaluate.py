"""Worst-case evaluation: per-sample OR over attacks, early exit, criteria, known answers, validation."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torchattacks
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import PGD, Attack, CoarseMarginal, HierarchicalTargeted
from robin_bench.attacks.criteria import Coarse, Fine, Targeted
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models import RobinClassifier

H = Hierarchy.from_groups([[0, 1, 2], [3, 4, 5]])
SHAPE = (1, 4, 4)
D = 16


def mlp(n_out: int = 6) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(D, 12), nn.Tanh(), nn.Linear(12, n_out))
    with torch.no_grad():
        net[1].weight.mul_(4.0)
        net[1].bias.sub_(net[1].weight.sum(1) / 2)
    return net.eval()


def data(model: nn.Module, n: int = 24) -> tuple[Tensor, Tensor]:
    """Inputs with labels mostly equal to the clean prediction (a few wrong, so clean accuracy < 1)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, *SHAPE, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[::6] = (y[::6] + 1) % 6
    return x, y


def attacks(model: nn.Module, eps: float) -> list[Attack]:
    return [
        PGD(model, eps=eps, steps=2, random_start=False),
        PGD(model, eps=eps, steps=5, loss="margin", random_start=False),
        PGD(model, eps=eps, steps=5, restarts=2, seed=3),
    ]


def test_worst_case_is_or_of_attack_successes():
    model = mlp()
    x, y = data(model)
    res = rb.evaluate(model, x, y, attacks(model, 0.06), early_exit=False)
    any_success = torch.stack([res.success[n] for n in res.names]).any(0)
    assert torch.equal(res.robust, res.clean_correct & ~any_success)
    assert all(torch.equal(res.ran[n], res.clean_correct) for n in res.names)
    assert 0 < res.robust_acc < res.clean_acc < 1
    for name in res.names:
        assert res.attack_robust_acc[name] >= res.robust_acc


def test_early_exit_gives_the_same_flags_for_fewer_gradients():
    model = mlp()
    x, y = data(model)
    full = rb.evaluate(model, x, y, attacks(model, 0.06), early_exit=False)
    fast = rb.evaluate(model, x, y, attacks(model, 0.06), early_exit=True)
    assert torch.equal(full.robust, fast.robust)
    assert full.robust_acc_after == fast.robust_acc_after
    assert fast.total_grad_evals is not None and full.total_grad_evals is not None
    assert fast.total_grad_evals < full.total_grad_evals
    first, *later = fast.names
    assert torch.equal(fast.ran[first], fast.clean_correct)
    broken_before = fast.success[first].clone()
    for name in later:
        assert not bool((fast.ran[name] & broken_before).any()), "a broken sample is attacked again"
        broken_before |= fast.success[name]


def test_streaming_batches_do_not_change_flags():
    model = mlp()
    x, y = data(model)
    atk = [PGD(model, eps=0.06, steps=4, random_start=False)]
    a = rb.evaluate(model, x, y, atk, batch_size=5)
    b = rb.evaluate(model, x, y, atk, batch_size=1000)
    assert torch.equal(a.robust, b.robust) and torch.equal(a.clean_correct, b.clean_correct)
    assert a.grad_evals == b.grad_evals


def test_third_party_torchattacks_pgd_runs():
    model = mlp()
    x, y = data(model)
    res = rb.evaluate(
        model, x, y, {"ta_pgd": torchattacks.PGD(model, eps=0.2, alpha=0.05, steps=10)}, norm="Linf", eps=0.2
    )
    assert res.names == ["ta_pgd"]
    assert res.grad_evals["ta_pgd"] is None
    assert res.total_grad_evals is None
    assert res.robust_acc < 0.5 * res.clean_acc
    assert res.seconds["ta_pgd"] > 0


def test_coarse_criterion_on_a_flat_model():
    model = mlp()
    x, y = data(model)
    atk = [CoarseMarginal(model, hierarchy=H, eps=0.08, steps=5), PGD(model, eps=0.08, steps=5)]
    res = rb.evaluate(model, x, y, atk, criterion="coarse", hierarchy=H, early_exit=False)
    with torch.no_grad():
        same = H.coarse_of(model(x).argmax(1)) == H.coarse_of(y)
        for name, a in zip(res.names, atk, strict=True):
            idx = res.clean_correct.nonzero()[:, 0]
            with a.using_criterion(Coarse(H)):
                left = H.coarse_of(model(a(x[idx], y[idx])).argmax(1)) != H.coarse_of(y[idx])
            assert torch.equal(res.success[name][idx], left)
    assert atk[1].criterion == Fine(), "evaluate restores the attack's own criterion"
    assert torch.equal(res.clean_correct, same)
    fine = rb.evaluate(model, x, y, atk[1:])
    assert res.clean_acc >= fine.clean_acc


def test_hierarchical_attack_under_coarse_criterion_matches_its_own_search():
    model = mlp()
    x, y = data(model)
    ht = HierarchicalTargeted(model, hierarchy=H, eps=0.06, steps=4)
    res = rb.evaluate(model, x, y, [ht], criterion="coarse", hierarchy=H)
    idx = res.clean_correct.nonzero()[:, 0]
    hit = ht.search(x[idx], y[idx])[1]
    assert torch.equal(res.success[res.names[0]][idx], hit >= 0)


def test_targeted_criterion():
    model = mlp()
    x, y = data(model)
    t = (y + 3) % 6
    pgd = PGD(model, eps=0.3, steps=10, random_start=False)
    with pytest.raises(RobinBenchError, match="set_mode_targeted_by_label"):
        rb.evaluate(model, x, y, [torchattacks.PGD(model, eps=0.3)], criterion="targeted", targets=t)
    res = rb.evaluate(model, x, y, [pgd], criterion="targeted", targets=t)
    assert pgd.attack_mode == "default" and pgd.criterion == Fine(), "evaluate restores the mode"
    idx = res.clean_correct.nonzero()[:, 0]
    pgd.set_mode_targeted_by_label(quiet=True)
    assert pgd.criterion == Targeted()
    with torch.no_grad():
        hit = model(pgd(x[idx], t[idx])).argmax(1) == t[idx]
    assert torch.equal(res.success[res.names[0]][idx], hit)
    assert res.robust_acc < res.clean_acc
    with pytest.raises(RobinBenchError, match="needs targets"):
        rb.evaluate(model, x, y, [pgd], criterion="targeted")
    with pytest.raises(RobinBenchError, match="must differ"):
        rb.evaluate(model, x, y, [pgd], criterion="targeted", targets=y)


class Escapes(Attack):
    """A broken attack: steps out of its ball."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__("Escapes", model, norm="Linf", eps=0.01)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        return (images + 0.5).clamp(0, 1)


class Liar(Attack):
    """Claims success by returning the clean input: evaluate re-checks and finds nothing."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__("Liar", model, norm="Linf", eps=0.01)
        self.claims_success = True

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        return images.clone()


def test_out_of_ball_output_raises_and_claims_are_rechecked():
    model = mlp()
    x, y = data(model)
    with pytest.raises(RobinBenchError, match="Escapes.*norm"):
        rb.evaluate(model, x, y, [Escapes(model)])
    res = rb.evaluate(model, x, y, [Liar(model)])
    assert torch.equal(res.robust, res.clean_correct)


def test_result_frame_and_names():
    model = mlp()
    x, y = data(model, 10)
    res = rb.evaluate(model, x, y, [PGD(model, eps=0.05, steps=1), PGD(model, eps=0.05, steps=2)])
    assert res.names == ["PGD_1", "PGD_2"]
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == res.n == 10
    per_attack = ["PGD_1.success", "PGD_1.ran", "PGD_2.success", "PGD_2.ran"]
    assert list(frame.columns) == ["clean_correct", "robust", *per_attack]
    assert frame["robust"].mean() == pytest.approx(res.robust_acc)


def test_restores_training_mode():
    model = mlp().train()
    x, y = data(model, 6)
    rb.evaluate(model, x, y, [PGD(model, eps=0.05, steps=1)])
    assert model.training


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda x, y: (x * 2, y), r"\[0, 1\]"),
        (lambda x, y: (x, y[:-1]), "one entry per input"),
        (lambda x, y: (x.flatten(1), y), r"\(N, C, H, W\)"),
        (lambda x, y: (x, y.float()), "dtype"),
    ],
)
def test_input_validation(mutate, match):
    model = mlp()
    x, y = data(model, 6)
    xb, yb = mutate(x, y)
    with pytest.raises(RobinBenchError, match=match):
        rb.evaluate(model, xb, yb, [PGD(model, eps=0.05, steps=1)])


def test_option_validation():
    model = mlp()
    x, y = data(model, 6)
    atk = [PGD(model, eps=0.05, steps=1)]
    with pytest.raises(RobinBenchError, match="unknown criterion"):
        rb.evaluate(model, x, y, atk, criterion="coarsest")
    with pytest.raises(RobinBenchError, match="needs a hierarchy"):
        rb.evaluate(model, x, y, atk, criterion="coarse")
    with pytest.raises(RobinBenchError, match="batch_size"):
        rb.evaluate(model, x, y, atk, batch_size=0)
    with pytest.raises(RobinBenchError, match="sequence of attacks"):
        rb.evaluate(model, x, y, atk[0])  # type: ignore[arg-type]


def linear_robin(k: int, seed: int) -> tuple[RobinClassifier, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    arms = [nn.Sequential(nn.Flatten(), nn.Linear(D, 1)) for _ in range(k)]
    with torch.no_grad():
        for arm in arms:
            arm[1].weight.copy_(3 * torch.randn(1, D, generator=g))
            arm[1].bias.copy_(torch.randn(1, generator=g))
    w = torch.cat([arm[1].weight for arm in arms]).detach()
    b = torch.cat([arm[1].bias for arm in arms]).detach()
    return RobinClassifier(arms).eval(), w, b


def exact_distance(x: Tensor, y: Tensor, w: Tensor, b: Tensor, q: float) -> Tensor:
    """min over j != y of (s_y - s_j) / ||w_y - w_j||_q: the distance to the nearest facet (dual norm q)."""
    s = x.flatten(1) @ w.T + b
    gap = s.gather(1, y[:, None]) - s
    dw = (w[y][:, None, :] - w[None, :, :]).norm(p=q, dim=2)
    dist = gap / dw.clamp_min(1e-12)
    dist.scatter_(1, y[:, None], float("inf"))
    return dist.min(1).values


@pytest.mark.parametrize("norm,q", [("L2", 2.0), ("Linf", 1.0)])
def test_known_answer_on_linear_robin(norm, q):
    model, w, b = linear_robin(k=4, seed=7)
    g = torch.Generator().manual_seed(2)
    x = 0.35 + 0.3 * torch.rand(96, *SHAPE, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    dist = exact_distance(x, y, w, b, q)
    eps = float(dist.median())
    assert eps < 0.3, "the ball must stay inside the box for the closed form to hold"
    res = rb.evaluate(model, x, y, [PGD(model, norm=norm, eps=eps, steps=40)])  # type: ignore[arg-type]
    assert bool(res.clean_correct.all())
    inside, outside = dist < 0.9 * eps, dist > eps
    assert int(inside.sum()) > 20 and int(outside.sum()) > 20
    assert not bool(res.robust[inside].any()), "a sample clearly inside eps survived"
    assert bool(res.robust[outside].all()), "a sample beyond eps was broken: impossible"
