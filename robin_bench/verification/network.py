"""A ReLU network as a chain of dense affine maps: what the bounds and the MILP reason about.

:func:`to_chain` reads an ``nn.Module`` built from ``Linear``, ``ReLU``, ``Flatten``, robin-bench's
``Normalize``, ``Conv2d`` (turned into its dense matrix, fine for small inputs), ``Identity``, and the layers that
are affine in eval mode (``BatchNorm1d``/``BatchNorm2d`` with running statistics, dropout), and
``nn.Sequential`` nesting, and returns ``y = A_n relu(... relu(A_1 x + b_1) ...) + b_n`` in float64 on the
flattened input. Consecutive affine maps are multiplied together, so ``Normalize`` and batch normalization cost
nothing.

Example::

    >>> chain = to_chain(rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=10), (1, 8, 8))
    >>> [w.shape for w in chain.weights]
    [(256, 64), (256, 256), (10, 256)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from robin_bench.errors import RobinBenchError
from robin_bench.models.archs import Normalize

SUPPORTED = "Linear, Conv2d, ReLU, Flatten, Normalize, BatchNorm1d/2d, Dropout, Identity, Sequential"
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
_BATCH_NORM = (nn.BatchNorm1d, nn.BatchNorm2d)
_LAYERS = (nn.ReLU, nn.Linear, nn.Conv2d, nn.Flatten, nn.Identity, Normalize, *_DROPOUT, *_BATCH_NORM)
"""The layers :func:`to_chain` reads. Dropout and batch normalization are fixed affine maps in eval mode, in which
``rb.verify`` evaluates the model: dropout the identity, batch normalization its running statistics."""


@dataclass(frozen=True)
class Chain:
    """``y = W_n relu(... relu(W_1 x + b_1) ...) + b_n`` on the flattened input, in float64.

    Attributes:
        weights (list[np.ndarray]): ``W_k`` of shape (n_k, n_{k-1}); ``n_0`` is the input size.
        biases (list[np.ndarray]): ``b_k`` of shape (n_k,).
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def n_in(self) -> int:
        """Input size (C * H * W)."""
        return int(self.weights[0].shape[1])

    @property
    def n_out(self) -> int:
        """Output size."""
        return int(self.weights[-1].shape[0])

    @property
    def hidden(self) -> list[int]:
        """Sizes of the ReLU layers."""
        return [int(w.shape[0]) for w in self.weights[:-1]]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, n_out) outputs of (N, n_in) flattened inputs, in float64."""
        a = x
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            a = a @ w.T + b
            if k < len(self.weights) - 1:
                a = np.maximum(a, 0.0)
        return a


def _leaves(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _affine(layer: nn.Module, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Dense ``(W, b)`` of an affine layer acting on inputs of ``shape`` (no batch), and the output shape."""
    n = int(np.prod(shape))
    if isinstance(layer, nn.Flatten | nn.Identity):
        out_shape = (n,) if isinstance(layer, nn.Flatten) else shape
        return np.eye(n), np.zeros(n), out_shape
    if isinstance(layer, nn.Linear):
        if len(shape) != 1:
            raise RobinBenchError(f"verify: Linear layer gets an input of shape {shape}; put a Flatten before it")
        w = layer.weight.detach().double().cpu().numpy()
        b = layer.bias.detach().double().cpu().numpy() if layer.bias is not None else np.zeros(w.shape[0])
        return w, b, (w.shape[0],)
    if isinstance(layer, Normalize):
        mean = layer.mean.detach().double().cpu().expand(shape).reshape(-1).numpy()
        std = layer.std.detach().double().cpu().expand(shape).reshape(-1).numpy()
        return np.diag(1.0 / std), -mean / std, shape
    if isinstance(layer, _DROPOUT):
        return np.eye(n), np.zeros(n), shape
    if isinstance(layer, _BATCH_NORM):
        return _batch_norm(layer, shape)
    if not isinstance(layer, nn.Conv2d) or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise RobinBenchError(
            f"verify: {type(layer).__name__} {layer!r} is not supported; supported layers: {SUPPORTED} "
            "(Conv2d with numeric zero padding)"
        )
    weight = layer.weight.detach().double().cpu()
    bias = layer.bias.detach().double().cpu() if layer.bias is not None else None
    with torch.no_grad():
        basis = torch.eye(n, dtype=torch.float64).view(n, *shape)
        zero = torch.zeros(1, *shape, dtype=torch.float64)
        stride, padding, dilation = tuple(layer.stride), tuple(layer.padding), tuple(layer.dilation)
        offset = F.conv2d(zero, weight, bias, stride, padding, dilation, layer.groups)
        out = F.conv2d(basis, weight, None, stride, padding, dilation, layer.groups)
    return out.reshape(n, -1).T.numpy().copy(), offset.reshape(-1).numpy().copy(), tuple(offset.shape[1:])


