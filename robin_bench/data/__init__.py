"""Datasets: a registry of embedded (digits, mnist5k) and on-disk (mnist, cifar10, cifar100, npz, folder) data,
open to plugins (``rb.register_dataset``).

Example::

    >>> import robin_bench as rb
    >>> x, y = rb.datasets.load("digits", split="test")
    >>> rb.datasets.info("digits").in_shape
    (1, 8, 8)
"""

from robin_bench.data import embedded, files, folder
from robin_bench.data.registry import (
    DATASETS,
    Arrays,
    DatasetInfo,
    info,
    input_files,
    load,
    names,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "Arrays",
    "DatasetInfo",
    "embedded",
    "files",
    "folder",
    "info",
    "input_files",
    "load",
    "names",
    "register_dataset",
]
