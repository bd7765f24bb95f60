"""Adaptive components (Athalye et al. 2018; Tramer et al. 2020): what a model declares, and BPDA with EOT.

Two small protocols let a model tell the evaluation what an adaptive attacker would exploit:

- **Non-differentiable preprocessing.** A submodule (anywhere in the model: the whole model's input
  transform, or one inside every ROBIN arm or HAR head) that sets the attribute
  ``nondifferentiable_preprocessing`` to ``True`` (or ``"deterministic"``) or ``"randomized"`` declares
  itself an input transform (N, C, H, W) -> (N, C, H, W) that approximates the identity (quantization,
  JPEG, denoising, random resizing...). :class:`BPDA` replaces its backward pass by the identity
  (straight-through) and, for a randomized one, averages gradients over draws (EOT).
- **Undefended twin.** A model whose attribute ``undefended_twin`` is an ``nn.Module`` names a model
  with the same classes and matching clean predictions but without the defence (its own unmasked
  version); :func:`~robin_bench.attacks.standard.standard_attacks` transfers from it.

Example::

    >>> class Quantize(nn.Module):
    ...     nondifferentiable_preprocessing = True
    ...     def forward(self, x): return torch.round(x * 16) / 16
    >>> model = nn.Sequential(Quantize(), net)
    >>> declared_preprocessing(model)
    [Quantize()]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from robin_bench.attacks.base import Family
from robin_bench.attacks.criteria import Criterion
from robin_bench.attacks.losses import Objective
from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError

PREPROCESSING_ATTR = "nondifferentiable_preprocessing"
"""Attribute by which a submodule declares itself a non-differentiable (or randomized) preprocessing step."""

TWIN_ATTR = "undefended_twin"
"""Attribute by which a model names its undefended twin (an ``nn.Module`` with the same classes)."""

_DECLARATIONS: tuple[object, ...] = (True, "deterministic", "randomized")


def declared_preprocessing(model: nn.Module) -> list[nn.Module]:
    """The submodules of ``model`` (itself included) that declare ``nondifferentiable_preprocessing``.

    A value of ``False`` or ``None`` declares nothing; ``True``, ``"deterministic"`` and ``"randomized"``
    declare a step; anything else raises ``RobinBenchError``.
    """
    found = []
    for name, module in model.named_modules():
        value = getattr(module, PREPROCESSING_ATTR, None)
        if value is None or value is False:
            continue
        if value not in _DECLARATIONS:
            raise RobinBenchError(
                f"module {name or type(module).__name__!r} declares {PREPROCESSING_ATTR}={value!r}; "
                "use True, 'deterministic' or 'randomized'"
            )
        found.append(module)
    return found


def undefended_twin(model: nn.Module) -> nn.Module | None:
    """The model ``model`` names as its undefended twin (attribute ``undefended_twin``), else None."""
    twin = getattr(model, TWIN_ATTR, None)
    if twin is not None and not isinstance(twin, nn.Module):
        raise RobinBenchError(f"{type(model).__name__}.{TWIN_ATTR} is a {type(twin).__name__}; it must be an nn.Module")
    return twin


def _straight_through(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> Tensor:
    x = inputs[0]
    if not isinstance(output, Tensor) or output.shape != x.shape:
        raise RobinBenchError(
            f"{type(module).__name__} declares {PREPROCESSING_ATTR} but maps {tuple(x.shape)} to "
            f"{tuple(getattr(output, 'shape', ()))}; a preprocessing step keeps the input's shape"
        )
    return x + (output - x).detach()


@contextmanager
def straight_through(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Inside the block, every declared preprocessing step of ``model`` has the identity as its backward pass.

    Forward values are unchanged (``x + (step(x) - x).detach()``); the hooks are removed afterwards. Yields
    the declared steps.
    """
    steps = declared_preprocessing(model)
    handles = [m.register_forward_hook(_straight_through) for m in steps]
    try:
        yield steps
    finally:
        for h in handles:
            h.remove()


@ATTACKS.register("bpda")
class BPDA(PGD):
    r"""PGD through straight-through preprocessing with EOT: BPDA in the paper 'Obfuscated Gradients Give a
    False Sense of Security' [https://arxiv.org/abs/1802.00420] (Section 4.1) with Expectation over
    Transformation (Section 4.2; Athalye et al. 2018, 'Synthesizing Robust Adversarial Examples'), Linf or L2.

    The model's declared preprocessing steps (:func:`declared_preprocessing`) are differentiated as the
    identity; the forward pass, and so every success test, is the model's own. When a step is declared
    ``"randomized"``, or two forward passes on the inputs differ, each gradient is the mean of
    ``eot_samples`` forward-backward passes. Otherwise as :class:`~robin_bench.attacks.pgd.PGD` (per-sample
    random starts, early exit on the criterion's success). Its ``family`` is ``"transfer"``: it follows the
    gradients of a differentiable stand-in for the model, not the model's own, so a sample it breaks and
    every gradient attack misses is evidence of masking (``black_box_stronger``).

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        steps (int): PGD steps. (Default: 20)
        restarts (int): random restarts. (Default: 1)
        eot_samples (int): gradients averaged per step on a randomized model, >= 1. (Default: 10)
        loss (str): ``"ce"``, ``"margin"`` or ``"dlr"``. (Default: ``"ce"``)
        seed (int): seed of the random starts. (Default: 0)
        criterion (Criterion | None): success criterion; None means ``criteria.Fine()``. (Default: None)

    Attributes:
        randomized (bool | None): whether the last call averaged over draws (None before any call).

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.BPDA(model, eps=8 / 255, steps=50, eot_samples=20)
        >>> adv_images = attack(images, labels)
    """

    family: Family = "transfer"

    def __init__(
        self,
        model: nn.Module,
        *,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 20,
        restarts: int = 1,
        eot_samples: int = 10,
        loss: str = "ce",
        seed: int = 0,
        criterion: Criterion | None = None,
    ) -> None:
        if isinstance(eot_samples, bool) or not isinstance(eot_samples, int) or eot_samples < 1:
            raise RobinBenchError(f"BPDA eot_samples must be an int >= 1, got {eot_samples!r}")
        super().__init__(
            model, norm=norm, eps=eps, steps=steps, restarts=restarts, loss=loss, seed=seed, criterion=criterion
        )
        self.attack = "BPDA"
        self.eot_samples = eot_samples
        self.randomized: bool | None = None

    def loss_and_grad(self, x: Tensor, aux: Tensor, objective: Objective) -> tuple[Tensor, Tensor, Tensor]:
        draws = self.eot_samples if self.randomized else 1
        out, loss, grad = super().loss_and_grad(x, aux, objective)
        for _ in range(draws - 1):
            _, more_loss, more_grad = super().loss_and_grad(x, aux, objective)
            loss, grad = loss + more_loss, grad + more_grad
        return out, loss / draws, grad / draws

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        with straight_through(self.model) as steps:
            declared = any(getattr(m, PREPROCESSING_ATTR) == "randomized" for m in steps)
            x = images.to(self.device)
            with torch.no_grad():
                differ = x.shape[0] > 0 and not torch.equal(self.get_logits(x), self.get_logits(x))
            self.randomized = declared or differ
            return super().forward(images, labels)
