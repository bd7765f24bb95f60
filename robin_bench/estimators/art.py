"""ART estimators for robin-bench models: ``to_art`` and a ``PyTorchClassifier`` whose ``fit`` knows ROBIN and HAR."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from art.utils import check_and_transform_label_format
from torch import nn

from robin_bench.errors import RobinBenchError
from robin_bench.models import HARClassifier, RobinClassifier

if TYPE_CHECKING:
    from robin_bench.train import TrainConfig


def infer_n_classes(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of output classes: ``model.n_classes`` for ROBIN/HAR, else the width of one forward pass on zeros.

    The forward pass runs in eval mode (so batch norm accepts a batch of one) and restores the mode after.
    """
    if isinstance(model, (RobinClassifier, HARClassifier)):
        return model.n_classes
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            out = model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(was_training)
    if out.dim() != 2:
        raise RobinBenchError(
            f"model output has shape {tuple(out.shape)} on input shape {input_shape}; "
            "a robin-bench model returns (N, K) logits or log-probabilities"
        )
    return int(out.shape[1])


class RobinBenchClassifier(PyTorchClassifier):
    r"""ART ``PyTorchClassifier`` for robin-bench models whose ``fit`` trains ROBIN and HAR the way the papers do.

    Prediction, gradients and losses are ART's own, on the model's single (N, K) output: arm logits
    for ROBIN (cross-entropy on them is ROBIN's SOFTMAX relaxation), log P(y|x) for HAR (cross-entropy
    on log-probabilities equals their negative log-likelihood, since ``log_softmax`` leaves
    log-probabilities unchanged), logits for flat models. ART's probability checks (APGD's
    ``is_probability``) do not fire on HAR's log-probabilities: they are <= 0 and do not sum to 1.

    ``fit`` hands the data to robin-bench's trainer instead of ART's joint loop:

    - :class:`~robin_bench.RobinClassifier`: every arm trained one-vs-all (``train_arm``, as in
      ``train_robin``); with ``train_config.balanced`` an arm whose class is absent from ``y`` (or is all
      of ``y``) is left unchanged by this call, as there is nothing to balance;
    - :class:`~robin_bench.HARClassifier`: the coarse network on coarse labels and fine network ``z``
      on the samples of coarse class ``z`` (``train_har_coarse``/``train_har_fine``, as in ``train_har``);
      a fine network whose group is absent from ``y`` is left unchanged by this call;
    - any other module: ``train_flat``.

    Each call is one independent trainer job: optimizer state (momentum) and the learning-rate schedule
    start afresh, so ART's per-batch calls amount to SGD steps at the schedule's first learning rate.

    ART's ``AdversarialTrainer`` (and ``AdversarialTrainerMadryPGD``, which wraps it) crafts adversarial
    batches and calls ``fit(x_batch, y_batch, nb_epochs=1, batch_size=len(x_batch))``, so they train real
    ROBIN/HAR models through this class. ART's PyTorch-specific trainers that step ``estimator.optimizer``
    themselves (TRADES, AWP, FBF, OAAT) bypass ``fit`` and train the aggregate jointly.

    Use :func:`to_art` to build one; the constructor keeps ``PyTorchClassifier``'s signature so ART's
    ``clone_for_refitting`` works.

    Arguments (beyond ``PyTorchClassifier``'s):
        train_config (TrainConfig | None): trainer settings used by ``fit``; its ``epochs`` and
            ``batch_size`` are replaced by ``fit``'s ``nb_epochs`` and ``batch_size``. None means
            ``TrainConfig()``. (Default: None)
    """

    def __init__(self, *args: Any, train_config: TrainConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.train_config = train_config

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int = 128,
        nb_epochs: int = 10,
        training_mode: bool = True,
        drop_last: bool = False,
        scheduler: Any = None,
        verbose: bool = False,
        **kwargs: Any,
    ) -> None:
        """Train the model on ``(x, y)`` with robin-bench's trainer (ROBIN one-vs-all, HAR per component).

        Arguments:
            x (np.ndarray): (N, C, H, W) inputs in [0, 1].
            y (np.ndarray): (N,) class labels or (N, K) one-hot labels.
            batch_size (int): minibatch size. (Default: 128)
            nb_epochs (int): passes over ``(x, y)``. (Default: 10)
            training_mode, drop_last, scheduler, verbose, kwargs: accepted for ART compatibility; the
                trainer owns mode switching, batching and schedules, so these must keep their defaults.
                ``verbose`` and keyword arguments passed as None (ART's trainers forward
                ``validation_data=None``) are ignored.
        """
        from robin_bench.train import TrainConfig, train_arm, train_flat, train_har_coarse, train_har_fine

        extra = sorted(k for k, v in kwargs.items() if v is not None)
        if not training_mode or drop_last or scheduler is not None or extra:
            raise RobinBenchError(
                "RobinBenchClassifier.fit got a non-default training_mode, drop_last, scheduler or extra arguments "
                f"{extra}; the robin-bench trainer owns mode, batching and schedule: set them in train_config"
            )
        labels = check_and_transform_label_format(y, nb_classes=self.nb_classes, return_one_hot=True)
        x_t = torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)
        y_t = torch.as_tensor(np.argmax(labels, axis=1), dtype=torch.long, device=self.device)
        base = self.train_config if self.train_config is not None else TrainConfig()
        cfg = dataclasses.replace(base, epochs=nb_epochs, batch_size=batch_size)
        model = self.model
        if isinstance(model, RobinClassifier):
            for i, arm in enumerate(model.arms):
                both_sides = bool((y_t == i).any()) and bool((y_t != i).any())
                if both_sides or not cfg.balanced:
                    train_arm(arm, x_t, y_t, i, cfg)
        elif isinstance(model, HARClassifier):
            hierarchy = model.hierarchy
            train_har_coarse(model.coarse, hierarchy, x_t, y_t, cfg)
            coarse = hierarchy.coarse_of(y_t.cpu())
            for z, fine in enumerate(model.fine):
                if bool((coarse == z).any()):
                    train_har_fine(fine, z, hierarchy, x_t, y_t, cfg)
        else:
            train_flat(model, x_t, y_t, cfg)


