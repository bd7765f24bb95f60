"""VectorizedRobin runs the same function as RobinClassifier's per-arm loop: outputs, gradients, attacks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.robin import RobinAttack
from robin_bench.errors import RobinBenchError
from robin_bench.models import RobinClassifier, archs
from robin_bench.models.vectorized import (
    VectorizedRobin,
    architecture_mismatch,
    choose_arm_execution,
    time_forward_backward,
)

SHAPES = {"mlp": (1, 8, 8), "cnn2": (1, 8, 8), "resnet10": (3, 8, 8)}


def _robin(arch: str, k: int = 4) -> RobinClassifier:
    robin = RobinClassifier([archs.build(arch, in_shape=SHAPES[arch], n_outputs=1) for _ in range(k)])
    for m in robin.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return robin.eval()


def _x(arch: str, n: int = 6) -> torch.Tensor:
    return torch.rand(n, *SHAPES[arch])


@pytest.mark.parametrize("arch", ["mlp", "cnn2", "resnet10"])
def test_forward_and_input_gradient_match_the_loop(arch: str) -> None:
    robin = _robin(arch)
    fused = VectorizedRobin.from_robin(robin)
    x = _x(arch)
    xl, xv = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_loop, out_vmap = robin(xl), fused(xv)
    torch.testing.assert_close(out_vmap, out_loop, rtol=1e-5, atol=1e-6)
    w = torch.randn_like(out_loop)
    (g_loop,) = torch.autograd.grad((w * out_loop).sum(), xl)
    (g_vmap,) = torch.autograd.grad((w * out_vmap).sum(), xv)
    assert g_loop.abs().sum() > 0
    torch.testing.assert_close(g_vmap, g_loop, rtol=1e-5, atol=1e-6)


def test_parameter_gradients_match_in_train_mode_without_batchnorm() -> None:
    robin = _robin("cnn2").train()
    fused = VectorizedRobin.from_robin(robin)
    assert fused.training
    x, y = _x("cnn2"), torch.randint(0, 4, (6,))
    nn.functional.cross_entropy(robin(x), y).backward()
    nn.functional.cross_entropy(fused(x), y).backward()
    for name, p in robin.arms[2].named_parameters():
        stacked = getattr(fused, name.replace(".", "/"))
        assert stacked.grad is not None and p.grad is not None
        torch.testing.assert_close(stacked.grad[2], p.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["mlp", "cnn2"])
def test_attacks_find_the_same_adversarial_examples(arch: str) -> None:
    robin = _robin(arch)
    fused = VectorizedRobin.from_robin(robin)
    x = _x(arch, 8)
    with torch.no_grad():
        y = robin(x).argmax(1)
    for make in (
        lambda m: PGD(m, norm="L2", eps=1.0, steps=5, random_start=False),
        lambda m: RobinAttack(m, strategy="top2", norm="L2", eps=1.0, steps=5),
    ):
        adv_loop, adv_vmap = make(robin)(x, y), make(fused)(x, y)
        assert (adv_loop - x).abs().amax() > 0
        torch.testing.assert_close(adv_vmap, adv_loop, rtol=1e-5, atol=1e-5)


def test_batchnorm_arms_refuse_train_mode() -> None:
    fused = VectorizedRobin.from_robin(_robin("resnet10", k=2))
    with pytest.raises(RobinBenchError, match="BatchNorm.*train mode"):
        fused.train()(_x("resnet10", 2))


@pytest.mark.parametrize("arch", ["mlp", "resnet10"])
def test_to_robin_round_trip_keeps_weights_buffers_and_mode(arch: str) -> None:
    robin = _robin(arch, k=3)
    back = VectorizedRobin.from_robin(robin).to_robin()
    assert isinstance(back, RobinClassifier) and not back.training
    for a, b in zip(robin.state_dict().items(), back.state_dict().items(), strict=True):
        assert a[0] == b[0] and torch.equal(a[1], b[1])


def test_mismatched_arms_cannot_be_vectorized() -> None:
    arms = [archs.build("mlp", in_shape=(1, 8, 8), n_outputs=1), archs.build("cnn2", in_shape=(1, 8, 8), n_outputs=1)]
    robin = RobinClassifier(arms)
    assert architecture_mismatch(arms) == "arm 1 has a different module structure from arm 0"
    with pytest.raises(RobinBenchError, match="cannot vectorize ROBIN arms: arm 1"):
        VectorizedRobin.from_robin(robin)
    assert choose_arm_execution(robin, _x("mlp")) == "loop"


def test_arms_with_wrong_output_width_are_rejected() -> None:
    fused = VectorizedRobin([archs.build("mlp", in_shape=(1, 8, 8), n_outputs=2) for _ in range(2)])
    with pytest.raises(RobinBenchError, match=r"must return \(N, 1\) logits"):
        fused(_x("mlp"))


def test_choose_arm_execution_times_both_and_keeps_the_mode() -> None:
    robin = _robin("mlp").train()
    assert choose_arm_execution(robin, _x("mlp"), repeats=1, warmup=0) in ("loop", "vmap")
    assert robin.training
    assert time_forward_backward(robin, _x("mlp"), repeats=2, warmup=1) > 0
    with pytest.raises(RobinBenchError, match="repeats >= 1"):
        time_forward_backward(robin, _x("mlp"), repeats=0)


@pytest.mark.parametrize(("vmap_faster", "expected"), [(True, "vmap"), (False, "loop")])
def test_choose_arm_execution_follows_the_measurement(
    monkeypatch: pytest.MonkeyPatch, vmap_faster: bool, expected: str
) -> None:
    """The choice is the faster of the two timings, whichever it is (not a fixed preference)."""
    import robin_bench.models.vectorized as vectorized

    timed: list[type] = []

    def fake_timing(model: nn.Module, x: torch.Tensor, *, repeats: int, warmup: int) -> float:
        timed.append(type(model))
        return 1.0 if isinstance(model, VectorizedRobin) == vmap_faster else 2.0

    monkeypatch.setattr(vectorized, "time_forward_backward", fake_timing)
    assert choose_arm_execution(_robin("mlp"), _x("mlp")) == expected
    assert sorted(t.__name__ for t in timed) == ["RobinClassifier", "VectorizedRobin"]
