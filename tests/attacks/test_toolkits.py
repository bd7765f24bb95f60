"""The toolkits' attacks by name (``torchattacks.NAME``, ``art.NAME``): built with the suite's norm and eps, kwargs
checked against the toolkit's signature, outputs inside the threat model."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from robin_bench.attacks import evaluate
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.toolkits import ART_ATTACKS
from robin_bench.cli import main
from robin_bench.errors import RobinBenchError

TOOLKIT = [n for n in ATTACKS.names() if n.startswith(("torchattacks.", "art."))]


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4)).eval()


def data(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 4


def norm_of(name: str) -> str:
    return "L2" if name.endswith("L2") else "Linf"


def test_every_torchattacks_attack_with_a_budget_and_every_applicable_art_attack_is_registered() -> None:
    assert {"torchattacks.PGD", "torchattacks.PGDL2", "torchattacks.APGD", "torchattacks.Square"} <= set(TOOLKIT)
    assert {f"art.{n}" for n in ART_ATTACKS} <= set(TOOLKIT)


@pytest.mark.parametrize("name", TOOLKIT)
def test_built_with_the_suites_norm_and_eps_and_the_toolkits_own_arguments(name: str) -> None:
    cls = ATTACKS.get(name)
    params = list(inspect.signature(cls).parameters)
    assert params[:3] == ["model", "norm", "eps"]
    attack = cls(tiny(), norm=norm_of(name), eps=0.1)
    assert attack.threat.eps == 0.1 and attack.threat.norm == norm_of(name)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("torchattacks.PGD", {"steps": 5}),
        ("torchattacks.APGD", {"steps": 5}),
        ("torchattacks.Square", {"n_queries": 50}),
        ("torchattacks.PGDL2", {"steps": 5}),
        ("art.ProjectedGradientDescent", {"max_iter": 5, "eps_step": 0.05}),
        ("art.HopSkipJump", {"max_iter": 2, "max_eval": 30, "init_eval": 5}),
        ("art.SimBA", {"max_iter": 20}),
        ("art.DeepFool", {"max_iter": 5}),
    ],
)
def test_outputs_stay_in_the_threat_model_and_break_samples(name: str, kwargs: dict[str, object]) -> None:
    model, (x, y) = tiny(), data()
    norm = norm_of(name)
    eps = 0.5 if norm == "Linf" else 3.0
    attack = ATTACKS.get(name)(model, norm=norm, eps=eps, **kwargs)
    result = evaluate(model, x, y, {name: attack}, norm=norm, eps=eps)  # refuses outputs outside the ball
    assert result.robust_acc <= result.clean_acc
    x_adv = attack(x, y)
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    assert bool((size <= eps + 1e-5).all()) and bool(((x_adv >= 0) & (x_adv <= 1)).all())


def test_a_norm_the_attack_does_not_have_is_one_line() -> None:
    with pytest.raises(RobinBenchError, match=r"torchattacks.PGD is an Linf attack, not L2; use an L2 variant"):
        ATTACKS.get("torchattacks.PGD")(tiny(), norm="L2", eps=0.5)
    with pytest.raises(RobinBenchError, match=r"torchattacks.PGDL2 is an L2 attack, not Linf"):
        ATTACKS.get("torchattacks.PGDL2")(tiny(), norm="Linf", eps=0.1)


def test_in_a_suite_kwargs_are_checked_and_rows_are_labelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = {
        "name": "tk",
        "dataset": {"name": "digits", "n_examples": 8, "n_train": 60, "classes": [0, 1, 2]},
        "threat_models": [{"norm": "Linf", "eps": [0.1]}],
        "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1}}],
        "attacks": [{"attack": "torchattacks.PGD", "kwargs": {"stepz": 2}}],
        "sanity_check": False,
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out")]) == 2
    assert "has no argument 'stepz'; did you mean 'steps'" in capsys.readouterr().err
    suite["attacks"] = [{"attack": "torchattacks.PGD", "kwargs": {"steps": 2}}, {"attack": "art.FastGradientMethod"}]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out")]) == 0
    rows = (tmp_path / "out" / "results.csv").read_text()
    assert "torchattacks.PGD" in rows and "art.FastGradientMethod" in rows
