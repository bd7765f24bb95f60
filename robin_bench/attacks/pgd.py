"""Projected gradient descent (Madry et al. 2018)."""

from __future__ import annotations

from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.losses import Success, get_loss, hits_target, misclassified
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError


@ATTACKS.register("pgd")
class PGD(Attack):
    r"""PGD in the paper 'Towards Deep Learning Models Resistant to Adversarial Attacks'
    [https://arxiv.org/abs/1706.06083], Linf (sign steps) or L2 (normalized-gradient steps).

    Each sample stops at its first successful iterate; later restarts run only on the samples
    still robust. Works untargeted and in torchattacks' targeted modes
    (``set_mode_targeted_by_label``, ``..._random``, ``..._least_likely``, ``..._by_function``).

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        alpha (float | None): step size; None means ``2.5 * eps / steps``. (Default: None)
        steps (int): number of steps. (Default: 10)
        random_start (bool): start uniformly in the ball. (Default: True)
        restarts (int): number of random restarts. (Default: 1)
        loss (str): ``"ce"``, ``"margin"`` (Carlini-Wagner) or ``"dlr"``. (Default: ``"ce"``)
        seed (int): seed of the random start. (Default: 0)

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.PGD(model, norm="L2", eps=0.5, steps=20)
        >>> adv_images = attack(images, labels)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        alpha: float | None = None,
        steps: int = 10,
        random_start: bool = True,
        restarts: int = 1,
        loss: str = "ce",
        seed: int = 0,
    ) -> None:
        super().__init__("PGD", model, norm=norm, eps=eps, seed=seed)
        if steps < 1 or restarts < 1:
            raise RobinBenchError(f"PGD needs steps >= 1 and restarts >= 1, got steps={steps}, restarts={restarts}")
        get_loss(loss, targeted=False)
        self.steps = steps
        self.alpha = self.threat.default_alpha(steps) if alpha is None else alpha
        self.random_start = random_start
        self.restarts = restarts
        self.loss = loss

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        success: Success
        if self.targeted:
            aux = self.get_target_label(images, labels)
            objective, success = get_loss(self.loss, targeted=True), hits_target
        else:
            aux, objective, success = labels, get_loss(self.loss, targeted=False), misclassified
        return self.ascend(
            images, aux, objective, success,
            steps=self.steps, alpha=self.alpha, random_start=self.random_start,
            restarts=self.restarts, generator=self.generator(images),
        )
