"""The run folder never lies or loses data: a suite change archives old cells, foreign folders are refused, YAML
bombs and mistakes stop before compute, checkpoints must fit their model, stale reports and damaged flags are
rebuilt, the lock is atomic, seeds are replicates; and bench/ has no import cycle."""

from __future__ import annotations

import ast
import errno
import io
import shutil
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from robin_bench.bench import results, runner, store
from robin_bench.bench.config import Suite, parse_suite
from robin_bench.bench.store import MARKER_NAME, RunFolder, RunLock
from robin_bench.errors import RobinBenchError
from robin_bench.models import build_model, save_checkpoint
from robin_bench.models.factory import model_spec

from .tiny_suite import write_suite

ROOT = Path(__file__).resolve().parents[2]
SMALL: dict[str, Any] = {
    "name": "small",
    "dataset": {"name": "digits", "n_examples": 8, "n_train": 40, "classes": [0, 1, 2]},
    "threat_models": [{"norm": "Linf", "eps": [0.1, 0.3]}],
    "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}}],
    "attacks": [{"attack": "pgd", "kwargs": {"steps": 1}}, {"attack": "fgsm"}],
    "sanity_check": False,
}


def small(tmp_path: Path, **changes: object) -> Suite:
    return write_suite(tmp_path, SMALL, "out", **changes)


def quiet(suite: Suite, **kwargs: Any) -> runner.RunReport:
    return runner.run(suite, log=io.StringIO(), progress=False, **kwargs)


def test_bench_has_no_import_cycle() -> None:
    folder = ROOT / "robin_bench" / "bench"
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("robin_bench.bench"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                deps |= {n.split(".")[2] for n in names if len(n.split(".")) > 2}
        graph[path.stem] = deps - {path.stem}
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for d in graph.get(m, ()):
            assert state.get(d) != 1, f"import cycle: {' -> '.join([*trail, m, d])}"
            if d in graph and d not in state:
                visit(d, [*trail, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
    executors = graph["executors"]
    assert executors == set(), f"executors import nothing else from bench, got {executors}"


def test_dropping_an_attack_and_an_eps_archives_the_old_cells(tmp_path: Path) -> None:
    first = quiet(small(tmp_path, hierarchy=[[0], [1, 2]]))
    assert len(first.computed) == 2
    changed = small(
        tmp_path,
        hierarchy=[[0], [1, 2]],
        attacks=[{"attack": "pgd", "kwargs": {"steps": 1}}],
        threat_models=[{"norm": "Linf", "eps": [0.1]}],
    )
    second = quiet(changed)
    df = results.read(second.results_csv)
    assert sorted(set(df["attack"])) == ["pgd", "worst_case"] and set(df["eps"]) == {0.1}
    assert second.archived is not None and (second.archived / "results.csv").is_file()
    folder = RunFolder(second.out_dir)
    assert [p.stem for p in folder.cells_dir.glob("*.json")] == [second.computed[0]]
    wanted = {k for c in runner.plan(changed).cells for k in c.flags_keys}
    assert {p.stem for p in folder.flags_dir.glob("*.npz")} == wanted and len(wanted) == 2, "fine and coarse flags"
    assert "fgsm" not in folder.summary_md.read_text()


def test_a_foreign_folder_is_never_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RobinBenchError, match="not a robin-bench run folder"):
        quiet(small(tmp_path))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
                for i in range(7)
            ),
            "aliases",
        ),
        ("x: " + "[" * 1000 + "]" * 1000 + "\n", "nested"),
        ("name: a\nname: b\n", "given twice"),
    ],
)
def test_hostile_yaml_is_one_line_in_bounded_time(text: str, message: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(RobinBenchError, match=message) as e:
        parse_suite(text, source="bad.yaml")
    assert time.perf_counter() - t0 < 2 and "\n" not in str(e.value) and str(e.value).startswith("bad.yaml:")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threat_models": [{"norm": "Linf", "eps": [0.1, 0.1]}]}, "listed twice"),
        ({"attacks": [{"attack": "pgd", "name": "worst_case"}]}, "worst_case"),
    ],
)
def test_suite_mistakes_found_before_compute(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(RobinBenchError, match=message):
        small(tmp_path, **changes)


def test_an_attack_that_cannot_run_under_the_criterion_fails_validation(tmp_path: Path) -> None:
    suite = {
        **SMALL,
        "hierarchy": [[0], [1, 2]],
        "criterion": "targeted",
        "attacks": [{"attack": "hierarchical_targeted", "kwargs": {"steps": 1}}],
    }
    with pytest.raises(RobinBenchError, match=r"out\.yaml:\d+: attacks\[0\]"):
        write_suite(tmp_path, suite, "out")


def test_a_checkpoint_of_another_kind_is_refused_or_retrained(tmp_path: Path) -> None:
    torch.manual_seed(0)
    robin = build_model("robin", arch="mlp", in_shape=(1, 8, 8), n_classes=3)
    ckpt = tmp_path / "robin.safetensors"
    save_checkpoint(robin, ckpt, spec=model_spec("robin", arch="mlp", in_shape=(1, 8, 8), n_classes=3))
    declared_flat = small(tmp_path, models=[{"name": "mc", "kind": "flat", "checkpoint": str(ckpt)}])
    with pytest.raises(RobinBenchError, match="does not fit model 'mc'.*kind"):
        quiet(declared_flat)
    assert not (tmp_path / "out" / "results.csv").exists()
    wide = build_model("flat", arch="mlp", in_shape=(1, 28, 28), n_classes=3)
    other_shape = tmp_path / "wide.safetensors"
    save_checkpoint(wide, other_shape, spec=model_spec("flat", arch="mlp", in_shape=(1, 28, 28), n_classes=3))
    with pytest.raises(RobinBenchError, match="in_shape"):
        quiet(small(tmp_path, models=[{"name": "mc", "kind": "flat", "checkpoint": str(other_shape)}]))

    report = quiet(small(tmp_path))
    cached = next((report.out_dir / "models").rglob("model.safetensors"))
    shutil.copy(ckpt, cached)
    shutil.copy(f"{ckpt}.json", f"{cached}.json")
    shutil.rmtree(report.out_dir / "cells")
    log = io.StringIO()
    again = runner.run(small(tmp_path), log=log, progress=False)
    assert again.trained == ["mc"] and "does not fit the suite" in log.getvalue()


def test_stale_reports_are_rebuilt(tmp_path: Path) -> None:
    report = quiet(small(tmp_path))
    folder = RunFolder(report.out_dir)
    good = folder.summary_md.read_text()
    folder.summary_md.write_text("# Summary\n\nstale\n")
    quiet(small(tmp_path))
    assert folder.summary_md.read_text() == good


def test_truncated_flags_are_reported_and_recomputed(tmp_path: Path) -> None:
    report = quiet(small(tmp_path))
    key = report.computed[0]
    path = RunFolder(report.out_dir).flags_path(key)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RobinBenchError, match="damaged"):
        store.load_flags(path.parent, key)
    log = io.StringIO()
    again = runner.run(small(tmp_path), log=log, progress=False)
    assert again.computed == [key] and again.repaired == [key]
    assert sum("damaged" in ln for ln in log.getvalue().splitlines()) == 1
    assert store.load_flags(path.parent, key).n == 8


