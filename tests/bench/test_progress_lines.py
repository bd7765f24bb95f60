"""Feedback while a cell works (issue 11): the attack running, the samples still robust and the running robust
accuracy, as plain lines in a log and on the progress bar in a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from robin_bench.bench import runner
from robin_bench.bench.jobs import StatusLines
from robin_bench.bench.runner import run

from .tiny_suite import HIERARCHY, MODELS, write_suite

SUITE = {
    "name": "tiny",
    "dataset": {"name": "digits", "n_examples": 12, "n_train": 80, "classes": [0, 1, 2, 3]},
    "hierarchy": HIERARCHY,
    "threat_models": [{"norm": "Linf", "eps": [0.1]}],
    "models": MODELS[:1],
    "attacks": [{"attack": "fgsm"}, {"attack": "pgd", "kwargs": {"steps": 2}}],
    "batch_size": 5,
}
STATUS = re.compile(r"mc Linf eps=0\.1: (\w+) running \| (\d+)/(\d+) still robust after (\w+), robust acc ([\d.]+)")


def test_log_lines_name_the_attack_and_the_running_robust_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.0)  # every status is due: a line per attack and batch
    log = io.StringIO()
    run(write_suite(tmp_path, SUITE), log=log, progress=False)
    lines = [ln for ln in log.getvalue().splitlines() if ln.startswith("... cell 1/1 mc Linf eps=0.1: ")]
    found = [m for ln in lines if (m := STATUS.search(ln))]
    assert found, f"no status line in:\n{log.getvalue()}"
    for m in found:
        running, robust, judged, after, acc = m.groups()
        assert running != after and {running, after} <= {"fgsm", "pgd"}
        assert int(robust) <= int(judged) <= 12 and float(acc) == pytest.approx(int(robust) / int(judged), abs=5e-4)
    assert any(" | judged 5/12" in ln for ln in lines), "a cell with several batches says how far it got"
    final = [ln for ln in lines if "eps=0.1: attacks done" in ln]
    cell_line = next(ln for ln in log.getvalue().splitlines() if ln.startswith("[1/1] mc Linf eps=0.1: clean "))
    robust_acc = float(cell_line.split(" robust ")[1].split()[0])
    assert final and f"robust acc {robust_acc:.3f}" in final[-1], "the last status agrees with the cell's result"


def test_terminal_bar_shows_the_cell_status(tmp_path: Path) -> None:
    log = io.StringIO()
    run(write_suite(tmp_path, SUITE), log=log, progress=True)
    text = log.getvalue()
    assert STATUS.search(text), "the bar's postfix shows the attack running and the running robust accuracy"
    assert not [ln for ln in text.splitlines() if ln.startswith("... ")], "no plain lines under a bar"


def test_worker_status_lines_come_once_per_interval() -> None:
    now = [0.0]
    out = io.StringIO()
    lines = StatusLines(out, interval=10.0, clock=lambda: now[0])
    for t in range(25):
        now[0] = float(t)
        lines(f"mc Linf eps=0.1: pgd running | {30 - t}/40 still robust after fgsm, robust acc 0.500")
    assert out.getvalue().splitlines() == [
        "... mc Linf eps=0.1: pgd running | 20/40 still robust after fgsm, robust acc 0.500 (10s)",
        "... mc Linf eps=0.1: pgd running | 10/40 still robust after fgsm, robust acc 0.500 (20s)",
    ]


def test_heartbeat_line_carries_the_cell_status_once_per_interval() -> None:
    now = [0.0]
    log = io.StringIO()
    feedback = runner._Feedback(log, progress=False, clock=lambda: now[0])  # no thread started: no real time
    feedback.start_cells(3)
    for t in (1.0, 5.0, 9.9):
        now[0] = t
        feedback.cell_status(f"mc Linf eps=0.1: pgd running | 4/8 still robust after fgsm, robust acc 0.500 ({t})")
    assert log.getvalue() == "", "nothing before 10 s"
    now[0] = 10.0
    feedback.beat()  # what the heartbeat thread does every second
    now[0] = 15.0
    feedback.cell_status("mc Linf eps=0.1: attacks done | 3/8 still robust after pgd, robust acc 0.375")
    now[0] = 20.0
    feedback.beat()
    assert log.getvalue().splitlines() == [
        "... cell 1/3 mc Linf eps=0.1: pgd running | 4/8 still robust after fgsm, robust acc 0.500 (9.9) (10s)",
        "... cell 1/3 mc Linf eps=0.1: attacks done | 3/8 still robust after pgd, robust acc 0.375 (20s)",
    ]
