"""The run folder: one object owning the layout of a run's output directory, and its lock.

Layout::

    .robin-bench               marker: this folder belongs to robin-bench (written into an empty folder only)
    .lock                      host and PID of the run holding the folder (an flock'ed file)
    results.csv                the rows of exactly the suite that last ran (robin_bench.bench.results)
    flags/<cell key>.npz       per-sample flags of one cell (:class:`CellId` names it)
    cells/<cell key>.json      a finished cell: its config hash and its results rows
    models/<model>-<hash>/     one trained model (checkpoint + sidecar), renamed into place when complete
    components/<model>-<hash>/ trained components of a model being trained by parallel jobs
    summary.md, plots/         reports, rebuilt whenever they do not match results.csv
    analysis/                  sections of ``robin-bench analyze`` (robin_bench.analysis)
    .inputs.json               digests of the input files (by size, mtime, ctime, inode) and code versions of
                               the last run (robin_bench.bench.provenance)
    archive/<UTC time>/        cells, flags and reports of an earlier suite configuration

Every file is written atomically (temp file, fsync, ``os.replace``) and a model folder appears only
once complete, so a run killed at any moment leaves either the old state or the new one. A cell is
finished when its record holds the current config hash, its flags files read back and every number of its
rows is what its flags say (:func:`flags_disagreement`): an edited record is computed again, and an edited
``results.csv`` read by :func:`verify_results` is refused.

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
import io
import json
import math
import os
import re
import shutil
import socket
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from robin_bench.bench import proofs, results
from robin_bench.bench.provenance import Digests
from robin_bench.bench.schema import WORST_CASE
from robin_bench.bench.stats import wilson
from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_bytes, atomic_write_text, make_temp_dir

MARKER_NAME = ".robin-bench"
INPUTS_NAME = ".inputs.json"
LOCK_NAME = ".lock"
MODELS_DIR = "models"
COMPONENTS_DIR = "components"
CELLS_DIR = "cells"
ARCHIVE_DIR = "archive"
PLOTS_DIR = "plots"
SUMMARY_NAME = "summary.md"
ANALYSIS_DIR = "analysis"
CHECKPOINT_NAME = "model.safetensors"
FLAGS_DIRNAME = "flags"
REPORT_HASH_PREFIX = "<!-- results.csv sha256 "
"""The last line of ``summary.md`` names the hash of the ``results.csv`` it was built from."""
VERIFY_STAT_PREFIX = "verify_stat_"
"""Prefix of the per-sample verification statistics in a flags file (:func:`save_flags`)."""


_OWN_NAMES = frozenset(
    {
        MARKER_NAME,
        INPUTS_NAME,
        LOCK_NAME,
        results.RESULTS_NAME,
        FLAGS_DIRNAME,
        CELLS_DIR,
        MODELS_DIR,
        COMPONENTS_DIR,
        ARCHIVE_DIR,
        PLOTS_DIR,
        SUMMARY_NAME,
        ANALYSIS_DIR,
    }
)


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


@dataclass(frozen=True)
class CellId:
    """The identity of a cell's numbers: the one owner of cell keys and flags-file names.

    Attributes:
        suite (str): the suite's name.
        model (str): the model's name.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): the budget.
        criterion (str): ``"fine"``, ``"coarse"`` or ``"targeted"``.
        seed (int | None): the replicate's seed for a model with several seeds (each replicate has its own
            flags); None for a model evaluated with one seed.

    Example::

        >>> CellId("demo", "robin", "Linf", 0.1, "fine").key
        'demo__robin__Linf__0.1__fine-...'
        >>> CellId("demo", "robin", "Linf", 0.1, "fine", seed=3).key
        'demo__robin__s3__Linf__0.1__fine-...'
    """

    suite: str
    model: str
    norm: str
    eps: float
    criterion: str
    seed: int | None = None

    @property
    def key(self) -> str:
        """File-name-safe key (``cells/<key>.json``, ``flags/<key>.npz``): readable fields plus a hash of the exact
        values, so two cells never share a file."""
        fields = [
            self.suite,
            self.model,
            *([] if self.seed is None else [f"s{int(self.seed)}"]),
            self.norm,
            repr(float(self.eps)),
            self.criterion,
        ]
        raw = "\x1f".join(fields)
        readable = "__".join(re.sub(r"[^A-Za-z0-9._-]+", "_", s) for s in fields)
        return f"{readable}-{hashlib.sha1(raw.encode('utf-8')).hexdigest()[:8]}"

    def under(self, criterion: str) -> CellId:
        """The same cell judged under ``criterion`` (its coarse flags: ``under("coarse")``)."""
        return replace(self, criterion=criterion)

    @classmethod
    def of_row(cls, table: pd.DataFrame, row: Mapping[str, Any]) -> CellId:
        """The cell of results row ``row`` of ``table``: with the seed when ``table`` holds several seeds of the
        row's (suite, model), as the runner keys a model with several seeds."""
        same = table[(table["suite"] == row["suite"]) & (table["model"] == row["model"])]
        replicated = same["seed"].nunique() > 1
        return cls(
            str(row["suite"]),
            str(row["model"]),
            str(row["norm"]),
            float(row["eps"]),
            str(row["criterion"]),
            int(row["seed"]) if replicated else None,
        )


