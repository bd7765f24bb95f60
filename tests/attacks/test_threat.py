"""ThreatModel: projection and random start stay in the ball and the box; eps=0 is the identity; bad values raise."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robin_bench.attacks import CW, FGSM, PGD, ThreatModel
from robin_bench.errors import RobinBenchError

from .linear_models import Linear, linear_problem

TOL = 1e-6

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
norms = st.sampled_from(["Linf", "L2"])
radii = st.one_of(st.just(0.0), st.floats(1e-4, 1.0))
seeds = st.integers(0, 2**31 - 1)


def _inputs(n: int, shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g)
    x[..., 0] = torch.randint(0, 2, x[..., 0].shape, generator=g).float()  # inputs on the box faces too
    far = x + 3 * torch.randn(x.shape, generator=g)
    return x, far


def _assert_in_ball_and_box(tm: ThreatModel, x_adv: torch.Tensor, x: torch.Tensor) -> None:
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert float(tm.norm_of(x_adv - x).max()) <= tm.eps + TOL


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 4), shape=shapes, norm=norms, eps=radii, seed=seeds)
def test_project_lands_in_ball_and_box_and_is_idempotent(
    n: int, shape: tuple[int, ...], norm: str, eps: float, seed: int
) -> None:
    tm = ThreatModel(norm, eps)  # type: ignore[arg-type]
    x, far = _inputs(n, shape, seed)
    p = tm.project(far, x)
    _assert_in_ball_and_box(tm, p, x)
    torch.testing.assert_close(tm.project(p, x), p, rtol=0, atol=TOL)
    if eps == 0:
        assert torch.equal(p, x)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 4), shape=shapes, norm=norms, eps=radii, seed=seeds)
def test_random_start_lands_in_ball_and_box(n: int, shape: tuple[int, ...], norm: str, eps: float, seed: int) -> None:
    tm = ThreatModel(norm, eps)  # type: ignore[arg-type]
    x, _ = _inputs(n, shape, seed)
    start = tm.random_start(x, torch.Generator().manual_seed(seed))
    _assert_in_ball_and_box(tm, start, x)
    if eps == 0:
        assert torch.equal(start, x)


def test_project_keeps_points_already_inside() -> None:
    tm = ThreatModel("L2", 0.5)
    x = torch.full((3, 1, 2, 2), 0.5)
    inside = x + 0.1
    assert torch.equal(tm.project(inside, x), inside)


@pytest.mark.parametrize("make", [PGD, CW, FGSM], ids=["pgd", "cw", "fgsm"])
@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_eps_zero_returns_the_input_unchanged(make: type, norm: str) -> None:
    model, x, y = linear_problem(4, 8, 0.0, seed=0)
    assert torch.equal(make(model, norm=norm, eps=0.0)(x, y), x)


@pytest.mark.parametrize(
    ("norm", "eps", "match"),
    [
        ("L1", 0.1, "norm 'L1'"),
        ("linf", 0.1, "norm 'linf'"),
        ("L2", -0.1, "-0.1"),
        ("Linf", -1e-9, "eps"),
        ("Linf", 8.0, "8.0/255"),
        ("L2", float("nan"), "nan"),
        ("L2", float("inf"), "inf"),
    ],
)
def test_bad_norm_or_eps_raises(norm: str, eps: float, match: str) -> None:
    with pytest.raises(RobinBenchError, match=match):
        ThreatModel(norm, eps)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [PGD, CW, FGSM], ids=["pgd", "cw", "fgsm"])
def test_attacks_reject_bad_threat_models(make: type) -> None:
    model, _, _ = linear_problem(2, 1, 0.0, seed=0)
    with pytest.raises(RobinBenchError, match="exceeds"):
        make(model, norm="Linf", eps=8)
    with pytest.raises(RobinBenchError, match="norm"):
        make(model, norm="L3", eps=0.1)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), shape=shapes, norm=norms, eps=radii, seed=seeds, which=st.integers(0, 2))
def test_attack_outputs_never_leave_ball_or_box(
    n: int, shape: tuple[int, ...], norm: str, eps: float, seed: int, which: int
) -> None:
    x, _ = _inputs(n, shape, seed)
    d = x[0].numel()
    model = Linear(torch.randn(3, d, generator=torch.Generator().manual_seed(seed)), torch.zeros(3))
    y = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed))
    kwargs = {"norm": norm, "eps": eps}
    attack = [PGD(model, steps=3, **kwargs), CW(model, steps=3, **kwargs), FGSM(model, **kwargs)][which]
    _assert_in_ball_and_box(ThreatModel(norm, eps), attack(x, y), x)  # type: ignore[arg-type]
