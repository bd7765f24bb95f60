"""An example robin-bench plugin, registered through the entry point ``robin_bench.plugins: ecoc``.

It adds, with no change to robin-bench:

- model kind ``ecoc``: an error-correcting output code ensemble (Dietterich & Bakiri 1995), a decomposition
  neither the ROBIN nor the HAR paper has. Bit network ``b`` answers "is the class's code bit b = +1?"; the output
  for class ``c`` is the correlation ``sum_b M[c, b] * logit_b`` of the bit logits with the class's code word, so
  the prediction is correlation decoding and the output is (N, K) logits that every attack runs on;
- architecture ``tiny_cnn``: a small CNN for any image shape;
- dataset ``digits_inverted``: scikit-learn's digits with inverted pixels (embedded, 80/20 split).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.data.registry import split_arrays
from robin_bench.train.decomposed import train_arm

N_BITS = 15
"""Code length of the ``ecoc`` kind."""


def code_matrix(n_classes: int, n_bits: int = N_BITS, seed: int = 0) -> Tensor:
    """A (n_classes, n_bits) {-1, +1} code: seeded, with distinct rows and no constant column."""
    rng = np.random.default_rng(seed)
    while True:
        m = rng.choice([-1.0, 1.0], size=(n_classes, n_bits))
        if len({tuple(r) for r in m}) == n_classes and (np.abs(m.sum(0)) < n_classes).all():
            return torch.tensor(m, dtype=torch.float32)


class ECOCClassifier(nn.Module):
    r"""An error-correcting output code ensemble: ``n_bits`` binary networks decoded by correlation.

    Arguments:
        bits (Sequence[nn.Module]): one network per code bit, (N, C, H, W) in [0, 1] -> (N, 1) logits.
        code (Tensor): (K, n_bits) code matrix in {-1, +1}.

    Shape:
        - Input: (N, C, H, W) in [0, 1].
        - Output: (N, K) logits, column c = ``sum_b code[c, b] * bit_b(x)``.
    """

    code: Tensor

    def __init__(self, bits: list[nn.Module], code: Tensor) -> None:
        super().__init__()
        self.bits = nn.ModuleList(bits)
        self.register_buffer("code", code)

    @property
    def n_classes(self) -> int:
        """Number of classes (rows of the code)."""
        return int(self.code.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        logits = torch.cat([b(x) for b in self.bits], dim=1)
        return logits @ self.code.t()


def _ecoc(model: nn.Module) -> ECOCClassifier:
    if not isinstance(model, ECOCClassifier):
        raise rb.RobinBenchError(f"an 'ecoc' model is an ECOCClassifier, got {type(model).__name__}")
    return model


def _part(model: nn.Module, name: str) -> nn.Module:
    ecoc = _ecoc(model)
    if not name.startswith("bit") or not name[3:].isdigit() or int(name[3:]) >= len(ecoc.bits):
        raise rb.RobinBenchError(f"an 'ecoc' model has no component {name!r}")
    return ecoc.bits[int(name[3:])]


def _train(model: nn.Module, name: str, x: Tensor, y: Tensor, cfg: Any, hierarchy: Any) -> Any:
    """Bit ``b``: a one-vs-rest binary problem on the classes whose code bit is +1 (ROBIN's arm trainer on the
    relabelled data)."""
    positive = (_ecoc(model).code[:, int(name[3:])] > 0).long().to(y.device)
    return train_arm(_part(model, name), x, positive[y], 1, cfg)


def _heads(model: nn.Module) -> list[tuple[str, nn.Module, int | None]]:
    return [(f"bit {b}", net, None) for b, net in enumerate(_ecoc(model).bits)]


def _fit_jobs(model: nn.Module, x: Tensor, y: Tensor, balanced: bool) -> list[Any]:
    from robin_bench.train.decomposed import TwoClassView

    ecoc = _ecoc(model)
    jobs = []
    for b, net in enumerate(ecoc.bits):
        bits = (ecoc.code[:, b] > 0).long().to(y.device)[y]
        jobs.append((TwoClassView(net), x, bits, bits.bool() if balanced else None))
    return jobs


rb.register_kind(
    rb.ModelKind(
        name="ecoc",
        build=lambda component, n_classes, hierarchy: ECOCClassifier(
            [component(1) for _ in range(N_BITS)], code_matrix(n_classes)
        ),
        parts=lambda model: [f"bit{b}" for b in range(len(_ecoc(model).bits))],
        part=_part,
        train=_train,
        needs_hierarchy=False,
        output="logits",
        marker="d-",
        model_types=(ECOCClassifier,),
        heads=_heads,
        fit_jobs=_fit_jobs,
    )
)


@rb.register_arch("tiny_cnn")
def tiny_cnn(in_shape: tuple[int, int, int], n_outputs: int) -> nn.Module:
    """Conv(8, 3x3) - ReLU - Flatten - Linear: a small CNN for any image shape."""
    c, h, w = in_shape
    return nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * h * w, n_outputs))


INVERTED = rb.datasets.DatasetInfo(
    name="digits_inverted",
    in_shape=(1, 8, 8),
    n_classes=10,
    needs_root=False,
    augment=False,
    mean=None,
    std=None,
    source="scikit-learn's digits, pixels inverted",
)


@rb.register_dataset(INVERTED)
def read_inverted(root: Any, split: str) -> rb.datasets.Arrays:
    """scikit-learn's digits as 1 - x, split 80/20 as robin-bench splits embedded data."""
    d = load_digits()
    x = (1.0 - d.images.astype(np.float32) / 16.0)[:, None]
    return split_arrays(x, d.target.astype(np.int64), None, split)
