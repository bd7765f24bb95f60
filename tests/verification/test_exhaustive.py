"""Agreement with independent exact checks on tiny ReLU nets over 2-D inputs.

Flat: enumeration of every activation region (the net is linear on each; one LP per region and competitor).
ROBIN: a second, naive MILP written here (one constant big-M, no bounds at all). HAR (not piecewise
linear): a dense grid of the input square, which every proof must respect.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from torch import nn

import robin_bench as rb
from tests.verification.models import flat, har, hierarchy, inputs, labels, robin

SHAPE = (1, 1, 2)


def _linears(net: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
        for m in net.modules()
        if isinstance(m, nn.Linear)
    ]


def region_worst_margin(net: nn.Module, x0: np.ndarray, y: int, eps: float) -> float:
    """``min over the Linf ball and box of min_j out_y - out_j``, by enumerating activation patterns."""
    layers = _linears(net)
    box = list(zip(np.clip(x0 - eps, 0, 1), np.clip(x0 + eps, 0, 1), strict=True))
    sizes = [w.shape[0] for w, _ in layers[:-1]]
    worst = np.inf
    for pattern in itertools.product([0.0, 1.0], repeat=sum(sizes)):
        a_map, c_map = np.eye(2), np.zeros(2)  # current activations = a_map @ x + c_map
        rows, rhs = [], []
        start = 0
        for (w, b), size in zip(layers[:-1], sizes, strict=True):
            s = np.array(pattern[start : start + size])
            start += size
            za, zc = w @ a_map, w @ c_map + b
            sign = np.where(s > 0, -1.0, 1.0)  # active: -z <= 0; inactive: z <= 0
            rows.append(sign[:, None] * za)
            rhs.append(-sign * zc)
            a_map, c_map = s[:, None] * za, s * zc
        w, b = layers[-1]
        oa, oc = w @ a_map, w @ c_map + b
        a_ub, b_ub = np.vstack(rows), np.concatenate(rhs)
        for j in range(oa.shape[0]):
            if j == y:
                continue
            res = linprog(oa[y] - oa[j], A_ub=a_ub, b_ub=b_ub, bounds=box)
            if res.status == 0:
                worst = min(worst, res.fun + oc[y] - oc[j])
    return float(worst)


@pytest.mark.parametrize(("hidden", "seed"), [((4, 4), 7), ((7,), 1)])
def test_flat_agrees_with_region_enumeration(hidden: tuple[int, ...], seed: int) -> None:
    net = flat(2, hidden, 3, seed=seed)
    x = inputs(6, SHAPE, seed=1)
    y = labels(net, x)
    eps = 0.15
    fast = rb.verify(net, x, y, eps=eps, time_limit=20)
    plain = rb.verify(net, x, y, eps=eps, time_limit=20, tighten=False, exact_margins=True)
    seen = set()
    for n in range(len(x)):
        m = region_worst_margin(net, x[n].flatten().double().numpy(), int(y[n]), eps)
        if abs(m) < 1e-5:
            continue
        seen.add(m > 0)
        for res in (fast, plain):
            assert res.status[n] == ("verified" if m > 0 else "broken")
            assert res.margin_lower[n].item() <= m + 1e-7 and res.margin_upper[n].item() >= m - 1e-7
        if m > 0:
            assert plain.margin_lower[n].item() == pytest.approx(m, abs=1e-6)
    assert seen == {True, False}


def naive_milp_worst(model: rb.RobinClassifier, x0: np.ndarray, y: int, eps: float, big_m: float = 1e3) -> float:
    """The ROBIN's worst-case fine margin by a plain big-M MILP with one constant M (no bound propagation)."""
    worst = np.inf
    nets = [_linears(arm) for arm in model.arms]
    for j in range(len(nets)):
        if j == y:
            continue
        lo = list(np.clip(x0 - eps, 0, 1))
        hi = list(np.clip(x0 + eps, 0, 1))
        integ = [0, 0]
        cons_rows, cons_lo, cons_hi = [], [], []

        def var(low: float, high: float, integer: int = 0, lo: list = lo, hi: list = hi, integ: list = integ) -> int:
            lo.append(low)
            hi.append(high)
            integ.append(integer)
            return len(lo) - 1

        out_terms = {}
        for arm in (y, j):
            prev = [0, 1]
            for w, b in nets[arm][:-1]:
                cur = []
                for u in range(w.shape[0]):
                    a, d = var(0, big_m), var(0, 1, 1)
                    z = {p: w[u, k] for k, p in enumerate(prev)}
                    # a >= z; a <= z + M(1-d); a <= M d
                    cons_rows.append({a: 1.0, **{p: -c for p, c in z.items()}})
                    cons_lo.append(b[u])
                    cons_hi.append(np.inf)
                    cons_rows.append({a: 1.0, d: big_m, **{p: -c for p, c in z.items()}})
                    cons_lo.append(-np.inf)
                    cons_hi.append(b[u] + big_m)
                    cons_rows.append({a: 1.0, d: -big_m})
                    cons_lo.append(-np.inf)
                    cons_hi.append(0.0)
                    cur.append(a)
                prev = cur
            w, b = nets[arm][-1]
            out_terms[arm] = ({p: w[0, k] for k, p in enumerate(prev)}, float(b[0]))
        n = len(lo)
        c = np.zeros(n)
        for p, v in out_terms[y][0].items():
            c[p] += v
        for p, v in out_terms[j][0].items():
            c[p] -= v
        a_mat = np.zeros((len(cons_rows), n))
        for r, row in enumerate(cons_rows):
            for p, v in row.items():
                a_mat[r, p] += v
        res = milp(
            c,
            integrality=np.array(integ),
            bounds=Bounds(lo, hi),
            constraints=LinearConstraint(a_mat, cons_lo, cons_hi),
            options={"mip_rel_gap": 1e-9},
        )
        worst = min(worst, res.fun + out_terms[y][1] - out_terms[j][1])
    return float(worst)


