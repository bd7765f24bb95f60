"""Class hierarchies: a fine -> coarse map with validation and the CIFAR built-ins."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from robin_bench.errors import RobinBenchError

CIFAR10_GROUPS: dict[str, list[int]] = {
    "animals": [2, 3, 4, 5, 6, 7],
    "vehicles": [0, 1, 8, 9],
}

CIFAR100_SUPERCLASSES: list[str] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
]

CIFAR100_FINE_TO_COARSE: list[int] = [
    4,
    1,
    14,
    8,
    0,
    6,
    7,
    7,
    18,
    3,
    3,
    14,
    9,
    18,
    7,
    11,
    3,
    9,
    7,
    11,
    6,
    11,
    5,
    10,
    7,
    6,
    13,
    15,
    3,
    15,
    0,
    11,
    1,
    10,
    12,
    14,
    16,
    9,
    11,
    5,
    5,
    19,
    8,
    8,
    15,
    13,
    14,
    17,
    18,
    10,
    16,
    4,
    17,
    4,
    2,
    0,
    17,
    4,
    18,
    17,
    10,
    3,
    2,
    12,
    12,
    16,
    12,
    1,
    9,
    19,
    2,
    10,
    0,
    1,
    16,
    12,
    9,
    13,
    15,
    13,
    16,
    19,
    2,
    4,
    6,
    19,
    5,
    5,
    8,
    19,
    18,
    1,
    2,
    15,
    6,
    0,
    17,
    8,
    14,
    13,
]


class Hierarchy:
    r"""A two-level class hierarchy: every fine class 0..n_fine-1 belongs to exactly one coarse class.

    HAR (Section 3) groups fine classes into coarse classes; hierarchical robustness asks whether an
    attack moves the prediction into another coarse class.

    Arguments:
        groups (Mapping[str, Sequence[int]]): coarse-class name -> its fine classes. Coarse class
            ``z`` is the ``z``-th entry. Every fine class ``0..n_fine-1`` must appear exactly once
            and no group may be empty.

    Example::

        >>> h = Hierarchy.from_groups({"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]})
        >>> h.coarse_of(torch.tensor([3, 7]))
        tensor([0, 1])
    """

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        if not groups:
            raise RobinBenchError("hierarchy has no groups; give at least one coarse class")
        owner: dict[int, str] = {}
        for name, members in groups.items():
            if len(members) == 0:
                raise RobinBenchError(f"hierarchy group {name!r} is empty; every coarse class needs a fine class")
            for raw in members:
                if isinstance(raw, bool) or not isinstance(raw, numbers.Integral) or raw < 0:
                    raise RobinBenchError(
                        f"hierarchy group {name!r} holds {raw!r}; fine classes are non-negative integers"
                    )
                c = int(raw)
                if c in owner:
                    raise RobinBenchError(
                        f"fine class {c} is in two hierarchy groups, {owner[c]!r} and {name!r}; "
                        "each fine class belongs to exactly one group"
                    )
                owner[c] = name
        n_fine = max(owner) + 1
        missing = [c for c in range(n_fine) if c not in owner]
        if missing:
            raise RobinBenchError(
                f"fine class {missing[0]} is in no hierarchy group; groups must cover 0..{n_fine - 1}"
            )
        self.names: list[str] = list(groups)
        self._groups: list[list[int]] = [sorted(int(c) for c in groups[n]) for n in self.names]
        fine_to_coarse = torch.empty(n_fine, dtype=torch.long)
        position = torch.empty(n_fine, dtype=torch.long)
        for z, members in enumerate(self._groups):
            for i, c in enumerate(members):
                fine_to_coarse[c] = z
                position[c] = i
        self.fine_to_coarse: Tensor = fine_to_coarse
        self.position_in_group: Tensor = position

    @classmethod
    def from_groups(cls, groups: Mapping[str, Sequence[int]] | Sequence[Sequence[int]]) -> Hierarchy:
        """A hierarchy from named groups, or from a list of groups (named ``"0"``, ``"1"``, ...)."""
        if isinstance(groups, Mapping):
            return cls(groups)
        return cls({str(i): list(g) for i, g in enumerate(groups)})

    @classmethod
    def from_fine_to_coarse(cls, fine_to_coarse: Sequence[int], names: Sequence[str] | None = None) -> Hierarchy:
        """A hierarchy from a per-fine-class coarse label list (``fine_to_coarse[y] = z``)."""
        if len(fine_to_coarse) == 0:
            raise RobinBenchError("fine_to_coarse is empty; give the coarse class of every fine class")
        for y, z in enumerate(fine_to_coarse):
            if isinstance(z, bool) or not isinstance(z, numbers.Integral) or z < 0:
                raise RobinBenchError(f"fine_to_coarse[{y}] = {z!r}; coarse classes are non-negative integers")
        n_coarse = int(max(fine_to_coarse)) + 1
        names = list(names) if names is not None else [str(z) for z in range(n_coarse)]
        if len(names) != n_coarse:
            raise RobinBenchError(f"{len(names)} coarse names given for {n_coarse} coarse classes")
        return cls({names[z]: [y for y, c in enumerate(fine_to_coarse) if c == z] for z in range(n_coarse)})

    @classmethod
    def cifar10(cls) -> Hierarchy:
        """CIFAR-10 animals / vehicles (HAR Table 6)."""
        return cls(CIFAR10_GROUPS)

    @classmethod
    def cifar100(cls) -> Hierarchy:
        """CIFAR-100's 20 standard superclasses of 5 fine classes each (HAR Table 6)."""
        return cls.from_fine_to_coarse(CIFAR100_FINE_TO_COARSE, CIFAR100_SUPERCLASSES)

    @property
    def n_fine(self) -> int:
        """Number of fine classes."""
        return int(self.fine_to_coarse.numel())

    @property
    def n_coarse(self) -> int:
        """Number of coarse classes."""
        return len(self._groups)

    def fine_classes(self, z: int) -> list[int]:
        """The fine classes of coarse class ``z``, ascending."""
        if isinstance(z, bool) or not isinstance(z, numbers.Integral) or not 0 <= z < self.n_coarse:
            raise RobinBenchError(f"coarse class {z!r} out of range; valid: integers 0..{self.n_coarse - 1}")
        return list(self._groups[int(z)])

    def coarse_of(self, y: Tensor) -> Tensor:
        """Coarse labels (LongTensor, same shape and device as ``y``) of fine labels ``y``."""
        y = torch.as_tensor(y)
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_fine):
            raise RobinBenchError(
                f"fine label {int(y.max()) if int(y.max()) >= self.n_fine else int(y.min())} outside "
                f"the hierarchy's classes 0..{self.n_fine - 1}"
            )
        return self.fine_to_coarse.to(y.device)[y.long()]

    def coarse_log_probs_from_fine(self, fine_log_probs: Tensor) -> Tensor:
        """(N, n_coarse) log sum_{y in z} P(y|x) from (N, n_fine) log-probabilities or logits.

        Logits are normalized first, so any flat classifier's output can be judged at coarse level.
        """
        lp = torch.log_softmax(fine_log_probs, dim=1)
        return torch.stack([torch.logsumexp(lp[:, g], dim=1) for g in self._groups], dim=1)

    def to_dict(self) -> dict[str, list[int]]:
        """The groups as a plain dict (JSON-serialisable), the inverse of the constructor."""
        return {n: list(g) for n, g in zip(self.names, self._groups, strict=True)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hierarchy) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple((n, tuple(g)) for n, g in self.to_dict().items()))

    def __repr__(self) -> str:
        return f"Hierarchy(n_fine={self.n_fine}, n_coarse={self.n_coarse}, groups={self.to_dict()})"
