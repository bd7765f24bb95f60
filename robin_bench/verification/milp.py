"""The mixed-integer linear program of a ReLU network over a perturbation set, solved by HiGHS.

Each unstable ReLU ``a = relu(z)`` with pre-activation bounds ``l < 0 < u`` gets one binary ``d`` and the
big-M constraints of Tjeng, Xiao & Tedrake (2019, MIPVerify)::

    a >= z,  a >= 0,  a <= u d,  a <= z - l (1 - d)

which, with ``d`` integral, say exactly ``a = relu(z)``. Stably active units are ``a = z`` and stably inactive
ones ``a = 0``, so the tighter the bounds (see :mod:`robin_bench.verification.bounds`), the fewer binaries and the
smaller ``M``. The input is a box; an L2 ball is added by cutting planes (:meth:`Builder.add_ball_cut`), an
outer approximation. The program is solved by ``scipy.optimize.milp`` (HiGHS) with a time limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds as VarBounds
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import coo_matrix

from robin_bench.verification.bounds import Bounds, InputSet
from robin_bench.verification.network import Chain


@dataclass
class Expr:
    """The linear expression ``coefs @ v[cols] + const`` over the program's variables ``v``."""

    cols: np.ndarray
    coefs: np.ndarray
    const: float = 0.0

    def __add__(self, other: Expr) -> Expr:
        return Expr(
            np.concatenate([self.cols, other.cols]), np.concatenate([self.coefs, other.coefs]), self.const + other.const
        )

    def __sub__(self, other: Expr) -> Expr:
        return self + other.scaled(-1.0)

    def scaled(self, factor: float) -> Expr:
        """``factor`` times this expression."""
        return Expr(self.cols, self.coefs * factor, self.const * factor)

    def plus(self, constant: float) -> Expr:
        """This expression plus a constant."""
        return Expr(self.cols, self.coefs, self.const + constant)

    def value(self, v: np.ndarray) -> float:
        """The expression at the variable values ``v``."""
        return float(self.coefs @ v[self.cols] + self.const)


@dataclass
class Outcome:
    """One solve of :meth:`Builder.minimize`.

    Attributes:
        status (str): ``"optimal"``, ``"time_limit"``, ``"infeasible"`` or ``"error"``.
        value (float): objective at the best point found (``inf`` where none).
        bound (float): proven lower bound of the minimum (``-inf`` where none).
        v (np.ndarray | None): the best point's variable values.
        nodes (int): branch-and-bound nodes.
        seconds (float): wall-clock seconds.
    """

    status: str
    value: float
    bound: float
    v: np.ndarray | None
    nodes: int
    seconds: float


