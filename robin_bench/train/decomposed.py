"""Training decomposed classifiers: ROBIN arms (one-vs-all) and HAR components, as independent jobs.

Each job is a function of (component index, data, config) that calls the one trainer loop
(:func:`robin_bench.train.trainer.fit`) with its own labels and its own derived seed, so jobs can
run in any order or in parallel and give the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.har import HARClassifier
from robin_bench.models.robin import RobinClassifier
from robin_bench.train.config import TrainConfig
from robin_bench.train.objectives import coarse_targets_outside_group, targets_other_class
from robin_bench.train.trainer import TrainReport, check_training_data, derive_seed, fit, output_width, split_validation


class TwoClassView(nn.Module):
    r"""A ROBIN arm seen as a two-class model: logits ``[0, l]`` from the arm's (N, 1) logit ``l``.

    Cross-entropy on ``[0, l]`` with label 1[y == i] equals binary cross-entropy with logits on ``l``,
    so every multiclass objective (PGD-AT, TRADES, MART) trains an arm unchanged. The view shares the
    arm's parameters; training it trains the arm.

    Shape:
        - Input: (N, C, H, W); Output: (N, 2).
    """

    def __init__(self, arm: nn.Module) -> None:
        super().__init__()
        self.arm = arm

    def forward(self, x: Tensor) -> Tensor:
        logit = self.arm(x)
        if logit.dim() != 2 or logit.shape[1] != 1:
            raise RobinBenchError(f"ROBIN arm returned shape {tuple(logit.shape)}; each arm must return (N, 1) logits")
        return torch.cat([torch.zeros_like(logit), logit], dim=1)


def train_arm(arm: nn.Module, x: Tensor, y: Tensor, cls: int, cfg: TrainConfig) -> TrainReport:
    r"""Train ROBIN arm ``cls`` in place, one-vs-all on labels ``1[y == cls]`` (ROBIN Algorithm 1).

    With ``cfg.balanced`` every batch holds equal positives and negatives (ROBIN Appendix B.3). With
    ``cfg.val_fraction > 0`` the arm holds out the same samples as every other arm of the model (the split is
    stratified by the multiclass labels) and reports its binary validation accuracies per epoch: there is
    no aggregated ROBIN model while one arm trains, since the arms are independent jobs.

    Arguments:
        arm (nn.Module): (N, C, H, W) in [0, 1] -> (N, 1) logit of "x is class ``cls``".
        x (Tensor): (N, C, H, W) training inputs in [0, 1].
        y (Tensor): (N,) multiclass labels.
        cls (int): the arm's class.
        cfg (TrainConfig): hyperparameters; ``pgd_at_targeted`` does not apply to arms.

    Returns:
        TrainReport: the per-epoch record of this arm (accuracies are binary).

    Example::

        >>> arm = rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=1)
        >>> report = train_arm(arm, x, y, 3, TrainConfig(epochs=5, progress=False))
    """
    check_training_data(x, y, None, f"train_arm {cls}")
    if cfg.objective == "pgd_at_targeted":
        raise RobinBenchError(
            "objective 'pgd_at_targeted' needs a hierarchy and applies to flat and HAR models, not ROBIN arms; "
            "use 'pgd_at'"
        )
    x, y, val = split_validation(x, y, cfg)
    labels = (y == cls).long()
    positive = labels.bool() if cfg.balanced else None
    validation = None if val is None else (val[0], (val[1] == cls).long())
    return fit(
        TwoClassView(arm),
        x,
        labels,
        cfg,
        name=f"arm {cls}",
        seed=derive_seed(cfg.seed, "arm", cls),
        positive=positive,
        validation=validation,
    )


def train_robin(
    arms: Sequence[nn.Module], x: Tensor, y: Tensor, cfg: TrainConfig
) -> tuple[RobinClassifier, list[TrainReport]]:
    r"""Train k ROBIN arms in place, each an independent :func:`train_arm` job, and aggregate them.

    Arguments:
        arms (Sequence[nn.Module]): k modules, arm ``i`` -> (N, 1) logit of class ``i``.
        x (Tensor): (N, C, H, W) training inputs in [0, 1].
        y (Tensor): (N,) labels in 0..k-1.
        cfg (TrainConfig): hyperparameters shared by all arms.

    Returns:
        tuple[RobinClassifier, list[TrainReport]]: the classifier and one report per arm.

    Example::

        >>> arms = [rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=1) for _ in range(10)]
        >>> model, reports = train_robin(arms, x, y, TrainConfig(epochs=5, progress=False))
    """
    check_training_data(x, y, len(arms), "train_robin")
    model = RobinClassifier(arms)
    reports = [train_arm(arm, x, y, i, cfg) for i, arm in enumerate(arms)]
    return model, reports


def train_har_coarse(coarse: nn.Module, hierarchy: Hierarchy, x: Tensor, y: Tensor, cfg: TrainConfig) -> TrainReport:
    r"""Train HAR's coarse network in place on the coarse labels of all samples (HAR Section 3).

    Under ``pgd_at_targeted`` the target is the coarse class of a fine class drawn uniformly from the
    other coarse classes (ADV-T, HAR Section 4.1).
    """
    check_training_data(x, y, hierarchy.n_fine, "train_har coarse")
    _check_width(coarse, x, hierarchy.n_coarse, "coarse network")
    targets = coarse_targets_outside_group(hierarchy) if cfg.objective == "pgd_at_targeted" else None
    x, y, val = split_validation(x, y, cfg)
    validation = None if val is None else (val[0], hierarchy.coarse_of(val[1]))
    return fit(
        coarse,
        x,
        hierarchy.coarse_of(y),
        cfg,
        name="coarse",
        seed=derive_seed(cfg.seed, "coarse"),
        targets=targets,
        validation=validation,
    )


def train_har_fine(
    fine: nn.Module, z: int, hierarchy: Hierarchy, x: Tensor, y: Tensor, cfg: TrainConfig
) -> TrainReport:
    r"""Train HAR's fine network ``z`` in place, only on samples of coarse class ``z``, over its own classes.

    Labels are positions within the group (``hierarchy.position_in_group``). A fine network sees only
    its own group, so under ``pgd_at_targeted`` its targets are drawn uniformly from the other fine
    classes of the group. With ``cfg.val_fraction > 0`` it validates on the held-out samples of its group
    (none when the split holds out none of them).
    """
    check_training_data(x, y, hierarchy.n_fine, f"train_har fine {z}")
    x, y, val = split_validation(x, y, cfg)
    members = hierarchy.coarse_of(y) == z
    if not bool(members.any()):
        raise RobinBenchError(
            f"train_har: coarse class {z} ({hierarchy.names[z]!r}) has no training samples; "
            f"its fine classes are {hierarchy.fine_classes(z)}"
        )
    size = len(hierarchy.fine_classes(z))
    _check_width(fine, x, size, f"fine network {z}")
    targets = targets_other_class(size) if cfg.objective == "pgd_at_targeted" else None
    position = hierarchy.position_in_group.to(y.device)
    validation = None
    if val is not None and bool((held := hierarchy.coarse_of(val[1]) == z).any()):
        validation = (val[0][held], position[val[1][held]])
    return fit(
        fine,
        x[members],
        position[y[members]],
        cfg,
        name=f"fine {z}",
        seed=derive_seed(cfg.seed, "fine", z),
        targets=targets,
        validation=validation,
    )


def _check_width(net: nn.Module, x: Tensor, expected: int, what: str) -> None:
    width = output_width(net, x)
    if width != expected:
        raise RobinBenchError(f"train_har: HAR {what} has {width} outputs; its hierarchy needs {expected}")


def train_har(
    coarse: nn.Module, fine: Sequence[nn.Module], hierarchy: Hierarchy, x: Tensor, y: Tensor, cfg: TrainConfig
) -> tuple[HARClassifier, list[TrainReport]]:
    r"""Train a HAR network in place: the coarse network and each fine network as independent jobs.

    Arguments:
        coarse (nn.Module): x -> (N, n_coarse) logits.
        fine (Sequence[nn.Module]): ``fine[z]``: x -> (N, |group z|) logits.
        hierarchy (Hierarchy): the fine -> coarse map.
        x (Tensor): (N, C, H, W) training inputs in [0, 1].
        y (Tensor): (N,) fine labels.
        cfg (TrainConfig): hyperparameters shared by all components (HAR Section 4.1).

    Returns:
        tuple[HARClassifier, list[TrainReport]]: the classifier and the reports (coarse first, then fine 0..).

    Example::

        >>> h = rb.Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
        >>> model, reports = train_har(coarse, [fine0, fine1], h, x, y, TrainConfig(objective="pgd_at_targeted"))
    """
    model = HARClassifier(coarse, fine, hierarchy)
    reports = [train_har_coarse(coarse, hierarchy, x, y, cfg)]
    reports += [train_har_fine(f, z, hierarchy, x, y, cfg) for z, f in enumerate(fine)]
    return model, reports
