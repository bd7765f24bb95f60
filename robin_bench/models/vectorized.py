"""Vectorized ROBIN arms: all arms of one architecture run as a single batched module (``torch.func.vmap``).

A ROBIN of k arms normally runs k small networks one after the other (:class:`RobinClassifier`'s
per-arm loop). When the arms share an architecture, their parameters can be stacked along a new
leading dimension and the k forward passes fused into one ``vmap`` over ``torch.func.functional_call``:
one kernel launch per layer instead of k. Whether that is faster depends on the device and the
architecture (it pays on a GPU, where small per-arm kernels leave it idle; on a CPU the loop can win),
so :func:`choose_arm_execution` decides by timing both on the device at hand.

Example::

    >>> robin = rb.RobinClassifier([rb.archs.build("cnn2", in_shape=(1, 28, 28), n_outputs=1) for _ in range(10)])
    >>> model = VectorizedRobin.from_robin(robin.eval())     # same outputs, one batched module
    >>> choose_arm_execution(robin, x[:64])                   # "loop" or "vmap", measured
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from robin_bench.errors import RobinBenchError
from robin_bench.models.robin import RobinClassifier

ArmExecution = Literal["loop", "vmap"]
"""How a ROBIN runs its arms: ``"loop"`` (one arm after the other) or ``"vmap"`` (one batched module)."""

_BATCHNORM = (nn.modules.batchnorm._BatchNorm,)


class _Skeleton:
    """The arms' shared architecture without weights (meta tensors), called functionally on stacked weights."""

    def __init__(self, arm: nn.Module) -> None:
        self.module = copy.deepcopy(arm).to("meta")
        self.has_running_stats = any(isinstance(m, _BATCHNORM) and m.track_running_stats for m in self.module.modules())

    def __call__(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.module, (params, buffers), (x,))


def architecture_mismatch(arms: Sequence[nn.Module]) -> str | None:
    """Why ``arms`` cannot be stacked into one batched module, or ``None`` when they can.

    Arms can be stacked when they have the same module structure (``repr``, which includes layer
    hyperparameters) and the same parameter and buffer names, shapes and dtypes.
    """
    if len(arms) < 2:
        return f"ROBIN needs at least 2 arms, got {len(arms)}"
    first = arms[0]
    ref_repr = repr(first)
    ref_state = [(n, t.shape, t.dtype, t.device) for n, t in (*first.named_parameters(), *first.named_buffers())]
    for i, arm in enumerate(arms[1:], start=1):
        if repr(arm) != ref_repr:
            return f"arm {i} has a different module structure from arm 0"
        state = [(n, t.shape, t.dtype, t.device) for n, t in (*arm.named_parameters(), *arm.named_buffers())]
        if state != ref_state:
            return f"arm {i} has different parameter/buffer names, shapes, dtypes or devices from arm 0"
    return None


class VectorizedRobin(nn.Module):
    r"""A ROBIN whose k same-architecture arms run as one batched module (``vmap`` over stacked weights).

    Numerically the same function as the :class:`RobinClassifier` it was built from (up to float
    rounding): output column i is arm i's logit. It owns copies of the arms' weights, stacked along
    a leading arm dimension, so it can be moved, attacked and even trained like any module; use
    :meth:`to_robin` to get back a per-arm :class:`RobinClassifier` (e.g. to save a checkpoint).

    BatchNorm arms run in eval mode only (running statistics are buffers that ``vmap`` cannot update
    in place per arm): calling the module in train mode then raises ``RobinBenchError``. Train such
    arms with the per-arm loop.

    Arguments:
        arms (Sequence[nn.Module]): k >= 2 modules of one architecture, each mapping (N, C, H, W)
            inputs in [0, 1] to (N, 1) logits.

    Shape:
        - Input: (N, C, H, W) in [0, 1].
        - Output: (N, k) arm logits; column i is arm i's logit.

    Example::

        >>> fast = VectorizedRobin.from_robin(robin).eval()
        >>> torch.allclose(fast(x), robin(x), atol=1e-5)
        True
    """

    def __init__(self, arms: Sequence[nn.Module]) -> None:
        super().__init__()
        why = architecture_mismatch(arms)
        if why is not None:
            raise RobinBenchError(f"cannot vectorize ROBIN arms: {why}; use the per-arm loop (RobinClassifier)")
        params, buffers = stack_module_state(list(arms))
        self._skeleton = _Skeleton(arms[0])
        self._param_names = tuple(params)
        self._buffer_names = tuple(buffers)
        self._k = len(arms)
        for name, value in params.items():
            self.register_parameter(_key(name), nn.Parameter(value.detach().clone(), requires_grad=value.requires_grad))
        for name, value in buffers.items():
            self.register_buffer(_key(name), value.detach().clone())
        self.train(arms[0].training)

    @classmethod
    def from_robin(cls, robin: RobinClassifier) -> VectorizedRobin:
        """Batched copy of ``robin``'s arms, in ``robin``'s train/eval mode."""
        if not isinstance(robin, RobinClassifier):
            raise RobinBenchError(f"from_robin needs a RobinClassifier, got {type(robin).__name__}")
        return cls(list(robin.arms)).train(robin.training)

    @property
    def n_classes(self) -> int:
        """Number of classes (= arms)."""
        return self._k

    def to_robin(self) -> RobinClassifier:
        """A per-arm :class:`RobinClassifier` with this module's current weights, device, dtype and mode."""
        arms = []
        for i in range(self._k):
            arm = copy.deepcopy(self._skeleton.module)
            for name in self._param_names:
                value = getattr(self, _key(name))
                _set_tensor(arm, name, nn.Parameter(value[i].detach().clone(), requires_grad=value.requires_grad))
            for name in self._buffer_names:
                _set_tensor(arm, name, getattr(self, _key(name))[i].detach().clone())
            arms.append(arm)
        return RobinClassifier(arms).train(self.training)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self._skeleton.has_running_stats:
            raise RobinBenchError(
                "VectorizedRobin has BatchNorm arms and is in train mode; vmap cannot update running statistics "
                "per arm: call .eval() to attack or evaluate, and train with the per-arm loop (RobinClassifier)"
            )
        self._skeleton.module.train(self.training)
        params = {name: getattr(self, _key(name)) for name in self._param_names}
        buffers = {name: getattr(self, _key(name)) for name in self._buffer_names}
        out = vmap(self._skeleton, in_dims=(0, 0, None))(params, buffers, x)
        if out.dim() != 3 or out.shape[2] != 1:
            raise RobinBenchError(
                f"ROBIN arms returned shape {tuple(out.shape[1:])}; each arm must return (N, 1) logits"
            )
        return out[:, :, 0].transpose(0, 1)


