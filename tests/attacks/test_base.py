"""Attack.ascend's explicit start: the first iterate, projected; later restarts start as random_start says.
record_best: first success or best score per sample, in place."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from robin_bench.attacks import PGD
from robin_bench.attacks.base import record_best
from robin_bench.attacks.losses import ce, never
from robin_bench.errors import RobinBenchError

from .linear_models import linear_problem


def always(out: Tensor, _: Tensor) -> Tensor:
    return torch.ones(out.shape[0], dtype=torch.bool)


@pytest.mark.parametrize("norm,eps", [("Linf", 0.05), ("L2", 0.2)])
def test_start_is_the_first_iterate_projected_into_ball_and_box(norm: str, eps: float) -> None:
    model, x, y = linear_problem(3, 8, 0.0, seed=0)
    attack = PGD(model, norm=norm, eps=eps, steps=3)  # type: ignore[arg-type]
    start = x + torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    out = attack.ascend(x, y, ce, always, steps=3, alpha=attack.alpha, start=start, random_start=True)
    assert torch.equal(out, attack.threat.project(start, x))
    assert attack.grad_evals == len(y), "success at the start: one gradient evaluation per sample"


@pytest.mark.parametrize("success", [never, None], ids=["early_exit", "no_early_exit"])
def test_start_at_x_equals_no_random_start(success) -> None:
    model, x, y = linear_problem(3, 8, 0.05, seed=0)
    attack = PGD(model, eps=0.05, steps=4)
    kw = dict(steps=4, alpha=attack.alpha)
    from_clean = attack.ascend(x, y, ce, success, random_start=False, **kw)
    from_x = attack.ascend(x, y, ce, success, random_start=True, start=x.clone(), **kw)
    assert torch.equal(from_clean, from_x)
    from_random = attack.ascend(x, y, ce, success, random_start=True, generator=attack.generator(x), **kw)
    assert not torch.equal(from_random, from_x)


def test_start_applies_to_the_first_run_only() -> None:
    model, x, y = linear_problem(3, 8, 0.05, seed=0)
    attack = PGD(model, eps=0.05, steps=2)
    kw = dict(steps=0, alpha=attack.alpha, random_start=True)
    two = attack.ascend(x, y, ce, never, restarts=2, start=x.clone(), generator=attack.generator(x), **kw)
    one = attack.ascend(x, y, ce, never, restarts=1, start=x.clone(), **kw)
    assert not torch.equal(two, one), "the second run must start at a random point, not at start"


def test_start_of_the_wrong_shape_raises() -> None:
    model, x, y = linear_problem(3, 4, 0.05, seed=0)
    attack = PGD(model, eps=0.05, steps=2)
    with pytest.raises(RobinBenchError, match="start has shape"):
        attack.ascend(x, y, ce, never, steps=2, alpha=0.01, start=x[:2])


def test_record_best_keeps_success_or_higher_score_and_drops_broken_samples() -> None:
    best, best_score = torch.zeros(4, 2), torch.tensor([0.0, 0.0, 5.0, 1.0])
    broken = torch.tensor([False, False, False, True])
    active = torch.tensor([0, 1, 2])
    candidate = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    score, ok = torch.tensor([-1.0, 1.0, 4.0]), torch.tensor([True, False, False])
    keep = record_best(best, best_score, broken, active, candidate, score, ok)
    assert keep.tolist() == [False, True, True]
    assert best.tolist() == [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0], [0.0, 0.0]], "success wins even at a lower score"
    assert best_score.tolist() == [-1.0, 1.0, 5.0, 1.0]
    assert broken.tolist() == [True, False, False, True]
