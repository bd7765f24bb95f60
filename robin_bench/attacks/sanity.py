"""Sanity checks of a robustness evaluation (Athalye et al. 2018; Carlini et al. 2019; AutoAttack's flags)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robin_bench.attacks.autoattack import AutoAttack
from robin_bench.attacks.base import Attack
from robin_bench.attacks.fgsm import FGSM
from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.errors import RobinBenchError
from robin_bench.models import HARClassifier, RobinClassifier

FLAG_CODES: dict[str, str] = {
    "zero_grad": "an input gradient through an arm, head or the output is exactly zero for some samples",
    "nonfinite_grad": "an input gradient is NaN or infinite for some samples",
    "probability_output": "the output rows lie in [0, 1] and sum to 1: probabilities instead of logits",
    "randomized": "two forward passes in eval mode on the same input differ",
    "eps_not_monotone": "robust accuracy rises as eps grows",
    "large_eps_robust": "robust accuracy is not near zero at an eps that covers the whole box",
    "single_step_stronger": "FGSM breaks more samples than PGD",
    "black_box_stronger": "Square (no gradients) breaks more samples than the gradient attacks",
}
"""Flag code -> what it means. Any flag makes the evaluation ``unreliable``."""


@dataclass
class SanityReport:
    """Outcome of :func:`sanity_check`.

    Attributes:
        flags (list[tuple[str, str]]): (code, reason) for every failed check; codes are keys of ``FLAG_CODES``.
        robust_acc (dict[str, float]): the robust accuracies the checks compared, e.g. ``"pgd@0.1"``,
            ``"fgsm"``, ``"square"``, fractions in [0, 1] of all samples.
    """

    flags: list[tuple[str, str]] = field(default_factory=list)
    robust_acc: dict[str, float] = field(default_factory=dict)

    @property
    def unreliable(self) -> bool:
        """True when any check failed."""
        return bool(self.flags)

    @property
    def codes(self) -> list[str]:
        """The flag codes, in the order they were raised."""
        return [code for code, _ in self.flags]


def _components(model: nn.Module) -> list[tuple[str, nn.Module | None, int | None]]:
    """(name, module giving raw scores, HAR fine index) for every arm or head; the whole output is checked apart."""
    if isinstance(model, RobinClassifier):
        return [(f"arm {i}", arm, None) for i, arm in enumerate(model.arms)]
    if isinstance(model, HARClassifier):
        heads: list[tuple[str, nn.Module | None, int | None]] = [("coarse head", model.coarse, None)]
        heads += [
            (f"fine head {z}", fine, z) for z, fine in enumerate(model.fine)
            if len(model.hierarchy.fine_classes(z)) > 1  # a one-class head is constant by construction
        ]
        return heads
    return []


def _score(out: Tensor) -> Tensor:
    """(N,) a per-sample scalar of raw scores that does not saturate: the logit (one column) or top-1 minus top-2."""
    if out.shape[1] == 1:
        return out[:, 0]
    top = out.topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def _gradient_flags(model: nn.Module, x: Tensor, y: Tensor) -> list[tuple[str, str]]:
    flags = []
    targets: list[tuple[str, nn.Module | None, int | None]] = [("output", None, None), *_components(model)]
    for name, module, _ in targets:
        xg = x.detach().clone().requires_grad_(True)
        value = F.cross_entropy(model(xg), y, reduction="sum") if module is None else _score(module(xg)).sum()
        (grad,) = torch.autograd.grad(value, xg, allow_unused=True)
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


def _robust_acc(model: nn.Module, attack: Attack, x: Tensor, y: Tensor) -> float:
    x_adv = attack(x, y)
    with torch.no_grad():
        return float((model(x_adv).argmax(1) == y).float().mean())


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
    eps_factors: tuple[float, ...] = (0.25, 0.5, 1.0),
    tol: float = 0.05,
    seed: int = 0,
) -> SanityReport:
    r"""Checks that tell whether a gradient-based robustness evaluation of ``model`` can be trusted.

    After Athalye et al. 2018 ('Obfuscated Gradients Give a False Sense of Security',
    https://arxiv.org/abs/1802.00420), Carlini et al. 2019 ('On Evaluating Adversarial Robustness',
    https://arxiv.org/abs/1902.06705) and AutoAttack's flags. Each failed check adds a (code, reason)
    flag (``FLAG_CODES``):

    - ``zero_grad`` / ``nonfinite_grad``: input gradients of the cross-entropy on the output, and of
      every arm (ROBIN) or head (HAR coarse and each fine network with >= 2 classes; raw top-1 minus
      top-2 score, which does not saturate), are exactly zero or not finite for some sample.
    - ``probability_output``: all outputs in [0, 1] with rows summing to 1. HAR's log-probabilities
      are <= 0 and their rows do not sum to 1, so they pass (their ``exp`` would not).
    - ``randomized``: two forward passes in eval mode (how attacks see the model) differ.
    - ``eps_not_monotone``: PGD robust accuracy at ``eps * eps_factors`` (ascending) and at the large
      eps rises by more than ``tol``.
    - ``large_eps_robust``: PGD robust accuracy above ``tol`` at an eps covering the box (1 for Linf,
      sqrt(d) for L2), where every sample should be breakable.
    - ``single_step_stronger``: FGSM robust accuracy below PGD's by more than ``tol`` at ``eps``.
    - ``black_box_stronger``: Square (pyautoattack, no gradients) below the best gradient attack by
      more than ``tol`` at ``eps``.

    Accuracies are fractions of all samples (clean misclassifications count as broken). The model's
    train/eval mode is restored.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        x (Tensor): (N, C, H, W) inputs in [0, 1]; a few dozen samples are enough.
        y (Tensor): (N,) labels.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): the evaluation's radius, in input units.
        steps (int): PGD steps. (Default: 20)
        square_queries (int): Square's query budget. (Default: 500)
        eps_factors (tuple[float, ...]): multiples of ``eps`` for the monotonicity check, ascending,
            containing 1. (Default: (0.25, 0.5, 1.0))
        tol (float): allowed difference between robust accuracies, a fraction. (Default: 0.05)
        seed (int): seed of the attacks. (Default: 0)

    Returns:
        SanityReport: flags, ``unreliable`` and the robust accuracies compared.

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
    was_training = model.training
    model.eval()
    try:
        return _run(model, x, y, norm=norm, eps=eps, steps=steps, square_queries=square_queries,
                    eps_factors=eps_factors, tol=tol, seed=seed)
    finally:
        model.train(was_training)


