"""The one training loop, for flat models, ROBIN arms and HAR components alike, and its report."""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.train.augment import random_crop_flip
from robin_bench.train.config import TrainConfig
from robin_bench.train.objectives import OBJECTIVES, TargetSampler, TrainingAdversary, fine_targets_outside_group
from robin_bench.train.sampling import balanced_batches, uniform_batches
from robin_bench.train.schedules import adversarial_share, learning_rate


@dataclass(frozen=True)
class TrainReport:
    r"""Per-epoch record of one training job (one entry per epoch in every field).

    Attributes:
        name (str): the job ("flat", "arm 3", "coarse", "fine 1").
        loss (tuple[float, ...]): mean training objective.
        clean_loss, clean_acc (tuple[float, ...]): cross-entropy and accuracy on the clean batches
            (eval mode for adversarial objectives, the training forward for ``standard``).
        adv_loss, adv_acc (tuple[float, ...]): the same on the perturbed samples (NaN when none were).
        adv_share (tuple[float, ...]): share of each batch perturbed (ROBIN's warm-up).
        lr (tuple[float, ...]): learning rate.
        seconds (tuple[float, ...]): wall-clock seconds.
        images (tuple[int, ...]): training images processed.
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

    @property
    def images_per_second(self) -> float:
        """Training throughput over all epochs."""
        return sum(self.images) / max(sum(self.seconds), 1e-12)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples as lists; NaN stays a float)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


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
) -> TrainReport:
    r"""Train ``model`` in place on ``(x, y)``: the single loop behind every ``train_*`` function.

    Per batch: sample indices (uniformly, or balanced on ``positive``), augment if ``cfg.augment``;
    for adversarial objectives put the model in eval mode, record clean statistics, perturb the first
    ``round(share * B)`` samples with :class:`TrainingAdversary` (``share`` from ROBIN's warm-up), go
    back to train mode; compute the objective's loss and take an SGD step.

    Arguments:
        model (nn.Module): (N, C, H, W) -> (N, K) logits; trained in place.
        x (Tensor): (N, C, H, W) inputs in [0, 1].
        y (Tensor): (N,) labels of this job (fine, coarse, in-group positions or one-vs-all bits).
        cfg (TrainConfig): hyperparameters.
        name (str): job name for the progress bar and the report.
        seed (int): seed of all randomness of this job (batches, augmentation, attack starts, targets, dropout).
        positive (Tensor | None): (N,) bool; when given, every batch holds equal positives and negatives.
        targets (TargetSampler | None): target classes for ``pgd_at_targeted``.

    Returns:
        TrainReport: per-epoch losses, accuracies, shares, learning rates, seconds and images.
    """
    objective = OBJECTIVES.get(cfg.objective)
    if objective.targeted and targets is None:
        raise RobinBenchError(
            f"{name}: objective 'pgd_at_targeted' draws targets from other coarse classes and needs a hierarchy"
        )
    device = _device_of(model)
    x, y = x.to(device), y.to(device).long()
    check_training_data(x, y, output_width(model, x), name)
    n = x.shape[0]
    cpu_gen = torch.Generator().manual_seed(seed)
    dev_gen = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    adversary = (
        TrainingAdversary(model, norm=cfg.norm, eps=cfg.eps, steps=cfg.steps, alpha=cfg.step_size)
        if cfg.adversarial
        else None
    )
    show = cfg.progress and sys.stderr.isatty()
    rows: dict[str, list[Any]] = {k: [] for k in TrainReport.__dataclass_fields__ if k != "name"}
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
            bar = tqdm(batches, desc=f"{name} epoch {epoch + 1}/{cfg.epochs}", disable=not show, leave=True)
            for idx in bar:
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
                    sums += torch.stack([
                        loss.detach() * b,
                        F.cross_entropy(clean_out, yb, reduction="sum"),
                        (clean_out.argmax(1) == yb).sum(),
                        F.cross_entropy(adv, yb[: adv.shape[0]], reduction="sum"),
                        (adv.argmax(1) == yb[: adv.shape[0]]).sum(),
                        torch.tensor(float(adv.shape[0]), device=device),
                        torch.tensor(float(b), device=device),
                    ])
                if show:
                    bar.set_postfix(_postfix(sums.tolist()))
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
    model.eval()
    return TrainReport(name=name, **{k: tuple(v) for k, v in rows.items()})


def _postfix(s: list[float]) -> dict[str, str]:
    post = {"loss": f"{s[1] / s[6]:.3f}", "acc": f"{s[2] / s[6]:.3f}"}
    if s[5]:
        post |= {"adv_loss": f"{s[3] / s[5]:.3f}", "adv_acc": f"{s[4] / s[5]:.3f}"}
    return post


def train_flat(
    net: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, *, hierarchy: Hierarchy | None = None
) -> TrainReport:
    r"""Train a flat multiclass model in place (the baseline of both papers).

    Arguments:
        net (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits.
        x (Tensor): (N, C, H, W) training inputs in [0, 1].
        y (Tensor): (N,) fine labels.
        cfg (TrainConfig): hyperparameters; ``balanced`` does not apply to flat models.
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
    return fit(net, x, y, cfg, name="flat", seed=derive_seed(cfg.seed, "flat"), targets=targets)
