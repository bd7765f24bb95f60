"""Per-sample reproducibility: robust flags of our attacks do not depend on batch size, early exit or global RNG."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import (
    BPDA,
    CW,
    PGD,
    Attack,
    CoarseMarginal,
    HierarchicalTargeted,
    RayS,
    RobinAttack,
    TransferAttack,
)
from robin_bench.attacks.base import sample_seeds

H = rb.Hierarchy.from_groups([[0, 1], [2, 3]])
EPS = 0.12


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 24), nn.Tanh(), nn.Linear(24, 4))
    with torch.no_grad():
        net[1].weight.mul_(3.0)
    return net.eval()


def data(model: nn.Module, n: int = 24) -> tuple[Tensor, Tensor]:
    x = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return x, model(x).argmax(1)


def attacks(model: nn.Module, surrogate: nn.Module) -> dict[str, Attack]:
    common = {"norm": "Linf", "eps": EPS, "seed": 7}
    return {
        "pgd": PGD(model, steps=3, restarts=3, **common),
        "robin_softmax": RobinAttack(model, strategy="softmax", steps=3, restarts=2, **common),
        "robin_best_arm": RobinAttack(model, strategy="best_arm", steps=2, **common),
        "hierarchical": HierarchicalTargeted(model, hierarchy=H, steps=2, targets_per_pass=2, **common),
        "coarse_marginal": CoarseMarginal(model, hierarchy=H, steps=2, restarts=2, **common),
        "cw_linf": CW(model, steps=3, **common),
        "transfer": TransferAttack(surrogate, model, steps=3, restarts=2, **common),
        "rays": RayS(model, queries=60, **common),
        "bpda": BPDA(model, steps=3, restarts=2, **common),
    }


@pytest.mark.parametrize("criterion", ["fine", "coarse"])
def test_flags_identical_across_batch_sizes_early_exit_and_global_seeds(criterion: str) -> None:
    model, surrogate = mlp(0), mlp(1)
    x, y = data(model)
    runs = []
    for batch_size, early_exit, global_seed in [(1000, False, 0), (5, False, 1), (7, True, 2)]:
        torch.manual_seed(global_seed)
        res = rb.evaluate(
            model,
            x,
            y,
            attacks(model, surrogate),
            criterion=criterion,
            hierarchy=H,
            batch_size=batch_size,
            early_exit=early_exit,
        )
        runs.append(res)
    reference = runs[0]
    assert 0 < reference.robust_acc < reference.clean_acc, "the setting must break some samples and not others"
    for res in runs[1:]:
        assert torch.equal(res.robust, reference.robust)
        for name in res.names:
            ran = res.ran[name]
            assert torch.equal(res.success[name][ran], reference.success[name][ran]), name


def test_random_starts_are_per_sample_and_seeded() -> None:
    model = mlp(0)
    x, y = data(model, 12)
    pgd = PGD(model, eps=EPS, steps=3, restarts=2, seed=3)
    whole = pgd(x, y)
    torch.manual_seed(123)
    parts = torch.cat([pgd(x[i : i + 1], y[i : i + 1]) for i in range(len(y))])
    torch.testing.assert_close(parts, whole)
    shuffled = torch.randperm(len(y))
    torch.testing.assert_close(pgd(x[shuffled], y[shuffled]), whole[shuffled])
    assert not torch.equal(PGD(model, eps=EPS, steps=3, restarts=2, seed=4)(x, y), whole), "the seed matters"


def test_sample_seeds_depend_on_keys_and_bytes_only() -> None:
    x = torch.rand(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    a = sample_seeds(x, 0, "run", 0)
    assert a == sample_seeds(x.double(), 0, "run", 0), "float32 bytes: the same in any float dtype"
    assert a[1:] == sample_seeds(x[1:], 0, "run", 0)
    assert len(set(a)) == 3
    assert sample_seeds(x, 1, "run", 0) != a and sample_seeds(x, 0, "run", 1) != a
    per = sample_seeds(x, 0, "pair", torch.tensor([1, 2, 3]))
    assert per[0] == sample_seeds(x[:1], 0, "pair", torch.tensor([1]))[0]


@pytest.mark.parametrize("criterion", ["fine", "coarse"])
def test_standard_set_is_batch_invariant_where_it_says_so(criterion: str) -> None:
    """The guarantee's boundary: every attack of the standard set that declares ``batch_invariant`` gives each
    sample the same verdict in any batch; the AutoAttack components (and only they) declare that they may not."""
    model, surrogate = mlp(0), mlp(1)
    x, y = data(model)
    runs = []
    for batch_size in (1000, 7):
        attacks = rb.attacks.standard_attacks(
            model,
            norm="Linf",
            eps=EPS,
            hierarchy=H,
            criterion=criterion,
            steps=3,
            n_iter=3,
            n_queries=20,
            rays_queries=40,
            surrogate=surrogate,
        )
        runs.append(
            (
                attacks,
                rb.evaluate(
                    model, x, y, attacks, criterion=criterion, hierarchy=H, batch_size=batch_size, early_exit=False
                ),
            )
        )
    (attacks, whole), (_, batched) = runs
    stops = {name for name, a in attacks.items() if not a.batch_invariant}
    assert stops == {name for name, a in attacks.items() if isinstance(a, rb.attacks.AutoAttack)} != set()
    for name in whole.names:
        if name not in stops:
            assert torch.equal(whole.success[name], batched.success[name]), name
