"""Success criteria applied after an attack: fine or coarse misclassification, or hitting a target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.registry import did_you_mean

CRITERIA: tuple[str, ...] = ("fine", "coarse", "targeted")


class Criterion(Protocol):
    """Judges model outputs: which samples are correct on clean inputs, which attacks succeeded.

    Both methods take the model output (N, K) (logits or log-probabilities), the (N,) true fine
    labels and, for the targeted criterion, the (N,) targets; they return (N,) bool tensors.
    """

    @property
    def name(self) -> str:
        """The criterion's name."""
        ...

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        """True where the clean prediction counts as correct."""
        ...

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        """True where the (adversarial) prediction counts as a successful attack."""
        ...


@dataclass(frozen=True)
class Fine:
    """Fine misclassification: the attack succeeds where ``argmax != y``."""

    name: str = "fine"

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return out.argmax(1) == y

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return out.argmax(1) != y


@dataclass(frozen=True)
class Coarse:
    """Coarse misclassification (HAR): the attack succeeds where ``coarse_of(argmax) != coarse_of(y)``.

    Works for any model whose output has one column per fine class of ``hierarchy``.

    Arguments:
        hierarchy (Hierarchy): the fine -> coarse map.
    """

    hierarchy: Hierarchy
    name: str = "coarse"

    def _same_coarse(self, out: Tensor, y: Tensor) -> Tensor:
        if out.dim() != 2 or out.shape[1] != self.hierarchy.n_fine:
            raise RobinBenchError(
                f"coarse criterion got model output of shape {tuple(out.shape)}; the hierarchy has "
                f"{self.hierarchy.n_fine} fine classes, so the output must be (N, {self.hierarchy.n_fine})"
            )
        return self.hierarchy.coarse_of(out.argmax(1)) == self.hierarchy.coarse_of(y)

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return self._same_coarse(out, y)

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return ~self._same_coarse(out, y)


@dataclass(frozen=True)
class Targeted:
    """Targeted: clean-correct means ``argmax == y``; the attack succeeds where ``argmax == target``."""

    name: str = "targeted"

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return out.argmax(1) == y

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        if target is None:
            raise RobinBenchError("the targeted criterion needs targets; pass targets=(N,) class indices")
        return out.argmax(1) == target


def get_criterion(name: str, hierarchy: Hierarchy | None = None) -> Criterion:
    """The criterion called ``name`` (``"fine"``, ``"coarse"`` or ``"targeted"``).

    Arguments:
        name (str): criterion name.
        hierarchy (Hierarchy | None): required by ``"coarse"``, ignored otherwise.

    Example::

        >>> crit = get_criterion("coarse", Hierarchy.from_groups([[0, 1], [2, 3]]))
        >>> crit.success(model(x_adv), y)   # (N,) bool
    """
    if name == "fine":
        return Fine()
    if name == "targeted":
        return Targeted()
    if name == "coarse":
        if hierarchy is None:
            raise RobinBenchError("criterion 'coarse' needs a hierarchy; pass hierarchy=rb.Hierarchy(...)")
        if not isinstance(hierarchy, Hierarchy):
            raise RobinBenchError(f"hierarchy must be a robin_bench.Hierarchy, got {type(hierarchy).__name__}")
        return Coarse(hierarchy)
    raise RobinBenchError(f"unknown criterion {name!r}; {did_you_mean(str(name), list(CRITERIA))}")
