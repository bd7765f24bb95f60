"""Reading a suite's YAML in bounded memory and time, with a line for every key path.

PyYAML's safe loader still lets a few hundred bytes of nested aliases expand into billions of
values, recurses once per nesting level (a RecursionError at about 1000) and keeps the last of two
equal keys. :func:`read_yaml` first walks the event stream iteratively (nesting depth, alias count,
size), then the composed node tree with shared aliases counted once per use (expanded size, duplicate
keys), and only then builds Python values. Every refusal is one :class:`RobinBenchError` line naming
the file and line.

Example::

    >>> data, lines = read_yaml(path.read_text(), source=str(path))
    >>> lines.where(str(path), ("models", 0, "kind"))
    'suite.yaml:12: models[0].kind'
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from robin_bench.errors import RobinBenchError

MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences a suite may use (the schema needs 5)."""
MAX_ALIASES = 64
"""Most alias uses (``*name``) in one suite."""
MAX_VALUES = 20_000
"""Most values a suite may hold once every alias is expanded."""
MAX_BYTES = 1 << 20
"""Largest suite file (1 MiB; the largest suite of the repository is a few kB)."""


def read_suite_file(path: Path) -> str:
    """The UTF-8 text of suite file ``path``, read only when it is a regular file of at most :data:`MAX_BYTES` (a
    device such as ``/dev/zero`` or a pipe would never end), else one ``RobinBenchError`` line."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise RobinBenchError(
                f"suite file {path} is not a regular file (a folder, device or pipe); give the path of a .yaml suite"
            )
        if st.st_size > MAX_BYTES:
            raise RobinBenchError(f"suite file {path} holds {st.st_size} bytes; a suite is at most {MAX_BYTES} bytes")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise RobinBenchError(f"suite file {path} holds more than {MAX_BYTES} bytes; a suite is smaller")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise RobinBenchError(f"suite file {path} not found; give the path of a .yaml suite") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RobinBenchError(f"suite file {path} cannot be read ({e.__class__.__name__}: {e})") from None


def read_yaml(text: str, *, source: str) -> tuple[Any, LineMap]:
    """The Python value of YAML ``text`` and its key-path -> line map, or ``RobinBenchError`` for malformed YAML,
    nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_ALIASES` aliases, more than :data:`MAX_VALUES`
    values after alias expansion, or a key given twice in one mapping."""
    try:
        _check_events(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _expanded_size(node, source, {})
            _check_duplicate_keys(node, source, set())
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RobinBenchError(f"{where}: malformed YAML: {problem}; check indentation, colons and quotes") from None
    return data, LineMap(node)


def _check_events(text: str, source: str) -> None:
    depth = aliases = events = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        events += 1
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise RobinBenchError(
                    f"{source}:{event.start_mark.line + 1}: YAML nested {MAX_DEPTH + 1} levels "
                    f"deep; a suite nests at most {MAX_DEPTH}"
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise RobinBenchError(
                    f"{source}:{event.start_mark.line + 1}: more than {MAX_ALIASES} YAML aliases "
                    f"(*name); a suite uses at most {MAX_ALIASES}"
                )
        if events > 4 * MAX_VALUES:
            raise RobinBenchError(f"{source}: YAML holds more than {MAX_VALUES} values; a suite is smaller")


def _expanded_size(node: yaml.Node, source: str, memo: dict[int, int]) -> int:
    """Values under ``node`` with aliases expanded, computed once per distinct node (linear time)."""
    if id(node) in memo:
        return memo[id(node)]
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, source, memo) + _expanded_size(v, source, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(v, source, memo) for v in node.value)
    if size > MAX_VALUES:
        raise RobinBenchError(
            f"{source}:{node.start_mark.line + 1}: YAML aliases expand to more than {MAX_VALUES} "
            "values; a suite is smaller (is an alias nested in itself?)"
        )
    memo[id(node)] = size
    return size


def _check_duplicate_keys(node: yaml.Node, source: str, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in keys:
                    raise RobinBenchError(
                        f"{source}:{k.start_mark.line + 1}: key {k.value!r} given twice in one "
                        f"mapping (first on line {keys[k.value]}); give each key once"
                    )
                keys[k.value] = k.start_mark.line + 1
            _check_duplicate_keys(v, source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _check_duplicate_keys(v, source, seen)


class LineMap:
    """Key path -> 1-based line number in the YAML text, from the composed node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._lines: dict[tuple[str | int, ...], int] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: tuple[str | int, ...]) -> None:
        self._lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                self._lines[(*loc, k.value)] = k.start_mark.line + 1
                self._walk(v, (*loc, k.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, (*loc, i))

    def line(self, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest known prefix of ``loc``."""
        loc = tuple(loc)
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return self._lines.get(())

    def where(self, source: str, loc: Sequence[str | int]) -> str:
        """``source:line: key.path`` for error messages."""
        line = self.line(loc)
        head = f"{source}:{line}" if line is not None else source
        return f"{head}: {dotted(loc)}" if loc else head


def dotted(loc: Sequence[str | int]) -> str:
    """A key path as the user writes it: ``models[0].train.eps``."""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))
