"""Sanity checks of a robustness evaluation: gradient masking and attack failure, judged per sample.

After Athalye et al. 2018 ('Obfuscated Gradients Give a False Sense of Security',
https://arxiv.org/abs/1802.00420), Carlini et al. 2019 ('On Evaluating Adversarial Robustness',
https://arxiv.org/abs/1902.06705), Pintor et al. 2022 ('Indicators of Attack Failure',
https://arxiv.org/abs/2106.09947) and AutoAttack's flags.

Every check that compares attacks, or looks for a symptom sample by sample, counts the samples that
show the symptom and flags when the count exceeds a tolerance stated in samples
(:func:`count_tolerance`): the largest count a healthy model shows with probability above ``ALPHA``
when each candidate sample shows the symptom with probability at most ``HEALTHY_RATE[code]``
(a one-sided binomial bound). No decision compares two fractions at an edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from scipy.stats import binom
from torch import Tensor, nn

from robin_bench.attacks.autoattack import MIN_CLASSES, AutoAttack
from robin_bench.attacks.base import sample_seeds
from robin_bench.attacks.evaluate import AttackLike, EvalResult, evaluate
from robin_bench.attacks.fgsm import FGSM
from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.rays import RayS
from robin_bench.attacks.standard import RAYS_QUERIES
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.attacks.transfer import TransferAttack
from robin_bench.errors import RobinBenchError
from robin_bench.models.kinds import kind_of

FLAG_CODES: dict[str, str] = {
    "zero_grad": "an input gradient through an arm, head or the output is exactly zero for some samples",
    "nonfinite_grad": "an input gradient is NaN or infinite for some samples",
    "probability_output": "the output rows lie in [0, 1] and sum to 1: probabilities instead of logits",
    "randomized": "two forward passes in eval mode on the same input differ",
    "eps_not_monotone": "more samples than tolerated are broken by PGD at a smaller eps and not at a larger one",
    "large_eps_robust": "more samples than tolerated stay robust at an eps that covers the whole box",
    "single_step_stronger": "FGSM breaks more samples than tolerated that PGD left robust",
    "black_box_stronger": "attacks without the model's gradients (gradient-free or transfer) break more samples "
    "than tolerated that every gradient attack left robust",
    "not_converged": "PGD with more steps and restarts breaks more samples than tolerated that the base budget "
    "left robust",
    "shattered_grad": "input gradients at x and at x plus tiny noise point apart (cosine below COS_MIN) on more "
    "samples than tolerated",
    "masking_undecided": "a count check is borderline (above a healthy model's count at level BORDERLINE_ALPHA) but "
    "within its tolerance: the row's n is too small to tell a mask of that size from a healthy "
    "model (raised by the escalation rule of robin_bench.attacks.escalation)",
    "blind_coordinates": "input coordinates whose gradient is (near) zero move the margin within eps, by more than "
    "BLIND_TAU of the gradient's first-order reach, on more samples than tolerated (a gradient "
    "masked on part of the input)",
}
"""Flag code -> what it means. Any flag makes the evaluation ``unreliable``."""

ALPHA: float = 0.001
"""Per-check false-alarm level of the count checks. A sanity check runs nine count checks with the
default ``eps_factors``, so by Bonferroni a model that meets every ``HEALTHY_RATE`` raises a count
flag in at most 0.9% of sanity checks."""

HEALTHY_RATE: dict[str, float] = {
    "shattered_grad": 0.05,
    "blind_coordinates": 0.02,
    "not_converged": 0.1,
    "single_step_stronger": 0.05,
    "black_box_stronger": 0.02,
    "eps_not_monotone": 0.05,
    "large_eps_robust": 0.02,
}
"""Count-check code -> p0, the largest share of candidate samples on which a healthy model may show
the symptom (the null hypothesis of :func:`count_tolerance`).

Measured on the four healthy models of ``tests/attacks/masked_models.py`` (PGD-trained flat MLP,
ROBIN and HAR at Linf 0.1, a linear model; digits 0-4), on 183 test and 300 training samples at
Linf eps 0.05, 0.1, 0.2 and 0.3 (half to three times the training eps): 32 sanity checks, no flag.
Each p0 is at least twice the largest share measured, or a literature figure where none was seen:

- ``shattered_grad``: candidates are the samples with finite non-zero gradients at x and at the
  noisy point. A piecewise-linear network keeps its gradient unless the noise crosses a ReLU
  boundary; measured 0. p0 = 5%. Shattered models: 55-56 of 60.
- ``not_converged``: candidates are the clean-correct samples; symptom: broken by PGD with
  ``convergence_factor`` times the steps and ``convergence_restarts`` restarts and not by PGD.
  Measured at most 4.7% (8 of 170, at twice the training eps, where 20 steps fall short). p0 = 10%.
