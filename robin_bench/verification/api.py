"""``verify``: per-sample proofs of robustness (or counterexamples) for flat, ROBIN and HAR ReLU models."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from robin_bench.attacks.criteria import Criterion, get_criterion
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.kinds import kind_of
from robin_bench.verification.bounds import InputSet, layer_bounds
from robin_bench.verification.encodings import Context, Encoding, Unencodable
from robin_bench.verification.milp import Builder

if TYPE_CHECKING:
    import pandas as pd

STATUSES: tuple[str, ...] = ("verified", "broken", "unknown")
_TOL = 1e-6
"""A margin counts as proven positive from this value on (above the solver's tolerances)."""
_ROUNDS = 8
"""Solves per margin at most: cutting planes (HAR's logsumexp, the L2 ball) and one switch to minimization."""
_DESCENT_STEPS = 20
"""Projected gradient steps from the last point of a margin left open, looking for a counterexample."""
CRITERIA: tuple[str, ...] = ("fine", "coarse")


@dataclass
class VerifyResult:
    """Per-sample outcome of :func:`verify`.

    Attributes:
        status (list[str]): per sample ``"verified"`` (no input of the set changes the criterion's verdict),
            ``"broken"`` (a counterexample, or the clean input already misjudged) or ``"unknown"`` (out of
            time, or a relaxation's gap straddles 0).
        margin_lower (Tensor): (N,) float64 proven lower bound of the worst-case margin over the set (> 0:
            robust); ``-inf`` where nothing was proven.
        margin_upper (Tensor): (N,) float64 the margin at the worst input found (an upper bound of the
            worst case; < 0 on broken samples), computed in float64 from the model's weights.
        counterexamples (dict[int, Tensor]): sample -> (C, H, W) input inside the ball and the box on which a
            forward pass of the model misjudges the sample.
        seconds (Tensor): (N,) wall-clock seconds per sample.
        stats (list[dict[str, Any]]): per sample: ``margins`` (competitors), ``pruned`` (proven by bounds alone),
            ``milps`` (programs solved), ``nodes`` (branch-and-bound nodes), ``binaries`` (largest program's),
            ``bound_s``/``milp_s`` (seconds), ``solver`` (last program's status).
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): radius.
        criterion (str): ``"fine"`` or ``"coarse"``.
        complete (bool): ``"unknown"`` can only mean out of time: Linf and every margin exact (flat and ROBIN).
    """

    status: list[str]
    margin_lower: Tensor
    margin_upper: Tensor
    counterexamples: dict[int, Tensor]
    seconds: Tensor
    stats: list[dict[str, Any]]
    norm: str
    eps: float
    criterion: str
    complete: bool
    clean_correct: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.status)

    def _is(self, status: str) -> Tensor:
        return torch.tensor([s == status for s in self.status], dtype=torch.bool)

    @property
    def verified(self) -> Tensor:
        """(N,) bool, proven robust (and clean-correct)."""
        return self._is("verified")

    @property
    def broken(self) -> Tensor:
        """(N,) bool, a counterexample exists."""
        return self._is("broken")

    @property
    def unknown(self) -> Tensor:
        """(N,) bool, unresolved."""
        return self._is("unknown")

    @property
    def verified_acc(self) -> float:
        """Share of samples proven robust: a lower bound of the robust accuracy, a fraction in [0, 1]."""
        return int(self.verified.sum()) / self.n if self.n else float("nan")

    @property
    def n_unresolved(self) -> int:
        """Number of ``"unknown"`` samples."""
        return int(self.unknown.sum())

    def to_frame(self) -> pd.DataFrame:
        """Per-sample pandas frame: ``status``, ``margin_lower``, ``margin_upper``, ``seconds`` and the stats."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "status": self.status,
                "margin_lower": self.margin_lower.tolist(),
                "margin_upper": self.margin_upper.tolist(),
                "seconds": self.seconds.tolist(),
            }
        )
        frame = frame.join(pd.DataFrame(self.stats))
        frame.index.name = "sample"
        return frame

    def solver_stats(self) -> dict[str, np.ndarray]:
        """The numeric per-sample columns of :meth:`to_frame` (margins' bounds, seconds and the solver's counts)
        as float64 arrays of shape (N,), for storage beside the statuses (a suite's flags files)."""
        frame = self.to_frame()
        numeric = [c for c in frame.columns if c != "status" and frame[c].dtype.kind in "biuf"]
        return {c: frame[c].to_numpy(dtype=np.float64) for c in numeric}


def encoding_of(model: nn.Module) -> Callable[[nn.Module, tuple[int, ...]], Encoding]:
    """The verification encoding of ``model``'s kind, from the kind registry (``ModelKind.verify_encoding``)."""
    kind = kind_of(model)
    if kind.verify_encoding is None:
        raise RobinBenchError(
            f"verify: model kind {kind.name!r} has no verification encoding; give its ModelKind a verify_encoding"
        )
    return kind.verify_encoding


def _check(
    model: object, x: object, y: object, norm: object, eps: object, criterion: object, time_limit: object
) -> tuple[Tensor, Tensor]:
    if not isinstance(model, nn.Module):
        raise RobinBenchError(f"verify: model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.dtype.is_floating_point:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise RobinBenchError(f"verify: x is {got}; expected a float tensor (N, C, H, W) in [0, 1]")
    if x.numel() and not (bool(torch.isfinite(x).all()) and float(x.min()) >= 0 and float(x.max()) <= 1):
        raise RobinBenchError("verify: x has values outside [0, 1]; inputs must be finite and in [0, 1]")
    if not isinstance(y, Tensor) or y.shape != (x.shape[0],) or y.dtype.is_floating_point or y.dtype == torch.bool:
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise RobinBenchError(f"verify: y is {got}; expected ({x.shape[0]},) integer class indices")
    if criterion not in CRITERIA:
        raise RobinBenchError(f"verify: criterion {criterion!r} is not supported; valid: {', '.join(CRITERIA)}")
    if isinstance(time_limit, bool) or not isinstance(time_limit, int | float) or not time_limit > 0:
        raise RobinBenchError(f"verify: time_limit {time_limit!r} must be a number of seconds > 0")
    ThreatModel(cast(Norm, norm), cast(float, eps))  # validates norm and eps
    return x, y.long()


def verify(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    norm: str = "Linf",
    eps: float,
    criterion: str = "fine",
    hierarchy: Hierarchy | None = None,
    time_limit: float = 60.0,
    tighten: bool = True,
    exact_margins: bool = False,
) -> VerifyResult:
    r"""Prove or break the robustness of each sample, by bound propagation and then a MILP.

    Tjeng, Xiao & Tedrake, "Evaluating Robustness of Neural Networks with Mixed Integer Programming"
    (ICLR 2019); bounds by IBP (Gowal et al., 2018) and CROWN (Zhang et al., NeurIPS 2018).

    For each sample and each competitor class outside its own set (``{y}``, fine; the true coarse group,
    coarse) the margin ``max_{own} out - out_j`` is first bounded by linear bound propagation; competitors
    whose margin is proven > 0 never reach the solver, and the input minimizing each linear bound is tried
    as a counterexample. The rest go to a big-M MILP (HiGHS) with the tightened bounds, the likeliest to
    break first, until one breaks or the sample's time runs out; the MILP decides (is there an input with
    margin <= 1e-6?) or, with ``exact_margins``, minimizes. A point with a negative margin is checked by a
    forward pass of ``model`` (in its own dtype), after projection into the ball and the box, before it
    counts as a counterexample. A sample stops at its first counterexample.

    What is exact:

    - **Linf, flat and ROBIN**: exact (complete). ``"unknown"`` only when out of time; with
      ``exact_margins`` the margin bounds of a robust sample meet at its exact worst-case margin.
    - **Linf, HAR**: margins between classes of one group are exact; across groups the logsumexp terms
      are relaxed and tightened round by round at the solver's points (see
      :mod:`robin_bench.verification.encodings`), so ``"verified"`` and ``"broken"`` stay sound but a sample may
      be ``"unknown"`` with time left (after 8 rounds on a margin).
    - **L2** (any kind): sound, not complete: bounds over the ball intersected with the box, the MILP over the
      box cut by tangent planes of the ball at its solutions (up to 8 rounds); ``"verified"`` is a proof,
      ``"broken"`` a checked counterexample, the rest ``"unknown"``.

    Where a margin stays open, a short projected gradient descent on it from the solver's last point looks for
    a counterexample (a search, never a proof).

    A margin is proven only when its lower bound reaches ``1e-6`` (above HiGHS's tolerances; the arithmetic
    is float64, not exact rational); a clean-misjudged sample is ``"broken"`` with the clean input as its
    counterexample. Bounds and programs are built in float64 from the model's weights; the model's own
    forward pass (float32) has the last word on every counterexample.

    Arguments:
        model (nn.Module): a flat, ROBIN or HAR model of Linear, Conv2d, ReLU, Flatten, Normalize, Identity,
            BatchNorm1d/2d (with running statistics) and dropout layers (nested Sequentials allowed), verified in
            eval mode and handed back in the mode it came in; (N, C, H, W) in [0, 1] -> (N, K).
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) fine labels.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): radius, in [0, 1] input units.
        criterion (str): ``"fine"`` or ``"coarse"`` (needs ``hierarchy``). (Default: ``"fine"``)
        hierarchy (Hierarchy | None): fine -> coarse map of the coarse criterion. (Default: None)
        time_limit (float): seconds per sample, bounds and solver together. (Default: 60)
        exact_margins (bool): minimize every margin the bounds leave open to optimality, so ``margin_lower`` and
            ``margin_upper`` meet at the exact worst case (Linf, flat and ROBIN) of robust samples; False only
            decides (the solver stops at the first input with margin <= 1e-6, or proves there is none), which is
            faster. (Default: False)
        tighten (bool): linear bound propagation and pruning before the MILP; False runs the plain MILP with
            interval bounds on every margin (for comparison). (Default: True)

    Returns:
        VerifyResult: per-sample status, margin bounds, counterexamples, seconds and solver statistics.

    Example::

        >>> res = rb.verify(model, x, y, eps=0.05, time_limit=30)
        >>> res.verified_acc, res.n_unresolved, res.status[:3]
        (0.62, 0, ['verified', 'broken', 'verified'])
    """
    x, y = _check(model, x, y, norm, eps, criterion, time_limit)
    crit = get_criterion(criterion, hierarchy)
    threat = ThreatModel(cast(Norm, norm), float(eps))
    encoding = encoding_of(model)(model, tuple(x.shape[1:]))
    if criterion == "coarse" and hierarchy is not None and hierarchy.n_fine != encoding.n_classes:
        raise RobinBenchError(
            f"verify: hierarchy has {hierarchy.n_fine} fine classes, the model {encoding.n_classes}; they must agree"
        )
    if len(y) and int(y.max()) >= encoding.n_classes:
        raise RobinBenchError(f"verify: label {int(y.max())} outside the model's classes 0..{encoding.n_classes - 1}")
    was_training = model.training
    model.eval()
    try:
        rows = [
            _one(model, encoding, crit, threat, x[n], int(y[n]), hierarchy, float(time_limit), tighten, exact_margins)
            for n in range(x.shape[0])
        ]
    finally:
        model.train(was_training)
    return VerifyResult(
        status=[r["status"] for r in rows],
        margin_lower=torch.tensor([r["lower"] for r in rows], dtype=torch.float64),
        margin_upper=torch.tensor([r["upper"] for r in rows], dtype=torch.float64),
        counterexamples={n: r["cex"] for n, r in enumerate(rows) if r["cex"] is not None},
        seconds=torch.tensor([r["seconds"] for r in rows], dtype=torch.float64),
        stats=[r["stats"] for r in rows],
        norm=norm,
        eps=float(eps),
        criterion=criterion,
        complete=norm == "Linf" and encoding.complete,
        clean_correct=torch.tensor([r["clean_correct"] for r in rows], dtype=torch.bool),
    )


def _own(criterion: str, hierarchy: Hierarchy | None, y: int) -> list[int]:
    if criterion == "coarse" and hierarchy is not None:
        return hierarchy.fine_classes(int(hierarchy.fine_to_coarse[y]))
    return [y]


def _one(
    model: nn.Module,
    encoding: Encoding,
    crit: Criterion,
    threat: ThreatModel,
    x0: Tensor,
    y: int,
    hierarchy: Hierarchy | None,
    time_limit: float,
    tighten: bool,
    exact_margins: bool,
) -> dict[str, Any]:
    """Verify one sample."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    tol = _TOL
    inputs = InputSet.around(x0.detach().double().cpu().numpy(), threat.norm, threat.eps)
    own = _own(crit.name, hierarchy, y)
    rivals = [j for j in range(encoding.n_classes) if j not in own]
    stats: dict[str, Any] = {
        "margins": len(rivals),
        "pruned": 0,
        "milps": 0,
        "nodes": 0,
        "binaries": 0,
        "bound_s": 0.0,
        "milp_s": 0.0,
        "solver": "",
    }
    yt = torch.tensor([y])

    def margin(point: np.ndarray) -> float:
        out = encoding.output(point[None, :])[0]
        return float(min(max(out[i] for i in own) - out[j] for j in rivals)) if rivals else math.inf

    def confirm(point: np.ndarray) -> Tensor | None:
        """The point, projected into the ball and the box, if the model misjudges it."""
        cand = torch.as_tensor(point, dtype=x0.dtype).view_as(x0).to(x0.device)
        cand = threat.project(cand[None], x0[None])
        with torch.no_grad():
            hit = bool(crit.success(model(cand), yt.to(x0.device))[0])
        return cand[0].detach() if hit else None

    def done(status: str, lower: float, upper: float, cex: Tensor | None, clean_correct: bool) -> dict[str, Any]:
        return {
            "status": status,
            "lower": lower,
            "upper": upper,
            "cex": cex,
            "clean_correct": clean_correct,
            "seconds": time.perf_counter() - t0,
            "stats": stats,
        }

    clean = inputs.center
    upper = {j: v for j, v in zip(rivals, _margins(encoding, clean, own, rivals), strict=True)}
    with torch.no_grad():
        clean_ok = not bool(crit.success(model(x0[None]), yt.to(x0.device))[0])
    if not clean_ok or not rivals:
        cex = None if clean_ok else x0.detach().clone()
        return done(
            "broken" if cex is not None else "verified",
            -math.inf if cex is not None else math.inf,
            min(upper.values(), default=math.inf),
            cex,
            clean_ok,
        )

    tb = time.perf_counter()
    ctx = Context(inputs, [layer_bounds(c, inputs, "linear" if tighten else "interval") for c in encoding.chains])
    lower = dict.fromkeys(rivals, -math.inf)
    directions: dict[int, np.ndarray] = {}
    if tighten:
        for j in rivals:
            lower[j], directions[j] = encoding.lower_bound(own, j, ctx)
        stats["pruned"] = sum(lower[j] >= tol for j in rivals)
    stats["bound_s"] = time.perf_counter() - tb
    starts: dict[int, np.ndarray] = {}
    for j in rivals:
        if j in directions:
            point = starts[j] = inputs.minimizer(directions[j])
            upper[j] = min(upper[j], margin(point))
            cex = confirm(point) if upper[j] < 0 else None
            if cex is not None:
                return done("broken", min(lower.values()), min(upper.values()), cex, True)

    for j in sorted((j for j in rivals if lower[j] < tol), key=lambda j: lower[j]):
        memory: dict[Any, list[Any]] = {}
        ball_cuts: list[np.ndarray] = []
        at_most: float | None = None if exact_margins else tol
        for _ in range(_ROUNDS):
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            builder = Builder(inputs)
            outs = {c: builder.chain(encoding.chains[c], ctx.pre[c]) for c in encoding.uses(own, j)}
            for cut_point in ball_cuts:
                builder.add_ball_cut(cut_point)
            try:
                program = encoding.program(builder, outs, own, j, ctx, memory)
            except Unencodable:
                break
            stats["binaries"] = max(stats["binaries"], builder.binaries)
            res = builder.minimize(program.objective, left, at_most=at_most)
            stats["milps"] += 1
            stats["nodes"] += res.nodes
            stats["milp_s"] += res.seconds
            stats["solver"] = res.status
            lower[j] = max(lower[j], res.bound)
            if res.v is None:
                break
            point = starts[j] = res.v[: inputs.center.size]
            upper[j] = min(upper[j], margin(_into_set(point, inputs)))
            if upper[j] < 0:
                cex = confirm(point)
                if cex is not None:
                    return done("broken", min(lower.values()), min(upper.values()), cex, True)
            if lower[j] >= tol or res.status != "optimal":
                break
            refined = program.refine(res.v)
            outside = threat.norm == "L2" and float(np.linalg.norm(point - clean)) > threat.eps * (1 + 1e-9)
            if outside:
                ball_cuts.append(point)
            if not (refined or outside):
                if at_most is None:
                    break
                at_most = None  # a point at the boundary that does not flip the model: minimize instead
    for j in (j for j in rivals if lower[j] < tol and j in starts):
        if time.perf_counter() >= deadline:
            break
        point = _descend(model, x0, starts[j], own, j, threat)
        upper[j] = min(upper[j], margin(_into_set(point, inputs)))
        cex = confirm(point) if upper[j] < 0 else None
        if cex is not None:
            return done("broken", min(lower.values()), min(upper.values()), cex, True)
    status = "verified" if all(lower[j] >= tol for j in rivals) else "unknown"
    return done(status, min(lower.values()), min(upper.values()), None, True)


def _descend(
    model: nn.Module,
    x0: Tensor,
    start: np.ndarray,
    own: list[int],
    j: int,
    threat: ThreatModel,
    steps: int = _DESCENT_STEPS,
) -> np.ndarray:
    """The input of lowest margin ``max_own out - out_j`` met by projected gradient descent from ``start`` (the
    solver's or the bounds' point): a counterexample search where a relaxation's point is not one."""
    x = threat.project(torch.as_tensor(start, dtype=x0.dtype).view_as(x0).to(x0.device)[None], x0[None])
    alpha = 2.5 * threat.eps / steps
    best, best_m = x, math.inf
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        out = model(x)[0]
        m = out[own].max() - out[j]
        if float(m.detach()) < best_m:
            best, best_m = x.detach(), float(m.detach())
        (grad,) = torch.autograd.grad(m, x)
        x = threat.project(x - alpha * threat.ascent_direction(grad), x0[None])
    return best[0].detach().double().cpu().numpy().reshape(-1)


def _margins(encoding: Encoding, point: np.ndarray, own: list[int], rivals: list[int]) -> list[float]:
    out = encoding.output(point[None, :])[0]
    best = max(out[i] for i in own)
    return [float(best - out[j]) for j in rivals]


def _into_set(point: np.ndarray, inputs: InputSet) -> np.ndarray:
    """``point`` clipped to the box and, for L2, scaled into the ball."""
    p = np.clip(point, inputs.lower, inputs.upper)
    if inputs.norm == "L2":
        d = p - inputs.center
        n = float(np.linalg.norm(d))
        if n > inputs.eps:
            p = np.clip(inputs.center + d * (inputs.eps / n), inputs.lower, inputs.upper)
    return p
