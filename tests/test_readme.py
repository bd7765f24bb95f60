"""The README's library examples run as written, print sensible figures and (AutoAttack) show progress."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(README), "exec"), {})
    accuracies, coarse, art = out.getvalue().splitlines()
    clean, robust = (float(v) for v in accuracies.split())
    assert 0.5 <= clean <= 1.0 and 0.0 <= robust <= clean
    assert 0.0 <= float(coarse) <= 1.0
    assert art == "10 (100, 10)"


@pytest.mark.slow
def test_readme_autoattack_example_runs_and_shows_its_progress() -> None:
    (block,) = re.findall(r"```py\n(.*?)```", README.read_text(), flags=re.S)
    proc = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=README.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.fullmatch(r"clean \d\.\d\d, robust \d\.\d\d\n", proc.stdout), proc.stdout
    assert "auto-attack: running apgd-ce" in proc.stderr and "robust accuracy after" in proc.stderr