def to_art(
    model: nn.Module,
    *,
    input_shape: tuple[int, int, int],
    loss: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    device_type: str = "cpu",
    train_config: TrainConfig | None = None,
) -> RobinBenchClassifier:
    r"""Wrap a robin-bench model (ROBIN, HAR or flat) as an ART classifier.

    The estimator has ``clip_values=(0, 1)`` (robin-bench inputs live in [0, 1]; normalization lives
    inside the module) and ``nb_classes`` taken from the model: the number of arms (ROBIN), of fine
    classes (HAR), or the output width of one forward pass on zeros.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        input_shape (tuple[int, int, int]): (C, H, W) of one input.
        loss (nn.Module | None): loss used by ART for gradients and ``compute_loss``; None means
            ``nn.CrossEntropyLoss()`` (the NLL for HAR's log-probabilities). (Default: None)
        optimizer (torch.optim.Optimizer | None): handed to ART for its PyTorch-specific trainers that step
            it directly; ``fit`` itself uses robin-bench's trainer. (Default: None)
        device_type (str): ``"cpu"`` or ``"gpu"``. (Default: ``"cpu"``)
        train_config (TrainConfig | None): settings of ``fit``; see :class:`RobinBenchClassifier`. (Default: None)

    Returns:
        RobinBenchClassifier: an ART ``PyTorchClassifier``.

    Example::

        >>> clf = rb.estimators.to_art(robin_model, input_shape=(1, 8, 8))
        >>> from art.attacks.evasion import ProjectedGradientDescent
        >>> x_adv = ProjectedGradientDescent(clf, eps=0.1, eps_step=0.02, max_iter=10).generate(x_np)
    """
    if len(input_shape) != 3 or not all(isinstance(d, int) and d > 0 for d in input_shape):
        raise RobinBenchError(f"to_art input_shape must be (C, H, W) of positive ints, got {input_shape!r}")
    if device_type not in ("cpu", "gpu"):
        raise RobinBenchError(f"to_art device_type must be 'cpu' or 'gpu', got {device_type!r}")
    return RobinBenchClassifier(
        model,
        loss=nn.CrossEntropyLoss() if loss is None else loss,
        input_shape=tuple(input_shape),
        nb_classes=infer_n_classes(model, input_shape),
        optimizer=optimizer,
        clip_values=(0.0, 1.0),
        device_type=device_type,
        train_config=train_config,
    )