def cell_ids(table: pd.DataFrame) -> list[CellId]:
    """The :class:`CellId` of each row of results ``table`` (under the row's own criterion), in row order."""
    return [CellId.of_row(table, row) for row in table.to_dict("records")]


def flags_dir_for(csv_path: str | os.PathLike[str]) -> Path:
    """The flags folder of a results file: ``flags/`` next to it."""
    return Path(csv_path).parent / FLAGS_DIRNAME


def flags_path(flags_dir: str | os.PathLike[str], key: str) -> Path:
    """The flags file of cell key ``key`` (:attr:`CellId.key`) in ``flags_dir``."""
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise RobinBenchError(f"flags key {key!r} is not a plain file name; build it with CellId(...).key")
    return Path(flags_dir) / f"{key}.npz"


def save_flags(
    flags_dir: str | os.PathLike[str],
    key: str,
    result: results.EvalResultLike,
    *,
    verify_status: Sequence[str] | None = None,
    verify_stats: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Store a cell's per-sample flags as ``<flags_dir>/<key>.npz`` (bool arrays, atomic write).

    Arrays: ``names`` (A,) str, ``clean_correct`` and ``robust`` (N,) bool, ``success`` and ``ran``
    (A, N) bool in ``names`` order: about N * (2A + 2) bits, compressed; with ``verify_status``, also
    ``verify_status`` (N,) str, each sample's ``rb.verify`` status (``verified``, ``broken``, ``unknown``), and
    with ``verify_stats`` (``VerifyResult.solver_stats``) one (N,) float64 array ``verify_stat_NAME`` per entry:
    the proven margin bounds, seconds and solver counts of each sample.

    Returns:
        the path written.
    """
    flags = results.flags_of(result)
    if verify_status is not None and len(verify_status) != flags.n:
        raise RobinBenchError(f"save_flags: {len(verify_status)} verification statuses for {flags.n} samples")
    path = flags_path(flags_dir, key)
    shape = (len(flags.names), flags.n)
    buf = io.BytesIO()
    arrays: dict[str, Any] = {
        "names": np.array(flags.names, dtype=str),
        "clean_correct": flags.clean_correct,
        "robust": flags.robust,
        "success": np.stack([flags.success[a] for a in flags.names]) if flags.names else np.zeros(shape, bool),
        "ran": np.stack([flags.ran[a] for a in flags.names]) if flags.names else np.zeros(shape, bool),
    }
    if verify_status is not None:
        arrays["verify_status"] = np.array(list(verify_status), dtype=str)
    for name, values in (verify_stats or {}).items():
        column = np.asarray(values, dtype=np.float64)
        if column.shape != (flags.n,):
            raise RobinBenchError(f"save_flags: verify stat {name!r} has shape {column.shape}; expected ({flags.n},)")
        arrays[f"{VERIFY_STAT_PREFIX}{name}"] = column
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_flags(flags_dir: str | os.PathLike[str], key: str) -> results.Flags:
    """Read the flags :func:`save_flags` stored under ``key``; a missing or damaged file raises RobinBenchError."""
    path = flags_path(flags_dir, key)
    if not path.is_file():
        raise RobinBenchError(f"no per-sample flags at {path}; was the cell run with this output directory?")
    try:
        with np.load(path, allow_pickle=False) as z:
            names = [str(a) for a in z["names"]]
            clean, robust, success, ran = (z[k].astype(bool) for k in ("clean_correct", "robust", "success", "ran"))
            status = z["verify_status"].astype(str) if "verify_status" in z.files else None
            stats = {
                k.removeprefix(VERIFY_STAT_PREFIX): z[k].astype(np.float64)
                for k in z.files
                if k.startswith(VERIFY_STAT_PREFIX)
            }
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise RobinBenchError(
            f"per-sample flags file {path} is damaged ({e.__class__.__name__}: {e}); rerun the "
            "suite into this folder to recompute it"
        ) from None
    if (
        success.shape != (len(names), clean.shape[0])
        or ran.shape != success.shape
        or robust.shape != clean.shape
        or (status is not None and status.shape != clean.shape)
        or any(v.shape != clean.shape for v in stats.values())
    ):
        raise RobinBenchError(f"per-sample flags file {path} has inconsistent shapes; delete it and rerun the cell")
    return results.Flags(
        names=names,
        clean_correct=clean,
        robust=robust,
        success={a: success[i] for i, a in enumerate(names)},
        ran={a: ran[i] for i, a in enumerate(names)},
        verify_status=status,
        verify_stats=stats or None,
    )


_TOLERANCE = 1e-9
"""How far a number read back may be from the one its flags give (CSV round trip of a float)."""


def flags_disagreement(
    rows: Sequence[Mapping[str, Any]], fine: results.Flags, coarse: results.Flags | None
) -> tuple[int | None, str] | None:
    """Where the results ``rows`` of one cell say something other than its per-sample flags, or None.

    Each row's ``n``, ``clean_acc``, ``robust_acc`` (robust count = sum of its flags), interval, ``scope``, coarse
    accuracies and verification columns (:func:`robin_bench.bench.proofs.disagreement`, from the flags'
    ``verify_status``) are recomputed from ``fine`` (and ``coarse``, the same cell's coarse flags, or None), and every
    attack of the flags must have its row, the ``worst_case`` row included.

    Returns:
        (index of the row in ``rows``, or None for a missing row; what disagrees), or None when all agree.
    """
    expected = results.per_attack_robust(fine)
    expected[WORST_CASE] = (fine.robust & fine.clean_correct, WORST_CASE)
    coarse_expected = results.per_attack_robust(coarse) if coarse is not None else {}
    if coarse is not None:
        coarse_expected[WORST_CASE] = (coarse.robust & coarse.clean_correct, WORST_CASE)
    n = fine.n

    def differs(value: Any, want: float | None) -> bool:
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if want is None:
            return not missing
        return missing or abs(float(value) - want) > _TOLERANCE

    seen = set()
    for i, r in enumerate(rows):
        attack = str(r["attack"])
        if attack not in expected:
            return i, f"row of attack {attack!r}, which its flags (attacks {fine.names}) do not hold"
        seen.add(attack)
        robust, scope = expected[attack]
        k = int(np.count_nonzero(robust))
        low, high = wilson(k, n) if n else (0.0, 0.0)
        checks = [
            ("n", int(r["n"]) != n, f"{n}"),
            ("scope", str(r["scope"]) != scope, scope),
            ("clean_acc", differs(r["clean_acc"], np.count_nonzero(fine.clean_correct) / n), f"{k} of {n} clean"),
            ("robust_acc", differs(r["robust_acc"], k / n), f"{k}/{n} robust"),
            ("robust_acc_ci_low", differs(r["robust_acc_ci_low"], low), f"{low!r} (Wilson, {k}/{n})"),
            ("robust_acc_ci_high", differs(r["robust_acc_ci_high"], high), f"{high!r} (Wilson, {k}/{n})"),
        ]
        if coarse is not None and coarse.n != n:
            return i, f"its coarse flags hold {coarse.n} samples, its flags {n}"
        coarse_clean = np.count_nonzero(coarse.clean_correct) / n if coarse is not None else None
        coarse_robust = np.count_nonzero(coarse_expected[attack][0]) / n if attack in coarse_expected else None
        checks += [
            (
                "coarse_clean_acc",
                differs(r["coarse_clean_acc"], coarse_clean),
                "empty (no coarse flags)" if coarse_clean is None else f"{coarse_clean!r}",
            ),
            (
                "coarse_robust_acc",
                differs(r["coarse_robust_acc"], coarse_robust),
                "empty (no coarse flags)" if coarse_robust is None else f"{coarse_robust!r}",
            ),
        ]
        for column, bad, want in checks:
            if bad:
                return i, f"{column} {r[column]!r} of attack {attack!r} disagrees with its per-sample flags ({want})"
        for flags, columns in ((fine, proofs.COLUMN_PAIRS["fine"]), (coarse, proofs.COLUMN_PAIRS["coarse"])):
            problem = proofs.disagreement(r, columns, flags.verify_status if flags is not None else None)
            if problem is not None:
                return i, f"attack {attack!r}: {problem}"
    absent = [a for a in expected if a not in seen]
    if absent:
        return None, f"no row for attack(s) {absent} that its per-sample flags hold (a removed row?)"
    return None


def verify_results(df: pd.DataFrame, csv_path: str | os.PathLike[str]) -> None:
    """Check every row of ``df`` (``results.read(csv_path)``) against the per-sample flags beside ``csv_path``
    (:func:`flags_disagreement`), and that every flags file there has its rows: a number that is not what its flags
    say, a row without flags and flags without rows each raise a one-line ``RobinBenchError`` naming file and row.
    """
    path = Path(csv_path)
    flags_dir = flags_dir_for(path)
    used: set[str] = set()
    cells: dict[str, list[int]] = {}
    ids: dict[str, CellId] = {}
    for i, cell in enumerate(cell_ids(df)):
        cells.setdefault(cell.key, []).append(i)
        ids[cell.key] = cell
    for key, index in cells.items():
        cell = ids[key]
        line = index[0] + 2
        if not flags_path(flags_dir, key).is_file():
            raise RobinBenchError(
                f"{path}:{line}: no per-sample flags {flags_path(flags_dir, key)} for the rows of "
                f"{cell.model} {cell.norm} eps={cell.eps:g}; a number without its flags cannot be "
                "checked (rerun the suite, or give the results copied with their flags)"
            )
        fine = load_flags(flags_dir, key)
        coarse = None
        if cell.criterion != "coarse" and flags_path(flags_dir, cell.under("coarse").key).is_file():
            coarse = load_flags(flags_dir, cell.under("coarse").key)
            used.add(cell.under("coarse").key)
        used.add(key)
        rows = [df.iloc[i].to_dict() for i in index]
        problem = flags_disagreement(rows, fine, coarse)
        if problem is not None:
            at, what = problem
            where = f"{path}:{index[at] + 2}" if at is not None else f"{path}:{line}"
            raise RobinBenchError(
                f"{where}: {cell.model} {cell.norm} eps={cell.eps:g} {cell.criterion}: {what}; "
                f"the file was edited or its flags ({flags_dir}) belong to another run"
            )
    orphans = sorted(p.name for p in flags_dir.glob("*.npz") if p.stem not in used) if flags_dir.is_dir() else []
    if orphans:
        raise RobinBenchError(
            f"{path}: per-sample flags {flags_dir / orphans[0]} have no rows in it (a removed row, "
            "or a run not finished: rerun the suite)"
        )


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


def refuse_overlap(outputs: Sequence[str | os.PathLike[str]], inputs: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse (``RobinBenchError``) an output path that is, contains or resolves through symbolic links to one of
    ``inputs``, or that is one of the own files of a run folder (:meth:`RunFolder.owns`) above it: a command never
    writes over what it reads or over a run's record."""
    for out in outputs:
        real_out = Path(os.path.realpath(out))
        for inp in inputs:
            real_in = Path(os.path.realpath(inp))
            if real_out == real_in or real_out in real_in.parents:
                how = (
                    ""
                    if (
                        Path(out).absolute() == Path(inp).absolute()
                        or Path(out).absolute() in Path(inp).absolute().parents
                    )
                    else " (through a symbolic link)"
                )
                raise RobinBenchError(
                    f"output {out} would overwrite the input {inp}{how}; choose an output that "
                    "neither is nor holds an input"
                )
        for folder in real_out.parents:
            if (folder / MARKER_NAME).is_file() and RunFolder(folder).owns(real_out):
                raise RobinBenchError(
                    f"output {out} is part of the run folder {folder} ({real_out.relative_to(folder)}"
                    "); choose an output outside the run's own files"
                )


class RunLock:
    """An exclusive lock on an output directory: an ``flock``'ed lock file naming the owner's host and PID.

    The kernel holds the lock for the owner's lifetime, so a run that died (even by ``kill -9``)
    holds nothing, and taking its place is one atomic ``flock``: two runs can never both hold it.
    The lock file is opened without following symbolic links: a planted link is refused, never truncated through.

    Arguments:
        out_dir (Path): the output directory (created when missing).
        name (str): the lock file's name in it. (Default: :data:`LOCK_NAME`)
    """

    def __init__(self, out_dir: str | os.PathLike[str], name: str = LOCK_NAME) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / name
        self._fd: int | None = None

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise RobinBenchError(
                f"lock file {self.path} is a symbolic link; robin-bench writes no file through a "
                "link: remove it and rerun"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RobinBenchError(f"lock file {self.path} is not a regular file; remove it and rerun")
        return fd

    def acquire(self) -> None:
        """Take the lock or raise ``RobinBenchError`` naming the running owner."""
        ensure_writable(self.out_dir)
        for _ in range(10):
            fd = self._open()
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
        self.flags_dir = self.path / FLAGS_DIRNAME
        self.cells_dir = self.path / CELLS_DIR
        self.models_dir = self.path / MODELS_DIR
        self.components_dir = self.path / COMPONENTS_DIR
        self.archive_dir = self.path / ARCHIVE_DIR
        self.summary_md = self.path / SUMMARY_NAME
        self.plots_dir = self.path / PLOTS_DIR
        self.analysis_dir = self.path / ANALYSIS_DIR
        self.inputs_json = self.path / INPUTS_NAME

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

    def owns(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (resolved through symbolic links) is the folder itself or one of its own files (the layout
        above), or lies under one: what no other output may write over."""
        real, root = Path(os.path.realpath(path)), Path(os.path.realpath(self.path))
        if real == root:
            return True
        if root not in real.parents:
            return False
        return real.relative_to(root).parts[0] in _OWN_NAMES

    def digests(self) -> Digests:
        """The digest cache of the folder's input files (read now; written by ``Digests.save`` under the lock)."""
        return Digests(self.inputs_json)

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
        """The per-sample flags file of cell key ``key``."""
        return flags_path(self.flags_dir, key)

    def save_flags(
        self,
        key: str,
        result: results.EvalResultLike,
        *,
        verify_status: Sequence[str] | None = None,
        verify_stats: Mapping[str, np.ndarray] | None = None,
    ) -> Path:
        """Store the per-sample flags of cell key ``key`` (:func:`save_flags`)."""
        return save_flags(self.flags_dir, key, result, verify_status=verify_status, verify_stats=verify_stats)

    def cell(self, key: str, cell_hash: str, flags_keys: Sequence[str]) -> list[dict[str, Any]] | None:
        """The recorded rows of finished cell ``key`` if it was computed with config ``cell_hash``, each of its
        ``flags_keys`` files (its own, then its coarse one where it has it) reads back and its rows are what the flags
        say; else None (the cell is computed again; :meth:`damage` says why where it was there)."""
        return self._check_cell(key, cell_hash, flags_keys)[0]

    def damage(self, key: str, cell_hash: str, flags_keys: Sequence[str]) -> str | None:
        """Why recorded cell ``key`` (recorded with ``cell_hash``) cannot be reused although it is there: a flags file
        that does not read back, or rows that disagree with their flags; None when it is fine or simply not there."""
        return self._check_cell(key, cell_hash, flags_keys)[1]

    def _check_cell(
        self, key: str, cell_hash: str, flags_keys: Sequence[str]
    ) -> tuple[list[dict[str, Any]] | None, str | None]:
        """(rows, None) for a finished cell, (None, why) for a damaged one, (None, None) for one not there."""
        record = self._record(key)
        if record is None or record.get("hash") != cell_hash or not isinstance(record.get("rows"), list):
            return None, None
        rows = record["rows"]
        if not all(isinstance(r, dict) and set(results.COLUMNS) <= set(r) for r in rows):
            return None, None  # rows of an older results schema: computed again
        flags = []
        for k in flags_keys:
            try:
                flags.append(load_flags(self.flags_dir, k))
            except RobinBenchError as e:
                return None, (str(e) if self.flags_path(k).is_file() else None)
        if not flags:
            return None, None  # rows without flags cannot be checked: computed again
        try:
            problem = flags_disagreement(rows, flags[0], flags[1] if len(flags) > 1 else None)
        except (KeyError, TypeError, ValueError):
            problem = (None, "its rows do not hold the results schema's values")
        if problem is not None:
            return None, f"cell record {self.cells_dir / f'{key}.json'} disagrees with its flags: {problem[1]}"
        return rows, None

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
        stale_cells = [
            p
            for p in sorted(self.cells_dir.glob("*.json"))
            if p.stem not in keep or (self._record(p.stem) or {}).get("hash") != keep[p.stem]
        ]
        stale_keys = {p.stem for p in stale_cells}
        current = {k for cell, keys in flags_of.items() if cell not in stale_keys for k in keys}
        stale_flags = [p for p in sorted(self.flags_dir.glob("*.npz")) if p.stem not in current]
        if not (stale_cells or stale_flags or self._results_outside(keep)):
            return None
        dest = self.archive_dir / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        for p in [
            *stale_cells,
            *stale_flags,
            *(p for p in (self.results_csv, self.summary_md, self.plots_dir) if p.exists()),
        ]:
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
