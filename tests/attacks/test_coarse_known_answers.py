"""Known answers for the coarse criterion on linear flat models: exact coarse distances from linear programs.

For a linear model ``z = W x + b`` the smallest Linf perturbation (inside the [0, 1] box) that makes
class ``t`` the argmax is a linear program; the coarse distance of a sample is its minimum over the
classes ``t`` of other coarse classes.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linprog
from torch import Tensor

import robin_bench as rb
from robin_bench.attacks import PGD, Coarse, Fine
from robin_bench.attacks.losses import ce

from .linear_models import Linear, linear_problem

H = rb.Hierarchy.from_groups([[0, 1], [2, 3]])


def linf_distance_to_class(w: np.ndarray, b: np.ndarray, x: np.ndarray, t: int) -> float:
    """min s s.t. |delta|_inf <= s, 0 <= x + delta <= 1, z_t(x + delta) >= z_j(x + delta) for all j != t."""
    d = x.size
    others = [j for j in range(w.shape[0]) if j != t]
    a_ub = np.zeros((2 * d + len(others), d + 1))
    b_ub = np.zeros(2 * d + len(others))
    a_ub[:d, :d], a_ub[:d, d] = np.eye(d), -1
    a_ub[d : 2 * d, :d], a_ub[d : 2 * d, d] = -np.eye(d), -1
    for r, j in enumerate(others):
        a_ub[2 * d + r, :d] = -(w[t] - w[j])
        b_ub[2 * d + r] = (w[t] - w[j]) @ x + b[t] - b[j]
    bounds = [(-v, 1 - v) for v in x] + [(0, None)]
    res = linprog(np.r_[np.zeros(d), 1.0], A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    return float(res.fun) if res.status == 0 else float("inf")


def coarse_distance(model: Linear, x: Tensor, y: Tensor) -> Tensor:
    """(N,) exact Linf distance of each sample to the region where a class of another coarse class wins."""
    w, b = model.weight.detach().double().numpy(), model.bias.detach().double().numpy()
    foreign = [[t for t in range(w.shape[0]) if H.fine_to_coarse[t] != H.fine_to_coarse[yi]] for yi in y.tolist()]
    xs = x.flatten(1).double().numpy()
    pairs = zip(xs, foreign, strict=True)
    return torch.tensor([min(linf_distance_to_class(w, b, xi, t) for t in ts) for xi, ts in pairs])


def coarse_robust(model: Linear, x_adv: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        return H.coarse_of(model(x_adv).argmax(1)) == H.coarse_of(y)


def test_lp_distance_is_exact_on_one_sample() -> None:
    # One input, identity-like weights: class 2 beats class 0 once x_2 - x_0 gains 0.3, a Linf step of 0.15.
    w = np.zeros((4, 2))
    w[0, 0], w[2, 1] = 1.0, 1.0
    b = np.array([0.0, -5.0, 0.0, -5.0])
    x = np.array([0.6, 0.3])
    assert abs(linf_distance_to_class(w, b, x, 2) - 0.15) < 1e-9
    assert linf_distance_to_class(w, b, x, 1) == float("inf"), "class 1 can never win inside the box"


def test_standard_coarse_worst_case_breaks_exactly_the_samples_within_eps() -> None:
    model, x, y = linear_problem(4, 40, 0.0, seed=0)
    d = coarse_distance(model, x, y)
    eps = float(d.median())
    inside, outside = d < 0.8 * eps, d > eps
    assert int(inside.sum()) >= 10 and int(outside.sum()) >= 10
    attacks = rb.standard_attacks(
        model, norm="Linf", eps=eps, hierarchy=H, criterion="coarse", steps=20, n_iter=10, n_queries=100
    )
    res = rb.evaluate(model, x, y, attacks, criterion="coarse", hierarchy=H)
    assert bool(res.clean_correct.all())
    assert not bool(res.robust[inside].any()), f"missed samples at {(d[inside & res.robust] / eps).tolist()} eps"
    assert bool(res.robust[outside].all()), "broke a sample whose exact coarse distance exceeds eps: impossible"


def test_plain_pgd_under_the_coarse_criterion_stops_on_coarse_success() -> None:
    model, x, y = linear_problem(4, 100, 0.0, seed=1)
    eps = 0.3
    res = rb.evaluate(model, x, y, [PGD(model, eps=eps, steps=20)], criterion="coarse", hierarchy=H)
    assert bool(res.clean_correct.all())
    coarse_stop = coarse_robust(model, PGD(model, eps=eps, steps=20, criterion=Coarse(H))(x, y), y)
    fine_stop = coarse_robust(model, PGD(model, eps=eps, steps=20, criterion=Fine())(x, y), y)
    robust = int(res.robust.sum())
    assert robust <= int(coarse_stop.sum()), "evaluate's PGD is weaker than PGD stopping on coarse success"
    assert bool((res.robust <= coarse_stop).all()), "the same per sample"
    # Stock PGD (fine cross-entropy) stopping on coarse success: the coarse objective is at least as strong.
    stock = coarse_robust(model, PGD(model, eps=eps, steps=20).optimize(x, y, ce, Coarse(H).reached), y)
    assert robust <= int(stock.sum())
    # The old behaviour (stop at the first fine miss, often a sibling of the same coarse class) is far weaker.
    assert int(fine_stop.sum()) > robust + 30
