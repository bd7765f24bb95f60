"""Carlini-Wagner attack (Carlini and Wagner 2017): L2 minimum-norm search, Linf in its PGD form."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robin_bench.attacks.base import Attack, record_best
from robin_bench.attacks.criteria import Criterion
from robin_bench.attacks.losses import Objective, Success
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
_TANH_SHRINK = 1 - 1e-6


def _hinge(objective: Objective, kappa: float) -> Objective:
    """``min(objective, kappa)``: Carlini-Wagner's hinge, which stops pushing once the margin reaches ``kappa``."""

    def hinged(out: Tensor, aux: Tensor) -> Tensor:
        return objective(out, aux).clamp_max(kappa)

    return hinged


def cw_l2(
    attack: Attack,
    x: Tensor,
    aux: Tensor,
    objective: Objective,
    success: Success,
    *,
    c: float,
    kappa: float,
    steps: int,
    lr: float,
    binary_search_steps: int,
) -> Tensor:
    r"""Carlini-Wagner L2 with binary search over ``c``, for any margin-like objective, inside ``attack``'s ball.

    Minimizes ``||x(w) - x||_2^2 + c * max(-objective(model(x(w)), aux), -kappa)`` over ``w`` with Adam,
    where ``x(w) = (tanh(w) + 1) / 2`` keeps every iterate in the box. After each of the
    ``binary_search_steps`` rounds, ``c`` moves by factors of 10 until it is bracketed (x10 for samples
    the round left robust, /10 for those it made adversarial), then by bisection of the bracket: the
    decade steps down (the paper only bisects from 0) recover as fast from a too-large ``c`` as from
    a too-small one. The threat model owns the ball: every iterate
    is judged at its projection ``attack.threat.project(x(w), x)``, so a sample counts as broken only
    where a projected iterate passes ``success``; it then leaves the search (early exit) with that
    point. A sample never broken gets the projected iterate of highest objective.

    Arguments:
        attack (Attack): supplies the model (``get_logits``), the threat model and the
            ``grad_evals`` counter (one per sample and step).
        x (Tensor): (N, ...) clean inputs in [0, 1].
        aux (Tensor): (N,) labels or targets passed to ``objective`` and ``success``.
        objective (Objective): per-sample objective to maximize, margin-like (> 0 where the attack succeeds).
        success (Success): per-sample success test on the model output.
        c (float): initial weight of the objective term, > 0.
        kappa (float): confidence: the objective stops counting above ``kappa``, >= 0.
        steps (int): Adam steps per binary-search round.
        lr (float): Adam learning rate in ``w`` (tanh) space.
        binary_search_steps (int): rounds of the search over ``c``.

    Returns:
        Tensor: (N, ...) points inside the ball and the box.
    """
    x = x.detach()
    n = x.shape[0]
    w0 = torch.atanh((2 * x - 1) * _TANH_SHRINK)
    best = x.clone()
    best_obj = x.new_full((n,), -math.inf)
    broken = torch.zeros(n, dtype=torch.bool, device=x.device)
    const = x.new_full((n,), c)
    lower = x.new_zeros(n)
    upper = x.new_full((n,), math.inf)
    for _ in range(binary_search_steps):
        active = (~broken).nonzero()[:, 0]
        if active.numel() == 0:
            break
        x0, w = x[active], w0[active].clone()
        m, v = torch.zeros_like(w), torch.zeros_like(w)
        round_ok = torch.zeros(n, dtype=torch.bool, device=x.device)
        for t in range(1, steps + 1):
            with torch.enable_grad():
                w.requires_grad_(True)
                xw = (torch.tanh(w) + 1) / 2
                out = attack.get_logits(xw)
                obj = objective(out, aux[active])
                dist = (xw - x0).flatten(1).pow(2).sum(1)
                loss = dist + const[active] * (-obj).clamp_min(-kappa)
                (grad,) = torch.autograd.grad(loss.sum(), w)
            attack.grad_evals += active.numel()
            w, xw, out, obj = w.detach(), xw.detach(), out.detach(), obj.detach()
            round_ok[active] |= success(out, aux[active])
            xp = attack.threat.project(xw, x0)
            outside = (attack.threat.norm_of(xw - x0) > attack.threat.eps).nonzero()[:, 0]
            if outside.numel() > 0:
                with torch.no_grad():
                    out_p = attack.get_logits(xp[outside])
                out = out.index_put((outside,), out_p)
                obj = obj.index_put((outside,), objective(out_p, aux[active[outside]]))
            keep = record_best(best, best_obj, broken, active, xp, obj, success(out, aux[active]))
            if not bool(keep.any()):
                break
            m = _ADAM_BETAS[0] * m + (1 - _ADAM_BETAS[0]) * grad
            v = _ADAM_BETAS[1] * v + (1 - _ADAM_BETAS[1]) * grad * grad
            m_hat = m / (1 - _ADAM_BETAS[0] ** t)
            v_hat = v / (1 - _ADAM_BETAS[1] ** t)
            w = w - lr * m_hat / (v_hat.sqrt() + _ADAM_EPS)
            x0, active, w, m, v = x0[keep], active[keep], w[keep], m[keep], v[keep]
        upper = torch.where(round_ok, torch.minimum(upper, const), upper)
        lower = torch.where(round_ok, lower, torch.maximum(lower, const))
        const = torch.where(upper.isinf(), const * 10, torch.where(lower == 0, const / 10, (lower + upper) / 2))
    return best


