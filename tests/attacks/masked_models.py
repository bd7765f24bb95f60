"""Healthy and gradient-masked models on sklearn digits, for the masking-detection tests.

Healthy: a PGD-trained flat MLP, a PGD-trained ROBIN, a PGD-trained HAR model and a linear model on
digits 0-4 (five classes keep a ROBIN cheap), each trained in about a second. Masked: wrappers that keep
(or nearly keep) the predictions of a healthy model and break what gradient attacks need (Athalye et al.
2018): zero gradients (input quantization), saturated logits (a huge temperature: softmax cross-entropy
gradients vanish), randomness in eval mode, and shattered gradients (a tiny deterministic high-frequency term).
Nothing is cached on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.attacks import standard_attacks
from robin_bench.attacks.escalation import SUFFIX, families, settle, undecided
from robin_bench.attacks.sanity import sanity_check
from robin_bench.models import HARClassifier, RobinClassifier
from robin_bench.models.kinds import kind_of
from robin_bench.train import TrainConfig, train_flat, train_har, train_robin

EPS = 0.1
"""Linf radius of training and evaluation (digits pixels are in [0, 1])."""

LEVELS = 16
"""Digits pixels are multiples of 1/16, so quantizing to 16 levels keeps every clean input."""

HIDDEN = 32

CLASSES = (0, 1, 2, 3, 4)
"""The digits used, relabelled 0..4."""


def digits(n_test: int = 60) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test): digits ``CLASSES`` of the embedded split, ``n_test`` balanced test
    samples."""
    x, y = rb.datasets.load("digits", split="train", classes=CLASSES)
    xt, yt = rb.datasets.load("digits", split="test", classes=CLASSES, n_examples=n_test)
    return x, y, xt, yt


def mlp(n_outputs: int) -> nn.Module:
    """A 64-32-``n_outputs`` ReLU MLP on 8x8 digits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, n_outputs))


def _cfg(epochs: int = 5) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=64, lr=0.05, objective="pgd_at", eps=EPS, steps=3, progress=False)


def pgd_flat(x: Tensor, y: Tensor, seed: int = 0) -> nn.Module:
    """A flat MLP trained with PGD-AT (Linf ``EPS``, 3 steps, 5 epochs) from torch seed ``seed``."""
    torch.manual_seed(seed)
    net = mlp(len(CLASSES))
    train_flat(net, x, y, _cfg())
    return net.eval()


def pgd_robin(x: Tensor, y: Tensor, seed: int = 0) -> RobinClassifier:
    """A ROBIN of one MLP arm per class, each trained one-vs-all with PGD-AT (Linf ``EPS``, 3 steps, 5 epochs)."""
    torch.manual_seed(seed)
    model, _ = train_robin([mlp(1) for _ in CLASSES], x, y, _cfg())
    return model.eval()


def pgd_har(x: Tensor, y: Tensor, seed: int = 0) -> HARClassifier:
    """A HAR model (digits {0, 1} / {2, 3, 4}) whose coarse and fine MLPs are trained with PGD-AT."""
    torch.manual_seed(seed)
    h = rb.Hierarchy.from_groups([[0, 1], [2, 3, 4]])
    model, _ = train_har(mlp(2), [mlp(2), mlp(3)], h, x, y, _cfg())
    return model.eval()


def linear(x: Tensor, y: Tensor) -> nn.Module:
    """A linear softmax classifier trained without adversarial examples."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, len(CLASSES)))
    train_flat(net, x, y, TrainConfig(epochs=5, batch_size=64, lr=0.05, progress=False))
    return net.eval()


HEALTHY: dict[str, Callable[[Tensor, Tensor], nn.Module]] = {
    "pgd_flat": pgd_flat,
    "pgd_robin": pgd_robin,
    "pgd_har": pgd_har,
    "linear": linear,
}
"""Name -> builder ``(x_train, y_train) -> model in eval mode``."""


