"""Datasets: a registry of embedded (digits, mnist5k) and on-disk (mnist, cifar10, cifar100, npz) data.

Example::

    >>> import robin_bench as rb
    >>> x, y = rb.datasets.load("digits", split="test")
    >>> rb.datasets.info("digits").in_shape
    (1, 8, 8)
"""

from robin_bench.data import embedded, files
from robin_bench.data.registry import DATASETS, DatasetInfo, info, load, names

__all__ = ["DATASETS", "DatasetInfo", "embedded", "files", "info", "load", "names"]
