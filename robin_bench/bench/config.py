"""Suite files: read, parse and validate the YAML of a benchmark run before any compute.

A suite names a dataset, an optional class hierarchy, threat models (norm and eps list), the models
to train or load and the attacks to run. :func:`load_suite` reads the file in bounded memory
(:mod:`~robin_bench.bench.suite_yaml`), validates every key and value against the schema
(:mod:`~robin_bench.bench.schema`; an unknown key is an error that names the closest valid key),
cross-checks names and references (:mod:`~robin_bench.bench.suite_checks`) and returns a :class:`Suite`.
Every mistake raises :class:`~robin_bench.errors.RobinBenchError` with one line:
``file:line: key.path: problem; what is valid`` (:mod:`~robin_bench.bench.suite_errors`).

Example::

    >>> suite = load_suite("benchmarks/suites/demo.yaml")
    >>> [m.name for m in suite.models]
    ['mc', 'robin', 'har']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from robin_bench.bench.schema import STRUCTURE_ONLY, AttackSpec, DatasetSpec, ModelSpec, Suite, ThreatSpec, parse_eps
from robin_bench.bench.suite_errors import describe
from robin_bench.bench.suite_yaml import LineMap, read_suite_file, read_yaml
from robin_bench.errors import RobinBenchError
from robin_bench.plugins import load_plugins

__all__ = [
    "AttackSpec",
    "DatasetSpec",
    "ModelSpec",
    "Suite",
    "ThreatSpec",
    "demo_suite_path",
    "load_suite",
    "parse_eps",
    "parse_suite",
]


def demo_suite_path() -> Path:
    """Path of the packaged demo suite (``robin_bench/bench/suites/demo.yaml``)."""
    return Path(str(resources.files("robin_bench.bench").joinpath("suites", "demo.yaml")))


def load_suite(path: str | os.PathLike[str], *, plugins: Sequence[str] = ()) -> Suite:
    """Read, parse and validate a suite file; raises ``RobinBenchError`` naming file, line and key on any mistake.

    The installed plugins (entry points), the suite's ``plugins`` and ``plugins`` given here (``--plugin``) are
    imported first, so the names they register are valid in the suite.

    Arguments:
        path (str | PathLike): the YAML file.
        plugins (Sequence[str]): more plugin modules to import (dotted names). (Default: none)

    Returns:
        Suite: validated; every dataset, architecture and attack name exists, attack keyword
        arguments match the attack's signature, and the hierarchy covers the dataset's classes.
    """
    path = Path(path)
    return parse_suite(read_suite_file(path), source=str(path), default_name=path.stem, plugins=plugins)


def parse_suite(
    text: str, *, source: str = "<suite>", default_name: str = "suite", plugins: Sequence[str] = ()
) -> Suite:
    """Validate suite YAML ``text``; ``source`` names it in error messages. See :func:`load_suite`.

    Keys, types and values are checked before plugins or anything else loads torch (a first pass without
    registry lookups), names and references after it.
    """
    data, lines = read_yaml(text, source=source)
    if not isinstance(data, dict):
        raise RobinBenchError(
            f"{source}: a suite is a mapping of keys (dataset, models, ...), got {type(data).__name__}"
        )
    data.setdefault("name", default_name)
    _validate(data, source, lines, {STRUCTURE_ONLY: True})
    named = data.get("plugins", [])
    if not isinstance(named, list):
        raise RobinBenchError(f"{lines.where(source, ['plugins'])}: expected a list of module names, got {named!r}")
    for i, module in enumerate(named):
        try:
            load_plugins([module])
        except RobinBenchError as e:
            raise RobinBenchError(f"{lines.where(source, ['plugins', i])}: {e}") from None
    load_plugins(plugins)
    data["plugins"] = list(dict.fromkeys([*named, *plugins]))
    suite = _validate(data, source, lines, None)
    suite._source = source
    from robin_bench.bench.suite_checks import check_suite  # the registries: torch

    checked = check_suite(suite, lines)
    checked._source = source
    return checked


def _validate(data: dict[str, Any], source: str, lines: LineMap, context: dict[str, Any] | None) -> Suite:
    """``Suite.model_validate`` whose first mistake (an unknown key first) is a one-line ``RobinBenchError``."""
    try:
        return Suite.model_validate(data, context=context)
    except ValidationError as e:
        errors = sorted(e.errors(), key=lambda err: err["type"] != "extra_forbidden")
        raise RobinBenchError(describe(errors[0], source, lines)) from None
