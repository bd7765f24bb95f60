"""The six ROBIN strategies across eps (ROBIN Table 3): worst case below each strategy, eps 0 is clean."""

from __future__ import annotations

import pytest

from robin_bench.analysis.attack_sweep import WORST, attack_sweep, plot_attack_sweep
from robin_bench.analysis.io import write_analysis
from robin_bench.attacks.robin import STRATEGIES
from robin_bench.errors import RobinBenchError
from robin_bench.models.robin import RobinClassifier

from .analysis_models import images, random_linear


def test_sweep_has_every_strategy_and_a_worst_case_below_each(tmp_path) -> None:
    robin = RobinClassifier([random_linear(1, seed=s, scale=3.0) for s in range(3)])
    x = images(24, seed=3)
    y = robin(x).argmax(1).detach()
    df = attack_sweep(robin, x, y, norm="Linf", eps=[0.0, 0.05, 0.15], steps=5, baseline=random_linear(3))
    rob = df[df.model == "robin"].pivot(index="eps", columns="attack", values="robust_acc")
    assert set(rob.columns) == {*STRATEGIES, WORST}
    assert (rob.loc[0.0] == 1.0).all()
    assert (rob[WORST] <= rob[list(STRATEGIES)].min(axis=1) + 1e-12).all()
    assert (rob.diff().dropna() <= 1e-12).all().all(), "robust accuracy must not grow with eps here"
    assert rob.loc[0.15, WORST] < 1.0
    assert (df["attack"] == "pgd (baseline)").sum() == 3
    csv, png = write_analysis(df, tmp_path, "attack_sweep", plot_attack_sweep, title="t")
    assert csv.exists() and png.stat().st_size > 0


def test_empty_strategies_raise() -> None:
    robin = RobinClassifier([random_linear(1, seed=s) for s in range(2)])
    with pytest.raises(RobinBenchError, match="strategies"):
        attack_sweep(robin, images(2), robin(images(2)).argmax(1), norm="Linf", eps=[0.1], strategies=())