- ``single_step_stronger``: candidates are the clean-correct samples; symptom: broken by FGSM and by
  neither PGD. Measured at most 2.8% (7 of 249). p0 = 5%.
- ``black_box_stronger``: candidates are the clean-correct samples; symptom: broken by a
  gradient-free or transfer attack and by no gradient attack, i.e. a sample by which the gradient
  worst case overstates robustness. Croce & Hein 2020 (AutoAttack) find Square lowering robust
  accuracy after APGD by well under a point on defenses without masking; measured 0. p0 = 2%.
- ``eps_not_monotone``: candidates are the samples PGD breaks at the smaller eps; symptom: not
  broken at the next larger eps (a different random start and step may miss one); measured 0. p0 = 5%.
- ``large_eps_robust``: candidates are all samples; symptom: robust at an eps covering the box;
  measured 0. p0 = 2%.
- ``blind_coordinates``: candidates are the samples with a finite non-zero margin gradient; symptom: the
  coordinates with a (near) zero gradient move the margin within eps by more than ``BLIND_TAU`` of the
  gradient's reach. A network without a gradient-blocking step has no blind coordinates; measured 0 of 150
  test digits on the four healthy models at Linf 0.05, 0.1, 0.2 and 0.3 (16 checks). p0 = 2%. Partially
  quantized models (gradient zeroed on 30% of the pixels): 96-148 of 150.

