"""Adaptive components: the preprocessing and twin protocols, BPDA (straight-through) with EOT, and where the
standard set adds them."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import BPDA, PGD, standard_attacks
from robin_bench.attacks.adaptive import declared_preprocessing, straight_through, undefended_twin
from robin_bench.errors import RobinBenchError


class Quantize(nn.Module):
    """Rounds to 4 levels: zero gradient everywhere (declared)."""

    nondifferentiable_preprocessing = True

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * 4) / 4


class NoisyQuantize(Quantize):
    """Quantization after uniform noise, redrawn on every pass (declared randomized)."""

    nondifferentiable_preprocessing = "randomized"

    def forward(self, x: Tensor) -> Tensor:
        return super().forward((x + 0.05 * (2 * torch.rand_like(x) - 1)).clamp(0, 1))


def linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 4))


def data(model: nn.Module, n: int = 40) -> tuple[Tensor, Tensor]:
    x = torch.round(torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(3)) * 4) / 4
    with torch.no_grad():
        return x, model(x).argmax(1)


def test_straight_through_keeps_the_forward_and_passes_the_gradient() -> None:
    net = linear()
    model = nn.Sequential(Quantize(), net)
    x = torch.rand(3, 1, 4, 4, requires_grad=True)
    with straight_through(model) as steps:
        out = model(x)
        (grad,) = torch.autograd.grad(out[:, 0].sum(), x)
    assert len(steps) == 1 and torch.equal(out, model(x))
    xi = x.detach().requires_grad_(True)
    (expected,) = torch.autograd.grad(net(xi)[:, 0].sum(), xi)
    torch.testing.assert_close(grad, expected)
    assert torch.autograd.grad(model(x)[:, 0].sum(), x, allow_unused=True)[0].abs().sum() == 0, "hooks removed"


def test_bpda_breaks_what_the_quantizer_hides_from_pgd() -> None:
    net = linear()
    model = nn.Sequential(Quantize(), net).eval()
    x, y = data(model)
    pgd = rb.evaluate(model, x, y, {"pgd": PGD(model, eps=0.3, steps=10)}).robust_acc
    bpda = rb.evaluate(model, x, y, {"bpda": BPDA(model, eps=0.3, steps=10)}).robust_acc
    assert pgd >= 0.8 and bpda <= pgd - 0.3, (pgd, bpda)


def test_eot_on_a_randomized_step() -> None:
    model = nn.Sequential(NoisyQuantize(), linear()).eval()
    x, y = data(model)
    attack = BPDA(model, eps=0.3, steps=5, eot_samples=4)
    attack(x, y)
    assert attack.randomized and attack.grad_evals >= 4 * 5 * 1
    plain = nn.Sequential(Quantize(), linear()).eval()
    deterministic = BPDA(plain, eps=0.3, steps=5, eot_samples=4)
    deterministic(x, y)
    assert deterministic.randomized is False


def test_standard_set_adds_bpda_and_the_twin_only_where_declared() -> None:
    net = linear()
    plain = standard_attacks(net, norm="Linf", eps=0.1)
    assert "bpda" not in plain and "transfer_twin" not in plain and "rays" in plain
    model = nn.Sequential(Quantize(), net)
    model.undefended_twin = net  # type: ignore[assignment]
    attacks = standard_attacks(model, norm="Linf", eps=0.1)
    assert attacks["bpda"].family == "transfer" and attacks["transfer_twin"].family == "transfer"
    assert list(attacks)[-2:] == ["bpda", "transfer_twin"]
    assert "rays" not in standard_attacks(net, norm="L2", eps=0.5)


def test_bad_declarations_raise() -> None:
    step = Quantize()
    step.nondifferentiable_preprocessing = "sometimes"  # type: ignore[assignment]
    with pytest.raises(RobinBenchError, match="nondifferentiable_preprocessing"):
        declared_preprocessing(nn.Sequential(step))
    model = linear()
    model.undefended_twin = "mc"  # type: ignore[assignment]
    with pytest.raises(RobinBenchError, match="undefended_twin"):
        undefended_twin(model)
    with pytest.raises(RobinBenchError, match="eot_samples"):
        BPDA(linear(), eps=0.1, eot_samples=0)
