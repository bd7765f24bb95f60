"""RayS (Chen and Gu 2020): a label-only (decision-based) Linf attack, queried per sample."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robin_bench.attacks.base import Attack, Family, sample_seeds
from robin_bench.attacks.criteria import Criterion
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError


@ATTACKS.register("rays")
class RayS(Attack):
    r"""RayS in the paper 'RayS: A Ray Searching Method for Hard-label Adversarial Attack'
    [https://arxiv.org/abs/2006.12792], Linf only.

    A decision-based attack: it reads nothing from the model but whether a point succeeds under the
    criterion (``criterion.reached`` on the output: a fine miss, a coarse miss), so faked or decoy scores
    and masked gradients cannot hide the decision boundary from it. For each sample it keeps a ray
    direction ``d`` in {-1, +1}^D and the smallest radius ``r`` found so far at which ``clip(x + r d)``
    succeeds; it flips the signs of blocks of coordinates (the whole input, then halves, quarters, ...
    down to single coordinates, then again from the whole input), keeps a flip when the flipped ray
    already succeeds at radius ``r`` (one query), and then binary-searches the new ray's radius down to
    ``tol``. A sample is done at its first success within ``eps`` (its point at radius ``r <= eps``) or
    when it has spent ``queries``.

    Per sample: the first direction is drawn from a generator seeded by
    :func:`~robin_bench.attacks.base.sample_seeds` (the attack's seed and the sample's bytes), the block
    schedule is fixed, and each sample's radii, queries and stopping are its own, so a sample's result
    does not depend on its batch, on early exit or on the global RNG.

    Budget: at most ``queries`` forward passes per sample (``queries`` attribute; ``budget()``); a
    sample stops as soon as it succeeds within ``eps``. ``grad_evals`` stays 0 and ``query_count``
    counts the per-sample forward passes spent.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities (only the
            criterion's decision on them is used).
        norm (str): ``"Linf"`` (the ray search's sign directions are Linf directions). (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        queries (int): forward passes per sample, >= 1. (Default: 1000)
        tol (float | None): binary-search precision of a ray's radius, in input units; None means
            ``eps / 100``. (Default: None)
        seed (int): seed of the first directions. (Default: 0)
        criterion (Criterion | None): ``criteria.Fine()`` or ``Coarse(hierarchy)``; None means ``Fine()``.
            (Default: None)

    Attributes:
        family (str): ``"gradient_free"``.

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``: the adversarial point where one
          was found within ``eps``, else the best ray at radius ``eps``.

    Examples::

        >>> attack = rb.attacks.RayS(model, eps=8 / 255, queries=1000)
        >>> adv_images = attack(images, labels)
    """

    family: Family = "gradient_free"

    def __init__(
        self,
        model: nn.Module,
        *,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        queries: int = 1000,
        tol: float | None = None,
        seed: int = 0,
        criterion: Criterion | None = None,
    ) -> None:
        super().__init__("RayS", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        if norm != "Linf":
            raise RobinBenchError(f"RayS searches sign directions, an Linf attack; got norm={norm!r}")
        if isinstance(queries, bool) or not isinstance(queries, int) or queries < 1:
            raise RobinBenchError(f"RayS queries must be an int >= 1, got {queries!r}")
        if tol is not None and not (isinstance(tol, (int, float)) and tol > 0):
            raise RobinBenchError(f"RayS tol must be a positive number or None, got {tol!r}")
        self.supported_mode = ["default"]
        self.queries = queries
        self.tol = tol
        self.query_count = 0
        self._apply_criterion()

    def check_criterion(self, criterion: Criterion) -> None:
        if criterion.targeted:
            raise RobinBenchError("RayS is untargeted; use criterion 'fine' or 'coarse'")

    def budget(self, n_classes: int) -> int:
        """``queries``: forward passes per attacked sample."""
        return self.queries

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x, aim, crit = self.aim(images, labels)
        n = x.shape[0]
        if n == 0 or self.eps == 0:
            return x
        tol = self.eps / 100 if self.tol is None else float(self.tol)
        seeds = sample_seeds(x, self.seed, "rays")
        d = torch.cat(
            [
                torch.randint(0, 2, (1, *x.shape[1:]), generator=torch.Generator().manual_seed(s)).float() * 2 - 1
                for s in seeds
            ]
        ).to(x.device, x.dtype)
        radius = torch.full((n,), math.inf, device=x.device)
        spent = torch.zeros(n, dtype=torch.long, device=x.device)

        def succeeds(idx: Tensor, rays: Tensor, r: Tensor) -> Tensor:
            point = (x[idx] + r.view(-1, *([1] * (x.dim() - 1))) * rays).clamp(0, 1)
            with torch.no_grad():
                out = self.get_logits(point)
            spent[idx] += 1
            return crit.reached(out, aim[idx])

        def search(idx: Tensor, rays: Tensor, hi: Tensor) -> None:
            """Keep ``rays`` of samples ``idx`` where they succeed at ``hi``; binary-search their radius."""
            ok = succeeds(idx, rays, hi)
            idx, rays, hi = idx[ok], rays[ok], hi[ok]
            lo = torch.zeros_like(hi)
            d[idx], radius[idx] = rays, hi
            while idx.numel():
                go = (hi - lo > tol) & (spent[idx] < self.queries) & (radius[idx] > self.eps)
                idx, rays, lo, hi = idx[go], rays[go], lo[go], hi[go]
                if not idx.numel():
                    break
                mid = (lo + hi) / 2
                ok = succeeds(idx, rays, mid)
                hi, lo = torch.where(ok, mid, hi), torch.where(ok, lo, mid)
                radius[idx] = hi

        flat = d.view(n, -1)
        dim = flat.shape[1]

        def active() -> Tensor:
            return ((radius > self.eps) & (spent < self.queries)).nonzero()[:, 0]

        search(active(), d.clone(), torch.ones(n, device=x.device))
        while active().numel():
            stage_blocks = 1
            while stage_blocks <= dim and active().numel():
                size = math.ceil(dim / stage_blocks)
                for start in range(0, dim, size):
                    idx = active()
                    if not idx.numel():
                        break
                    rays = flat[idx].clone()
                    rays[:, start : start + size] *= -1
                    hi = radius[idx].clamp(max=1.0)
                    search(idx, rays.view(-1, *x.shape[1:]), hi)
                stage_blocks *= 2
        self.query_count += int(spent.sum())
        r = radius.clamp(max=self.eps)
        return self.threat.project(x + r.view(-1, *([1] * (x.dim() - 1))) * d, x)
