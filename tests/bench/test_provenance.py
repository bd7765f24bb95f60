"""Cache keys cover what a number depends on: the content of the input files (hashed once per size, mtime, ctime and
inode), robin-bench's and plugins' versions; a changed input recomputes and the log says why."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import robin_bench
from robin_bench.bench import provenance, runner
from robin_bench.bench.config import Suite
from robin_bench.bench.provenance import Digests
from robin_bench.bench.store import RunFolder

from .tiny_suite import write_suite


def test_file_digest_is_remembered_by_stat_and_follows_content(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"one")
    cache = tmp_path / "cache.json"
    first = Digests(cache)
    digest = first.of(data, role="dataset x")
    first.save()
    saved = json.loads(cache.read_text())
    entry = saved["files"][str(data.resolve())]
    entry["sha256"] = "remembered"
    cache.write_text(json.dumps(saved))
    assert Digests(cache).of(data, role="dataset x") == "remembered", "an unchanged file is not read again"
    data.write_bytes(b"two")
    again = Digests(cache)
    assert again.of(data, role="dataset x") not in (digest, "remembered")
    assert again.changes() == [
        f"dataset x changed since the last run ({data}, sha256 {digest[:12]} -> "
        f"{again.of(data, role='dataset x')[:12]})"
    ]


def test_folder_digest_sees_every_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a").write_bytes(b"a")
    before = Digests(tmp_path / "c.json").of(root, role="dataset")
    (root / "sub" / "a").write_bytes(b"b")
    assert Digests(tmp_path / "c.json").of(root, role="dataset") != before
    (root / "sub" / "a").write_bytes(b"a")
    (root / "new").write_bytes(b"")
    assert Digests(tmp_path / "c.json").of(root, role="dataset") != before


def test_damaged_digest_cache_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{not json")
    (tmp_path / "f").write_bytes(b"x")
    assert len(Digests(tmp_path / "c.json").of(tmp_path / "f", role="r")) == 64


def _npz(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.random((60, 1, 8, 8)).astype(np.float32), y=np.arange(60) % 3)


def _suite(tmp_path: Path, root: Path) -> Suite:
    spec: dict[str, Any] = {
        "name": "files",
        "dataset": {"name": "npz", "root": str(root), "n_examples": 6},
        "threat_models": [{"norm": "Linf", "eps": [0.1]}],
        "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}}],
        "attacks": [{"attack": "fgsm"}],
        "sanity_check": False,
    }
    return write_suite(tmp_path, spec)


def test_replacing_the_dataset_file_recomputes_and_says_why(tmp_path: Path) -> None:
    data = tmp_path / "data.npz"
    _npz(data, 0)
    suite = _suite(tmp_path, data)
    first = runner.run(suite, log=io.StringIO(), progress=False)
    assert len(first.computed) == 1 and first.trained == ["mc"]
    assert runner.run(suite, log=io.StringIO(), progress=False).computed == []
    _npz(data, 1)
    log = io.StringIO()
    again = runner.run(suite, log=log, progress=False)
    assert len(again.computed) == 1 and again.trained == ["mc"], "a changed dataset file is never reused"
    assert "dataset npz changed since the last run" in log.getvalue()
    other = tmp_path / "other.npz"
    _npz(other, 2)
    moved = runner.run(_suite(tmp_path, other), log=(log := io.StringIO()), progress=False)
    assert len(moved.computed) == 1 and f"{data} -> {other}" in log.getvalue()


def test_code_version_is_part_of_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data.npz"
    _npz(data, 0)
    suite = _suite(tmp_path, data)
    plan = runner.plan(suite)
    monkeypatch.setattr(robin_bench, "__version__", "99.0")
    assert provenance.provenance() == {"robin_bench": "99.0"}
    changed = runner.plan(suite)
    assert changed.models["mc"].key != plan.models["mc"].key
    assert {c.hash for c in changed.cells}.isdisjoint(c.hash for c in plan.cells)
    assert not RunFolder(suite.output_dir).inputs_json.exists(), "planning writes nothing"
