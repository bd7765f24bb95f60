"""PGD: known answers on linear models, targeted modes, gradient counting, restarts, seeding."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import Tensor, nn

from robin_bench.attacks import CW, FGSM, PGD
from robin_bench.errors import RobinBenchError

from .linear_models import Linear, assert_known_answers, broken, linear_problem

EPS = {(2, "L2"): 0.4, (2, "Linf"): 0.15, (4, "L2"): 0.16, (4, "Linf"): 0.05}
"""(classes, norm) -> eps putting the random linear problem's exact distances on both sides of eps."""


@pytest.mark.parametrize("loss", ["ce", "margin"])
@pytest.mark.parametrize(("k", "norm"), list(EPS))
def test_breaks_exactly_the_samples_within_eps_of_a_linear_model(k: int, norm: str, loss: str) -> None:
    eps = EPS[k, norm]
    model, x, y = linear_problem(k, 64, eps, seed=0)
    attack = PGD(model, norm=norm, eps=eps, steps=50, loss=loss, restarts=2)
    assert_known_answers(attack, model, x, y, norm, eps)


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_dlr_loss_breaks_exactly_the_samples_within_eps_untargeted_and_hits_targets(norm: str) -> None:
    eps = EPS[4, norm]
    model, x, y = linear_problem(4, 64, eps, seed=0)
    assert_known_answers(PGD(model, norm=norm, eps=eps, steps=50, loss="dlr", restarts=2), model, x, y, norm, eps)
    attack = PGD(model, norm=norm, eps=20 * eps, steps=50, loss="dlr")
    attack.set_mode_targeted_by_label(quiet=True)
    t = (y + 1) % 4
    assert not bool(broken(model, attack(x, t), t).any()), "targeted dlr missed a target"


