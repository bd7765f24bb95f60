"""Two-stage hierarchical classifiers and their three attacks (ROBIN Appendix C, Figure 8)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from matplotlib import pyplot as plt
from torch import Tensor, nn

from robin_bench.analysis.io import plot_accuracy_vs_eps
from robin_bench.analysis.views import accuracy_rows, pgd_baseline_row
from robin_bench.attacks.base import Attack
from robin_bench.attacks.evaluate import evaluate
from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.har import HARClassifier

FLOOR = -1.0e4
"""Score of the fine classes outside the group the first stage chose (below any log-probability that matters)."""

STAGE_ATTACKS: tuple[str, ...] = ("first", "second", "first_then_second")


class TwoStageClassifier(nn.Module):
    r"""ROBIN Appendix C's hierarchical classifier: the first stage picks a coarse class by argmax, the
    second-stage model of that coarse class picks the fine class.

    Unlike :class:`HARClassifier` (which multiplies probabilities), the choice of the first stage is
    hard: output columns of the chosen group hold that second-stage model's log-probabilities, all
    other columns hold :data:`FLOOR`. So ``argmax`` of the output is the composed prediction, and
    gradients through the output reach only the chosen second-stage model.

    Arguments:
        coarse (nn.Module): first stage, x -> (N, n_coarse) scores.
        fine (Sequence[nn.Module]): second stage, ``fine[z]``: x -> (N, |group z|) scores over the fine
            classes of coarse class ``z`` in ascending order.
        hierarchy (Hierarchy): the fine -> coarse map.

    Shape:
        - Input: (N, C, H, W) in [0, 1].
        - Output: (N, n_fine) scores.

    Example::

        >>> model = TwoStageClassifier.from_har(har)   # reuse HAR's trained components
        >>> model(x).argmax(1)
    """

    def __init__(self, coarse: nn.Module, fine: Sequence[nn.Module], hierarchy: Hierarchy) -> None:
        super().__init__()
        if len(fine) != hierarchy.n_coarse:
            raise RobinBenchError(
                f"two-stage classifier got {len(fine)} second-stage models for {hierarchy.n_coarse} coarse classes"
            )
        self.coarse = coarse
        self.fine = nn.ModuleList(fine)
        self.hierarchy = hierarchy

    @classmethod
    def from_har(cls, har: HARClassifier) -> TwoStageClassifier:
        """The two-stage classifier sharing ``har``'s coarse and fine networks."""
        return cls(har.coarse, list(har.fine), har.hierarchy)

    @property
    def n_classes(self) -> int:
        """Number of fine classes."""
        return self.hierarchy.n_fine

    def first_stage(self, x: Tensor) -> Tensor:
        """(N,) the coarse class the first stage chooses."""
        return self.coarse(x).argmax(1)

    def forward(self, x: Tensor) -> Tensor:
        chosen = self.first_stage(x)
        out = x.new_full((x.shape[0], self.n_classes), FLOOR)
        for z, net in enumerate(self.fine):
            rows = (chosen == z).nonzero()[:, 0]
            if rows.numel() == 0:
                continue
            cols = torch.tensor(self.hierarchy.fine_classes(z), device=x.device)
            scores = torch.log_softmax(net(x[rows]), dim=1)
            out = out.index_put((rows[:, None], cols[None, :]), scores)
        return out


