"""Validation on held-out training data: the stratified split and the per-epoch clean and PGD accuracy."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError


def holdout(y: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    r"""A seeded split of sample indices into training and validation, stratified by class.

    Each class ``c`` with ``n_c`` samples gives ``round(fraction * n_c)`` samples to validation, at most
    ``n_c - 1`` so every class keeps one training sample; which ones is a seeded permutation per class.
    The split depends only on ``(y, fraction, seed)``, so every component of a model (and every model
    with the same seed) holds out the same samples.

    Arguments:
        y (Tensor): (N,) integer labels (the fine labels of the training data).
        fraction (float): share held out, in (0, 1).
        seed (int): seed of the permutations.

    Returns:
        tuple[Tensor, Tensor]: ascending training indices and ascending validation indices (disjoint,
        together ``0..N-1``).

    Example::

        >>> train_idx, val_idx = holdout(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, seed=0)
        >>> len(train_idx), len(val_idx)
        (6, 2)
    """
    if not 0 < fraction < 1:
        raise RobinBenchError(f"validation fraction {fraction!r}; expected a number in (0, 1)")
    y = y.cpu()
    gen = torch.Generator().manual_seed(seed)
    held: list[Tensor] = []
    for c in torch.unique(y).tolist():
        members = (y == c).nonzero()[:, 0]
        k = min(round(fraction * members.numel()), members.numel() - 1)
        held.append(members[torch.randperm(members.numel(), generator=gen)[:k]])
    val = torch.cat(held).sort().values
    if val.numel() == 0:
        raise RobinBenchError(
            f"val_fraction={fraction} holds out no sample of {y.numel()} training samples; "
            f"give at least {1 / max(int(torch.bincount(y).max()), 1):.3g} or set val_fraction=0"
        )
    keep = torch.ones(y.numel(), dtype=torch.bool)
    keep[val] = False
    return keep.nonzero()[:, 0], val


def validation_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    norm: Norm,
    eps: float,
    steps: int,
    balanced: bool = False,
    batch_size: int = 512,
) -> tuple[float, float]:
    r"""Clean accuracy and PGD accuracy of ``model`` on held-out ``(x, y)``, in eval mode.

    The attack is :class:`robin_bench.attacks.PGD` (Madry et al.): untargeted cross-entropy, one
    uniform random start seeded per sample, ``steps`` steps of ``2.5 * eps / steps``, a sample
    counted robust when it is correct on the clean input and on the attack's output. The model's
    training/eval mode is restored afterwards, and no global random state is used.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits.
        x (Tensor): (N, C, H, W) held-out inputs in [0, 1], on the model's device.
        y (Tensor): (N,) labels of the job (fine, coarse, in-group positions or one-vs-all bits).
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): PGD radius in input units; 0 gives the clean accuracy twice.
        steps (int): PGD steps.
        balanced (bool): average the per-class accuracies (a ROBIN arm's balanced accuracy: the mean of
            the accuracies on positives and on negatives) instead of the plain accuracy. (Default: False)
        batch_size (int): samples per batch. (Default: 512)

    Returns:
        tuple[float, float]: clean and robust accuracy in [0, 1].

    Example::

        >>> clean, robust = validation_accuracy(net, x_val, y_val, norm="Linf", eps=0.1, steps=10)
    """
    was_training = model.training
    model.eval()
    attack = PGD(model, norm=norm, eps=eps, steps=steps, seed=0) if eps > 0 else None
    clean, robust = [], []
    for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True):
        with torch.no_grad():
            ok = model(xb).argmax(1) == yb
        if attack is None:
            adv_ok = ok
        else:
            x_adv = attack(xb, yb)
            with torch.no_grad():
                adv_ok = ok & (model(x_adv).argmax(1) == yb)
        clean.append(ok)
        robust.append(adv_ok)
    model.train(was_training)
    return _accuracy(torch.cat(clean), y, balanced), _accuracy(torch.cat(robust), y, balanced)


def _accuracy(correct: Tensor, y: Tensor, balanced: bool) -> float:
    if not balanced:
        return float(correct.float().mean())
    return float(torch.stack([correct[y == c].float().mean() for c in torch.unique(y)]).mean())
