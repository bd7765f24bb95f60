"""Hierarchical attacks: batched Algorithm 1 equals the sequential loop; coarse attacks on HAR and flat models."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from robin_bench.attacks import ATTACKS, PGD, CoarseMarginal, CoarseTargeted, HierarchicalTargeted
from robin_bench.attacks.base import sample_seeds
from robin_bench.attacks.criteria import Coarse, Fine, Targeted
from robin_bench.attacks.losses import ce_targeted
from robin_bench.attacks.threat import ThreatModel
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models import HARClassifier

H = Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
H3 = Hierarchy.from_groups([[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]])
SHAPE = (1, 4, 4)
D = 16


def mlp(n_out: int) -> nn.Module:
    net = nn.Sequential(nn.Flatten(), nn.Linear(D, 12), nn.Tanh(), nn.Linear(12, n_out))
    with torch.no_grad():
        net[1].weight.mul_(4.0)
        net[1].bias.sub_(net[1].weight.sum(1) / 2)
    return net


def flat() -> nn.Module:
    return mlp(10).double().eval()


def har(h: Hierarchy = H) -> HARClassifier:
    fine = [mlp(len(h.fine_classes(z))) for z in range(h.n_coarse)]
    return HARClassifier(mlp(h.n_coarse), fine, h).double().eval()


def data(n: int = 12) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, *SHAPE, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def pair_start(xi: Tensor, t: int, *, norm: str, eps: float, random_start: bool, seed: int = 0) -> Tensor:
    """The start of pair (sample xi, target t): seeded from (seed, t, the sample's bytes), or the clean input."""
    if not random_start:
        return xi.clone()
    seeds = sample_seeds(xi, seed, "pair", torch.tensor([t]))
    return ThreatModel(norm, eps).random_start(xi, seeds=seeds)  # type: ignore[arg-type]


CRITERIA = {"coarse": Coarse(H), "fine": Fine()}


def sequential_reference(
    model: nn.Module, x: Tensor, y: Tensor, *, norm: str, eps: float, steps: int, success: str, random_start: bool
) -> tuple[Tensor, Tensor]:
    """HAR Algorithm 1 one sample and one target at a time: targets by clean score, stop at first success."""
    x_out, hit = x.clone(), torch.full((x.shape[0],), -1)
    pgd = PGD(model, norm=norm, eps=eps, steps=steps)  # type: ignore[arg-type]
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        z = int(H.coarse_of(y[i : i + 1]))
        with torch.no_grad():
            scores = model(xi)[0]
        candidates = [t for t in scores.argsort(descending=True, stable=True).tolist() if H.fine_to_coarse[t] != z]
        for rank, t in enumerate(candidates):

            def fine_miss(out: Tensor, _: Tensor, yi: int = int(y[i])) -> Tensor:
                return out.argmax(1) != yi

            def left(out: Tensor, _: Tensor, z: int = z) -> Tensor:
                return H.coarse_of(out.argmax(1)) != z

            ok_fn = fine_miss if success == "fine" else left
            tt = torch.tensor([t])
            start = pair_start(xi, t, norm=norm, eps=eps, random_start=random_start)
            xa = pgd.ascend(xi, tt, ce_targeted, ok_fn, steps=steps, alpha=pgd.alpha, start=start)
            with torch.no_grad():
                ok = bool(ok_fn(model(xa), tt))
            if rank == 0:
                x_out[i] = xa[0]
            if ok:
                x_out[i], hit[i] = xa[0], t
                break
    return x_out, hit


@pytest.mark.parametrize("random_start", [True, False], ids=["random_start", "clean_start"])
@pytest.mark.parametrize("success", ["fine", "coarse"])
@pytest.mark.parametrize("norm,eps", [("Linf", 0.08), ("L2", 0.35)])
@pytest.mark.parametrize("make", [flat, har], ids=["flat", "har"])
@pytest.mark.parametrize("targets_per_pass", [1, 3])
def test_batched_equals_sequential_reference(success, norm, eps, make, targets_per_pass, random_start):
    eps = eps / 3 if success == "fine" else eps  # a fine miss is easier: keep some samples unbroken
    torch.manual_seed(3)
    model = make()
    x, y = data()
    attack = HierarchicalTargeted(
        model,
        hierarchy=H,
        norm=norm,
        eps=eps,
        steps=5,
        criterion=CRITERIA[success],
        targets_per_pass=targets_per_pass,
        random_start=random_start,
    )
    x_adv, hit = attack.search(x, y)
    x_ref, hit_ref = sequential_reference(
        model, x, y, norm=norm, eps=eps, steps=5, success=success, random_start=random_start
    )
    assert torch.equal(hit, hit_ref)
    assert 0 < int((hit >= 0).sum()) < len(y), "the setting must break some samples and not others"
    torch.testing.assert_close(x_adv, x_ref)  # float64; batched matmuls may differ in the last bits


@pytest.mark.parametrize("cls", [HierarchicalTargeted, CoarseTargeted])
def test_random_start_changes_the_result_and_is_seeded(cls):
    model = har()
    x, y = data()
    kw = dict(hierarchy=H, norm="Linf", eps=0.08, steps=3)
    clean = cls(model, random_start=False, **kw)(x, y)
    rand = cls(model, seed=0, **kw)(x, y)
    assert not torch.equal(rand, clean)
    assert torch.equal(rand, cls(model, seed=0, **kw)(x, y))
    assert not torch.equal(rand, cls(model, seed=1, **kw)(x, y))


def test_random_start_changes_which_samples_break_in_some_setting():
    x, y = data(16)
    changed = []
    for make in (flat, har):
        model = make()
        for norm, eps in (("Linf", 0.08), ("L2", 0.35)):
            for steps in (1, 2, 3):
                kw = dict(hierarchy=H, norm=norm, eps=eps, steps=steps)
                hit_clean = HierarchicalTargeted(model, random_start=False, **kw).search(x, y)[1]
                hit_rand = HierarchicalTargeted(model, **kw).search(x, y)[1]
                changed.append(not torch.equal(hit_clean >= 0, hit_rand >= 0))
    assert any(changed)


def test_pair_starts_do_not_depend_on_the_other_pairs():
    model = flat()
    x, y = data(6)
    attack = HierarchicalTargeted(model, hierarchy=H, norm="L2", eps=0.3)
    index, target = torch.tensor([0, 0, 3, 5, 5]), torch.tensor([7, 8, 1, 2, 9])
    all_pairs = attack.pair_starts(x, index, target)
    for p in range(len(index)):
        torch.testing.assert_close(all_pairs[p : p + 1], attack.pair_starts(x, index[p : p + 1], target[p : p + 1]))
    assert not torch.equal(all_pairs[0], all_pairs[1]), "two targets of one sample start apart"
    dist = (all_pairs - x[index]).flatten(1).norm(dim=1)
    assert bool((dist <= 0.3 + 1e-9).all()) and float(all_pairs.min()) >= 0 and float(all_pairs.max()) <= 1


def test_criteria_mean_what_they_say():
    model = flat()
    x, y = data(16)
    for name, crit in CRITERIA.items():
        attack = HierarchicalTargeted(model, hierarchy=H, norm="Linf", eps=0.1, steps=5, criterion=crit)
        assert attack.criterion == crit
        x_adv, hit = attack.search(x, y)
        with torch.no_grad():
            pred = model(x_adv).argmax(1)
        broken = hit >= 0
        assert bool(broken.any())
        assert bool((H.coarse_of(hit[broken]) != H.coarse_of(y[broken])).all()), "targets are foreign classes"
        assert bool((pred[broken] != y[broken]).all())
        if name == "coarse":
            assert bool((H.coarse_of(pred[broken]) != H.coarse_of(y[broken])).all())


def test_default_criterion_is_coarse_and_targeted_is_refused():
    model = flat()
    for cls in (HierarchicalTargeted, CoarseTargeted, CoarseMarginal):
        attack = cls(model, hierarchy=H, eps=0.1)
        assert attack.criterion == Coarse(H)
        with pytest.raises(RobinBenchError, match="criterion 'targeted'"):
            cls(model, hierarchy=H, criterion=Targeted())
        with pytest.raises(RobinBenchError, match="criterion 'targeted'"):
            attack.set_criterion(Targeted())
        with pytest.raises(RobinBenchError, match="same hierarchy"):
            cls(model, hierarchy=H, criterion=Coarse(H.from_groups([[0, 1, 2, 3, 4, 5, 6, 7], [8, 9]])))


def test_early_stop_and_max_targets_save_gradients():
    model = flat()
    x, y = data(16)
    steps = 4
    full = HierarchicalTargeted(model, hierarchy=H, norm="Linf", eps=0.3, steps=steps)
    hit = full.search(x, y)[1]
    assert bool((hit >= 0).all())
    assert full.grad_evals < len(y) * 5 * steps, "samples broken early must stop"
    top1 = HierarchicalTargeted(model, hierarchy=H, norm="Linf", eps=0.3, steps=steps, max_targets=1)
    top1.search(x, y)
    assert top1.grad_evals <= len(y) * steps


def test_tries_targets_best_score_first():
    model = flat()
    x, y = data(8)
    attack = HierarchicalTargeted(model, hierarchy=H, norm="Linf", eps=0.0, steps=1)
    order, limit = attack.target_order(x, y)
    with torch.no_grad():
        out = model(x)
    assert bool((limit == 5).all())
    first = order[:, :5]
    assert bool((H.coarse_of(first) != H.coarse_of(y)[:, None]).all())
    s = out.gather(1, first)
    assert bool((s[:, :-1] >= s[:, 1:]).all())


@pytest.mark.parametrize("random_start", [True, False], ids=["random_start", "clean_start"])
@pytest.mark.parametrize("cls", [HierarchicalTargeted, CoarseTargeted, CoarseMarginal])
@pytest.mark.parametrize("make", [flat, har], ids=["flat", "har"])
@pytest.mark.parametrize("norm,eps", [("Linf", 0.05), ("L2", 0.4)])
def test_inside_ball_and_box(cls, make, norm, eps, random_start):
    model = make()
    x, y = data(10)
    x_adv = cls(model, hierarchy=H, norm=norm, eps=eps, steps=4, random_start=random_start)(x, y)
    assert x_adv.shape == x.shape
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    dist = (x_adv - x).flatten(1)
    dist = dist.abs().amax(1) if norm == "Linf" else dist.norm(dim=1)
    assert bool((dist <= eps + 1e-9).all())


@pytest.mark.parametrize("cls", [HierarchicalTargeted, CoarseTargeted, CoarseMarginal])
def test_eps_zero_is_identity(cls):
    model = har()
    x, y = data(6)
    assert torch.equal(cls(model, hierarchy=H, eps=0.0, steps=3)(x, y), x)


@pytest.mark.parametrize("cls", [CoarseTargeted, CoarseMarginal])
@pytest.mark.parametrize("make", [flat, har], ids=["flat", "har"])
def test_coarse_attacks_break_coarse_prediction_at_large_eps(cls, make):
    model = make()
    x, _ = data(12)
    with torch.no_grad():
        y = model(x).argmax(1)
    x_adv = cls(model, hierarchy=H, norm="Linf", eps=0.5, steps=20)(x, y)
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    assert float((H.coarse_of(pred) != H.coarse_of(y)).float().mean()) >= 0.9


def test_coarse_targeted_ascends_the_coarse_network_of_har():
    model = har(H3)
    x, y = data(4)
    attack = CoarseTargeted(model, hierarchy=H3, eps=0.1, steps=2)
    x = x.requires_grad_(True)
    out = attack.get_logits(x)
    torch.testing.assert_close(out[:, :3], model.coarse_log_probs(x))
    torch.testing.assert_close(out[:, 3:], model(x))
    (g_fine,) = torch.autograd.grad(out[:, 3:].sum(), x, retain_graph=True)
    assert not bool(g_fine.any()), "the fine columns only judge success; no gradient flows through them"
    (g,) = torch.autograd.grad(out[:, 0].sum(), x)
    (g_ref,) = torch.autograd.grad(model.coarse_log_probs(x)[:, 0].sum(), x)
    torch.testing.assert_close(g, g_ref)


class CoarseAndFine(nn.Module):
    """Reference working output of the coarse attack: [coarse network log-probs | detached full output]."""

    def __init__(self, model: HARClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.model.coarse_log_probs(x), self.model(x).detach()], dim=1)


