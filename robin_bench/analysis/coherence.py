"""Gradient coherence of ROBIN's arms and of a multiclass ensemble (ROBIN Section 6, Equation 1, Figure 6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib import pyplot as plt
from torch import Tensor, nn

from robin_bench.attacks.losses import max_other
from robin_bench.errors import RobinBenchError
from robin_bench.models.robin import RobinClassifier

Gradient = Literal["loss", "logit"]
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


def _check(x: Tensor, y: Tensor, what: str) -> None:
    if x.dim() != 4 or y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise RobinBenchError(
            f"{what}: inputs {tuple(x.shape)} and labels {tuple(y.shape)}; expected (N, C, H, W) and (N,)"
        )


def _input_grad(loss: Tensor, x: Tensor) -> Tensor:
    (g,) = torch.autograd.grad(loss.sum(), x)
    return g.flatten(1)


def arm_gradients(model: RobinClassifier, x: Tensor, y: Tensor, *, gradient: Gradient = "loss") -> Tensor:
    r"""(N, k, D) input gradients of every arm of a ROBIN at each input.

    ``gradient="loss"``: the gradient of arm ``i``'s own binary loss, binary cross-entropy of its
    logit with label ``1[y == i]`` (the loss each arm was trained on, whose ascent fools that arm).
    ``gradient="logit"``: the gradient of arm ``i``'s logit itself.

    Arguments:
        model (RobinClassifier): k arms.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels.
        gradient (str): ``"loss"`` or ``"logit"``. (Default: ``"loss"``)
    """
    _check(x, y, "arm_gradients")
    if gradient not in ("loss", "logit"):
        raise RobinBenchError(f"gradient={gradient!r}; valid: loss, logit")
    grads = []
    for i in range(model.n_classes):
        xi = x.detach().clone().requires_grad_(True)
        z = model.arm_logits(xi, i)
        loss = F.binary_cross_entropy_with_logits(z, (y == i).float(), reduction="none") if gradient == "loss" else z
        grads.append(_input_grad(loss, xi))
    return torch.stack(grads, dim=1)


def model_gradients(models: Sequence[nn.Module], x: Tensor, y: Tensor, *, gradient: Gradient = "loss") -> Tensor:
    r"""(N, m, D) input gradients of m multiclass models: of cross-entropy at label ``y`` (``"loss"``)
    or of the label's logit (``"logit"``)."""
    _check(x, y, "model_gradients")
    if gradient not in ("loss", "logit"):
        raise RobinBenchError(f"gradient={gradient!r}; valid: loss, logit")
    grads = []
    for m in models:
        xi = x.detach().clone().requires_grad_(True)
        out = m(xi)
        loss = F.cross_entropy(out, y, reduction="none") if gradient == "loss" else out.gather(1, y[:, None])[:, 0]
        grads.append(_input_grad(loss, xi))
    return torch.stack(grads, dim=1)


def coherence(grads: Tensor, anchor: Tensor | None = None) -> Tensor:
    r"""(N,) coherence (Tropp et al., 2006) of m gradients per input, ROBIN Equation 1.

    With ``anchor`` (N,): ``max_{j != anchor} CS(g_anchor, g_j)``, the cosine similarity of the
    anchor's gradient with each other gradient, maximized (ROBIN: the anchor is the true-class arm).
    Without: the maximum cosine similarity over all m(m-1)/2 pairs (the paper's ensemble of 5 models,
    "10 gradient pairs"). A zero gradient has cosine similarity 0 with everything.

    Arguments:
        grads (Tensor): (N, m, D) gradients, m >= 2.
        anchor (Tensor | None): (N,) index in 0..m-1 of the reference gradient. (Default: None)
    """
    if grads.dim() != 3 or grads.shape[1] < 2:
        raise RobinBenchError(f"coherence needs (N, m, D) gradients with m >= 2, got shape {tuple(grads.shape)}")
    unit = F.normalize(grads, dim=2, eps=1e-12)
    cs = unit @ unit.transpose(1, 2)
    m = grads.shape[1]
    if anchor is None:
        mask = torch.ones(m, m, dtype=torch.bool, device=grads.device).triu(1).expand_as(cs)
        return cs.masked_fill(~mask, float("-inf")).flatten(1).amax(1)
    row = cs.gather(1, anchor.view(-1, 1, 1).expand(-1, 1, m))[:, 0]
    return max_other(row, anchor)