Attack comparisons count over the clean-correct samples, not over the samples the earlier attacks
left robust: those are the samples the earlier attacks find hardest, so the share of them a second
attack breaks grows as they get few (a healthy flat MLP at three times its training eps kept 5
samples robust against PGD, and the long PGD broke all 5), while the count over all samples stays
small on healthy models and is what matters: samples by which the weaker evaluation overstates
robustness.
"""

BORDERLINE_ALPHA: float = 0.05
"""Level of :attr:`Evidence.borderline`: a healthy model meeting ``HEALTHY_RATE`` shows a borderline count in at
most 5% of checks; a borderline count escalates the attack budgets (:mod:`robin_bench.attacks.escalation`)."""

NOISE_SCALE: float = 0.01
"""Radius of the gradient-consistency noise, a fraction of ``eps`` (PGD's default step is 0.125 eps)."""

BLIND_REL: float = 1e-4
"""A coordinate is blind to the gradient when its entry is at most this times the largest entry of the sample."""

BLIND_TAU: float = 0.1
"""``blind_coordinates`` symptom: the blind coordinates alone move the margin by more than this share of the
gradient's first-order reach over the ball."""

BLIND_DRAWS: int = 8
"""Random sign patterns tried on the blind coordinates of each sample."""

COS_MIN: float = 0.5
"""A sample's gradients at x and at x plus noise are inconsistent when their cosine is below this
(60 degrees). Healthy piecewise-linear networks give cosines near 1 and shattered gradients near 0,
so no count depends on where in between the line falls."""


def count_tolerance(n: int, p0: float, alpha: float = ALPHA) -> int:
    r"""Most symptomatic samples out of ``n`` a healthy model shows at level ``alpha``: a one-sided binomial bound.

    Under the null hypothesis (a healthy model) the count is at most Binomial(``n``, ``p0``); the
    tolerance is the smallest ``t`` with P(count > t) <= ``alpha``, so a count above ``t`` flags and
    a healthy model is flagged with probability at most ``alpha``.

    Arguments:
        n (int): candidate samples, >= 0.
        p0 (float): largest share of candidates a healthy model shows the symptom on, in [0, 1).
        alpha (float): false-alarm level, in (0, 1). (Default: ``ALPHA``)

    Returns:
        int: the tolerance ``t`` in samples, 0 <= t <= n.

    Example::

        >>> count_tolerance(100, 0.05), count_tolerance(0, 0.05)
        (13, 0)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise RobinBenchError(f"count_tolerance n={n!r}; expected an integer >= 0")
    if not (isinstance(p0, (int, float)) and 0 <= p0 < 1):
        raise RobinBenchError(f"count_tolerance p0={p0!r}; expected a share in [0, 1)")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise RobinBenchError(f"count_tolerance alpha={alpha!r}; expected a level in (0, 1)")
    t = min(max(int(binom.isf(alpha, n, p0)), 0), n)
    while t > 0 and binom.sf(t - 1, n, p0) <= alpha:
        t -= 1
    while t < n and binom.sf(t, n, p0) > alpha:
        t += 1
    return t


@dataclass(frozen=True)
class Evidence:
    """A count check: ``count`` of ``n`` candidate samples show the symptom of ``code``; flagged above ``tolerance``.

    Attributes:
        code (str): the flag code, a key of ``FLAG_CODES`` and ``HEALTHY_RATE``.
        count (int): samples showing the symptom.
        n (int): candidate samples.
        tolerance (int): :func:`count_tolerance` of ``n`` at ``HEALTHY_RATE[code]`` and ``ALPHA``.
        what (str): the symptom and the candidates, for the flag's reason.
        samples (tuple[int, ...]): the indices (rows of the evaluated inputs, the cell's flags file) of the
            ``count`` samples showing the symptom, ascending.
        broken_by (tuple[str, ...]): per entry of ``samples``, the attack whose success is the symptom (the
            first that broke it, for comparisons of attacks), or ``""`` where the symptom is no attack's
            success (a gradient, a sample left robust).
    """

    code: str
    count: int
    n: int
    tolerance: int
    what: str
    samples: tuple[int, ...] = ()
    broken_by: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when the count exceeds the tolerance."""
        return self.count > self.tolerance

    @property
    def borderline(self) -> bool:
        """True when the count exceeds the tolerance at the looser level ``BORDERLINE_ALPHA`` (flagged included):
        evidence too weak to flag, strong enough to escalate the attack budgets."""
        return self.count > count_tolerance(self.n, HEALTHY_RATE[self.code], BORDERLINE_ALPHA)

    @property
    def listing(self) -> str:
        """The samples behind the count, as ``"3 (rays), 17 (square)"`` (``"3, 17"`` where no attack broke them)."""
        return ", ".join(f"{i} ({a})" if a else str(i) for i, a in zip(self.samples, self.broken_by, strict=True))

    @property
    def flag(self) -> tuple[str, str]:
        """(code, reason) naming the count, the candidates, the tolerance and the samples behind the count."""
        p0 = HEALTHY_RATE[self.code]
        samples = f"; samples (flags-file rows): {self.listing}" if self.samples else ""
        return self.code, (
            f"{self.what}: {self.count} of {self.n} samples, tolerance {self.tolerance} "
            f"(binomial, healthy rate {p0:g}, level {ALPHA:g}){samples}"
        )


def _evidence(
    code: str, symptom: Tensor, candidates: Tensor, what: str, attacks: dict[str, Tensor] | None = None
) -> Evidence:
    """Count ``symptom`` over ``candidates``; ``attacks`` (name -> (N,) success, in run order) name who broke each."""
    n = int(candidates.sum())
    shown = (symptom & candidates).cpu()
    samples = tuple(int(i) for i in shown.nonzero()[:, 0])
    broken_by = tuple(next((name for name, hit in (attacks or {}).items() if bool(hit[i])), "") for i in samples)
    return Evidence(code, len(samples), n, count_tolerance(n, HEALTHY_RATE[code]), what, samples, broken_by)


@dataclass
class SanityReport:
    """Outcome of :func:`sanity_check`.

    Attributes:
        flags (list[tuple[str, str]]): (code, reason) for every failed check; codes are keys of ``FLAG_CODES``.
        robust_acc (dict[str, float]): robust accuracies, fractions in [0, 1] of all samples: PGD at each
            eps of the monotonicity curve (``"pgd@0.1"``), ``"gradient"`` (worst case of the gradient
            attacks) and ``"worst_case"`` (of every attack the check ran).
        evidence (list[Evidence]): every count check, flagged or not.
    """

    flags: list[tuple[str, str]] = field(default_factory=list)
    robust_acc: dict[str, float] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def unreliable(self) -> bool:
        """True when any check failed."""
        return bool(self.flags)

    @property
    def codes(self) -> list[str]:
        """The flag codes, in the order they were raised."""
        return [code for code, _ in self.flags]

    def add(self, evidence: Evidence) -> None:
        """Record a count check and its flag when it fails."""
        self.evidence.append(evidence)
        if evidence.flagged:
            self.flags.append(evidence.flag)


def _survivors(result: EvalResult, names: Sequence[str]) -> Tensor:
    """(N,) clean-correct samples that no attack in ``names`` broke."""
    alive = result.clean_correct.clone()
    for name in names:
        alive &= ~result.success[name]
    return alive


def _check_names(result: EvalResult, gradient: Sequence[str], others: Sequence[str]) -> None:
    listed = [*gradient, *others]
    unknown = [name for name in listed if name not in result.names]
    if unknown:
        raise RobinBenchError(f"masking_flags: attacks {unknown} are not in the result; it ran {result.names}")
    if len(set(listed)) != len(listed):
        raise RobinBenchError(
            f"masking_flags: an attack is listed twice across gradient, gradient_free, transfer: {listed}"
        )
    if not gradient or not others:
        raise RobinBenchError(
            f"masking_flags needs gradient attacks and gradient-free or transfer attacks to compare, got "
            f"gradient={list(gradient)} and {list(others)}"
        )


def _check_order(result: EvalResult, gradient: Sequence[str], others: Sequence[str]) -> None:
    """Under early exit a later attack sees only survivors: every gradient attack must run before the others."""
    if all(bool(result.ran[name][result.clean_correct].all()) for name in [*gradient, *others]):
        return  # every attack ran on every clean-correct sample (no early exit): order is irrelevant
    position = {name: i for i, name in enumerate(result.names)}
    last_gradient = max(position[g] for g in gradient)
    early = [name for name in others if position[name] < last_gradient]
    if early:
        raise RobinBenchError(
            f"masking_flags: {early} ran before gradient attack {result.names[last_gradient]!r} under early exit; "
            "run every gradient attack first (or evaluate with early_exit=False)"
        )


def masking_evidence(
    result: EvalResult,
    *,
    gradient: Sequence[str],
    gradient_free: Sequence[str] = (),
    transfer: Sequence[str] = (),
) -> Evidence:
    r"""Per-sample comparison of gradient-free and transfer attacks with the gradient-based worst case.

    Athalye et al. 2018, Carlini et al. 2019 (Section 4.4) and Pintor et al. 2022: on a model whose
    gradients are informative, a sample that every gradient attack leaves robust is rarely broken by an
    attack that uses no gradient of the model, whether it only queries the model (gradient-free:
    Square, boundary attacks) or follows the gradients of another model (transfer). A clean-correct
    sample that no attack in ``gradient`` broke and some attack in ``gradient_free`` or ``transfer``
    broke shows the symptom (code ``black_box_stronger``): it is a sample by which the gradient worst
    case overstates robustness. Each sample counts once; the candidates are all clean-correct samples
    (``HEALTHY_RATE`` says why not only the gradient-robust ones).

    Order: with ``rb.evaluate``'s early exit a later attack runs only on the samples still robust, so
    every success of a non-gradient attack that ran after all gradient attacks is, by construction, a
    sample they all left robust, which is the comparison wanted. Run every gradient attack first;
    otherwise (unless every listed attack ran on every clean-correct sample, ``early_exit=False``)
    ``RobinBenchError``.

    Arguments:
        result (EvalResult): the per-sample outcome of ``rb.evaluate``.
        gradient (Sequence[str]): names (as in ``result.names``) of the attacks that use the model's
            gradients; at least one.
        gradient_free (Sequence[str]): names of attacks that only query the model. (Default: ())
        transfer (Sequence[str]): names of transfer attacks (gradients of another model). (Default: ())
            At least one name in ``gradient_free`` or ``transfer``.

    Returns:
        Evidence: the count, the candidates and the tolerance (:func:`count_tolerance` at
        ``HEALTHY_RATE["black_box_stronger"]`` and ``ALPHA``); the reason names each attack's count.

    Example::

        >>> res = rb.evaluate(model, x, y, {"pgd": pgd, "square": square})
        >>> masking_evidence(res, gradient=["pgd"], gradient_free=["square"]).flagged
        False
    """
    others = [*gradient_free, *transfer]
    _check_names(result, gradient, others)
    _check_order(result, gradient, others)
    missed = _survivors(result, gradient)
    hit = torch.zeros_like(missed)
    for name in others:
        hit |= result.success[name] & missed
    each = ", ".join(f"{name} {int((result.success[name] & missed).sum())}" for name in others)
    what = (
        f"attacks without the model's gradients ({each}) broke samples that gradient attacks {list(gradient)} "
        "left robust, of the clean-correct samples"
    )
    return _evidence(
        "black_box_stronger", hit, result.clean_correct, what, {name: result.success[name].cpu() for name in others}
    )


def masking_flags(
    result: EvalResult,
    *,
    gradient: Sequence[str],
    gradient_free: Sequence[str] = (),
    transfer: Sequence[str] = (),
) -> list[tuple[str, str]]:
    r"""``[("black_box_stronger", reason)]`` when :func:`masking_evidence` exceeds its tolerance, else ``[]``.

    Samples that only a gradient-free or transfer attack breaks are evidence of gradient masking; the
    flag is raised when their count exceeds :func:`count_tolerance` of the gradient-robust samples at
    ``HEALTHY_RATE["black_box_stronger"]`` and ``ALPHA``. Same arguments and order requirement as
    :func:`masking_evidence` (run every gradient attack first).

    Arguments:
        result (EvalResult): the per-sample outcome of ``rb.evaluate``.
        gradient (Sequence[str]): names of the attacks that use the model's gradients.
        gradient_free (Sequence[str]): names of attacks that only query the model. (Default: ())
        transfer (Sequence[str]): names of transfer attacks. (Default: ())

    Returns:
        list[tuple[str, str]]: zero or one (code, reason) flag.

    Example::

        >>> res = rb.evaluate(model, x, y, {"apgd": apgd, "square": square, "transfer": transfer})
        >>> masking_flags(res, gradient=["apgd"], gradient_free=["square"], transfer=["transfer"])
        []
    """
    evidence = masking_evidence(result, gradient=gradient, gradient_free=gradient_free, transfer=transfer)
    return [evidence.flag] if evidence.flagged else []


def _score(out: Tensor) -> Tensor:
    """(N,) a per-sample scalar of raw scores that does not saturate: the logit (one column) or top-1 minus top-2."""
    if out.shape[1] == 1:
        return out[:, 0]
    top = out.topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def _gradient_flags(model: nn.Module, x: Tensor, y: Tensor) -> list[tuple[str, str]]:
    flags = []
    targets: list[tuple[str, nn.Module | None, int | None]] = [("output", None, None), *kind_of(model).heads(model)]
    for name, module, _ in targets:
        xg = x.detach().clone().requires_grad_(True)
        value = F.cross_entropy(model(xg), y, reduction="sum") if module is None else _score(module(xg)).sum()
        grad = torch.autograd.grad(value, xg, allow_unused=True)[0] if value.requires_grad else None
        if grad is None:
            flags.append(("zero_grad", f"{name}: the output does not depend on the input (no gradient path)"))
            continue
        flat = grad.flatten(1)
        bad = ~torch.isfinite(flat).all(1)
        zero = (flat == 0).all(1) & ~bad
        if bool(bad.any()):
            flags.append(("nonfinite_grad", f"{name}: {int(bad.sum())}/{len(x)} samples have NaN/inf input gradients"))
        if bool(zero.any()):
            flags.append(("zero_grad", f"{name}: {int(zero.sum())}/{len(x)} samples have zero input gradients"))
    return flags


def _margin_grad(model: nn.Module, x: Tensor, y: Tensor, other: Tensor) -> Tensor | None:
    """(N, D) input gradient of ``out[y] - out[other]``, None when the output does not depend on the input."""
    xg = x.detach().clone().requires_grad_(True)
    out = model(xg)
    margin = out.gather(1, y[:, None]) - out.gather(1, other[:, None])
    if not margin.requires_grad:
        return None
    (grad,) = torch.autograd.grad(margin.sum(), xg, allow_unused=True)
    return None if grad is None else grad.flatten(1)


def _shattered_evidence(model: nn.Module, x: Tensor, y: Tensor, *, norm: Norm, eps: float, seed: int) -> Evidence:
    """Gradient consistency under tiny noise (Athalye et al.'s shattered gradients; Pintor et al.'s indicators).

    The margin between the label and the best other output at x (the pair is fixed, so a near tie
    cannot switch it) is differentiated at x and at a random point within ``NOISE_SCALE * eps`` (in
    the box). A piecewise-linear network has the same gradient at both unless a ReLU boundary lies
    in between; shattered gradients point anywhere. Samples with a zero or non-finite gradient are
    not candidates (``zero_grad`` and ``nonfinite_grad`` report them).
    """
    with torch.no_grad():
        out = model(x)
    other = out.scatter(1, y[:, None], float("-inf")).argmax(1)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    x_near = ThreatModel(norm, NOISE_SCALE * eps).random_start(x, generator)
    g0, g1 = _margin_grad(model, x, y, other), _margin_grad(model, x_near, y, other)
    what = f"input gradients at x and within {NOISE_SCALE:g} eps of x have cosine < {COS_MIN:g}"
    if g0 is None or g1 is None:
        none = torch.zeros(len(x), dtype=torch.bool)
        return _evidence("shattered_grad", none, none, what)
    usable = torch.isfinite(g0).all(1) & torch.isfinite(g1).all(1) & (g0 != 0).any(1) & (g1 != 0).any(1)
    cos = F.cosine_similarity(torch.nan_to_num(g0), torch.nan_to_num(g1), dim=1)
    return _evidence("shattered_grad", (cos < COS_MIN).cpu(), usable.cpu(), what)


def _blind_coordinates_evidence(
    model: nn.Module, x: Tensor, y: Tensor, *, norm: Norm, eps: float, seed: int
) -> Evidence:
    """Coordinates the gradient calls irrelevant that move the margin (partial masking: Athalye et al. 2018).

    The margin between the label and the best other output at x is differentiated at x; its blind
    coordinates are those whose gradient is at most ``BLIND_REL`` times the largest entry (zero where a
    preprocessing step blocks the gradient on some pixels). Only the blind coordinates are then moved to the
    edge of the ball, ``BLIND_DRAWS`` times with random signs (seeded per sample); to first order the margin
    cannot move. The symptom is a move larger than ``BLIND_TAU`` times the gradient's first-order reach over
    the whole ball (``eps`` times the dual norm of the gradient: what an attack following the gradient expects
    to gain at most). Candidates: samples with a finite, non-zero gradient.
    """
    with torch.no_grad():
        out = model(x)
    other = out.scatter(1, y[:, None], float("-inf")).argmax(1)
    what = (
        f"moving only the input coordinates whose gradient is (near) zero moved the margin by more than "
        f"{BLIND_TAU:g} of the gradient's first-order reach over the ball"
    )
    g = _margin_grad(model, x, y, other)
    if g is None:
        none = torch.zeros(len(x), dtype=torch.bool)
        return _evidence("blind_coordinates", none, none, what)
    usable = torch.isfinite(g).all(1) & (g != 0).any(1)
    g = torch.nan_to_num(g)
    blind = g.abs() <= BLIND_REL * g.abs().amax(1, keepdim=True)
    reach = eps * (g.abs().sum(1) if norm == "Linf" else g.norm(dim=1))
    with torch.no_grad():
        base = out.gather(1, y[:, None])[:, 0] - out.gather(1, other[:, None])[:, 0]
        moved = torch.zeros(len(x), device=x.device)
        seeds = sample_seeds(x, seed, "blind")
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        for _ in range(BLIND_DRAWS):
            signs = torch.stack([torch.randint(0, 2, g.shape[1:], generator=gen) for gen in gens]).to(g) * 2 - 1
            step = signs * blind
            if norm == "L2":
                step = step / step.norm(dim=1, keepdim=True).clamp_min(1e-12)
            x_blind = (x + eps * step.view_as(x)).clamp(0, 1)
            o = model(x_blind)
            margin = o.gather(1, y[:, None])[:, 0] - o.gather(1, other[:, None])[:, 0]
            moved = torch.maximum(moved, (margin - base).abs())
    symptom = blind.any(1) & (moved > BLIND_TAU * reach)
    return _evidence("blind_coordinates", symptom.cpu(), usable.cpu(), what)


def _large_eps(norm: Norm, x: Tensor) -> float:
    """An eps whose ball contains the whole [0, 1] box around any input: 1 (Linf) or sqrt(d) (L2)."""
    return 1.0 if norm == "Linf" else math.sqrt(x[0].numel())


def sanity_check(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    norm: Norm = "Linf",
    eps: float,
    steps: int = 20,
    square_queries: int = 500,
    rays_queries: int = RAYS_QUERIES,
    eps_factors: tuple[float, ...] = (0.25, 0.5, 1.0),
    convergence_factor: int = 5,
    convergence_restarts: int = 2,
    surrogate: nn.Module | None = None,
    seed: int = 0,
) -> SanityReport:
    r"""Checks that tell whether a gradient-based robustness evaluation of ``model`` can be trusted.

    After Athalye et al. 2018 (https://arxiv.org/abs/1802.00420), Carlini et al. 2019
    (https://arxiv.org/abs/1902.06705), Pintor et al. 2022 (https://arxiv.org/abs/2106.09947) and
    AutoAttack's flags. Each failed check adds a (code, reason) flag (``FLAG_CODES``).

    Checks of the model:

    - ``zero_grad`` / ``nonfinite_grad``: input gradients of the cross-entropy on the output, and of
      every arm (ROBIN) or head (HAR coarse and each fine network with >= 2 classes; raw top-1 minus
      top-2 score, which does not saturate), are exactly zero or not finite for some sample.
    - ``probability_output``: all outputs in [0, 1] with rows summing to 1. HAR's log-probabilities
      are <= 0 and their rows do not sum to 1, so they pass (their ``exp`` would not).
    - ``randomized``: two forward passes in eval mode (how attacks see the model) differ.

    Count checks, each a per-sample count against :func:`count_tolerance` (``HEALTHY_RATE`` says
    which samples are candidates and why the rate holds on a healthy model):

    - ``shattered_grad``: gradient of the label's margin at x and at x plus noise of
      ``NOISE_SCALE * eps`` with cosine below ``COS_MIN``.
    - ``blind_coordinates``: the coordinates where that gradient is (near) zero, moved alone to the edge of
      the ball, move the margin by more than ``BLIND_TAU`` of the gradient's first-order reach (a gradient
      masked on part of the input).
    - One ``rb.evaluate`` at ``eps`` with early exit, attacks in this order: PGD (``steps``), PGD
      with ``convergence_factor`` times the steps and ``convergence_restarts`` restarts, FGSM,
      APGD-DLR (pyautoattack, ``steps`` iterations, 5 restarts; APGD-CE for two classes), Square
      (``square_queries``), RayS (``rays_queries``, Linf) and, with ``surrogate``, a transfer PGD from
      it. Each later attack runs only on the samples all earlier ones left robust, so its successes are samples they all
      missed: ``not_converged`` (the long PGD's), ``single_step_stronger`` (FGSM's) and
      ``black_box_stronger`` (Square's, RayS's and the transfer's, :func:`masking_evidence` against the four
      gradient attacks), each counted over the clean-correct samples.
    - ``eps_not_monotone``: samples PGD breaks at ``eps * f`` but not at the next larger eps of
      ``eps * eps_factors`` and the large eps.
    - ``large_eps_robust``: samples PGD leaves robust at an eps covering the box (1 for Linf,
      sqrt(d) for L2).

    Accuracies are fractions of all samples (clean misclassifications count as broken). The model's
    train/eval mode is restored. Cost: about ``steps * (len(eps_factors) + 6 + convergence_factor *
    convergence_restarts)`` forward-backward passes on the samples still robust plus ``square_queries``
    forward passes; seconds for a tiny model on a hundred samples.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        x (Tensor): (N, C, H, W) inputs in [0, 1]; a few dozen samples are enough, more make the
            count checks more sensitive.
        y (Tensor): (N,) labels.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): the evaluation's radius, in input units.
        steps (int): PGD steps. (Default: 20)
        square_queries (int): Square's query budget. (Default: 500)
        rays_queries (int): RayS's queries per sample (Linf; label-only, so faked scores cannot hide the
            boundary from it); 0 leaves it out. (Default: ``RAYS_QUERIES``, 1000)
        eps_factors (tuple[float, ...]): multiples of ``eps`` for the monotonicity check, ascending,
            containing 1. (Default: (0.25, 0.5, 1.0))
        convergence_factor (int): step multiplier of the convergence PGD, >= 2. (Default: 5)
        convergence_restarts (int): restarts of the convergence PGD, >= 1. (Default: 2)
        surrogate (nn.Module | None): a model with informative gradients (e.g. the same architecture
            trained without the suspected defense) for the transfer comparison. (Default: None)
        seed (int): seed of the attacks and the noise. (Default: 0)

    Returns:
        SanityReport: flags, ``unreliable``, robust accuracies and the evidence of every count check.

    Example::

        >>> report = rb.sanity_check(model, x, y, norm="Linf", eps=8 / 255)
        >>> report.unreliable, report.flags
    """
    ThreatModel(norm, eps)
    if x.dim() < 2 or y.dim() != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise RobinBenchError(
            f"sanity_check got inputs {tuple(x.shape)} and labels {tuple(y.shape)}; "
            "expected (N, C, H, W) and (N,), N >= 1"
        )
    if list(eps_factors) != sorted(eps_factors) or 1.0 not in eps_factors or min(eps_factors) <= 0:
        raise RobinBenchError(f"sanity_check eps_factors {eps_factors!r} must be ascending, positive and contain 1.0")
    if convergence_factor < 2 or convergence_restarts < 1:
        raise RobinBenchError(
            f"sanity_check convergence_factor={convergence_factor} and convergence_restarts={convergence_restarts}; "
            "expected a factor >= 2 and restarts >= 1"
        )
    was_training = model.training
    model.eval()
    try:
        report = SanityReport()
        _model_checks(report, model, x, y, norm=norm, eps=eps, seed=seed)
        attacks = _comparison_attacks(
            model,
            x,
            norm=norm,
            eps=eps,
            steps=steps,
            square_queries=square_queries,
            rays_queries=rays_queries,
            convergence_factor=convergence_factor,
            convergence_restarts=convergence_restarts,
            surrogate=surrogate,
            seed=seed,
        )
        result = evaluate(model, x, y, attacks)
        _comparison_checks(report, result)
        _curve_checks(report, model, x, y, result, norm=norm, eps=eps, steps=steps, eps_factors=eps_factors, seed=seed)
        return report
    finally:
        model.train(was_training)


def _model_checks(
    report: SanityReport, model: nn.Module, x: Tensor, y: Tensor, *, norm: Norm, eps: float, seed: int
) -> None:
    report.flags += _gradient_flags(model, x, y)
    with torch.no_grad():
        out, again = model(x), model(x)
    if bool(out.min() >= 0) and bool(out.max() <= 1) and bool(((out.sum(1) - 1).abs() < 1e-4).all()):
        report.flags.append(("probability_output", "every output row is in [0, 1] and sums to 1; return logits"))
    if not torch.allclose(out, again, rtol=1e-5, atol=1e-6):
        diff = float((out - again).abs().max())
        report.flags.append(("randomized", f"two eval-mode forward passes differ by up to {diff:.3g}"))
    report.add(_shattered_evidence(model, x, y, norm=norm, eps=eps, seed=seed))
    report.add(_blind_coordinates_evidence(model, x, y, norm=norm, eps=eps, seed=seed))


_GRADIENT = ("pgd", "pgd_long", "fgsm", "apgd")
"""The comparison's gradient attacks, in run order; the gradient-free and transfer attacks follow."""


def _comparison_attacks(
    model: nn.Module,
    x: Tensor,
    *,
    norm: Norm,
    eps: float,
    steps: int,
    square_queries: int,
    rays_queries: int,
    convergence_factor: int,
    convergence_restarts: int,
    surrogate: nn.Module | None,
    seed: int,
) -> dict[str, AttackLike]:
    with torch.no_grad():
        n_classes = int(model(x[:1]).shape[1])
    apgd = ["apgd-dlr"] if n_classes >= MIN_CLASSES["apgd-dlr"] else ["apgd-ce"]  # PGD already follows the CE
    attacks: dict[str, AttackLike] = {
        "pgd": PGD(model, norm=norm, eps=eps, steps=steps, seed=seed),
        "pgd_long": PGD(
            model, norm=norm, eps=eps, steps=steps * convergence_factor, restarts=convergence_restarts, seed=seed + 1
        ),
        "fgsm": FGSM(model, norm=norm, eps=eps),
        "apgd": AutoAttack(model, norm=norm, eps=eps, version="custom", attacks_to_run=apgd, n_iter=steps, seed=seed),
        "square": AutoAttack(
            model, norm=norm, eps=eps, version="custom", attacks_to_run=["square"], n_queries=square_queries, seed=seed
        ),
    }
    if norm == "Linf" and rays_queries > 0:
        attacks["rays"] = RayS(model, eps=eps, queries=rays_queries, seed=seed)
    if surrogate is not None:
        surrogate.eval()
        attacks["transfer"] = TransferAttack(surrogate, model, norm=norm, eps=eps, steps=steps, seed=seed)
    return attacks


def _comparison_checks(report: SanityReport, result: EvalResult) -> None:
    only_long = result.success["pgd_long"] & _survivors(result, ["pgd"])
    report.add(
        _evidence(
            "not_converged",
            only_long,
            result.clean_correct,
            "PGD with more steps and restarts broke samples that PGD left robust, of the clean-correct samples",
            {"pgd_long": result.success["pgd_long"]},
        )
    )
    only_fgsm = result.success["fgsm"] & _survivors(result, ["pgd", "pgd_long"])
    report.add(
        _evidence(
            "single_step_stronger",
            only_fgsm,
            result.clean_correct,
            "FGSM broke samples that PGD with either budget left robust, of the clean-correct samples",
            {"fgsm": result.success["fgsm"]},
        )
    )
    transfer = ["transfer"] if "transfer" in result.names else []
    free = [name for name in ("square", "rays") if name in result.names]
    report.add(masking_evidence(result, gradient=_GRADIENT, gradient_free=free, transfer=transfer))
    report.robust_acc["worst_case"] = result.robust_acc
    report.robust_acc["gradient"] = result.robust_acc_after[_GRADIENT[-1]]


def _curve_checks(
    report: SanityReport,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    result: EvalResult,
    *,
    norm: Norm,
    eps: float,
    steps: int,
    eps_factors: tuple[float, ...],
    seed: int,
) -> None:
    large = _large_eps(norm, x)
    curve = [f * eps for f in eps_factors if f * eps < large] + [large]
    broken: list[Tensor] = []
    for e in curve:
        if e == eps:  # the comparison's PGD ran first, on every clean-correct sample
            hit = ~result.clean_correct | result.success["pgd"]
        else:
            hit = ~evaluate(model, x, y, {"pgd": PGD(model, norm=norm, eps=e, steps=steps, seed=seed)}).robust
        broken.append(hit)
        report.robust_acc[f"pgd@{e:.4g}"] = 1 - int(hit.sum()) / len(hit)
    for i in range(len(curve) - 1):
        report.add(
            _evidence(
                "eps_not_monotone",
                ~broken[i + 1],
                broken[i],
                f"PGD broke samples at eps={curve[i]:.4g} that it left robust at eps={curve[i + 1]:.4g}",
                {f"pgd@{curve[i]:.4g}": broken[i]},
            )
        )
    everything = torch.ones_like(broken[-1])
    report.add(
        _evidence(
            "large_eps_robust",
            ~broken[-1],
            everything,
            f"PGD left samples robust at eps={large:.4g}, which covers the whole box",
        )
    )
