"""evaluate's own threat model, input copies, NaN refusal, no-op flags and the criterion hand-off."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import PGD, Attack, AutoAttack, Coarse, Fine
from robin_bench.errors import RobinBenchError

from .linear_models import linear_problem

H = rb.Hierarchy.from_groups([[0, 1], [2, 3]])


class MutatesInPlace(Attack):
    """Moves its input tensor far away in place and returns it: the ball must be measured to the original."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__("MutatesInPlace", model, norm="Linf", eps=0.05)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        images.add_(0.5).clamp_(0, 1)
        return images


class ThirdParty:
    """A third-party attack without a threat attribute, returning ``fn(x)``."""

    def __init__(self, fn) -> None:  # type: ignore[no-untyped-def]
        self.fn = fn

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        return self.fn(x)


def problem() -> tuple[nn.Module, Tensor, Tensor]:
    model, x, y = linear_problem(4, 16, 0.05, seed=0)
    return model, x, y


def test_an_attack_mutating_its_input_in_place_is_caught_and_the_data_untouched():
    model, x, y = problem()
    x_before = x.clone()
    with pytest.raises(RobinBenchError, match="MutatesInPlace.*norm"):
        rb.evaluate(model, x, y, [MutatesInPlace(model)])
    assert torch.equal(x, x_before), "the caller's inputs must not change"


def test_third_party_attacks_are_checked_against_the_evaluations_ball():
    model, x, y = problem()
    escapes = ThirdParty(lambda x: (x + 0.3).clamp(0, 1))
    with pytest.raises(RobinBenchError, match="pass norm="):
        rb.evaluate(model, x, y, {"escapes": escapes})
    with pytest.raises(RobinBenchError, match="escapes.*eps 0.1"):
        rb.evaluate(model, x, y, {"escapes": escapes}, norm="Linf", eps=0.1)
    with pytest.raises(RobinBenchError, match="escapes.*eps 0.05"):
        rb.evaluate(model, x, y, {"pgd": PGD(model, eps=0.05), "escapes": escapes})
    ta_pgd = torchattacks.PGD(model, eps=0.05, alpha=0.01, steps=5)
    res = rb.evaluate(model, x, y, {"ta": ta_pgd}, norm="Linf", eps=0.05)
    assert res.robust_acc < res.clean_acc


def test_nan_and_infinite_outputs_are_refused():
    model, x, y = problem()
    for bad in (float("nan"), float("inf")):
        attack = ThirdParty(lambda x, bad=bad: torch.cat([torch.full_like(x[:1], bad), x[1:]]))
        with pytest.raises(RobinBenchError, match="NaN or infinite"):
            rb.evaluate(model, x, y, {"bad": attack}, norm="Linf", eps=0.1)


def test_threat_models_must_agree_or_be_given():
    model, x, y = problem()
    with pytest.raises(RobinBenchError, match="disagree"):
        rb.evaluate(model, x, y, [PGD(model, eps=0.05), PGD(model, eps=0.1)])
    with pytest.raises(RobinBenchError, match="outside the evaluation"):
        rb.evaluate(model, x, y, [PGD(model, eps=0.1)], eps=0.05)
    with pytest.raises(RobinBenchError, match="outside the evaluation"):
        rb.evaluate(model, x, y, [PGD(model, norm="L2", eps=0.1)], norm="Linf", eps=0.1)
    res = rb.evaluate(model, x, y, [PGD(model, eps=0.05, steps=2), PGD(model, eps=0.1, steps=2)], eps=0.1)
    assert res.n == len(y)


def test_an_attack_that_does_nothing_is_flagged_and_one_that_works_is_not():
    model, x, y = problem()
    res = rb.evaluate(
        model, x, y, {"identity": ThirdParty(lambda x: x), "pgd": PGD(model, eps=0.05, steps=5)}, norm="Linf", eps=0.05
    )
    assert [code for code, _ in res.flags] == ["noop_attack"]
    assert "'identity'" in res.flags[0][1] and "unchanged" in res.flags[0][1]
    assert rb.evaluate(model, x, y, [PGD(model, eps=0.05, steps=5)]).flags == []


def test_autoattack_breaking_nothing_is_not_a_noop():
    model, x, y = problem()
    aa = AutoAttack(model, eps=1e-4, version="custom", attacks_to_run=["apgd-ce"], n_iter=2)
    res = rb.evaluate(model, x, y, [aa])
    assert res.robust_acc == res.clean_acc, "the radius is too small to break anything"
    assert res.flags == []


def test_evaluate_hands_its_criterion_to_our_attacks_and_restores_it():
    model, x, y = problem()
    pgd = PGD(model, eps=0.05, steps=5)
    seen: list[object] = []
    inner = pgd.forward

    def spy(images: Tensor, labels: Tensor) -> Tensor:
        seen.append(pgd.criterion)
        return inner(images, labels)

    pgd.forward = spy  # type: ignore[method-assign]
    rb.evaluate(model, x, y, [pgd], criterion="coarse", hierarchy=H)
    assert seen and all(c == Coarse(H) for c in seen)
    assert pgd.criterion == Fine()
    escapes = ThirdParty(lambda x: (x + 0.3).clamp(0, 1))
    with pytest.raises(RobinBenchError, match="escapes"):
        rb.evaluate(model, x, y, {"pgd": pgd, "escapes": escapes}, criterion="coarse", hierarchy=H, early_exit=False)
    assert pgd.criterion == Fine(), "restored also when evaluate fails"
