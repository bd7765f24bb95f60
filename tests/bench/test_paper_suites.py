"""The paper suites of issue 12 load, validate and plan as designed (no training, no attack)."""

import dataclasses
from pathlib import Path

import pytest

import robin_bench.data as datasets
from robin_bench.bench.config import load_suite
from robin_bench.bench.planner import make_plan
from robin_bench.bench.store import RunFolder
from robin_bench.hierarchy import Hierarchy

SUITES = Path(__file__).resolve().parents[2] / "benchmarks" / "suites"
# name -> (architectures, minimum seeds, training objectives, norms with their number of eps, val_fraction)
BOTH, PGD = ("pgd_at", "trades"), ("pgd_at",)
LINF_L2, LINF = {("Linf", 3), ("L2", 2)}, {("Linf", 1)}
DESIGN = {
    "paper_digits": ({"mlp"}, 5, BOTH, LINF_L2, 0.0),
    "paper_digits_shape": ({"mlp"}, 5, PGD, LINF_L2, 0.0),
    "paper_mnist5k": ({"mlp"}, 3, PGD, LINF, 0.1),
    "paper_mnist5k_cnn2": ({"cnn2"}, 3, BOTH, LINF_L2, 0.1),
    "paper_digits_verified": ({"mlp_small"}, 3, PGD, {("Linf", 2)}, 0.0),  # issue 18: every sample verified too
}
# name -> the standard set's cut budgets (none: AutoAttack's full budgets)
BUDGETS = {"paper_mnist5k": {"n_iter": 30, "n_queries": 500}}
RECIPE = {
    "epochs": 40,
    "batch_size": 128,
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "schedule_start": "warmup",
    "warmup_epochs": 20,
    "norm": "Linf",
    "eps": 0.1,
    "steps": 10,
}


def plan_of(name: str, tmp_path: Path):
    return make_plan(load_suite(SUITES / f"{name}.yaml"), RunFolder(tmp_path / "absent"))


@pytest.mark.parametrize("name", sorted(DESIGN))
def test_paper_suite_plans_the_issue_design(name, tmp_path):
    archs, min_seeds, objectives, norms, val_fraction = DESIGN[name]
    plan = plan_of(name, tmp_path)
    suite = plan.suite
    assert suite.seeds is not None and len(suite.seeds) >= min_seeds
    assert {m.arch for m in suite.models} == archs
    assert sorted((m.kind, m.train.config.objective) for m in suite.models) == sorted(
        (k, o) for k in ("flat", "robin", "har") for o in objectives
    )
    assert len(plan.models) == len(suite.models) * len(suite.seeds)
    n_eps = sum(n for _, n in norms)
    assert len(plan.cells) == len(plan.models) * n_eps and all(not c.done for c in plan.cells)
    assert {(t.norm, len(t.eps)) for t in suite.threat_models} == norms
    assert 0.1 in {e for t in suite.threat_models if t.norm == "Linf" for e in t.eps}
    for mp in plan.models.values():
        cfg = mp.train
        assert {k: getattr(cfg, k) for k in RECIPE} == RECIPE, mp.id
        assert cfg.seed == mp.seed and cfg.val_fraction == val_fraction
    assert suite.dataset.n_examples is None and suite.dataset.n_train is None
    assert suite.hierarchy is not None and suite.sanity_check


@pytest.mark.parametrize("name", sorted(DESIGN))
def test_paper_suite_uses_the_standard_set_at_its_stated_budgets(name, tmp_path):
    suite = plan_of(name, tmp_path).suite
    assert [a.set for a in suite.attacks] == ["standard"]
    kwargs = suite.attacks[0].kwargs
    assert {k: kwargs[k] for k in ("n_iter", "n_queries") if k in kwargs} == BUDGETS.get(name, {})
    surrogate = suite.model(kwargs["surrogate"])
    assert surrogate.kind == "flat" and surrogate.train.config.objective == "pgd_at"


def test_digits_suites_attack_the_whole_test_split(tmp_path):
    n_test = len(datasets.load("digits", split="test")[1])
    for name in ("paper_digits", "paper_digits_shape"):
        suite = plan_of(name, tmp_path).suite
        assert suite.dataset.name == "digits" and suite.dataset.split == "test"
        assert suite.dataset.n_examples is None or suite.dataset.n_examples == n_test
    assert len(datasets.load("mnist5k", split="test")[1]) == 1000


def test_criteria_and_hierarchies(tmp_path):
    digits, shape = plan_of("paper_digits", tmp_path), plan_of("paper_digits_shape", tmp_path)
    assert digits.suite.criterion == "fine" and digits.suite.coarse
    assert all(c.coarse_key is not None for c in digits.cells)
    assert digits.suite.get_hierarchy() == Hierarchy({"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]})
    assert shape.suite.criterion == "coarse"
    assert shape.suite.get_hierarchy() == Hierarchy({"loops": [0, 6, 8, 9], "strokes": [1, 4, 7], "curves": [2, 3, 5]})


def test_shape_suite_shares_flat_and_robin_models_with_paper_digits(tmp_path):
    digits, shape = plan_of("paper_digits", tmp_path), plan_of("paper_digits_shape", tmp_path)
    assert shape.models.keys() <= digits.models.keys()
    for mid, mp in shape.models.items():
        same = mp.key == digits.models[mid].key
        assert same == (mp.spec.kind != "har"), mid


def test_advt_suite_is_paper_digits_with_targeted_training_for_flat_and_har(tmp_path):
    digits, advt = plan_of("paper_digits", tmp_path), plan_of("paper_digits_advt", tmp_path)
    assert {(m.kind, m.train.config.objective) for m in advt.suite.models} == {
        ("flat", "pgd_at_targeted"),
        ("har", "pgd_at_targeted"),
    }
    assert advt.suite.seeds == digits.suite.seeds and advt.suite.dataset == digits.suite.dataset
    assert advt.suite.get_hierarchy() == digits.suite.get_hierarchy() and advt.suite.coarse
    pgd = next(m for m in digits.suite.models if m.name == "flat_pgd").train
    for m in advt.suite.models:
        assert dataclasses.replace(m.train.config, objective="pgd_at") == pgd.config
    assert {e for t in advt.suite.threat_models for e in t.eps} == {0.1}
    assert [a.set for a in advt.suite.attacks] == ["standard"] and "n_iter" not in advt.suite.attacks[0].kwargs


def test_verified_suite_verifies_paper_digits_recipe_on_small_components(tmp_path):
    """paper_digits_verified: paper_digits' PGD-AT recipe, data and hierarchy, 16-unit components, and a proof of
    every sample beside the attacks."""
    digits, verified = plan_of("paper_digits", tmp_path), plan_of("paper_digits_verified", tmp_path / "v")
    assert verified.suite.verify is not None and verified.suite.verify.time_limit > 0
    assert verified.suite.dataset == digits.suite.dataset
    assert verified.suite.get_hierarchy() == digits.suite.get_hierarchy()
    pgd = next(m for m in digits.suite.models if m.name == "flat_pgd").train
    assert all(m.train == pgd for m in verified.suite.models)
    assert {e for t in verified.suite.threat_models for e in t.eps} == {0.05, 0.1}
