"""The store: config hashes, atomic model caching, finished-cell records and the run lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from robin_bench.attacks.evaluate import EvalResult
from robin_bench.bench import results
from robin_bench.bench.store import CHECKPOINT_NAME, LOCK_NAME, RunFolder, RunLock, config_hash, ensure_writable
from robin_bench.errors import RobinBenchError

from .synthetic_results import early_exit_result


def test_config_hash_ignores_key_order_and_sees_values() -> None:
    a = config_hash({"eps": 0.1, "train": {"epochs": 2, "lr": 0.1}})
    assert a == config_hash({"train": {"lr": 0.1, "epochs": 2}, "eps": 0.1})
    assert a != config_hash({"eps": 0.1 + 1e-12, "train": {"epochs": 2, "lr": 0.1}})
    assert a != config_hash({"eps": 0.1, "train": {"epochs": 3, "lr": 0.1}})


def _cell_rows() -> tuple[list[dict[str, Any]], EvalResult]:
    result = early_exit_result(np.array([True, True, False, True]), {"pgd": np.array([True, False, False, False])})
    meta = {
        "suite": "s",
        "dataset": "digits",
        "model": "mc",
        "kind": "flat",
        "arch": "mlp",
        "train_objective": "x",
        "norm": "Linf",
        "eps_train": None,
        "eps": 0.1,
        "criterion": "fine",
        "seed": 0,
        "attack_set": "custom",
        "device": "cpu",
        "config_hash": "h1",
    }
    return results.rows_for_cell(meta, result), result


def test_cell_record_round_trip_and_hash_check(tmp_path: Path) -> None:
    store = RunFolder(tmp_path)
    rows, result = _cell_rows()
    assert store.cell("k", "h1", ["k"]) is None
    store.save_flags("k", result)
    store.record_cell("k", "h1", rows)
    got = store.cell("k", "h1", ["k"])
    assert got is not None and [r["robust_acc"] for r in got] == [r["robust_acc"] for r in rows]
    assert store.damage("k", "h1", ["k"]) is None
    assert store.cell("k", "h2", ["k"]) is None, "a record made under another config is not finished work"
    assert store.cell("k", "h1", []) is None, "rows without flags cannot be checked"
    store.record_cell("k", "h1", [{"model": "mc", "robust_acc": 0.5}])
    assert store.cell("k", "h1", ["k"]) is None, "rows of another results schema are computed again"


def test_edited_cell_record_is_not_trusted(tmp_path: Path) -> None:
    store = RunFolder(tmp_path)
    rows, result = _cell_rows()
    store.save_flags("k", result)
    store.record_cell("k", "h1", [{**r, "robust_acc": 1.0} if r["attack"] == "worst_case" else r for r in rows])
    assert store.cell("k", "h1", ["k"]) is None
    assert "disagrees with its flags" in (store.damage("k", "h1", ["k"]) or "")
    store.record_cell("k", "h1", rows[:-1])
    assert "no row for attack(s) ['worst_case']" in (store.damage("k", "h1", ["k"]) or "")


def test_damaged_cell_record_counts_as_unfinished(tmp_path: Path) -> None:
    store = RunFolder(tmp_path)
    store.cells_dir.mkdir(parents=True)
    (store.cells_dir / "k.json").write_text('{"hash": "h1", "rows": [')
    assert store.cell("k", "h1", ["k"]) is None


def test_save_model_is_all_or_nothing(tmp_path: Path) -> None:
    store = RunFolder(tmp_path)

    def half_write(path: Path) -> None:
        path.write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.save_model("mc", "abc", half_write)
    assert store.checkpoint_path("mc", "abc") is None
    assert list(store.models_dir.iterdir()) == [], "no temp folder is left behind"
    path = store.save_model("mc", "abc", lambda p: p.write_bytes(b"weights"))
    assert path == store.checkpoint_path("mc", "abc") and path.name == CHECKPOINT_NAME
    assert path.read_bytes() == b"weights"


def test_clean_temp_removes_only_temp_leftovers(tmp_path: Path) -> None:
    store = RunFolder(tmp_path)
    (store.models_dir / ".mc-abc.x1").mkdir(parents=True)
    store.cells_dir.mkdir()
    (store.cells_dir / ".k.json.123.tmp").write_text("{")
    (store.cells_dir / "k.json").write_text("{}")
    (tmp_path / ".results.csv.9.tmp").write_text("x")
    store.clean_temp()
    assert not (store.models_dir / ".mc-abc.x1").exists()
    assert sorted(p.name for p in store.cells_dir.iterdir()) == ["k.json"]
    assert not (tmp_path / ".results.csv.9.tmp").exists()


def test_lock_refuses_a_second_run_and_releases(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(RobinBenchError, match=f"in use by another robin-bench run \\(pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    import socket

    (tmp_path / LOCK_NAME).write_text(f"{socket.gethostname()} {pid}\n")
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[1] == str(os.getpid())


def test_ensure_writable_names_the_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RobinBenchError, match="output directory .*file/out is not writable"):
        ensure_writable(blocker / "out")


def test_cell_record_is_plain_json(tmp_path: Path) -> None:
    store = RunFolder(tmp_path)
    store.record_cell("k", "h", [{"a": 1.5}])
    assert json.loads((store.cells_dir / "k.json").read_text()) == {"hash": "h", "rows": [{"a": 1.5}]}


def test_cell_record_with_an_edited_verification_figure_is_not_trusted(tmp_path: Path) -> None:
    store = RunFolder(tmp_path)
    status = ["verified", "unknown", "broken", "verified"]
    proof = SimpleNamespace(n=4, verified_acc=0.5, n_unresolved=1)
    rows, result = _cell_rows()
    rows = results.rows_for_cell({**rows[0], "unreliable": None}, result, verified=proof)
    store.save_flags("k", result, verify_status=status)
    store.record_cell("k", "h1", rows)
    assert store.cell("k", "h1", ["k"]) is not None
    store.record_cell("k", "h1", [{**r, "unresolved": 0} for r in rows])
    assert "unresolved 0 disagrees with its per-sample statuses (1 unknown)" in (store.damage("k", "h1", ["k"]) or "")
    store.save_flags("k", result)
    store.record_cell("k", "h1", rows)
    assert "verified_acc 0.5 has no per-sample verification statuses" in (store.damage("k", "h1", ["k"]) or "")
