"""The run folder: one object owning the layout of a run's output directory, and its lock.

Layout::

    .robin-bench               marker: this folder belongs to robin-bench (written into an empty folder only)
    .lock                      host and PID of the run holding the folder (an flock'ed file)
    results.csv                the rows of exactly the suite that last ran (robin_bench.bench.results)
    flags/<cell_key>.npz       per-sample flags of one cell
    cells/<cell_key>.json      a finished cell: its config hash and its results rows
    models/<model>-<hash>/     one trained model (checkpoint + sidecar), renamed into place when complete
    components/<model>-<hash>/ trained components of a model being trained by parallel jobs
    summary.md, plots/         reports, rebuilt whenever they do not match results.csv
    analysis/                  sections of ``robin-bench analyze`` (robin_bench.analysis)
    archive/<UTC time>/        cells, flags and reports of an earlier suite configuration

Every file is written atomically (temp file, fsync, ``os.replace``) and a model folder appears only
once complete, so a run killed at any moment leaves either the old state or the new one. A cell is
finished when its record holds the current config hash and its flags files read back.

Example::

    >>> folder = RunFolder("runs/demo")
    >>> folder.claim()
    >>> with folder.lock():
    ...     rows = folder.cell(key, cell_hash)
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from robin_bench.bench import results
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_text, make_temp_dir

MARKER_NAME = ".robin-bench"
LOCK_NAME = ".lock"
MODELS_DIR = "models"
COMPONENTS_DIR = "components"
CELLS_DIR = "cells"
ARCHIVE_DIR = "archive"
PLOTS_DIR = "plots"
SUMMARY_NAME = "summary.md"
ANALYSIS_DIR = "analysis"
CHECKPOINT_NAME = "model.safetensors"
REPORT_HASH_PREFIX = "<!-- results.csv sha256 "
"""The last line of ``summary.md`` names the hash of the ``results.csv`` it was built from."""


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


def file_sha256(path: Path) -> str | None:
    """sha256 (hex) of the file at ``path``, or None when it does not exist."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


