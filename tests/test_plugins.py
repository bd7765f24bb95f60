"""Plugins: named modules and entry points register things with their origin; every mistake is one line, exit 2."""

from __future__ import annotations

import importlib.metadata
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from robin_bench import plugins
from robin_bench.bench import leaderboard, results
from robin_bench.cli import main
from robin_bench.errors import RobinBenchError
from robin_bench.models.archs import ARCHS
from robin_bench.registry import Registry

from .bench.synthetic_results import write_run

SUITE = {
    "name": "plug",
    "dataset": {"name": "digits", "n_examples": 12, "n_train": 60, "classes": [0, 1, 2]},
    "threat_models": [{"norm": "Linf", "eps": [0.1]}],
    "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}}],
    "attacks": [{"attack": "fgsm"}],
    "sanity_check": False,
}


def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    """A fresh importable module holding ``body`` (``NAME`` in it is replaced by a unique registry name)."""
    name = f"plug_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(body.replace("NAME", name))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def run_error(tmp_path: Path, suite: dict[str, object], capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    code = main(["run", str(path), "--output", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    assert not (tmp_path / "out").exists()
    return err[0]


ARCH = """
import robin_bench as rb
from torch import nn

@rb.register_arch("NAME")
def net(in_shape, n_outputs):
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, n_outputs))
"""


def test_a_suite_plugin_registers_an_architecture_with_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = module(tmp_path, monkeypatch, ARCH)
    suite = {**SUITE, "plugins": [name], "models": [{**SUITE["models"][0], "arch": name}]}  # type: ignore[dict-item]
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--dry-run"]) == 0
    listed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("plugins loaded: "))
    assert f"plugin {name!r}" in listed
    origin = ARCHS.origin(name)
    assert origin is not None and origin.module == name and origin.distribution is None
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 0
    rows = results.read(tmp_path / "out" / "results.csv")
    assert rows["plugins"].str.startswith(f"{name} (not installed").all()
    assert rows["arch"].eq(name).all()


def test_the_command_line_plugin_is_loaded_and_kept_for_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from robin_bench.bench.config import load_suite

    name = module(tmp_path, monkeypatch, ARCH)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "models": [{**SUITE["models"][0], "arch": name}]}))  # type: ignore[dict-item]
    assert load_suite(path, plugins=[name]).plugins == [name]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise ValueError('boom')", "raised ValueError on import: boom"),
        ("import no_such_dependency_xyz", "raised ModuleNotFoundError on import"),
        (
            'import robin_bench as rb\nrb.register_arch("mlp")(lambda s, n: None)',
            "'mlp' registered twice: by robin-bench",
        ),
    ],
)
def test_a_plugin_that_fails_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], body: str, expected: str
) -> None:
    name = module(tmp_path, monkeypatch, body)
    line = run_error(tmp_path, SUITE, capsys, "--plugin", name)
    assert expected in line and name in line
    line = run_error(tmp_path, {**SUITE, "plugins": [name]}, capsys)
    assert "plugins[0]" in line and name in line


@pytest.mark.parametrize("bad", ["no_such_plugin_xyz", "a/b.py", "os; rm", "__import__('os')"])
def test_a_name_that_is_not_an_importable_module_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    line = run_error(tmp_path, {**SUITE, "plugins": [bad]}, capsys)
    assert repr(bad) in line and ("not a module name" in line or "cannot be imported" in line)


def test_two_plugins_registering_one_name_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = module(tmp_path, monkeypatch, ARCH)
    second = module(tmp_path, monkeypatch, ARCH.replace('"NAME"', f'"{first}"'))
    plugins.load_plugins([first])
    with pytest.raises(
        RobinBenchError,
        match=rf"architecture '{first}' registered twice: by plugin '{first}' and by "
        rf"plugin '{second}'",
    ):
        plugins.load_plugins([second])


def test_an_entry_point_that_points_nowhere_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = importlib.metadata.EntryPoint(name="broken", value="no_such_module_xyz.plugin", group=plugins.GROUP)
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", lambda group: [broken])
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    line = run_error(tmp_path, SUITE, capsys)
    assert "entry point 'broken'" in line and "no_such_module_xyz" in line


def test_an_architecture_with_the_wrong_output_shape_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = module(tmp_path, monkeypatch, ARCH.replace("n_outputs))", "n_outputs + 1))"))
    line = run_error(tmp_path, {**SUITE, "plugins": [name], "models": [{**SUITE["models"][0], "arch": name}]}, capsys)
    assert f"architecture {name!r} (plugin {name!r})" in line and "must return (N, 3)" in line


def test_registry_names_must_be_plain_strings() -> None:
    reg: Registry[int] = Registry("thing")
    for bad in ("", " x", "x\n", 3):
        with pytest.raises(RobinBenchError, match="is not a name"):
            reg.register(bad)  # type: ignore[arg-type]


def test_results_of_a_kind_this_process_does_not_know_read_back(tmp_path: Path) -> None:
    csv = write_run(tmp_path / "run")
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    raw.loc[raw["kind"] == "robin", "kind"] = "pairwise_not_installed"
    raw.to_csv(csv, index=False)
    rows = results.read(csv)
    assert "pairwise_not_installed" in set(rows["kind"])
    assert leaderboard.build([csv], tmp_path / "board")
    table = pd.read_csv(tmp_path / "board.csv", keep_default_na=False)
    unknown = table[table["kind"] == "pairwise_not_installed"]
    assert len(unknown) and unknown["baseline"].ne("").all()