def _key(name: str) -> str:
    """Attribute name of a stacked weight: module paths use '/' since '.' is reserved by nn.Module."""
    return name.replace(".", "/")


def _set_tensor(module: nn.Module, name: str, value: Tensor) -> None:
    """Replace the parameter or buffer at dotted path ``name`` of ``module`` (keeps buffer persistence)."""
    owner_path, _, leaf = name.rpartition(".")
    setattr(module.get_submodule(owner_path), leaf, value)


def time_forward_backward(model: nn.Module, x: Tensor, *, repeats: int = 5, warmup: int = 2) -> float:
    r"""Median seconds of one forward + backward pass to the input (an attack step) of ``model`` on ``x``.

    Arguments:
        model (nn.Module): (N, C, H, W) -> (N, K).
        x (Tensor): (N, C, H, W) input, on the model's device.
        repeats (int): timed passes; the median is returned. (Default: 5)
        warmup (int): untimed passes first (allocator, cuDNN autotuning). (Default: 2)

    CUDA work is synchronized before each clock reading.
    """
    if repeats < 1 or warmup < 0:
        raise RobinBenchError(f"timing needs repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    cuda = x.is_cuda
    times = []
    for i in range(warmup + repeats):
        xi = x.detach().clone().requires_grad_(True)
        if cuda:
            torch.cuda.synchronize(x.device)
        t0 = time.perf_counter()
        (grad,) = torch.autograd.grad(model(xi).sum(), xi)
        if cuda:
            torch.cuda.synchronize(x.device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        del grad
    return sorted(times)[len(times) // 2]


def choose_arm_execution(
    robin: RobinClassifier, example_input: Tensor, *, repeats: int = 5, warmup: int = 2
) -> ArmExecution:
    r"""``"vmap"`` if :class:`VectorizedRobin` runs ``robin`` faster than its per-arm loop, else ``"loop"``.

    Decided by measurement on the device of ``robin`` and ``example_input``: both executions run a
    forward + backward pass to the input (the cost of one attack step) in eval mode, timed with
    :func:`time_forward_backward`. Returns ``"loop"`` without timing when the arms cannot be
    stacked (different architectures, see :func:`architecture_mismatch`).

    Arguments:
        robin (RobinClassifier): the ROBIN to run.
        example_input (Tensor): (N, C, H, W) inputs in [0, 1] of the batch size the attacks will use.
        repeats (int): timed passes per execution. (Default: 5)
        warmup (int): untimed passes per execution. (Default: 2)

    Example::

        >>> model = VectorizedRobin.from_robin(robin) if choose_arm_execution(robin, x[:256]) == "vmap" else robin
    """
    if not isinstance(robin, RobinClassifier):
        raise RobinBenchError(f"choose_arm_execution needs a RobinClassifier, got {type(robin).__name__}")
    if architecture_mismatch(list(robin.arms)) is not None:
        return "loop"
    was_training = robin.training
    robin.eval()
    try:
        fused = VectorizedRobin.from_robin(robin)
        loop_s = time_forward_backward(robin, example_input, repeats=repeats, warmup=warmup)
        vmap_s = time_forward_backward(fused, example_input, repeats=repeats, warmup=warmup)
    finally:
        robin.train(was_training)
    return "vmap" if vmap_s < loop_s else "loop"