@ATTACKS.register("cw")
class CW(Attack):
    r"""CW in the paper 'Towards Evaluating the Robustness of Neural Networks'
    [https://arxiv.org/abs/1608.04644], as a bounded attack inside the threat model.

    L2: the paper's minimum-norm attack (tanh reparametrisation, Adam, binary search over ``c``;
    see :func:`cw_l2`); the threat model owns the ball, so a sample counts as broken only where an
    iterate projected into the ball is adversarial.
    Linf: the tractable form used by ROBIN (Section 2.2) and by Madry et al. 2018: projected
    sign-gradient steps of size ``2.5 * eps / steps`` from a random start on the CW hinge
    ``min(margin, kappa)`` inside the Linf ball (``c``, ``lr`` and ``binary_search_steps`` are L2-only).
    The objective is ``criterion.objective("margin")`` (the logit margin; under the coarse criterion
    the margin between the best class of another coarse class and the best class of the true one;
    in torchattacks' targeted modes the target's margin); each sample stops at its first success
    under the criterion.
    Each L2 round restarts from the clean input, so the search needs about 100 steps per round to
    match PGD; with a budget of a few dozen steps, use PGD with ``loss="margin"`` instead.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"L2"`` or ``"Linf"``. (Default: ``"L2"``)
        eps (float): radius of the ball in input units. (Default: 0.5)
        c (float): initial weight of the margin term (L2). (Default: 1.0)
        kappa (float): confidence, in logit units: the margin stops counting above it. (Default: 0.0)
        steps (int): Adam steps per binary-search round (L2), or PGD steps (Linf). (Default: 100)
        lr (float): Adam learning rate in tanh space (L2). (Default: 0.05; the paper's 0.01 barely moves
            saturated pixels, where tanh is flat, within 100 steps and overstates robustness in a bounded ball)
        binary_search_steps (int): rounds of the search over ``c`` (L2). (Default: 5)
        seed (int): seed of the random starts (Linf). (Default: 0)
        criterion (Criterion | None): success criterion; None means ``criteria.Fine()``. (Default: None)

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.CW(model, norm="L2", eps=0.5, steps=100)
        >>> adv_images = attack(images, labels)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        norm: Norm = "L2",
        eps: float = 0.5,
        c: float = 1.0,
        kappa: float = 0.0,
        steps: int = 100,
        lr: float = 0.05,
        binary_search_steps: int = 5,
        seed: int = 0,
        criterion: Criterion | None = None,
    ) -> None:
        super().__init__("CW", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        if steps < 1 or binary_search_steps < 1:
            raise RobinBenchError(
                f"CW needs steps >= 1 and binary_search_steps >= 1, got steps={steps}, "
                f"binary_search_steps={binary_search_steps}"
            )
        if not (c > 0 and lr > 0 and kappa >= 0):
            raise RobinBenchError(f"CW needs c > 0, lr > 0 and kappa >= 0, got c={c}, lr={lr}, kappa={kappa}")
        self.c = c
        self.kappa = kappa
        self.steps = steps
        self.lr = lr
        self.binary_search_steps = binary_search_steps
        self.loss = "margin"
        self._apply_criterion()

    def optimize(self, x: Tensor, aux: Tensor, objective: Objective, success: Success) -> Tensor:
        r"""Run this CW's optimizer on any margin-like ``objective`` (> 0 where the attack succeeds).

        The entry point for attacks that change only the objective (ROBIN strategies and transfer with
        ``base="cw"``).

        Arguments:
            x (Tensor): (N, ...) clean inputs in [0, 1].
            aux (Tensor): (N,) labels or targets passed to ``objective`` and ``success``.
            objective (Objective): per-sample objective to maximize.
            success (Success): per-sample success test; each sample stops at its first success.

        Returns:
            Tensor: (N, ...) points inside the ball and the box.
        """
        if self.norm == "L2":
            return cw_l2(
                self,
                x,
                aux,
                objective,
                success,
                c=self.c,
                kappa=self.kappa,
                steps=self.steps,
                lr=self.lr,
                binary_search_steps=self.binary_search_steps,
            )
        return self.ascend(
            x,
            aux,
            _hinge(objective, self.kappa),
            success,
            steps=self.steps,
            alpha=self.threat.default_alpha(self.steps),
        )

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x, aim, crit = self.aim(images, labels)
        return self.optimize(x, aim, crit.objective(self.loss), crit.reached)