@pytest.mark.parametrize("random_start", [True, False], ids=["random_start", "clean_start"])
def test_coarse_targeted_equals_sequential_loop_over_coarse_targets(random_start):
    model = har(H3)
    x, _ = data(12)
    with torch.no_grad():
        y = model(x).argmax(1)
    attack = CoarseTargeted(model, hierarchy=H3, norm="Linf", eps=0.04, steps=4, random_start=random_start)
    x_adv, hit = attack.search(x, y)
    pgd = PGD(CoarseAndFine(model), eps=0.04, steps=4)
    for i in range(len(y)):
        xi = x[i : i + 1]
        z = int(H3.coarse_of(y[i : i + 1]))
        with torch.no_grad():
            scores = model.coarse_log_probs(xi)[0]

        def objective(out: Tensor, t: Tensor) -> Tensor:
            return ce_targeted(out[:, :3], t)

        def left(out: Tensor, _: Tensor, z: int = z) -> Tensor:
            return H3.coarse_of(out[:, 3:].argmax(1)) != z

        expected = -1
        for t in [t for t in scores.argsort(descending=True, stable=True).tolist() if t != z]:
            start = pair_start(xi, t, norm="Linf", eps=0.04, random_start=random_start)
            xa = pgd.ascend(xi, torch.tensor([t]), objective, left, steps=4, alpha=pgd.alpha, start=start)
            with torch.no_grad():
                if bool(H3.coarse_of(model(xa).argmax(1)) != z):
                    expected = t
                    torch.testing.assert_close(x_adv[i], xa[0])
                    break
        assert int(hit[i]) == expected
    assert 0 < int((hit >= 0).sum()) < len(y)


