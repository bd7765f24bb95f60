"""Success criteria: fine or coarse misclassification, or hitting a target.

One criterion object judges an evaluation (``correct``/``success`` against labels and targets) and
drives every robin-bench attack (``reached``: when a sample is done; ``objective``: what to ascend),
so an attack never stops on a weaker notion of success than the evaluation counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from robin_bench.attacks.losses import Objective, get_loss
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.registry import did_you_mean

CRITERIA: tuple[str, ...] = ("fine", "coarse", "targeted")


class Criterion(Protocol):
    """Judges model outputs and tells attacks when a sample is done.

    ``correct`` and ``success`` take the model output (N, K) (logits or log-probabilities), the (N,)
    true fine labels and, for the targeted criterion, the (N,) targets. Attacks see one per-sample
    *aim* instead: the true label (fine, coarse) or the target (targeted); ``reached`` and
    ``objective`` take it. All return (N,) tensors.
    """

    @property
    def name(self) -> str:
        """The criterion's name."""
        ...

    @property
    def targeted(self) -> bool:
        """True where the aim is a target (the attack must be in a torchattacks targeted mode)."""
        ...

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        """True where the clean prediction counts as correct."""
        ...

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        """True where the (adversarial) prediction counts as a successful attack."""
        ...

    def reached(self, out: Tensor, aim: Tensor) -> Tensor:
        """True where an attack aimed at ``aim`` (labels, or targets) has succeeded."""
        ...

    def objective(self, loss: str) -> Objective:
        """The per-sample loss ``loss`` (``"ce"``, ``"margin"``, ``"dlr"``) to maximize towards success."""
        ...


@dataclass(frozen=True)
class Fine:
    """Fine misclassification: the attack succeeds where ``argmax != y``; objectives are the plain losses."""

    name: str = "fine"
    targeted: bool = False

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return out.argmax(1) == y

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return out.argmax(1) != y

    def reached(self, out: Tensor, aim: Tensor) -> Tensor:
        return out.argmax(1) != aim

    def objective(self, loss: str) -> Objective:
        return get_loss(loss, targeted=False)


def coarse_max(out: Tensor, hierarchy: Hierarchy) -> Tensor:
    """(N, n_coarse) view of a fine output (N, n_fine): column ``z`` is the max over the fine classes of ``z``.

    Its argmax is ``coarse_of(argmax out)``, so fine misclassification of this view is exactly coarse
    misclassification of ``out`` (the view AutoAttack runs on under the coarse criterion).
    """
    return torch.stack([out[:, hierarchy.fine_classes(z)].amax(1) for z in range(hierarchy.n_coarse)], dim=1)


@dataclass(frozen=True)
class Coarse:
    """Coarse misclassification (HAR): the attack succeeds where ``coarse_of(argmax) != coarse_of(y)``.

    Works for any model whose output has one column per fine class of ``hierarchy``. Objectives for
    attacks (``objective``), on the true label ``y``:

    - ``"ce"``: cross-entropy of the coarse marginal ``log sum_{j in z(y)} softmax(out)_j`` (for HAR,
      the coarse network's log P(z|x));
    - ``"margin"``: ``max_{j not in z(y)} out_j - max_{j in z(y)} out_j``, > 0 exactly on success;
    - ``"dlr"``: DLR on :func:`coarse_max` (needs >= 3 coarse classes).

    Arguments:
        hierarchy (Hierarchy): the fine -> coarse map.
    """

    hierarchy: Hierarchy
    name: str = "coarse"
    targeted: bool = False

    def _check(self, out: Tensor) -> None:
        if out.dim() != 2 or out.shape[1] != self.hierarchy.n_fine:
            raise RobinBenchError(
                f"coarse criterion got model output of shape {tuple(out.shape)}; the hierarchy has "
                f"{self.hierarchy.n_fine} fine classes, so the output must be (N, {self.hierarchy.n_fine})"
            )

    def _same_coarse(self, out: Tensor, y: Tensor) -> Tensor:
        self._check(out)
        return self.hierarchy.coarse_of(out.argmax(1)) == self.hierarchy.coarse_of(y)

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return self._same_coarse(out, y)

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return ~self._same_coarse(out, y)

    def reached(self, out: Tensor, aim: Tensor) -> Tensor:
        return ~self._same_coarse(out, aim)

    def objective(self, loss: str) -> Objective:
        h = self.hierarchy
        if loss == "dlr" and h.n_coarse < 3:
            raise RobinBenchError(
                f"loss 'dlr' under the coarse criterion needs >= 3 coarse classes, the hierarchy has {h.n_coarse}; "
                "use loss='ce' or 'margin'"
            )
        base = get_loss(loss, targeted=False)
        if loss == "ce":
            return lambda out, y: base(h.coarse_log_probs_from_fine(out), h.coarse_of(y))
        if loss == "dlr":
            return lambda out, y: base(coarse_max(out, h), h.coarse_of(y))

        def coarse_margin(out: Tensor, y: Tensor) -> Tensor:
            own = h.fine_to_coarse.to(out.device)[None, :] == h.coarse_of(y)[:, None]
            return out.masked_fill(own, float("-inf")).amax(1) - out.masked_fill(~own, float("-inf")).amax(1)

        return coarse_margin


@dataclass(frozen=True)
class Targeted:
    """Targeted: clean-correct means ``argmax == y``; the attack succeeds where ``argmax == target``.

    An attack under this criterion runs in torchattacks' ``targeted(label)`` mode: it is called as
    ``attack(x, targets)``, and its aim is the target.
    """

    name: str = "targeted"
    targeted: bool = True

    def correct(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return out.argmax(1) == y

    def success(self, out: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        if target is None:
            raise RobinBenchError("the targeted criterion needs targets; pass targets=(N,) class indices")
        return out.argmax(1) == target

    def reached(self, out: Tensor, aim: Tensor) -> Tensor:
        return out.argmax(1) == aim

    def objective(self, loss: str) -> Objective:
        return get_loss(loss, targeted=True)


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


def as_criterion(criterion: object, who: str) -> Criterion:
    """``criterion`` if it is a :class:`Fine`, :class:`Coarse` or :class:`Targeted`, else ``RobinBenchError``."""
    if not isinstance(criterion, (Fine, Coarse, Targeted)):
        raise RobinBenchError(
            f"{who} got criterion={criterion!r}; pass a criterion object: rb.attacks.criteria.Fine(), "
            "Coarse(hierarchy) or Targeted() (or get_criterion(name, hierarchy))"
        )
    return criterion
