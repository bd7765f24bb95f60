"""A run's cell on a masked model: flags name their samples (rows of the cell's flags file) and the attack that
broke them, and a borderline indicator escalates the survivors, whose attacks join the flags file as ``@full``."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from robin_bench.bench import jobs, results, store
from robin_bench.bench.planner import make_plan
from robin_bench.bench.runner import run
from robin_bench.bench.schema import AttackSpec
from robin_bench.bench.store import RunFolder
from robin_bench.models.kinds import baseline_kind
from tests.attacks import masked_models as mm

from .tiny_suite import write_suite

SUITE = {
    "name": "masking",
    "dataset": {"name": "digits", "n_examples": 40, "n_train": 80, "classes": list(mm.CLASSES)},
    "threat_models": [{"norm": "Linf", "eps": [mm.EPS]}],
    "models": [{"name": "mc", "kind": baseline_kind().name, "arch": "mlp", "train": {"epochs": 1, "batch_size": 16}}],
    "attacks": [{"set": "standard", "kwargs": {"steps": 5, "n_iter": 5, "n_queries": 50, "rays_queries": 100}}],
    "coarse": False,
    "threads": 1,
}


def _smaller_full_budget(entries: list[AttackSpec]) -> list[AttackSpec]:
    """The escalation's full budgets scaled down for a test (the rule is the same)."""
    return [
        spec.model_copy(update={"kwargs": {**spec.kwargs, "n_iter": 20, "n_queries": 200, "rays_queries": 400}})
        for spec in entries
        if spec.set is not None
    ]


def test_masked_cell_names_its_samples_and_escalates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "_full_budget", _smaller_full_budget)
    x, y, _, _ = mm.digits()
    masked = mm.partial_mask("partial_quantized", mm.pgd_flat(x, y), fraction=0.7, seed=0)
    suite = write_suite(tmp_path, SUITE)
    report = run(suite, models={"masked": masked}, log=io.StringIO(), progress=False)
    table = results.read(report.results_csv)
    worst = table[(table["attack"] == results.WORST_CASE) & (table["model"] == "masked")].iloc[0]
    assert "blind_coordinates" in worst["unreliable"] and "samples (flags-file rows):" in worst["unreliable"]
    key = next(k for k in report.computed if "__masked__" in k)
    flags = store.load_flags(Path(suite.output) / store.FLAGS_DIRNAME, key)
    escalated = [name for name in flags.names if name.endswith("@full")]
    assert escalated, "a flagged indicator is borderline: the survivors meet the full budgets"
    assert set(table[table["model"] == "masked"]["attack"]) >= set(escalated)
    robust = pd.Series(flags.robust & flags.clean_correct)
    assert worst["robust_acc"] == pytest.approx(robust.mean())


def test_attack_sets_transfer_from_the_baseline_model_by_default(tmp_path: Path) -> None:
    """A set that takes a surrogate and names none transfers from the suite's baseline-kind model (the undefended
    twin at hand), except on that model itself; a surrogate the suite names is kept."""
    models = [
        {"name": "mc", "kind": baseline_kind().name, "arch": "mlp", "train": {"epochs": 1}},
        {"name": "robin", "kind": "robin", "arch": "mlp", "train": {"epochs": 1}},
    ]
    plan = make_plan(write_suite(tmp_path, SUITE, models=models), RunFolder(tmp_path / "absent"))
    surrogate = {plan.models[c.model].spec.name: [a.kwargs.get("surrogate") for a in c.attacks] for c in plan.cells}
    assert surrogate == {"mc": [None], "robin": ["mc"]}
    assert plan.surrogates(next(c for c in plan.cells if plan.models[c.model].spec.name == "robin"))
    named = [{"set": "standard", "kwargs": {"surrogate": "robin"}}]
    plan = make_plan(write_suite(tmp_path, SUITE, "named", models=models, attacks=named), RunFolder(tmp_path / "b"))
    assert {a.kwargs["surrogate"] for c in plan.cells for a in c.attacks} == {"robin"}
