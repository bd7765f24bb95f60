"""Transfer attacks (ROBIN Appendix B.2): adversarial examples crafted on a surrogate, judged on the victim."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from robin_bench.attacks.base import Attack, Family
from robin_bench.attacks.criteria import Criterion
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.robin import BASES, best_other_arm, check_base
from robin_bench.attacks.threat import Norm


def _device_of(module: nn.Module, default: torch.device) -> torch.device:
    return next((p.device for p in module.parameters()), default)


class TransferAttack(Attack):
    r"""Transfer attack of 'Robustness from Simple Classifiers' (ROBIN Appendix B.2), Linf or L2.

    Crafts adversarial examples with a base attack (PGD or CW) on ``surrogate`` (a multiclass model)
    and hands them to ``target_model`` (the victim, e.g. a ROBIN). The victim is this attack's
    ``model``, so ``rb.evaluate`` and ``torchattacks.MultiAttack`` judge success on it; its gradients
    are never used (``family == "transfer"``). The surrogate is attacked through the base attack's
    :meth:`~robin_bench.attacks.base.Attack.optimize` on ``criterion.objective`` of its loss (PGD:
    ``loss``, default cross-entropy; CW: the logit margin), stopping on ``criterion``'s success on the
    surrogate (which must have the victim's classes). Targeted (``targeted=True``): the victim is
    queried once on the clean input and the target is its highest-scoring arm other than the label,
    the paper's "second highest arm" on correctly classified inputs; the surrogate is then attacked
    toward it. Crafting stops per sample at the surrogate's first success (as in PGD), the surrogate
    being the only model the crafting sees. Inputs move to the surrogate's device for crafting and
    back to the victim's. Other torchattacks targeted modes (``set_mode_targeted_by_label``, ...) replace the
    paper's target choice.

    Arguments:
        surrogate (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits; supplies the gradients.
        target_model (nn.Module): the victim, same inputs -> (N, K) logits or arm logits.
        targeted (bool): aim at the victim's second-highest arm at the clean input. (Default: False)
        base (str): ``"pgd"`` or ``"cw"``. (Default: ``"pgd"``)
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        steps (int): steps of the base attack. (Default: 10)
        **base_kwargs: passed to the base attack: PGD's ``alpha``, ``random_start``, ``restarts``,
            ``loss``, ``seed``; CW's ``c``, ``kappa``, ``lr``, ``binary_search_steps``, ``seed``.
        criterion (Criterion | None): success criterion; None means ``criteria.Fine()``. (Default: None)

    Attributes:
        grad_evals (int): per-sample gradient evaluations of the surrogate.

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``, on the victim's device.

    Examples::

        >>> attack = rb.attacks.TransferAttack(multiclass, robin, targeted=True, norm="L2", eps=0.5)
        >>> adv_images = attack(images, labels)   # judge with robin(adv_images)
    """

    family: Family = "transfer"

    def __init__(
        self,
        surrogate: nn.Module,
        target_model: nn.Module,
        *,
        targeted: bool = False,
        base: str = "pgd",
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 10,
        criterion: Criterion | None = None,
        **base_kwargs: Any,
    ) -> None:
        check_base("TransferAttack", base, base_kwargs)
        crafter = BASES[base](surrogate, norm=norm, eps=eps, steps=steps, **base_kwargs)
        super().__init__("Transfer", target_model, norm=norm, eps=eps, seed=crafter.seed, criterion=criterion)
        self.surrogate = surrogate
        self.base = base
        self.steps = steps
        self.crafter = crafter
        self._apply_criterion()
        if targeted:
            self.set_mode_targeted_by_function(self.victim_second_arm, quiet=True)

    def victim_second_arm(self, images: Tensor, labels: Tensor) -> Tensor:
        """(N,) the victim's highest-scoring arm (class) other than ``labels`` at ``images``."""
        with torch.no_grad():
            return best_other_arm(self.get_output_with_eval_nograd(images), labels)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x, aim, crit = self.aim(images, labels)
        device = _device_of(self.surrogate, x.device)
        xs, aim = x.to(device), aim.to(device)
        c = self.crafter
        before = c.grad_evals
        x_adv = c.optimize(xs, aim, crit.objective(c.loss), crit.reached)
        self.grad_evals += c.grad_evals - before
        return x_adv.to(x.device)


@ATTACKS.register("transfer")
class SurrogateTransfer(TransferAttack):
    r""":class:`TransferAttack` in the registry's construction convention ``cls(victim, *, surrogate=...)``.

    Arguments:
        model (nn.Module): the victim (``TransferAttack``'s ``target_model``).
        surrogate (nn.Module): the multiclass model whose gradients craft the examples.
        targeted, base, norm, eps, steps, **base_kwargs: as for :class:`TransferAttack`.

    Examples::

        >>> attack = ATTACKS.get("transfer")(robin, surrogate=multiclass, norm="L2", eps=0.5)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        surrogate: nn.Module,
        targeted: bool = False,
        base: str = "pgd",
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 10,
        criterion: Criterion | None = None,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(
            surrogate,
            model,
            targeted=targeted,
            base=base,
            norm=norm,
            eps=eps,
            steps=steps,
            criterion=criterion,
            **base_kwargs,
        )