class StageAttack(Attack):
    r"""An attack on one stage of a :class:`TwoStageClassifier` (ROBIN Appendix C), judged on the whole.

    ``stage="first"``: PGD on the first-stage model against the input's coarse class (attack 1).
    ``stage="second"``: PGD on the second-stage model of the input's coarse class against the
    input's position in its group (attack 2, "the relevant second stage model"). Attack 3, "the first
    stage and, if unsuccessful, the second", is both in :func:`robin_bench.evaluate` with early exit.

    Arguments:
        model (TwoStageClassifier): the classifier.
        stage (str): ``"first"`` or ``"second"``.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): budget in input units. (Default: 8/255)
        steps (int): PGD steps. (Default: 10)
        seed (int): seed of PGD's random start. (Default: 0)

    Shape:
        - images: (N, C, H, W) in [0, 1]; labels: (N,) fine labels; output like images.

    Example::

        >>> res = rb.evaluate(two_stage, x, y, {"first": StageAttack(two_stage, stage="first", eps=0.1),
        ...                                     "second": StageAttack(two_stage, stage="second", eps=0.1)})
    """

    def __init__(
        self,
        model: TwoStageClassifier,
        *,
        stage: str,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 10,
        seed: int = 0,
    ) -> None:
        if stage not in ("first", "second"):
            raise RobinBenchError(f"stage={stage!r}; valid: first, second")
        super().__init__(f"{stage}-stage", model, norm=norm, eps=eps, seed=seed)
        self.stage = stage
        self.steps = steps
        nets = [model.coarse] if stage == "first" else list(model.fine)
        self.engines = [PGD(net, norm=norm, eps=eps, steps=steps, seed=seed) for net in nets]
        self.hierarchy = model.hierarchy

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x = images.clone().detach().to(self.device)
        y = labels.clone().detach().to(self.device)
        coarse = self.hierarchy.coarse_of(y).to(y.device)
        if self.stage == "first":
            jobs = [(self.engines[0], torch.arange(x.shape[0], device=x.device), coarse)]
        else:
            pos = self.hierarchy.position_in_group.to(y.device)[y]
            jobs = [(e, (coarse == z).nonzero()[:, 0], pos) for z, e in enumerate(self.engines)]
        x_adv = x.clone()
        for engine, rows, target in jobs:
            if rows.numel() == 0:
                continue
            before = engine.grad_evals
            x_adv[rows] = engine(x[rows], target[rows])
            self.grad_evals += engine.grad_evals - before
        return x_adv


def two_stage_robustness(
    model: TwoStageClassifier,
    x: Tensor,
    y: Tensor,
    *,
    norm: str,
    eps: Sequence[float],
    steps: int = 10,
    baseline: nn.Module | None = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    r"""Robust accuracy of a two-stage classifier under ROBIN Appendix C's three attacks, across eps.

    ``first``: attack the first stage only; ``second``: the relevant second stage only;
    ``first_then_second``: the first, and where it fails the second (the per-sample worst case of
    both). With ``baseline``, a multiclass model attacked by PGD with the same steps is added as
    attack ``pgd (baseline)``, the comparison of Figure 8.

    Arguments:
        model (TwoStageClassifier): the classifier.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) fine labels.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (Sequence[float]): test budgets.
        steps (int): PGD steps of every attack. (Default: 10)
        baseline (nn.Module | None): the multiclass benchmark. (Default: None)
        batch_size (int): samples per batch. (Default: 256)

    Returns:
        pd.DataFrame: one row per (eps, attack): ``model``, ``attack``, ``norm``, ``eps``, ``clean_acc``,
        ``robust_acc``, ``n``.
    """
    rows = []
    for e in eps:
        attacks = {
            s: StageAttack(model, stage=s, norm=norm, eps=float(e), steps=steps)  # type: ignore[arg-type]
            for s in ("first", "second")
        }
        res = evaluate(model, x, y, attacks, batch_size=batch_size, early_exit=False)
        alone = res.attack_robust_acc
        figures = {"first": alone["first"], "second": alone["second"], "first_then_second": res.robust_acc}
        rows += accuracy_rows("two_stage", figures, res, norm=norm, eps=float(e))
        if baseline is not None:
            rows.append(pgd_baseline_row(baseline, x, y, norm=norm, eps=float(e), steps=steps, batch_size=batch_size))
    return pd.DataFrame(rows)


def plot_two_stage(frame: pd.DataFrame, ax: plt.Axes) -> None:
    """Robust accuracy against eps, one line per attack (ROBIN Figure 8)."""
    plot_accuracy_vs_eps(frame, ax, series="attack")
