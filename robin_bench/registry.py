"""Name -> factory registries with close-match suggestions (timm style), open to plugins."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from robin_bench.errors import RobinBenchError
from robin_bench.plugins import PluginInfo, current_origin

T = TypeVar("T")


def did_you_mean(name: object, valid: list[str]) -> str:
    """A one-line hint naming the close matches of ``name`` among ``valid``, or all of them (always all of
    them where ``name`` is not a string)."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5) if isinstance(name, str) else []
    if close:
        return f"did you mean {', '.join(repr(c) for c in close)}?"
    return f"valid: {', '.join(sorted(valid))}"


def _who(origin: PluginInfo | None) -> str:
    return "robin-bench" if origin is None else str(origin)


class Registry(Generic[T]):
    """A registry of named things, filled by the ``register`` decorator where each is defined.

    Each entry remembers its origin: ``None`` for robin-bench's own, else the
    :class:`~robin_bench.plugins.PluginInfo` of the plugin being imported when it was registered.

    Arguments:
        kind (str): what the registry holds, used in error messages ("architecture", "dataset").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origins: dict[str, PluginInfo | None] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``.

        Raises:
            RobinBenchError: ``name`` is taken (by robin-bench or another plugin), or is not a non-empty string.
        """
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise RobinBenchError(
                f"{self.kind} name {name!r} is not a name; give a non-empty string without surrounding spaces"
            )

        def deco(obj: T) -> T:
            origin = current_origin()
            if name in self._items:
                raise RobinBenchError(
                    f"{self.kind} {name!r} registered twice: by {_who(self._origins[name])} and "
                    f"by {_who(origin)}; rename one of them"
                )
            self._items[name] = obj
            self._origins[name] = origin
            return obj

        return deco

    def get(self, name: str) -> T:
        """The thing registered as ``name``; an unknown name raises ``RobinBenchError`` with close matches."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RobinBenchError(f"unknown {self.kind} {name!r}; {did_you_mean(name, self.names())}") from None

    def origin(self, name: str) -> PluginInfo | None:
        """The plugin ``name`` came from, or None for robin-bench's own (and for unknown names)."""
        return self._origins.get(name)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
