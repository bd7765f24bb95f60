"""Task complexity (ROBIN Section 3.2): the label construction and a tiny end-to-end run."""

from __future__ import annotations

import pytest
import torch

from robin_bench.analysis.complexity import (
    class_orderings,
    complexity_labels,
    plot_complexity,
    summarize_complexity,
    task_complexity,
)
from robin_bench.analysis.io import write_analysis
from robin_bench.errors import RobinBenchError
from robin_bench.train.config import TrainConfig


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_model2_is_the_binary_task_and_model_k_a_relabelling(seed: int) -> None:
    k = 6
    y = torch.randint(0, k, (200,), generator=torch.Generator().manual_seed(seed))
    order = class_orderings(k, 1, seed=seed)[0]
    assert torch.equal(complexity_labels(y, order, 2), (y == order[0]).long())
    full = complexity_labels(y, order, k)
    # a bijection of the classes: equal labels iff equal classes
    assert torch.equal(full[:, None] == full[None, :], y[:, None] == y[None, :])
    for j in range(2, k + 1):
        lab = complexity_labels(y, order, j)
        assert set(lab.unique().tolist()) <= set(range(j))
        assert torch.equal(lab == 0, torch.isin(y, torch.tensor(order[j - 1 :])))  # OTHER[j]
        assert torch.equal(lab == 1, y == order[0])  # class 1 keeps label 1 in every MODEL[j]


def test_orderings_are_reproducible_permutations() -> None:
    a, b = class_orderings(5, 3, seed=4), class_orderings(5, 3, seed=4)
    assert a == b and all(sorted(o) == list(range(5)) for o in a)


def test_bad_label_arguments_raise() -> None:
    y = torch.zeros(3, dtype=torch.long)
    with pytest.raises(RobinBenchError, match="permutation"):
        complexity_labels(y, [0, 0, 1], 2)
    with pytest.raises(RobinBenchError, match="MODEL\\[4\\]"):
        complexity_labels(y, [0, 1, 2], 4)


def test_task_complexity_end_to_end_on_tiny_data(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat(30)
    pattern = torch.zeros(3, 1, 8, 8)
    for c in range(3):
        pattern[c, 0, c] = 1.0  # class c lights up row c
    x = 0.5 * torch.rand(90, 1, 8, 8, generator=g) + 0.5 * pattern[y]
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, progress=False)
    df = task_complexity(x, y, x[:30], y[:30], arch="mlp", cfg=cfg, norm="Linf", eps=[0.0, 0.1], repeats=2, ks=[2, 3])
    assert len(df) == 2 * 2 * 2
    zero = df[df.eps == 0.0]
    assert (zero["robust_acc"] == zero["clean_acc"]).all()
    assert (df["robust_acc"] <= df["clean_acc"] + 1e-12).all()
    s = summarize_complexity(df)
    assert list(s["n_classes"].unique()) == [2, 3] and (s["orderings"] == 2).all()
    csv, png = write_analysis(df, tmp_path, "complexity", plot_complexity, title="t")
    assert csv.exists() and png.stat().st_size > 0
    with pytest.raises(RobinBenchError, match="ks holds 7"):
        task_complexity(x, y, x, y, arch="mlp", cfg=cfg, norm="Linf", eps=[0.1], ks=[7])
