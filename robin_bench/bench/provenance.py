"""What a cached number depends on besides its recipe: the content of its input files and the code's versions.

A model's and a cell's cache key (:mod:`robin_bench.bench.planner`) hash, next to the suite's settings and the
plugins their kind, architecture, dataset and attacks come from (with their versions), :func:`provenance`
(robin-bench's version) and the :class:`Digests` of the files they read (the dataset's file or folder, a loaded
checkpoint or weights file). Hashing a
dataset on every run would cost seconds, so a file's sha256 is remembered in the run folder
(``.inputs.json``) with its size, mtime, ctime and inode and read again only when one of them changes.
The same file remembers each input's digest and the code versions of the last run, so a run whose data,
checkpoint or code changed says so before it computes again.

Example::

    >>> digests = Digests(Path("runs/demo/.inputs.json"))
    >>> digests.of(Path("data/mnist"), role="dataset mnist")
    'a3f1...'
    >>> digests.changes()
    ['dataset mnist changed since the last run (data/mnist, sha256 9c2e01aa12f0 -> a3f1c07b55d2)']
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_text


def provenance() -> dict[str, Any]:
    """The code versions every cached model and cell is keyed on besides its plugins' (which the planner adds per
    model and attack, :func:`robin_bench.bench.planner.model_plugins`): robin-bench's."""
    from robin_bench import __version__

    return {"robin_bench": __version__}


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class Digests:
    """sha256 digests of input files and folders, remembered in ``cache`` (a JSON file) per (size, mtime, ctime,
    inode), with each input's digest and the code versions of the last run to tell what changed.

    Arguments:
        cache (Path): the JSON file (read if present and readable; written by :meth:`save` only).
    """

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        files, roles = data.get("files"), data.get("roles")
        self._known: dict[str, Any] = files if isinstance(files, dict) else {}
        self._last_roles: dict[str, Any] = roles if isinstance(roles, dict) else {}
        self._last_code: Any = data.get("code")
        self._files: dict[str, Any] = {}
        self._roles: dict[str, dict[str, str]] = {}
        self._code: dict[str, Any] | None = None

    def _file(self, path: Path) -> str:
        real = os.path.realpath(path)
        try:
            st = os.stat(real)
        except OSError as e:
            raise RobinBenchError(f"input {path} cannot be read ({e.strerror or e})") from None
        entry = self._files.get(real) or self._known.get(real)
        if isinstance(entry, dict) and entry.get("stat") == _stat_key(st) and isinstance(entry.get("sha256"), str):
            self._files[real] = entry
            return str(entry["sha256"])
        h = hashlib.sha256()
        try:
            with open(real, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError as e:
            raise RobinBenchError(f"input {path} cannot be read ({e.strerror or e})") from None
        self._files[real] = {"stat": _stat_key(st), "sha256": h.hexdigest()}
        return h.hexdigest()

    def of(self, path: str | os.PathLike[str], *, role: str) -> str:
        """The sha256 (hex) of the file ``path``, or of a folder: every regular file under it, by relative path and
        content, in sorted order. ``role`` names the input in :meth:`changes` (e.g. ``"dataset mnist"``)."""
        path = Path(path)
        if path.is_dir():
            h = hashlib.sha256()
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    p = Path(folder) / name
                    if p.is_file():
                        h.update(f"{p.relative_to(path).as_posix()}\0{self._file(p)}\n".encode())
            digest = h.hexdigest()
        elif path.exists() and not path.is_file():
            raise RobinBenchError(f"input {path} is neither a file nor a folder")
        else:
            digest = self._file(path)
        self._roles[role] = {"path": str(path), "sha256": digest}
        return digest

    def code(self, versions: dict[str, Any]) -> dict[str, Any]:
        """Note the code ``versions`` (:func:`provenance`) this run keys on, for :meth:`changes`; returns them."""
        self._code = versions
        return versions

    def changes(self) -> list[str]:
        """One line per input (and the code) whose digest differs from the last run's: why its models and cells are
        computed again."""
        out = []
        for role, now in self._roles.items():
            last = self._last_roles.get(role)
            if isinstance(last, dict) and last.get("sha256") != now["sha256"]:
                where = now["path"] if last.get("path") == now["path"] else f"{last.get('path')} -> {now['path']}"
                out.append(
                    f"{role} changed since the last run ({where}, sha256 {str(last.get('sha256'))[:12]} -> "
                    f"{now['sha256'][:12]})"
                )
        if self._code is not None and self._last_code is not None and self._last_code != self._code:
            out.append(f"code versions changed since the last run ({self._last_code} -> {self._code})")
        return out

    def save(self) -> None:
        """Write the digests and roles of this run (atomic); the caller holds the run folder's lock."""
        data = {
            "files": self._files,
            "roles": {**self._last_roles, **self._roles},
            "code": self._code if self._code is not None else self._last_code,
        }
        atomic_write_text(self.cache, json.dumps(data, indent=1, sort_keys=True))
