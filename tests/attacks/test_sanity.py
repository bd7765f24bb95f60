"""sanity_check: tiny models that each trigger one failure mode, clean models that trigger none, the count
tolerance at its boundary, and gradient-masked digits models (tests/attacks/masked_models.py) against their
healthy PGD-trained originals."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import cache

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks.evaluate import EvalResult
from robin_bench.attacks.sanity import (
    ALPHA,
    FLAG_CODES,
    HEALTHY_RATE,
    Evidence,
    SanityReport,
    count_tolerance,
    masking_evidence,
    masking_flags,
    sanity_check,
)
from robin_bench.errors import RobinBenchError
from robin_bench.models import HARClassifier, RobinClassifier
from tests.attacks import masked_models as mm

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


class Step(nn.Module):
    """Two classes; class 1 wins only where the first pixel exceeds 0.52, a step with zero gradient. From 0.5 at
    eps 0.1 only a random start past the step succeeds (two in five): more restarts break more samples."""

    def forward(self, x: Tensor) -> Tensor:
        x0 = x.flatten(1)[:, 0]
        z1 = 2 * (x0 > 0.52).to(x.dtype) - 1 + 0 * x0  # 0 * x0: a gradient path whose gradient is zero
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
        "step": Step,
    }
    return models[kind]()


class AlwaysDropout(nn.Module):
    """Dropout that ignores eval mode."""

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.dropout(x, p=0.5, training=True)


def check(kind: str, eps: float = 0.05, n: int = 32) -> SanityReport:
    model = build(kind)
    g = torch.Generator().manual_seed(1)
    if kind == "wiggle":  # on the grid of Wiggle, away from the box edges
        x = torch.randint(3, 8, (n, *SHAPE), generator=g) / 10.0
    else:
        x = torch.rand((n, *SHAPE), generator=g)
    if kind == "band":  # 0.05 below the band of Band
        x[:, 0, 0, 0] = 0.45
    if kind == "step":  # 0.02 below the step of Step
        x[:, 0, 0, 0] = 0.5
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
        ("band", "large_eps_robust", 0.1),
        ("step", "not_converged", 0.1),
    ],
)
def test_each_failure_mode_is_flagged(kind: str, code: str, eps: float) -> None:
    report = check(kind, eps=eps, n=64 if kind == "step" else 32)
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


def test_every_count_check_has_a_code_and_a_healthy_rate() -> None:
    assert set(HEALTHY_RATE) <= set(FLAG_CODES)
    assert all(0 < p0 < 1 for p0 in HEALTHY_RATE.values())
    report = check("flat")
    assert {e.code for e in report.evidence} == set(HEALTHY_RATE)
    assert all(
        0 <= e.count <= e.n and e.tolerance == count_tolerance(e.n, HEALTHY_RATE[e.code]) for e in report.evidence
    )


def _exact_tolerance(n: int, p0: Fraction, alpha: Fraction) -> int:
    """Smallest t with P(Binomial(n, p0) > t) <= alpha, in exact rational arithmetic."""
    tail = Fraction(1)
    for t in range(n + 1):
        tail -= math.comb(n, t) * p0**t * (1 - p0) ** (n - t)
        if tail <= alpha:
            return t
    raise AssertionError("the tail of a binomial reaches 0 at t = n")


@pytest.mark.parametrize(
    ("n", "p0"), [(0, 0.05), (1, 0.5), (10, 0.05), (64, 0.02), (100, 0.05), (300, 0.15), (1000, 0.02)]
)
def test_count_tolerance_is_the_exact_one_sided_binomial_bound(n: int, p0: float) -> None:
    exact = _exact_tolerance(n, Fraction(p0).limit_denominator(1000), Fraction(ALPHA).limit_denominator(10**6))
    assert count_tolerance(n, p0) == exact
    assert count_tolerance(n, p0) <= n


def test_count_tolerance_grows_with_n_and_the_healthy_rate() -> None:
    assert count_tolerance(100, 0.05) == 13
    assert count_tolerance(200, 0.05) > count_tolerance(100, 0.05)
    assert count_tolerance(100, 0.10) > count_tolerance(100, 0.05)
    assert count_tolerance(100, 0.05, alpha=0.05) < count_tolerance(100, 0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": -1, "p0": 0.05}, "n="), ({"n": 10, "p0": 1.0}, "p0="), ({"n": 10, "p0": 0.05, "alpha": 0.0}, "alpha=")],
)
def test_count_tolerance_rejects_bad_arguments(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(RobinBenchError, match=match):
        count_tolerance(**kwargs)  # type: ignore[arg-type]


def test_evidence_flags_one_sample_above_the_tolerance_not_at_it() -> None:
    t = count_tolerance(50, HEALTHY_RATE["black_box_stronger"])
    assert not Evidence("black_box_stronger", t, 50, t, "x").flagged
    flagged = Evidence("black_box_stronger", t + 1, 50, t, "square broke")
    assert flagged.flagged
    code, reason = flagged.flag
    assert code == "black_box_stronger" and f"{t + 1} of 50 samples, tolerance {t}" in reason


def _result(
    n: int, broken_by_gradient: int, extra: dict[str, int], *, early_exit: bool = True, wrong: int = 0
) -> EvalResult:
    """An evaluation of n samples, the first ``wrong`` misclassified when clean: "pgd" breaks the next
    ``broken_by_gradient``; each later attack (in ``extra``'s order) breaks that many of the samples all earlier
    attacks left robust."""
    names = ["pgd", *extra]
    correct = torch.arange(n) >= wrong
    alive = correct.clone()
    success, ran = {}, {}
    for name in names:
        count = broken_by_gradient if name == "pgd" else extra[name]
        ran[name] = alive.clone() if early_exit else correct.clone()
        hit = torch.zeros(n, dtype=torch.bool)
        hit[alive.nonzero()[:count, 0]] = True
        success[name] = hit
        alive &= ~hit
    return EvalResult(names=names, criterion="fine", clean_correct=correct, robust=alive, success=success, ran=ran)


@pytest.mark.parametrize("family", ["gradient_free", "transfer"])
def test_masking_flags_at_the_tolerance_and_one_sample_above(family: str) -> None:
    t = count_tolerance(90, HEALTHY_RATE["black_box_stronger"])  # 90 of 100 samples are clean-correct
    at = _result(100, 20, {"other": t}, wrong=10)
    above = _result(100, 20, {"other": t + 1}, wrong=10)
    assert masking_flags(at, gradient=["pgd"], **{family: ["other"]}) == []
    flags = masking_flags(above, gradient=["pgd"], **{family: ["other"]})
    assert [c for c, _ in flags] == ["black_box_stronger"]
    assert f"{t + 1} of 90 samples, tolerance {t}" in flags[0][1]


def test_masking_evidence_counts_each_sample_once_over_both_families() -> None:
    res = _result(100, 20, {"square": 5, "boundary": 4, "transfer": 3}, wrong=10)
    ev = masking_evidence(res, gradient=["pgd"], gradient_free=["square", "boundary"], transfer=["transfer"])
    assert (ev.count, ev.n) == (12, 90)
    assert "square 5, boundary 4, transfer 3" in ev.what
    assert masking_evidence(res, gradient=["pgd"], transfer=["transfer"]).count == 3
    assert masking_evidence(res, gradient=["pgd", "square"], gradient_free=["boundary"]).count == 4


def test_masking_flags_need_every_gradient_attack_first_under_early_exit() -> None:
    res = _result(100, 20, {"square": 30, "apgd": 5})
    with pytest.raises(RobinBenchError, match="run every gradient attack first"):
        masking_flags(res, gradient=["pgd", "apgd"], gradient_free=["square"])
    no_early_exit = _result(100, 20, {"square": 30, "apgd": 5}, early_exit=False)
    assert [c for c, _ in masking_flags(no_early_exit, gradient=["pgd", "apgd"], gradient_free=["square"])] == [
        "black_box_stronger"
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gradient": ["pgd"], "gradient_free": ["sqaure"]}, "not in the result"),
        ({"gradient": ["pgd"], "gradient_free": ["square"], "transfer": ["square"]}, "listed twice"),
        ({"gradient": [], "gradient_free": ["square"]}, "needs gradient attacks"),
        ({"gradient": ["pgd"]}, "needs gradient attacks"),
    ],
)
def test_masking_flags_reject_bad_names(kwargs: dict[str, list[str]], match: str) -> None:
    with pytest.raises(RobinBenchError, match=match):
        masking_flags(_result(10, 2, {"square": 1}), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def digits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return mm.digits()


@pytest.fixture(scope="module")
def healthy(digits: tuple[Tensor, Tensor, Tensor, Tensor]) -> Callable[[str], nn.Module]:
    """Name -> the healthy model, trained on first use (a second each) and kept for the module."""
    x, y, _, _ = digits
    return cache(lambda name: mm.HEALTHY[name](x, y))


@pytest.fixture(scope="module")
def report_of(
    digits: tuple[Tensor, Tensor, Tensor, Tensor], healthy: Callable[[str], nn.Module]
) -> Callable[[str, str | None], SanityReport]:
    """(healthy name, mask or None) -> sanity_check of that model at Linf ``mm.EPS``, computed once."""
    _, _, xt, yt = digits

    @cache
    def report(name: str, mask: str | None) -> SanityReport:
        model = healthy(name) if mask is None else mm.mask(mask, healthy(name))
        return rb.sanity_check(model, xt, yt, norm="Linf", eps=mm.EPS)

    return report


@pytest.mark.parametrize("name", list(mm.HEALTHY))
def test_healthy_models_raise_no_flag(name: str, report_of: Callable[[str, str | None], SanityReport]) -> None:
    report = report_of(name, None)
    assert report.flags == []
    assert report.robust_acc["gradient"] > 0.3  # PGD-trained (or linear at a small eps): robust, not trivially broken


@pytest.mark.parametrize("name", ["pgd_flat", "pgd_robin"])
@pytest.mark.parametrize("mask", list(mm.MASKS))
def test_masked_models_are_flagged(mask: str, name: str, report_of: Callable[[str, str | None], SanityReport]) -> None:
    report = report_of(name, mask)
    assert mm.MASKS[mask] in report.codes, report.flags
    assert all(code in FLAG_CODES for code in report.codes)


def test_shattered_robin_is_flagged_although_its_predictions_equal_the_unmasked_arms(
    digits: tuple[Tensor, Tensor, Tensor, Tensor],
    healthy: Callable[[str], nn.Module],
    report_of: Callable[[str, str | None], SanityReport],
) -> None:
    _, _, xt, yt = digits
    robin = healthy("pgd_robin")
    shattered = mm.mask("shattered", robin)
    assert isinstance(shattered, RobinClassifier)
    with torch.no_grad():
        assert torch.equal(shattered(xt).argmax(1), robin(xt).argmax(1))
    pgd = {"pgd": rb.attacks.PGD(shattered, norm="Linf", eps=mm.EPS, steps=20)}
    pgd_on_robin = {"pgd": rb.attacks.PGD(robin, norm="Linf", eps=mm.EPS, steps=20)}
    credited, true = rb.evaluate(shattered, xt, yt, pgd).robust, rb.evaluate(robin, xt, yt, pgd_on_robin).robust
    assert int(credited.sum()) >= int(true.sum()) + 5  # the masking fools PGD by several samples
    shattered_report, robin_report = report_of("pgd_robin", "shattered"), report_of("pgd_robin", None)
    assert "shattered_grad" in shattered_report.codes and robin_report.flags == []
    evidence = next(e for e in shattered_report.evidence if e.code == "shattered_grad")
    assert evidence.count > evidence.n // 2  # most samples, not a few near the tolerance


def test_transfer_from_the_unmasked_arms_flags_the_shattered_robin(
    digits: tuple[Tensor, Tensor, Tensor, Tensor], healthy: Callable[[str], nn.Module]
) -> None:
    """Square kept weak (50 queries) and RayS left out so that the transfer's own breaks are what the count sees."""
    _, _, xt, yt = digits
    robin = healthy("pgd_robin")
    shattered = mm.mask("shattered", robin)
    reports = [
        rb.sanity_check(
            shattered, xt, yt, norm="Linf", eps=mm.EPS, square_queries=50, rays_queries=0, surrogate=surrogate
        )
        for surrogate in (None, robin)
    ]
    alone, with_transfer = (next(e for e in r.evidence if e.code == "black_box_stronger") for r in reports)
    assert with_transfer.n == alone.n  # the same clean-correct samples
    assert with_transfer.count > alone.count and "transfer" in with_transfer.what
    assert "black_box_stronger" in reports[1].codes and "black_box_stronger" not in reports[0].codes


def test_healthy_model_raises_no_flag_at_twice_its_training_eps(
    digits: tuple[Tensor, Tensor, Tensor, Tensor], healthy: Callable[[str], nn.Module]
) -> None:
    """Beyond the training eps PGD-20 falls short and the stronger gradient attacks break many samples it left
    robust; counts over the clean-correct samples do not mistake that for masking."""
    _, _, xt, yt = digits
    report = rb.sanity_check(healthy("pgd_flat"), xt, yt, norm="Linf", eps=2 * mm.EPS)
    assert report.flags == []
    assert report.robust_acc["gradient"] < report.robust_acc[f"pgd@{2 * mm.EPS:.4g}"]