def test_stale_lock_take_over_is_atomic(tmp_path: Path) -> None:
    (tmp_path / ".lock").write_text("somehost 999999999\n")
    barrier = threading.Barrier(6)
    held: list[RunLock] = []
    refused: list[str] = []

    def contend() -> None:
        lock = RunLock(tmp_path)
        barrier.wait()
        try:
            lock.acquire()
            held.append(lock)
        except RobinBenchError as e:
            refused.append(str(e))

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(held) == 1 and len(refused) == 5
    held[0].release()


def test_disk_full_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from robin_bench.bench import store

    def full(path: object, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store, "atomic_write_text", full)
    with pytest.raises(RobinBenchError, match="disk full") as e:
        quiet(small(tmp_path))
    assert "\n" not in str(e.value)


def test_unreachable_ray_address_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from robin_bench.bench.executors import make_executor

    def init(**kwargs: object) -> None:
        raise ConnectionError("could not reach 10.0.0.1:6379\nlong trace")

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setitem(sys.modules, "ray", fake)
    with pytest.raises(RobinBenchError, match=r"cannot connect to the Ray cluster at --address '10.0.0.1:6379'") as e:
        make_executor("ray", address="10.0.0.1:6379")
    assert "\n" not in str(e.value)


def test_seeds_are_replicates_and_resume(tmp_path: Path) -> None:
    suite = small(tmp_path, seeds=[0, 1], threat_models=[{"norm": "Linf", "eps": [0.1]}])
    seen: list[object] = []

    def stop(cell: object) -> None:
        seen.append(cell)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quiet(suite, after_cell=stop)
    resumed = quiet(suite)
    assert len(resumed.reused) == 1 and len(resumed.computed) == 1
    df = results.read(resumed.results_csv)
    worst = df[df["attack"] == "worst_case"]
    assert sorted(worst["seed"]) == [0, 1] and set(worst["model"]) == {"mc"} and set(df["attack_set"]) == {"custom"}
    assert len({p.parent.name for p in (resumed.out_dir / "models").rglob("model.safetensors")}) == 2
    for seed in (0, 1):
        key = store.CellId("small", "mc", "Linf", 0.1, "fine", seed).key
        assert store.load_flags(resumed.out_dir / "flags", key).n == 8
        assert key == store.CellId.of_row(df, worst[worst["seed"] == seed].iloc[0]).key


def test_dry_run_states_cost_sanity_checks_and_coarse(tmp_path: Path) -> None:
    suite = small(tmp_path, hierarchy=[[0], [1, 2]], sanity_check=True)
    text = runner.dry_run(suite)
    assert text.count("(~16 model evaluations, ~") == 2, "pgd 1 step + fgsm on 8 samples, with a time estimate"
    assert "model evaluations to run: ~32 " in text
    assert "rb.sanity_check" in text and "coarse criterion" in text
    assert not (tmp_path / "out").exists()


