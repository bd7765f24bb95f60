"""Worst-case robust evaluation over a list of attacks (AutoAttack's protocol) under a success criterion."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.criteria import Criterion, get_criterion
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.threads import in_own_loop

if TYPE_CHECKING:
    import pandas as pd

AttackLike = Callable[[Tensor, Tensor], Tensor]
"""Anything called as ``x_adv = attack(x, y)``: a torchattacks ``Attack`` (ours or third-party)."""

ProgressHook = Callable[[str, int, int, int], None]
"""``progress(attack, robust, judged, n)``: called by :func:`evaluate` after each attack on each batch."""

_BALL_RTOL = 1e-5
_BALL_ATOL = 1e-6


def _fraction(flags: Tensor) -> float:
    """Share of True in ``flags`` as an exact ``k / n`` (NaN for no samples)."""
    return int(flags.sum()) / flags.numel() if flags.numel() else float("nan")


@dataclass
class EvalResult:
    """Per-sample outcome of :func:`evaluate`; every figure can be recomputed from the flags.

    Attributes:
        names (list[str]): attack names, in the order they ran.
        criterion (str): ``"fine"``, ``"coarse"`` or ``"targeted"``.
        clean_correct (Tensor): (N,) bool, correct on the clean input under the criterion.
        robust (Tensor): (N,) bool, clean-correct and broken by no attack (the worst case).
        success (dict[str, Tensor]): name -> (N,) bool, the attack's output succeeded (re-checked).
        ran (dict[str, Tensor]): name -> (N,) bool, the attack ran on the sample.
        grad_evals (dict[str, int | None]): name -> per-sample gradient evaluations spent, None
            where the attack does not count them.
        seconds (dict[str, float]): name -> wall-clock seconds spent in the attack.
        flags (list[tuple[str, str]]): ``(code, reason)`` warnings about the evaluation's reliability;
            code ``"noop_attack"``: an attack returned its inputs unchanged on every sample it attacked.
    """

    names: list[str]
    criterion: str
    clean_correct: Tensor
    robust: Tensor
    success: dict[str, Tensor] = field(default_factory=dict)
    ran: dict[str, Tensor] = field(default_factory=dict)
    grad_evals: dict[str, int | None] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    flags: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.clean_correct.numel())

    @property
    def clean_acc(self) -> float:
        """Clean accuracy under the criterion, a fraction in [0, 1]."""
        return _fraction(self.clean_correct)

    @property
    def robust_acc(self) -> float:
        """Worst-case robust accuracy over all attacks, a fraction in [0, 1]."""
        return _fraction(self.robust)

    @property
    def robust_acc_after(self) -> dict[str, float]:
        """Name -> robust accuracy against that attack and all earlier ones (AutoAttack's running figure)."""
        alive = self.clean_correct.clone()
        acc: dict[str, float] = {}
        for name in self.names:
            alive &= ~self.success[name]
            acc[name] = _fraction(alive)
        return acc

    @property
    def attack_robust_acc(self) -> dict[str, float]:
        """Name -> robust accuracy against that attack alone.

        Exact where the attack ran on every clean-correct sample (``early_exit=False`` or the first
        attack); with early exit a later attack never sees samples broken before it, so its figure
        is an upper bound.
        """
        return {name: _fraction(self.clean_correct & ~self.success[name]) for name in self.names}

    @property
    def total_grad_evals(self) -> int | None:
        """Gradient evaluations summed over the attacks, None if any attack does not count them."""
        counts = list(self.grad_evals.values())
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def to_frame(self) -> pd.DataFrame:
        """Per-sample pandas frame: ``clean_correct``, ``robust`` and ``<name>.success``, ``<name>.ran``."""
        import pandas as pd

        cols: dict[str, list[bool]] = {
            "clean_correct": self.clean_correct.tolist(),
            "robust": self.robust.tolist(),
        }
        for name in self.names:
            cols[f"{name}.success"] = self.success[name].tolist()
            cols[f"{name}.ran"] = self.ran[name].tolist()
        frame = pd.DataFrame(cols)
        frame.index.name = "sample"
        return frame


def _named(attacks: Sequence[AttackLike] | Mapping[str, AttackLike]) -> list[tuple[str, AttackLike]]:
    if isinstance(attacks, Mapping):
        pairs = [(str(k), a) for k, a in attacks.items()]
    elif isinstance(attacks, Sequence) and not isinstance(attacks, (str, bytes)):
        pairs = []
        seen: dict[str, int] = {}
        for a in attacks:
            base = str(getattr(a, "attack", type(a).__name__))
            seen[base] = seen.get(base, 0) + 1
            pairs.append((base if seen[base] == 1 else f"{base}_{seen[base]}", a))
        if any(n > 1 for n in seen.values()):
            firsts = {b for b, n in seen.items() if n > 1}
            pairs = [(f"{n}_1" if n in firsts else n, a) for n, a in pairs]
    else:
        raise RobinBenchError(
            f"attacks must be a sequence of attacks or a mapping name -> attack, got {type(attacks).__name__}"
        )
    for name, a in pairs:
        if not callable(a):
            raise RobinBenchError(f"attack {name!r} is a {type(a).__name__}, not callable as attack(x, y)")
    return pairs


def _labels(v: object, n: int, what: str) -> Tensor:
    if not isinstance(v, Tensor):
        raise RobinBenchError(f"{what} must be a torch.Tensor of class indices, got {type(v).__name__}")
    if v.dim() != 1 or v.shape[0] != n:
        raise RobinBenchError(f"{what} has shape {tuple(v.shape)}; expected ({n},), one entry per input")
    if v.dtype.is_floating_point or v.dtype == torch.bool or v.is_complex():
        raise RobinBenchError(f"{what} has dtype {v.dtype}; expected integer class indices")
    if n and int(v.min()) < 0:
        raise RobinBenchError(f"{what} holds {int(v.min())}; class indices are >= 0")
    return v.long()


def _check_inputs(x: object, y: object, targets: object, criterion: str) -> tuple[Tensor, Tensor, Tensor | None]:
    if not isinstance(x, Tensor):
        raise RobinBenchError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise RobinBenchError(f"x has shape {tuple(x.shape)}; expected (N, C, H, W)")
    if not x.dtype.is_floating_point:
        raise RobinBenchError(f"x has dtype {x.dtype}; expected floating-point pixels in [0, 1]")
    if x.numel() and not (bool(torch.isfinite(x).all()) and float(x.min()) >= 0 and float(x.max()) <= 1):
        raise RobinBenchError(
            f"x has values in [{float(x.min()):.4g}, {float(x.max()):.4g}]; inputs must be finite and in [0, 1]"
        )
    n = x.shape[0]
    yl = _labels(y, n, "y")
    if criterion == "targeted":
        if targets is None:
            raise RobinBenchError("criterion 'targeted' needs targets=(N,) class indices")
        tl = _labels(targets, n, "targets")
        if bool((tl == yl).any()):
            i = int((tl == yl).nonzero()[0, 0])
            raise RobinBenchError(f"targets[{i}] equals y[{i}] = {int(yl[i])}; a target must differ from the label")
        return x, yl, tl
    if targets is not None:
        raise RobinBenchError(f"targets were given with criterion {criterion!r}; they are used only by 'targeted'")
    return x, yl, None


def _check_output(name: str, threat: ThreatModel, x: Tensor, x_adv: object) -> Tensor:
    """``x_adv`` on ``x``'s device and dtype, else ``RobinBenchError``: wrong shape, not finite, outside box or ball."""
    if not isinstance(x_adv, Tensor) or x_adv.shape != x.shape:
        got = tuple(x_adv.shape) if isinstance(x_adv, Tensor) else type(x_adv).__name__
        raise RobinBenchError(f"attack {name!r} returned {got}; expected a tensor of shape {tuple(x.shape)}")
    x_adv = x_adv.detach().to(x.device, x.dtype)
    if not bool(torch.isfinite(x_adv).all()):
        raise RobinBenchError(f"attack {name!r} returned NaN or infinite inputs; the attack is broken")
    if float(x_adv.min()) < 0 or float(x_adv.max()) > 1:
        raise RobinBenchError(f"attack {name!r} returned inputs outside the [0, 1] box; the attack is broken")
    dist = threat.norm_of(x_adv - x)
    limit = threat.eps * (1 + _BALL_RTOL) + _BALL_ATOL
    if bool((dist > limit).any()):
        raise RobinBenchError(
            f"attack {name!r} returned a perturbation of {threat.norm} norm {float(dist.max()):.6g} > "
            f"eps {threat.eps:.6g} of the evaluation's threat model; the attack is broken or set for another eps"
        )
    return x_adv


def _threat(named: list[tuple[str, AttackLike]], norm: Norm | None, eps: float | None) -> ThreatModel:
    """The evaluation's threat model: ``norm``/``eps`` where given, else the robin-bench attacks' common one."""
    ours = [(name, a.threat) for name, a in named if isinstance(a, Attack)]

    def common(what: str) -> object:
        values = {getattr(t, what) for _, t in ours}
        if len(values) > 1:
            listed = ", ".join(f"{n}: {t.norm} {t.eps:g}" for n, t in ours)
            raise RobinBenchError(
                f"the attacks disagree on the threat model's {what} ({listed}); give evaluate {what}= explicitly"
            )
        if not values:
            raise RobinBenchError(
                "evaluate cannot tell the threat model: no robin-bench attack to take it from; pass norm= "
                "('Linf' or 'L2') and eps= so every attack's output is checked against the ball"
            )
        return values.pop()

    threat = ThreatModel(
        norm if norm is not None else common("norm"),  # type: ignore[arg-type]
        eps if eps is not None else common("eps"),  # type: ignore[arg-type]
    )
    for name, t in ours:
        if t.norm != threat.norm or t.eps > threat.eps:
            raise RobinBenchError(
                f"attack {name!r} has threat model {t.norm} eps {t.eps:g}, outside the evaluation's "
                f"{threat.norm} eps {threat.eps:g}; build it with the evaluation's norm and eps"
            )
    return threat


def _noop_reason(name: str, attack: AttackLike, n: int, log_probs: bool) -> str:
    reason = (
        f"attack {name!r} returned its inputs unchanged on all {n} samples it attacked: it did nothing, so it is "
        "no evidence of robustness (it may fail silently on this model's outputs)"
    )
    cls = type(attack)
    if cls.__module__.startswith("torchattacks") and cls.__name__ == "CW" and log_probs:
        reason += (
            "; torchattacks.CW masks the true class by multiplying the outputs by a one-hot, which assumes "
            "positive logits, so on log-probability outputs (HAR) it never moves: use rb.attacks.CW or "
            "rb.attacks.PGD(loss='margin')"
        )
    return reason


def _device_of(model: nn.Module) -> torch.device | None:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return None


@in_own_loop
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attacks: Sequence[AttackLike] | Mapping[str, AttackLike],
    *,
    criterion: str = "fine",
    hierarchy: Hierarchy | None = None,
    targets: Tensor | None = None,
    batch_size: int = 256,
    early_exit: bool = True,
    norm: Norm | None = None,
    eps: float | None = None,
    progress: ProgressHook | None = None,
) -> EvalResult:
    r"""Per-sample worst-case robustness of ``model`` over ``attacks`` (AutoAttack's protocol).

    Attacks run in the given order on the clean-correct samples; with ``early_exit`` each later
    attack runs only on the samples still robust. Every robin-bench attack runs under this
    evaluation's criterion for the duration of the call (``Attack.using_criterion``; restored
    afterwards), so it stops each sample on the success counted here and ascends an objective
    suited to it (e.g. the coarse margin). Success is re-checked here on each returned ``x_adv``
    (an attack's own claim is never trusted).

    Each attack gets copies of the inputs and labels; every output, of any attack (also third-party),
    must be finite and inside the [0, 1] box and the evaluation's threat model (``norm``, ``eps``),
    measured to the original inputs, else ``RobinBenchError``. An attack that returns its inputs
    unchanged on every sample it attacked gets a ``("noop_attack", reason)`` entry in ``flags``
    (except attacks declaring ``returns_clean_on_failure``, such as ``rb.attacks.AutoAttack``, which
    return the clean input wherever they fail).

    Reproducibility: robin-bench's own attacks draw random starts per sample (from their seed and the
    sample's bytes, :func:`~robin_bench.attacks.base.sample_seeds`), so their robust flags are the same
    for any ``batch_size``, with ``early_exit`` on or off and under any global RNG state (up to
    floating-point differences of batched matrix products, which can move a sample lying on a decision
    boundary). ``rb.attacks.AutoAttack`` (pyautoattack) seeds torch's generator itself, so it does not
    depend on the global RNG state, but a sample's result can depend on the other samples of its
    batch, hence on ``batch_size`` and ``early_exit`` (its ``batch_invariant`` is False: there, and only
    there, the per-sample guarantee stops; ``tests/attacks/test_reproducibility.py`` checks every attack
    of the standard set that declares ``batch_invariant``). Third-party attacks get no guarantee: seed the
    global RNG before calling.

    Batches are streamed, so memory does not grow with N.

    Threads: torch's, unless its threads spin on a machine whose cores other processes take and nobody
    chose them; then the idle cores' count for this call (:func:`robin_bench.threads.own_loop`; choose with
    ``rb.use_threads(n)``).

    Progress: ``progress(attack, robust, judged, n)`` is called after each attack on each batch (also
    where the attack had no sample left to attack), in the order they ran: ``attack`` is the name of
    the attack that just finished on the batch, ``judged`` the samples of this and earlier batches,
    ``robust`` how many of them are still robust (clean-correct and broken by no attack run on them
    so far), ``n`` the samples in all; ``robust / judged`` is the running robust accuracy. Within a
    batch ``robust`` never grows from one attack to the next, and the last call has ``judged == n``
    and ``robust == result.robust.sum()``. It runs in the caller's thread between attacks; the
    default None costs nothing.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) fine labels.
        attacks (Sequence | Mapping): attacks called as ``attack(x, y)`` (torchattacks ``Attack``s,
            ours or third-party), or a mapping name -> attack. Under ``"targeted"`` they are called as
            ``attack(x, targets)``; robin-bench attacks are put in torchattacks' ``targeted(label)``
            mode for the call, third-party ones must already be in it.
        criterion (str): ``"fine"`` (argmax != y), ``"coarse"`` (coarse class changes; needs
            ``hierarchy``) or ``"targeted"`` (argmax == target; needs ``targets``). (Default: ``"fine"``)
        hierarchy (Hierarchy | None): fine -> coarse map for ``"coarse"``. (Default: None)
        targets (Tensor | None): (N,) targets for ``"targeted"``. (Default: None)
        batch_size (int): samples per batch. (Default: 256)
        early_exit (bool): run later attacks only on samples still robust. (Default: True)
        norm (str | None): the evaluation's norm, ``"Linf"`` or ``"L2"``; None takes the robin-bench
            attacks' (they must agree; with only third-party attacks give it). (Default: None)
        eps (float | None): the evaluation's radius in input units; None as for ``norm``. (Default: None)
        progress (Callable[[str, int, int, int], None] | None): called as ``progress(attack, robust,
            judged, n)`` after each attack on each batch (see Progress above). (Default: None)

    Returns:
        EvalResult: per-sample flags, per-attack success, gradient evaluations, seconds and flags.

    Example::

        >>> res = rb.evaluate(model, x, y, [rb.attacks.PGD(model, eps=8/255), torchattacks.FGSM(model, eps=8/255)])
        >>> res.clean_acc, res.robust_acc, res.flags
        >>> rb.evaluate(model, x, y, attacks, progress=lambda a, k, m, n: print(f"{a}: {k}/{m} robust of {n}"))
    """
    crit: Criterion = get_criterion(criterion, hierarchy)
    x, y, targets = _check_inputs(x, y, targets, criterion)
    named = _named(attacks)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RobinBenchError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if criterion == "targeted":
        for name, a in named:
            if not isinstance(a, Attack) and getattr(a, "attack_mode", None) != "targeted(label)":
                raise RobinBenchError(
                    f"criterion 'targeted' calls attack(x, targets), but attack {name!r} is in mode "
                    f"{getattr(a, 'attack_mode', 'unknown')!r}; call attack.set_mode_targeted_by_label() first"
                )
    names = [n for n, _ in named]
    if len(set(names)) != len(names):
        raise RobinBenchError(f"attack names must be unique, got {names}")
    threat = _threat(named, norm, eps)
    if progress is not None and not callable(progress):
        raise RobinBenchError(
            f"progress is a {type(progress).__name__}; expected None or a callable progress(attack, robust, judged, n)"
        )

    n = x.shape[0]
    device = _device_of(model)
    clean_correct = torch.zeros(n, dtype=torch.bool)
    robust = torch.zeros(n, dtype=torch.bool)
    success = {name: torch.zeros(n, dtype=torch.bool) for name in names}
    ran = {name: torch.zeros(n, dtype=torch.bool) for name in names}
    moved = {name: torch.zeros(n, dtype=torch.bool) for name in names}
    grad_evals: dict[str, int | None] = {
        name: 0 if isinstance(getattr(a, "grad_evals", None), int) else None for name, a in named
    }
    seconds = dict.fromkeys(names, 0.0)
    log_probs = True
    robust_before = 0

    def attack_batch(
        name: str, attack: AttackLike, todo: Tensor, start: int, xb: Tensor, yb: Tensor, tb: Tensor | None
    ) -> Tensor:
        """Run ``attack`` on the batch's samples ``todo`` and record it; which of them it broke."""
        xs, ys = xb[todo.to(xb.device)], yb[todo.to(xb.device)]
        ts = tb[todo.to(xb.device)] if tb is not None else None
        aim = ts if ts is not None else ys
        before = getattr(attack, "grad_evals", 0)
        t0 = time.perf_counter()
        x_adv = attack(xs.clone(), aim.clone())
        seconds[name] += time.perf_counter() - t0
        count = grad_evals[name]
        if count is not None:
            grad_evals[name] = count + int(getattr(attack, "grad_evals", 0)) - int(before)
        x_adv = _check_output(name, threat, xs, x_adv)
        with torch.no_grad():
            hit = crit.success(model(x_adv), ys, ts).cpu()
        idx = todo + start
        ran[name][idx] = True
        success[name][idx] = hit
        moved[name][idx] = (x_adv != xs).flatten(1).any(1).cpu()
        return hit

    was_training = model.training
    model.eval()
    try:
        with ExitStack() as stack:
            for _, a in named:
                if isinstance(a, Attack):
                    stack.enter_context(a.using_criterion(crit))
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                sl = slice(start, stop)
                xb = x[sl].to(device) if device is not None else x[sl].clone()
                yb = y[sl].to(xb.device)
                tb = targets[sl].to(xb.device) if targets is not None else None
                with torch.no_grad():
                    out = model(xb)
                    ok = crit.correct(out, yb, tb).cpu()
                log_probs = log_probs and bool((out <= 0).all())
                clean_correct[sl] = ok
                alive = ok.clone()
                for name, attack in named:
                    todo = (alive if early_exit else ok).nonzero()[:, 0]
                    if todo.numel():
                        alive[todo[attack_batch(name, attack, todo, start, xb, yb, tb)]] = False
                    if progress is not None:
                        progress(name, robust_before + int(alive.sum()), stop, n)
                robust[sl] = alive
                robust_before += int(alive.sum())
    finally:
        model.train(was_training)
    flags = [
        ("noop_attack", _noop_reason(name, attack, int(ran[name].sum()), log_probs))
        for name, attack in named
        if bool(ran[name].any())
        and not bool(moved[name].any())
        and not getattr(attack, "returns_clean_on_failure", False)
    ]
    return EvalResult(
        names=names,
        criterion=criterion,
        clean_correct=clean_correct,
        robust=robust,
        success=success,
        ran=ran,
        grad_evals=grad_evals,
        seconds=seconds,
        flags=flags,
    )
