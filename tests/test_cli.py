"""The robin-bench command line: run, --dry-run, --output, leaderboard and the check gate's exit codes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from robin_bench.bench import results
from robin_bench.bench.store import RunLock
from robin_bench.cli import main

from .bench.synthetic_results import write_run

SUITE = {
    "name": "cli",
    "dataset": {"name": "digits", "n_examples": 12, "n_train": 60, "classes": [0, 1, 2]},
    "threat_models": [{"norm": "L2", "eps": [0.5, 1.0]}],
    "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}}],
    "attacks": [{"attack": "pgd", "kwargs": {"steps": 2}}, {"attack": "fgsm"}],
}


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump(SUITE, sort_keys=False))
    return path


def test_dry_run_prints_the_plan_and_writes_nothing(suite_file: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(suite_file), "--dry-run", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "train  mc [flat mlp]" in text
    assert "cells (2, 2 to run)" in text and "mc L2 eps=0.5: pgd, fgsm" in text
    assert not out.exists()


def test_dry_run_without_suite_shows_the_packaged_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--dry-run", "--output", str(tmp_path / "demo")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("suite demo") and "dataset digits" in text
    for model in ("mc [flat mlp]", "robin [robin mlp]", "har [har mlp]"):
        assert model in text
    assert "robin_best_arm" in text and "hierarchical_targeted" in text and "cw" in text


def test_run_then_rerun_reuses_everything(suite_file: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(suite_file), "--output", str(out)]) == 0
    assert "2 cells computed, 0 reused, 1 models trained" in capsys.readouterr().out
    df = results.read(out / "results.csv")
    assert sorted(df["attack"]) == sorted(["pgd", "fgsm", results.WORST_CASE] * 2)
    assert main(["run", str(suite_file), "--output", str(out)]) == 0
    assert "0 cells computed, 2 reused, 0 models trained" in capsys.readouterr().out
    assert main(["run", str(suite_file), "--output", str(out), "--dry-run"]) == 0
    assert "reuse  mc" in capsys.readouterr().out


def test_leaderboard_and_check_gate(suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(suite_file), "--output", str(out)]) == 0
    csv = out / "results.csv"
    prefix = tmp_path / "boards" / "cli"
    assert main(["leaderboard", str(csv), "-o", str(prefix)]) == 0
    for ext in ("csv", "md", "html"):
        assert prefix.with_suffix(f".{ext}").is_file()
    capsys.readouterr()

    assert main(["check", str(suite_file), "--baseline", str(csv), "--output", str(out)]) == 0
    assert "check passed" in capsys.readouterr().out

    better = pd.read_csv(csv)
    worst = better["attack"] == results.WORST_CASE
    better.loc[worst, ["robust_acc", "robust_acc_ci_low", "robust_acc_ci_high"]] = 1.0
    baseline = tmp_path / "baseline.csv"
    better.to_csv(baseline, index=False)
    assert main(["check", str(suite_file), "--baseline", str(baseline), "--output", str(out)]) == 1
    text = capsys.readouterr().out
    assert "check FAILED: 2 rows" in text and "cli/mc L2 eps=0.5" in text and "below the baseline" in text
    assert main(["check", str(suite_file), "--baseline", str(baseline), "--output", str(out),
                 "--tolerance", "1.0"]) == 0


def test_check_rejects_a_bad_tolerance(suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(suite_file), "--baseline", "x.csv", "--tolerance", "5"]) == 2
    err = capsys.readouterr().err
    assert "--tolerance 5.0" in err and "Traceback" not in err


@pytest.mark.parametrize("baseline", ["missing.csv", "other_suite"])
def test_check_rejects_a_bad_baseline_before_any_compute(
    baseline: str, suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / baseline
    if baseline == "other_suite":
        path = Path(__file__).resolve().parents[1] / "leaderboards" / "demo.csv"
    out = tmp_path / "out"
    assert main(["check", str(suite_file), "--baseline", str(path), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
    assert not (out / "results.csv").exists(), "a bad baseline must be refused before the suite runs"


def test_leaderboard_of_a_missing_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", str(tmp_path / "none.csv"), "-o", str(tmp_path / "lb")]) == 2
    assert "none.csv" in capsys.readouterr().err


def test_leaderboard_to_an_unwritable_folder_is_a_user_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    csv = write_run(tmp_path / "run")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    assert main(["leaderboard", str(csv), "-o", str(blocker / "demo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not writable" in err[0] and str(blocker) in err[0] and "Traceback" not in err[0]


def test_analyze_passes_repeats_only_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from robin_bench import analysis

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(analysis, "run", lambda *a, **k: calls.append((a, k)) or [])
    assert main(["analyze", "complexity", "s.yaml", "--repeats", "20"]) == 0
    assert main(["analyze", "complexity", "s.yaml", "-o", "out"]) == 0
    assert calls == [(("complexity", "s.yaml", None), {"repeats": 20}), (("complexity", "s.yaml", "out"), {})]


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["check", "suite.yaml"])
    assert e.value.code == 2


@pytest.mark.slow
def test_the_packaged_demo_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real demo (about a minute on 2 cores); tests above cover the same paths on a tiny suite."""
    assert main(["run", "--output", str(tmp_path / "demo")]) == 0
    df = results.read(tmp_path / "demo" / "results.csv")
    assert set(df["model"]) == {"mc", "robin", "har"} and (tmp_path / "demo" / "summary.md").is_file()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_errors_after_a_finished_run_are_one_line_and_lose_no_output(
    suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mistakes found only at run time (tampered checkpoint, n_examples beyond the split, a directory in use)
    on a directory holding a finished run: exit 2, one line, and every earlier file byte for byte intact."""
    out = tmp_path / "out"
    assert main(["run", str(suite_file), "--output", str(out)]) == 0
    capsys.readouterr()
    before = _snapshot(out)
    assert "results.csv" in before and "summary.md" in before

    cached = next((out / "models").rglob("*.safetensors"))
    tampered = tmp_path / "tampered.safetensors"
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    Path(f"{tampered}.json").write_bytes(Path(f"{cached}.json").read_bytes())
    loaded = {**SUITE, "models": [{"name": "mc", "kind": "flat", "checkpoint": str(tampered)}]}
    too_many = {**SUITE, "dataset": {**SUITE["dataset"], "n_examples": 10**6}}
    cases = [(loaded, "sha256"), (too_many, "n_examples=1000000 exceeds")]
    for i, (spec, message) in enumerate(cases):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        assert main(["run", str(path), "--output", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err
        assert _snapshot(out) == before, f"case {i} changed the earlier output"

    with RunLock(out):
        held = _snapshot(out)
        assert main(["run", str(suite_file), "--output", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another robin-bench run" in err[0], err
        assert _snapshot(out) == held
    assert _snapshot(out) == before
