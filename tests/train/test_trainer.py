"""The trainer loop on flat models: accuracy, robustness, objectives, warm-up, determinism, eval-mode attack."""

from __future__ import annotations

import io
import math
import re
import sys
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.errors import RobinBenchError
from robin_bench.train import TrainConfig, adversarial_share, train_flat

Digits = tuple[Tensor, Tensor, Tensor, Tensor]
H = rb.Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])


def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


def test_mlp_on_digits_reaches_90_percent(digits: Digits, mlp: Callable[..., nn.Module]) -> None:
    x, y, xt, yt = digits
    net = mlp(10)
    report = train_flat(net, x, y, TrainConfig(epochs=8, batch_size=64, lr=0.05, progress=False))
    assert accuracy(net, xt, yt) >= 0.9
    assert report.images == (1408,) * 8 and report.loss[-1] < report.loss[0]
    assert all(math.isnan(a) for a in report.adv_acc)


def test_pgd_at_is_more_robust_than_standard(digits: Digits, mlp: Callable[..., nn.Module]) -> None:
    x, y, xt, yt = digits
    eps = 0.1
    robust = {}
    for objective in ("standard", "pgd_at"):
        net = mlp(10)
        cfg = TrainConfig(epochs=8, batch_size=64, lr=0.05, objective=objective, eps=eps, steps=5, progress=False)
        train_flat(net, x, y, cfg)
        x_adv = rb.attacks.PGD(net, eps=eps, steps=20)(xt, yt)
        robust[objective] = accuracy(net, x_adv, yt)
    assert robust["pgd_at"] > robust["standard"] + 0.1


@pytest.mark.parametrize(
    ("objective", "norm", "eps"), [("trades", "Linf", 0.1), ("mart", "L2", 1.0), ("pgd_at_targeted", "Linf", 0.1)]
)
def test_objectives_run_and_reduce_their_loss(
    digits: Digits, mlp: Callable[..., nn.Module], objective: str, norm: str, eps: float
) -> None:
    x, y, _, _ = digits
    cfg = TrainConfig(
        epochs=3,
        batch_size=64,
        lr=0.05,
        objective=objective,
        norm=norm,  # type: ignore[arg-type]
        eps=eps,
        steps=3,
        beta=1.0,
        progress=False,
    )
    report = train_flat(mlp(10), x[:512], y[:512], cfg, hierarchy=H)
    assert report.loss[-1] < report.loss[0]
    assert all(0 <= a <= 1 for a in report.adv_acc)


def test_targeted_needs_a_hierarchy(digits: Digits, mlp: Callable[..., nn.Module]) -> None:
    x, y, _, _ = digits
    with pytest.raises(RobinBenchError, match="hierarchy"):
        train_flat(mlp(10), x, y, TrainConfig(objective="pgd_at_targeted", progress=False))


def test_warmup_share_per_epoch(digits: Digits, mlp: Callable[..., nn.Module]) -> None:
    x, y, _, _ = digits
    cfg = TrainConfig(epochs=3, batch_size=64, objective="pgd_at", eps=0.1, steps=1, warmup_epochs=2, progress=False)
    report = train_flat(mlp(10), x[:256], y[:256], cfg)
    assert report.adv_share == tuple(adversarial_share(t, 2) for t in range(3)) == (0.0, 0.5, 1.0)
    assert math.isnan(report.adv_acc[0]) and not math.isnan(report.adv_acc[1])


def test_same_seed_gives_bit_identical_weights(digits: Digits, mlp: Callable[..., nn.Module]) -> None:
    x, y, _, _ = digits
    cfg = TrainConfig(epochs=2, batch_size=32, objective="pgd_at", eps=0.1, steps=2, augment=True, progress=False)

    def weights(seed: int) -> list[Tensor]:
        net = mlp(10)
        train_flat(net, x[:256], y[:256], TrainConfig.from_dict({**cfg.to_dict(), "seed": seed}))
        return [p.detach().clone() for p in net.parameters()]

    a, b, c = weights(0), weights(0), weights(1)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a, c, strict=True))


def test_inner_max_runs_in_eval_mode(digits: Digits) -> None:
    x, y, _, _ = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    cfg = TrainConfig(epochs=2, batch_size=64, objective="pgd_at", eps=0.1, steps=4, progress=False)
    train_flat(net, x[:256], y[:256], cfg)
    bn = net[2]
    assert isinstance(bn, nn.BatchNorm1d)
    assert int(bn.num_batches_tracked) == 2 * 4  # one training forward per batch, none from the 4 attack steps
    assert not net.training


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("progress", "tty"), [(True, True), (False, True), (True, False)])
def test_progress_bar_per_epoch_or_final_line_with_clean_and_adversarial_figures(
    digits: Digits, mlp: Callable[..., nn.Module], monkeypatch: pytest.MonkeyPatch, progress: bool, tty: bool
) -> None:
    x, y, _, _ = digits
    stream = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    cfg = TrainConfig(epochs=2, batch_size=64, objective="pgd_at", eps=0.1, steps=1, progress=progress)
    train_flat(mlp(10), x[:128], y[:128], cfg)
    text = stream.getvalue()
    if not progress:
        assert text == ""
        return
    if not tty:
        assert re.fullmatch(
            r"flat: done, 2 epochs loss \d\.\d{3} acc \d\.\d{3} adv_acc \d\.\d{3} "
            r"\(\d+\.\ds\)\n",
            text,
        )
        return
    assert "flat epoch 1/2" in text and "flat epoch 2/2" in text
    assert all(re.search(rf"\b{key}=\d", text) for key in ("loss", "acc", "adv_loss", "adv_acc"))


def test_bad_data_is_named(mlp: Callable[..., nn.Module]) -> None:
    with pytest.raises(RobinBenchError, match=r"expected \[0, 1\]"):
        train_flat(mlp(10), torch.full((4, 1, 8, 8), 2.0), torch.zeros(4, dtype=torch.long), TrainConfig())


@pytest.mark.parametrize(("label", "match"), [(-1, r"label -1 outside"), (10, r"label 10 outside.* 0\.\.9")])
def test_label_outside_the_model_outputs_is_named(mlp: Callable[..., nn.Module], label: int, match: str) -> None:
    y = torch.tensor([0, 1, label, 2])
    with pytest.raises(RobinBenchError, match=f"flat: {match}"):
        train_flat(mlp(10), torch.rand(4, 1, 8, 8), y, TrainConfig(epochs=1, progress=False))
