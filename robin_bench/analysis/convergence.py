"""Training budgets shown to converge: validation accuracy per epoch per model, and a plateau check.

Issue 12 asks that a suite's epoch count be backed by a plateau of the validation curves (clean and
robust accuracy on held-out *training* data, logged per epoch when ``train.val_fraction > 0``). A
model's curve is the mean over its components (one for a flat model; the arms of a ROBIN model, whose
figures are balanced binary accuracies; HAR's coarse and fine networks): each component trains as an
independent job, so no aggregated model exists between epochs.

Plateau rule, per component and per curve (clean and robust): with ``window`` = k, the gain is the best
accuracy of the last k epochs minus the best accuracy of the epochs before them; the curve has
plateaued when the gain is at most one standard error of the held-out accuracy,
``sqrt(p (1 - p) / n)`` at the last epoch's accuracy ``p`` over the component's ``n`` held-out samples
(at least ``1 / n``, one sample): a smaller gain cannot be told from the sampling noise of the
validation split itself. A model has plateaued when all its components' curves have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from robin_bench.errors import RobinBenchError
from robin_bench.train.trainer import TrainReport

DEFAULT_WINDOW = 5
"""Epochs k of the plateau check: the last k epochs against the ones before them."""
CURVES: tuple[str, ...] = ("val_clean_acc", "val_robust_acc")
COLUMNS: tuple[str, ...] = (
    "model",
    "component",
    "epoch",
    "loss",
    "train_acc",
    "val_clean_acc",
    "val_robust_acc",
    "lr",
    "adv_share",
    "val_size",
)


def training_curves(histories: Mapping[str, Sequence[TrainReport | Mapping[str, Any]]]) -> pd.DataFrame:
    r"""One row per (model, component, epoch) from the models' training reports.

    Arguments:
        histories (Mapping): model name -> its components' reports (:class:`~robin_bench.train.TrainReport`
            or their ``to_dict()`` dicts, as a checkpoint's ``metrics["reports"]`` holds them).

    Returns:
        pd.DataFrame: columns :data:`COLUMNS`; ``val_*`` are NaN for a component trained without validation.

    Example::

        >>> _, reports = rb.train.train_robin(arms, x, y, TrainConfig(epochs=10, val_fraction=0.1))
        >>> frame = training_curves({"robin": reports})
    """
    rows: list[dict[str, Any]] = []
    for model, reports in histories.items():
        for report in reports:
            r = report if isinstance(report, TrainReport) else TrainReport.from_dict(report)
            rows += [
                {"model": model, "component": r.name, **{k: h[k] for k in COLUMNS[2:-1]}, "val_size": r.val_size}
                for h in r.history
            ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _checks(c: pd.DataFrame, window: int) -> list[tuple[str, float, float]]:
    """(curve, gain, tolerance) of one component's validated curves, epochs ascending."""
    n = int(c["val_size"].iloc[0])
    out = []
    for curve in CURVES:
        v = c[curve].tolist()
        out.append((curve, max(v[-window:]) - max(v[:-window]), max(math.sqrt(v[-1] * (1 - v[-1]) / n), 1 / n)))
    return out


def summarize_convergence(frame: pd.DataFrame, *, window: int = DEFAULT_WINDOW) -> pd.DataFrame:
    r"""The plateau check of each model (module docstring): one row per model.

    Arguments:
        frame (pd.DataFrame): :func:`training_curves`' frame.
        window (int): epochs k compared against the earlier ones, >= 1. (Default: :data:`DEFAULT_WINDOW`)

    Returns:
        pd.DataFrame: ``model``, ``components``, ``epochs``, ``val_size`` (smallest over components), the
        last epoch's ``val_clean_acc`` and ``val_robust_acc`` (means over components); per curve the
        ``*_gain`` and ``*_tolerance`` of the component closest to failing (largest gain minus tolerance);
        and ``plateaued`` (True or False; None when a component has no validation or the model has at most
        ``window`` epochs, so nothing earlier to compare with).

    Example::

        >>> summarize_convergence(training_curves({"mc": [report]}), window=5)
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise RobinBenchError(f"plateau window={window!r} epochs; give an integer >= 1")
    out: list[dict[str, Any]] = []
    for model, g in frame.groupby("model", sort=False):
        parts = [c.sort_values("epoch") for _, c in g.groupby("component", sort=False)]
        epochs = int(g["epoch"].max())
        last = g[g["epoch"] == epochs]
        row: dict[str, Any] = {
            "model": model,
            "components": len(parts),
            "epochs": epochs,
            "val_size": int(g["val_size"].min()),
            "val_clean_acc": float(last["val_clean_acc"].mean()),
            "val_robust_acc": float(last["val_robust_acc"].mean()),
            "clean_gain": math.nan,
            "clean_tolerance": math.nan,
            "robust_gain": math.nan,
            "robust_tolerance": math.nan,
            "plateaued": None,
        }
        if epochs > window and all(c["val_clean_acc"].notna().all() and len(c) == epochs for c in parts):
            checks = [check for c in parts for check in _checks(c, window)]
            for curve in CURVES:
                prefix = curve.removeprefix("val_").removesuffix("_acc")
                _, gain, tol = max((t for t in checks if t[0] == curve), key=lambda t: t[1] - t[2])
                row[f"{prefix}_gain"], row[f"{prefix}_tolerance"] = gain, tol
            row["plateaued"] = all(gain <= tol for _, gain, tol in checks)
        out.append(row)
    return pd.DataFrame(out)


def plot_convergence(frame: pd.DataFrame, ax: plt.Axes) -> None:
    """Validation accuracy against epoch: per model (mean over components) a solid robust and a dashed clean line."""
    for i, (model, g) in enumerate(frame.groupby("model", sort=False)):
        mean = g.groupby("epoch")[list(CURVES)].mean()
        color = f"C{i % 10}"
        parts = g["component"].nunique()
        label = str(model) if parts == 1 else f"{model} (mean of {parts} components)"
        ax.plot(mean.index, mean["val_robust_acc"], "o-", color=color, ms=3, label=f"{label} robust")
        ax.plot(mean.index, mean["val_clean_acc"], "--", color=color, label=f"{label} clean")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (held-out training data)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small")
