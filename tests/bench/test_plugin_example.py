"""The example plugin package (benchmarks/examples/plugin), installed as a user installs it, end to end through its
real entry point: run, leaderboard, `check` passes; a deliberately weakened model fails `check`.

`.ci/run` and the README's install command install it (`pip install -e benchmarks/examples/plugin`)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "benchmarks" / "examples" / "plugin"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "robin_bench.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def test_the_example_plugin_is_installed_through_its_entry_point() -> None:
    points = [ep for ep in importlib.metadata.entry_points(group="robin_bench.plugins") if ep.name == "ecoc"]
    assert points, "install the example plugin: pip install -e benchmarks/examples/plugin (README's install command)"
    assert points[0].value == "robin_ecoc.plugin" and points[0].dist is not None
    assert points[0].dist.name == "robin-ecoc"


def test_run_leaderboard_and_check_gate_the_plugins_models(tmp_path: Path) -> None:
    suite = yaml.safe_load((EXAMPLE / "suite.yaml").read_text())
    assert "plugins" not in suite  # the entry point alone brings kind, architecture and dataset
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    run = cli("run", "suite.yaml", "-o", "run", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = pd.read_csv(tmp_path / "run" / "results.csv", keep_default_na=False)
    assert set(rows["kind"]) == {"flat", "ecoc"} and rows["plugins"].str.contains("robin_ecoc.plugin").all()
    board = cli("leaderboard", "run/results.csv", "-o", "board", cwd=tmp_path)
    assert board.returncode == 0, board.stderr
    table = pd.read_csv(tmp_path / "board.csv", keep_default_na=False)
    ecoc = table[table["kind"] == "ecoc"].iloc[0]
    assert ecoc["baseline"] == "flat" and "robin-ecoc 0.1.0" in ecoc["plugins"]
    passed = cli("check", "suite.yaml", "--baseline", "board.csv", "-o", "run", cwd=tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr

    weak = {
        **suite,
        "models": [
            suite["models"][0],
            {**suite["models"][1], "train": {"objective": "standard", "epochs": 1, "seed": 0}},
        ],
    }
    (tmp_path / "weak.yaml").write_text(yaml.safe_dump(weak, sort_keys=False))
    failed = cli("check", "weak.yaml", "--baseline", "board.csv", "-o", "weak", cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "ecoc" in failed.stdout


def test_the_ci_workflow_installs_the_plugin_and_gates_its_suite() -> None:
    workflow = yaml.safe_load((ROOT / "benchmarks" / "examples" / "ci.yml").read_text())
    steps = [s.get("run", "") for s in workflow["jobs"]["robin-bench-check"]["steps"]]
    script = "\n".join(steps)
    assert "pip install -e benchmarks/examples/plugin" in script
    check = next(line for line in script.splitlines() if line.startswith("robin-bench check"))
    words = check.split()
    assert (ROOT / words[2]).is_file() and (ROOT / words[words.index("--baseline") + 1]).is_file()


def test_the_readme_install_command_is_the_ci_s() -> None:
    readme = (ROOT / "README.md").read_text()
    install = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("pip install"))
    assert f"\n{install}   #" in readme


def test_the_plugin_kind_answers_to_art_sanity_and_the_standard_set() -> None:
    import torch

    import robin_bench as rb
    from robin_bench.plugins import load_plugins

    load_plugins()
    torch.manual_seed(0)
    model = rb.build_model("ecoc", arch="tiny_cnn", in_shape=(1, 8, 8), n_classes=4)
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 4
    before = [p.detach().clone() for p in model.parameters()]
    clf = rb.estimators.to_art(model, input_shape=(1, 8, 8))
    clf.fit(x.numpy(), y.numpy(), nb_epochs=1, batch_size=8)
    assert clf.nb_classes == 4
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True) if a.dim() > 1)
    model.eval()
    names = list(rb.standard_attacks(model, norm="Linf", eps=0.1, n_iter=2, n_queries=10))
    assert names[:6] == [f"robin_{s}" for s in rb.attacks.STRATEGIES] and "apgd-ce" in names and "square" in names
    report = rb.sanity_check(model, x, y, norm="Linf", eps=0.1)
    assert all(code != "zero_grad" for code, _ in report.flags)
    spec = rb.model_spec("ecoc", arch="tiny_cnn", in_shape=(1, 8, 8), n_classes=4)
    assert spec["plugins"] == [{"module": "robin_ecoc.plugin", "distribution": "robin-ecoc", "version": "0.1.0"}]
    assert "plugins" not in rb.model_spec("flat", arch="mlp", in_shape=(1, 8, 8), n_classes=4)
