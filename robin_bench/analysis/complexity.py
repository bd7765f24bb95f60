"""Robustness against task complexity (ROBIN Section 3.2, Figures 3 and 4): MODEL[j] is trained on the labels
{1, ..., j-1, OTHER[j]} and judged on the binary task of class 1."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from matplotlib import pyplot as plt
from torch import Tensor

from robin_bench.analysis.views import AttackFactory, one_vs_rest_robust, pgd_worst_case
from robin_bench.errors import RobinBenchError
from robin_bench.models.factory import build_model
from robin_bench.models.kinds import baseline_kind
from robin_bench.train.config import TrainConfig
from robin_bench.train.trainer import derive_seed, train_flat

OTHER = 0
"""Label of the superclass OTHER[j]; class ``order[i]`` gets label ``i + 1``, so class 1 of the paper is label 1."""


def complexity_labels(y: Tensor, order: Sequence[int], j: int) -> Tensor:
    r"""(N,) labels of MODEL[j] (ROBIN Section 3.2): ``order[i] -> i + 1`` for ``i < j - 1``, every other
    class (OTHER[j] = ``order[j-1:]``) -> 0.

    MODEL[2]'s labels are ``1[y == order[0]]``, the binary task; MODEL[k]'s are a relabelling of ``y``.

    Arguments:
        y (Tensor): (N,) labels in ``order``.
        order (Sequence[int]): a permutation of the k classes; ``order[0]`` is the paper's class 1.
        j (int): number of labels of the model, 2 <= j <= k.
    """
    k = len(order)
    if sorted(order) != list(range(k)):
        raise RobinBenchError(f"class order {list(order)} is not a permutation of 0..{k - 1}")
    if not 2 <= j <= k:
        raise RobinBenchError(f"MODEL[{j}] does not exist for {k} classes; j must be in 2..{k}")
    table = torch.full((k,), OTHER, dtype=torch.long)
    for i, c in enumerate(order[: j - 1]):
        table[c] = i + 1
    return table[y.long()]


def class_orderings(k: int, repeats: int, *, seed: int = 0) -> list[list[int]]:
    """``repeats`` random permutations of ``0..k-1`` (the paper: 20 on CIFAR-10), reproducible from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(k, generator=g).tolist() for _ in range(repeats)]


def task_complexity(
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    arch: str,
    cfg: TrainConfig,
    norm: str,
    eps: Sequence[float],
    repeats: int = 2,
    ks: Sequence[int] | None = None,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    attacks: AttackFactory = pgd_worst_case,
    batch_size: int = 256,
) -> pd.DataFrame:
    r"""Clean and robust accuracy on the binary task of class 1 against the number of training labels
    (ROBIN Section 3.2, Figures 3 and 4).

    For each of ``repeats`` random class orderings and each ``j`` in ``ks``, a flat ``arch`` model
    MODEL[j] is trained with ``cfg`` on :func:`complexity_labels` and judged on the binary task of
    class 1 (``order[0]``): an input of class 1 is broken by any untargeted perturbation out of label 1,
    another input only by one that makes the model predict label 1 (targeted), the worst case over
    ``attacks`` per sample. Train with ``cfg.objective="standard"`` for Figure 4's standard regime.

    Arguments:
        x_train, y_train (Tensor): (N, C, H, W) in [0, 1] and (N,) labels in 0..k-1.
        x_test, y_test (Tensor): the evaluated samples.
        arch (str): a registered architecture.
        cfg (TrainConfig): training of every MODEL[j].
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (Sequence[float]): test budgets; 0 gives the clean accuracy as robust accuracy.
        repeats (int): number of class orderings R. (Default: 2)
        ks (Sequence[int] | None): the j to train. (Default: None, all of 2..k)
        seed (int): seed of the orderings and of the models' initialization. (Default: 0)
        mean, std (Sequence[float] | None): input normalization of the models. (Default: None)
        attacks (AttackFactory): the attack set. (Default: PGD-CE and PGD-margin, 20 steps)
        batch_size (int): samples per evaluation batch. (Default: 256)

    Returns:
        pd.DataFrame: one row per (ordering, j, eps): ``ordering``, ``class1``, ``n_classes`` (j),
        ``eps``, ``norm``, ``clean_acc``, ``robust_acc`` (fractions of the test samples), ``n``.

    Example::

        >>> df = task_complexity(xtr, ytr, xte, yte, arch="mlp", cfg=TrainConfig(epochs=5, objective="pgd_at",
        ...                      eps=0.1, progress=False), norm="Linf", eps=[0.1], repeats=2)
        >>> summarize_complexity(df)
    """
    k = int(max(int(y_train.max()), int(y_test.max()))) + 1
    todo = list(range(2, k + 1)) if ks is None else sorted(set(ks))
    for j in todo:
        if not 2 <= j <= k:
            raise RobinBenchError(f"ks holds {j}; MODEL[j] exists for j in 2..{k}")
    if repeats < 1:
        raise RobinBenchError(f"repeats={repeats}; need at least one class ordering")
    rows = []
    for r, order in enumerate(class_orderings(k, repeats, seed=seed)):
        positive = y_test == order[0]
        for j in todo:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derive_seed(seed, "complexity", r, j))
                model = build_model(
                    baseline_kind().name, arch=arch, in_shape=tuple(x_train.shape[1:]), n_classes=j, mean=mean, std=std
                )
            train_flat(model, x_train, complexity_labels(y_train, order, j), cfg)
            model.eval()
            for e in eps:
                clean, robust = one_vs_rest_robust(
                    model, x_test, positive, 1, norm=norm, eps=float(e), attacks=attacks, batch_size=batch_size
                )
                rows.append(
                    {
                        "ordering": r,
                        "class1": order[0],
                        "n_classes": j,
                        "eps": float(e),
                        "norm": norm,
                        "clean_acc": float(clean.float().mean()),
                        "robust_acc": float(robust.float().mean()),
                        "n": int(clean.numel()),
                    }
                )
    return pd.DataFrame(rows)


def summarize_complexity(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (n_classes, eps): mean and standard deviation over orderings of robust and clean accuracy."""
    g = frame.groupby(["n_classes", "eps"], sort=True)
    out = g.agg(
        robust_acc_mean=("robust_acc", "mean"),
        robust_acc_std=("robust_acc", "std"),
        clean_acc_mean=("clean_acc", "mean"),
        clean_acc_std=("clean_acc", "std"),
        orderings=("ordering", "nunique"),
    )
    return out.reset_index()


def plot_complexity(frame: pd.DataFrame, ax: plt.Axes) -> None:
    """Robust accuracy (mean, std error bars) against the number of classes, one line per eps, and the mean
    clean accuracy dashed (Figure 3)."""
    s = summarize_complexity(frame)
    clean = s.groupby("n_classes", sort=True)["clean_acc_mean"].first()
    ax.plot(clean.index, clean.values, "k--", label="clean")
    for e, g in s.groupby("eps", sort=True):
        ax.errorbar(
            g["n_classes"],
            g["robust_acc_mean"],
            yerr=g["robust_acc_std"].fillna(0),
            fmt="o-",
            capsize=3,
            label=f"eps {e:g}",
        )
    ax.set_xlabel("number of training classes j (MODEL[j])")
    ax.set_ylabel("accuracy on the binary task of class 1")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small")
