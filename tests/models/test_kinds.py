"""The model-kind registry is the one place that knows kinds: no consumer asks isinstance or compares with "flat"."""

from __future__ import annotations

import re
from pathlib import Path

import torch

import robin_bench as rb
from robin_bench.models.kinds import KINDS, baseline_kind, is_baseline, kind_of

PACKAGE = Path(rb.__file__).parent
H = rb.Hierarchy.from_groups([[0, 1], [2, 3]])
KIND_CLASS = re.compile(r"isinstance\([^)]*\b(RobinClassifier|HARClassifier|VectorizedRobin)\b")
FLAT_LITERAL = re.compile(r"""(==|!=)\s*["']flat["']|["']flat["']\s*(==|!=|:)|build_model\(\s*["']flat["']""")


def sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))]


def test_no_isinstance_on_a_kinds_model_class_outside_models() -> None:
    found = [
        f"{p.relative_to(PACKAGE)}:{text[: m.start()].count(chr(10)) + 1}"
        for p, text in sources()
        if p.parent.name != "models"
        for m in KIND_CLASS.finditer(text)
    ]
    assert found == [], f"ask robin_bench.models.kinds.kind_of(model) instead: {found}"


def test_no_kind_dispatch_on_the_flat_literal_outside_the_registry() -> None:
    found = [
        f"{p.relative_to(PACKAGE)}:{text[: m.start()].count(chr(10)) + 1}"
        for p, text in sources()
        if p.name != "kinds.py"
        for m in FLAT_LITERAL.finditer(text)
    ]
    assert found == [], f"ask is_baseline(kind) / baseline_kind() instead: {found}"


def test_the_scans_catch_what_they_look_for() -> None:
    assert KIND_CLASS.search("if isinstance(model, (RobinClassifier, HARClassifier)):")
    assert FLAT_LITERAL.search('g[g["kind"] == "flat"]') and FLAT_LITERAL.search('{"flat": 2}')


def test_kind_of_every_built_model_is_its_kind() -> None:
    for name in ("flat", "robin", "har"):
        model = rb.build_model(name, arch="mlp", in_shape=(1, 8, 8), n_classes=4, hierarchy=H)
        assert kind_of(model).name == name
    fast = rb.models.VectorizedRobin.from_robin(rb.build_model("robin", arch="mlp", in_shape=(1, 8, 8), n_classes=4))
    assert kind_of(fast).name == "robin"
    assert kind_of(torch.nn.Linear(3, 3)).name == baseline_kind().name == "flat"


def test_an_unknown_kind_is_data_not_the_baseline() -> None:
    assert is_baseline("flat") and not is_baseline("robin") and not is_baseline("not_installed") and not is_baseline(3)


def test_every_kind_answers_every_consumer() -> None:
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6) % 4
    common = {"norm": "Linf", "eps": 0.1, "seed": 0, "criterion": None}
    for name in KINDS.names():
        kind = KINDS.get(name)
        model = kind.build(
            lambda n: rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=n), 4, H if kind.needs_hierarchy else None
        )
        assert [kind.part(model, p) is not None for p in kind.parts(model)]
        assert kind.attacks_of_papers(model, common, 2)
        assert sum(len(j[1]) > 0 for j in kind.fit_jobs(model, x, y, False)) >= 1
        assert all(isinstance(m, torch.nn.Module) for _, m, _ in kind.heads(model))
        assert kind.fast(model, "loop", x) is model
