"""Validation on held-out training data: the stratified split, per-epoch history, every kind of job."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.errors import RobinBenchError
from robin_bench.train import TrainConfig, TrainReport, holdout, train_flat, train_har, train_robin
from robin_bench.train.validation import validation_accuracy
from tests.train.helpers import Recorder, labelled_pixels

Digits = tuple[Tensor, Tensor, Tensor, Tensor]
CFG = TrainConfig(
    epochs=3,
    batch_size=32,
    lr=0.05,
    objective="pgd_at",
    eps=0.05,
    steps=2,
    val_fraction=0.2,
    val_steps=3,
    progress=False,
)


def test_holdout_is_disjoint_complete_stratified_and_seeded() -> None:
    _, y = labelled_pixels(500, 6)
    train_idx, val_idx = holdout(y, 0.2, seed=7)
    assert set(train_idx.tolist()).isdisjoint(val_idx.tolist())
    assert sorted(train_idx.tolist() + val_idx.tolist()) == list(range(500))
    for c in range(6):
        n_c = int((y == c).sum())
        assert int((y[val_idx] == c).sum()) == round(0.2 * n_c)
    again = holdout(y, 0.2, seed=7)
    other = holdout(y, 0.2, seed=8)
    assert torch.equal(again[1], val_idx) and not torch.equal(other[1], val_idx)


def test_holdout_keeps_a_training_sample_per_class_and_names_an_empty_split() -> None:
    y = torch.tensor([0, 0, 1, 1, 1, 1])
    train_idx, val_idx = holdout(y, 0.9, seed=0)
    assert set(y[train_idx].tolist()) == {0, 1} and len(val_idx) == 1 + 3
    with pytest.raises(RobinBenchError, match="val_fraction=0.01 holds out no sample of 6"):
        holdout(y, 0.01, seed=0)


def test_flat_trains_only_on_the_kept_part_and_logs_one_entry_per_epoch() -> None:
    x, y = labelled_pixels(300, 6)
    net = Recorder(6)
    report = train_flat(net, x, y, CFG)
    train_idx, val_idx = holdout(y, 0.2, rb.train.trainer.derive_seed(0, "validation"))
    seen = torch.cat(net.seen)  # labels of the training-mode inputs: only kept samples' labels appear
    assert report.images[0] == 32 * (len(train_idx) // 32) and report.val_size == len(val_idx)
    assert len(seen) == 3 * report.images[0]
    history = report.history
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert set(history[0]) == {
        "epoch",
        "loss",
        "train_acc",
        "train_adv_acc",
        "val_clean_acc",
        "val_robust_acc",
        "lr",
        "adv_share",
        "seconds",
    }
    assert all(0 <= h["val_robust_acc"] <= h["val_clean_acc"] <= 1 for h in history)
    assert TrainReport.from_dict(report.to_dict()) == report


def test_validation_is_on_held_out_samples_only(mlp: Callable[..., nn.Module], digits: Digits) -> None:
    x, y, _, _ = digits
    x, y = x[:400], y[:400]
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, val_fraction=0.25, val_eps=0.0, progress=False)
    net = mlp(10)
    report = train_flat(net, x, y, cfg)
    _, val_idx = holdout(y, 0.25, rb.train.trainer.derive_seed(0, "validation"))
    clean, robust = validation_accuracy(net, x[val_idx], y[val_idx], norm="Linf", eps=0.0, steps=1)
    assert report.val_clean_acc[-1] == pytest.approx(clean) and robust == clean


def test_same_seed_same_history_and_weights(mlp: Callable[..., nn.Module]) -> None:
    x, y = labelled_pixels(300, 6)
    a, b, c = mlp(6), mlp(6), mlp(6)
    ra, rb_, rc = (
        train_flat(a, x, y, CFG),
        train_flat(b, x, y, CFG),
        train_flat(c, x, y, CFG.__class__(**{**CFG.to_dict(), "seed": 1})),
    )
    drop = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in drop} for h in ra.history] == [
        {k: v for k, v in h.items() if k not in drop} for h in rb_.history
    ]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert ra.val_clean_acc != rc.val_clean_acc or ra.loss != rc.loss


def test_validation_off_gives_nan_and_the_same_training_as_before(mlp: Callable[..., nn.Module]) -> None:
    x, y = labelled_pixels(200, 6)
    report = train_flat(mlp(6), x, y, TrainConfig(epochs=2, batch_size=32, progress=False))
    assert report.val_size == 0 and all(math.isnan(v) for v in report.val_clean_acc + report.val_robust_acc)


def test_robin_arms_validate_balanced_on_the_same_held_out_samples(mlp: Callable[..., nn.Module]) -> None:
    x, y = labelled_pixels(300, 4)
    arms = [mlp(1, seed=i) for i in range(4)]
    model, reports = train_robin(arms, x, y, CFG)
    _, val_idx = holdout(y, 0.2, rb.train.trainer.derive_seed(0, "validation"))
    assert {r.val_size for r in reports} == {len(val_idx)}
    for i, r in enumerate(reports):
        assert len(r.history) == 3
        clean, _ = validation_accuracy(
            rb.train.decomposed.TwoClassView(arms[i]),
            x[val_idx],
            (y[val_idx] == i).long(),
            norm="Linf",
            eps=0.0,
            steps=1,
            balanced=True,
        )
        assert r.val_clean_acc[-1] == pytest.approx(clean)


def test_har_components_validate_on_their_own_labels(mlp: Callable[..., nn.Module]) -> None:
    h = rb.Hierarchy.from_groups([[0, 2, 4], [1, 3, 5]])
    x, y = labelled_pixels(300, 6)
    _, reports = train_har(mlp(2), [mlp(3, seed=1), mlp(3, seed=2)], h, x, y, CFG)
    _, val_idx = holdout(y, 0.2, rb.train.trainer.derive_seed(0, "validation"))
    zs = h.coarse_of(y[val_idx])
    assert [r.val_size for r in reports] == [len(val_idx), int((zs == 0).sum()), int((zs == 1).sum())]
    assert all(0 <= v <= 1 for r in reports for v in r.val_clean_acc + r.val_robust_acc)
