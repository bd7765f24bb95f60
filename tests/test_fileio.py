"""Atomic writes honour the umask (files 0666 & ~umask, folders 0777 & ~umask) and never leave partial files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from robin_bench import fileio


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_atomic_write_honours_umask(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "new" / "deeper" / "file.txt"
    fileio.atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert _mode(target) == 0o666 & ~umask
    assert _mode(target.parent) == 0o777 & ~umask
    assert fileio.current_umask() == umask  # reading it leaves it unchanged


def test_rewrite_keeps_umask_mode_and_leaves_no_temp(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "f.bin"
    fileio.atomic_write_bytes(target, b"1")
    fileio.atomic_write_bytes(target, b"22")
    assert target.read_bytes() == b"22" and _mode(target) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_temp_dir_honours_umask(tmp_path: Path, umask: int) -> None:
    d = fileio.make_temp_dir(tmp_path / "models", ".ckpt.")
    assert d.is_dir() and d.parent == tmp_path / "models" and d.name.startswith(".ckpt.")
    assert _mode(d) == 0o777 & ~umask


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.txt"
    fileio.atomic_write_text(target, "old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        fileio.atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
