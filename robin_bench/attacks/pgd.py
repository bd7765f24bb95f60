"""Projected gradient descent (Madry et al. 2018)."""

from __future__ import annotations

from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.criteria import Criterion
from robin_bench.attacks.losses import Objective, Success, get_loss
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError


@ATTACKS.register("pgd")
class PGD(Attack):
    r"""PGD in the paper 'Towards Deep Learning Models Resistant to Adversarial Attacks'
    [https://arxiv.org/abs/1706.06083], Linf (sign steps) or L2 (normalized-gradient steps).

    Each sample stops at its first success under ``criterion``; later restarts run only on the samples
    still robust. The ascended objective is ``criterion.objective(loss)``: under the coarse criterion
    the coarse-marginal cross-entropy or the margin to the best class of another coarse class. Works
    in torchattacks' targeted modes (``set_mode_targeted_by_label``, ``..._random``,
    ``..._least_likely``, ``..._by_function``), which make the criterion :class:`Targeted`. Random
    starts are drawn per sample and per restart (:func:`~robin_bench.attacks.base.sample_seeds`).

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        alpha (float | None): step size; None means ``2.5 * eps / steps``. (Default: None)
        steps (int): number of steps. (Default: 10)
        random_start (bool): start uniformly in the ball. (Default: True)
        restarts (int): number of random restarts. (Default: 1)
        loss (str): ``"ce"``, ``"margin"`` (Carlini-Wagner) or ``"dlr"``. (Default: ``"ce"``)
        seed (int): seed of the random starts. (Default: 0)
        criterion (Criterion | None): success criterion (``criteria.Fine()``, ``Coarse(hierarchy)``,
            ``Targeted()``); None means ``Fine()``. (Default: None)

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
        criterion: Criterion | None = None,
    ) -> None:
        super().__init__("PGD", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        if steps < 1 or restarts < 1:
            raise RobinBenchError(f"PGD needs steps >= 1 and restarts >= 1, got steps={steps}, restarts={restarts}")
        get_loss(loss, targeted=False)
        self.steps = steps
        self.alpha = self.threat.default_alpha(steps) if alpha is None else alpha
        self.random_start = random_start
        self.restarts = restarts
        self.loss = loss
        self._apply_criterion()

    def check_criterion(self, criterion: Criterion) -> None:
        super().check_criterion(criterion)
        criterion.objective(self.loss)

    def optimize(self, x: Tensor, aux: Tensor, objective: Objective, success: Success) -> Tensor:
        return self.ascend(
            x,
            aux,
            objective,
            success,
            steps=self.steps,
            alpha=self.alpha,
            random_start=self.random_start,
            restarts=self.restarts,
        )

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x, aim, crit = self.aim(images, labels)
        return self.optimize(x, aim, crit.objective(self.loss), crit.reached)