def test_coarse_marginal_on_har_is_the_coarse_network():
    model = har(H3)
    x, _ = data(5)
    torch.testing.assert_close(H3.coarse_log_probs_from_fine(model(x)), model.coarse_log_probs(x))


def test_coarse_marginal_restarts_only_help_and_are_seeded():
    model = flat()
    x, y = data(16)
    kw = dict(hierarchy=H, norm="Linf", eps=0.05, steps=3)
    a1 = CoarseMarginal(model, restarts=1, **kw)
    a3 = CoarseMarginal(model, restarts=3, **kw)
    with torch.no_grad():
        left1 = H.coarse_of(model(a1(x, y)).argmax(1)) != H.coarse_of(y)
        left3 = H.coarse_of(model(a3(x, y)).argmax(1)) != H.coarse_of(y)
    assert bool((left1 <= left3).all())
    assert torch.equal(CoarseMarginal(model, seed=5, **kw)(x, y), CoarseMarginal(model, seed=5, **kw)(x, y))


def test_registered_and_built_by_the_registry_convention():
    model = flat()
    x, y = data(4)
    for name in ("hierarchical_targeted", "coarse_targeted", "coarse_marginal"):
        attack = ATTACKS.get(name)(model, norm="L2", eps=0.3, hierarchy=H, steps=2)
        assert attack(x, y).shape == x.shape
        assert attack.grad_evals > 0