def _batch_norm(
    layer: nn.BatchNorm1d | nn.BatchNorm2d, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Eval-mode batch normalization ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``, per channel (the
    first dimension of ``shape``), as a diagonal map."""
    if layer.running_mean is None or layer.running_var is None:
        raise RobinBenchError(
            f"verify: {type(layer).__name__} without running statistics (track_running_stats=False) normalizes each "
            "batch by itself, so it is no fixed map; train it with running statistics"
        )
    if shape[0] != layer.num_features or len(shape) != (1 if isinstance(layer, nn.BatchNorm1d) else 3):
        raise RobinBenchError(f"verify: {layer!r} gets an input of shape {shape}")
    scale = 1.0 / torch.sqrt(layer.running_var.detach().double().cpu() + layer.eps)
    if layer.weight is not None:
        scale = scale * layer.weight.detach().double().cpu()
    shift = -layer.running_mean.detach().double().cpu() * scale
    if layer.bias is not None:
        shift = shift + layer.bias.detach().double().cpu()
    per_channel = int(np.prod(shape[1:]))
    scale_n, shift_n = np.repeat(scale.numpy(), per_channel), np.repeat(shift.numpy(), per_channel)
    return np.diag(scale_n), shift_n, shape


def to_chain(module: nn.Module, in_shape: tuple[int, ...]) -> Chain:
    """The dense chain of ``module`` for one input of shape ``in_shape`` (C, H, W).

    Arguments:
        module (nn.Module): a network of supported layers (see ``SUPPORTED``), possibly nested in
            ``nn.Sequential``.
        in_shape (tuple[int, ...]): the shape of one input, without the batch dimension.

    Raises:
        RobinBenchError: a layer that is not supported, named with its type.
    """
    layers = _leaves(module)
    for layer in layers:  # every layer checked before any dense matrix is built
        if not isinstance(layer, _LAYERS):
            raise RobinBenchError(
                f"verify: layer {type(layer).__name__} is not supported; supported layers: {SUPPORTED}"
            )
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    shape = tuple(in_shape)
    w_acc: np.ndarray | None = np.eye(int(np.prod(shape)))
    b_acc: np.ndarray | None = np.zeros(int(np.prod(shape)))
    for layer in layers:
        if isinstance(layer, nn.ReLU):
            if w_acc is None or b_acc is None:
                continue  # relu(relu(x)) = relu(x)
            weights.append(w_acc)
            biases.append(b_acc)
            w_acc = b_acc = None
            continue
        w, b, shape = _affine(layer, shape)
        if w_acc is None or b_acc is None:
            w_acc, b_acc = w, b
        else:
            w_acc, b_acc = w @ w_acc, w @ b_acc + b
    if w_acc is None or b_acc is None:
        n = int(np.prod(shape))
        w_acc, b_acc = np.eye(n), np.zeros(n)
    weights.append(w_acc)
    biases.append(b_acc)
    return Chain(weights, biases)
