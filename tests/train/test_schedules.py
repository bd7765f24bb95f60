"""Learning-rate schedules and ROBIN's adversarial warm-up."""

from __future__ import annotations

import math

import pytest

from robin_bench.train import TrainConfig, adversarial_share, learning_rate


@pytest.mark.parametrize(("t", "share"), [(0, 0.0), (5, 0.5), (10, 1.0), (15, 1.0)])
def test_warmup_share_at_start_middle_end(t: int, share: float) -> None:
    assert adversarial_share(t, 10) == pytest.approx(share, abs=1e-12)


def test_warmup_is_monotone_and_off_when_zero() -> None:
    shares = [adversarial_share(t, 8) for t in range(9)]
    assert shares == sorted(shares)
    assert all(adversarial_share(t, 0) == 1.0 for t in range(5))


def test_cosine_step_constant() -> None:
    cos = TrainConfig(lr=0.1, epochs=10, schedule="cosine")
    assert learning_rate(cos, 0) == pytest.approx(0.1)
    assert learning_rate(cos, 5) == pytest.approx(0.05)
    step = TrainConfig(lr=0.1, epochs=10, schedule="step", milestones=(4, 8), gamma=0.1)
    assert [round(learning_rate(step, e), 6) for e in (0, 3, 4, 7, 8, 9)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert learning_rate(TrainConfig(lr=0.3, schedule="constant"), 7) == 0.3


def test_schedule_held_through_the_warmup_then_counted_from_its_end() -> None:
    cos = TrainConfig(lr=0.1, epochs=10, warmup_epochs=4, schedule_start="warmup")
    lrs = [learning_rate(cos, e) for e in range(10)]
    assert lrs[:5] == [0.1] * 5  # held while the adversarial share grows, cosine's first epoch is lr
    assert lrs[4:] == pytest.approx([0.1 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)])
    assert all(adversarial_share(e, 4) == 1.0 for e in range(4, 10))  # decay only on fully adversarial batches
    step = TrainConfig(lr=0.1, epochs=10, warmup_epochs=4, schedule_start="warmup", schedule="step", milestones=(3,))
    assert [round(learning_rate(step, e), 6) for e in (0, 6, 7, 9)] == [0.1, 0.1, 0.01, 0.01]


def test_schedule_start_zero_is_the_plain_schedule_and_full_warmup_holds_throughout() -> None:
    plain, zero = TrainConfig(lr=0.1, epochs=8), TrainConfig(lr=0.1, epochs=8, warmup_epochs=8, schedule_start=0)
    assert [learning_rate(plain, e) for e in range(8)] == [learning_rate(zero, e) for e in range(8)]
    held = TrainConfig(lr=0.1, epochs=8, warmup_epochs=8, schedule_start="warmup")
    assert all(learning_rate(held, e) == 0.1 for e in range(8))