def _run(
    model: nn.Module, x: Tensor, y: Tensor, *, norm: Norm, eps: float, steps: int, square_queries: int,
    eps_factors: tuple[float, ...], tol: float, seed: int,
) -> SanityReport:
    report = SanityReport()
    report.flags += _gradient_flags(model, x, y)
    with torch.no_grad():
        out, again = model(x), model(x)
    if bool(out.min() >= 0) and bool(out.max() <= 1) and bool(((out.sum(1) - 1).abs() < 1e-4).all()):
        report.flags.append(("probability_output", "every output row is in [0, 1] and sums to 1; return logits"))
    if not torch.allclose(out, again, rtol=1e-5, atol=1e-6):
        diff = float((out - again).abs().max())
        report.flags.append(("randomized", f"two eval-mode forward passes differ by up to {diff:.3g}"))

    large = _large_eps(norm, x)
    curve = [(f * eps, f"pgd@{f * eps:.4g}") for f in eps_factors if f * eps < large] + [(large, f"pgd@{large:.4g}")]
    for e, key in curve:
        report.robust_acc[key] = _robust_acc(model, PGD(model, norm=norm, eps=e, steps=steps, seed=seed), x, y)
    for (e0, k0), (e1, k1) in zip(curve, curve[1:], strict=False):
        if report.robust_acc[k1] > report.robust_acc[k0] + tol:
            report.flags.append(("eps_not_monotone", f"PGD robust accuracy rises from {report.robust_acc[k0]:.3f} "
                                 f"at eps={e0:.4g} to {report.robust_acc[k1]:.3f} at eps={e1:.4g}"))
    at_large = report.robust_acc[curve[-1][1]]
    if at_large > tol:
        report.flags.append(("large_eps_robust", f"PGD robust accuracy {at_large:.3f} at eps={large:.4g}, which "
                             "covers the whole box; it should be near 0"))

    pgd = report.robust_acc[f"pgd@{eps:.4g}"]
    fgsm = report.robust_acc["fgsm"] = _robust_acc(model, FGSM(model, norm=norm, eps=eps), x, y)
    if fgsm < pgd - tol:
        reason = f"FGSM robust accuracy {fgsm:.3f} < PGD's {pgd:.3f} at eps={eps:.4g}"
        report.flags.append(("single_step_stronger", reason))
    square = AutoAttack(model, norm=norm, eps=eps, version="custom", attacks_to_run=["square"],
                        n_queries=square_queries, seed=seed)
    report.robust_acc["square"] = _robust_acc(model, square, x, y)
    if report.robust_acc["square"] < min(pgd, fgsm) - tol:
        report.flags.append(("black_box_stronger", f"Square robust accuracy {report.robust_acc['square']:.3f} < "
                             f"gradient attacks' {min(pgd, fgsm):.3f} at eps={eps:.4g}"))
    return report
