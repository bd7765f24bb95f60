"""Linear classifiers with a closed-form minimal adversarial perturbation, for known-answer tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn

DUAL = {"L2": 2.0, "Linf": 1.0}


class Linear(nn.Module):
    """``f(x) = W flatten(x) + b``: (N, C, H, W) -> (N, K) logits."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def exact_distance(model: Linear, x: Tensor, y: Tensor, norm: str) -> Tensor:
    """(N,) smallest ``norm`` perturbation changing the argmax away from ``y``, ignoring the box.

    ``min_{j != y} (z_y - z_j) / ||w_y - w_j||_q`` with ``q`` the dual norm (2 for L2, 1 for Linf).
    """
    with torch.no_grad():
        z = model(x)
        w = model.weight
        diff = w[y][:, None, :] - w[None, :, :]
        dist = (z.gather(1, y[:, None]) - z) / diff.norm(p=DUAL[norm], dim=2).clamp_min(1e-12)
        return dist.scatter(1, y[:, None], float("inf")).amin(1)


def linear_problem(k: int, n: int, eps: float, seed: int, scale: float = 1.0) -> tuple[Linear, Tensor, Tensor]:
    """A random ``k``-class linear model on (1, 4, 4) inputs and ``n`` inputs in [eps, 1 - eps], labelled by it.

    Inputs keep a distance ``eps`` from the box faces, so the whole Linf (hence L2) ball lies in the box.
    """
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(k, 16, generator=g) * scale
    bias = torch.randn(k, generator=g) * 0.1 * scale
    model = Linear(weight, bias)
    x = eps + (1 - 2 * eps) * torch.rand(n, 1, 4, 4, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def broken(model: nn.Module, x_adv: Tensor, y: Tensor) -> Tensor:
    """(N,) True where the model misclassifies ``x_adv``."""
    with torch.no_grad():
        return model(x_adv).argmax(1) != y


def assert_known_answers(
    attack: nn.Module, model: Linear, x: Tensor, y: Tensor, norm: str, eps: float, inside_factor: float = 0.9
) -> None:
    """The attack breaks every sample with exact distance < ``inside_factor`` eps and none with distance > eps."""
    assert bool(((x >= eps) & (x <= 1 - eps)).all()), "the box would bind: the closed form does not apply"
    d = exact_distance(model, x, y, norm)
    inside, outside = d < inside_factor * eps, d > eps
    assert bool(inside.any()) and bool(outside.any()), "the problem must have samples on both sides of eps"
    ok = broken(model, attack(x, y), y)
    missed = int((~ok[inside]).sum())
    assert missed == 0, f"missed {missed} of {int(inside.sum())} samples inside {inside_factor} eps"
    assert not bool(ok[outside].any()), "broke a sample whose exact distance exceeds eps"
