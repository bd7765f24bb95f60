"""Bounded everything: suite files (size, devices), seeds in the range torch accepts, names fit for file systems,
a Ray address that does not answer, and a damaged component cache: one line and exit 2 before any compute, or a
recomputation named on the log."""

from __future__ import annotations

import copy
import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from robin_bench import cli
from robin_bench.bench import executors, runner
from robin_bench.bench.config import load_suite
from robin_bench.bench.executors import RayExecutor
from robin_bench.bench.store import RunFolder
from robin_bench.bench.suite_yaml import MAX_BYTES
from robin_bench.errors import RobinBenchError
from robin_bench.limits import MAX_SEED

from .tiny_suite import write_suite

SMALL: dict[str, Any] = {
    "name": "small",
    "dataset": {"name": "digits", "n_examples": 8, "n_train": 40, "classes": [0, 1, 2]},
    "threat_models": [{"norm": "Linf", "eps": [0.1]}],
    "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}}],
    "attacks": [{"attack": "fgsm"}],
    "sanity_check": False,
}


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err


def test_a_device_file_or_a_huge_suite_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "is not a regular file" in _run_cli(["run", os.devnull, "--dry-run"], capsys)[0]
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (MAX_BYTES // 10 + 1))
    assert f"a suite is at most {MAX_BYTES} bytes" in _run_cli(["run", str(big), "--dry-run"], capsys)[0]
    assert "is not a regular file" in _run_cli(["run", str(tmp_path), "--dry-run"], capsys)[0]


def _with(path: Path, change: Any) -> Path:
    spec = copy.deepcopy(SMALL)
    change(spec)
    path.write_text(yaml.safe_dump({**spec, "output": str(path.parent / "out")}))
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.update(seed=2**64), "less than or equal to 9223372036854775807"),
        (lambda s: s["dataset"].update(seed=2**70), "less than or equal to 9223372036854775807"),
        (lambda s: s["models"][0].update(seeds=[0, 2**64]), "less than or equal to 9223372036854775807"),
        (lambda s: s["models"][0]["train"].update(seed=2**64), f"expected an integer in 0..{MAX_SEED}"),
        (lambda s: s.update(name="small\n"), "must be 1 to 64 letters"),
        (lambda s: s["models"][0].update(name="m" * 65), "must be 1 to 64 letters"),
        (lambda s: s["models"][0].update(name="mc\n"), "must be 1 to 64 letters"),
        (lambda s: s["attacks"][0].update(name="fgsm\nx"), "printable characters"),
    ],
)
def test_out_of_range_seeds_and_unfit_names_stop_before_compute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, problem: str
) -> None:
    suite = _with(tmp_path / "s.yaml", change)
    err = _run_cli(["run", str(suite)], capsys)
    assert problem in err[0] and "s.yaml" in err[0], err
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_the_largest_seed_is_accepted(tmp_path: Path) -> None:
    suite = load_suite(
        _with(tmp_path / "s.yaml", lambda s: (s.update(seed=MAX_SEED), s["models"][0]["train"].update(seed=MAX_SEED)))
    )
    assert suite.seed == MAX_SEED and runner.plan(suite).models["mc"].train.seed == MAX_SEED


def test_a_ray_address_that_does_not_answer_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executors, "RAY_CONNECT_TIMEOUT_S", 0.5)
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1", "10.255.255.1:6379"):
        with pytest.raises(RobinBenchError, match="cannot connect to the Ray cluster") as e:
            RayExecutor(address=address)
        assert "\n" not in str(e.value)
    with pytest.raises(RobinBenchError, match="is not 'auto', 'host:port'"):
        RayExecutor(address="nonsense")


def test_a_damaged_component_cache_is_trained_again(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, SMALL, "out")
    runner.run(suite, log=io.StringIO(), progress=False)
    folder = RunFolder(suite.output_dir)
    shutil.rmtree(folder.models_dir)
    shutil.rmtree(folder.cells_dir)
    report = next(folder.components_dir.rglob("*.json"))
    report.write_text("{damaged")
    next(folder.components_dir.rglob("*.safetensors")).write_bytes(b"damaged")
    log = io.StringIO()
    again = runner.run(suite, log=log, progress=False)
    assert again.trained == ["mc"] and "is damaged (" in log.getvalue() and "training it again" in log.getvalue()
