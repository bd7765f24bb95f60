"""ROBIN arm and HAR component training: labels, balanced batches, data routing, independence of jobs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.errors import RobinBenchError
from robin_bench.train import TrainConfig, train_arm, train_har, train_robin
from robin_bench.train.decomposed import TwoClassView

from .helpers import Recorder, labelled_pixels

Digits = tuple[Tensor, Tensor, Tensor, Tensor]
CFG = TrainConfig(epochs=2, batch_size=32, lr=0.05, progress=False)


def test_two_class_view_cross_entropy_is_bce() -> None:
    arm = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    x, t = torch.rand(10, 1, 2, 2), torch.randint(0, 2, (10,))
    ce = nn.functional.cross_entropy(TwoClassView(arm)(x), t)
    bce = nn.functional.binary_cross_entropy_with_logits(arm(x)[:, 0], t.float())
    assert torch.allclose(ce, bce, atol=1e-6)


@pytest.mark.parametrize("balanced", [True, False])
def test_arm_batches_are_balanced_unless_switched_off(balanced: bool) -> None:
    x, y = labelled_pixels(600, 6)
    arm = Recorder(1)
    train_arm(arm, x, y, 0, TrainConfig.from_dict({**CFG.to_dict(), "balanced": balanced}))
    positives = [int((seen == 0).sum()) for seen in arm.seen]
    assert len(positives) == 2 * (600 // 32)
    if balanced:
        assert positives == [16] * len(positives)
    else:
        assert sum(positives) / (32 * len(positives)) < 0.25  # class 0 is the rarest of 6


def test_arm_learns_its_one_vs_all_labels() -> None:
    x, y = labelled_pixels(600, 4)
    arm = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    report = train_arm(arm, x, y, 2, TrainConfig(epochs=30, batch_size=64, lr=0.5, progress=False))
    with torch.no_grad():
        said_two = arm(x)[:, 0] > 0
    assert float((said_two == (y == 2)).float().mean()) > 0.95
    assert report.clean_acc[-1] > 0.9


def test_robin_on_digits_and_arms_are_independent_jobs(digits: Digits, mlp: Callable[..., nn.Module]) -> None:
    x, y, xt, yt = digits
    arms = [mlp(1, seed=i) for i in range(10)]
    model, reports = train_robin(arms, x, y, TrainConfig(epochs=3, batch_size=64, lr=0.05, progress=False))
    assert isinstance(model, rb.RobinClassifier) and [r.name for r in reports] == [f"arm {i}" for i in range(10)]
    with torch.no_grad():
        assert float((model(xt).argmax(1) == yt).float().mean()) > 0.85
    alone = mlp(1, seed=3)
    train_arm(alone, x, y, 3, TrainConfig(epochs=3, batch_size=64, lr=0.05, progress=False))
    assert all(torch.equal(p, q) for p, q in zip(alone.parameters(), arms[3].parameters(), strict=True))


def test_arm_rejects_targeted_training() -> None:
    x, y = labelled_pixels(64, 3)
    with pytest.raises(RobinBenchError, match="pgd_at"):
        train_arm(Recorder(1), x, y, 0, TrainConfig(objective="pgd_at_targeted", progress=False))


def test_har_routes_samples_and_labels() -> None:
    h = rb.Hierarchy.from_groups([[0, 2, 4], [1, 3, 5]])
    x, y = labelled_pixels(600, 6)
    coarse, fine = Recorder(2), [Recorder(3), Recorder(3)]
    model, reports = train_har(coarse, fine, h, x, y, CFG)
    assert isinstance(model, rb.HARClassifier) and [r.name for r in reports] == ["coarse", "fine 0", "fine 1"]
    assert torch.cat(coarse.seen).unique().tolist() == list(range(6))
    for z in range(2):
        seen = torch.cat(fine[z].seen)
        assert set(seen.unique().tolist()) == set(h.fine_classes(z))
        assert reports[1 + z].images[0] == 32 * (int((h.coarse_of(y) == z).sum()) // 32)


def test_har_learns_with_in_group_labels_under_adv_t() -> None:
    h = rb.Hierarchy.from_groups([[0, 2, 4], [1, 3, 5]])
    x, y = labelled_pixels(900, 6)
    torch.manual_seed(0)
    parts = [nn.Sequential(nn.Flatten(), nn.Linear(64, n)) for n in (2, 3, 3)]
    cfg = TrainConfig(epochs=30, batch_size=64, lr=0.5, objective="pgd_at_targeted", eps=0.005, steps=2, progress=False)
    model, reports = train_har(parts[0], parts[1:], h, x, y, cfg)
    with torch.no_grad():
        assert float((model(x).argmax(1) == y).float().mean()) > 0.9
    assert all(r.loss[-1] < r.loss[0] for r in reports)


def test_har_fine_network_of_the_wrong_width_is_named() -> None:
    h = rb.Hierarchy.from_groups([[0, 2, 4], [1, 3, 5]])
    x, y = labelled_pixels(64, 6)
    for fine_widths, what in (
        ((3, 2), "fine network 1 has 2 outputs; its hierarchy needs 3"),
        ((4, 3), "fine network 0 has 4 outputs; its hierarchy needs 3"),
    ):
        with pytest.raises(RobinBenchError, match=what):
            train_har(Recorder(2), [Recorder(w) for w in fine_widths], h, x, y, CFG)
    with pytest.raises(RobinBenchError, match="coarse network has 6 outputs; its hierarchy needs 2"):
        train_har(Recorder(6), [Recorder(3), Recorder(3)], h, x, y, CFG)


def test_har_group_without_samples_is_named() -> None:
    h = rb.Hierarchy.from_groups({"seen": [0, 1], "unseen": [2]})
    x, y = labelled_pixels(64, 2)
    with pytest.raises(RobinBenchError, match="'unseen'"):
        train_har(Recorder(2), [Recorder(2), Recorder(1)], h, x, y, CFG)
