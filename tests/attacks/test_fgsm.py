"""FGSM: exact on binary linear models, one step of size eps, one gradient evaluation per sample."""

from __future__ import annotations

import pytest
import torch

from robin_bench.attacks import FGSM

from .linear_models import assert_known_answers, linear_problem

EPS = {"L2": 0.4, "Linf": 0.15}


@pytest.mark.parametrize("norm", list(EPS))
def test_breaks_exactly_the_samples_within_eps_of_a_binary_linear_model(norm: str) -> None:
    # For two classes the loss gradient is parallel to w_other - w_y, so one step along its sign (Linf)
    # or its direction (L2) is the optimal perturbation: FGSM is exact.
    model, x, y = linear_problem(2, 64, EPS[norm], seed=0)
    assert_known_answers(FGSM(model, norm=norm, eps=EPS[norm]), model, x, y, norm, EPS[norm])


@pytest.mark.parametrize("norm", list(EPS))
def test_takes_one_full_step_and_one_gradient_per_sample(norm: str) -> None:
    eps = EPS[norm]
    model, x, y = linear_problem(4, 16, eps, seed=1)
    attack = FGSM(model, norm=norm, eps=eps)
    delta = (attack(x, y) - x).flatten(1)
    size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    torch.testing.assert_close(size, torch.full_like(size, eps))
    assert attack.grad_evals == 16


def test_is_deterministic_without_random_start() -> None:
    model, x, y = linear_problem(4, 16, 0.1, seed=1)
    assert torch.equal(FGSM(model, eps=0.1, seed=0)(x, y), FGSM(model, eps=0.1, seed=9)(x, y))
