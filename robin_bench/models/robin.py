"""ROBIN: one-vs-all binary arms aggregated by argmax."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from robin_bench.errors import RobinBenchError


class RobinClassifier(nn.Module):
    r"""ROBIN's aggregate of k one-vs-all binary arms (ROBIN Algorithm 1).

    Arm ``i`` maps an input to the logit of "x is class i"; the prediction is the argmax of the
    arm logits. Cross-entropy on the output is the paper's SOFTMAX relaxation, so any attack that
    takes a logits model (torchattacks, ART, AutoAttack) runs on it unchanged.

    Arguments:
        arms (Sequence[nn.Module]): k >= 2 modules, each mapping (N, C, H, W) inputs in [0, 1]
            to (N, 1) logits.

    Shape:
        - Input: (N, C, H, W) in [0, 1].
        - Output: (N, k) arm logits; column i is arm i's logit.

    Example::

        >>> arms = [rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=1) for _ in range(10)]
        >>> model = RobinClassifier(arms)
        >>> model(x).argmax(1)   # ROBIN's prediction
    """

    def __init__(self, arms: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(arms) < 2:
            raise RobinBenchError(f"ROBIN needs at least 2 arms, got {len(arms)}")
        self.arms = nn.ModuleList(arms)

    @property
    def n_classes(self) -> int:
        """Number of classes (= arms)."""
        return len(self.arms)

    def arm_logits(self, x: Tensor, i: int) -> Tensor:
        """(N,) logit of arm ``i``."""
        out = self.arms[i](x)
        if out.dim() != 2 or out.shape[1] != 1:
            raise RobinBenchError(
                f"ROBIN arm {i} returned shape {tuple(out.shape)}; each arm must return (N, 1) logits"
            )
        return out[:, 0]

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([self.arm_logits(x, i) for i in range(len(self.arms))], dim=1)
