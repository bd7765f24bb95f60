"""build_model: output shapes and component counts of flat, ROBIN and HAR models; spec round trip."""

from __future__ import annotations

import pytest
import torch

import robin_bench as rb
from robin_bench.errors import RobinBenchError
from robin_bench.models.factory import build_from_spec
from robin_bench.models.kinds import KINDS

H = rb.Hierarchy.from_groups([[0, 1, 2, 3], [4, 5], [6]])


@pytest.mark.parametrize("arch", ["mlp", "cnn2"])
def test_shapes_of_the_three_kinds(arch: str) -> None:
    x = torch.rand(5, 1, 28, 28)
    flat = rb.build_model("flat", arch=arch, in_shape=(1, 28, 28), n_classes=7)
    assert flat(x).shape == (5, 7)
    robin = rb.build_model("robin", arch=arch, in_shape=(1, 28, 28), n_classes=7)
    assert isinstance(robin, rb.RobinClassifier) and len(robin.arms) == 7
    assert robin.arms[0](x).shape == (5, 1) and robin(x).shape == (5, 7)
    har = rb.build_model("har", arch=arch, in_shape=(1, 28, 28), n_classes=7, hierarchy=H)
    assert isinstance(har, rb.HARClassifier)
    assert har.coarse(x).shape == (5, 3) and [f(x).shape[1] for f in har.fine] == [4, 2, 1]
    assert torch.allclose(har(x).logsumexp(1), torch.zeros(5), atol=1e-5)


def test_normalization_is_inside_every_component() -> None:
    m = rb.build_model("robin", arch="mlp", in_shape=(1, 8, 8), n_classes=3, mean=(0.5,), std=(0.25,))
    for arm in m.arms:
        assert float(arm.normalize.mean.flatten()[0]) == 0.5 and float(arm.normalize.std.flatten()[0]) == 0.25


def test_spec_round_trip_builds_the_same_structure() -> None:
    spec = rb.model_spec("har", arch="mlp", in_shape=(1, 8, 8), n_classes=7, hierarchy=H, mean=(0.3,), std=(0.4,))
    a = build_from_spec(spec)
    b = rb.build_model("har", arch="mlp", in_shape=(1, 8, 8), n_classes=7, hierarchy=H, mean=(0.3,), std=(0.4,))
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"kind": "robn"}, "did you mean 'robin'"),
        ({"kind": "har"}, "needs hierarchy"),
        ({"kind": "har", "hierarchy": H, "n_classes": 10}, "7 fine classes but n_classes=10"),
        ({"kind": "flat", "n_classes": 1}, "n_classes=1"),
        ({"kind": "flat", "arch": "resnet19"}, "resnet19"),
    ],
)
def test_mistakes_are_named(kwargs: dict, pattern: str) -> None:
    args = {"arch": "mlp", "in_shape": (1, 8, 8), "n_classes": 7, **kwargs}
    kind = args.pop("kind")
    with pytest.raises(RobinBenchError, match=pattern):
        rb.build_model(kind, **args)


def test_spec_with_unknown_key_is_named() -> None:
    spec = {**rb.model_spec("flat", arch="mlp", in_shape=(1, 8, 8), n_classes=3), "depth": 3}
    with pytest.raises(RobinBenchError, match="'depth' in x.json"):
        build_from_spec(spec, source="x.json")


@pytest.mark.parametrize("kind", KINDS.names())
def test_every_kind_splits_into_parts_that_cover_the_model(kind: str) -> None:
    k = KINDS.get(kind)
    hierarchy = H if k.needs_hierarchy else None
    model = rb.build_model(kind, arch="mlp", in_shape=(1, 8, 8), n_classes=7, hierarchy=hierarchy)
    parts = k.parts(model)
    owned = [id(p) for name in parts for p in k.part(model, name).parameters()]
    assert len(owned) == len(set(owned)), "parts do not share parameters"
    assert set(owned) == {id(p) for p in model.parameters()}, "the parts hold every parameter of the model"
    with pytest.raises(RobinBenchError, match="has no component"):
        k.part(model, "nonsense")
    out = model(torch.rand(2, 1, 8, 8))
    assert out.shape == (2, 7)
    if k.output == "log_probs":
        assert torch.allclose(out.logsumexp(1), torch.zeros(2), atol=1e-5)


def test_an_unknown_kind_gets_close_matches() -> None:
    with pytest.raises(RobinBenchError, match="unknown model kind 'robn'; did you mean 'robin'"):
        rb.build_model("robn", arch="mlp", in_shape=(1, 8, 8), n_classes=3)
