"""Every registered architecture builds, runs forward/backward on every dataset shape, and normalizes."""

from __future__ import annotations

import pytest
import torch

from robin_bench.errors import RobinBenchError
from robin_bench.models import archs

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


def _batch(name: str) -> int:
    return 2 if name == "resnet50" else 3


@pytest.mark.parametrize("in_shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", archs.names())
def test_forward_backward(name: str, in_shape: tuple[int, int, int]) -> None:
    net = archs.build(name, in_shape=in_shape, n_outputs=7)
    x = torch.rand(_batch(name), *in_shape, requires_grad=True)
    out = net(x)
    assert out.shape == (x.shape[0], 7)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads if g is not None)


@pytest.mark.parametrize("name", archs.names())
def test_single_output_for_robin_arm(name: str) -> None:
    net = archs.build(name, in_shape=(1, 8, 8), n_outputs=1)
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 1)


@pytest.mark.parametrize("name", archs.names())
def test_same_seed_same_init(name: str) -> None:
    torch.manual_seed(3)
    a = archs.build(name, in_shape=(1, 8, 8), n_outputs=3).state_dict()
    torch.manual_seed(3)
    b = archs.build(name, in_shape=(1, 8, 8), n_outputs=3).state_dict()
    torch.manual_seed(4)
    c = archs.build(name, in_shape=(1, 8, 8), n_outputs=3).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", archs.names())
def test_normalization_buffers_in_state_dict_and_applied(name: str) -> None:
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    net = archs.build(name, in_shape=(3, 8, 8), n_outputs=4, mean=mean, std=std).eval()
    state = net.state_dict()
    assert torch.equal(state["normalize.mean"].flatten(), torch.tensor(mean))
    assert torch.equal(state["normalize.std"].flatten(), torch.tensor(std))
    x = torch.rand(2, 3, 8, 8)
    manual = net.net((x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1))
    torch.testing.assert_close(net(x), manual)


def test_identity_normalization_when_not_given() -> None:
    net = archs.build("mlp", in_shape=(1, 8, 8), n_outputs=2)
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(net.normalize(x), x)
    assert "normalize.mean" in net.state_dict()


def test_unknown_name_lists_close_match() -> None:
    with pytest.raises(RobinBenchError, match="resnet18"):
        archs.build("resnet19", in_shape=(3, 32, 32), n_outputs=10)


@pytest.mark.parametrize("in_shape", [(28, 28), (1, 28, 28, 1), (0, 28, 28), (1, 4, 4), (1, 28.0, 28)])
def test_bad_in_shape(in_shape: tuple) -> None:
    with pytest.raises(RobinBenchError, match="in_shape"):
        archs.build("mlp", in_shape=in_shape, n_outputs=10)


@pytest.mark.parametrize("n_outputs", [0, -1, 2.5, True])
def test_bad_n_outputs(n_outputs: object) -> None:
    with pytest.raises(RobinBenchError, match="n_outputs"):
        archs.build("mlp", in_shape=(1, 8, 8), n_outputs=n_outputs)  # type: ignore[arg-type]


def test_bad_normalization() -> None:
    with pytest.raises(RobinBenchError, match="3 input channels"):
        archs.build("mlp", in_shape=(3, 8, 8), n_outputs=2, mean=(0.5,), std=(0.2, 0.2, 0.2))
    with pytest.raises(RobinBenchError, match="std"):
        archs.build("mlp", in_shape=(1, 8, 8), n_outputs=2, mean=(0.5,), std=(0.0,))
    with pytest.raises(RobinBenchError, match="mean 0.5 is not a list"):
        archs.build("mlp", in_shape=(1, 8, 8), n_outputs=2, mean=0.5)  # type: ignore[arg-type]


def test_expected_archs_registered() -> None:
    assert {"mlp", "mlp_small", "cnn2", "myrtle", "resnet10", "resnet18", "resnet50"} <= set(archs.names())
