"""What each model kind contributes to verification: its ReLU chains and its margins.

A criterion asks, for a sample, whether some class outside the *own set* ``P`` (``{y}`` for the fine
criterion, the true coarse group for the coarse one) can beat every class of ``P``. For each competitor
``j`` outside ``P`` the *margin* is ``max_{i in P} out_i - out_j`` (the model's output columns); the sample is
robust iff every margin stays > 0 on the whole perturbation set. An encoding gives, per ``(P, j)``:

- ``lower_bound``: a proven lower bound of the margin's minimum, by bound propagation (cheap);
- ``program``: the margin as the objective of a MILP (:mod:`robin_bench.verification.milp`), either *exact*
  (the MILP's minimum is the margin's minimum) or a *relaxation* (its minimum is a lower bound).

Flat and ROBIN models output logits, piecewise linear in the input: every margin is exact. A ROBIN's arms
are separate chains that read the same input, so a margin of arms ``y`` and ``j`` is one problem over the
two arms (and its linear bounds are added before they meet the input set).

HAR outputs ``log P(c|x) = g_{z(c)} - LSE(g) + h_{z(c),c} - LSE(h_{z(c)})`` (``g``: coarse logits, ``h_z``: fine
logits of group ``z``; ``LSE`` = logsumexp). ``LSE(g)`` cancels in every margin, and within one group so does
``LSE(h_z)``: a competitor in the same group as ``i`` gives the exact, piecewise linear ``h_{z,i} - h_{z,j}``.
Across groups ``z != w`` the margin is ``g_z - g_w + log p(i|z) - log p(j|w)``, which is *not* piecewise
linear. It is bounded soundly: ``LSE(h_w)`` (convex, entering with +) from below by its tangent planes and by
``max_k h_{w,k}``; ``LSE(h_z)`` (entering with -) from above by ``h_{z,r} + log(1 + sum_k e_k)`` with
``e_k <= the chord of exp(h_{z,k} - h_{z,r})`` over its proven interval and ``log`` replaced by its tangents.
Where a solution lies in a loose spot, the next solve gets a tangent there (Kelley's cutting planes) and a
breakpoint of the exp interpolation there (pieces chosen by binaries, SOS2), so the relaxation tightens
around the solutions, a few rounds per margin (spatial branching on the logsumexp terms). Such a margin's
MILP minimum is a lower bound at every round: a HAR sample is *verified* when that bound is > 0, *broken*
when a concrete input flips the model, and *unknown* when the rounds (or the time) end with the gap
straddling 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from scipy.special import logsumexp
from torch import nn

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.verification.bounds import Bounds, InputSet, linear_lower
from robin_bench.verification.milp import Builder, Expr
from robin_bench.verification.network import Chain, to_chain

_MAX_EXP = 20.0
"""Largest exponent whose exp chord is put in a MILP (beyond it the HAR cross-group margin stays a bound)."""
_GAP = 1e-6
"""A relaxation looser than this at a solution gets a tangent or a breakpoint there."""


class Unencodable(Exception):
    """A margin with no usable MILP (every cross-group term needs an exp chord over a too-wide interval)."""


@dataclass
class Context:
    """One sample's perturbation set and the pre-activation bounds of every chain over it."""

    inputs: InputSet
    pre: list[Bounds]


@dataclass
class Program:
    """A margin as a MILP objective.

    Attributes:
        objective (Expr): the margin (exact) or a lower bound of it (relaxation) on the program's points.
        exact (bool): the objective equals the margin at every integral point.
        refine (Callable[[np.ndarray], bool]): records in the program's ``memory`` what would tighten it at a
            solution's values (tangent points, breakpoints); whether it recorded anything (then the program is
            built again from the memory).
    """

    objective: Expr
    exact: bool
    refine: Callable[[np.ndarray], bool] = field(default=lambda v: False)


