"""Distance to the decision boundary (ROBIN Figure 1): the smallest perturbation that changes a prediction,
by binary search over eps on the worst case of the attacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib import pyplot as plt
from torch import Tensor, nn

from robin_bench.analysis.views import AttackFactory, one_vs_rest_robust, pgd_worst_case
from robin_bench.attacks.evaluate import evaluate
from robin_bench.attacks.threat import ThreatModel
from robin_bench.errors import RobinBenchError
from robin_bench.models.robin import RobinClassifier
from robin_bench.train.decomposed import TwoClassView

RobustAt = Callable[[Tensor, float], Tensor]
"""(sample indices (M,), eps) -> (M,) bool: True where the sample is still correct after the attacks at eps."""

DEFAULT_EPS_MAX: dict[str, float] = {"L2": 4.0, "Linf": 0.5}
VIEWS: tuple[str, ...] = ("arm", "robin", "multiclass", "multiclass_vs_cls")


def bisect_eps(robust_at: RobustAt, n: int, *, eps_max: float, rounds: int = 8) -> Tensor:
    r"""(N,) smallest eps at which ``robust_at`` fails, per sample, by binary search on [0, eps_max].

    A sample wrong at eps 0 gets 0; one still robust at ``eps_max`` gets ``inf`` (censored). Otherwise
    the answer ``hi`` satisfies: broken at ``hi``, robust at ``hi - eps_max / 2**rounds``. Every round's
    midpoints lie on the dyadic grid ``eps_max * i / 2**r``, so samples sharing a midpoint are attacked
    in one batch: at most ``min(N, 2**r)`` calls of ``robust_at`` in round ``r``. Assumes, as every
    bisection does, that an input broken at eps is broken at any larger eps.

    Arguments:
        robust_at (RobustAt): the oracle.
        n (int): number of samples.
        eps_max (float): upper end of the search, > 0.
        rounds (int): bisection rounds; the tolerance is ``eps_max / 2**rounds``. (Default: 8)
    """
    if not eps_max > 0 or rounds < 1:
        raise RobinBenchError(f"bisect_eps needs eps_max > 0 and rounds >= 1, got eps_max={eps_max}, rounds={rounds}")
    dist = torch.full((n,), float("inf"), dtype=torch.float64)
    everyone = torch.arange(n)
    ok = robust_at(everyone, 0.0)
    dist[~ok] = 0.0
    alive = everyone[ok]
    if alive.numel() == 0:
        return dist
    broken = alive[~robust_at(alive, eps_max)]
    lo = torch.zeros(broken.numel(), dtype=torch.float64)
    hi = torch.full((broken.numel(),), float(eps_max), dtype=torch.float64)
    for _ in range(rounds):
        mid = (lo + hi) / 2
        values, group = torch.unique(mid, return_inverse=True)
        for g, value in enumerate(values.tolist()):
            members = (group == g).nonzero()[:, 0]
            still = robust_at(broken[members], value)
            lo[members[still]] = value
            hi[members[~still]] = value
    dist[broken] = hi
    return dist


def min_norm(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    norm: str,
    eps_max: float,
    rounds: int = 8,
    cls: int | None = None,
    attacks: AttackFactory = pgd_worst_case,
    batch_size: int = 256,
) -> Tensor:
    r"""(N,) smallest ``norm`` perturbation that changes the prediction, per sample (a minimum-norm attack
    built from binary search over eps on the worst case of ``attacks``).

    ``cls=None``: the prediction must leave ``y`` (untargeted). ``cls=c``: only the boundary between
    class ``c`` and the rest counts (ROBIN Figure 2c): inputs of class ``c`` must leave it, the others
    must be pushed *into* it. Distances are upper bounds (an attack found a perturbation within them),
    within ``eps_max / 2**rounds`` of the smallest eps the attacks succeed at; ``inf`` where they fail at
    ``eps_max``; 0 where the clean input is already wrong.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) scores.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps_max (float): upper end of the search (Linf: at most 1).
        rounds (int): bisection rounds. (Default: 8)
        cls (int | None): the one-vs-rest class of the Figure 2c view, or None. (Default: None)
        attacks (AttackFactory): (model, norm, eps) -> attacks. (Default: PGD-CE and PGD-margin, 20 steps)
        batch_size (int): samples per batch. (Default: 256)

    Example::

        >>> d = min_norm(model, x, y, norm="L2", eps_max=4.0)
        >>> d[torch.isfinite(d)].median()
    """
    ThreatModel(norm, eps_max)  # type: ignore[arg-type]

    def robust_at(idx: Tensor, eps: float) -> Tensor:
        if cls is None:
            return evaluate(model, x[idx], y[idx], attacks(model, norm, eps), batch_size=batch_size).robust
        return one_vs_rest_robust(
            model, x[idx], y[idx] == cls, cls, norm=norm, eps=eps, attacks=attacks, batch_size=batch_size
        )[1]

    return bisect_eps(robust_at, x.shape[0], eps_max=eps_max, rounds=rounds)


def boundary_distance(
    robin: RobinClassifier,
    flat: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    cls: int = 0,
    norms: Sequence[str] = ("L2", "Linf"),
    eps_max: Mapping[str, float] | None = None,
    rounds: int = 8,
    attacks: AttackFactory = pgd_worst_case,
    batch_size: int = 256,
) -> pd.DataFrame:
    r"""Per-sample distance to the decision boundary of a binary arm and of multiclass models (ROBIN Figure 1).

    Views (column ``view``): ``arm``: ROBIN's arm ``cls`` alone, a binary classifier of "class
    ``cls`` or not" (Figure 2a); ``robin``: the ROBIN aggregate, untargeted; ``multiclass``: the flat
    model, untargeted (Figure 2b); ``multiclass_vs_cls``: the flat model judged only on the boundary
    between ``cls`` and the rest (Figure 2c), the view comparable to ``arm``.

    Arguments:
        robin (RobinClassifier): the ROBIN model; its arm ``cls`` is the binary classifier.
        flat (nn.Module): the multiclass model.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels.
        cls (int): the binary task's class. (Default: 0)
        norms (Sequence[str]): norms to measure in. (Default: ``("L2", "Linf")``)
        eps_max (Mapping[str, float] | None): norm -> search range. (Default: L2 4.0, Linf 0.5)
        rounds (int): bisection rounds (tolerance ``eps_max / 2**rounds``). (Default: 8)
        attacks (AttackFactory): the attack set. (Default: PGD-CE and PGD-margin, 20 steps)
        batch_size (int): samples per batch. (Default: 256)

    Returns:
        pd.DataFrame: columns ``sample``, ``label``, ``norm``, ``view``, ``distance`` (``inf`` when
        no attack succeeded within ``eps_max``), ``censored``.

    Example::

        >>> df = boundary_distance(robin, mc, x, y, cls=3)
        >>> df[~df.censored].groupby(["norm", "view"])["distance"].median()
    """
    if not 0 <= cls < robin.n_classes:
        raise RobinBenchError(f"cls={cls} is not a class of the ROBIN model (0..{robin.n_classes - 1})")
    ranges = dict(DEFAULT_EPS_MAX if eps_max is None else eps_max)
    frames = []
    binary = TwoClassView(robin.arms[cls])
    for norm in norms:
        if norm not in ranges:
            raise RobinBenchError(f"eps_max has no range for norm {norm!r}; give one, e.g. {DEFAULT_EPS_MAX}")
        common = {"norm": norm, "eps_max": ranges[norm], "rounds": rounds, "attacks": attacks, "batch_size": batch_size}
        views = {
            "arm": min_norm(binary, x, (y == cls).long(), **common),  # type: ignore[arg-type]
            "robin": min_norm(robin, x, y, **common),  # type: ignore[arg-type]
            "multiclass": min_norm(flat, x, y, **common),  # type: ignore[arg-type]
            "multiclass_vs_cls": min_norm(flat, x, y, cls=cls, **common),  # type: ignore[arg-type]
        }
        for view, dist in views.items():
            frames.append(
                pd.DataFrame(
                    {
                        "sample": range(x.shape[0]),
                        "label": y.tolist(),
                        "norm": norm,
                        "view": view,
                        "distance": dist.tolist(),
                        "censored": (~torch.isfinite(dist)).tolist(),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def summarize_distance(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (norm, view): ``n``, ``censored`` count, and mean and median of the uncensored distances."""
    rows = []
    for (norm, view), g in frame.groupby(["norm", "view"], sort=False):
        d = g.loc[~g["censored"], "distance"]
        rows.append(
            {
                "norm": norm,
                "view": view,
                "n": len(g),
                "censored": int(g["censored"].sum()),
                "mean": float(d.mean()) if len(d) else float("nan"),
                "median": float(d.median()) if len(d) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def plot_distance(frame: pd.DataFrame, ax: plt.Axes) -> None:
    """Outline histograms of the uncensored distances per view, for the first norm of ``frame`` (ROBIN Figure 1);
    the legend gives each view's median and how many inputs no attack broke within the search range."""
    norm = frame["norm"].iloc[0]
    sub = frame[(frame["norm"] == norm) & ~frame["censored"]]
    top = float(sub["distance"].max()) if len(sub) else 1.0
    bins = np.linspace(0.0, max(top, 1e-6), 30).tolist()
    censored = frame[frame["norm"] == norm].groupby("view", sort=False)["censored"].sum()
    for view, g in sub.groupby("view", sort=False):
        ax.hist(
            g["distance"],
            bins=bins,
            histtype="step",
            linewidth=1.6,
            label=f"{view} (median {g['distance'].median():.3g}, {int(censored[view])} beyond range)",
        )
    ax.set_xlabel(f"{norm} distance to the decision boundary")
    ax.set_ylabel("inputs")
    ax.legend(fontsize="small")
