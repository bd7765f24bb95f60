"""Name -> factory registries with close-match suggestions (timm style)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from robin_bench.errors import RobinBenchError

T = TypeVar("T")


def did_you_mean(name: object, valid: list[str]) -> str:
    """A one-line hint naming the close matches of ``name`` among ``valid``, or all of them (always all of
    them where ``name`` is not a string)."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5) if isinstance(name, str) else []
    if close:
        return f"did you mean {', '.join(repr(c) for c in close)}?"
    return f"valid: {', '.join(sorted(valid))}"


class Registry(Generic[T]):
    """A registry of named things, filled by the ``register`` decorator where each is defined.

    Arguments:
        kind (str): what the registry holds, used in error messages ("architecture", "dataset").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a name registered twice is a bug."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """The thing registered as ``name``; an unknown name raises ``RobinBenchError`` with close matches."""
        try:
            return self._items[name]
        except KeyError:
            raise RobinBenchError(
                f"unknown {self.kind} {name!r}; {did_you_mean(name, self.names())}"
            ) from None

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
