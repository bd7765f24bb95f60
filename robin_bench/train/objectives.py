"""Training objectives (standard, PGD-AT, targeted PGD-AT, TRADES, MART) and their inner maximization.

Every objective sees the same thing from the trainer: a batch whose first ``k`` rows were perturbed by
:class:`TrainingAdversary` (the project's PGD engine, ``Attack.ascend`` without early exit), the model
output on that mixed batch and, where the objective needs it, the output on the clean batch. They
differ only in the inner objective and the outer loss, so one trainer loop serves them all.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.losses import Objective, ce, ce_targeted, max_other
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.registry import Registry

TargetSampler = Callable[[Tensor, torch.Generator], Tensor]
"""(labels (N,), generator) -> (N,) target classes for targeted adversarial training."""


class TrainingAdversary(Attack):
    r"""The inner maximization of adversarial training: PGD with every step taken (no early exit).

    A thin :class:`robin_bench.attacks.base.Attack` over the model being trained, so training uses the
    same projection, random start and step rule as evaluation. The caller chooses the model's mode;
    the trainer puts it in eval mode for the inner maximization (as the TRADES and MART reference
    trainers do), so batch-norm running statistics see only the training forward passes.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): perturbation budget in input units.
        steps (int): PGD steps, >= 1.
        alpha (float): step size in the norm's units.

    Shape:
        - images: (N, C, H, W) in [0, 1]; labels: (N,).
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Example::

        >>> adv = TrainingAdversary(net, norm="Linf", eps=0.1, steps=10, alpha=0.025)
        >>> x_adv = adv.perturb(x, y, ce, torch.Generator().manual_seed(0))
    """

    def __init__(self, model: nn.Module, *, norm: Norm, eps: float, steps: int, alpha: float) -> None:
        super().__init__("TrainingPGD", model, norm=norm, eps=eps)
        self.steps = steps
        self.alpha = alpha

    def perturb(self, x: Tensor, aux: Tensor, objective: Objective, generator: torch.Generator) -> Tensor:
        """Maximize ``objective(model(x'), aux)`` over the ball around ``x`` from a random start."""
        return self.ascend(x, aux, objective, None, steps=self.steps, alpha=self.alpha, generator=generator)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        """Untargeted cross-entropy PGD (Madry et al.)."""
        return self.perturb(images, labels, ce, self.generator(images))


def kl_from_clean(out: Tensor, clean_log_probs: Tensor) -> Tensor:
    """(N,) KL(P_clean || P(out)): TRADES' inner objective, with ``clean_log_probs`` (N, K) as the aux."""
    return (clean_log_probs.exp() * (clean_log_probs - torch.log_softmax(out, dim=1))).sum(1)


class TrainObjective:
    r"""A training objective: the inner maximization (what the adversary ascends) and the outer loss.

    Attributes:
        name (str): registry name.
        inner (Objective): per-sample objective the adversary maximizes (unused by clean training).
        needs_clean (bool): the outer loss also needs the model's output on the clean batch.
        targeted (bool): the adversary's aux is a target class drawn by a :data:`TargetSampler`.
    """

    name = ""
    inner: Objective = staticmethod(ce)
    needs_clean = False
    targeted = False

    def attack_aux(self, y: Tensor, clean_out: Tensor, targets: Tensor | None) -> Tensor:
        """The aux tensor passed to ``inner``: labels (default), targets or clean log-probabilities."""
        return y

    def loss(self, out: Tensor, clean_out: Tensor | None, y: Tensor, *, beta: float) -> Tensor:
        """Scalar loss from the output on the (partly) perturbed batch and, if needed, the clean one."""
        return F.cross_entropy(out, y)


OBJECTIVES: Registry[TrainObjective] = Registry("training objective")
"""Name -> training objective; the names are those ``TrainConfig.objective`` accepts."""


class Standard(TrainObjective):
    """Empirical risk minimization: cross-entropy on clean inputs."""

    name = "standard"


class PGDAT(TrainObjective):
    """Madry et al. (2018): cross-entropy on untargeted cross-entropy PGD examples."""

    name = "pgd_at"


class PGDATTargeted(TrainObjective):
    """HAR's ADV-T (HAR Section 4.1): cross-entropy on targeted PGD examples, targets from a sampler."""

    name = "pgd_at_targeted"
    inner = staticmethod(ce_targeted)
    targeted = True

    def attack_aux(self, y: Tensor, clean_out: Tensor, targets: Tensor | None) -> Tensor:
        if targets is None:
            raise RobinBenchError("objective 'pgd_at_targeted' needs target classes; pass a hierarchy")
        return targets


class TRADES(TrainObjective):
    r"""Zhang et al. (2019): ``CE(f(x), y) + beta * KL(f(x) || f(x'))``, x' maximizing the KL term.

    The inner maximization starts uniformly in the ball (the project's random start) rather than at
    TRADES' ``x + 0.001 * N(0, 1)``; the KL term has zero gradient at ``x`` either way.
    """

    name = "trades"
    inner = staticmethod(kl_from_clean)
    needs_clean = True

    def attack_aux(self, y: Tensor, clean_out: Tensor, targets: Tensor | None) -> Tensor:
        return torch.log_softmax(clean_out, dim=1)

    def loss(self, out: Tensor, clean_out: Tensor | None, y: Tensor, *, beta: float) -> Tensor:
        if clean_out is None:
            raise RuntimeError("TRADES needs the clean output")
        clean_lp = torch.log_softmax(clean_out, dim=1)
        return F.cross_entropy(clean_out, y) + beta * kl_from_clean(out, clean_lp).mean()


class MART(TrainObjective):
    r"""Wang et al. (2020): ``BCE(f(x'), y) + beta * KL(f(x) || f(x')) * (1 - P(y|x))``.

    BCE is the cross-entropy plus ``-log(1 - max_{j != y} P(j|x'))``, the boosted margin term; x' are
    untargeted cross-entropy PGD examples.
    """

    name = "mart"
    needs_clean = True

    def loss(self, out: Tensor, clean_out: Tensor | None, y: Tensor, *, beta: float) -> Tensor:
        if clean_out is None:
            raise RuntimeError("MART needs the clean output")
        adv_lp = torch.log_softmax(out, dim=1)
        other = max_other(adv_lp, y)
        bce = F.nll_loss(adv_lp, y) - torch.log1p(-other.exp().clamp_max(1 - 1e-6)).mean()
        clean_lp = torch.log_softmax(clean_out, dim=1)
        true_prob = clean_lp.gather(1, y[:, None])[:, 0].exp()
        return bce + beta * (kl_from_clean(out, clean_lp) * (1 - true_prob)).mean()


for _objective in (Standard(), PGDAT(), PGDATTargeted(), TRADES(), MART()):
    OBJECTIVES.register(_objective.name)(_objective)


def _draw(weights: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
    w = weights.to(y.device)[y]
    return torch.multinomial(w, 1, generator=generator)[:, 0]


def _need_two_groups(hierarchy: Hierarchy) -> None:
    if hierarchy.n_coarse < 2:
        raise RobinBenchError(
            f"objective 'pgd_at_targeted' needs a hierarchy with >= 2 coarse classes, got {hierarchy.n_coarse}"
        )


def fine_targets_outside_group(hierarchy: Hierarchy) -> TargetSampler:
    """Fine labels -> a fine class drawn uniformly from the fine classes of the other coarse classes (ADV-T)."""
    _need_two_groups(hierarchy)
    z = hierarchy.fine_to_coarse
    weights = (z[:, None] != z[None, :]).float()
    return lambda y, g: _draw(weights, y, g)


def coarse_targets_outside_group(hierarchy: Hierarchy) -> TargetSampler:
    """Coarse labels -> the coarse class of a fine class drawn uniformly from the other coarse classes.

    The coarse-network view of ADV-T: coarse class ``z'`` is drawn with probability proportional to its
    number of fine classes.
    """
    _need_two_groups(hierarchy)
    sizes = torch.tensor([len(hierarchy.fine_classes(z)) for z in range(hierarchy.n_coarse)], dtype=torch.float)
    weights = sizes[None, :].repeat(hierarchy.n_coarse, 1).fill_diagonal_(0)
    return lambda y, g: _draw(weights, y, g)


def targets_other_class(n_classes: int) -> TargetSampler:
    """Labels -> a class drawn uniformly from the other ``n_classes - 1`` (a HAR fine network's ADV-T view)."""
    if n_classes < 2:
        return lambda y, g: y
    weights = 1 - torch.eye(n_classes)
    return lambda y, g: _draw(weights, y, g)