def test_robin_agrees_with_a_naive_milp() -> None:
    model = robin(2, (5, 5), 3, seed=8)
    x = inputs(8, SHAPE, seed=4)
    y = labels(model, x)
    eps = 0.12
    res = rb.verify(model, x, y, eps=eps, time_limit=20)
    plain = rb.verify(model, x, y, eps=eps, time_limit=20, tighten=False, exact_margins=True)
    seen = set()
    for n in range(len(x)):
        m = naive_milp_worst(model, x[n].flatten().double().numpy(), int(y[n]), eps)
        if abs(m) < 1e-5:
            continue
        seen.add(m > 0)
        assert res.status[n] == plain.status[n] == ("verified" if m > 0 else "broken")
        assert res.margin_lower[n].item() <= m + 1e-6 <= res.margin_upper[n].item() + 2e-6
        if m > 0:
            assert plain.margin_lower[n].item() == pytest.approx(m, abs=1e-5)
    assert seen == {True, False}


@pytest.mark.parametrize("criterion", ["fine", "coarse"])
def test_har_respects_a_dense_grid(criterion: str) -> None:
    model = har(2, (6,), seed=3)
    h = hierarchy()
    x = inputs(10, SHAPE, seed=5)
    y = labels(model, x)
    eps = 0.1
    res = rb.verify(model, x, y, eps=eps, criterion=criterion, hierarchy=h, time_limit=20)
    crit = rb.attacks.criteria.get_criterion(criterion, h)
    ticks = torch.linspace(-1, 1, 81)
    offsets = torch.cartesian_prod(ticks, ticks).view(-1, *SHAPE) * eps
    for n in range(len(x)):
        grid = (x[n] + offsets).clamp(0, 1)
        with torch.no_grad():
            hit = crit.success(model(grid), y[n].expand(len(grid)))
        if res.status[n] == "verified":
            assert not bool(hit.any()), f"sample {n} proven robust but a grid point breaks it"
        if bool(hit.any()):
            assert res.status[n] != "verified"
    assert "verified" in res.status and "broken" in res.status
