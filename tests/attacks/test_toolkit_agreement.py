"""Our PGD, torchattacks' PGD/PGDL2 and ART's ProjectedGradientDescent agree on a standard-trained digits MLP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchattacks
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
from torch import Tensor, nn

from robin_bench.attacks import PGD

STEPS = 20


def _accuracy(model: nn.Module, x: Tensor | np.ndarray, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(torch.as_tensor(x)).argmax(1) == y).float().mean())


@pytest.mark.parametrize(("norm", "eps"), [("Linf", 0.07), ("L2", 0.5)])
def test_robust_accuracy_agrees_with_torchattacks_and_art(
    digits_mlp: tuple[nn.Module, Tensor, Tensor], norm: str, eps: float
) -> None:
    model, x, y = digits_mlp
    # Every random draw is seeded: ours per sample (its seed), torchattacks' from torch's global RNG,
    # ART's random start from numpy's global RNG, so the comparison cannot flake with test order.
    torch.manual_seed(0)
    np.random.seed(0)
    clean = _accuracy(model, x, y)
    assert clean > 0.9
    alpha = 2.5 * eps / STEPS
    ours = _accuracy(model, PGD(model, norm=norm, eps=eps, alpha=alpha, steps=STEPS)(x, y), y)
    torchattacks_pgd = torchattacks.PGD if norm == "Linf" else torchattacks.PGDL2
    torch.manual_seed(0)
    theirs = _accuracy(model, torchattacks_pgd(model, eps=eps, alpha=alpha, steps=STEPS, random_start=True)(x, y), y)
    classifier = PyTorchClassifier(
        model, loss=nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0)
    )
    art_pgd = ProjectedGradientDescent(
        classifier,
        norm=np.inf if norm == "Linf" else 2,
        eps=eps,
        eps_step=alpha,
        max_iter=STEPS,
        num_random_init=1,
        batch_size=len(x),
        verbose=False,
    )
    np.random.seed(0)
    art = _accuracy(model, art_pgd.generate(x.numpy(), y=y.numpy()), y)
    # The eps puts robust accuracy mid-range, where disagreement would show.
    assert 0.2 < ours < clean - 0.2
    assert abs(ours - theirs) <= 0.05 and abs(ours - art) <= 0.05
    assert ours <= min(theirs, art) + 0.02, "ours is clearly weaker than a toolkit's PGD"
