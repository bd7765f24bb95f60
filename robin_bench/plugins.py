"""Plugins: installed packages and named modules that register architectures, datasets, attacks, attack sets
and model kinds.

A plugin is an importable module that registers things when imported (``rb.register_arch``,
``rb.register_dataset``, ``rb.register_attack``, ``rb.register_attack_set``, ``rb.register_kind``). It
reaches robin-bench in one of two ways, like pytest's plugins:

- an installed distribution declares it in the entry-point group ``robin_bench.plugins``
  (``[project.entry-points."robin_bench.plugins"] my_plugin = "my_package.robin_plugin"``): loaded by
  every command that reads a suite;
- a suite's ``plugins: [module, ...]`` or the command line's ``--plugin MODULE`` names it: loaded when the
  suite is read. A name is a dotted identifier, never a path or an expression; naming a module runs its import,
  as Python's ``import`` does, so name only modules you trust.

Everything a plugin registers remembers where it came from (:class:`PluginInfo`: module, distribution,
version), which rows, leaderboards and checkpoint specs record.

Example::

    >>> load_plugins(["my_package.robin_plugin"])
    [PluginInfo(module='my_package.robin_plugin', distribution='my-package', version='0.1.0')]
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from robin_bench.errors import RobinBenchError

GROUP = "robin_bench.plugins"
"""The entry-point group of robin-bench plugins."""

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class PluginInfo:
    """Where registered things came from.

    Attributes:
        module (str): the plugin module's dotted name.
        distribution (str | None): the installed distribution that holds it; None for a module found only on
            ``sys.path`` (e.g. ``PYTHONPATH``).
        version (str | None): the distribution's version, else the module's ``__version__``, else None.
    """

    module: str
    distribution: str | None
    version: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form recorded in rows, leaderboards and checkpoint specs."""
        return asdict(self)

    def __str__(self) -> str:
        where = f" from {self.distribution} {self.version or ''}".rstrip() if self.distribution else ""
        return f"plugin {self.module!r}{where}"


_loaded: dict[str, PluginInfo] = {}
_entry_points_loaded = False
_current: list[PluginInfo] = []


def current_origin() -> PluginInfo | None:
    """The plugin being imported now (what a registration inside it comes from), or None (robin-bench itself)."""
    return _current[-1] if _current else None


def loaded() -> list[PluginInfo]:
    """The plugins this process has loaded, in load order."""
    return list(_loaded.values())


def check_module_name(name: object, where: str = "plugin") -> str:
    """``name`` when it is a dotted module name; else ``RobinBenchError`` (a suite holds names, never code or paths)."""
    if not isinstance(name, str) or not _MODULE_NAME.match(name):
        raise RobinBenchError(
            f"{where} {name!r} is not a module name; give a dotted Python module name such as "
            "'my_package.robin_plugin' (installed, or on PYTHONPATH), not a path or an expression"
        )
    return name


def _distribution_of(module: str) -> tuple[str | None, str | None]:
    top = module.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top, [])
    if not dists:
        version = getattr(sys.modules.get(module), "__version__", None)
        return None, None if version is None else str(version)
    return dists[0], importlib.metadata.version(dists[0])


@contextmanager
def _importing(info: PluginInfo) -> Iterator[None]:
    _current.append(info)
    try:
        yield
    finally:
        _current.pop()


CORE_REGISTRIES = (
    "robin_bench.models.kinds",
    "robin_bench.models.archs",
    "robin_bench.data",
    "robin_bench.attacks",
    "robin_bench.bench.attack_factory",
)
"""Modules holding robin-bench's own registrations, imported before any plugin so none is credited to a plugin."""


def _import(module: str, what: str) -> PluginInfo:
    if module in _loaded:
        return _loaded[module]
    for core in CORE_REGISTRIES:
        importlib.import_module(core)
    dist, version = _distribution_of(module)
    info = PluginInfo(module=module, distribution=dist, version=version)
    try:
        with _importing(info):
            importlib.import_module(module)
    except RobinBenchError as e:
        raise RobinBenchError(f"{what} {module!r}: {e}") from None
    except ModuleNotFoundError as e:
        if e.name is not None and (module == e.name or module.startswith(e.name + ".")):
            raise RobinBenchError(
                f"{what} {module!r} cannot be imported (no module named {e.name!r}); install it "
                "or put its folder on PYTHONPATH"
            ) from None
        raise RobinBenchError(f"{what} {module!r} raised ModuleNotFoundError on import: {e}") from None
    except Exception as e:  # a plugin's import may raise anything; the user gets one line naming it
        raise RobinBenchError(f"{what} {module!r} raised {e.__class__.__name__} on import: {e}") from None
    if dist is None and getattr(sys.modules.get(module), "__version__", None) is not None:
        info = PluginInfo(module=module, distribution=None, version=str(sys.modules[module].__version__))
    _loaded[module] = info
    return info


def load_entry_points() -> list[PluginInfo]:
    """Import every module of the entry-point group :data:`GROUP` (once per process)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    out = []
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "an installed distribution"
        module = ep.value.split(":")[0].strip()
        if not _MODULE_NAME.match(module):
            raise RobinBenchError(
                f"entry point {ep.name!r} of {dist} in group {GROUP} points to {ep.value!r}, "
                "not a module; it must name the module that registers the plugin's things"
            )
        out.append(_import(module, f"entry point {ep.name!r} of {dist} (group {GROUP}): module"))
    return out


def load_plugins(modules: Sequence[str] = ()) -> list[PluginInfo]:
    """Load the installed plugins (entry points) and the named ``modules``; returns the named ones' info.

    Arguments:
        modules (Sequence[str]): dotted module names (a suite's ``plugins``, ``--plugin``).

    Raises:
        RobinBenchError: a name is not a module name, a module does not import or raises on import, or it
            registers a name that is taken.
    """
    load_entry_points()
    return [_import(check_module_name(m), "plugin module") for m in modules]
