"""sanity_check: tiny models that each trigger one failure mode, and clean models that trigger none."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks.sanity import FLAG_CODES, SanityReport, sanity_check
from robin_bench.errors import RobinBenchError
from robin_bench.models import HARClassifier, RobinClassifier

SHAPE = (1, 8, 8)
D = 64
K = 4


def linear(k: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(D, k))


class Round(nn.Module):
    """Input quantization: zero gradient almost everywhere (Athalye et al.'s shattered gradients)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * 4) / 4


class Noise(nn.Module):
    """Randomness left in at test time, like dropout in train mode."""

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.05 * torch.randn_like(x)


class Wiggle(nn.Module):
    """x + a sin(2 pi k x) / (2 pi k) with a > 1: the identity on the grid x = n/k (where the slope is 1 + a),
    but with slopes of random sign in between, so a random start and small steps mislead PGD while one
    full step of eps = 1/k from a grid point (FGSM) sees the linear model."""

    def forward(self, x: Tensor) -> Tensor:
        return x + 3.0 * torch.sin(2 * math.pi * 10 * x) / (2 * math.pi * 10)


class HalfDead(nn.Module):
    """A ReLU arm that is flat (zero gradient) on half of the inputs."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x.flatten(1)[:, :1] - 0.5)


class _NanBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        return grad * float("nan")


class NanGrad(nn.Module):
    """The identity with a NaN backward pass (a broken custom layer)."""

    def forward(self, x: Tensor) -> Tensor:
        return _NanBackward.apply(x)


class Band(nn.Module):
    """Two classes; class 1 wins only in the narrow band 0.5 < first pixel < 0.52, and the gradient points
    at the band from both sides. From 0.45, small PGD steps (eps 0.1) walk into it, but the large steps of
    a large eps jump over it back and forth: robust accuracy rises with eps."""

    def forward(self, x: Tensor) -> Tensor:
        x0 = x.flatten(1)[:, 0]
        z1 = 10 * (x0 - 0.5) - 1000 * torch.relu(x0 - 0.52)
        return torch.stack([torch.zeros_like(z1), z1], dim=1)


def build(kind: str) -> nn.Module:
    torch.manual_seed(0)
    models = {
        "flat": lambda: linear(K),
        "robin": lambda: RobinClassifier([linear(1) for _ in range(K)]),
        "har": lambda: HARClassifier(linear(2), [linear(2), linear(2)], rb.Hierarchy.from_groups([[0, 1], [2, 3]])),
        "round": lambda: nn.Sequential(Round(), linear(K)),
        "softmax": lambda: nn.Sequential(linear(K), nn.Softmax(dim=1)),
        "noise": lambda: nn.Sequential(linear(K), Noise()),
        "dropout": lambda: nn.Sequential(nn.Flatten(), nn.Linear(D, 32), nn.ReLU(), AlwaysDropout(), nn.Linear(32, K)),
        "wiggle": lambda: nn.Sequential(Wiggle(), linear(K)),
        "dead_arm": lambda: RobinClassifier([linear(1), linear(1), HalfDead()]),
        "nan_grad": lambda: nn.Sequential(NanGrad(), linear(K)),
        "band": Band,
    }
    return models[kind]()


class AlwaysDropout(nn.Module):
    """Dropout that ignores eval mode."""

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.dropout(x, p=0.5, training=True)


def check(kind: str, eps: float = 0.05, n: int = 16) -> SanityReport:
    model = build(kind)
    g = torch.Generator().manual_seed(1)
    if kind == "wiggle":  # on the grid of Wiggle, away from the box edges
        x = torch.randint(3, 8, (n, *SHAPE), generator=g) / 10.0
    else:
        x = torch.rand((n, *SHAPE), generator=g)
    if kind == "band":  # 0.05 below the band of Band
        x[:, 0, 0, 0] = 0.45
    with torch.no_grad():
        y = model(x).argmax(1)
    return sanity_check(model, x, y, norm="Linf", eps=eps)


@pytest.mark.parametrize("kind", ["flat", "robin", "har"])
def test_clean_linear_models_raise_no_flag(kind: str) -> None:
    report = check(kind)
    assert report.flags == [] and not report.unreliable
    assert report.robust_acc["pgd@1"] == 0.0
    assert all(0.0 <= v <= 1.0 for v in report.robust_acc.values())


@pytest.mark.parametrize(
    ("kind", "code", "eps"),
    [
        ("round", "zero_grad", 0.05),
        ("round", "black_box_stronger", 0.05),
        ("softmax", "probability_output", 0.05),
        ("noise", "randomized", 0.05),
        ("dropout", "randomized", 0.05),
        ("wiggle", "single_step_stronger", 0.1),
        ("dead_arm", "zero_grad", 0.05),
        ("nan_grad", "nonfinite_grad", 0.05),
        ("band", "eps_not_monotone", 0.1),
    ],
)
def test_each_failure_mode_is_flagged(kind: str, code: str, eps: float) -> None:
    report = check(kind, eps=eps)
    assert code in report.codes, report.flags
    assert report.unreliable
    assert all(c in FLAG_CODES for c in report.codes)


def test_zero_gradient_names_the_arm() -> None:
    reasons = [reason for code, reason in check("dead_arm").flags if code == "zero_grad"]
    assert any(r.startswith("arm 2:") for r in reasons) and not any(r.startswith("arm 0:") for r in reasons)


def test_har_log_probabilities_are_not_probabilities_but_softmax_of_them_is() -> None:
    har = build("har")
    x = torch.rand((8, *SHAPE), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = har(x).argmax(1)
    assert "probability_output" not in sanity_check(har, x, y, eps=0.05).codes
    probs = nn.Sequential(har, nn.Softmax(dim=1))  # softmax of log-probs = exp = probabilities
    assert "probability_output" in sanity_check(probs, x, y, eps=0.05).codes


def test_gradient_masked_model_is_robust_at_a_large_eps_and_not_monotone() -> None:
    report = check("round")
    assert "large_eps_robust" in report.codes
    assert report.robust_acc["pgd@1"] > 0.05


def test_model_mode_is_restored() -> None:
    model = build("flat")
    model.train()
    x = torch.rand((4, *SHAPE))
    sanity_check(model, x, torch.zeros(4, dtype=torch.long), eps=0.05)
    assert model.training


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": -1.0}, "eps"),
        ({"eps": 0.1, "norm": "L1"}, "norm"),
        ({"eps": 0.1, "eps_factors": (2.0, 0.5)}, "eps_factors"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], match: str) -> None:
    x = torch.rand((4, *SHAPE))
    with pytest.raises(RobinBenchError, match=match):
        sanity_check(build("flat"), x, torch.zeros(4, dtype=torch.long), **kwargs)  # type: ignore[arg-type]