class RunLock:
    """An exclusive lock on an output directory: an ``flock``'ed ``.lock`` file naming the owner's host and PID.

    The kernel holds the lock for the owner's lifetime, so a run that died (even by ``kill -9``)
    holds nothing, and taking its place is one atomic ``flock``: two runs can never both hold it.

    Arguments:
        out_dir (Path): the output directory (created when missing).
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``RobinBenchError`` naming the running owner."""
        ensure_writable(self.out_dir)
        for _ in range(10):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise RobinBenchError(
                    f"output directory {self.out_dir} is in use by another robin-bench run ({self._owner()}); "
                    "wait for it to finish or choose another --output"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous owner removed the file between our open and flock: try the new one
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
            self._fd = fd
            return
        raise RobinBenchError(f"could not take the lock {self.path}; another run keeps replacing it")

    def _owner(self) -> str:
        try:
            host, pid = self.path.read_text().split()
            return f"pid {pid} on {host}"
        except (OSError, ValueError):
            return "owner unknown"

    def release(self) -> None:
        """Remove the lock file and release the lock if this object holds it."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class RunFolder:
    """The output directory of a run: every path in it, its cache, cell records, flags, results and archive.

    Arguments:
        path (Path): the output directory.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.marker = self.path / MARKER_NAME
        self.results_csv = self.path / results.RESULTS_NAME
        self.flags_dir = self.path / results.FLAGS_DIRNAME
        self.cells_dir = self.path / CELLS_DIR
        self.models_dir = self.path / MODELS_DIR
        self.components_dir = self.path / COMPONENTS_DIR
        self.archive_dir = self.path / ARCHIVE_DIR
        self.summary_md = self.path / SUMMARY_NAME
        self.plots_dir = self.path / PLOTS_DIR
        self.analysis_dir = self.path / ANALYSIS_DIR

    # ownership and lock

    def claim(self) -> None:
        """Make sure robin-bench may write here: the folder is absent, empty or marked as a run folder
        (marked now if it was empty); else ``RobinBenchError`` (another program's folder is never written)."""
        if self.marker.is_file():
            return
        if self._legacy_run_folder():
            atomic_write_text(self.marker, "robin-bench run folder (written before the marker existed)\n")
            return
        if self.path.exists() and not self.path.is_dir():
            raise RobinBenchError(f"output {self.path} is a file; give a folder with --output or 'output:'")
        if self.path.is_dir() and any(p.name != LOCK_NAME for p in self.path.iterdir()):
            raise RobinBenchError(
                f"output folder {self.path} is not empty and not a robin-bench run folder (no {MARKER_NAME}); "
                "give an empty or new folder with --output or 'output:'"
            )
        ensure_writable(self.path)
        atomic_write_text(self.marker, "robin-bench run folder: results.csv, flags/, cells/, models/, summary.md\n")

    def _legacy_run_folder(self) -> bool:
        """A run folder written before the marker existed: ``cells/`` and a ``results.csv`` with robin-bench's
        identity columns."""
        try:
            with open(self.results_csv, encoding="utf-8") as f:
                header = f.readline().strip().split(",")
        except (OSError, UnicodeDecodeError):
            return False
        return self.cells_dir.is_dir() and {"suite", "model", "attack", "config_hash"} <= set(header)

    def lock(self) -> RunLock:
        """The folder's run lock (not yet taken)."""
        return RunLock(self.path)

    # trained models

    def model_dir(self, name: str, key: str) -> Path:
        """Folder of the cached model ``name`` with config hash ``key``."""
        return self.models_dir / f"{name}-{key}"

    def checkpoint_path(self, name: str, key: str) -> Path | None:
        """The cached checkpoint of ``name``/``key``, or None when not trained yet."""
        path = self.model_dir(name, key) / CHECKPOINT_NAME
        return path if path.is_file() else None

    def drop_model(self, name: str, key: str) -> None:
        """Remove the cached model ``name``/``key`` (a cache entry that does not match its recipe)."""
        shutil.rmtree(self.model_dir(name, key), ignore_errors=True)

    def save_model(self, name: str, key: str, write: Callable[[Path], None]) -> Path:
        """Cache a model atomically: ``write(path)`` saves it into a temp folder renamed into place.

        Returns:
            Path: the checkpoint's final path.
        """
        final = self.model_dir(name, key)
        tmp = make_temp_dir(self.models_dir, prefix=f".{final.name}.")
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

    def component_paths(self, name: str, key: str, part: str) -> tuple[Path, Path]:
        """Weights and report files of component ``part`` of model ``name``/``key`` trained as its own job."""
        folder = self.components_dir / f"{name}-{key}"
        return folder / f"{part}.safetensors", folder / f"{part}.json"

    # cells and flags

    def flags_path(self, key: str) -> Path:
        """The per-sample flags file of flags key ``key``."""
        return self.flags_dir / f"{key}.npz"

    def cell(self, key: str, cell_hash: str, flags_keys: Sequence[str] = ()) -> list[dict[str, Any]] | None:
        """The recorded rows of finished cell ``key`` if it was computed with config ``cell_hash`` and each of its
        ``flags_keys`` files reads back; else None (the cell is computed again)."""
        record = self._record(key)
        if record is None or record.get("hash") != cell_hash or not isinstance(record.get("rows"), list):
            return None
        if not all(isinstance(r, dict) and set(results.COLUMNS) <= set(r) for r in record["rows"]):
            return None  # rows of an older results schema: computed again
        for k in flags_keys:
            try:
                results.load_flags(self.flags_dir, k)
            except RobinBenchError:
                return None
        return record["rows"]

    def damaged_flags(self, flags_keys: Iterable[str]) -> list[str]:
        """Messages for the flags files among ``flags_keys`` that exist but do not read back."""
        out = []
        for k in flags_keys:
            if self.flags_path(k).is_file():
                try:
                    results.load_flags(self.flags_dir, k)
                except RobinBenchError as e:
                    out.append(str(e))
        return out

    def _record(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads((self.cells_dir / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def record_cell(self, key: str, cell_hash: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record cell ``key`` as finished with config ``cell_hash`` and its results ``rows`` (atomic)."""
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
        text = json.dumps({"hash": cell_hash, "rows": clean}, indent=1, allow_nan=False)
        atomic_write_text(self.cells_dir / f"{key}.json", text)

    # results and reports

    def write_results(self, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Replace ``results.csv`` by exactly ``rows`` (validated against the schema, atomic); an empty table when
        there are none."""
        return results.write(self.results_csv, rows)

    def read_results(self) -> pd.DataFrame:
        """``results.csv``, validated."""
        return results.read(self.results_csv)

    def reports_current(self) -> bool:
        """Whether ``summary.md`` was built from the present ``results.csv`` (and the plots exist)."""
        digest = file_sha256(self.results_csv)
        try:
            last = self.summary_md.read_text(encoding="utf-8").rstrip().splitlines()[-1]
        except (OSError, IndexError, UnicodeDecodeError):
            return False
        return digest is not None and last == f"{REPORT_HASH_PREFIX}{digest} -->" and self.plots_dir.is_dir()

    # archive

    def archive_stale(self, keep: Mapping[str, str], flags_of: Mapping[str, Sequence[str]]) -> Path | None:
        """Move every cell record whose key is not in ``keep`` or whose hash differs from ``keep[key]``, every flags
        file that belongs to no cell of ``flags_of`` or to such a stale cell, and ``results.csv``, ``summary.md`` and
        ``plots/`` with them, into ``archive/<UTC time>/``. Returns the archive folder, or None when nothing was stale.

        Arguments:
            keep (Mapping[str, str]): cell key -> config hash of every cell of the suite now running.
            flags_of (Mapping[str, Sequence[str]]): cell key -> the flags keys of that cell.
        """
        stale_cells = [p for p in sorted(self.cells_dir.glob("*.json"))
                       if p.stem not in keep or (self._record(p.stem) or {}).get("hash") != keep[p.stem]]
        stale_keys = {p.stem for p in stale_cells}
        current = {k for cell, keys in flags_of.items() if cell not in stale_keys for k in keys}
        stale_flags = [p for p in sorted(self.flags_dir.glob("*.npz")) if p.stem not in current]
        if not (stale_cells or stale_flags or self._results_outside(keep)):
            return None
        dest = self.archive_dir / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        for p in [*stale_cells, *stale_flags, *(p for p in (self.results_csv, self.summary_md, self.plots_dir)
                                                if p.exists())]:
            target = dest / p.relative_to(self.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
        return dest

    def _results_outside(self, keep: Mapping[str, str]) -> bool:
        """Whether ``results.csv`` holds rows of cells other than ``keep``'s (or cannot be read)."""
        if not self.results_csv.is_file():
            return False
        try:
            df = pd.read_csv(self.results_csv, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            return True
        if "config_hash" not in df.columns:
            return True
        wanted = set(keep.values())
        return any(h not in wanted for h in df["config_hash"])

    def clean_temp(self) -> None:
        """Remove temp folders and files left by a killed run (only dot-prefixed temp names)."""
        for d in (self.models_dir, self.cells_dir, self.path, self.flags_dir, self.plots_dir):
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if p.name.startswith(".") and (p.name.endswith(".tmp") or (p.is_dir() and d == self.models_dir)):
                    if p.is_dir():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink(missing_ok=True)
