"""AutoAttack through pyautoattack on ROBIN, HAR and flat models; few-class handling; rb.evaluate integration."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import robin_bench as rb
from robin_bench.attacks import ATTACKS, PGD
from robin_bench.attacks.autoattack import AutoAttack
from robin_bench.errors import RobinBenchError
from robin_bench.models import HARClassifier, RobinClassifier

SHAPE = (1, 8, 8)
D = 64


def linear(k: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(D, k))


def build(kind: str, k: int = 4) -> nn.Module:
    torch.manual_seed(0)
    if kind == "robin":
        return RobinClassifier([linear(1) for _ in range(k)])
    if kind == "har":
        h = rb.Hierarchy.from_groups([[0, 1], [2, 3]])
        return HARClassifier(linear(2), [linear(2), linear(2)], h)
    return linear(k)


def data(model: nn.Module, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded inputs labelled with the model's predictions (clean accuracy 1)."""
    x = torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return x, model(x).argmax(1)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


SETTINGS: dict[str, dict[str, Any]] = {
    "custom_apgd_ce": {"version": "custom", "attacks_to_run": ["apgd-ce"], "n_iter": 10},
    "standard": {"version": "standard", "n_iter": 5, "n_queries": 50},
}


@pytest.mark.parametrize("kind", ["robin", "har", "flat"])
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("norm,eps", [("Linf", 0.3), ("L2", 3.0)])
def test_autoattack_breaks_models_inside_the_ball_and_counts_costs(
    kind: str, setting: str, norm: str, eps: float
) -> None:
    model = build(kind)
    x, y = data(model)
    attack = AutoAttack(model, norm=norm, eps=eps, **SETTINGS[setting])  # type: ignore[arg-type]
    x_adv = attack(x, y)
    assert x_adv.shape == x.shape and torch.isfinite(x_adv).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert bool((attack.threat.norm_of(x_adv - x) <= eps + 1e-5).all())
    assert accuracy(model, x_adv, y) <= 0.25
    assert attack.grad_evals >= len(x) and attack.queries > attack.grad_evals // 10
    assert attack.warnings == []


def test_grad_evals_count_apgd_steps_exactly() -> None:
    # APGD with n_iter steps: one gradient at the start plus one per step, per sample and restart;
    # the custom version keeps AutoAttack's 5 APGD restarts.
    model = build("flat")
    x, y = data(model)
    attack = AutoAttack(model, eps=1e-4, version="custom", attacks_to_run=["apgd-ce"], n_iter=7)
    robust = accuracy(model, attack(x, y), y)
    assert robust == 1.0  # a tiny eps breaks nothing, so every sample spends every step
    assert attack.grad_evals == len(x) * (1 + 7) * 5


def test_standard_version_runs_on_three_classes_by_dropping_apgd_t() -> None:
    model = build("flat", k=3)
    x, y = data(model)
    attack = AutoAttack(model, eps=0.01, version="standard", n_iter=3, n_queries=20)
    x_adv = attack(x, y)
    assert attack.dropped == ["apgd-t"]
    assert attack.attacks_to_run == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert attack.warnings == []  # no class-count complaint from pyautoattack's checks
    assert bool((attack.threat.norm_of(x_adv - x) <= 0.01 + 1e-6).all())


def test_custom_version_refuses_attacks_the_class_count_cannot_run() -> None:
    model = build("robin", k=2)
    x, y = data(model)
    with pytest.raises(RobinBenchError, match="apgd-dlr"):
        AutoAttack(model, eps=0.1, version="custom", attacks_to_run=["apgd-ce", "apgd-dlr"], n_iter=2)(x, y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"version": "fast"}, "version"),
        ({"version": "standard", "attacks_to_run": ["apgd-ce"]}, "attacks_to_run"),
        ({"version": "custom"}, "attacks_to_run"),
        ({"version": "custom", "attacks_to_run": ["apgd-xx"]}, "apgd-xx"),
        ({"n_iter": 0}, "n_iter"),
        ({"n_classes": 1}, "n_classes"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(RobinBenchError, match=match):
        AutoAttack(build("flat"), eps=0.1, **kwargs)


def test_wrong_n_classes_is_reported() -> None:
    model = build("flat")
    x, y = data(model)
    with pytest.raises(RobinBenchError, match="n_classes=5"):
        AutoAttack(model, eps=0.1, n_classes=5, version="custom", attacks_to_run=["apgd-ce"], n_iter=2)(x, y)


def test_eps_zero_is_identity_and_global_rng_is_left_alone() -> None:
    model = build("robin")
    x, y = data(model)
    assert torch.equal(AutoAttack(model, eps=0.0)(x, y), x)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    AutoAttack(model, eps=0.1, version="custom", attacks_to_run=["apgd-ce", "square"], n_iter=3, n_queries=10)(x, y)
    assert torch.equal(torch.rand(3), expected)


def test_same_seed_gives_the_same_result() -> None:
    model = build("har")
    x, y = data(model)
    kwargs: dict[str, Any] = {"version": "custom", "attacks_to_run": ["apgd-ce", "square"], "n_iter": 5}
    kwargs["n_queries"] = 30
    runs = [AutoAttack(model, eps=0.05, **kwargs)(x, y) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


def test_probability_outputs_are_reported_in_warnings() -> None:
    model = nn.Sequential(build("flat"), nn.Softmax(dim=1))
    x, y = data(model)
    attack = AutoAttack(model, eps=0.01, version="custom", attacks_to_run=["apgd-ce"], n_iter=2)
    attack(x, y)
    assert any("probability" in w for w in attack.warnings)


def test_registered_and_usable_in_the_worst_case_of_evaluate() -> None:
    assert ATTACKS.get("autoattack") is AutoAttack
    model = build("robin")
    x, y = data(model, n=12)
    weak = PGD(model, eps=0.05, alpha=0.005, steps=1, random_start=False)
    aa = ATTACKS.get("autoattack")(
        model, norm="Linf", eps=0.05, version="custom", attacks_to_run=["apgd-ce"], n_iter=20
    )
    result = rb.evaluate(model, x, y, {"pgd1": weak, "autoattack": aa})
    alone = rb.evaluate(model, x, y, {"pgd1": PGD(model, eps=0.05, alpha=0.005, steps=1, random_start=False)})
    assert result.robust_acc < alone.robust_acc  # AutoAttack breaks samples the weak attack left
    assert torch.equal(result.robust, alone.robust & ~result.success["autoattack"])
    assert result.grad_evals["autoattack"] == aa.grad_evals > 0
