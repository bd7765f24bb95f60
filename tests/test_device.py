"""The library on the device ``--device`` names (cpu by default; ``benchmarks/perf/gpu_check.sh`` passes cuda):
models, every attack family of the standard set through ``rb.evaluate``, training and the ART estimator keep
their tensors on that device and give what they give on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import robin_bench as rb

pytestmark = pytest.mark.device

SHAPE = (1, 8, 8)
HIERARCHY = rb.Hierarchy.from_groups([[0, 1], [2, 3]])
KINDS = ["flat", "robin", "har"]


def model_of(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return rb.build_model(
        kind, arch="mlp", in_shape=SHAPE, n_classes=4, **({"hierarchy": HIERARCHY} if kind == "har" else {})
    ).eval()


def data(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(1))
    return x, torch.arange(n) % 4


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_on_the_device_computes_what_it_computes_on_the_cpu(kind: str, device: torch.device) -> None:
    model = model_of(kind)
    x, _ = data()
    with torch.no_grad():
        expected = model(x)
        out = model.to(device)(x.to(device))
    assert out.device.type == device.type
    torch.testing.assert_close(out.cpu(), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_the_standard_attack_set_runs_on_the_device(kind: str, device: torch.device) -> None:
    model = model_of(kind).to(device)
    x, _ = data()
    x = x.to(device)
    with torch.no_grad():
        y = model(x).argmax(1)
    criterion = "coarse" if kind == "har" else "fine"
    attacks = rb.standard_attacks(
        model,
        norm="Linf",
        eps=0.3,
        hierarchy=HIERARCHY if kind == "har" else None,
        criterion=criterion,
        steps=3,
        n_iter=3,
        n_queries=20,
    )
    result = rb.evaluate(model, x, y, attacks, criterion=criterion, hierarchy=HIERARCHY)
    assert result.clean_acc == 1.0 and 0.0 <= result.robust_acc <= 1.0
    assert result.robust_acc < 1.0, "eps 0.3 on an untrained model breaks something"


def test_training_on_the_device_keeps_the_model_there(device: torch.device) -> None:
    x, y = data(32)
    model = model_of("flat").to(device)
    cfg = rb.train.TrainConfig(epochs=2, batch_size=8, objective="pgd_at", eps=0.1, steps=2, progress=False)
    report = rb.train.train_flat(model, x.to(device), y.to(device), cfg)
    assert all(p.device.type == device.type for p in model.parameters())
    assert np.isfinite(report.history[-1]["loss"])


def test_the_art_estimator_predicts_and_differentiates_on_the_device(device: torch.device) -> None:
    model = model_of("robin").to(device)
    x, y = data()
    clf = rb.estimators.to_art(model, input_shape=SHAPE, device_type="gpu" if device.type == "cuda" else "cpu")
    assert clf.predict(x.numpy()).shape == (8, 4)
    grad = clf.loss_gradient(x.numpy(), y.numpy())
    assert grad.shape == x.shape and np.isfinite(grad).all()
