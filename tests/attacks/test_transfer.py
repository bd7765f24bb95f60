"""Transfer attacks: crafted on the surrogate, judged on the victim; targeted at the victim's second arm."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import Tensor, nn

from robin_bench.attacks import ATTACKS, CW, PGD, TransferAttack, evaluate
from robin_bench.errors import RobinBenchError
from robin_bench.models import RobinClassifier

K = 4


class Counting(nn.Module):
    """Wraps a model and counts its forward passes."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.inner(x)


def robin() -> RobinClassifier:
    arms = [nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.Tanh(), nn.Linear(6, 1)) for _ in range(K)]
    return RobinClassifier(arms)


def flat() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, K))


def data(model: nn.Module, n: int = 24) -> tuple[Tensor, Tensor]:
    x = torch.rand(n, 1, 4, 4)
    with torch.no_grad():
        return x, model(x).argmax(1)


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_untargeted_transfer_to_itself_is_white_box_pgd(norm: str) -> None:
    model = robin()
    x, y = data(model)
    eps = {"L2": 0.5, "Linf": 0.1}[norm]
    transfer = TransferAttack(model, model, norm=norm, eps=eps, steps=7, restarts=2, seed=3)
    pgd = PGD(model, norm=norm, eps=eps, steps=7, restarts=2, seed=3)
    assert torch.equal(transfer(x, y), pgd(x, y))
    assert transfer.grad_evals == pgd.grad_evals > 0


def test_cw_transfer_to_itself_is_white_box_cw() -> None:
    model = flat()
    x, y = data(model)
    transfer = TransferAttack(model, model, base="cw", norm="L2", eps=0.5, steps=10, lr=0.05, binary_search_steps=2)
    cw = CW(model, norm="L2", eps=0.5, steps=10, lr=0.05, binary_search_steps=2)
    assert torch.equal(transfer(x, y), cw(x, y))
    assert transfer.grad_evals == cw.grad_evals > 0


def test_targeted_transfer_aims_at_the_victims_second_arm() -> None:
    """ROBIN B.2: the target is the victim's second-highest arm on the clean input; the surrogate aims there."""
    victim, surrogate = robin(), flat()
    x, y = data(victim)
    with torch.no_grad():
        second = victim(x).topk(2, dim=1).indices[:, 1]
    attack = TransferAttack(surrogate, victim, targeted=True, norm="L2", eps=0.5, steps=7)
    assert attack.targeted
    assert torch.equal(attack.get_target_label(x, y), second)
    reference = PGD(surrogate, norm="L2", eps=0.5, steps=7)
    reference.set_mode_targeted_by_label(quiet=True)
    assert torch.equal(attack(x, y), reference(x, second))


def test_targeted_transfer_to_itself_hits_the_second_arm() -> None:
    model = robin()
    x, y = data(model)
    with torch.no_grad():
        second = model(x).topk(2, dim=1).indices[:, 1]
    attack = TransferAttack(model, model, targeted=True, norm="L2", eps=3.0, steps=20)
    with torch.no_grad():
        hit = model(attack(x, y)).argmax(1) == second
    assert float(hit.float().mean()) >= 0.9


def test_uses_only_surrogate_gradients_and_judges_on_the_victim() -> None:
    """The victim is the attack's model (so evaluate and MultiAttack judge on it) but is never differentiated:
    untargeted it is not even queried; targeted, once, on the clean input."""
    victim, surrogate = Counting(robin()), flat()
    x, y = data(victim)
    victim.calls = 0
    attack = TransferAttack(surrogate, victim, norm="Linf", eps=0.1, steps=5)
    assert attack.model is victim
    x_adv = attack(x, y)
    assert victim.calls == 0
    assert 0 < attack.grad_evals <= 5 * x.shape[0]
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    targeted = TransferAttack(surrogate, victim, targeted=True, norm="Linf", eps=0.1, steps=5)
    targeted(x, y)
    assert victim.calls == 1
    result = evaluate(victim, x, y, {"transfer": TransferAttack(surrogate, victim, norm="Linf", eps=0.1, steps=5)})
    with torch.no_grad():
        fooled = victim(attack(x, y)).argmax(1) != y
    assert torch.equal(result.success["transfer"], fooled)


def test_inside_multiattack_and_eps_zero() -> None:
    victim, surrogate = robin(), flat()
    x, y = data(victim)
    transfer = TransferAttack(surrogate, victim, norm="L2", eps=0.5, steps=5)
    x_multi = torchattacks.MultiAttack([transfer, PGD(victim, norm="L2", eps=0.5, steps=5)])(x, y)
    assert bool((transfer.threat.norm_of(x_multi - x) <= 0.5 + 1e-5).all())
    for targeted in (False, True):
        assert torch.equal(TransferAttack(surrogate, victim, targeted=targeted, norm="Linf", eps=0.0)(x, y), x)


def test_registered_with_surrogate_keyword() -> None:
    victim, surrogate = robin(), flat()
    attack = ATTACKS.get("transfer")(victim, norm="L2", eps=0.5, surrogate=surrogate, targeted=True, steps=3)
    assert isinstance(attack, TransferAttack)
    assert attack.model is victim and attack.surrogate is surrogate and attack.targeted


def test_rejects_bad_base_and_arguments() -> None:
    with pytest.raises(RobinBenchError, match="pgd, cw"):
        TransferAttack(flat(), robin(), base="fgsm")
    with pytest.raises(RobinBenchError, match="binary_search_steps"):
        TransferAttack(flat(), robin(), base="cw", alpha=0.1)
