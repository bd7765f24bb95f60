"""The standard set's worst case is at least as strong as official AutoAttack, per sample, at the same budgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pyautoattack import AutoAttack as OfficialAutoAttack
from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
from torch import Tensor, nn

import robin_bench as rb

N, N_ITER, N_QUERIES = 40, 10, 200


def official_autoattack(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> np.ndarray:
    """(N,) robust flags of pyautoattack's standard version (APGD-CE, APGD-T, FAB-T, Square), budgets cut to
    ``N_ITER`` iterations and ``N_QUERIES`` queries; APGD is rebuilt because it derives its step-size schedule from
    ``n_iter`` in its constructor."""
    aa = OfficialAutoAttack(model, norm="Linf", eps=eps, version="standard", device="cpu", seed=0)
    aa.verbose = False
    common = {
        "n_iter": N_ITER,
        "norm": "Linf",
        "eps": eps,
        "seed": 0,
        "n_restarts": 1,
        "eot_iter": 1,
        "rho": 0.75,
        "device": "cpu",
        "logger": aa.logger,
    }
    aa.apgd = APGDAttack(model, **common)
    aa.apgd_targeted = APGDAttack_targeted(model, n_target_classes=aa.apgd_targeted.n_target_classes, **common)
    aa.fab.n_iter = N_ITER
    aa.square.n_queries = N_QUERIES
    _, y_adv = aa.run_standard_evaluation(x, y, batch_size=len(x))
    return (y_adv == y).numpy()


@pytest.mark.parametrize("eps", [0.05])
def test_standard_set_breaks_every_sample_autoattack_breaks(
    digits_mlp: tuple[nn.Module, Tensor, Tensor], eps: float
) -> None:
    model, x, y = digits_mlp
    x, y = x[:N], y[:N]
    aa_robust = official_autoattack(model, x, y, eps)
    torch.manual_seed(0)
    attacks = rb.standard_attacks(model, norm="Linf", eps=eps, n_iter=N_ITER, n_queries=N_QUERIES, seed=0)
    res = rb.evaluate(model, x, y, attacks, norm="Linf", eps=eps)
    ours = res.robust.numpy()
    clean = res.clean_correct.numpy()
    assert clean[~aa_robust].any() and aa_robust.any(), "the problem must have samples on both sides of eps"
    missed = np.flatnonzero(ours & ~aa_robust)
    assert missed.size == 0, f"samples {missed.tolist()} broken by AutoAttack but called robust by the standard set"
