"""HAR: a coarse network times per-coarse-class fine networks, in log space."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy


class HARClassifier(nn.Module):
    r"""HAR's hierarchical classifier (HAR Section 3): P(y|x) = P(z(y)|x) P(y|x, z(y)).

    The coarse network G gives P(z|x); fine network ``z`` gives P(y|x, z) over the fine classes of
    coarse class ``z`` (in ascending fine-class order). The output is log P(y|x), computed as
    ``log_softmax(G(x))[z(y)] + log_softmax(H_z(x))[y]``, never as a product of probabilities, so
    ``logsumexp`` over the fine classes is 0 and attacks see well-scaled gradients.

    Arguments:
        coarse (nn.Module): x -> (N, n_coarse) logits.
        fine (Sequence[nn.Module]): one module per coarse class; ``fine[z]``: x -> (N, |group z|) logits.
        hierarchy (Hierarchy): the fine -> coarse map.

    Shape:
        - Input: (N, C, H, W) in [0, 1].
        - Output: (N, n_fine) log-probabilities.

    Example::

        >>> h = rb.Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
        >>> g = HARClassifier(coarse_net, [fine_low, fine_high], h)
        >>> g(x).exp().sum(1)   # ones
    """

    _ungroup: Tensor
    _group_of_grouped: Tensor

    def __init__(self, coarse: nn.Module, fine: Sequence[nn.Module], hierarchy: Hierarchy) -> None:
        super().__init__()
        if not isinstance(hierarchy, Hierarchy):
            raise RobinBenchError(
                f"HAR hierarchy is a {type(hierarchy).__name__}; pass a Hierarchy, e.g. Hierarchy.from_groups(groups)"
            )
        if len(fine) != hierarchy.n_coarse:
            raise RobinBenchError(
                f"HAR got {len(fine)} fine networks for {hierarchy.n_coarse} coarse classes; "
                "give one fine network per coarse class"
            )
        self.coarse = coarse
        self.fine = nn.ModuleList(fine)
        self.hierarchy = hierarchy
        grouped = torch.tensor([c for z in range(hierarchy.n_coarse) for c in hierarchy.fine_classes(z)])
        self.register_buffer("_ungroup", torch.argsort(grouped), persistent=False)
        self.register_buffer("_group_of_grouped", hierarchy.fine_to_coarse[grouped], persistent=False)

    @property
    def n_classes(self) -> int:
        """Number of fine classes."""
        return self.hierarchy.n_fine

    def coarse_log_probs(self, x: Tensor) -> Tensor:
        """(N, n_coarse) log P(z|x) from the coarse network alone."""
        out = self.coarse(x)
        if out.dim() != 2 or out.shape[1] != self.hierarchy.n_coarse:
            raise RobinBenchError(
                f"HAR coarse network returned shape {tuple(out.shape)}; expected (N, {self.hierarchy.n_coarse})"
            )
        return torch.log_softmax(out, dim=1)

    def fine_log_probs(self, x: Tensor, z: int) -> Tensor:
        """(N, |group z|) log P(y|x, z) from fine network ``z``."""
        out = self.fine[z](x)
        size = len(self.hierarchy.fine_classes(z))
        if out.dim() != 2 or out.shape[1] != size:
            raise RobinBenchError(f"HAR fine network {z} returned shape {tuple(out.shape)}; expected (N, {size})")
        return torch.log_softmax(out, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        coarse = self.coarse_log_probs(x)
        fine = torch.cat([self.fine_log_probs(x, z) for z in range(len(self.fine))], dim=1)
        grouped = coarse[:, self._group_of_grouped] + fine
        return grouped[:, self._ungroup]
