"""Escalation: survivors re-attacked at full budgets, merged per sample; the masking count over both groups."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import PGD, RayS
from robin_bench.attacks.escalation import SUFFIX, escalate, grown, merged_masking_evidence
from robin_bench.attacks.evaluate import EvalResult
from robin_bench.attacks.sanity import HEALTHY_RATE, Evidence, count_tolerance


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 4)).eval()


def data(model: nn.Module, n: int = 40) -> tuple[Tensor, Tensor]:
    x = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return x, model(x).argmax(1)


def test_grown_keeps_only_attacks_whose_budget_grows() -> None:
    model = mlp()
    cut = {"pgd": PGD(model, eps=0.1, steps=5), "rays": RayS(model, eps=0.1, queries=10)}
    full = {"pgd": PGD(model, eps=0.1, steps=5), "rays": RayS(model, eps=0.1, queries=100), "new": PGD(model, eps=0.1)}
    assert list(grown(cut, full, 4)) == ["rays"]


def test_escalate_appends_the_full_attacks_on_the_survivors_only() -> None:
    model = mlp()
    x, y = data(model)
    cut = {"pgd": PGD(model, eps=0.1, steps=1, random_start=False), "rays": RayS(model, eps=0.1, queries=5)}
    base = rb.evaluate(model, x, y, cut)
    full = {"rays": RayS(model, eps=0.1, queries=300)}
    merged = escalate(model, x, y, base, full)
    assert merged.names == ["pgd", "rays", "rays" + SUFFIX]
    assert not bool(merged.ran["rays" + SUFFIX][~base.robust].any()), "only the survivors are re-attacked"
    assert torch.equal(merged.robust, base.robust & ~merged.success["rays" + SUFFIX])
    assert merged.robust_acc < base.robust_acc
    assert escalate(model, x, y, merged, {}) is merged


def _result(success: dict[str, list[int]], n: int = 50) -> EvalResult:
    correct = torch.ones(n, dtype=torch.bool)
    alive, hits, ran = correct.clone(), {}, {}
    for name, rows in success.items():
        hit = torch.zeros(n, dtype=torch.bool)
        hit[rows] = True
        hit &= alive
        ran[name], hits[name] = alive.clone(), hit
        alive &= ~hit
    return EvalResult(names=list(success), criterion="fine", clean_correct=correct, robust=alive, success=hits, ran=ran)


def test_merged_evidence_counts_each_group_and_names_the_attacks() -> None:
    res = _result({"pgd": [0, 1], "square": [2, 3], f"pgd{SUFFIX}": [4], f"square{SUFFIX}": [5, 6]})
    family = {"pgd": "gradient", "square": "gradient_free"}
    ev = merged_masking_evidence(res, family, ["pgd", "square"])
    assert ev.samples == (2, 3, 5, 6) and ev.broken_by == ("square", "square", f"square{SUFFIX}", f"square{SUFFIX}")
    assert ev.n == 50 and ev.tolerance == count_tolerance(50, HEALTHY_RATE["black_box_stronger"])
    assert "2 (square), 3 (square), 5 (square@full)" in ev.flag[1]


def test_borderline_is_looser_than_the_flag() -> None:
    n, p0 = 100, HEALTHY_RATE["black_box_stronger"]
    t = count_tolerance(n, p0)
    loose = count_tolerance(n, p0, 0.05)
    assert loose < t
    at_loose = Evidence("black_box_stronger", loose + 1, n, t, "x")
    assert at_loose.borderline and not at_loose.flagged
    assert not Evidence("black_box_stronger", loose, n, t, "x").borderline