class Encoding:
    """A model as ReLU chains on one shared input, and its margins (see the module docstring).

    Attributes:
        chains (list[Chain]): the networks reading the input.
        n_classes (int): output columns.
        complete (bool): every margin's program is exact (its MILP minimum is the margin's minimum).
    """

    chains: list[Chain]
    n_classes: int
    complete: bool = False

    def output(self, x: np.ndarray) -> np.ndarray:
        """(N, n_classes) the model's output on (N, d) flattened inputs, in float64."""
        raise NotImplementedError

    def uses(self, own: Sequence[int], j: int) -> list[int]:
        """Indices of the chains the margin of ``own`` over ``j`` depends on."""
        raise NotImplementedError

    def lower_bound(self, own: Sequence[int], j: int, ctx: Context) -> tuple[float, np.ndarray]:
        """A proven lower bound of the margin's minimum over the set, and a direction ``a`` whose minimizer over
        the set (``ctx.inputs.minimizer(a)``) is a candidate counterexample."""
        raise NotImplementedError

    def program(
        self,
        builder: Builder,
        outs: dict[int, list[Expr]],
        own: Sequence[int],
        j: int,
        ctx: Context,
        memory: dict[Any, list[Any]],
    ) -> Program:
        """The margin in ``builder``, whose chains ``uses(own, j)`` are encoded as ``outs``; ``memory`` holds what
        earlier solves of the same margin recorded (empty at first)."""
        raise NotImplementedError


def _spec_bound(chains: list[Chain], ctx: Context, rows: dict[int, np.ndarray]) -> tuple[float, np.ndarray]:
    """Lower bound of ``sum_c rows[c] @ chain_c(x)`` over the set, the linear bounds of all chains added first."""
    a_sum, c_sum = np.zeros((1, ctx.inputs.center.size)), np.zeros(1)
    for c, row in rows.items():
        a, const = linear_lower(chains[c], ctx.pre[c], row[None, :])
        a_sum, c_sum = a_sum + a, c_sum + const
    return float(ctx.inputs.minimum(a_sum, c_sum)[0]), a_sum[0]


def _max_program(builder: Builder, terms: list[Expr]) -> Expr:
    """An objective equal to ``max(terms)`` under minimization: ``terms[0]`` alone, else a new ``t >= terms``."""
    if len(terms) == 1:
        return terms[0]
    t = builder.variables(np.array([-np.inf]), np.array([np.inf]))
    t_expr = Expr(t, np.ones(1))
    for term in terms:
        builder.row(t_expr - term, 0.0, np.inf)
    return t_expr


class LogitsEncoding(Encoding):
    """Output column ``c`` is row ``where[c][1]`` of chain ``where[c][0]``: flat models (one chain) and ROBIN (one
    chain per arm). Every margin is exact.

    Arguments:
        chains (list[Chain]): the networks.
        where (list[tuple[int, int]]): per output column, (chain index, output row).
    """

    def __init__(self, chains: list[Chain], where: list[tuple[int, int]]) -> None:
        self.chains = chains
        self.where = where
        self.n_classes = len(where)
        self.complete = True

    def output(self, x: np.ndarray) -> np.ndarray:
        outs = [chain.forward(x) for chain in self.chains]
        return np.stack([outs[c][:, r] for c, r in self.where], axis=1)

    def uses(self, own: Sequence[int], j: int) -> list[int]:
        return sorted({self.where[c][0] for c in (*own, j)})

    def _rows(self, i: int, j: int) -> dict[int, np.ndarray]:
        rows: dict[int, np.ndarray] = {}
        for c, sign in ((i, 1.0), (j, -1.0)):
            chain, r = self.where[c]
            rows.setdefault(chain, np.zeros(self.chains[chain].n_out))[r] += sign
        return rows

    def lower_bound(self, own: Sequence[int], j: int, ctx: Context) -> tuple[float, np.ndarray]:
        return max((_spec_bound(self.chains, ctx, self._rows(i, j)) for i in own), key=lambda b: b[0])

    def program(
        self,
        builder: Builder,
        outs: dict[int, list[Expr]],
        own: Sequence[int],
        j: int,
        ctx: Context,
        memory: dict[Any, list[Any]],
    ) -> Program:
        def out(c: int) -> Expr:
            chain, r = self.where[c]
            return outs[chain][r]

        return Program(_max_program(builder, [out(i) for i in own]) - out(j), exact=True)


