"""Atomic file writes: a crash or kill at any moment leaves the old file or the new one, never a partial one.

Permissions follow the process umask, as ``open`` and ``mkdir`` would give: files ``0o666 & ~umask``,
folders ``0o777 & ~umask`` (``tempfile.mkstemp`` and ``mkdtemp`` create 0600 and 0700, which would make
shared runs and published leaderboards unreadable to others).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it; serialized across threads)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new file under the current umask: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a new folder under the current umask: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


def make_temp_dir(parent: str | os.PathLike[str], prefix: str) -> Path:
    """``tempfile.mkdtemp`` in ``parent`` whose folder gets ``0o777 & ~umask`` instead of 0700.

    For a folder built in place and then renamed to its final name (e.g. a model checkpoint folder).
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, dir_mode())
    return tmp


def replace_dir(new: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Put folder ``new`` (built beside ``final``, same file system) in the place of ``final``, whole: the old folder
    is renamed aside, ``new`` renamed into place, then the old one removed. A kill in between leaves ``final``
    missing and the old folder under ``.<name>.old-<pid>`` beside it, never a mix of both."""
    new, final = Path(new), Path(final)
    if not final.exists():
        os.replace(new, final)
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, fsync, then ``os.replace``.

    The file gets ``0o666 & ~umask``, like a plain ``open(path, "w")``; missing parent folders are
    created with ``0o777 & ~umask``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), file_mode())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))
