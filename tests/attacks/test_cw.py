"""CW: known answers on linear models (L2 search and Linf PGD form), projection, any objective, counting."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from robin_bench.attacks import CW, PGD
from robin_bench.attacks.cw import cw_l2
from robin_bench.attacks.losses import margin
from robin_bench.errors import RobinBenchError

from .linear_models import Linear, assert_known_answers, broken, exact_distance, linear_problem

EPS = {(2, "L2"): 0.4, (2, "Linf"): 0.15, (4, "L2"): 0.16, (4, "Linf"): 0.05}


@pytest.mark.parametrize(("k", "norm"), list(EPS))
def test_breaks_exactly_the_samples_within_eps_of_a_linear_model(k: int, norm: str) -> None:
    eps = EPS[k, norm]
    model, x, y = linear_problem(k, 64, eps, seed=0)
    # Linf CW ascends the multi-class margin from a random start; with 4 classes the start decides
    # whether one sample at 0.84 eps is found (seed 0 misses it, seeds 1-5 do not): the seed is fixed.
    assert_known_answers(CW(model, norm=norm, eps=eps, steps=100, seed=1), model, x, y, norm, eps)


@pytest.mark.parametrize(("norm", "eps"), [("L2", 0.5), ("Linf", 0.07)])
def test_defaults_break_what_pgd_breaks_on_a_trained_mlp(
    digits_mlp: tuple[nn.Module, Tensor, Tensor], norm: str, eps: float
) -> None:
    # A user running CW(model, norm=..., eps=...) must not get false robustness: with the old default
    # lr=0.01 the L2 search left robust accuracy near 0.6 where PGD reaches about 0.3.
    model, x, y = digits_mlp
    pgd = broken(model, PGD(model, norm=norm, eps=eps, steps=20, loss="margin")(x, y), y)
    cw = broken(model, CW(model, norm=norm, eps=eps)(x, y), y)
    assert 0.2 < float(pgd.float().mean()) < 0.8, "eps must put robust accuracy mid-range"
    assert float(cw.float().mean()) >= float(pgd.float().mean()) - 0.02
    assert float((pgd & ~cw).float().mean()) <= 0.03, "CW misses samples PGD breaks"


@pytest.mark.parametrize("c", [1e-2, 1e3])
def test_l2_output_is_inside_the_ball_whatever_the_initial_c(c: float) -> None:
    eps = EPS[4, "L2"]
    model, x, y = linear_problem(4, 64, eps, seed=0)
    x_adv = CW(model, norm="L2", eps=eps, c=c, steps=100)(x, y)
    assert float((x_adv - x).flatten(1).norm(dim=1).max()) <= eps + 1e-6
    assert bool(broken(model, x_adv, y)[exact_distance(model, x, y, "L2") < 0.9 * eps].all())


def test_l2_search_recovers_from_a_far_too_large_c() -> None:
    # c = 1e4 overshoots past the boundary and far outside the ball in the first rounds; the point
    # returned must still be an adversarial inside the ball for every sample the closed form allows.
    eps = EPS[2, "L2"]
    model, x, y = linear_problem(2, 64, eps, seed=0)
    assert_known_answers(CW(model, norm="L2", eps=eps, c=1e4, steps=30, lr=0.1), model, x, y, "L2", eps)


def test_cw_l2_optimizes_any_margin_like_objective() -> None:
    model, x, y = linear_problem(4, 32, 0.16, seed=0)
    target = torch.full_like(y, 2)

    def push_class_2(out: Tensor, t: Tensor) -> Tensor:
        return out[:, 2] - out.scatter(1, t[:, None], float("-inf")).amax(1)

    def is_class_2(out: Tensor, t: Tensor) -> Tensor:
        return out.argmax(1) == 2

    attack = CW(model, norm="L2", eps=3.0)
    x_adv = cw_l2(
        attack, x, target, push_class_2, is_class_2, c=1.0, kappa=0.0, steps=100, lr=0.01, binary_search_steps=5
    )
    with torch.no_grad():
        assert bool((model(x_adv).argmax(1) == 2).all())
    assert attack.grad_evals > 0


def test_kappa_buys_confidence_beyond_the_boundary() -> None:
    model, x, y = linear_problem(2, 8, 0.4, seed=0)

    def confident(out: Tensor, aux: Tensor) -> Tensor:
        return margin(out, aux) > 1.0

    # lr=0.01: steps fine enough not to overshoot the boundary by a margin of 1 when kappa = 0
    kwargs = {"norm": "L2", "eps": 3.0, "steps": 100, "binary_search_steps": 3, "lr": 0.01}
    x_adv = CW(model, kappa=1.0, **kwargs).optimize(x, y, margin, confident)
    x_flat = CW(model, kappa=0.0, **kwargs).optimize(x, y, margin, confident)
    with torch.no_grad():
        assert bool((margin(model(x_adv), y) > 1.0).all())
        assert not bool((margin(model(x_flat), y) > 1.0).any())  # kappa = 0 stops pushing at the boundary


@pytest.mark.parametrize(("norm", "per_sample"), [("L2", 20 * 3), ("Linf", 20)])
def test_grad_evals_on_a_model_that_cannot_be_broken(norm: str, per_sample: int) -> None:
    model = Linear(torch.zeros(2, 16), torch.tensor([1.0, 0.0]))
    x = torch.rand(5, 1, 4, 4)
    y = torch.zeros(5, dtype=torch.long)
    attack = CW(model, norm=norm, eps=0.3, steps=20, binary_search_steps=3)
    x_adv = attack(x, y)
    assert attack.grad_evals == 5 * per_sample
    assert not bool(broken(model, x_adv, y).any())


@pytest.mark.parametrize(
    "kwargs", [{"steps": 0}, {"binary_search_steps": 0}, {"c": 0.0}, {"lr": -1.0}, {"kappa": -0.1}]
)
def test_bad_hyperparameters_raise(kwargs: dict[str, float]) -> None:
    model = Linear(torch.zeros(2, 16), torch.zeros(2))
    with pytest.raises(RobinBenchError, match=next(iter(kwargs))):
        CW(model, **kwargs)