class HAREncoding(Encoding):
    """HAR: chain 0 is the coarse network, chain ``1 + z`` the fine network of group ``z``.

    Margins between classes of one group are exact; across groups they are relaxed (see the module
    docstring), so their MILP minimum is a lower bound.

    Arguments:
        coarse (Chain): x -> (n_coarse,) logits.
        fine (list[Chain]): per group ``z``, x -> (|z|,) logits in ascending fine-class order.
        hierarchy (Hierarchy): the model's fine -> coarse map.
    """

    def __init__(self, coarse: Chain, fine: list[Chain], hierarchy: Hierarchy) -> None:
        self.chains = [coarse, *fine]
        self.hierarchy = hierarchy
        self.group = [int(z) for z in hierarchy.fine_to_coarse]
        self.pos = [int(p) for p in hierarchy.position_in_group]
        self.n_classes = hierarchy.n_fine

    def output(self, x: np.ndarray) -> np.ndarray:
        g = self.chains[0].forward(x)
        g = g - logsumexp(g, axis=1, keepdims=True)
        fine = []
        for z in range(self.hierarchy.n_coarse):
            h = self.chains[1 + z].forward(x)
            fine.append(h - logsumexp(h, axis=1, keepdims=True))
        return np.stack(
            [g[:, self.group[c]] + fine[self.group[c]][:, self.pos[c]] for c in range(self.n_classes)], axis=1
        )

    def _whole_groups(self, own: Sequence[int], w: int) -> list[int]:
        """Groups other than ``w`` all of whose classes are in ``own`` (their best class beats ``-log |z|``)."""
        inside = set(own)
        return [z for z in range(self.hierarchy.n_coarse) if z != w and set(self.hierarchy.fine_classes(z)) <= inside]

    def uses(self, own: Sequence[int], j: int) -> list[int]:
        w = self.group[j]
        used = {1 + w} | {1 + self.group[i] for i in own}
        if any(self.group[i] != w for i in own):
            used.add(0)
        return sorted(used)

    def _diff_bounds(self, ctx: Context, z: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bounds of ``h_{z,k} - h_{z,r}`` for every position ``k`` of group ``z`` (0 at ``k = r``), and the linear
        lower bound's direction of the first row (a candidate's direction)."""
        chain = self.chains[1 + z]
        n = chain.n_out
        spec = np.eye(n) - np.eye(n)[r]
        a_lo, c_lo = linear_lower(chain, ctx.pre[1 + z], spec)
        a_hi, c_hi = linear_lower(chain, ctx.pre[1 + z], -spec)
        return ctx.inputs.minimum(a_lo, c_lo), -ctx.inputs.minimum(a_hi, c_hi), a_hi.sum(0)

    def _coarse_bound(self, ctx: Context, z: int, w: int) -> tuple[float, np.ndarray]:
        row = np.zeros(self.chains[0].n_out)
        row[z], row[w] = 1.0, -1.0
        return _spec_bound(self.chains, ctx, {0: row})

    def _cross_terms(self, own: Sequence[int], j: int, ctx: Context) -> list[tuple[float, np.ndarray]]:
        """Lower bounds (and directions) of ``a_i - a_j`` for every ``i`` in ``own``, and of the whole-group terms."""
        w, jp = self.group[j], self.pos[j]
        lo_w, _, a_w = self._diff_bounds(ctx, w, jp)
        minus_log_pj = float(logsumexp(lo_w))  # -log p(j|w) = log sum_k exp(h_k - h_j) >= LSE of the lower bounds
        out = []
        for i in own:
            z, ip = self.group[i], self.pos[i]
            if z == w:
                row = np.zeros(self.chains[1 + z].n_out)
                row[ip], row[jp] = 1.0, -1.0
                out.append(_spec_bound(self.chains, ctx, {1 + z: row}))
                continue
            coarse, a_c = self._coarse_bound(ctx, z, w)
            _, hi_z, _ = self._diff_bounds(ctx, z, ip)
            log_pi = -float(logsumexp(hi_z))  # log p(i|z) = -log sum_k exp(h_k - h_i)
            out.append((coarse + log_pi + minus_log_pj, a_c + a_w))
        for z in self._whole_groups(own, w):
            coarse, a_c = self._coarse_bound(ctx, z, w)
            out.append((coarse - float(np.log(len(self.hierarchy.fine_classes(z)))) + minus_log_pj, a_c + a_w))
        return out

    def lower_bound(self, own: Sequence[int], j: int, ctx: Context) -> tuple[float, np.ndarray]:
        return max(self._cross_terms(own, j, ctx), key=lambda b: b[0])

    def program(
        self,
        builder: Builder,
        outs: dict[int, list[Expr]],
        own: Sequence[int],
        j: int,
        ctx: Context,
        memory: dict[Any, list[Any]],
    ) -> Program:
        w, jp = self.group[j], self.pos[j]
        h_w = outs[1 + w]
        cuts: list[Callable[[np.ndarray], bool]] = []
        terms: list[Expr] = []
        lse_w: Expr | None = None
        upper: dict[int, Expr | None] = {}
        for i in own:
            z, ip = self.group[i], self.pos[i]
            if z == w:
                terms.append(outs[1 + z][ip] - h_w[jp])
                continue
            if lse_w is None:
                lse_w = self._lse_below(builder, h_w, ctx, w, cuts, memory)
            if z not in upper:
                upper[z] = self._lse_above(builder, outs[1 + z], ctx, z, cuts, memory)
            lse_z = upper[z]
            if lse_z is None:
                continue
            g = outs[0]
            terms.append(g[z] - g[w] + outs[1 + z][ip] - lse_z - h_w[jp] + lse_w)
        for z in self._whole_groups(own, w):
            if lse_w is None:
                lse_w = self._lse_below(builder, h_w, ctx, w, cuts, memory)
            g = outs[0]
            terms.append((g[z] - g[w] - h_w[jp] + lse_w).plus(-float(np.log(len(self.hierarchy.fine_classes(z))))))
        if not terms:
            raise Unencodable
        return Program(
            _max_program(builder, terms),
            exact=not cuts and None not in upper.values(),
            refine=lambda v: any([cut(v) for cut in cuts]),
        )

    def _lse_below(
        self,
        builder: Builder,
        h: list[Expr],
        ctx: Context,
        w: int,
        cuts: list[Callable[[np.ndarray], bool]],
        memory: dict[Any, list[Any]],
    ) -> Expr:
        """A variable ``L <= LSE(h)`` under minimization: ``L >= h_k`` and ``L >=`` the tangent planes of LSE at the
        clean input and at the points in ``memory``."""
        lv = builder.variables(np.array([-np.inf]), np.array([np.inf]))
        lse = Expr(lv, np.ones(1))
        for hk in h:
            builder.row(lse - hk, 0.0, np.inf)
        points = memory.setdefault(("below", w), [self.chains[1 + w].forward(ctx.inputs.center[None, :])[0]])
        for point in points:
            p = np.exp(point - logsumexp(point))
            plane = Expr(np.zeros(0, dtype=np.int64), np.zeros(0))
            for pk, hk in zip(p, h, strict=True):
                plane = plane + hk.scaled(float(pk))
            builder.row(lse - plane, float(logsumexp(point) - p @ point), np.inf)

        def cut(v: np.ndarray) -> bool:
            point = np.array([hk.value(v) for hk in h])
            if float(logsumexp(point)) - lse.value(v) <= _GAP:
                return False
            points.append(point)
            return True

        cuts.append(cut)
        return lse

    def _lse_above(
        self,
        builder: Builder,
        h: list[Expr],
        ctx: Context,
        z: int,
        cuts: list[Callable[[np.ndarray], bool]],
        memory: dict[Any, list[Any]],
    ) -> Expr | None:
        """An expression ``U >= LSE(h)`` under minimization of ``-U``, or None where an interval is too wide.

        ``U = h_r + q`` with ``r`` the clean input's top class of the group, ``q <=`` tangents of ``log(1 + S)``,
        ``S = sum_{k != r} e_k`` and ``e_k <= `` the piecewise-linear interpolation of ``exp(h_k - h_r)`` over its
        proven interval: one chord at first, then with a breakpoint at each solution where the chord was loose
        (the pieces chosen by binaries, an SOS2 formulation).
        """
        clean = self.chains[1 + z].forward(ctx.inputs.center[None, :])[0]
        r = int(np.argmax(clean))
        lo, hi, _ = self._diff_bounds(ctx, z, r)
        others = [k for k in range(len(h)) if k != r]
        if not others:
            return h[r]
        if float(hi[others].max()) > _MAX_EXP:
            return None
        e_lo, e_hi = np.exp(lo[others]), np.exp(hi[others])
        e = builder.variables(e_lo, e_hi)
        s = Expr(np.zeros(0, dtype=np.int64), np.zeros(0))
        diffs = {k: h[k] - h[r] for k in others}
        for n, k in enumerate(others):
            ek = Expr(e[n : n + 1], np.ones(1))
            s = s + ek
            knots = np.array([lo[k], *memory.get(("breaks", z, k), []), hi[k]])
            _exp_below_interpolation(builder, ek, diffs[k], knots)
        qv = builder.variables(np.array([0.0]), np.array([float(np.log1p(e_hi.sum()))]))
        q = Expr(qv, np.ones(1))
        start = [float(e_lo.sum()), float(np.exp(clean[others] - clean[r]).sum()), float(e_hi.sum())]
        for s0 in memory.setdefault(("log", z), start):
            builder.row(q - s.scaled(1.0 / (1.0 + s0)), -np.inf, float(np.log1p(s0) - s0 / (1.0 + s0)))

        def cut(v: np.ndarray) -> bool:
            added = False
            s0 = s.value(v)
            if q.value(v) - float(np.log1p(s0)) > _GAP:
                memory[("log", z)].append(s0)
                added = True
            for n, k in enumerate(others):
                d = diffs[k].value(v)
                breaks = memory.setdefault(("breaks", z, k), [])
                interior = lo[k] + 1e-6 < d < hi[k] - 1e-6 and all(abs(d - b) > 1e-6 for b in breaks)
                if interior and float(v[e[n]]) - float(np.exp(d)) > _GAP:
                    breaks.append(d)
                    breaks.sort()
                    added = True
            return added

        cuts.append(cut)
        return h[r] + q


def _exp_below_interpolation(builder: Builder, e: Expr, d: Expr, knots: np.ndarray) -> None:
    """Rows ``e <= interp(d)``, the piecewise-linear interpolation of ``exp`` at ``knots`` (ascending, covering the
    bounds of ``d``): a chord for two knots, else an SOS2 formulation (weights on the knots, one binary per piece)."""
    values = np.exp(knots)
    if len(knots) == 2:
        width = knots[1] - knots[0]
        if width > 1e-12:
            slope = (values[1] - values[0]) / width
            builder.row(e - d.scaled(slope), -np.inf, values[0] - slope * knots[0])
        return
    m = len(knots) - 1
    lam = builder.variables(np.zeros(m + 1), np.ones(m + 1))
    piece = builder.variables(np.zeros(m), np.ones(m), binary=True)
    builder.binaries += m
    builder.row(Expr(lam, np.ones(m + 1)), 1.0, 1.0)
    builder.row(Expr(piece, np.ones(m)), 1.0, 1.0)
    builder.row(d - Expr(lam, knots), 0.0, 0.0)
    builder.row(e - Expr(lam, values), -np.inf, 0.0)
    for i in range(m + 1):
        near = [p for p in (i - 1, i) if 0 <= p < m]
        builder.row(Expr(lam[i : i + 1], np.ones(1)) - Expr(piece[near], np.ones(len(near))), -np.inf, 0.0)


def flat_encoding(model: nn.Module, in_shape: tuple[int, ...]) -> Encoding:
    """A flat classifier: one chain whose output columns are the model's."""
    chain = to_chain(model, in_shape)
    return LogitsEncoding([chain], [(0, r) for r in range(chain.n_out)])


def robin_encoding(model: nn.Module, in_shape: tuple[int, ...]) -> Encoding:
    """A ROBIN: one chain per arm, output column ``i`` is arm ``i``'s single logit."""
    robin = cast(Any, model)
    arms = robin.arms if hasattr(robin, "arms") else robin.to_robin().arms
    chains = [to_chain(arm, in_shape) for arm in arms]
    for i, chain in enumerate(chains):
        if chain.n_out != 1:
            raise RobinBenchError(f"verify: ROBIN arm {i} has {chain.n_out} outputs; each arm must have 1")
    return LogitsEncoding(chains, [(i, 0) for i in range(len(chains))])


def har_encoding(model: nn.Module, in_shape: tuple[int, ...]) -> Encoding:
    """A HAR: the coarse network and one fine network per group (see :class:`HAREncoding`)."""
    har = cast(Any, model)
    return HAREncoding(to_chain(har.coarse, in_shape), [to_chain(f, in_shape) for f in har.fine], har.hierarchy)
