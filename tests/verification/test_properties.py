"""Soundness against attacks: no sample proven robust is broken by robin-bench's attacks, every counterexample
is inside the ball and the box and really changes the criterion's verdict, and a short time limit gives
``unknown``, never a wrong verdict."""

from __future__ import annotations

import pytest
import torch

import robin_bench as rb
from robin_bench.attacks.criteria import get_criterion
from tests.verification.models import flat, har, hierarchy, inputs, labels, robin

SHAPE = (1, 4, 4)
MODELS = {
    "flat": lambda: flat(16, (12, 12), 4, seed=4),
    "robin": lambda: robin(16, (8, 8), 4, seed=1),
    "har": lambda: har(16, (8,), seed=1),
}
EPS = {"Linf": 0.03, "L2": 0.1}


def assert_valid_counterexamples(
    model: torch.nn.Module, res: rb.VerifyResult, x: torch.Tensor, y: torch.Tensor, crit_name: str
) -> None:
    crit = get_criterion(crit_name, hierarchy())
    threat = rb.attacks.ThreatModel(res.norm, res.eps)
    assert set(res.counterexamples) == set(res.broken.nonzero().flatten().tolist())
    for i, cex in res.counterexamples.items():
        assert cex.shape == x[i].shape
        assert float(cex.min()) >= 0 and float(cex.max()) <= 1
        assert float(threat.norm_of((cex - x[i])[None])[0]) <= res.eps * (1 + 1e-6)
        with torch.no_grad():
            assert bool(crit.success(model(cex[None]), y[i : i + 1])[0]), f"counterexample {i} does not break"


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("criterion", ["fine", "coarse"])
def test_proofs_hold_against_attacks(kind: str, norm: str, criterion: str) -> None:
    model = MODELS[kind]()
    x = inputs(12, SHAPE, seed=2)
    y = labels(model, x)
    y[0] = (y[0] + 1) % 4  # one clean-misjudged sample (fine), broken by its clean input
    h = hierarchy()
    eps = EPS[norm]
    res = rb.verify(model, x, y, norm=norm, eps=eps, criterion=criterion, hierarchy=h, time_limit=20)
    assert_valid_counterexamples(model, res, x, y, criterion)
    if criterion == "fine":
        assert res.status[0] == "broken"
    attacks = {
        "pgd_ce": rb.attacks.PGD(model, norm=norm, eps=eps, steps=40, restarts=2),
        "pgd_margin": rb.attacks.PGD(model, norm=norm, eps=eps, steps=40, loss="margin", restarts=2),
    }
    attacked = rb.evaluate(model, x, y, attacks, criterion=criterion, hierarchy=h, early_exit=False)
    missed = rb.cross_check(res, attacked)  # raises on a proof an attack broke
    assert all(res.status[i] == "broken" for i in missed)
    assert bool(attacked.robust[res.verified].all())
    assert "verified" in res.status


BIGGER = {
    "flat": lambda: flat(16, (48, 48), 4, seed=4),
    "robin": lambda: robin(16, (24, 24), 4, seed=1),
    "har": lambda: har(16, (24, 24), seed=1),
}


@pytest.mark.parametrize("kind", list(BIGGER))
def test_time_limit_gives_unknown_never_a_wrong_verdict(kind: str) -> None:
    model = BIGGER[kind]()
    x = inputs(4, SHAPE, seed=3)
    y = labels(model, x)
    full = rb.verify(model, x, y, eps=0.08, time_limit=30)
    short = rb.verify(model, x, y, eps=0.08, time_limit=1e-6)
    for a, b in zip(short.status, full.status, strict=True):
        assert a in ("unknown", b) and (b != "unknown" or a == "unknown")
    needed_solver = [n for n in range(len(x)) if full.stats[n]["milps"] and not short.stats[n]["milps"]]
    assert needed_solver and all(short.status[n] == "unknown" for n in needed_solver)
    assert bool((short.margin_lower <= full.margin_upper + 1e-9).all())
    assert_valid_counterexamples(model, short, x, y, "fine")


def test_vectorized_robin_is_verified_like_its_loop() -> None:
    from robin_bench.models.vectorized import VectorizedRobin

    model = MODELS["robin"]()
    x = inputs(6, SHAPE, seed=4)
    y = labels(model, x)
    a = rb.verify(model, x, y, eps=0.1)
    b = rb.verify(VectorizedRobin.from_robin(model), x, y, eps=0.1)
    assert a.status == b.status
    assert torch.allclose(a.margin_lower, b.margin_lower)
