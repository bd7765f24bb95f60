"""The layers verify reads, its one-line errors, and cross_check's verdicts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import robin_bench as rb
from robin_bench.attacks.evaluate import EvalResult
from robin_bench.models.kinds import KINDS
from robin_bench.verification.network import to_chain
from tests.verification.models import flat, inputs, labels


def test_conv_normalize_and_nesting_become_the_same_dense_chain() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        rb.archs.Normalize([0.5, 0.4], [0.2, 0.3], channels=2),
        nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.ReLU()),
        nn.Conv2d(3, 2, 2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Identity(),
        nn.Linear(2 * 3 * 3, 5),
    )
    x = torch.rand(7, 2, 8, 8)
    chain = to_chain(net, (2, 8, 8))
    assert chain.hidden == [3 * 4 * 4, 2 * 3 * 3]
    with torch.no_grad():
        want = net(x).double().numpy()
    np.testing.assert_allclose(chain.forward(x.flatten(1).double().numpy()), want, atol=1e-5)


def test_conv_model_is_verified() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 3))
    x = torch.rand(4, 1, 4, 4)
    y = labels(net, x)
    res = rb.verify(net, x, y, eps=0.05, time_limit=10)
    assert res.n_unresolved == 0 and res.complete


def trained_batch_norm(bn: nn.Module, channels: int, shape: tuple[int, ...], seed: int) -> nn.Module:
    """``bn`` with non-trivial running statistics (a few training-mode passes) and affine parameters."""
    torch.manual_seed(seed)
    bn.train()
    with torch.no_grad():
        for _ in range(3):
            bn(torch.randn(16, *shape) * 2 + 1)
        if bn.weight is not None:
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.uniform_(-0.5, 0.5)
    return bn


@pytest.mark.parametrize("affine", [True, False])
def test_eval_mode_batch_norm_and_dropout_fold_into_the_chain(affine: bool) -> None:
    """A user's net with BatchNorm1d/2d (running statistics) and dropout: in eval mode they are affine maps, folded
    into the dense chain, which matches the module's forward pass; a model left in train mode is verified as
    evaluated and handed back in train mode."""
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        trained_batch_norm(nn.BatchNorm2d(2, affine=affine), 2, (2, 6, 6), seed=3),
        nn.ReLU(),
        nn.Dropout2d(0.3),
        nn.Flatten(),
        nn.Linear(2 * 6 * 6, 8),
        trained_batch_norm(nn.BatchNorm1d(8, affine=affine), 8, (8,), seed=4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )
    x = torch.rand(5, 1, 6, 6)
    chain = to_chain(net.eval(), (1, 6, 6))
    with torch.no_grad():
        want = net(x).double().numpy()
    np.testing.assert_allclose(chain.forward(x.flatten(1).double().numpy()), want, atol=1e-5)
    y = labels(net, x)
    net.train()
    res = rb.verify(net, x, y, eps=0.02, time_limit=10)
    assert res.n_unresolved == 0 and res.complete and net.training


def test_batch_norm_without_running_statistics_is_refused() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 3))
    with pytest.raises(rb.RobinBenchError, match="BatchNorm1d without running statistics"):
        rb.verify(net, inputs(2, (1, 4, 4), seed=0), torch.zeros(2, dtype=torch.long), eps=0.1)


@pytest.mark.parametrize("layer", [nn.Tanh(), nn.MaxPool2d(2), nn.LayerNorm(4)])
def test_unsupported_layer_is_a_one_line_error_naming_it(layer: nn.Module) -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), layer, nn.Linear(4, 3))
    x = inputs(2, (1, 4, 4), seed=0)
    with pytest.raises(rb.RobinBenchError, match=type(layer).__name__) as err:
        rb.verify(net, x, torch.zeros(2, dtype=torch.long), eps=0.1)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"criterion": "targeted"}, "criterion 'targeted'"),
        ({"norm": "L1"}, "unknown norm"),
        ({"eps": -1.0}, "eps"),
        ({"time_limit": 0}, "time_limit"),
        ({"criterion": "coarse"}, "hierarchy"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs: dict, match: str) -> None:
    net = flat(16, (4,), 3, seed=0)
    x = inputs(2, (1, 4, 4), seed=0)
    args = {"eps": 0.1, **kwargs}
    with pytest.raises(rb.RobinBenchError, match=match):
        rb.verify(net, x, labels(net, x), **args)


def test_rb_verify_is_the_function_after_importing_the_package() -> None:
    import robin_bench.verification

    assert callable(rb.verify) and rb.verify is robin_bench.verification.verify


def _evaluation(robust: list[bool], broke: list[bool]) -> EvalResult:
    n = len(robust)
    return EvalResult(
        names=["pgd"],
        criterion="fine",
        clean_correct=torch.ones(n, dtype=torch.bool),
        robust=torch.tensor(robust),
        success={"pgd": torch.tensor(broke)},
        ran={"pgd": torch.ones(n, dtype=torch.bool)},
    )


def _proof(status: list[str]) -> rb.VerifyResult:
    n = len(status)
    z = torch.zeros(n, dtype=torch.float64)
    return rb.VerifyResult(
        status=status,
        margin_lower=z,
        margin_upper=z,
        counterexamples={},
        seconds=z,
        stats=[{}] * n,
        norm="Linf",
        eps=0.1,
        criterion="fine",
        complete=True,
    )


def test_cross_check_flags_attack_misses_and_raises_on_broken_proofs() -> None:
    proof = _proof(["verified", "broken", "broken", "unknown"])
    assert rb.cross_check(proof, _evaluation([True, True, False, True], [False, False, True, False])) == [1]
    with pytest.raises(rb.RobinBenchError, match="sample 0 is proven robust .* attack 'pgd' broke it"):
        rb.cross_check(proof, _evaluation([False, True, False, True], [True, False, True, False]))


@pytest.mark.parametrize("name", [n for n in KINDS.names() if KINDS.get(n).verify_encoding is not None])
def test_every_kind_encoding_computes_the_models_output(name: str) -> None:
    kind = KINDS.get(name)
    h = rb.Hierarchy.from_groups([[0, 2], [1, 3]])
    torch.manual_seed(0)
    model = kind.build(
        lambda k: nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, k)),
        4,
        h if kind.needs_hierarchy else None,
    )
    x = inputs(5, (1, 4, 4), seed=0)
    encoding = kind.verify_encoding(model, (1, 4, 4))
    with torch.no_grad():
        want = model(x).double().numpy()
    np.testing.assert_allclose(encoding.output(x.flatten(1).double().numpy()), want, atol=1e-5)


def test_a_kind_without_an_encoding_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from robin_bench.verification import api

    net = flat(16, (4,), 3, seed=0)
    monkeypatch.setattr(api, "kind_of", lambda model: dataclasses.replace(KINDS.get("robin"), verify_encoding=None))
    with pytest.raises(rb.RobinBenchError, match="model kind 'robin' has no verification encoding"):
        rb.verify(net, inputs(1, (1, 4, 4), seed=0), torch.zeros(1, dtype=torch.long), eps=0.1)