def test_threads_are_set_for_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        quiet(small(tmp_path, threads=2, threat_models=[{"norm": "Linf", "eps": [0.1]}]))
        assert torch.get_num_threads() == 2, "the suite's threads win over OMP_NUM_THREADS"
        quiet(small(tmp_path, threat_models=[{"norm": "Linf", "eps": [0.1]}]), threads=3)
        assert torch.get_num_threads() == 3, "run(threads=) wins over the suite"
    finally:
        torch.set_num_threads(before)


def test_final_table_in_the_log(tmp_path: Path) -> None:
    log = io.StringIO()
    runner.run(small(tmp_path), log=log, progress=False)
    lines = log.getvalue().splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("model "))
    assert "clean" in lines[head] and "robust" in lines[head] and len(lines[head + 1 :]) == 2
    assert all(ln.startswith("mc ") for ln in lines[head + 1 :])
    assert (tmp_path / "out" / MARKER_NAME).is_file()


def test_a_run_folder_from_before_the_marker_is_recognised(tmp_path: Path) -> None:
    report = quiet(small(tmp_path))
    (report.out_dir / MARKER_NAME).unlink()
    again = quiet(small(tmp_path))
    assert again.computed == [] and (report.out_dir / MARKER_NAME).is_file()


def _two(
    model: torch.nn.Module, *, norm: str, eps: float, hierarchy: object, criterion: str, seed: int
) -> dict[str, Any]:
    from robin_bench.attacks.fgsm import FGSM
    from robin_bench.attacks.pgd import PGD

    return {"set_pgd": PGD(model, norm=norm, eps=eps, steps=1, seed=seed), "set_fgsm": FGSM(model, norm=norm, eps=eps)}


@pytest.fixture
def attack_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    from robin_bench.bench import attack_factory
    from robin_bench.registry import Registry

    sets: Registry[Any] = Registry("attack set")
    sets.register("two")(_two)
    sets.register("bad")(lambda model, **kw: {"worst_case": _two(model, **kw)["set_pgd"]})
    monkeypatch.setattr(attack_factory, "ATTACK_SETS", sets)


def test_a_named_attack_set_expands_and_names_its_rows(tmp_path: Path, attack_sets: None) -> None:
    one_eps = [{"norm": "Linf", "eps": [0.1]}]
    df = results.read(quiet(small(tmp_path, attacks="two", threat_models=one_eps)).results_csv)
    assert sorted(set(df["attack"])) == ["set_fgsm", "set_pgd", "worst_case"] and set(df["attack_set"]) == {"two"}
    mixed = small(
        tmp_path,
        attacks=[{"set": "two"}, {"attack": "pgd", "name": "extra", "kwargs": {"steps": 1}}],
        threat_models=one_eps,
    )
    df = results.read(quiet(mixed).results_csv)
    assert "extra" in set(df["attack"]) and set(df["attack_set"]) == {"two+custom"}
    with pytest.raises(RobinBenchError, match="unknown attack set 'tow'; did you mean 'two'"):
        small(tmp_path, attacks="tow")
    with pytest.raises(RobinBenchError, match="worst_case"):
        small(tmp_path, attacks="bad")


def test_a_run_killed_before_its_reports_gets_them_on_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(folder: RunFolder) -> None:
        raise KeyboardInterrupt

    quiet(small(tmp_path))
    wider = [{"norm": "Linf", "eps": [0.1, 0.3, 0.5]}]
    monkeypatch.setattr(runner, "write_reports", killed)
    with pytest.raises(KeyboardInterrupt):
        quiet(small(tmp_path, threat_models=wider))
    monkeypatch.undo()
    folder = RunFolder(tmp_path / "out")
    assert "eps = 0.5" not in folder.summary_md.read_text() and not folder.reports_current()
    again = quiet(small(tmp_path, threat_models=wider))
    assert again.computed == [] and folder.reports_current()
    assert "eps = 0.5" in folder.summary_md.read_text()


def test_an_attack_sets_options_decide_its_cells_and_name_its_rows(tmp_path: Path) -> None:
    def cells(n_iter: int) -> tuple[list[str], str]:
        suite = small(tmp_path, attacks=[{"set": "standard", "kwargs": {"n_iter": n_iter, "n_queries": 10}}])
        return [c.hash for c in runner.plan(suite).cells], suite.attack_set

    (short, label), (longer, _) = cells(5), cells(6)
    assert not set(short) & set(longer), "changing a set's option recomputes its cells"
    assert label == "standard(n_iter=5, n_queries=10)"
    text = runner.dry_run(small(tmp_path, attacks=[{"set": "standard", "kwargs": {"n_iter": 5, "n_queries": 10}}]))
    assert "cost unknown" not in text and "model evaluations" in text
    with pytest.raises(RobinBenchError, match="has no argument 'n_iters'; did you mean 'n_iter'"):
        small(tmp_path, attacks=[{"set": "standard", "kwargs": {"n_iters": 5}}])
