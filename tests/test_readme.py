"""The README's library example runs as written and prints sensible figures."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

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
