"""The robin-bench command line: run, --dry-run, --output, leaderboard and the check gate's exit codes."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from robin_bench.bench import results
from robin_bench.bench.store import RunLock
from robin_bench.cli import main
from robin_bench.errors import RobinBenchError

from .bench.synthetic_results import write_run

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    """This checkout first on the path, one torch thread, for ``robin-bench`` in a subprocess."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300
    )


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


def test_dry_run_prints_the_plan_and_writes_nothing(
    suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    assert "standard" in text and "model evaluations" in text and "cost unknown" not in text


def test_run_then_rerun_reuses_everything(suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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

    assert main(["check", str(suite_file), "--baseline", str(csv), "--output", str(out)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err, "the run would rewrite its own baseline"
    copy = tmp_path / "copy"
    shutil.copytree(out / "flags", copy / "flags")
    shutil.copyfile(csv, copy / "results.csv")
    assert main(["check", str(suite_file), "--baseline", str(copy / "results.csv"), "--output", str(out)]) == 0
    assert "check passed" in capsys.readouterr().out

    edited = pd.read_csv(copy / "results.csv")
    worst = edited["attack"] == results.WORST_CASE
    edited.loc[worst, ["robust_acc", "robust_acc_ci_low", "robust_acc_ci_high"]] = 1.0
    edited.to_csv(copy / "results.csv", index=False)
    assert main(["check", str(suite_file), "--baseline", str(copy / "results.csv"), "--output", str(out)]) == 2
    assert "disagrees with its per-sample flags" in capsys.readouterr().err, "an edited baseline is refused"

    better = pd.read_csv(prefix.with_suffix(".csv"))
    better[["robust_acc", "robust_acc_ci_low", "robust_acc_ci_high"]] = 1.0
    baseline = tmp_path / "baseline.csv"
    better.to_csv(baseline, index=False)
    assert main(["check", str(suite_file), "--baseline", str(baseline), "--output", str(out)]) == 1
    text = capsys.readouterr().out
    assert "check FAILED against" in text and "2 failed" in text and "cli/mc L2 eps=0.5" in text
    assert "below the baseline" in text
    assert (
        main(["check", str(suite_file), "--baseline", str(baseline), "--output", str(out), "--tolerance", "1.0"]) == 0
    )


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


def test_leaderboard_to_an_unwritable_folder_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_run(tmp_path / "run")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    assert main(["leaderboard", str(csv), "-o", str(blocker / "demo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not writable" in err[0] and str(blocker) in err[0] and "Traceback" not in err[0]


def test_analyze_passes_repeats_only_when_given(monkeypatch: pytest.MonkeyPatch, suite_file: Path) -> None:
    from robin_bench import analysis

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(analysis, "run", lambda *a, **k: calls.append((a, k)) or [])
    s = str(suite_file)
    assert main(["analyze", "complexity", s, "--repeats", "20"]) == 0
    assert main(["analyze", "complexity", s, "-o", "out"]) == 0
    assert calls == [(("complexity", s, None), {"repeats": 20}), (("complexity", s, "out"), {})]


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


HEAVY = ("torch", "pandas", "scipy", "torchattacks", "art", "pyautoattack", "matplotlib")


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], *([cmd, "--help"] for cmd in ("run", "leaderboard", "check", "analyze"))]
)
def test_parsing_arguments_imports_nothing_heavy(argv: list[str]) -> None:
    """--help answers without torch (seconds of import, 20 s under load): parsing imports only light modules."""
    code = (
        "import sys\nfrom robin_bench import cli\n"
        f"try:\n    cli.main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\nassert not loaded, loaded\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert "robin-bench" in proc.stdout


SUITE_MISTAKES = {
    "unknown key": ("datset: {name: digits}", "unknown key 'datset'; did you mean 'dataset'"),
    "wrong type": ("batch_size: many", "batch_size"),
    "Linf eps in pixels": ("threat_models: [{norm: Linf, eps: [8]}]", "did you mean 8/255?"),
    "YAML syntax": ("models: [{name: mc", "cli.yaml"),
}


@pytest.mark.parametrize("mistake", list(SUITE_MISTAKES))
@pytest.mark.parametrize("command", ["run", "run --dry-run", "check", "analyze"])
def test_a_suite_mistake_is_one_line_before_torch_loads(mistake: str, command: str, tmp_path: Path) -> None:
    """A typo costs no torch import (seconds, 12-25 s under load): keys, types and values are checked first."""
    line, message = SUITE_MISTAKES[mistake]
    key = line.split(":")[0]
    path = tmp_path / "cli.yaml"
    path.write_text("\n".join(_without_key(yaml.safe_dump(SUITE, sort_keys=False), key)) + f"\n{line}\n")
    argv = {
        "run": ["run", str(path)],
        "run --dry-run": ["run", str(path), "--dry-run"],
        "check": ["check", str(path), "--baseline", str(tmp_path / "b.csv")],
        "analyze": ["analyze", "complexity", str(path)],
    }[command]
    code = (
        "import sys\nfrom robin_bench import cli\n"
        f"status = cli.main({argv!r})\nassert status == 2, status\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\nassert not loaded, loaded\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def _without_key(text: str, key: str) -> list[str]:
    """The lines of a block-style YAML mapping without top-level ``key`` and its indented continuation."""
    out, skipping = [], False
    for ln in text.splitlines():
        if not ln.startswith((" ", "-")):
            skipping = ln.startswith(f"{key}:")
        if not skipping:
            out.append(ln)
    return out


def test_the_package_imports_lazily_and_exposes_the_readme_api() -> None:
    code = (
        "import sys\nimport robin_bench as rb\nassert 'torch' not in sys.modules\n"
        "from robin_bench import RobinBenchError, evaluate\n"
        "assert rb.evaluate is evaluate and rb.attacks.PGD.__name__ == 'PGD' and callable(rb.train.train_flat)\n"
        "assert rb.datasets is sys.modules['robin_bench.data'] and issubclass(RobinBenchError, ValueError)\n"
        "assert set(rb.__all__) <= set(dir(rb)) and rb.models is sys.modules['robin_bench.models']\n"
        "try:\n    rb.no_such_name\nexcept AttributeError as e:\n    assert 'no_such_name' in str(e)\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize("command", ["dry-run", "help"])
def test_a_closed_stdout_ends_quietly(command: str, unbuffered: bool, suite_file: Path, tmp_path: Path) -> None:
    """`robin-bench run --dry-run | head -1`: the reader is gone before the output is written; no traceback,
    exit 141 (128 + SIGPIPE) as Unix tools. With PYTHONUNBUFFERED, argparse's help swallows the failed write
    itself and keeps its exit status 0."""
    argv = ["--help"] if command == "help" else ["run", str(suite_file), "--dry-run", "-o", str(tmp_path / "o")]
    env = {k: v for k, v in _env().items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "robin_bench.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the only read end: every write of the child now fails with EPIPE
    err = proc.stderr.read().decode()
    assert err == ""
    assert proc.wait(timeout=300) == (0 if command == "help" and unbuffered else 141)


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "free some space"), (errno.EACCES, "permissions")])
def test_environment_failures_are_one_line_exit_2(
    code: int, words: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from robin_bench.bench import leaderboard

    def fail(*_: object, **__: object) -> None:
        raise OSError(code, os.strerror(code), "/full/disk/demo.csv")

    monkeypatch.setattr(leaderboard, "build", fail)
    assert main(["leaderboard", "r.csv", "-o", "lb"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and os.strerror(code) in err[0] and "/full/disk/demo.csv" in err[0] and words in err[0]


def test_an_unexpected_os_error_is_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only failures of the environment become one line; an I/O error of unknown cause keeps its traceback."""
    from robin_bench.bench import leaderboard

    def fail(*_: object, **__: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(leaderboard, "build", fail)
    with pytest.raises(OSError, match="Input/output error"):
        main(["leaderboard", "r.csv", "-o", "lb"])


def test_a_multi_line_user_error_is_printed_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from robin_bench.bench import leaderboard

    def fail(*_: object, **__: object) -> None:
        raise RobinBenchError("bad suite:\n  models.0.arch: unknown\n")

    monkeypatch.setattr(leaderboard, "build", fail)
    assert main(["leaderboard", "r.csv", "-o", "lb"]) == 2
    assert capsys.readouterr().err == "robin-bench: error: bad suite:; models.0.arch: unknown\n"


def test_threads_flag_reaches_the_runner_and_the_analysis(
    suite_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robin_bench import analysis, threads
    from robin_bench.bench import runner

    given: list[int | None] = []
    calls: list[int] = []

    def record(*_: object, threads: int | None = None, **__: object) -> None:
        given.append(threads)
        raise RobinBenchError("stop")

    monkeypatch.setattr(threads, "set_threads", calls.append)
    monkeypatch.setattr(threads, "default_threads", lambda jobs=1: 5)
    monkeypatch.setattr(runner, "run", record)
    monkeypatch.setattr(analysis, "run", lambda *a, **k: [])
    assert main(["run", str(suite_file), "-o", str(tmp_path / "o"), "--threads", "3"]) == 2
    assert main(["run", str(suite_file), "-o", str(tmp_path / "o")]) == 2
    assert main(["run", str(suite_file), "-o", str(tmp_path / "o"), "--threads", "2", "--jobs", "3"]) == 2
    assert given == [3, None, 2], "--threads is per job; the runner resolves the default from its executor"
    assert main(["analyze", "complexity", str(suite_file), "--threads", "1"]) == 0
    assert main(["analyze", "complexity", str(suite_file)]) == 0
    assert main(["run", str(suite_file), "--dry-run", "-o", str(tmp_path / "o"), "--threads", "2"]) == 0
    assert calls == [1, 5], "analyze sets this process's threads; a dry run computes nothing and sets no threads"
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as e:
            main(["run", "--threads", bad])
        assert e.value.code == 2


def test_the_train_package_imports_lazily() -> None:
    """``robin_bench.train.config`` (the suite schema's ``train:``) loads no torch; every public name resolves."""
    code = (
        "import sys\nimport robin_bench.train as t\nfrom robin_bench.train.config import TrainConfig\n"
        "assert 'torch' not in sys.modules\n"
        "assert all(getattr(t, n) is not None for n in t.__all__) and set(t.__all__) <= set(dir(t))\n"
        "from robin_bench.train import train_flat\nassert callable(train_flat) and t.TrainConfig is TrainConfig\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
