"""The threat model: an Lp ball intersected with the [0, 1] box; it owns projection and random start."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from robin_bench.errors import RobinBenchError

Norm = Literal["Linf", "L2"]
NORMS: tuple[str, ...] = ("Linf", "L2")


def _per_sample(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


@dataclass(frozen=True)
class ThreatModel:
    r"""An Lp ball of radius ``eps`` around each input, intersected with the box [0, 1].

    Attacks change their objective, never the projection: every iterate goes through
    :meth:`project`, so no attack can leave the ball or the box, and ``eps=0`` is the identity.

    Arguments:
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): radius of the ball, in input units ([0, 1] pixels), >= 0.

    Example::

        >>> tm = ThreatModel("Linf", 8 / 255)
        >>> x_adv = tm.project(x + 0.1, x)   # within 8/255 of x, in [0, 1]
    """

    norm: Norm
    eps: float

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise RobinBenchError(f"unknown norm {self.norm!r}; valid: {', '.join(NORMS)}")
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps >= 0):
            raise RobinBenchError(f"eps must be a finite number >= 0, got {self.eps!r}")
        if self.norm == "Linf" and self.eps > 1:
            raise RobinBenchError(f"Linf eps {self.eps} exceeds the [0, 1] input range; did you mean {self.eps}/255?")

    def norm_of(self, delta: Tensor) -> Tensor:
        """(N,) per-sample norm of ``delta`` in this threat model's norm."""
        flat = delta.flatten(1)
        return flat.abs().amax(1) if self.norm == "Linf" else flat.norm(p=2, dim=1)

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """Map ``x_adv`` into the ball around ``x`` and the box [0, 1] (``x`` itself must be in the box)."""
        delta = x_adv - x
        if self.norm == "Linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            n = self.norm_of(delta)
            factor = torch.where(n > self.eps, self.eps / n.clamp_min(1e-12), torch.ones_like(n))
            delta = delta * _per_sample(factor, delta)
        return (x + delta).clamp(0.0, 1.0)

    def random_start(
        self, x: Tensor, generator: torch.Generator | None = None, *, seeds: Sequence[int] | None = None
    ) -> Tensor:
        """A random point of the ball around ``x``, projected into the box.

        Linf: uniform in the cube. L2: uniform direction, radius uniform in [0, eps] (as torchattacks'
        PGDL2). Uniform in volume would put almost every start on the sphere in high dimension, which
        measurably weakens L2 PGD (robust accuracy about 2 points higher on a digits MLP).

        Arguments:
            x (Tensor): (N, ...) centres in [0, 1].
            generator (torch.Generator | None): draws the whole batch at once (the start of a sample then
                depends on the batch); ignored when ``seeds`` is given. (Default: None, the global generator)
            seeds (Sequence[int] | None): one seed per sample: sample ``i`` is drawn on the CPU in float32
                from its own generator seeded with ``seeds[i]``, so its start is the same in any batch
                and on any device. (Default: None)
        """
        if seeds is None:
            delta = self._random_delta(x.shape, generator, x.device, x.dtype)
        else:
            if len(seeds) != x.shape[0]:
                raise RobinBenchError(
                    f"random_start got {len(seeds)} seeds for {x.shape[0]} inputs; pass one per input"
                )
            one = (1, *x.shape[1:])
            draws = [
                self._random_delta(one, torch.Generator().manual_seed(int(s)), torch.device("cpu"), torch.float32)
                for s in seeds
            ]
            delta = torch.cat(draws).to(x.device, x.dtype) if draws else torch.zeros_like(x)
        return self.project(x + delta, x)

    def _random_delta(
        self,
        shape: torch.Size | tuple[int, ...],
        generator: torch.Generator | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> Tensor:
        if self.norm == "Linf":
            u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
            return (2 * u - 1) * self.eps
        g = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        r = torch.rand(shape[0], generator=generator, device=device, dtype=dtype)
        g = g / _per_sample(g.flatten(1).norm(dim=1).clamp_min(1e-12), g)
        return g * _per_sample(r * self.eps, g)

    def ascent_direction(self, grad: Tensor) -> Tensor:
        """The steepest-ascent unit step for this norm: ``sign(grad)`` (Linf) or ``grad / ||grad||_2`` (L2)."""
        if self.norm == "Linf":
            return grad.sign()
        return grad / _per_sample(self.norm_of(grad).clamp_min(1e-12), grad)

    def default_alpha(self, steps: int) -> float:
        """Step size ``2.5 * eps / steps`` (Madry et al.), so a walk can cross the ball and back."""
        return 2.5 * self.eps / max(steps, 1)
