"""benchmarks/perf/gpu_check.sh stays runnable while no GPU is lent: its syntax, its usage line, and (slow) its
CPU dry run end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "perf" / "gpu_check.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(BASH), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def test_the_gpu_check_parses_and_is_executable() -> None:
    proc = _run("-n", str(SCRIPT))
    assert proc.returncode == 0, proc.stderr
    assert os.access(SCRIPT, os.X_OK)
    for script in ("gpu_agreement.py", "gpu_throughput.py"):
        assert f"benchmarks/perf/{script}" in SCRIPT.read_text() and (SCRIPT.parent / script).is_file()


def test_an_unknown_argument_is_a_usage_error() -> None:
    proc = _run(str(SCRIPT), "--bogus")
    assert proc.returncode == 2 and "usage:" in proc.stderr


@pytest.mark.slow
def test_the_dry_run_runs_every_step_on_the_cpu() -> None:
    proc = _run(str(SCRIPT), "--dry-run", timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for heading in ("== device tests on cpu", "== CPU against cpu", "== throughput on cpu", "== done"):
        assert heading in proc.stdout
    assert "| FAIL |" not in proc.stdout and "| AutoAttack standard |" in proc.stdout
