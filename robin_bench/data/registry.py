"""The dataset registry and ``load``: one entry point over embedded and on-disk datasets."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from robin_bench.errors import RobinBenchError
from robin_bench.registry import Registry

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, without loading it.

    Attributes:
        name (str): registry name.
        in_shape (tuple[int, int, int] | None): (C, H, W) of one image; ``None`` for ``npz`` until
            ``info("npz", root=path)`` reads the file.
        n_classes (int | None): number of (fine) classes; ``None`` like ``in_shape``.
        needs_root (bool): whether ``load`` needs ``root`` (the data lives in files).
        augment (bool): whether random crop (pad 4) + horizontal flip suits it (CIFAR yes, digits no).
        mean (tuple[float, ...] | None): per-channel mean of the training images in [0, 1], for
            :func:`robin_bench.archs.build`; ``None`` = do not normalize.
        std (tuple[float, ...] | None): per-channel standard deviation, as ``mean``.
        source (str): where the data comes from (URL or package).
        n_coarse (int | None): number of coarse classes when the dataset has coarse labels.
        class_names (tuple[str, ...] | None): the name of each class (``folder``: its folder names), which a
            suite's hierarchy may use instead of class indices.
    """

    name: str
    in_shape: tuple[int, int, int] | None
    n_classes: int | None
    needs_root: bool
    augment: bool
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    source: str
    n_coarse: int | None = None
    class_names: tuple[str, ...] | None = None


class Arrays(NamedTuple):
    """One split as read from its source: ``x`` (N, C, H, W) uint8 in 0..255 or float32 in [0, 1]."""

    x: np.ndarray
    y: np.ndarray
    y_coarse: np.ndarray | None


Reader = Callable[[Path | None, str], Arrays]
"""``read(root, split) -> Arrays``; ``root`` is ``None`` for embedded datasets."""


@dataclass(frozen=True)
class Dataset:
    """A registry entry: the dataset's info, the function reading one split and, for an embedded dataset, the
    files its data comes from (``sources()``; a dataset read from ``root`` reads ``root``)."""

    info: DatasetInfo
    read: Reader
    describe: Callable[[Path], DatasetInfo] | None = None
    sources: Callable[[], list[Path]] | None = None


DATASETS: Registry[Dataset] = Registry("dataset")


def register_dataset(
    info: DatasetInfo,
    *,
    describe: Callable[[Path], DatasetInfo] | None = None,
    sources: Callable[[], list[Path]] | None = None,
) -> Callable[[Reader], Reader]:
    r"""Decorator registering a reader ``read(root, split) -> Arrays`` as dataset ``info.name``
    (``rb.register_dataset``), for suites (``dataset: {name: ...}``) and :func:`load`.

    ``read`` gets the data root (``None`` when ``info.needs_root`` is False) and ``"train"`` or ``"test"``, and
    returns :class:`Arrays`: ``x`` (N, C, H, W) uint8 in 0..255 or float32 in [0, 1], integer labels ``y``,
    optional coarse labels. ``describe(root)`` gives the info of a dataset whose shape or classes depend on its
    files (``npz``, ``folder``); ``sources()`` the files an embedded dataset's data comes from (hashed into cache
    keys, :func:`input_files`). A name already taken is a ``RobinBenchError``.

    Example::

        >>> INFO = rb.datasets.DatasetInfo(name="stripes", in_shape=(1, 8, 8), n_classes=2, needs_root=False,
        ...                                augment=False, mean=None, std=None, source="generated")
        >>> @rb.register_dataset(INFO)
        ... def read_stripes(root, split):
        ...     rng = np.random.default_rng(0 if split == "train" else 1)
        ...     y = rng.integers(0, 2, 200)
        ...     x = np.zeros((200, 1, 8, 8), np.float32)
        ...     x[y == 1, :, ::2] = 1.0
        ...     return rb.datasets.Arrays(x, y, None)
    """

    def deco(read: Reader) -> Reader:
        DATASETS.register(info.name)(Dataset(info=info, read=read, describe=describe, sources=sources))
        return read

    return deco


