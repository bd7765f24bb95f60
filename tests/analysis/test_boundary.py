"""Distance to the decision boundary: bisection on a known oracle, closed form of linear models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robin_bench.analysis.boundary import bisect_eps, boundary_distance, min_norm, plot_distance, summarize_distance
from robin_bench.analysis.io import write_analysis
from robin_bench.attacks.pgd import PGD
from robin_bench.errors import RobinBenchError
from robin_bench.models.robin import RobinClassifier

from .analysis_models import Linear, images, random_linear

DUAL = {"L2": 2.0, "Linf": 1.0}


def closed_form(model: Linear, x: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
    """min_{j != y} (z_y - z_j) / ||w_y - w_j||_q, q the dual norm (the box ignored)."""
    with torch.no_grad():
        z = model(x)
        diff = model.weight[y][:, None, :] - model.weight[None, :, :]
        dist = (z.gather(1, y[:, None]) - z) / diff.norm(p=DUAL[norm], dim=2).clamp_min(1e-12)
        return dist.scatter(1, y[:, None], float("inf")).amin(1).double()


def test_bisection_finds_a_known_threshold_within_tolerance_and_batches_by_midpoint() -> None:
    truth = torch.tensor([0.0, 0.013, 0.25, 0.5, 0.77, 0.99, 2.0, 0.3], dtype=torch.float64)
    calls = []

    def robust_at(idx: torch.Tensor, eps: float) -> torch.Tensor:
        calls.append(eps)
        return truth[idx] > eps

    d = bisect_eps(robust_at, 8, eps_max=1.0, rounds=7)
    assert d[0] == 0 and d[6] == float("inf")
    fin = torch.isfinite(d) & (truth > 0)
    assert bool((d[fin] >= truth[fin]).all()) and bool((d[fin] - truth[fin] <= 1 / 2**7 + 1e-12).all())
    # 2 screening calls, then at most min(live samples, 2**r) per round
    assert len(calls) <= 2 + sum(min(6, 2**r) for r in range(7))


@pytest.mark.parametrize(("norm", "eps_max"), [("L2", 0.3), ("Linf", 0.09)])
def test_min_norm_of_a_linear_model_equals_its_closed_form(norm: str, eps_max: float) -> None:
    model = random_linear(2, seed=1)
    x = images(24, seed=1, low=0.4, high=0.6)  # every perturbation below stays inside the box
    y = model(x).argmax(1).detach()
    rounds = 7
    exact = closed_form(model, x, y, norm)
    d = min_norm(model, x, y, norm=norm, eps_max=eps_max, rounds=rounds)
    inside = exact < eps_max - 1e-3
    outside = exact > eps_max + 1e-3
    assert inside.sum() >= 5 and outside.sum() >= 1, "the fixture must cover both cases"
    tol = eps_max / 2**rounds
    assert bool((d[inside] >= exact[inside] - 1e-4).all())
    assert bool((d[inside] <= exact[inside] + tol + 1e-4).all())
    assert bool(torch.isinf(d[outside]).all())
    # two classes: the one-vs-rest view of either class is the same boundary
    for cls in (0, 1):
        dc = min_norm(model, x, y, norm=norm, eps_max=eps_max, rounds=rounds, cls=cls)
        assert torch.allclose(dc[inside], d[inside], atol=tol + 1e-4)


@pytest.mark.parametrize(("norm", "eps_max"), [("L2", 0.3), ("Linf", 0.09)])
def test_one_vs_rest_view_of_a_three_class_linear_model(norm: str, eps_max: float) -> None:
    """Figure 2c view, cls 0: inputs of class 0 must leave it (the untargeted closed form); any other input
    must be pushed into class 0, never closer than its own boundary with class 0, even where the boundary
    with the third class is nearer."""
    w = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    model = Linear(w, -0.5 * w.sum(1))  # centred on the inputs: all three classes occur
    x = images(30, seed=0, low=0.4, high=0.6)
    with torch.no_grad():
        z = model(x)
        y = z.argmax(1)
        into_0 = ((z.gather(1, y[:, None])[:, 0] - z[:, 0]) / (w[y] - w[0]).norm(p=DUAL[norm], dim=1)).double()
    exact = closed_form(model, x, y, norm)
    rounds = 7
    tol = eps_max / 2**rounds
    d = min_norm(model, x, y, norm=norm, eps_max=eps_max, rounds=rounds, cls=0)
    pos, neg = y == 0, y != 0
    third_nearer = neg & (exact < into_0 - 2 * tol) & torch.isfinite(d)
    assert pos.sum() >= 3 and third_nearer.sum() >= 3, "the fixture must cover both cases"
    assert bool((d[pos] >= exact[pos] - 1e-4).all()) and bool((d[pos] <= exact[pos] + 4 * tol).all())
    assert bool((d[neg] >= into_0[neg] - 1e-4).all())


def test_wrong_clean_predictions_have_distance_zero() -> None:
    model = random_linear(3, seed=0)
    x = images(6)
    y = (model(x).argmax(1).detach() + 1) % 3
    assert bool((min_norm(model, x, y, norm="Linf", eps_max=0.1, rounds=2) == 0).all())


def test_boundary_distance_frame_views_and_writing(tmp_path) -> None:
    robin = RobinClassifier([random_linear(1, seed=s, scale=3.0) for s in range(3)])
    flat = random_linear(3, seed=9, scale=3.0)
    x = images(6, seed=2)
    y = robin(x).argmax(1).detach()
    df = boundary_distance(
        robin,
        flat,
        x,
        y,
        cls=1,
        eps_max={"L2": 1.0, "Linf": 0.2},
        rounds=3,
        attacks=lambda m, n, e: {"pgd": PGD(m, norm=n, eps=e, steps=5)},
    )
    assert len(df) == 2 * 4 * 6
    assert set(df["view"]) == {"arm", "robin", "multiclass", "multiclass_vs_cls"}
    assert (df["distance"] >= 0).all() and (df["censored"] == ~np.isfinite(df["distance"])).all()
    s = summarize_distance(df)
    assert len(s) == 8 and set(s.columns) == {"norm", "view", "n", "censored", "mean", "median"}
    csv, png = write_analysis(df, tmp_path, "boundary", plot_distance, title="t")
    assert csv.exists() and png.stat().st_size > 0


def test_bad_arguments_raise() -> None:
    robin = RobinClassifier([random_linear(1, seed=s) for s in range(2)])
    with pytest.raises(RobinBenchError, match="cls=5"):
        boundary_distance(robin, random_linear(2), images(2), torch.zeros(2, dtype=torch.long), cls=5)
    with pytest.raises(RobinBenchError, match="eps_max"):
        bisect_eps(lambda i, e: torch.ones(len(i), dtype=torch.bool), 2, eps_max=0.0)
    with pytest.raises(RobinBenchError, match="norm"):
        min_norm(random_linear(2), images(2), torch.zeros(2, dtype=torch.long), norm="L1", eps_max=1.0)
