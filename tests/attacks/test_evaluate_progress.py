"""evaluate's progress hook: one call per attack and batch, counts consistent with the returned flags."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import PGD
from robin_bench.errors import RobinBenchError

from .test_evaluate import mlp


def data(model: nn.Module, n: int = 23) -> tuple[Tensor, Tensor]:
    """Inputs with labels mostly the clean prediction (every fifth wrong, so some samples are never robust)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 4, 4, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[::5] = (y[::5] + 1) % 6
    return x, y


def attacks(model: nn.Module) -> dict[str, object]:
    """A weak attack, then stronger ones: robust counts drop across attacks within a batch."""
    return {
        "fgsm_small": torchattacks.FGSM(model, eps=0.02),
        "pgd": PGD(model, eps=0.15, steps=5),
        "pgd_big": PGD(model, eps=0.3, steps=10),
    }


@pytest.mark.parametrize("early_exit", [True, False])
@pytest.mark.parametrize("batch_size", [5, 64])
def test_progress_counts_match_the_result(early_exit: bool, batch_size: int) -> None:
    model = mlp()
    x, y = data(model)
    calls: list[tuple[str, int, int, int]] = []
    res = rb.evaluate(
        model,
        x,
        y,
        attacks(model),
        batch_size=batch_size,
        early_exit=early_exit,
        norm="Linf",
        eps=0.3,
        progress=lambda *args: calls.append(args),
    )
    n, names = len(x), res.names
    n_batches = -(-n // batch_size)
    assert len(calls) == n_batches * len(names), "one call per attack on each batch"
    assert [c[0] for c in calls] == names * n_batches, "calls follow the attacks' order in each batch"
    assert all(c[3] == n for c in calls)
    for b in range(n_batches):
        batch = calls[b * len(names) : (b + 1) * len(names)]
        stop = min((b + 1) * batch_size, n)
        assert all(judged == stop for _, _, judged, _ in batch), "judged = samples of this and earlier batches"
        robust = [r for _, r, _, _ in batch]
        assert robust == sorted(robust, reverse=True), f"robust grew across attacks in batch {b}: {robust}"
        # after the batch's last attack, the count equals the robust flags of the batches judged so far
        assert robust[-1] == int(res.robust[:stop].sum())
        # after attack i: the robust samples of earlier batches, plus this batch's clean-correct samples broken
        # by none of the attacks 0..i
        start = b * batch_size
        for i, r in enumerate(robust):
            broken = torch.stack([res.success[m][start:stop] for m in names[: i + 1]]).any(0)
            assert r == int(res.robust[:start].sum()) + int((res.clean_correct[start:stop] & ~broken).sum())
    assert calls[-1][1:3] == (int(res.robust.sum()), n)
    assert int(res.robust.sum()) < int(res.clean_correct.sum()), "the attacks break some samples (counts move)"


def test_progress_is_called_when_no_sample_is_left() -> None:
    model = mlp()
    x, y = data(model, n=6)
    y = (y + 1) % 6  # nothing clean-correct: no attack runs, every call still comes, with 0 robust
    calls: list[tuple[str, int, int, int]] = []
    rb.evaluate(model, x, y, attacks(model), norm="Linf", eps=0.3, progress=lambda *args: calls.append(args))
    assert calls == [(name, 0, 6, 6) for name in ("fgsm_small", "pgd", "pgd_big")]


def test_progress_that_is_not_callable_is_refused() -> None:
    model = mlp()
    x, y = data(model, n=4)
    with pytest.raises(RobinBenchError, match="progress is a str"):
        rb.evaluate(model, x, y, attacks(model), norm="Linf", eps=0.3, progress="yes")  # type: ignore[arg-type]
