"""ART estimators for robin-bench models: ``to_art`` and a ``PyTorchClassifier`` whose ``fit`` knows ROBIN and HAR."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from art.utils import check_and_transform_label_format
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from robin_bench.errors import RobinBenchError
from robin_bench.models.kinds import kind_of
from robin_bench.train import OBJECTIVES, TrainConfig, learning_rate, random_crop_flip
from robin_bench.train.sampling import balanced_batches
from robin_bench.train.trainer import check_training_data


def infer_n_classes(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of output classes: ``model.n_classes`` where the model has one (ROBIN, HAR), else the width of one
    forward pass on zeros.

    The forward pass runs in eval mode (so batch norm accepts a batch of one) and restores the mode after.
    """
    n_classes = getattr(model, "n_classes", None)
    if isinstance(n_classes, int):
        return n_classes
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


ART_TRAIN_CONFIG = TrainConfig(schedule="constant", progress=False)
"""``fit``'s settings when ``to_art`` gets no ``train_config``: SGD at a constant learning rate 0.1, momentum 0.9."""


class RobinBenchClassifier(PyTorchClassifier):
    r"""ART ``PyTorchClassifier`` for robin-bench models whose ``fit`` trains ROBIN and HAR the way the papers do.

    Prediction, gradients and losses are ART's own, on the model's single (N, K) output: arm logits
    for ROBIN (cross-entropy on them is ROBIN's SOFTMAX relaxation), log P(y|x) for HAR (cross-entropy
    on log-probabilities equals their negative log-likelihood, since ``log_softmax`` leaves
    log-probabilities unchanged), logits for flat models. ART's probability checks (APGD's
    ``is_probability``) do not fire on HAR's log-probabilities: they are <= 0 and do not sum to 1.
    Inputs of any float dtype are cast to the model's (ART's HopSkipJump passes float64); labels may be
    class indices or one-hot wherever ART takes labels.

    ``fit`` is ART's ``fit`` (minimize the clean loss on the data it is given, with the estimator's
    optimizer; adversarial examples come from ART's trainers) applied per component, with the standard
    objective of robin-bench's trainer (cross-entropy):

    - :class:`~robin_bench.RobinClassifier`: every arm one-vs-all on labels ``1[y == i]`` (as ``train_arm``);
      with ``train_config.balanced`` each batch of an arm holds equal positives and negatives, and an arm
      whose class is absent from ``y`` (or is all of ``y``) is left unchanged by this call;
    - :class:`~robin_bench.HARClassifier`: the coarse network on coarse labels, fine network ``z`` on the
      samples of coarse class ``z`` with in-group labels (as ``train_har_coarse``/``train_har_fine``); a
      fine network whose group is absent from ``y`` is left unchanged by this call;
    - any other module: all classes jointly (as ``train_flat``);
    - a plugin's model kind: as its ``ModelKind.fit_jobs`` says (:func:`robin_bench.models.kinds.kind_of`).

    Each batch of a component is one ``optimizer.step()`` after ``zero_grad(set_to_none=True)``, so
    only that component's parameters move: with a per-parameter optimizer (SGD, Adam) one optimizer over
    the whole model trains every component as an independent job would.

    Training state persists across ``fit`` calls, as it must: ART's ``AdversarialTrainer`` (and
    ``AdversarialTrainerMadryPGD``, which wraps it) craft each adversarial batch and call
    ``fit(x_batch, y_batch, nb_epochs=1, batch_size=len(x_batch))`` once per batch. The state is

    - the optimizer (its momentum buffers): ``to_art``'s ``optimizer``, or else an SGD built from
      ``train_config`` (``lr``, ``momentum``, ``weight_decay``);
    - the learning rate: a torch ``scheduler`` passed to ``fit`` is stepped after every epoch, as ART
      does (through ART's trainers: after every batch). On the SGD built from ``train_config``, the
      config's ``schedule`` sets the learning rate of each epoch instead, counting the epochs of all
      ``fit`` calls so far over a horizon of ``train_config.epochs`` and holding its last value after it
      (through ART's trainers an epoch of this schedule is one batch);
    - the random generators of batch sampling and augmentation, seeded with ``train_config.seed``.

    It resets only on :meth:`reset_training_state` (which also clears a user optimizer's buffers) and
    when ``train_config`` is assigned (a new SGD from the new config, if the estimator built its own).
    A different optimizer means a new estimator: ``to_art`` again.

    A batch of one sample trains with batch-norm layers in eval mode (the statistics of one sample are
    undefined; ART's own ``fit`` raises there). ART's trainers meet one when ``len(x) % batch_size == 1``.
    ART's PyTorch-specific trainers that step ``estimator.optimizer`` themselves (TRADES, AWP, FBF, OAAT)
    bypass ``fit`` and train the aggregate jointly. robin-bench's own adversarial objectives (PGD-AT,
    TRADES, MART, warm-up) are :mod:`robin_bench.train`'s; ``fit`` takes ``objective="standard"`` only.

    Use :func:`to_art` to build one; the constructor keeps ``PyTorchClassifier``'s signature so ART's
    ``clone_for_refitting`` works.

    Arguments (beyond ``PyTorchClassifier``'s):
        train_config (TrainConfig | None): settings of ``fit``: ``lr``, ``momentum``, ``weight_decay`` and
            ``schedule`` (``epochs``, ``milestones``, ``gamma``) of the SGD built when ``optimizer`` is None,
            ``balanced``, ``augment`` and ``seed``; ``objective`` must be ``"standard"``. None means
            :data:`ART_TRAIN_CONFIG`. (Default: None)
    """

    estimator_params = PyTorchClassifier.estimator_params + ["train_config"]

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        input_shape: tuple[int, ...],
        nb_classes: int,
        optimizer: torch.optim.Optimizer | None = None,
        *args: Any,
        train_config: TrainConfig | None = None,
        **kwargs: Any,
    ) -> None:
        cfg = _fit_config(train_config)
        self._owns_optimizer = optimizer is None
        super().__init__(
            model, loss, input_shape, nb_classes, _sgd(model, cfg) if optimizer is None else optimizer, *args, **kwargs
        )
        self._train_config = cfg
        self.reset_training_state()

    @property
    def train_config(self) -> TrainConfig:
        """Settings of ``fit``; assigning one resets the training state (and rebuilds the SGD this estimator built)."""
        return self._train_config

    @train_config.setter
    def train_config(self, cfg: TrainConfig | None) -> None:
        cfg = _fit_config(cfg)
        self._train_config = cfg
        if self._owns_optimizer:
            self._optimizer = _sgd(self.model, cfg)
        self.reset_training_state()

    @property
    def epochs_done(self) -> int:
        """Epochs run by ``fit`` since construction or the last :meth:`reset_training_state` (the schedule's clock)."""
        return self._epochs_done

    def reset_training_state(self) -> None:
        """Forget momentum (the optimizer's per-parameter state), restart the schedule at epoch 0, reseed sampling."""
        self._optimizer.state.clear()
        self._epochs_done = 0
        self._generator = torch.Generator().manual_seed(self._train_config.seed)
        self._device_generator = torch.Generator(device=self.device).manual_seed(self._train_config.seed)

    def _cast(self, x: Any) -> Any:
        """``x`` in the model's floating dtype (numpy stays numpy, tensors stay tensors)."""
        param = next(self.model.parameters(), None)
        dtype = torch.float32 if param is None else param.dtype
        if isinstance(x, torch.Tensor):
            return x if x.dtype == dtype else x.to(dtype)
        np_dtype = torch.empty((), dtype=dtype).numpy().dtype
        x = np.asarray(x)
        return x if x.dtype == np_dtype else x.astype(np_dtype)

    def _one_hot(self, y: Any) -> Any:
        """``y`` as one-hot labels (ART's gradient and loss code reduces 2-D labels only), numpy or torch as given."""
        if isinstance(y, torch.Tensor):
            if y.dim() == 1:
                return torch.nn.functional.one_hot(y.long(), self.nb_classes).float()
            return y
        return check_and_transform_label_format(np.asarray(y), nb_classes=self.nb_classes, return_one_hot=True)

    def predict(self, x: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        """ART's ``predict`` on ``x`` cast to the model's dtype."""
        return super().predict(self._cast(x), *args, **kwargs)

    def loss_gradient(self, x: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        """ART's ``loss_gradient`` on ``x`` cast to the model's dtype; ``y`` class indices or one-hot."""
        return super().loss_gradient(self._cast(x), self._one_hot(y), *args, **kwargs)

    def class_gradient(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """ART's ``class_gradient`` on ``x`` cast to the model's dtype."""
        return super().class_gradient(self._cast(x), *args, **kwargs)

    def compute_loss(self, x: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        """ART's ``compute_loss`` on ``x`` cast to the model's dtype; ``y`` class indices or one-hot."""
        return super().compute_loss(self._cast(x), self._one_hot(y), *args, **kwargs)

    def get_activations(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """ART's ``get_activations`` on ``x`` cast to the model's dtype."""
        return super().get_activations(self._cast(x), *args, **kwargs)

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
        """Train the model on ``(x, y)`` per component, continuing the estimator's optimizer and schedule.

        Arguments:
            x (np.ndarray): (N, C, H, W) inputs in [0, 1], any float dtype (numpy or torch).
            y (np.ndarray): (N,) class labels or (N, K) one-hot labels (numpy or torch).
            batch_size (int): minibatch size, >= 1 (>= 2 for balanced ROBIN arms). (Default: 128)
            nb_epochs (int): passes over ``(x, y)``, >= 0. (Default: 10)
            training_mode (bool): the model's mode while training, as in ART. (Default: True)
            drop_last (bool): drop each epoch's last incomplete batch, as in ART. (Default: False)
            scheduler: a torch learning-rate scheduler of ``to_art``'s ``optimizer``, stepped after every
                epoch, as in ART. (Default: None)
            verbose, kwargs: accepted for ART compatibility and ignored; keyword arguments must be None
                (ART's trainers forward ``validation_data=None``).
        """
        extra = sorted(k for k, v in kwargs.items() if v is not None)
        if extra:
            raise RobinBenchError(f"RobinBenchClassifier.fit got unknown arguments {extra}; ART's fit takes none")
        if scheduler is not None and self._owns_optimizer:
            raise RobinBenchError(
                "RobinBenchClassifier.fit got a scheduler, but its SGD follows train_config.schedule; "
                "pass your own optimizer to to_art to schedule it yourself"
            )
        cfg = self._train_config
        if not _positive_int(batch_size) or not (_positive_int(nb_epochs) or nb_epochs == 0):
            raise RobinBenchError(
                f"RobinBenchClassifier.fit batch_size={batch_size!r}, nb_epochs={nb_epochs!r}; "
                "expected an integer >= 1 and an integer >= 0"
            )
        labels = torch.as_tensor(self._one_hot(y)).argmax(1)
        x_t = torch.as_tensor(self._cast(x), device=self.device)
        y_t = labels.to(device=self.device, dtype=torch.long)
        check_training_data(x_t, y_t, self.nb_classes, "RobinBenchClassifier.fit")
        jobs = kind_of(self.model).fit_jobs(self.model, x_t, y_t, cfg.balanced)
        if batch_size < 2 and any(positive is not None for *_, positive in jobs):
            raise RobinBenchError(
                "RobinBenchClassifier.fit batch_size=1 with train_config.balanced: a balanced ROBIN batch holds a "
                "positive and a negative; use batch_size >= 2 or balanced=False"
            )
        loss_fn = OBJECTIVES.get("standard").loss
        for _ in range(nb_epochs):
            if self._owns_optimizer:
                lr = learning_rate(cfg, min(self._epochs_done, cfg.epochs - 1))
                for group in self._optimizer.param_groups:
                    group["lr"] = lr
            for net, xj, yj, positive in jobs:
                for idx in self._batches(yj.shape[0], positive, batch_size, drop_last):
                    idx = idx.to(self.device)
                    xb, yb = xj[idx], yj[idx]
                    if cfg.augment:
                        xb = random_crop_flip(xb, self._device_generator)
                    _set_mode(net, training_mode, xb.shape[0])
                    loss = loss_fn(net(xb), None, yb, beta=cfg.beta)
                    self._optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self._optimizer.step()
            self._epochs_done += 1
            if scheduler is not None:
                scheduler.step()
        self.model.eval()

    def _batches(self, n: int, positive: torch.Tensor | None, batch_size: int, drop_last: bool) -> list[torch.Tensor]:
        """One epoch of index batches: balanced for ROBIN arms, else a shuffled split as ART's DataLoader makes."""
        if positive is not None:
            return balanced_batches(positive.cpu(), batch_size, self._generator)
        batches = list(torch.randperm(n, generator=self._generator).split(batch_size))
        return [b for b in batches if b.numel() == batch_size or not drop_last]


def _fit_config(cfg: TrainConfig | None) -> TrainConfig:
    cfg = ART_TRAIN_CONFIG if cfg is None else cfg
    if cfg.objective != "standard":
        raise RobinBenchError(
            f"to_art train_config.objective={cfg.objective!r}; fit trains on what ART's trainers give it, so use "
            "'standard' (robin-bench's adversarial objectives: rb.train.train_robin, train_har, train_flat)"
        )
    return cfg


def _sgd(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _positive_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and bool(v >= 1)


def _set_mode(net: nn.Module, training_mode: bool, batch: int) -> None:
    """``net.train(training_mode)``, with batch norm in eval mode for a batch of one sample."""
    net.train(training_mode)
    if batch == 1:
        for m in net.modules():
            if isinstance(m, _BatchNorm):
                m.eval()


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
        optimizer (torch.optim.Optimizer | None): the estimator's optimizer, kept across ``fit`` calls and
            handed to ART's PyTorch-specific trainers that step it directly; None builds an SGD from
            ``train_config``. (Default: None)
        device_type (str): ``"cpu"`` or ``"gpu"``. (Default: ``"cpu"``)
        train_config (TrainConfig | None): settings of ``fit`` (objective ``"standard"``); see
            :class:`RobinBenchClassifier`. None means :data:`ART_TRAIN_CONFIG`. (Default: None)

    Returns:
        RobinBenchClassifier: an ART ``PyTorchClassifier``.

    Example::

        >>> clf = rb.estimators.to_art(robin_model, input_shape=(1, 8, 8))
        >>> from art.attacks.evasion import ProjectedGradientDescent
        >>> x_adv = ProjectedGradientDescent(clf, eps=0.1, eps_step=0.02, max_iter=10).generate(x_np)
        >>> from art.defences.trainer import AdversarialTrainerMadryPGD  # fit per batch, momentum kept
        >>> clf = rb.estimators.to_art(net, input_shape=(1, 8, 8), optimizer=torch.optim.SGD(net.parameters(), lr=0.05))
        >>> AdversarialTrainerMadryPGD(clf, nb_epochs=3, batch_size=32, eps=0.1, eps_step=0.025).fit(x_np, y_np)
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
