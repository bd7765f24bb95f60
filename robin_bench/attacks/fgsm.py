"""Fast gradient (sign) method (Goodfellow et al. 2015): the single-step reference attack."""

from __future__ import annotations

from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.losses import Objective, ce, ce_targeted
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm


@ATTACKS.register("fgsm")
class FGSM(Attack):
    r"""FGSM in the paper 'Explaining and Harnessing Adversarial Examples'
    [https://arxiv.org/abs/1412.6572]: one step of size ``eps`` on the cross-entropy from the clean
    input, along the gradient sign (Linf) or the L2-normalized gradient (L2), then projected into the
    box by the threat model. No random start. Works untargeted and in torchattacks' targeted modes
    (step down the target's cross-entropy). Costs one gradient evaluation per sample.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): step size and radius of the ball, in input units. (Default: 8/255)
        seed (int): unused by the attack (deterministic); kept for the common signature. (Default: 0)

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.FGSM(model, norm="Linf", eps=8 / 255)
        >>> adv_images = attack(images, labels)
    """

    def __init__(self, model: nn.Module, *, norm: Norm = "Linf", eps: float = 8 / 255, seed: int = 0) -> None:
        super().__init__("FGSM", model, norm=norm, eps=eps, seed=seed)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        objective: Objective = ce_targeted if self.targeted else ce
        aux = self.get_target_label(images, labels) if self.targeted else labels
        return self.ascend(images, aux, objective, None, steps=1, alpha=self.eps, random_start=False)
