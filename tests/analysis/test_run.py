"""``analysis.run`` on a tiny suite: the analysis' files, its summary.md section, replaced on a rerun."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from robin_bench import cli
from robin_bench.analysis.run import ANALYSES, _check_models, run
from robin_bench.bench.config import load_suite
from robin_bench.errors import RobinBenchError

TINY = {
    "name": "tiny_analysis",
    "dataset": {"name": "digits", "n_examples": 10, "n_train": 60, "classes": [0, 1, 2]},
    "threat_models": [{"norm": "Linf", "eps": [0.1, 0.3]}],
    "models": [
        {"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16, "seed": 1}},
        {"name": "robin", "kind": "robin", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}},
    ],
    "attacks": [{"attack": "pgd", "kwargs": {"steps": 2}}],
}
TITLE = "## Analysis: Transfer from the multiclass model"
SUITES = sorted((Path(__file__).parents[2] / "benchmarks" / "suites").glob("analysis_*.yaml"))


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("analysis_run")
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "output": str(tmp / "out")}, sort_keys=False))
    return path


def test_run_writes_files_and_one_summary_section_per_analysis(suite_file: Path) -> None:
    out = suite_file.parent / "out"
    written = run("transfer", suite_file)
    names = [p.name for p in written]
    assert names == ["transfer.csv", "transfer.png", "transfer.md", "summary.md"]
    assert all(p.is_file() for p in written) and written[-1] == out / "summary.md"
    frame = pd.read_csv(out / "analysis" / "transfer.csv")
    text = (out / "summary.md").read_text()
    assert text.count(TITLE) == 1 and "![transfer](analysis/transfer.png)" in text
    white = frame[(frame["attack"] == "white_box") & (frame["eps"] == 0.1)]["robust_acc"].iloc[0]
    assert f"| white_box | {white:.3f} |" in text
    run("attack_sweep", suite_file)
    run("transfer", suite_file)
    text = (out / "summary.md").read_text()
    assert text.count(TITLE) == 1 and text.count("## Analysis: ") == 2
    assert text.index("## Analysis: ROBIN attack strategies") < text.index(TITLE)
    assert text.index("## tiny_analysis: digits, Linf") < text.index("## Analysis: ")


def test_unknown_analysis_names_the_valid_ones(suite_file: Path) -> None:
    with pytest.raises(RobinBenchError, match="unknown analysis 'tranfer'; did you mean 'transfer'"):
        run("tranfer", suite_file)


def test_cli_analyze_writes_next_to_the_run_and_prints_the_paths(
    suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli_out"
    assert cli.main(["analyze", "two_stage", str(suite_file), "--output", str(out)]) == 2
    assert "analysis 'two_stage' needs 1 model(s) of kind 'har'" in capsys.readouterr().err
    assert not out.exists(), "a missing model kind is refused before the suite runs"
    assert cli.main(["analyze", "attack_sweep", str(suite_file), "--output", str(out)]) == 0
    files = ["analysis/attack_sweep.csv", "analysis/attack_sweep.png", "analysis/attack_sweep.md", "summary.md"]
    assert capsys.readouterr().out.split() == [str(out / f) for f in files]
    assert (out / "results.csv").is_file(), "the suite's results sit beside the analysis folder"
    assert "## Analysis: ROBIN attack strategies" in (out / "summary.md").read_text()


def test_shipped_analysis_suites_have_the_models_of_every_analysis() -> None:
    assert [p.name for p in SUITES] == ["analysis_cifar10.yaml", "analysis_cifar10_linf.yaml", "analysis_digits.yaml"]
    for path in SUITES:
        suite = load_suite(path)
        for name in ANALYSES:
            _check_models(name, suite)


def test_complexity_runs_the_number_of_class_orderings_asked_for(suite_file: Path) -> None:
    with pytest.raises(RobinBenchError, match="repeats=0 class orderings"):
        run("complexity", suite_file, repeats=0)
    run("complexity", suite_file, repeats=2)
    summary = pd.read_csv(suite_file.parent / "out" / "analysis" / "complexity_summary.csv")
    assert (summary["orderings"] == 2).all() and sorted(summary["n_classes"].unique()) == [2, 3]


@pytest.fixture(scope="module")
def seeded_suite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("analysis_seeds")
    path = tmp / "seeded.yaml"
    suite = {
        **TINY,
        "seeds": [0, 1],
        "output": str(tmp / "out"),
        "models": [{**m, "train": {**m["train"], "seed": 0}} for m in TINY["models"]],
    }
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def test_seeded_suite_runs_model_analyses_once_per_seed_on_that_seeds_models(seeded_suite_file: Path) -> None:
    run("transfer", seeded_suite_file)
    folder = seeded_suite_file.parent / "out" / "analysis"
    frame = pd.read_csv(folder / "transfer.csv")
    assert frame.columns[0] == "seed" and sorted(frame["seed"].unique()) == [0, 1]
    per_seed = [frame[frame["seed"] == s].drop(columns="seed").reset_index(drop=True) for s in (0, 1)]
    assert len(per_seed[0]) == len(per_seed[1]) > 0
    assert not per_seed[0].equals(per_seed[1]), "each seed's models are analysed, not the first seed's twice"
    assert "| seed | attack |" in (folder / "transfer.md").read_text()
    run("coherence", seeded_suite_file)
    summary = pd.read_csv(folder / "coherence_summary.csv")
    assert summary.columns[0] == "seed" and sorted(summary["seed"].unique()) == [0, 1]


def test_seeded_suite_runs_complexity_once(seeded_suite_file: Path) -> None:
    run("complexity", seeded_suite_file, repeats=1)
    frame = pd.read_csv(seeded_suite_file.parent / "out" / "analysis" / "complexity.csv")
    assert "seed" not in frame.columns
