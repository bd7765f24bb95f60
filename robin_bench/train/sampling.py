"""Mini-batch index samplers: uniform shuffling and ROBIN's class-balanced one-vs-all sampling."""

from __future__ import annotations

import torch
from torch import Tensor

from robin_bench.errors import RobinBenchError


def n_batches(n: int, batch_size: int) -> int:
    """Batches per epoch: ``n // batch_size`` full batches (the remainder is dropped), at least one."""
    return max(1, n // batch_size)


def uniform_batches(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    r"""One epoch of batches: a random permutation of ``0..n-1`` cut into full batches.

    The remainder of fewer than ``batch_size`` samples is dropped (it changes every epoch), so every
    step sees the same batch size; with ``n < batch_size`` the single batch holds all samples.
    """
    perm = torch.randperm(n, generator=generator)
    size = min(batch_size, n)
    return list(perm[: n_batches(n, batch_size) * size].split(size))


def _stream(pool: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` indices from successive random permutations of ``pool`` (upsamples a small pool)."""
    reps = -(-count // pool.numel())
    return torch.cat([pool[torch.randperm(pool.numel(), generator=generator)] for _ in range(reps)])[:count]


def balanced_batches(positive: Tensor, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    r"""One epoch of batches with equal positives and negatives in each (ROBIN Appendix B.3).

    Positives are upsampled (cycled through fresh permutations) and negatives downsampled, so an
    epoch has as many batches as uniform sampling would and each batch holds ``batch_size // 2``
    positives followed by the same number of negatives, then is shuffled.

    Arguments:
        positive (Tensor): (N,) bool, True for the samples of the arm's class.
        batch_size (int): samples per batch (an odd size loses one sample).
        generator (torch.Generator): randomness of the draws.

    Returns:
        list[Tensor]: index tensors of length ``2 * (batch_size // 2)`` (or ``N``-bounded for tiny sets).
    """
    pos, neg = positive.nonzero()[:, 0], (~positive).nonzero()[:, 0]
    if pos.numel() == 0 or neg.numel() == 0:
        raise RobinBenchError(
            f"balanced sampling needs both classes; the arm's training labels have {pos.numel()} positives "
            f"and {neg.numel()} negatives (set balanced=False or check the class is in the data)"
        )
    n = positive.numel()
    half = min(batch_size, n) // 2
    count = n_batches(n, batch_size) * half
    p, q = _stream(pos, count, generator).view(-1, half), _stream(neg, count, generator).view(-1, half)
    batches = torch.cat([p, q], dim=1)
    order = torch.argsort(torch.rand(batches.shape, generator=generator), dim=1)
    return list(batches.gather(1, order).unbind(0))
