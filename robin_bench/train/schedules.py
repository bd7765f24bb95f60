"""Per-epoch schedules: the learning rate and ROBIN's adversarial warm-up."""

from __future__ import annotations

import bisect
import math

from robin_bench.train.config import TrainConfig


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    r"""The learning rate of epoch ``epoch`` (0-based).

    Before ``s = cfg.decay_start`` the rate is held at ``lr``; from there, with ``e = epoch - s`` the
    schedule's own epoch count: ``cosine``: ``lr * (1 + cos(pi * e / (epochs - s))) / 2``; ``step``:
    ``lr * gamma ** m`` with ``m`` the number of milestones <= ``e``; ``constant``: ``lr``.

    Example::

        >>> learning_rate(TrainConfig(lr=0.1, schedule="step", milestones=(10,)), 10)
        0.010000000000000002
        >>> cfg = TrainConfig(lr=0.1, epochs=4, warmup_epochs=2, schedule_start="warmup")
        >>> [learning_rate(cfg, e) for e in range(4)]
        [0.1, 0.1, 0.1, 0.05]
    """
    start = cfg.decay_start
    if epoch < start:
        return cfg.lr
    e = epoch - start
    if cfg.schedule == "cosine":
        return cfg.lr * (1 + math.cos(math.pi * e / (cfg.epochs - start))) / 2
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** bisect.bisect_right(cfg.milestones, e)
    return cfg.lr


def adversarial_share(epoch: int, warmup_epochs: int) -> float:
    r"""ROBIN's warm-up (Appendix B.3): the share of adversarial examples in each batch of epoch ``epoch``.

    ``1 - (1 + cos(pi * t / T)) / 2`` with ``t`` the 0-based epoch (capped at ``T``) and ``T = warmup_epochs``:
    0 at ``t = 0``, 1/2 at ``t = T/2``, 1 from ``t = T`` on. ``warmup_epochs = 0`` means no warm-up (always 1).

    Example::

        >>> [round(adversarial_share(t, 4), 3) for t in range(5)]
        [0.0, 0.146, 0.5, 0.854, 1.0]
    """
    if warmup_epochs == 0:
        return 1.0
    t = min(epoch, warmup_epochs)
    return 1 - (1 + math.cos(math.pi * t / warmup_epochs)) / 2
