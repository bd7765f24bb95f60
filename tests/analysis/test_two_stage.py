"""Two-stage classifiers (ROBIN Appendix C): prediction composed of its stages; the three attacks."""

from __future__ import annotations

import pytest
import torch

from robin_bench.analysis.io import write_analysis
from robin_bench.analysis.two_stage import StageAttack, TwoStageClassifier, plot_two_stage, two_stage_robustness
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.har import HARClassifier

from .analysis_models import images, random_linear

H = Hierarchy.from_groups([[0, 2], [1, 3, 4]])


def _model(seed: int = 0, scale: float = 1.0) -> TwoStageClassifier:
    return TwoStageClassifier(
        random_linear(2, seed=seed, scale=scale),
        [random_linear(2, seed=seed + 1, scale=scale), random_linear(3, seed=seed + 2, scale=scale)],
        H,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prediction_equals_its_stages_composed(seed: int) -> None:
    model = _model(seed)
    x = images(50, seed=seed)
    with torch.no_grad():
        gap = model.coarse(x)
        model.coarse.bias[0] += (gap[:, 1] - gap[:, 0]).median()  # half the inputs to each group
        z = model.coarse(x).argmax(1)
        composed = torch.tensor(
            [H.fine_classes(int(zi))[int(model.fine[int(zi)](x[i : i + 1]).argmax(1))] for i, zi in enumerate(z)]
        )
        assert torch.equal(model(x).argmax(1), composed)
        assert set(z.tolist()) == {0, 1}, "the fixture must exercise both groups"


def test_from_har_shares_the_components() -> None:
    har = HARClassifier(random_linear(2), [random_linear(2, seed=1), random_linear(3, seed=2)], H)
    model = TwoStageClassifier.from_har(har)
    assert model.coarse is har.coarse and model.fine[1] is har.fine[1]


def test_first_stage_attack_moves_only_through_the_first_stage() -> None:
    model = _model(3, scale=3.0)
    x = images(40, seed=1)
    y = model(x).argmax(1).detach()
    x_adv = StageAttack(model, stage="first", norm="Linf", eps=0.3, steps=10)(x, y)
    with torch.no_grad():
        moved = model.first_stage(x_adv) != H.coarse_of(y)
        # a changed first-stage choice always means a wrong fine prediction of the composite
        assert bool(moved.any()) and bool((model(x_adv).argmax(1)[moved] != y[moved]).all())


def test_robustness_frame_orders_the_three_attacks(tmp_path) -> None:
    model = _model(5, scale=3.0)
    x = images(30, seed=2)
    y = model(x).argmax(1).detach()
    df = two_stage_robustness(
        model, x, y, norm="Linf", eps=[0.0, 0.05, 0.2], steps=5, baseline=random_linear(5, seed=7)
    )
    assert set(df["attack"]) == {"first", "second", "first_then_second", "pgd (baseline)"}
    ts = df[df.model == "two_stage"].pivot(index="eps", columns="attack", values="robust_acc")
    assert (ts.loc[0.0] == 1.0).all()
    assert (ts["first_then_second"] <= ts[["first", "second"]].min(axis=1) + 1e-12).all()
    assert ts.loc[0.2, "first_then_second"] < 1.0
    csv, png = write_analysis(df, tmp_path, "two_stage", plot_two_stage, title="t")
    assert csv.exists() and png.stat().st_size > 0


def test_bad_arguments_raise() -> None:
    with pytest.raises(RobinBenchError, match="second-stage"):
        TwoStageClassifier(random_linear(2), [random_linear(2)], H)
    with pytest.raises(RobinBenchError, match="stage="):
        StageAttack(_model(), stage="third")
