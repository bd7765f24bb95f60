"""Gradient coherence (ROBIN Equation 1): known values on constructed arms and ensembles."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch

from robin_bench.analysis.coherence import (
    arm_gradients,
    coherence,
    gradient_coherence,
    plot_coherence,
    summarize_coherence,
)
from robin_bench.analysis.io import write_analysis
from robin_bench.errors import RobinBenchError
from robin_bench.models.robin import RobinClassifier

from .analysis_models import Linear, images, random_linear


def _arm(w: torch.Tensor, b: float) -> Linear:
    return Linear(w[None, :], torch.tensor([b]))


def test_identical_gradients_have_coherence_one() -> None:
    g = torch.randn(5, 1, 16).expand(5, 4, 16)
    assert torch.allclose(coherence(g, torch.tensor([0, 1, 2, 3, 0])), torch.ones(5))
    assert torch.allclose(coherence(g), torch.ones(5))


def test_orthogonal_gradients_have_coherence_zero_and_anchor_is_excluded() -> None:
    eye = torch.eye(3)[None].expand(2, 3, 3)
    assert torch.allclose(coherence(eye, torch.tensor([0, 2])), torch.zeros(2))
    g = torch.stack([torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0]), torch.tensor([0.6, 0.8])])[None]
    # anchor 0: CS with 1 is -1, with 2 is 0.6 -> 0.6; anchor 1: -1 and -0.6 -> -0.6
    assert torch.allclose(coherence(g, torch.tensor([0])), torch.tensor([0.6]))
    assert torch.allclose(coherence(g, torch.tensor([1])), torch.tensor([-0.6]))
    assert torch.allclose(coherence(g), torch.tensor([0.6]))


def test_identical_arms_have_logit_coherence_one_and_loss_coherence_minus_one() -> None:
    w = torch.randn(16)
    robin = RobinClassifier([_arm(w, 0.1) for _ in range(4)])
    x, y = images(6), torch.tensor([0, 1, 2, 3, 0, 1])
    logit = coherence(arm_gradients(robin, x, y, gradient="logit"), y)
    loss = coherence(arm_gradients(robin, x, y, gradient="loss"), y)
    assert torch.allclose(logit, torch.ones(6), atol=1e-6)
    # the true arm's loss has label 1, the others label 0: fooling one arm strengthens the others
    assert torch.allclose(loss, -torch.ones(6), atol=1e-6)


def test_mirrored_arms_have_identical_losses_hence_loss_coherence_one() -> None:
    w = torch.randn(16)
    robin = RobinClassifier([_arm(w, 0.2), _arm(-w, -0.2), _arm(-w, -0.2)])
    x, y = images(5), torch.zeros(5, dtype=torch.long)
    assert torch.allclose(coherence(arm_gradients(robin, x, y), y), torch.ones(5), atol=1e-6)


def test_gradient_coherence_of_copies_is_one_for_the_ensemble_and_frame_is_complete(tmp_path) -> None:
    mc = random_linear(3)
    ensemble = [copy.deepcopy(mc) for _ in range(5)]
    robin = RobinClassifier([random_linear(1, seed=s) for s in range(3)])
    x, y = images(7), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    df = gradient_coherence(robin, ensemble, x, y, batch_size=3)
    assert list(df.columns) == ["sample", "label", "model", "coherence"]
    assert len(df) == 14 and set(df["model"]) == {"robin", "ensemble"}
    ens = df[df.model == "ensemble"]["coherence"]
    assert ens.to_numpy() == pytest.approx(1.0, abs=1e-6)
    rob = df[df.model == "robin"]["coherence"]
    assert ((rob >= -1 - 1e-6) & (rob <= 1 + 1e-6)).all()
    summary = summarize_coherence(df)
    assert list(summary["model"]) == ["robin", "ensemble"]
    assert summary.loc[summary.model == "ensemble", "q50"].item() == pytest.approx(1.0, abs=1e-6)
    csv, png = write_analysis(df, tmp_path, "coherence", plot_coherence, title="t")
    assert pd.read_csv(csv).shape == df.shape and png.stat().st_size > 0


def test_bad_inputs_raise() -> None:
    robin = RobinClassifier([random_linear(1, seed=s) for s in range(3)])
    with pytest.raises(RobinBenchError, match="at least 2"):
        gradient_coherence(robin, [random_linear(3)], images(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(RobinBenchError, match="m >= 2"):
        coherence(torch.randn(2, 1, 4))
    with pytest.raises(RobinBenchError, match="gradient="):
        arm_gradients(robin, images(2), torch.zeros(2, dtype=torch.long), gradient="grad")  # type: ignore[arg-type]


def test_zero_gradient_counts_as_orthogonal() -> None:
    g = torch.zeros(1, 3, 4)
    g[0, 1, 0] = 1.0
    assert coherence(g, torch.tensor([0])).item() == 0.0
