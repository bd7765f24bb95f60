"""Fast gradient (sign) method (Goodfellow et al. 2015): the single-step reference attack."""

from __future__ import annotations

from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.criteria import Criterion
from robin_bench.attacks.losses import Objective, Success
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm


@ATTACKS.register("fgsm")
class FGSM(Attack):
    r"""FGSM in the paper 'Explaining and Harnessing Adversarial Examples'
    [https://arxiv.org/abs/1412.6572]: one step of size ``eps`` on the cross-entropy from the clean
    input, along the gradient sign (Linf) or the L2-normalized gradient (L2), then projected into the
    box by the threat model. No random start. The loss is ``criterion.objective("ce")``: the
    cross-entropy (fine), the coarse-marginal cross-entropy (coarse) or minus the target's
    cross-entropy (targeted modes). Costs one gradient evaluation per sample.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): step size and radius of the ball, in input units. (Default: 8/255)
        seed (int): unused by the attack (deterministic); kept for the common signature. (Default: 0)
        criterion (Criterion | None): success criterion; None means ``criteria.Fine()``. (Default: None)

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.FGSM(model, norm="Linf", eps=8 / 255)
        >>> adv_images = attack(images, labels)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        seed: int = 0,
        criterion: Criterion | None = None,
    ) -> None:
        super().__init__("FGSM", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        self._apply_criterion()

    def optimize(self, x: Tensor, aux: Tensor, objective: Objective, success: Success) -> Tensor:
        """One step on ``objective`` from ``x``; ``success`` is not needed by a single step."""
        return self.ascend(x, aux, objective, None, steps=1, alpha=self.eps, random_start=False)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x, aim, crit = self.aim(images, labels)
        return self.optimize(x, aim, crit.objective(self.loss), crit.reached)
