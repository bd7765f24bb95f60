"""The run store: trained-model cache keyed by config hash, finished-cell records, and the run lock.

Layout of an output directory::

    .lock                      PID of the run holding the directory
    models/<model>-<hash>/     one trained model (checkpoint + sidecar), renamed into place when complete
    cells/<cell_key>.json      a finished cell: its config hash and its results rows
    results.csv, flags/        written by robin_bench.bench.results

Every file is written atomically (temp file, fsync, ``os.replace``) and a model directory appears
only once complete, so a run killed at any moment leaves either the old state or the new one. A
finished cell is recorded *before* its rows are merged into ``results.csv``; a rerun merges the
recorded rows again (the merge replaces rows by key), so the table never misses or duplicates a row.

Example::

    >>> with RunLock(out_dir):
    ...     store = Store(out_dir)
    ...     if store.cell(key, cell_hash) is None:
    ...         store.record_cell(key, cell_hash, rows)
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from robin_bench.bench.results import FLAGS_DIRNAME
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_text

LOCK_NAME = ".lock"
MODELS_DIR = "models"
CELLS_DIR = "cells"
CHECKPOINT_NAME = "model.safetensors"


def config_hash(obj: Any) -> str:
    """SHA-256 (hex, 16 chars) of the canonical JSON of ``obj`` (sorted keys; floats by ``repr``)."""
    return hashlib.sha256(_canonical(obj).encode("utf-8")).hexdigest()[:16]


def _canonical(obj: Any) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, Mapping):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(obj), sort_keys=True, separators=(",", ":"))


def ensure_writable(path: Path) -> None:
    """Create ``path`` (with parents) and prove it writable, or raise ``RobinBenchError`` naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise RobinBenchError(
            f"output directory {path} is not writable ({e.strerror or e}); choose another with --output or 'output:'"
        ) from None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


class RunLock:
    """An exclusive lock on an output directory: a ``.lock`` file holding the owner's host and PID.

    A second run on the same directory is refused while the owner lives; a lock left by a dead
    process (same host) is taken over.

    Arguments:
        out_dir (Path): the output directory (created when missing).
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self._held = False

    def acquire(self) -> None:
        """Take the lock or raise ``RobinBenchError`` naming the running owner."""
        ensure_writable(self.out_dir)
        me = f"{socket.gethostname()} {os.getpid()}\n"
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:
                    continue
                host, pid = owner
                if host == socket.gethostname() and not _pid_alive(pid):
                    self._take_over_stale()
                    continue
                raise RobinBenchError(
                    f"output directory {self.out_dir} is in use by another robin-bench run (pid {pid} on {host}); "
                    f"wait for it to finish or choose another --output (delete {self.path} if that run is gone)"
                ) from None
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self._held = True
            return
        raise RobinBenchError(f"could not take the lock {self.path}; another run keeps replacing it")

    def _owner(self) -> tuple[str, int] | None:
        try:
            host, pid = self.path.read_text().split()
            return host, int(pid)
        except FileNotFoundError:
            return None
        except ValueError:
            return socket.gethostname(), -1

    def _take_over_stale(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def release(self) -> None:
        """Remove the lock if this object holds it."""
        if self._held:
            self._held = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class Store:
    """Trained models and finished cells of one output directory.

    Arguments:
        out_dir (Path): the output directory.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.models_dir = self.out_dir / MODELS_DIR
        self.cells_dir = self.out_dir / CELLS_DIR

    def model_dir(self, name: str, key: str) -> Path:
        """Folder of the cached model ``name`` with config hash ``key``."""
        return self.models_dir / f"{name}-{key}"

    def checkpoint_path(self, name: str, key: str) -> Path | None:
        """The cached checkpoint of ``name``/``key``, or None when not trained yet."""
        path = self.model_dir(name, key) / CHECKPOINT_NAME
        return path if path.is_file() else None

    def save_model(self, name: str, key: str, write: Callable[[Path], None]) -> Path:
        """Cache a model atomically: ``write(path)`` saves it into a temp folder renamed into place.

        Returns:
            Path: the checkpoint's final path.
        """
        final = self.model_dir(name, key)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=self.models_dir))
        try:
            write(tmp / CHECKPOINT_NAME)
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final / CHECKPOINT_NAME

    def cell(self, key: str, cell_hash: str) -> list[dict[str, Any]] | None:
        """The recorded rows of finished cell ``key`` if it was computed with config ``cell_hash``, else None."""
        path = self.cells_dir / f"{key}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("hash") != cell_hash:
            return None
        rows = record.get("rows")
        return rows if isinstance(rows, list) else None

    def record_cell(self, key: str, cell_hash: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record cell ``key`` as finished with config ``cell_hash`` and its results ``rows`` (atomic)."""
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
        text = json.dumps({"hash": cell_hash, "rows": clean}, indent=1, allow_nan=False)
        atomic_write_text(self.cells_dir / f"{key}.json", text)

    def clean_temp(self) -> None:
        """Remove temp folders and files left by a killed run (only dot-prefixed temp names)."""
        for d in (self.models_dir, self.cells_dir, self.out_dir, self.out_dir / FLAGS_DIRNAME):
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if p.name.startswith(".") and (p.name.endswith(".tmp") or (p.is_dir() and d == self.models_dir)):
                    if p.is_dir():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink(missing_ok=True)