class Quantized(nn.Module):
    """``net(round(x * LEVELS) / LEVELS)``: identical on digits, zero input gradient everywhere."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.round(x * LEVELS) / LEVELS)


class Saturated(nn.Module):
    """``temperature * net(x)``: the same argmax, softmax cross-entropy gradients underflow to zero."""

    def __init__(self, net: nn.Module, temperature: float = 1e4) -> None:
        super().__init__()
        self.net = net
        self.temperature = temperature

    def forward(self, x: Tensor) -> Tensor:
        return self.temperature * self.net(x)


class Noisy(nn.Module):
    """``net(x + sigma * noise)`` in train and eval mode: a randomized defense."""

    def __init__(self, net: nn.Module, sigma: float = 0.1) -> None:
        super().__init__()
        self.net = net
        self.sigma = sigma

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x + self.sigma * torch.randn_like(x))


class Shattered(nn.Module):
    """``net(x)[:, k] + scale * sum_i sin(freq * x_i + phase_ki)``: shattered gradients (Athalye et al. 2018).

    The added term is deterministic and at most ``scale * d`` in size, so predictions barely move
    (far below the logit margins of a trained model), but its input gradient, ``scale * freq`` per
    pixel, outweighs the network's and flips sign every ``pi / freq``, far below PGD's step.
    """

    phase: Tensor

    def __init__(self, net: nn.Module, n_outputs: int, *, seed: int, scale: float = 1e-3, freq: float = 1e4) -> None:
        super().__init__()
        self.net = net
        self.scale = scale
        self.freq = freq
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("phase", 2 * torch.pi * torch.rand(n_outputs, 64, generator=g))

    def forward(self, x: Tensor) -> Tensor:
        wiggle = torch.sin(self.freq * x.flatten(1)[:, None, :] + self.phase).sum(2)
        return self.net(x) + self.scale * wiggle


def mask(kind: str, model: nn.Module) -> nn.Module:
    """``model`` masked by ``kind`` (``"quantized"``, ``"saturated"``, ``"noisy"``, ``"shattered"``).

    A ROBIN stays a ``RobinClassifier`` whose every arm is masked (a masked ROBIN defense), with a
    different phase per arm for ``"shattered"``; any other model is wrapped as a whole.
    """
    wrappers: dict[str, Callable[[nn.Module, int, int], nn.Module]] = {
        "quantized": lambda net, k, seed: Quantized(net),
        "saturated": lambda net, k, seed: Saturated(net),
        "noisy": lambda net, k, seed: Noisy(net),
        "shattered": lambda net, k, seed: Shattered(net, k, seed=seed),
    }
    wrap = wrappers[kind]
    if isinstance(model, RobinClassifier):
        return RobinClassifier([wrap(arm, 1, i) for i, arm in enumerate(model.arms)]).eval()
    with torch.no_grad():
        k = model(torch.zeros(1, 1, 8, 8)).shape[1]
    return wrap(model, k, 0).eval()


MASKS: dict[str, str] = {
    "quantized": "zero_grad",
    "saturated": "zero_grad",
    "noisy": "randomized",
    "shattered": "shattered_grad",
}
"""Mask -> the flag code it must raise."""


class PartialQuantized(nn.Module):
    """``net(round(x * LEVELS) / LEVELS)`` whose input gradient is zeroed on a random ``fraction`` of the pixels.

    Identical predictions on digits (their pixels lie on the grid); on the other pixels the quantization passes
    the gradient straight through, so no sample's gradient is all zero (``zero_grad`` cannot fire) while PGD
    moves only a share ``1 - fraction`` of the pixels. ``declare=True`` marks the quantizer as a
    non-differentiable preprocessing step (:mod:`robin_bench.attacks.adaptive`), as an honest defense would.
    """

    keep: Tensor

    def __init__(self, net: nn.Module, fraction: float, *, seed: int, declare: bool = False) -> None:
        super().__init__()
        self.net = net
        self.quantize = _Quantize(fraction, seed, declare)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.quantize(x))


class _Quantize(nn.Module):
    """The quantizer of :class:`PartialQuantized` (a module of its own so that it can be declared)."""

    keep: Tensor

    def __init__(self, fraction: float, seed: int, declare: bool) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("keep", torch.rand(1, 1, 8, 8, generator=g) >= fraction)
        self.nondifferentiable_preprocessing = declare

    def forward(self, x: Tensor) -> Tensor:
        q = torch.round(x * LEVELS) / LEVELS
        return torch.where(self.keep, x + (q - x).detach(), q)


class DecoyGradient(nn.Module):
    """``net``'s outputs with ``decoy``'s gradients: ``net(x) + decoy(x) - decoy(x).detach()``.

    Gradients are finite, non-zero and consistent under noise (``decoy`` is an ordinary network), but they
    belong to another function, so gradient attacks chase the decoy.
    """

    def __init__(self, net: nn.Module, decoy: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.decoy = decoy

    def forward(self, x: Tensor) -> Tensor:
        d = self.decoy(x)
        return self.net(x).detach() + d - d.detach()


class DecoyScores(nn.Module):
    """Top-1 from ``net``, every other score from ``decoy``: the prediction is ``net``'s, its margin a constant.

    Column ``argmax net(x)`` holds ``max_{j != top} decoy(x)_j + 1``, the others ``decoy(x)``, so the scores
    and their gradients (cross-entropy, margin, DLR, Square's margin) all follow the decoy while the decision
    is ``net``'s.
    """

    def __init__(self, net: nn.Module, decoy: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.decoy = decoy

    def forward(self, x: Tensor) -> Tensor:
        top = self.net(x).argmax(1, keepdim=True)
        d = self.decoy(x)
        others = d.scatter(1, top, float("-inf")).amax(1, keepdim=True)
        return d.scatter(1, top, others + 1)


class RandomShift(nn.Module):
    """``net`` of the input with uniform noise of ``noise`` per pixel and, with probability ``p_shift``, shifted by
    one pixel in a random direction; redrawn on every forward pass (train and eval mode): a randomized
    transform defense that keeps most clean predictions."""

    def __init__(self, net: nn.Module, noise: float = 0.05, p_shift: float = 0.2) -> None:
        super().__init__()
        self.net = net
        self.noise = noise
        self.p_shift = p_shift

    def forward(self, x: Tensor) -> Tensor:
        moved = x
        if float(torch.rand(())) < self.p_shift:
            dx, dy = (int(v) for v in torch.randint(-1, 2, (2,)))
            moved = torch.roll(x, shifts=(dx, dy), dims=(2, 3))
        return self.net((moved + self.noise * (2 * torch.rand_like(x) - 1)).clamp(0, 1))


def decoy_net(n_outputs: int, seed: int) -> nn.Module:
    """An untrained MLP (seeded, global RNG untouched): gradients that carry nothing about the digits."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return mlp(n_outputs).eval()


def partial_mask(
    kind: str, model: nn.Module, *, fraction: float = 0.7, seed: int = 0, declare: bool = False
) -> nn.Module:
    """``model`` masked by ``kind``: ``"partial_quantized"`` (gradient zeroed on ``fraction`` of the pixels),
    ``"decoy_gradient"``, ``"decoy_scores"`` or ``"random_shift"``; ``seed`` picks the pixels or the decoy.

    Like :func:`mask`, a ROBIN stays a ``RobinClassifier`` whose every arm is masked (arm ``i`` with seed
    ``seed + i``); any other model (flat, HAR) is wrapped as a whole.
    """

    def wrap(net: nn.Module, k: int, s: int) -> nn.Module:
        if kind == "partial_quantized":
            return PartialQuantized(net, fraction, seed=s, declare=declare)
        if kind == "decoy_gradient":
            return DecoyGradient(net, decoy_net(k, 1000 + s))
        if kind == "decoy_scores":
            return DecoyScores(net, decoy_net(k, 1000 + s))
        if kind == "random_shift":
            return RandomShift(net)
        raise KeyError(kind)

    if kind_of(model).name == "robin":
        if kind == "decoy_scores":  # one score per arm: the decoy replaces the scores of the whole model
            return DecoyScores(model, decoy_net(len(model.arms), 1000 + seed)).eval()
        return RobinClassifier([wrap(arm, 1, seed + i) for i, arm in enumerate(model.arms)]).eval()
    with torch.no_grad():
        k = model(torch.zeros(1, 1, 8, 8)).shape[1]
    return wrap(model, k, seed).eval()


PARTIAL_MASKS: tuple[str, ...] = ("partial_quantized", "decoy_gradient", "decoy_scores", "random_shift")
"""The partial and adaptive-evasion masks of :func:`partial_mask`."""


def default_evaluation(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    surrogate: nn.Module | None,
    hierarchy: rb.Hierarchy | None = None,
) -> tuple[float, float, list[str], bool]:
    """(worst case, gradient-only worst case, flag codes, escalated) of ``model`` as a run's cell evaluates it
    (``bench.jobs.evaluate_cell``, fine criterion): the standard set at the demo's budgets (``n_iter=30,
    n_queries=500``) with ``surrogate``, ``rb.sanity_check`` on the same inputs and the escalation rule. The
    codes include ``masking_undecided`` notes, which are not flags of masking."""
    kw: dict[str, Any] = {"norm": "Linf", "eps": eps, "surrogate": surrogate, "hierarchy": hierarchy}
    cut = standard_attacks(model, n_iter=30, n_queries=500, **kw)
    torch.manual_seed(0)
    result = rb.evaluate(model, x, y, cut, norm="Linf", eps=eps, hierarchy=hierarchy)
    fam = families(result.names, cut)
    gradient_worst = result.robust_acc_after[[n for n in result.names if fam[n] == "gradient"][-1]]
    report = sanity_check(model, x, y, norm="Linf", eps=eps, rays_queries=0)
    result, flags = settle(
        model,
        x,
        y,
        result,
        cut,
        lambda: standard_attacks(model, rays_queries=5000, **kw),
        report.evidence,
        hierarchy=hierarchy,
        norm="Linf",
        eps=eps,
    )
    codes = sorted({code for code, _ in [*report.flags, *flags, *undecided(report.evidence)]})
    return result.robust_acc, gradient_worst, codes, any(n.endswith(SUFFIX) for n in result.names)
