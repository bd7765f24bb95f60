"""robin-bench attacks as ART evasion attacks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.attacks import EvasionAttack
from art.utils import check_and_transform_label_format

from robin_bench.attacks.base import Attack
from robin_bench.errors import RobinBenchError
from robin_bench.estimators.art import RobinBenchClassifier


class ArtEvasion(EvasionAttack):
    r"""Any robin-bench :class:`~robin_bench.attacks.Attack` as an ART ``EvasionAttack``.

    ``generate`` converts numpy inputs to tensors on the estimator's device, runs the attack
    (so its threat model, early exit and objective are unchanged) and returns numpy. The attack must
    have been built on the estimator's model (``attack.model is estimator.model``), because a
    :class:`~robin_bench.estimators.art.RobinBenchClassifier` applies no preprocessing of its own.
    Untargeted attacks take true labels; an attack in one of torchattacks' targeted modes takes
    what that mode expects (``set_mode_targeted_by_label``: target labels), like ART's ``targeted=True``.

    Arguments:
        estimator (RobinBenchClassifier): the estimator, from :func:`~robin_bench.estimators.to_art`.
        attack (Attack): a robin-bench attack on ``estimator.model``.
        batch_size (int): samples per attack call. (Default: 128)

    Shape:
        - x: (N, C, H, W) float array in [0, 1].
        - y: (N,) labels, (N, K) one-hot labels, or None (the estimator's predictions).
        - output: (N, C, H, W) float32 array in the attack's ball and [0, 1].

    Example::

        >>> clf = rb.estimators.to_art(model, input_shape=(1, 8, 8))
        >>> art_pgd = ArtEvasion(clf, attack=rb.attacks.PGD(model, eps=0.1))
        >>> x_adv = art_pgd.generate(x_np, y_np)
    """

    attack_params = ["attack", "batch_size"]
    _estimator_requirements = (RobinBenchClassifier,)

    def __init__(self, estimator: RobinBenchClassifier, *, attack: Attack, batch_size: int = 128) -> None:
        super().__init__(estimator=estimator)
        self.attack = attack
        self.batch_size = batch_size
        self._check_params()
        self.targeted = bool(attack.targeted)

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.attack, Attack):
            raise RobinBenchError(f"ArtEvasion attack must be a robin_bench Attack, got {type(self.attack).__name__}")
        if self.attack.model is not self.estimator.model:
            raise RobinBenchError(
                "ArtEvasion attack was built on a different model than the estimator's; build it on estimator.model"
            )
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise RobinBenchError(f"ArtEvasion batch_size must be a positive int, got {self.batch_size!r}")

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Adversarial examples for ``x`` (numpy in, numpy out); ``y`` None attacks the estimator's predictions."""
        if kwargs:
            raise RobinBenchError(f"ArtEvasion.generate got unknown arguments {sorted(kwargs)}")
        x = np.asarray(x, dtype=np.float32)
        if y is None:
            labels = np.argmax(self.estimator.predict(x, batch_size=self.batch_size), axis=1)
        else:
            one_hot = check_and_transform_label_format(y, nb_classes=self.estimator.nb_classes, return_one_hot=True)
            labels = np.argmax(one_hot, axis=1)
        if labels.shape[0] != x.shape[0]:
            raise RobinBenchError(f"ArtEvasion.generate got {x.shape[0]} inputs but {labels.shape[0]} labels")
        device = self.estimator.device
        out = []
        for start in range(0, x.shape[0], self.batch_size):
            xb = torch.from_numpy(x[start : start + self.batch_size]).to(device)
            yb = torch.from_numpy(labels[start : start + self.batch_size]).long().to(device)
            out.append(self.attack(xb, yb).detach().cpu().numpy())
        return np.concatenate(out, axis=0).astype(np.float32)
