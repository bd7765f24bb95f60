"""Batched data augmentation as tensor ops: random crop with zero padding and horizontal flip."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop_flip(x: Tensor, generator: torch.Generator, *, pad: int = 4) -> Tensor:
    r"""Random crop after zero padding, then a random horizontal flip, each drawn per sample.

    The standard CIFAR augmentation (used by the ROBIN paper with ``pad=4``), done for the whole batch
    at once with index arithmetic, so it runs on the batch's device and needs no image library.

    Arguments:
        x (Tensor): (N, C, H, W) images.
        generator (torch.Generator): source of the crop offsets and flips (on ``x``'s device).
        pad (int): zero padding on each side in pixels; the crop offset is uniform in [0, 2 * pad]. (Default: 4)

    Returns:
        Tensor: (N, C, H, W) augmented images.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> random_crop_flip(torch.rand(8, 3, 32, 32), g).shape
        torch.Size([8, 3, 32, 32])
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    cols = torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(0), cols) + dx[:, None]
    rows = torch.arange(h, device=x.device) + dy[:, None]
    idx_n = torch.arange(n, device=x.device)[:, None, None, None]
    idx_c = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]
