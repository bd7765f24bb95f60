"""Known answers: on linear models the verifier's margin bounds equal the closed form / the LP exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

import robin_bench as rb
from tests.attacks.linear_models import exact_distance, linear_problem

DUAL = {"Linf": 1, "L2": 2}


def as_sequential(model: nn.Module) -> nn.Sequential:
    """The known-answer ``Linear`` model as ``Flatten, nn.Linear`` (the layers verify reads)."""
    lin = nn.Linear(model.weight.shape[1], model.weight.shape[0])
    with torch.no_grad():
        lin.weight.copy_(model.weight)
        lin.bias.copy_(model.bias)
    return nn.Sequential(nn.Flatten(), lin)


def closed_margin(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: int, norm: str, eps: float) -> float:
    """``min_j (w_y - w_j) x + b_y - b_j - eps ||w_y - w_j||_q``: the worst-case margin where the box does not bind."""
    d = w[y] - w
    m = d @ x + b[y] - b - eps * np.linalg.norm(d, ord=DUAL[norm], axis=1)
    return float(np.delete(m, y).min())


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_linear_margin_is_the_closed_form(norm: str) -> None:
    eps = 0.05 if norm == "Linf" else 0.2
    model, x, y = linear_problem(4, 12, eps, seed=3)
    net = as_sequential(model)
    res = rb.verify(net, x, y, norm=norm, eps=eps, time_limit=10)
    w, b = model.weight.detach().double().numpy(), model.bias.detach().double().numpy()
    want = torch.tensor(
        [closed_margin(w, b, xi.flatten().double().numpy(), int(yi), norm, eps) for xi, yi in zip(x, y, strict=True)],
        dtype=torch.float64,
    )
    assert torch.allclose(res.margin_lower, want, atol=1e-9)
    ok = res.verified
    assert torch.allclose(res.margin_upper[ok], want[ok], atol=1e-9)
    assert bool((res.margin_upper[~ok] >= want[~ok] - 1e-9).all()) and bool((res.margin_upper[~ok] < 0).all())
    dist = exact_distance(model, x, y, norm)
    assert res.verified.tolist() == (dist > eps).tolist()
    assert res.broken.tolist() == (dist < eps).tolist()
    assert res.complete == (norm == "Linf")


def test_linear_margin_with_binding_box_is_the_lp() -> None:
    """Inputs near the box faces: the Linf worst case is the LP over the clipped box, per competitor."""
    model, _, _ = linear_problem(3, 1, 0.0, seed=5)
    x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(1)).round()  # pixels at 0 or 1
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = 0.3
    res = rb.verify(as_sequential(model), x, y, eps=eps, time_limit=10)
    w, b = model.weight.detach().double().numpy(), model.bias.detach().double().numpy()
    for n in range(len(x)):
        x0 = x[n].flatten().double().numpy()
        box = list(zip(np.clip(x0 - eps, 0, 1), np.clip(x0 + eps, 0, 1), strict=True))
        yn = int(y[n])
        lp = min(linprog(w[yn] - w[j], bounds=box).fun + b[yn] - b[j] for j in range(3) if j != yn)
        assert res.margin_lower[n].item() == pytest.approx(lp, abs=1e-9)
        assert res.status[n] == ("verified" if lp > 0 else "broken")
        if lp > 0:
            assert res.margin_upper[n].item() == pytest.approx(lp, abs=1e-9)
        else:  # a broken sample stops at its first counterexample
            assert lp - 1e-9 <= res.margin_upper[n].item() < 0
    assert 0 < sum(res.verified.tolist()) < len(x)


def test_linear_robin_and_coarse_margin_is_the_lp() -> None:
    """A ROBIN of linear arms under the coarse criterion: ``min_j max_{i in z(y)} (o_i - o_j)`` is an LP."""
    g = torch.Generator().manual_seed(7)
    w, b = torch.randn(4, 16, generator=g).double(), torch.randn(4, generator=g).double() * 0.1
    arms = []
    for i in range(4):
        lin = nn.Linear(16, 1)
        with torch.no_grad():
            lin.weight.copy_(w[i : i + 1])
            lin.bias.copy_(b[i : i + 1])
        arms.append(nn.Sequential(nn.Flatten(), lin))
    model = rb.RobinClassifier(arms)
    h = rb.Hierarchy.from_groups([[0, 1], [2, 3]])
    x = torch.rand(6, 1, 4, 4, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = 0.1
    res = rb.verify(model, x, y, eps=eps, criterion="coarse", hierarchy=h, time_limit=10)
    plain = rb.verify(
        model, x, y, eps=eps, criterion="coarse", hierarchy=h, time_limit=10, tighten=False, exact_margins=True
    )
    wn, bn = w.numpy(), b.numpy()
    for n in range(len(x)):
        x0 = x[n].flatten().double().numpy()
        box = [*zip(np.clip(x0 - eps, 0, 1), np.clip(x0 + eps, 0, 1), strict=True), (None, None)]
        own = h.fine_classes(int(h.fine_to_coarse[int(y[n])]))
        worst = np.inf
        for j in (j for j in range(4) if j not in own):
            # min t  s.t.  t >= (w_i - w_j) x + b_i - b_j  for i in own
            a_ub = np.array([[*(wn[i] - wn[j]), -1.0] for i in own])
            res_lp = linprog(
                np.r_[np.zeros(16), 1.0], A_ub=a_ub, b_ub=np.array([bn[j] - bn[i] for i in own]), bounds=box
            )
            worst = min(worst, res_lp.fun)
        assert res.margin_lower[n].item() <= worst + 1e-7 <= res.margin_upper[n].item() + 2e-7
        assert res.status[n] == ("verified" if worst > 0 else "broken")
        if worst > 0:  # the plain MILP minimizes every margin: exact where robust
            assert plain.margin_lower[n].item() == pytest.approx(worst, abs=1e-7)
            assert plain.margin_upper[n].item() == pytest.approx(worst, abs=1e-7)
    assert 0 < sum(res.verified.tolist()) < len(x)
