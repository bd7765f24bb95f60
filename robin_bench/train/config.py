"""The training configuration: one frozen, validated record, hashable via its dict form."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from robin_bench.errors import RobinBenchError
from robin_bench.limits import MAX_SEED
from robin_bench.registry import did_you_mean

Schedule = Literal["cosine", "step", "constant"]
SCHEDULES: tuple[str, ...] = ("cosine", "step", "constant")
OBJECTIVE_NAMES: tuple[str, ...] = ("standard", "pgd_at", "pgd_at_targeted", "trades", "mart")
NORMS: tuple[str, ...] = ("Linf", "L2")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class TrainConfig:
    r"""Hyperparameters of one training job (a flat model, a ROBIN arm or a HAR component).

    SGD with momentum and weight decay; the learning rate follows ``schedule`` per epoch. The
    adversarial objectives perturb inputs inside an ``norm`` ball of radius ``eps`` with ``steps``
    projected steps of size ``alpha`` (Madry et al.), run by the project's attack engine.

    Arguments:
        epochs (int): passes over the training set, >= 1. (Default: 10)
        batch_size (int): samples per SGD step, >= 2. (Default: 128)
        lr (float): initial learning rate, > 0. (Default: 0.1)
        momentum (float): SGD momentum in [0, 1). (Default: 0.9)
        weight_decay (float): L2 penalty, >= 0. (Default: 5e-4)
        schedule (str): ``"cosine"`` (to 0 over the epochs from ``schedule_start`` to ``epochs``), ``"step"``
            (times ``gamma`` at each of ``milestones``) or ``"constant"``. (Default: ``"cosine"``)
        schedule_start (int | str): epoch (0-based) at which ``schedule`` starts; before it the learning rate
            is held at ``lr``, and the schedule counts its epochs from there (cosine decays over
            ``epochs - schedule_start`` epochs, step milestones count from it). ``"warmup"`` means
            ``min(warmup_epochs, epochs)``: the decay starts only once ROBIN's warm-up has made the batches
            fully adversarial. With 0 and a warm-up, a cosine rate is at ``lr / 2`` when the warm-up is
            half way and near 0 when it ends. (Default: 0)
        milestones (tuple[int, ...]): epochs (counted from ``schedule_start``, ascending) where the step
            schedule decays. (Default: ())
        gamma (float): step-schedule decay factor in (0, 1]. (Default: 0.1)
        objective (str): ``"standard"``, ``"pgd_at"``, ``"pgd_at_targeted"``, ``"trades"`` or ``"mart"``.
            (Default: ``"standard"``)
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): perturbation budget in input units ([0, 1] pixels), >= 0. (Default: 0.3)
        steps (int): PGD steps of the inner maximization, >= 1. (Default: 10)
        alpha (float | None): PGD step size; None means ``2.5 * eps / steps``. (Default: None)
        beta (float): weight of the robust term of TRADES and MART, >= 0. (Default: 6.0)
        warmup_epochs (int): ROBIN's warm-up length T: in epoch t the adversarial share of each batch
            is ``1 - (1 + cos(pi * min(t, T) / T)) / 2``; 0 turns the warm-up off (share 1 throughout).
            ``warmup_epochs=epochs`` is the ROBIN paper's setting (Appendix B.3). (Default: 0)
        augment (bool): random crop (pad 4) and horizontal flip. (Default: False)
        balanced (bool): ROBIN arms see equal positives and negatives per batch. (Default: True)
        val_fraction (float): share of the training data held out for validation, in [0, 1): a seeded split
            stratified by class (:func:`robin_bench.train.validation.holdout`); the model trains on the rest
            and each epoch's report holds clean and robust accuracy on the held-out part. 0 turns
            validation off. (Default: 0.0)
        val_eps (float | None): radius of the validation PGD in the norm ``norm``; None means ``eps``.
            (Default: None)
        val_steps (int): steps of the validation PGD (untargeted cross-entropy, step ``2.5 * val_eps /
            val_steps``, one random start), >= 1. (Default: 10)
        seed (int): seed of sampling, augmentation, attack starts, targets and the validation split. (Default: 0)
        progress (bool): report progress on stderr: on a terminal a bar per epoch with the running loss
            and accuracy, otherwise a plain line at least every 10 s of training and one at the end of
            each component. (Default: True)

    Example::

        >>> cfg = TrainConfig(epochs=20, objective="pgd_at", norm="Linf", eps=0.1, warmup_epochs=20)
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "cosine"
    schedule_start: int | Literal["warmup"] = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    objective: str = "standard"
    norm: Literal["Linf", "L2"] = "Linf"
    eps: float = 0.3
    steps: int = 10
    alpha: float | None = None
    beta: float = 6.0
    warmup_epochs: int = 0
    augment: bool = False
    balanced: bool = True
    val_fraction: float = 0.0
    val_eps: float | None = None
    val_steps: int = 10
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(self.milestones))
        self._check_ints()
        self._check_floats()
        self._check_choices()

    def _check_ints(self) -> None:
        ints = (("epochs", 1), ("batch_size", 2), ("steps", 1), ("warmup_epochs", 0), ("val_steps", 1), ("seed", 0))
        for name, low in ints:
            v = getattr(self, name)
            if not _is_int(v) or v < low:
                raise RobinBenchError(f"TrainConfig.{name}={v!r}; expected an integer >= {low}")
        if self.seed > MAX_SEED:
            raise RobinBenchError(f"TrainConfig.seed={self.seed!r}; expected an integer in 0..{MAX_SEED} (2**63 - 1)")
        for name in ("augment", "balanced", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise RobinBenchError(f"TrainConfig.{name}={getattr(self, name)!r}; expected true or false")
        start = self.schedule_start
        if start != "warmup" and (not _is_int(start) or not 0 <= start <= self.epochs):
            raise RobinBenchError(
                f"TrainConfig.schedule_start={start!r}; expected an epoch in 0..epochs={self.epochs} or 'warmup'"
            )
        ms = self.milestones
        if any(not _is_int(m) or m < 1 for m in ms) or list(ms) != sorted(set(ms)):
            raise RobinBenchError(f"TrainConfig.milestones={ms!r}; expected strictly ascending epoch numbers >= 1")

    def _check_floats(self) -> None:
        checks: tuple[tuple[str, float, bool], ...] = (
            ("lr", 0.0, False),
            ("weight_decay", 0.0, True),
            ("eps", 0.0, True),
            ("beta", 0.0, True),
        )
        for name, low, inclusive in checks:
            v = getattr(self, name)
            if not _is_number(v) or v < low or (v == low and not inclusive):
                raise RobinBenchError(f"TrainConfig.{name}={v!r}; expected a number {'>=' if inclusive else '>'} {low}")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise RobinBenchError(f"TrainConfig.momentum={self.momentum!r}; expected a number in [0, 1)")
        if not _is_number(self.gamma) or not 0 < self.gamma <= 1:
            raise RobinBenchError(f"TrainConfig.gamma={self.gamma!r}; expected a number in (0, 1]")
        if self.alpha is not None and (not _is_number(self.alpha) or self.alpha <= 0):
            raise RobinBenchError(
                f"TrainConfig.alpha={self.alpha!r}; expected a number > 0 or None (2.5 * eps / steps)"
            )
        if not _is_number(self.val_fraction) or not 0 <= self.val_fraction < 1:
            raise RobinBenchError(f"TrainConfig.val_fraction={self.val_fraction!r}; expected a number in [0, 1)")
        if self.val_eps is not None and (not _is_number(self.val_eps) or self.val_eps < 0):
            raise RobinBenchError(f"TrainConfig.val_eps={self.val_eps!r}; expected a number >= 0 or None (eps)")
        if self.norm == "Linf" and self.eps > 1:
            raise RobinBenchError(
                f"TrainConfig.eps={self.eps} exceeds the [0, 1] input range for Linf; did you mean {self.eps}/255?"
            )

    def _check_choices(self) -> None:
        for name, valid in (("objective", OBJECTIVE_NAMES), ("schedule", SCHEDULES), ("norm", NORMS)):
            v = getattr(self, name)
            if v not in valid:
                raise RobinBenchError(f"TrainConfig.{name}={v!r}; {did_you_mean(v, list(valid))}")
        if self.schedule != "step" and self.milestones:
            raise RobinBenchError(
                f"TrainConfig.milestones={self.milestones!r} given with schedule={self.schedule!r}; "
                "milestones apply only to schedule='step'"
            )

    @property
    def step_size(self) -> float:
        """The PGD step size: ``alpha``, or ``2.5 * eps / steps`` when ``alpha`` is None."""
        return 2.5 * self.eps / self.steps if self.alpha is None else self.alpha

    @property
    def decay_start(self) -> int:
        """The epoch at which the learning-rate schedule starts (``schedule_start`` with ``"warmup"`` resolved)."""
        if self.schedule_start == "warmup":
            return min(self.warmup_epochs, self.epochs)
        return self.schedule_start

    @property
    def validation_eps(self) -> float:
        """The radius of the validation PGD: ``val_eps``, or ``eps`` when ``val_eps`` is None."""
        return self.eps if self.val_eps is None else self.val_eps

    @property
    def adversarial(self) -> bool:
        """Whether the objective perturbs its inputs."""
        return self.objective != "standard"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (milestones as a list); the inverse of :meth:`from_dict`."""
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "train config") -> TrainConfig:
        """A config from a dict; an unknown key raises ``RobinBenchError`` naming ``source``."""
        known = [f.name for f in fields(cls)]
        for key in d:
            if key not in known:
                raise RobinBenchError(f"unknown key {key!r} in {source}; {did_you_mean(str(key), known)}")
        return cls(**dict(d))