class _Switch(nn.Module):
    """Two classes, label 0; class 1 wins iff the first pixel exceeds 0.5. Records batch sizes of gradient passes."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.grad_batches: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            self.grad_batches.append(x.shape[0])
        z1 = self.scale * (x.flatten(1)[:, 0] - 0.5)
        return torch.stack([torch.zeros_like(z1), z1], dim=1)


def _switch_inputs(n_breakable: int, n_robust: int) -> tuple[Tensor, Tensor]:
    """Inputs 0.45 (0.05 from the boundary) then 0.1 (0.4 from it), all labelled 0."""
    first = torch.tensor([0.45] * n_breakable + [0.1] * n_robust)
    x = torch.full((n_breakable + n_robust, 1, 2, 2), 0.5)
    x[:, 0, 0, 0] = first
    return x, torch.zeros(len(first), dtype=torch.long)


def test_grad_evals_count_every_sample_and_step_of_every_restart() -> None:
    model = _Switch()
    x, y = _switch_inputs(0, 6)
    attack = PGD(model, norm="Linf", eps=0.1, steps=7, restarts=3)
    x_adv = attack(x, y)
    assert not bool(broken(model, x_adv, y).any())
    assert attack.grad_evals == 6 * 7 * 3


def test_restarts_run_only_on_unbroken_samples() -> None:
    model = _Switch()
    x, y = _switch_inputs(4, 6)
    attack = PGD(model, norm="Linf", eps=0.1, alpha=0.1, steps=5, restarts=3, random_start=False)
    ok = broken(model, attack(x, y), y)
    assert ok.tolist() == [True] * 4 + [False] * 6
    # First restart: all 10 at step 0, all 10 at step 1 (the 4 succeed there), then 6 for steps 2-4.
    assert model.grad_batches == [10, 10, 6, 6, 6] + [6] * 5 * 2
    assert attack.grad_evals == sum(model.grad_batches)


@pytest.mark.parametrize("make", [PGD, CW, FGSM], ids=["pgd", "cw", "fgsm"])
@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_same_seed_gives_same_output(make: type, norm: str) -> None:
    model, x, y = linear_problem(4, 16, 0.05, seed=1)
    a = make(model, norm=norm, eps=0.05, seed=3)(x, y)
    b = make(model, norm=norm, eps=0.05, seed=3)(x, y)
    assert torch.equal(a, b)


def test_different_seeds_give_different_random_starts() -> None:
    model, x, y = linear_problem(4, 16, 0.05, seed=1)
    a = PGD(model, eps=0.01, alpha=1e-4, steps=1, seed=0, loss="margin")(x, y)
    b = PGD(model, eps=0.01, alpha=1e-4, steps=1, seed=1, loss="margin")(x, y)
    assert not torch.equal(a, b)


def _easy(k: int = 4) -> tuple[nn.Module, Tensor, Tensor]:
    """Class j's logit is 5 x pixel j; pixels in [0.4, 0.6], every class is reachable in L2 eps 0.5, Linf 0.2."""
    model = Linear(5 * torch.eye(k, 16), torch.zeros(k))
    x = 0.4 + 0.2 * torch.rand(32, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        return model, x, model(x).argmax(1)


def _targets(y: Tensor, k: int) -> Tensor:
    return (y + 1 + torch.arange(len(y)) % (k - 1)) % k


@pytest.mark.parametrize("make", [PGD, CW], ids=["pgd", "cw"])
@pytest.mark.parametrize(("norm", "eps"), [("Linf", 0.2), ("L2", 0.5)])
def test_targeted_by_label_hits_the_target(make: type, norm: str, eps: float) -> None:
    model, x, y = _easy()
    t = _targets(y, 4)
    attack = make(model, norm=norm, eps=eps)
    attack.set_mode_targeted_by_label(quiet=True)
    with torch.no_grad():
        assert bool((model(attack(x, t)).argmax(1) == t).all())


@pytest.mark.parametrize("make", [PGD, CW, FGSM], ids=["pgd", "cw", "fgsm"])
def test_targeted_least_likely_and_random_modes_hit_their_targets(make: type) -> None:
    model, x, y = _easy(k=2)
    attack = make(model, norm="Linf", eps=0.2)
    attack.set_mode_targeted_least_likely(quiet=True)
    with torch.no_grad():
        ll = model(x).argmin(1)
        assert bool((model(attack(x, y)).argmax(1) == ll).all())
    attack.set_mode_targeted_random(quiet=True)
    torch.manual_seed(5)
    adv = attack(x, y)
    torch.manual_seed(5)
    t = attack.get_random_target_label(x, y)
    with torch.no_grad():
        assert bool((model(adv).argmax(1) == t).all())


def test_targeted_random_mode_with_many_classes() -> None:
    model, x, y = _easy()
    attack = PGD(model, norm="L2", eps=0.5, steps=20)
    attack.set_mode_targeted_random(quiet=True)
    torch.manual_seed(7)
    adv = attack(x, y)
    torch.manual_seed(7)
    t = attack.get_random_target_label(x, y)
    assert bool((t != y).all())
    with torch.no_grad():
        assert bool((model(adv).argmax(1) == t).all())


def test_works_inside_torchattacks_multiattack() -> None:
    eps = EPS[4, "Linf"]
    model, x, y = linear_problem(4, 64, eps, seed=0)
    attacks = [FGSM(model, eps=eps), PGD(model, eps=eps, steps=20), CW(model, norm="Linf", eps=eps, steps=20)]
    x_adv = torchattacks.MultiAttack(attacks)(x, y)
    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    ok = broken(model, x_adv, y)
    for attack in attacks:
        assert bool((ok >= broken(model, attack(x, y), y)).all())
    assert bool(ok.any())


@pytest.mark.parametrize("make", [PGD, CW, FGSM], ids=["pgd", "cw", "fgsm"])
def test_attacks_work_when_called_under_no_grad(make: type) -> None:
    model, x, y = _easy()
    attack = make(model, norm="L2", eps=0.5)
    with torch.no_grad():
        x_adv = attack(x, y)
    assert bool(broken(model, x_adv, y).any())


def test_bad_hyperparameters_raise() -> None:
    model, _, _ = _easy()
    with pytest.raises(RobinBenchError, match="steps"):
        PGD(model, steps=0)
    with pytest.raises(RobinBenchError, match="restarts"):
        PGD(model, restarts=0)
    with pytest.raises(RobinBenchError, match="loss"):
        PGD(model, loss="hinge")
