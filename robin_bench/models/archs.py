"""Architecture registry: the backbones of the ROBIN and HAR papers, built for any small image shape.

Every network is ``nn.Sequential(normalize=Normalize(mean, std), net=<backbone>)``: it takes inputs in
[0, 1] of shape (N, C, H, W) and returns (N, n_outputs) logits. Normalization is a pair of buffers, so
it travels with the weights in the ``state_dict`` and attacks see the [0, 1] box.

Example::

    >>> net = build("cnn2", in_shape=(1, 28, 28), n_outputs=10, mean=(0.1307,), std=(0.3081,))
    >>> net(torch.rand(4, 1, 28, 28)).shape
    torch.Size([4, 10])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from robin_bench.errors import RobinBenchError
from robin_bench.registry import Registry

Shape = tuple[int, int, int]
ArchFactory = Callable[[Shape, int], nn.Module]

ARCHS: Registry[ArchFactory] = Registry("architecture")

MIN_SIDE = 8
"""Smallest image height/width every architecture accepts (the 8x8 digits)."""


class Normalize(nn.Module):
    r"""Per-channel ``(x - mean) / std`` with ``mean`` and ``std`` stored as buffers.

    Arguments:
        mean (Sequence[float] | None): per-channel means; ``None`` = 0 (identity).
        std (Sequence[float] | None): per-channel standard deviations (> 0); ``None`` = 1 (identity).
        channels (int): number of input channels C.

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C, H, W).
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float] | None, std: Sequence[float] | None, *, channels: int) -> None:
        super().__init__()
        mean_t = _per_channel("mean", mean, channels, default=0.0)
        std_t = _per_channel("std", std, channels, default=1.0)
        if bool((std_t <= 0).any()):
            raise RobinBenchError(f"normalization std {list(std or [])} has a value <= 0; every std must be > 0")
        self.register_buffer("mean", mean_t.view(channels, 1, 1))
        self.register_buffer("std", std_t.view(channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def _per_channel(what: str, values: Sequence[float] | None, channels: int, *, default: float) -> Tensor:
    if values is None:
        return torch.full((channels,), default)
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise RobinBenchError(
            f"normalization {what} {values!r} is not a list; give one number per input channel, e.g. [0.5]"
        )
    values = [float(v) for v in values]
    if len(values) != channels:
        raise RobinBenchError(
            f"normalization {what} {values} has {len(values)} entries for {channels} input channels; "
            "give one per channel"
        )
    return torch.tensor(values)


def _check_shape(in_shape: Sequence[int]) -> Shape:
    dims = tuple(in_shape) if isinstance(in_shape, Sequence) else ()
    if len(dims) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise RobinBenchError(f"in_shape {in_shape!r} is not (C, H, W) with positive integers, e.g. (1, 28, 28)")
    c, h, w = dims
    if h < MIN_SIDE or w < MIN_SIDE:
        raise RobinBenchError(f"in_shape {dims!r} is smaller than {MIN_SIDE}x{MIN_SIDE}; images must be at least that")
    return (c, h, w)


def build(
    name: str,
    *,
    in_shape: tuple[int, int, int],
    n_outputs: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Module:
    r"""Build architecture ``name`` for inputs of shape ``in_shape`` in [0, 1].

    Arguments:
        name (str): a registered architecture (see :func:`names`).
        in_shape (tuple[int, int, int]): (C, H, W) of one input; H and W at least 8.
        n_outputs (int): number of output logits (>= 1; 1 for a ROBIN arm).
        mean (Sequence[float] | None): per-channel normalization mean. Default: ``None`` (no shift).
        std (Sequence[float] | None): per-channel normalization std. Default: ``None`` (no scaling).

    Shape:
        - Input: (N, C, H, W) in [0, 1].
        - Output: (N, n_outputs) logits.

    Initialization uses torch's global RNG: seed it (``torch.manual_seed``) for a reproducible init.

    Example::

        >>> net = build("resnet18", in_shape=(3, 32, 32), n_outputs=10)
    """
    factory = ARCHS.get(name)
    shape = _check_shape(in_shape)
    if isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs < 1:
        raise RobinBenchError(f"n_outputs {n_outputs!r} for architecture {name!r} must be an integer >= 1")
    normalize = Normalize(mean, std, channels=shape[0])
    net = factory(shape, n_outputs)
    if not isinstance(net, nn.Module):
        raise RobinBenchError(
            f"architecture {name!r} ({_origin(name)}) returned {type(net).__name__}, not an nn.Module"
        )
    if (name, shape, n_outputs) not in _CHECKED:
        _check_output(name, net, shape, n_outputs)
        _CHECKED.add((name, shape, n_outputs))
    return nn.Sequential(OrderedDict(normalize=normalize, net=net))


_CHECKED: set[tuple[str, Shape, int]] = set()
"""(architecture, input shape, outputs) whose output shape :func:`build` has checked once in this process."""


def _origin(name: str) -> str:
    origin = ARCHS.origin(name)
    return "robin-bench" if origin is None else str(origin)


def _check_output(name: str, net: nn.Module, shape: Shape, n_outputs: int) -> None:
    """``RobinBenchError`` unless ``net`` maps a batch of 2 inputs of ``shape`` to (2, ``n_outputs``)."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros((2, *shape)))
    except Exception as e:  # a user's architecture may fail in any way on the input shape
        first = str(e).splitlines()[0] if str(e) else ""
        raise RobinBenchError(
            f"architecture {name!r} ({_origin(name)}) fails on inputs of shape (N, *{shape}): "
            f"{e.__class__.__name__}: {first}"
        ) from None
    finally:
        net.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_outputs):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise RobinBenchError(
            f"architecture {name!r} ({_origin(name)}) returns {got} for 2 inputs of shape "
            f"{shape}; an architecture built with n_outputs={n_outputs} must return (N, {n_outputs})"
        )


def register_arch(name: str) -> Callable[[ArchFactory], ArchFactory]:
    r"""Decorator registering an architecture factory ``factory(in_shape, n_outputs) -> nn.Module`` as ``name``
    (``rb.register_arch``), for suites (``arch: name``) and :func:`build`.

    The factory gets ``in_shape`` = (C, H, W) and the number of outputs (1 for a ROBIN arm) and returns a
    module mapping (N, C, H, W) inputs in [0, 1] to (N, n_outputs) logits; robin-bench adds the dataset's
    normalization in front of it. The output shape is checked at the first build. A name already taken (by
    robin-bench or another plugin) is a ``RobinBenchError``.

    Example::

        >>> @rb.register_arch("tiny_cnn")
        ... def tiny_cnn(in_shape, n_outputs):
        ...     c, h, w = in_shape
        ...     return nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
        ...                          nn.Linear(8 * h * w, n_outputs))
    """
    return ARCHS.register(name)


def names() -> list[str]:
    """Registered architecture names, in registration order."""
    return ARCHS.names()


def _mlp(in_shape: Shape, n_outputs: int, width: int) -> nn.Module:
    c, h, w = in_shape
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(c * h * w, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, n_outputs),
    )


@ARCHS.register("mlp")
def mlp(in_shape: Shape, n_outputs: int) -> nn.Module:
    """A 2-hidden-layer MLP (256 units, ReLU) on the flattened image; the digits baseline."""
    return _mlp(in_shape, n_outputs, 256)


@ARCHS.register("mlp_small")
def mlp_small(in_shape: Shape, n_outputs: int) -> nn.Module:
    """A 2-hidden-layer MLP (16 units, ReLU) on the flattened image: small enough that ``rb.verify`` decides
    almost every digits sample exactly (the ``paper_digits_verified`` suite)."""
    return _mlp(in_shape, n_outputs, 16)


@ARCHS.register("cnn2")
def cnn2(in_shape: Shape, n_outputs: int) -> nn.Module:
    """CNN-2, the ROBIN paper's 2-layer MNIST CNN.

    The paper names it without layer details; this is the 2-conv-layer MNIST network of Madry et al.
    (2018), the standard one in this literature: conv 5x5 32 + ReLU + max-pool 2, conv 5x5 64 + ReLU
    + max-pool 2, fully connected 1024 + ReLU, linear head.
    """
    c, h, w = in_shape
    return nn.Sequential(
        nn.Conv2d(c, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (h // 4) * (w // 4), 1024),
        nn.ReLU(),
        nn.Linear(1024, n_outputs),
    )


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


@ARCHS.register("myrtle")
def myrtle(in_shape: Shape, n_outputs: int) -> nn.Module:
    """The Myrtle CNN (Page, 2018, "How to train your ResNet"): prep 64, layers 128 (+residual), 256,
    512 (+residual), each with max-pool 2, global max-pool, linear head scaled by 0.125."""
    c = in_shape[0]
    return nn.Sequential(
        _conv_bn(c, 64),
        _conv_bn(64, 128),
        nn.MaxPool2d(2),
        _Residual(128),
        _conv_bn(128, 256),
        nn.MaxPool2d(2),
        _conv_bn(256, 512),
        nn.MaxPool2d(2),
        _Residual(512),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(512, n_outputs, bias=False),
        _Scale(0.125),
    )


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = _shortcut(c_in, c_out, stride)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = _shortcut(c_in, c_out, stride)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


def _resnet(
    in_shape: Shape, n_outputs: int, block: type[_BasicBlock | _Bottleneck], depths: Sequence[int]
) -> nn.Module:
    """CIFAR ResNet (He et al., 2016): 3x3 stem of 64, no max-pool, stages 64/128/256/512 at strides
    1/2/2/2, global average pool, linear head."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_shape[0], 64, 3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
    ]
    c_in = 64
    for stage, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(block(c_in, planes, stride))
            c_in = planes * block.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_outputs)]
    return nn.Sequential(*layers)


@ARCHS.register("resnet10")
def resnet10(in_shape: Shape, n_outputs: int) -> nn.Module:
    """CIFAR ResNet-10: basic blocks [1, 1, 1, 1]."""
    return _resnet(in_shape, n_outputs, _BasicBlock, (1, 1, 1, 1))


@ARCHS.register("resnet18")
def resnet18(in_shape: Shape, n_outputs: int) -> nn.Module:
    """CIFAR ResNet-18: basic blocks [2, 2, 2, 2]."""
    return _resnet(in_shape, n_outputs, _BasicBlock, (2, 2, 2, 2))


@ARCHS.register("resnet50")
def resnet50(in_shape: Shape, n_outputs: int) -> nn.Module:
    """CIFAR ResNet-50: bottleneck blocks [3, 4, 6, 3]."""
    return _resnet(in_shape, n_outputs, _Bottleneck, (3, 4, 6, 3))
