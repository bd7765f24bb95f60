"""The wording of suite mistakes: one line per pydantic error, ``file:line: key.path: problem; what is valid``.

Example::

    >>> describe(error, "demo.yaml", lines)
    "demo.yaml:7: dataset.nme: unknown key 'nme'; did you mean 'name'?"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from robin_bench.bench.schema import AttackSpec, DatasetSpec, ModelSpec, Suite, ThreatSpec
from robin_bench.bench.suite_yaml import LineMap
from robin_bench.registry import did_you_mean

_SECTIONS: dict[str, type[BaseModel]] = {
    "dataset": DatasetSpec,
    "threat_models": ThreatSpec,
    "models": ModelSpec,
    "attacks": AttackSpec,
}


def valid_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys valid at the mapping that holds ``loc[-1]``."""
    parent = [p for p in loc[:-1] if isinstance(p, str)]
    model: type[BaseModel] = _SECTIONS[parent[0]] if parent and parent[0] in _SECTIONS and len(parent) == 1 else Suite
    return list(model.model_fields)


def describe(err: Mapping[str, Any], source: str, lines: LineMap) -> str:
    """One line for a pydantic error: where, what, and what would be valid."""
    loc = list(err["loc"])
    where = lines.where(source, loc)
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return f"{where}: unknown key {key!r}; {did_you_mean(key, valid_keys(loc))}"
    if kind == "missing":
        return f"{where}: required key missing; add {str(loc[-1])!r}"
    if kind == "literal_error":
        return f"{where}: {value!r} is not valid; {msg[len('Input should be ') :] if msg.startswith('Input') else msg}"
    if kind == "model_type":
        section = next((p for p in loc if isinstance(p, str)), "")
        keys = list((_SECTIONS.get(section) or Suite).model_fields)
        hint = f"; write {{attack: {value}}}" if section == "attacks" and isinstance(value, str) else ""
        return f"{where}: expected a mapping with keys {keys}, got {value!r}{hint}"
    msg = msg.removeprefix("Value error, ")
    if kind == "value_error":
        return f"{where}: {msg}"
    return f"{where}: {msg.replace('Input should', 'expected to')}, got {value!r}"