def test_user_mistakes_raise():
    model = flat()
    x, y = data(4)
    with pytest.raises(RobinBenchError, match="criterion object"):
        HierarchicalTargeted(model, hierarchy=H, criterion="fine")  # type: ignore[arg-type]
    with pytest.raises(RobinBenchError, match="hierarchy"):
        CoarseMarginal(model, hierarchy=[[0, 1], [2, 3]])  # type: ignore[arg-type]
    with pytest.raises(RobinBenchError, match="differs from the model.s own"):
        CoarseTargeted(har(), hierarchy=H3)
    with pytest.raises(RobinBenchError, match="steps"):
        CoarseMarginal(model, hierarchy=H, steps=0)
    with pytest.raises(RobinBenchError, match="max_targets"):
        HierarchicalTargeted(model, hierarchy=H, max_targets=0)
    with pytest.raises(RobinBenchError, match="random_start"):
        CoarseTargeted(model, hierarchy=H, random_start=1)  # type: ignore[arg-type]
    with pytest.raises(RobinBenchError, match="dlr"):
        CoarseMarginal(model, hierarchy=H, loss="dlr")
    with pytest.raises(RobinBenchError, match="unknown loss"):
        HierarchicalTargeted(model, hierarchy=H, loss="hinge")
    with pytest.raises(RobinBenchError, match="fine classes"):
        HierarchicalTargeted(flat(), hierarchy=H3.from_groups([[0, 1], [2, 3]]))(x, y % 4)