@dataclass
class Builder:
    """A MILP over an input set, grown chain by chain; the input variables are ``v[:d]``.

    Example::

        >>> b = Builder(inputs)
        >>> out = b.chain(chain, pre)               # the chain's outputs, one Expr each
        >>> b.minimize(out[y] - out[j], time_limit=10.0)
    """

    inputs: InputSet
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integer: list[int] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    binaries: int = 0

    def __post_init__(self) -> None:
        self.x = self.variables(self.inputs.lower, self.inputs.upper)

    @property
    def n_vars(self) -> int:
        """Number of variables so far."""
        return len(self.lower)

    def variables(self, lower: np.ndarray, upper: np.ndarray, *, binary: bool = False) -> np.ndarray:
        """New variables with these bounds; their indices."""
        start = self.n_vars
        self.lower.extend(np.asarray(lower, dtype=np.float64).tolist())
        self.upper.extend(np.asarray(upper, dtype=np.float64).tolist())
        self.integer.extend([int(binary)] * len(lower))
        return np.arange(start, self.n_vars)

    def block(self, cols: list[np.ndarray], coefs: list[np.ndarray], lower: np.ndarray, upper: np.ndarray) -> None:
        """Rows ``lower <= sum_t coefs[t] @ v[cols[t]] <= upper``; each ``coefs[t]`` is (rows, len(cols[t]))."""
        n = len(lower)
        first = len(self.row_lower)
        for c, m in zip(cols, coefs, strict=True):
            m = np.asarray(m, dtype=np.float64).reshape(n, len(c))
            r, k = np.nonzero(m)
            self.rows.append(first + r)
            self.cols.append(c[k])
            self.vals.append(m[r, k])
        self.row_lower.extend(np.asarray(lower, dtype=np.float64).tolist())
        self.row_upper.extend(np.asarray(upper, dtype=np.float64).tolist())

    def row(self, expr: Expr, lower: float, upper: float) -> None:
        """The row ``lower <= expr <= upper``."""
        self.block([expr.cols], [expr.coefs[None, :]], np.array([lower - expr.const]), np.array([upper - expr.const]))

    def chain(self, chain: Chain, pre: Bounds) -> list[Expr]:
        """Encode ``chain`` on the input variables with its pre-activation bounds ``pre``; its outputs."""
        prev = self.x
        for w, b, (lo, hi) in zip(chain.weights[:-1], chain.biases[:-1], pre, strict=True):
            prev_w = w
            a = self.variables(np.maximum(lo, 0.0), np.maximum(hi, 0.0))
            live = np.asarray(self.upper)[prev] > 0
            prev, prev_w = prev[live], w[:, live]
            active = lo >= 0
            unstable = (lo < 0) & (hi > 0)
            n_act, n_un = int(active.sum()), int(unstable.sum())
            if n_act:
                self.block([a[active], prev], [np.eye(n_act), -prev_w[active]], b[active], b[active])
            if n_un:
                d = self.variables(np.zeros(n_un), np.ones(n_un), binary=True)
                self.binaries += n_un
                au, wu, bu, lu, hu = a[unstable], -prev_w[unstable], b[unstable], lo[unstable], hi[unstable]
                eye = np.eye(n_un)
                self.block([au, prev], [eye, wu], bu, np.full(n_un, np.inf))
                self.block([au, prev, d], [eye, wu, -np.diag(lu)], np.full(n_un, -np.inf), bu - lu)
                self.block([au, d], [eye, -np.diag(hu)], np.full(n_un, -np.inf), np.zeros(n_un))
            prev = a
        live = np.asarray(self.upper)[prev] > 0
        w, b = chain.weights[-1][:, live], chain.biases[-1]
        return [Expr(prev[live], w[i], float(b[i])) for i in range(w.shape[0])]

    def add_ball_cut(self, point: np.ndarray) -> bool:
        """Cut off ``point`` (flattened input) if it lies outside the L2 ball: the tangent half-space
        ``g @ (x - center) <= eps ||g||`` with ``g = point - center``, which holds on the whole ball.
        Returns whether a cut was added."""
        g = point - self.inputs.center
        n = float(np.linalg.norm(g))
        if n <= self.inputs.eps * (1 + 1e-9):
            return False
        self.row(Expr(self.x, g), -np.inf, self.inputs.eps * n + float(g @ self.inputs.center))
        return True

    def minimize(self, objective: Expr, time_limit: float, *, at_most: float | None = None) -> Outcome:
        """Minimize ``objective`` within ``time_limit`` seconds (HiGHS branch and bound).

        With ``at_most``, only decide: find any point with ``objective <= at_most`` (the solver stops at the first),
        or prove there is none (then the outcome's ``bound`` is ``at_most``).
        """
        n = self.n_vars
        c = np.zeros(n)
        if at_most is None:
            np.add.at(c, objective.cols, objective.coefs)
        else:
            self.row(objective, -np.inf, at_most)
        constraints = []
        try:
            if self.rows:
                rows, cols, vals = np.concatenate(self.rows), np.concatenate(self.cols), np.concatenate(self.vals)
                a = coo_matrix((vals, (rows, cols)), shape=(len(self.row_lower), n)).tocsr()
                constraints.append(LinearConstraint(a, np.asarray(self.row_lower), np.asarray(self.row_upper)))
        finally:
            if at_most is not None:
                for held in (self.rows, self.cols, self.vals, self.row_lower, self.row_upper):
                    held.pop()
        t0 = time.perf_counter()
        res = milp(
            c,
            integrality=np.asarray(self.integer),
            bounds=VarBounds(np.asarray(self.lower), np.asarray(self.upper)),
            constraints=constraints,
            options={"time_limit": max(float(time_limit), 1e-3), "mip_rel_gap": 1e-6},
        )
        seconds = time.perf_counter() - t0
        status = {0: "optimal", 1: "time_limit", 2: "infeasible"}.get(res.status, "error")
        v = None if res.x is None else np.asarray(res.x)
        value = objective.value(v) if v is not None else float("inf")
        dual = getattr(res, "mip_dual_bound", None)
        if status == "infeasible":
            bound = float("inf") if at_most is None else float(at_most)
        elif at_most is not None:
            bound = float("-inf")
        elif dual is None or not np.isfinite(dual):  # a pure LP has no dual bound: its optimum is exact
            bound = value if status == "optimal" and not any(self.integer) else float("-inf")
        else:
            bound = float(dual) + objective.const
        nodes = int(getattr(res, "mip_node_count", 0) or 0)
        return Outcome(status, value, min(bound, value), v, nodes, seconds)
