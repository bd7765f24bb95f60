"""Plain progress lines without a terminal: at least one per interval of work, one at the end."""

from __future__ import annotations

import io
import re
import sys

import pytest
from torch import nn

from robin_bench.train import ProgressLog, TrainConfig, train_robin
from tests.train.helpers import labelled_pixels


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_once_the_interval_has_passed_and_one_at_the_end() -> None:
    clock, stream = FakeClock(), io.StringIO()
    log = ProgressLog("arm 3", 40, stream, interval=10.0, clock=clock)
    printed = []
    for step in range(1, 31):  # 30 batches of 1.5 s each
        clock.now += 1.5
        printed.append(log.update(step // 11, step % 11 + 1, 11, {"loss": 0.5, "acc": 0.75}))
    log.finish({"loss": 0.25, "acc": 0.875})
    lines = stream.getvalue().splitlines()
    assert [i + 1 for i, p in enumerate(printed) if p] == [7, 14, 21, 28]  # 10.5 s after the previous line
    assert len(lines) == 5
    assert lines[0] == "arm 3: epoch 1/40 batch 8/11 loss 0.500 acc 0.750 (10.5s)"
    assert lines[-1] == "arm 3: done, 40 epochs loss 0.250 acc 0.875 (45.0s)"


def test_robin_training_prints_a_line_per_interval_and_per_arm_when_redirected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr("robin_bench.train.trainer.LOG_INTERVAL_S", 0.0)  # a line after every batch
    x, y = labelled_pixels(128, 3)
    arms = [nn.Sequential(nn.Flatten(), nn.Linear(64, 1)) for _ in range(3)]
    train_robin(arms, x, y, TrainConfig(epochs=2, batch_size=32, objective="pgd_at", eps=0.05, steps=1))
    lines = stream.getvalue().splitlines()
    done = [ln for ln in lines if "done" in ln]
    assert [ln.split(":")[0] for ln in done] == ["arm 0", "arm 1", "arm 2"]
    assert all(re.search(r"loss \d\.\d{3} acc \d\.\d{3}", ln) for ln in lines)
    assert len(lines) == 3 * (2 * 4 + 1)  # 2 epochs of 4 batches, then the final line, per arm
