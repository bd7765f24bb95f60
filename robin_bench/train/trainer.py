"""The one training loop, for flat models, ROBIN arms and HAR components alike, and its report."""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TextIO

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.threads import in_own_loop
from robin_bench.train.augment import random_crop_flip
from robin_bench.train.config import TrainConfig
from robin_bench.train.objectives import OBJECTIVES, TargetSampler, TrainingAdversary, fine_targets_outside_group
from robin_bench.train.progress import LOG_INTERVAL_S, ProgressLog
from robin_bench.train.sampling import balanced_batches, uniform_batches
from robin_bench.train.schedules import adversarial_share, learning_rate
from robin_bench.train.validation import holdout, validation_accuracy


@dataclass(frozen=True)
class TrainReport:
    r"""Per-epoch record of one training job (one entry per epoch in every tuple field).

    Attributes:
        name (str): the job ("flat", "arm 3", "coarse", "fine 1").
        loss (tuple[float, ...]): mean training objective.
        clean_loss, clean_acc (tuple[float, ...]): cross-entropy and accuracy on the clean batches
            (eval mode for adversarial objectives, the training forward for ``standard``).
        adv_loss, adv_acc (tuple[float, ...]): the same on the perturbed samples (NaN when none were).
        adv_share (tuple[float, ...]): share of each batch perturbed (ROBIN's warm-up).
        lr (tuple[float, ...]): learning rate.
        seconds (tuple[float, ...]): wall-clock seconds (training only, validation excluded).
        images (tuple[int, ...]): training images processed.
        val_clean_acc, val_robust_acc (tuple[float, ...]): clean and PGD accuracy on the held-out part of
            the training data after each epoch (:func:`robin_bench.train.validation.validation_accuracy`);
            NaN without validation. A ROBIN arm's are balanced binary accuracies (mean of the accuracies
            on its positives and its negatives) when it trains with balanced sampling, plain binary
            accuracies otherwise; a HAR component's are over its own labels (coarse classes, or the
            positions in its group on the held-out samples of its group).
        val_size (int): held-out samples this job validated on (0 without validation).
    """

    name: str
    loss: tuple[float, ...]
    clean_loss: tuple[float, ...]
    clean_acc: tuple[float, ...]
    adv_loss: tuple[float, ...]
    adv_acc: tuple[float, ...]
    adv_share: tuple[float, ...]
    lr: tuple[float, ...]
    seconds: tuple[float, ...]
    images: tuple[int, ...]
    val_clean_acc: tuple[float, ...]
    val_robust_acc: tuple[float, ...]
    val_size: int = 0

    @property
    def images_per_second(self) -> float:
        """Training throughput over all epochs."""
        return sum(self.images) / max(sum(self.seconds), 1e-12)

    @property
    def history(self) -> list[dict[str, Any]]:
        """One dict per epoch: ``epoch`` (1-based), ``loss``, ``train_acc`` (clean accuracy on the training
        batches), ``train_adv_acc``, ``val_clean_acc``, ``val_robust_acc``, ``lr``, ``adv_share``, ``seconds``."""
        return [
            {
                "epoch": e + 1,
                "loss": self.loss[e],
                "train_acc": self.clean_acc[e],
                "train_adv_acc": self.adv_acc[e],
                "val_clean_acc": self.val_clean_acc[e],
                "val_robust_acc": self.val_robust_acc[e],
                "lr": self.lr[e],
                "adv_share": self.adv_share[e],
                "seconds": self.seconds[e],
            }
            for e in range(len(self.loss))
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples as lists; NaN stays a float); the inverse of :meth:`from_dict`."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainReport:
        """A report from :meth:`to_dict`'s dict; reports written before validation existed get NaN columns."""
        epochs = len(d["loss"])
        values: dict[str, Any] = {"val_clean_acc": [math.nan] * epochs, "val_robust_acc": [math.nan] * epochs}
        values |= {f.name: d[f.name] for f in fields(cls) if f.name in d}
        converted: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed for one job, a function of the config seed and the job's keys only."""
    digest = hashlib.sha256(repr((seed, *keys)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise RobinBenchError(f"cannot train {type(model).__name__}: it has no parameters") from None


def check_training_data(x: Tensor, y: Tensor, n_classes: int | None, name: str) -> None:
    """Raise ``RobinBenchError`` naming ``name`` unless x is (N, ...) in [0, 1] and y (N,) labels < ``n_classes``."""
    if x.dim() < 2 or y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise RobinBenchError(
            f"{name}: inputs {tuple(x.shape)} and labels {tuple(y.shape)} do not match; expected (N, ...) and (N,)"
        )
    if x.shape[0] == 0:
        raise RobinBenchError(f"{name}: no training samples")
    if x.is_floating_point() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise RobinBenchError(f"{name}: inputs span [{float(x.min()):.3g}, {float(x.max()):.3g}]; expected [0, 1]")
    low, high = int(y.min()), int(y.max())
    if low < 0 or (n_classes is not None and high >= n_classes):
        valid = "non-negative integers" if n_classes is None else f"0..{n_classes - 1}"
        raise RobinBenchError(f"{name}: label {low if low < 0 else high} outside the model's classes {valid}")


def output_width(model: nn.Module, x: Tensor) -> int:
    """Number of output columns of ``model`` on one sample of ``x`` (an eval-mode forward, no gradients)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x[:1])
    model.train(was_training)
    if out.dim() != 2:
        raise RobinBenchError(f"the model returned shape {tuple(out.shape)}; expected (N, K) logits")
    return int(out.shape[1])


@in_own_loop
def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    cfg: TrainConfig,
    *,
    name: str,
    seed: int,
    positive: Tensor | None = None,
    targets: TargetSampler | None = None,
    validation: tuple[Tensor, Tensor] | None = None,
    log: TextIO | None = None,
    log_interval: float | None = None,
) -> TrainReport:
    r"""Train ``model`` in place on ``(x, y)``: the single loop behind every ``train_*`` function.

    Per batch: sample indices (uniformly, or balanced on ``positive``), augment if ``cfg.augment``;
    for adversarial objectives put the model in eval mode, record clean statistics, perturb the first
    ``round(share * B)`` samples with :class:`TrainingAdversary` (``share`` from ROBIN's warm-up), go
    back to train mode; compute the objective's loss and take an SGD step. After each epoch, with
    ``validation``, clean and PGD accuracy on it (``cfg.validation_eps``, ``cfg.val_steps``).

    With ``cfg.progress``, progress goes to ``log``: on a terminal a bar per epoch whose postfix shows the
    running loss (the objective), clean accuracy and, when adversarial samples were seen, their
    accuracy; otherwise a plain line (:class:`~robin_bench.train.progress.ProgressLog`) whenever
    ``log_interval`` seconds passed since the last, and one when the job ends.

    Arguments:
        model (nn.Module): (N, C, H, W) -> (N, K) logits; trained in place.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels of this job (fine, coarse, in-group positions or one-vs-all bits).
        cfg (TrainConfig): hyperparameters.
        name (str): job name for the progress output and the report.
        seed (int): seed of all randomness of this job (batches, augmentation, attack starts, targets, dropout).
        positive (Tensor | None): (N,) bool; when given, every batch holds equal positives and negatives
            (and validation accuracy is balanced over the two classes).
        targets (TargetSampler | None): target classes for ``pgd_at_targeted``.
        validation (tuple[Tensor, Tensor] | None): held-out (inputs, labels of this job), or None.
            (Default: None)
        log (TextIO | None): where progress goes. (Default: ``sys.stderr``)
        log_interval (float | None): seconds between plain progress lines; None means
            :data:`~robin_bench.train.progress.LOG_INTERVAL_S` (10). (Default: None)

    Threads: as in ``rb.evaluate`` (:func:`robin_bench.threads.own_loop`).

    Returns:
        TrainReport: per-epoch losses, accuracies, shares, learning rates, seconds, images and validation.
    """
    objective = OBJECTIVES.get(cfg.objective)
    if objective.targeted and targets is None:
        raise RobinBenchError(
            f"{name}: objective 'pgd_at_targeted' draws targets from other coarse classes and needs a hierarchy"
        )
    device = _device_of(model)
    x, y = x.to(device), y.to(device).long()
    check_training_data(x, y, output_width(model, x), name)
    if validation is not None:
        validation = (validation[0].to(device), validation[1].to(device).long())
        check_training_data(*validation, output_width(model, x), f"{name} validation")
    n = x.shape[0]
    cpu_gen = torch.Generator().manual_seed(seed)
    dev_gen = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    adversary = (
        TrainingAdversary(model, norm=cfg.norm, eps=cfg.eps, steps=cfg.steps, alpha=cfg.step_size)
        if cfg.adversarial
        else None
    )
    stream = sys.stderr if log is None else log
    show = cfg.progress and _isatty(stream)
    interval = LOG_INTERVAL_S if log_interval is None else log_interval
    lines = ProgressLog(name, cfg.epochs, stream, interval=interval) if cfg.progress and not show else None
    rows: dict[str, list[Any]] = {f.name: [] for f in fields(TrainReport) if f.name not in ("name", "val_size")}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for epoch in range(cfg.epochs):
            start = time.perf_counter()
            lr = learning_rate(cfg, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            share = adversarial_share(epoch, cfg.warmup_epochs) if adversary is not None else 0.0
            batches = (
                balanced_batches(positive, cfg.batch_size, cpu_gen)
                if positive is not None
                else uniform_batches(n, cfg.batch_size, cpu_gen)
            )
            sums = torch.zeros(7, device=device)
            bar = tqdm(
                batches,
                desc=f"{name} epoch {epoch + 1}/{cfg.epochs}",
                disable=not show,
                leave=epoch == cfg.epochs - 1,
                file=stream,
            )  # a terminal keeps each component's last epoch
            for i, idx in enumerate(bar, start=1):
                idx = idx.to(device)
                xb, yb = x[idx], y[idx]
                if cfg.augment:
                    xb = random_crop_flip(xb, dev_gen)
                k = round(share * xb.shape[0])
                if adversary is None:
                    model.train()
                    out = model(xb)
                    clean_out, train_clean = out.detach(), None
                else:
                    model.eval()
                    with torch.no_grad():
                        clean_out = model(xb)
                    x_in = xb
                    if k > 0:
                        t = targets(yb[:k], dev_gen) if targets is not None and objective.targeted else None
                        aux = objective.attack_aux(yb[:k], clean_out[:k], t)
                        x_in = torch.cat([adversary.perturb(xb[:k], aux, objective.inner, dev_gen), xb[k:]])
                    model.train()
                    out = model(x_in)
                    train_clean = model(xb) if objective.needs_clean else None
                loss = objective.loss(out, train_clean, yb, beta=cfg.beta)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    b = xb.shape[0]
                    adv = out[:k].detach() if adversary is not None else out[:0].detach()
                    sums += torch.stack(
                        [
                            loss.detach() * b,
                            F.cross_entropy(clean_out, yb, reduction="sum"),
                            (clean_out.argmax(1) == yb).sum(),
                            F.cross_entropy(adv, yb[: adv.shape[0]], reduction="sum"),
                            (adv.argmax(1) == yb[: adv.shape[0]]).sum(),
                            torch.tensor(float(adv.shape[0]), device=device),
                            torch.tensor(float(b), device=device),
                        ]
                    )
                if show:
                    bar.set_postfix(_running(sums.tolist()), refresh=False)
                elif lines is not None and lines.due():  # no device sync on the batches that print nothing
                    lines.update(epoch, i, len(batches), _running(sums.tolist()))
            s = sums.tolist()
            rows["loss"].append(s[0] / s[6])
            rows["clean_loss"].append(s[1] / s[6])
            rows["clean_acc"].append(s[2] / s[6])
            rows["adv_loss"].append(s[3] / s[5] if s[5] else float("nan"))
            rows["adv_acc"].append(s[4] / s[5] if s[5] else float("nan"))
            rows["adv_share"].append(share)
            rows["lr"].append(lr)
            rows["images"].append(int(s[6]))
            rows["seconds"].append(time.perf_counter() - start)
            val = (
                (float("nan"), float("nan"))
                if validation is None
                else validation_accuracy(
                    model,
                    *validation,
                    norm=cfg.norm,
                    eps=cfg.validation_eps,
                    steps=cfg.val_steps,
                    balanced=positive is not None,
                )
            )
            rows["val_clean_acc"].append(val[0])
            rows["val_robust_acc"].append(val[1])
    model.eval()
    if lines is not None:
        lines.finish(_final(rows))
    val_size = 0 if validation is None else int(validation[1].shape[0])
    return TrainReport(name=name, val_size=val_size, **{k: tuple(v) for k, v in rows.items()})


def _running(s: list[float]) -> dict[str, float]:
    """The running figures of an epoch from its sums: objective, clean accuracy, adversarial loss and accuracy."""
    post = {"loss": s[0] / s[6], "acc": s[2] / s[6]}
    if s[5]:
        post |= {"adv_loss": s[3] / s[5], "adv_acc": s[4] / s[5]}
    return post


def _final(rows: dict[str, list[Any]]) -> dict[str, float]:
    """The last epoch's figures for the final progress line (validation accuracies where measured)."""
    out = {"loss": rows["loss"][-1], "acc": rows["clean_acc"][-1]}
    for key, label in (("adv_acc", "adv_acc"), ("val_clean_acc", "val_acc"), ("val_robust_acc", "val_robust")):
        if not math.isnan(rows[key][-1]):
            out[label] = rows[key][-1]
    return out


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def split_validation(x: Tensor, y: Tensor, cfg: TrainConfig) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
    r"""The training part of ``(x, y)`` and the held-out part (None when ``cfg.val_fraction`` is 0).

    The split is :func:`robin_bench.train.validation.holdout` on the labels ``y`` given (the fine labels)
    with a seed derived from ``cfg.seed`` only, so every component of a model holds out the same samples.
    """
    if cfg.val_fraction == 0:
        return x, y, None
    train_idx, val_idx = holdout(y, cfg.val_fraction, derive_seed(cfg.seed, "validation"))
    train_idx, val_idx = train_idx.to(y.device), val_idx.to(y.device)
    return x[train_idx], y[train_idx], (x[val_idx], y[val_idx])


def train_flat(
    net: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, *, hierarchy: Hierarchy | None = None
) -> TrainReport:
    r"""Train a flat multiclass model in place (the baseline of both papers).

    Arguments:
        net (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits.
        x (Tensor): (N, C, H, W) training inputs in [0, 1].
        y (Tensor): (N,) fine labels.
        cfg (TrainConfig): hyperparameters; ``balanced`` does not apply to flat models. With
            ``val_fraction > 0`` the held-out share of ``(x, y)`` is not trained on and is validated on.
        hierarchy (Hierarchy | None): needed by ``pgd_at_targeted`` (targets from other coarse classes).

    Returns:
        TrainReport: the per-epoch record.

    Example::

        >>> net = rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=10)
        >>> x, y = rb.datasets.load("digits", split="train")
        >>> report = train_flat(net, x, y, TrainConfig(epochs=5, progress=False))
    """
    check_training_data(x, y, None, "train_flat")
    if cfg.objective == "pgd_at_targeted" and hierarchy is None:
        raise RobinBenchError(
            "train_flat: objective 'pgd_at_targeted' draws targets from other coarse classes; pass hierarchy="
        )
    targets = None
    if cfg.objective == "pgd_at_targeted" and hierarchy is not None:
        check_training_data(x, y, hierarchy.n_fine, "train_flat")
        targets = fine_targets_outside_group(hierarchy)
    x, y, val = split_validation(x, y, cfg)
    return fit(net, x, y, cfg, name="flat", seed=derive_seed(cfg.seed, "flat"), targets=targets, validation=val)