def input_files(name: str, *, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files or folders dataset ``name`` reads: ``root`` for a dataset read from files, the package files of an
    embedded one (empty when it does not name them). A cached model or cell is keyed on their content."""
    entry = DATASETS.get(name)
    if entry.info.needs_root:
        return [Path(root)] if root is not None else []
    return entry.sources() if entry.sources is not None else []


def names() -> list[str]:
    """Registered dataset names, in registration order."""
    return DATASETS.names()


def info(name: str, *, root: str | os.PathLike[str] | None = None) -> DatasetInfo:
    """The :class:`DatasetInfo` of dataset ``name``.

    For ``npz`` give ``root`` (the file) to get its real ``in_shape`` and ``n_classes``.

    Example::

        >>> info("digits").in_shape
        (1, 8, 8)
    """
    entry = DATASETS.get(name)
    if entry.describe is not None and root is not None:
        return entry.describe(Path(root))
    return entry.info


def load(
    name: str,
    *,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    n_examples: int | None = None,
    classes: Sequence[int] | None = None,
    seed: int = 0,
    with_coarse: bool = False,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    r"""Load one split of dataset ``name`` as tensors; never downloads.

    Arguments:
        name (str): a registered dataset (see :func:`names`): ``digits``, ``mnist5k`` (embedded),
            ``mnist``, ``cifar10``, ``cifar100`` (files under ``root``), ``npz`` (``root`` = the file).
        split (str): ``"train"`` or ``"test"``. Embedded and ``npz`` data are split 80/20, stratified,
            with a fixed seed, so the test set never changes. Default: ``"train"``.
        root (str | PathLike | None): data folder (or ``.npz`` file); ignored by embedded datasets.
        n_examples (int | None): draw this many examples (>= 1); ``None`` = all. The draw is
            class-balanced: classes take turns, so each class gets ``n_examples // k`` or one more
            while it has examples left. Examples keep their dataset order. Default: ``None``.
        classes (Sequence[int] | None): keep only these classes and relabel them ``0..len-1`` in the
            given order (``classes=[7, 3]``: 7 -> 0, 3 -> 1). Coarse labels are kept as they are.
            Applied before ``n_examples``. Default: ``None`` (all classes).
        seed (int): decides which ``n_examples`` are drawn; nothing else. Default: 0.
        with_coarse (bool): also return the coarse labels (``cifar100``, or ``npz`` with ``y_coarse``).

    Returns:
        ``(x, y)`` or ``(x, y, y_coarse)``: ``x`` float32 (N, C, H, W) in [0, 1], labels int64 (N,).

    Example::

        >>> x, y = load("digits", split="test")
        >>> x.shape, y.dtype
        (torch.Size([360, 1, 8, 8]), torch.int64)
    """
    entry = DATASETS.get(name)
    if split not in SPLITS:
        raise RobinBenchError(f"unknown split {split!r} for dataset {name!r}; valid: {', '.join(SPLITS)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RobinBenchError(f"seed={seed!r} for dataset {name!r}; expected an integer >= 0")
    if entry.info.needs_root and root is None:
        raise RobinBenchError(
            f"dataset {name!r} is read from files and needs root=<folder>; the data comes from {entry.info.source}"
        )
    arrays = entry.read(Path(root) if root is not None and entry.info.needs_root else None, split)
    y_coarse = arrays.y_coarse
    if with_coarse and y_coarse is None:
        with_c = [n for n in names() if DATASETS.get(n).info.n_coarse is not None or n == "npz"]
        raise RobinBenchError(
            f"dataset {name!r} has no coarse labels (with_coarse=True); datasets with them: {', '.join(with_c)} "
            "(npz only with a y_coarse array); or map fine labels with a Hierarchy"
        )
    index = np.arange(len(arrays.y))
    y = arrays.y
    where = f"the {len(index)} {split} examples of {name}"
    if classes is not None:
        index, y = _subset_classes(arrays.y, classes, name)
        where = f"the {len(index)} {split} examples of {name} in classes {list(classes)}"
    if n_examples is not None:
        if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 1:
            raise RobinBenchError(f"n_examples={n_examples!r} must be a positive integer or None (all)")
        if n_examples > len(index):
            raise RobinBenchError(f"n_examples={n_examples} exceeds {where}")
        keep = balanced_draw(y, n_examples, seed)
        index, y = index[keep], y[keep]
    x = torch.from_numpy(np.ascontiguousarray(arrays.x[index]))
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    out_y = torch.from_numpy(np.asarray(y, dtype=np.int64).copy())
    if with_coarse and y_coarse is not None:
        return x, out_y, torch.from_numpy(np.asarray(y_coarse[index], dtype=np.int64).copy())
    return x, out_y


def _subset_classes(y: np.ndarray, classes: Sequence[int], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the examples in ``classes`` and their labels remapped to positions in ``classes``."""
    if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray) or len(classes) == 0:
        raise RobinBenchError(
            f"classes={classes!r} for dataset {name!r}; expected a non-empty list of class labels, e.g. [3, 7]"
        )
    wanted = list(classes)
    present = set(np.unique(y).tolist())
    unknown = [c for c in wanted if isinstance(c, bool) or not isinstance(c, int | np.integer) or c not in present]
    if unknown:
        raise RobinBenchError(
            f"classes={wanted} for dataset {name!r} holds unknown classes {unknown}; valid: {sorted(present)}"
        )
    if len(set(wanted)) != len(wanted):
        raise RobinBenchError(f"classes={wanted} for dataset {name!r} repeats a class; list each once")
    remap = np.full(max(present) + 1, -1, dtype=np.int64)
    remap[wanted] = np.arange(len(wanted))
    index = np.flatnonzero(remap[y] >= 0)
    return index, remap[y[index]]


def balanced_draw(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of ``n`` examples of labels ``y``, drawn class-balanced with ``seed``.

    Each class's examples are shuffled; classes then take turns in random order, so class counts
    differ by at most one while every class still has examples.
    """
    rng = np.random.default_rng(seed)
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rank[rng.permutation(members)] = np.arange(len(members))
    order = np.lexsort((rng.random(len(y)), rank))
    return np.sort(order[:n])


def fixed_split(y: np.ndarray, split: str, *, test_fraction: float = 0.2, split_seed: int = 0) -> np.ndarray:
    """Sorted positions of ``split`` in a fixed stratified train/test split of labels ``y``.

    The split depends only on ``y``, ``test_fraction`` and ``split_seed``, so the test set never
    changes. Each class puts ``ceil(test_fraction * count)`` shuffled examples in the test set.
    """
    rng = np.random.default_rng(split_seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        test[members[: int(np.ceil(test_fraction * len(members)))]] = True
    return np.flatnonzero(test if split == "test" else ~test)


def split_arrays(x: np.ndarray, y: np.ndarray, y_coarse: np.ndarray | None, split: str) -> Arrays:
    """The ``split`` part of the arrays of a dataset without an official split (:func:`fixed_split` of ``y``)."""
    index = fixed_split(y, split)
    return Arrays(x[index], y[index], None if y_coarse is None else y_coarse[index])
