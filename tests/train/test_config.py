"""TrainConfig: validation of every field and the dict round trip."""

from __future__ import annotations

import pytest

from robin_bench.errors import RobinBenchError
from robin_bench.train import TrainConfig


def test_dict_round_trip_is_identity() -> None:
    cfg = TrainConfig(epochs=3, schedule="step", milestones=(1, 2), objective="trades", norm="L2", eps=0.5)
    d = cfg.to_dict()
    assert d["milestones"] == [1, 2]
    assert TrainConfig.from_dict(d) == cfg


def test_unknown_key_names_key_and_source() -> None:
    with pytest.raises(RobinBenchError, match=r"'epoch'.*suite.yaml.*did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3}, source="suite.yaml:train")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"epochs": 0}, "epochs=0"),
        ({"batch_size": 1}, "batch_size=1"),
        ({"lr": 0.0}, "lr=0.0"),
        ({"momentum": 1.0}, "momentum"),
        ({"objective": "pgd"}, "did you mean 'pgd_at'"),
        ({"schedule": "cos"}, "schedule='cos'"),
        ({"norm": "L1"}, "norm='L1'"),
        ({"eps": 8.0}, "8.0/255"),
        ({"milestones": (5, 2), "schedule": "step"}, "ascending"),
        ({"milestones": (5,)}, "only to schedule='step'"),
        ({"alpha": -1.0}, "alpha"),
        ({"augment": 1}, "augment"),
        ({"steps": True}, "steps"),
        ({"schedule_start": 11}, r"schedule_start=11; expected an epoch in 0..epochs=10 or 'warmup'"),
        ({"schedule_start": "warm"}, "schedule_start='warm'"),
        ({"val_fraction": 1.0}, r"val_fraction=1.0; expected a number in \[0, 1\)"),
        ({"val_eps": -0.1}, "val_eps=-0.1"),
        ({"val_steps": 0}, "val_steps=0"),
    ],
)
def test_bad_values_are_named(kwargs: dict, pattern: str) -> None:
    with pytest.raises(RobinBenchError, match=pattern):
        TrainConfig(**kwargs)


def test_step_size_defaults_to_madry_rule() -> None:
    assert TrainConfig(eps=0.3, steps=10).step_size == pytest.approx(0.075)
    assert TrainConfig(eps=0.3, steps=10, alpha=0.01).step_size == 0.01


def test_decay_start_resolves_warmup_and_validation_eps_defaults_to_eps() -> None:
    assert TrainConfig(epochs=10, warmup_epochs=4, schedule_start="warmup").decay_start == 4
    assert TrainConfig(epochs=10, warmup_epochs=40, schedule_start="warmup").decay_start == 10
    assert TrainConfig(epochs=10, warmup_epochs=4, schedule_start=2).decay_start == 2
    assert TrainConfig(eps=0.2).validation_eps == 0.2 and TrainConfig(eps=0.2, val_eps=0.1).validation_eps == 0.1
    cfg = TrainConfig(schedule_start="warmup", val_fraction=0.1, val_eps=0.05, val_steps=3)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