def gradient_coherence(
    robin: RobinClassifier,
    ensemble: Sequence[nn.Module],
    x: Tensor,
    y: Tensor,
    *,
    gradient: Gradient = "loss",
    batch_size: int = 128,
) -> pd.DataFrame:
    r"""Per-input coherence of ROBIN's arms and of a multiclass ensemble (ROBIN Section 6, Figure 6).

    ROBIN: Equation 1, the maximum cosine similarity between the gradient of the true-class arm's loss
    and the gradients of the other arms' losses. Ensemble: the maximum cosine similarity over all pairs
    of its models' cross-entropy gradients (the paper trains 5 multiclass models independently).
    A high coherence means one perturbation direction raises the losses of two components at once.

    Arguments:
        robin (RobinClassifier): the ROBIN model (eval mode is the caller's choice).
        ensemble (Sequence[nn.Module]): >= 2 multiclass models (the paper: 5, independently trained).
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels.
        gradient (str): ``"loss"`` (the paper's loss gradients) or ``"logit"``. (Default: ``"loss"``)
        batch_size (int): inputs per gradient batch. (Default: 128)

    Returns:
        pd.DataFrame: one row per (input, model) with columns ``sample``, ``label``, ``model``
        (``"robin"`` or ``"ensemble"``) and ``coherence`` in [-1, 1].

    Example::

        >>> df = gradient_coherence(robin, [mc0, mc1, mc2, mc3, mc4], x, y)
        >>> df.groupby("model")["coherence"].mean()
    """
    if len(ensemble) < 2:
        raise RobinBenchError(f"the ensemble has {len(ensemble)} models; coherence needs at least 2")
    _check(x, y, "gradient_coherence")
    parts: dict[str, list[Tensor]] = {"robin": [], "ensemble": []}
    for s in range(0, x.shape[0], batch_size):
        xb, yb = x[s : s + batch_size], y[s : s + batch_size]
        parts["robin"].append(coherence(arm_gradients(robin, xb, yb, gradient=gradient), yb).detach())
        parts["ensemble"].append(coherence(model_gradients(ensemble, xb, yb, gradient=gradient)).detach())
    frames = [
        pd.DataFrame(
            {"sample": range(x.shape[0]), "label": y.tolist(), "model": name, "coherence": torch.cat(values).tolist()}
        )
        for name, values in parts.items()
    ]
    return pd.concat(frames, ignore_index=True)


def summarize_coherence(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: ``n``, ``mean``, ``std`` and the :data:`QUANTILES` (``q05`` ... ``q95``) of the coherence."""
    rows = []
    for name, g in frame.groupby("model", sort=False):
        c = g["coherence"]
        row = {"model": name, "n": int(c.size), "mean": float(c.mean()), "std": float(c.std(ddof=0))}
        row |= {f"q{round(q * 100):02d}": float(c.quantile(q)) for q in QUANTILES}
        rows.append(row)
    return pd.DataFrame(rows)


def plot_coherence(frame: pd.DataFrame, ax: plt.Axes) -> None:
    """Overlaid histograms of the per-input coherence, one per model (ROBIN Figure 6)."""
    for name, g in frame.groupby("model", sort=False):
        ax.hist(g["coherence"], bins=30, range=(-1, 1), alpha=0.5, label=f"{name} (mean {g['coherence'].mean():.2f})")
    ax.set_xlabel("coherence (max cosine similarity of gradients)")
    ax.set_ylabel("inputs")
    ax.legend(fontsize="small")
