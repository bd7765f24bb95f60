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
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from robin_bench.bench.schema import AttackSpec, DatasetSpec, ModelSpec, Suite, ThreatSpec, parse_eps
from robin_bench.bench.suite_checks import check_suite, train_config
from robin_bench.bench.suite_errors import describe
from robin_bench.bench.suite_yaml import read_yaml
from robin_bench.errors import RobinBenchError

__all__ = ["AttackSpec", "DatasetSpec", "ModelSpec", "Suite", "ThreatSpec", "demo_suite_path", "load_suite",
           "parse_eps", "parse_suite", "train_config"]


def demo_suite_path() -> Path:
    """Path of the packaged demo suite (``robin_bench/bench/suites/demo.yaml``)."""
    return Path(str(resources.files("robin_bench.bench").joinpath("suites", "demo.yaml")))


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read, parse and validate a suite file; raises ``RobinBenchError`` naming file, line and key on any mistake.

    Arguments:
        path (str | PathLike): the YAML file.

    Returns:
        Suite: validated; every dataset, architecture and attack name exists, attack keyword
        arguments match the attack's signature, and the hierarchy covers the dataset's classes.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RobinBenchError(f"suite file {path} not found; give the path of a .yaml suite") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RobinBenchError(f"suite file {path} cannot be read ({e.__class__.__name__}: {e})") from None
    return parse_suite(text, source=str(path), default_name=path.stem)


def parse_suite(text: str, *, source: str = "<suite>", default_name: str = "suite") -> Suite:
    """Validate suite YAML ``text``; ``source`` names it in error messages. See :func:`load_suite`."""
    data, lines = read_yaml(text, source=source)
    if not isinstance(data, dict):
        raise RobinBenchError(
            f"{source}: a suite is a mapping of keys (dataset, models, ...), got {type(data).__name__}"
        )
    data.setdefault("name", default_name)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as e:
        errors = sorted(e.errors(), key=lambda err: err["type"] != "extra_forbidden")
        raise RobinBenchError(describe(errors[0], source, lines)) from None
    suite._source = source
    check_suite(suite, lines)
    return suite
