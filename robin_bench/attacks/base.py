"""The attack base class: torchattacks' ``Attack`` plus a threat model, gradient counting and PGD ascent."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchattacks.attack import Attack as TorchattacksAttack

from robin_bench.attacks.losses import Objective, Success
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.errors import RobinBenchError


def record_best(
    best: Tensor, best_score: Tensor, broken: Tensor, active: Tensor, candidate: Tensor, score: Tensor, ok: Tensor
) -> Tensor:
    """Record one iterate of the active samples in place; return which of them keep going.

    The step shared by :meth:`Attack.ascend` and CW's optimizer: a sample keeps its first successful
    iterate, else its highest-score one; successful samples are marked broken and drop out.

    Arguments:
        best (Tensor): (N, ...) best iterate per sample, updated in place.
        best_score (Tensor): (N,) objective of ``best``, updated in place.
        broken (Tensor): (N,) bool, set True in place where ``ok``.
        active (Tensor): (A,) indices into N of the samples still attacked.
        candidate (Tensor): (A, ...) the current iterate of the active samples.
        score (Tensor): (A,) its objective.
        ok (Tensor): (A,) bool, its success.

    Returns:
        Tensor: (A,) bool ``~ok``, the active samples that keep going.
    """
    better = ok | (score > best_score[active])
    best[active[better]] = candidate[better]
    best_score[active[better]] = score[better]
    broken[active[ok]] = True
    return ~ok


class Attack(TorchattacksAttack):
    r"""Base class of robin-bench attacks.

    A subclass of torchattacks' ``Attack`` (so ``x_adv = attack(x, y)`` works and
    ``torchattacks.MultiAttack`` takes it) that owns a :class:`ThreatModel`: subclasses write only
    their objective; :meth:`ascend` does the projected steps, random start, restarts and
    early exit, so no attack can leave the ball or the [0, 1] box.

    Attributes:
        threat (ThreatModel): norm and eps.
        grad_evals (int): per-sample gradient evaluations spent so far (a batch of N costs N).
        seed (int): seed of the random start; the same seed gives the same result.
    """

    def __init__(self, name: str, model: nn.Module, *, norm: Norm, eps: float, seed: int = 0) -> None:
        super().__init__(name, model)
        self.threat = ThreatModel(norm, eps)
        self.seed = seed
        self.grad_evals = 0
        self.supported_mode = ["default", "targeted"]

    @property
    def eps(self) -> float:
        """Radius of the threat model."""
        return self.threat.eps

    @property
    def norm(self) -> Norm:
        """Norm of the threat model."""
        return self.threat.norm

    def generator(self, x: Tensor) -> torch.Generator:
        """A fresh generator on ``x``'s device seeded with ``self.seed``."""
        return torch.Generator(device=x.device).manual_seed(self.seed)

    def loss_and_grad(self, x: Tensor, aux: Tensor, objective: Objective) -> tuple[Tensor, Tensor, Tensor]:
        """Model output, per-sample objective and its input gradient at ``x`` (also under no_grad); counts N."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            out = self.get_logits(x)
            loss = objective(out, aux)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        self.grad_evals += x.shape[0]
        return out.detach(), loss.detach(), grad.detach()

    def _first_iterate(
        self, x: Tensor, start: Tensor | None, random_start: bool, generator: torch.Generator | None
    ) -> Tensor:
        """``start`` projected around ``x``, else a random start or a copy of ``x``."""
        if start is not None:
            return self.threat.project(start.detach().to(x.dtype), x)
        return self.threat.random_start(x, generator) if random_start else x.clone()

    def ascend(
        self,
        x: Tensor,
        aux: Tensor,
        objective: Objective,
        success: Success | None,
        *,
        steps: int,
        alpha: float,
        random_start: bool = True,
        restarts: int = 1,
        generator: torch.Generator | None = None,
        start: Tensor | None = None,
    ) -> Tensor:
        r"""Projected steepest ascent of ``objective`` inside the threat model.

        With a ``success`` test, each sample stops at its first successful iterate and later restarts
        run only on samples not yet broken; a sample never broken gets its highest-objective iterate.
        Without one (adversarial training), every sample takes all ``steps`` and gets its last iterate.

        Arguments:
            x (Tensor): (N, ...) clean inputs in [0, 1].
            aux (Tensor): (N,) labels or targets passed to ``objective`` and ``success``.
            objective (Objective): per-sample loss to maximize.
            success (Success | None): per-sample success test, or None for no early exit.
            steps (int): ascent steps per restart.
            alpha (float): step size in the threat model's norm.
            random_start (bool): start uniformly in the ball instead of at ``x``.
            restarts (int): number of runs; later ones only on samples not yet broken.
            generator (torch.Generator | None): randomness of the starts.
            start (Tensor | None): (N, ...) first iterate of the first run, projected into the ball and
                the box (e.g. a random start drawn per sample by the caller); None starts as
                ``random_start`` says. Later restarts always start as ``random_start`` says. (Default: None)

        Returns:
            Tensor: (N, ...) adversarial inputs inside the ball and the box.
        """
        x = x.detach()
        if start is not None and start.shape != x.shape:
            raise RobinBenchError(
                f"ascend: start has shape {tuple(start.shape)} but x has {tuple(x.shape)}; pass one start per input"
            )
        if success is None:
            xa = self._first_iterate(x, start, random_start, generator)
            for _ in range(steps):
                _, _, grad = self.loss_and_grad(xa, aux, objective)
                xa = self.threat.project(xa + alpha * self.threat.ascent_direction(grad), x)
            return xa
        best = x.clone()
        best_loss = x.new_full((x.shape[0],), float("-inf"))
        broken = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for run in range(restarts):
            active = (~broken).nonzero()[:, 0]
            if active.numel() == 0:
                break
            x0 = x[active]
            xa = self._first_iterate(x0, start[active] if run == 0 and start is not None else None,
                                     random_start, generator)
            for t in range(steps + 1):
                if t < steps:
                    out, loss, grad = self.loss_and_grad(xa, aux[active], objective)
                else:
                    with torch.no_grad():
                        out = self.get_logits(xa)
                        loss = objective(out, aux[active])
                ok = success(out, aux[active])
                keep = record_best(best, best_loss, broken, active, xa, loss, ok)
                if t == steps or not bool(keep.any()):
                    break
                x0, active, xa, grad = x0[keep], active[keep], xa[keep], grad[keep]
                xa = self.threat.project(xa + alpha * self.threat.ascent_direction(grad), x0)
        return best
