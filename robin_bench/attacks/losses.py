"""Per-sample attack objectives on model outputs (to be maximized); success tests come from the criteria."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from robin_bench.errors import RobinBenchError

Objective = Callable[[Tensor, Tensor], Tensor]
"""(model output (N, K), per-sample labels or targets (N,)) -> (N,) loss to maximize."""

Success = Callable[[Tensor, Tensor], Tensor]
"""(model output (N, K), per-sample labels or targets (N,)) -> (N,) bool, True where the attack succeeded."""


def max_other(out: Tensor, y: Tensor) -> Tensor:
    """(N,) the largest entry of each row of ``out`` (N, K) outside column ``y`` (N,)."""
    return out.scatter(1, y[:, None], float("-inf")).amax(1)


def _true_and_best_other(out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return out.gather(1, y[:, None])[:, 0], max_other(out, y)


def ce(out: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy of the true class (untargeted)."""
    return F.cross_entropy(out, y, reduction="none")


def ce_targeted(out: Tensor, t: Tensor) -> Tensor:
    """Negative cross-entropy of the target class (targeted)."""
    return -F.cross_entropy(out, t, reduction="none")


def margin(out: Tensor, y: Tensor) -> Tensor:
    """Carlini-Wagner margin ``max_{j != y} z_j - z_y`` (untargeted; > 0 means misclassified)."""
    true, other = _true_and_best_other(out, y)
    return other - true


def margin_targeted(out: Tensor, t: Tensor) -> Tensor:
    """Carlini-Wagner margin ``z_t - max_{j != t} z_j`` (targeted; > 0 means target hit)."""
    target, other = _true_and_best_other(out, t)
    return target - other


def _check_classes(out: Tensor, need: int, loss: str) -> None:
    if out.shape[1] < need:
        raise RobinBenchError(f"loss {loss!r} needs at least {need} classes, the model has {out.shape[1]}")


def dlr(out: Tensor, y: Tensor) -> Tensor:
    """Difference of Logits Ratio (Croce and Hein 2020), untargeted; scale invariant, needs K >= 3."""
    _check_classes(out, 3, "dlr")
    srt = out.sort(dim=1, descending=True).values
    true, other = _true_and_best_other(out, y)
    return (other - true) / (srt[:, 0] - srt[:, 2] + 1e-12)


def dlr_targeted(out: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
    """Targeted DLR: ``(z_t - max_{j != t} z_j) / (z_pi1 - (z_pi3 + z_pi4) / 2)``; needs K >= 4."""
    _check_classes(out, 4, "dlr")
    srt = out.sort(dim=1, descending=True).values
    target, other = _true_and_best_other(out, t)
    return (target - other) / (srt[:, 0] - 0.5 * (srt[:, 2] + srt[:, 3]) + 1e-12)


LOSSES: dict[str, tuple[Objective, Objective]] = {
    "ce": (ce, ce_targeted),
    "margin": (margin, margin_targeted),
    "dlr": (dlr, dlr_targeted),
}
"""Loss name -> (untargeted objective, targeted objective)."""


def get_loss(name: str, targeted: bool) -> Objective:
    """The objective registered as ``name``; unknown names raise ``RobinBenchError``."""
    if name not in LOSSES:
        raise RobinBenchError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    return LOSSES[name][1 if targeted else 0]


def never(out: Tensor, y: Tensor) -> Tensor:
    """No early success: run every step (adversarial training)."""
    return torch.zeros(out.shape[0], dtype=torch.bool, device=out.device)
