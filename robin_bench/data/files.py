"""Datasets read from a data root in their standard distribution formats; nothing is downloaded.

- ``mnist``: the four IDX files (``train-images-idx3-ubyte`` ...), plain or ``.gz``, in ``root``.
- ``cifar10``: ``cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``); ``root`` is that
  folder or the one containing it.
- ``cifar100``: ``cifar-100-python/`` (``train``, ``test``) with fine and coarse labels; ``root``
  as for cifar10.
- ``npz``: ``root`` is a ``.npz`` file with ``x``, ``y`` and optionally ``y_coarse`` (split 80/20 by
  robin-bench), or with its own split: ``x_train``, ``y_train``, ``x_test``, ``y_test`` (and optionally
  ``y_coarse_train``, ``y_coarse_test``).

CIFAR batches are pickles; they are read with an unpickler that only builds numpy arrays, so a
tampered file cannot run code.

No header is trusted with memory: an IDX header's dimensions must match the bytes the file holds,
an npz member's ``.npy`` header must match its size in the archive, and every length field of a
CIFAR pickle must fit in the file, all checked before the data is allocated, so a crafted tiny file
asking for terabytes gives one RobinBenchError line instead of a MemoryError.
"""

from __future__ import annotations

import gzip
import io
import math
import pickle
import pickletools
import zipfile
from pathlib import Path
from typing import Any, cast
from zlib import error as zlib_error

import numpy as np

from robin_bench.data.registry import Arrays, DatasetInfo, register_dataset, split_arrays
from robin_bench.errors import RobinBenchError

MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"

MNIST = DatasetInfo(
    name="mnist",
    in_shape=(1, 28, 28),
    n_classes=10,
    needs_root=True,
    augment=False,
    mean=(0.1307,),
    std=(0.3081,),
    source=MNIST_URL,
)
CIFAR10 = DatasetInfo(
    name="cifar10",
    in_shape=(3, 32, 32),
    n_classes=10,
    needs_root=True,
    augment=True,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    source=CIFAR10_URL,
)
CIFAR100 = DatasetInfo(
    name="cifar100",
    in_shape=(3, 32, 32),
    n_classes=100,
    needs_root=True,
    augment=True,
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    source=CIFAR100_URL,
    n_coarse=20,
)
NPZ = DatasetInfo(
    name="npz",
    in_shape=None,
    n_classes=None,
    needs_root=True,
    augment=False,
    mean=None,
    std=None,
    source="your own .npz file (numpy.savez) with arrays x, y and optionally y_coarse",
)


def _require(path: Path, dataset: str, source: str) -> Path:
    if path.is_dir():
        raise RobinBenchError(f"{dataset}: {path} is not a file but a folder; give the path of the data file")
    if not path.is_file():
        raise RobinBenchError(f"{dataset}: missing file {path}; get it from {source} (nothing is downloaded)")
    return path


_CHUNK = 1 << 20


def _read_bounded(f: io.BufferedIOBase, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``f``, read in chunks so memory follows the data actually present."""
    chunks, total = [], 0
    while total < limit:
        chunk = f.read(min(_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _read_idx(path: Path, ndim: int, dataset: str) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions (gzip-compressed if it ends in .gz).

    The header's dimensions are checked against the bytes the file holds before the body is read.
    """
    header_len = 4 + 4 * ndim
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(header_len)
            if len(head) < header_len or head[:2] != b"\x00\x00" or head[2] != 0x08 or head[3] != ndim:
                raise RobinBenchError(
                    f"{dataset}: {path} is not an IDX file of unsigned bytes with {ndim} dimensions (bad header)"
                )
            dims = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
            expected = math.prod(dims)
            if path.suffix == ".gz":
                _check_gzip_size(path, header_len, dims, dataset)
            elif path.stat().st_size - header_len != expected:
                raise RobinBenchError(
                    f"{dataset}: {path} holds {path.stat().st_size - header_len} bytes of data, "
                    f"its header says {dims} ({expected} bytes)"
                )
            body = _read_bounded(f, expected + 1)
    except (OSError, EOFError, zlib_error) as e:
        raise RobinBenchError(f"{dataset}: {path} is not a readable IDX file ({e})") from None
    if len(body) != expected:
        raise RobinBenchError(
            f"{dataset}: {path} holds {len(body)} bytes of data, its header says {dims} ({expected} bytes)"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _check_gzip_size(path: Path, header_len: int, dims: list[int], dataset: str) -> None:
    """Refuse, before reading the body, a gzip IDX file that cannot hold the data its header's ``dims`` ask for:
    the gzip trailer states the decompressed size (modulo 2**32, one member) and deflate expands at most
    :data:`_MAX_DEFLATE_RATIO`-fold."""
    expected = math.prod(dims)
    compressed = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(compressed - 4, 0))
        trailer = int.from_bytes(f.read(4), "little")
    if trailer != (header_len + expected) % 2**32:
        raise RobinBenchError(
            f"{dataset}: {path} holds {trailer - header_len} bytes of data, its header says {dims} "
            f"({expected} bytes; sizes from its gzip trailer)"
        )
    if header_len + expected > _MAX_DEFLATE_RATIO * compressed + 1024:
        raise RobinBenchError(
            f"{dataset}: {path} cannot hold {expected} bytes of data in {compressed} compressed "
            f"bytes (deflate expands at most {_MAX_DEFLATE_RATIO}-fold), its header says {dims}"
        )


def _idx_path(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise RobinBenchError(
        f"mnist: missing file {root / stem} (or {stem}.gz); get it from {MNIST_URL} (nothing is downloaded)"
    )


@register_dataset(MNIST)
def read_mnist(root: Path | None, split: str) -> Arrays:
    """MNIST's official split from its IDX files in ``root``."""
    prefix = "train" if split == "train" else "t10k"
    folder = Path(root or ".")
    images = _read_idx(_idx_path(folder, f"{prefix}-images-idx3-ubyte"), 3, "mnist")
    labels = _read_idx(_idx_path(folder, f"{prefix}-labels-idx1-ubyte"), 1, "mnist")
    if len(images) != len(labels):
        raise RobinBenchError(f"mnist: {len(images)} {split} images but {len(labels)} labels in {folder}")
    return Arrays(images[:, None], labels.astype(np.int64), None)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _check_pickle_lengths(raw: bytes, path: Path, dataset: str) -> None:
    """Refuse a pickle whose length fields or memo indices ask for more than the file holds.

    ``pickle`` allocates a counted bytes/str object (and grows its memo to a PUT index) before reading
    its data, so a few crafted bytes can ask for terabytes; ``pickletools.genops`` reads the same
    opcodes from memory and fails where a length runs past the end of the file.
    """
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(raw)):
            # the argument of the PUT opcodes is the memo index, an int
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and cast(int, arg) > len(raw):
                raise pickle.UnpicklingError(f"memo index {arg} beyond the file's {len(raw)} bytes")
    except (ValueError, pickle.UnpicklingError) as e:
        raise RobinBenchError(
            f"{dataset}: {path} is not a CIFAR python batch: its pickle asks for more than the file's "
            f"{len(raw)} bytes ({str(e).splitlines()[0][:120]})"
        ) from None


def _read_cifar_batch(path: Path, dataset: str, label_keys: tuple[str, ...]) -> list[np.ndarray]:
    """``data`` as (N, 3, 32, 32) uint8 followed by the ``label_keys`` arrays of one CIFAR pickle."""
    raw = path.read_bytes()
    _check_pickle_lengths(raw, path, dataset)
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = [np.asarray(batch[k], dtype=np.int64) for k in label_keys]
    except (pickle.UnpicklingError, EOFError, AttributeError, KeyError, ValueError, TypeError, MemoryError) as e:
        raise RobinBenchError(
            f"{dataset}: {path} is not a CIFAR python batch with data, {', '.join(label_keys)} "
            f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'no detail'})"
        ) from None
    if any(len(lab) != len(data) for lab in labels):
        raise RobinBenchError(f"{dataset}: {path} has {len(data)} images but label lists of other lengths")
    return [data, *labels]


def _cifar_folder(root: Path, folder: str, first_file: str, dataset: str, source: str) -> Path:
    """``root`` itself when it holds the batches, else ``root/folder``."""
    if (root / first_file).is_file():
        return root
    _require(root / folder / first_file, dataset, source)
    return root / folder


@register_dataset(CIFAR10)
def read_cifar10(root: Path | None, split: str) -> Arrays:
    """CIFAR-10's official split from ``cifar-10-batches-py``."""
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    folder = _cifar_folder(Path(root or "."), "cifar-10-batches-py", files[0], "cifar10", CIFAR10_URL)
    parts = [_read_cifar_batch(_require(folder / f, "cifar10", CIFAR10_URL), "cifar10", ("labels",)) for f in files]
    return Arrays(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), None)


@register_dataset(CIFAR100)
def read_cifar100(root: Path | None, split: str) -> Arrays:
    """CIFAR-100's official split from ``cifar-100-python``, with its 20 coarse labels."""
    folder = _cifar_folder(Path(root or "."), "cifar-100-python", split, "cifar100", CIFAR100_URL)
    data, fine, coarse = _read_cifar_batch(folder / split, "cifar100", ("fine_labels", "coarse_labels"))
    return Arrays(data, fine, coarse)


_MAX_DEFLATE_RATIO = 1032
"""Deflate cannot expand data more than about 1032-fold; a member declaring more is not a real archive."""

_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_npz_headers(path: Path) -> None:
    """Refuse an .npz whose ``.npy`` headers ask for more bytes than their archive members hold."""
    if not zipfile.is_zipfile(path):
        raise RobinBenchError(f"npz: {path} is not a .npz (zip) file; save one with numpy.savez(path, x=..., y=...)")
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                where = f"npz: {path} member {info.filename}"
                limit = (
                    info.compress_size
                    if info.compress_type == zipfile.ZIP_STORED
                    else (_MAX_DEFLATE_RATIO * info.compress_size + 1024)
                )
                if info.file_size > limit:
                    raise RobinBenchError(
                        f"{where} declares {info.file_size} bytes from {info.compress_size} "
                        "stored; the archive is damaged or crafted"
                    )
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in _NPY_HEADER_READERS:
                        raise RobinBenchError(f"{where} has .npy format version {version}; expected 1.0 or 2.0")
                    shape, _fortran, dtype = _NPY_HEADER_READERS[version](f)
                    header_len = f.tell()
                nbytes = math.prod(shape) * dtype.itemsize
                if dtype.hasobject or nbytes != info.file_size - header_len:
                    raise RobinBenchError(
                        f"{where}: its header asks for shape {shape} of {dtype} ({nbytes} bytes) "
                        f"but the member holds {info.file_size - header_len} bytes of data"
                    )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib_error) as e:
        if isinstance(e, RobinBenchError):
            raise
        raise RobinBenchError(f"npz: {path} is not a readable .npz file ({str(e).splitlines()[0][:120]})") from None


OWN_SPLIT = ("x_train", "y_train", "x_test", "y_test")
"""Arrays of an ``.npz`` that carries its own split (``y_coarse_train``/``y_coarse_test`` optional)."""


def _read_npz(path: Path, split: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated ``x`` (N, C, H, W) uint8 or float32 in [0, 1], ``y`` and optional ``y_coarse`` of ``split``: the
    file's own split where it carries one (:data:`OWN_SPLIT`), else robin-bench's fixed 80/20 split of ``x``/``y``
    (:func:`~robin_bench.data.registry.split_arrays`); every sample for ``split=None``."""
    _require(path, "npz", NPZ.source)
    _check_npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise RobinBenchError(f"npz: {path} is not a readable .npz file without pickled objects ({e})") from None
    if any(k in arrays for k in OWN_SPLIT):
        missing = [k for k in OWN_SPLIT if k not in arrays]
        if missing:
            raise RobinBenchError(
                f"npz: {path} carries part of its own split but lacks {', '.join(missing)}; give "
                f"all of {', '.join(OWN_SPLIT)}, or only x and y (split 80/20 by robin-bench)"
            )
        parts = [_validated(arrays, path, s) for s in (("train", "test") if split is None else (split,))]
        xs, ys, cs = zip(*parts, strict=True)
        coarse = None if any(c is None for c in cs) else np.concatenate(cs)
        return np.concatenate(xs), np.concatenate(ys), coarse
    whole = _validated(arrays, path, None)
    return whole if split is None else tuple(split_arrays(*whole, split))  # type: ignore[return-value]


def _validated(
    arrays: dict[str, np.ndarray], path: Path, split: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``x``, ``y``, ``y_coarse`` (keys suffixed ``_<split>`` where given) checked."""
    suffix = "" if split is None else f"_{split}"
    arrays = {k.removesuffix(suffix): v for k, v in arrays.items() if k.endswith(suffix)} if suffix else arrays
    for key in ("x", "y"):
        if key not in arrays:
            raise RobinBenchError(
                f"npz: {path} has no array {key!r}; found {sorted(arrays)}; need x, y (y_coarse optional), or "
                f"{', '.join(OWN_SPLIT)}"
            )
    x = _check_images(arrays["x"], path)
    y = _check_labels(arrays["y"], "y", len(x), path)
    y_coarse = _check_labels(arrays["y_coarse"], "y_coarse", len(x), path) if "y_coarse" in arrays else None
    return x, y, y_coarse


def _check_images(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4 or x.shape[1] not in (1, 3):
        raise RobinBenchError(
            f"npz: x in {path} has shape {x.shape}; expected (N, C, H, W), (N, H, W) or (N, H, W, C) with C 1 or 3"
        )
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise RobinBenchError(f"npz: x in {path} has dtype {x.dtype}; expected uint8 (0..255) or float in [0, 1]")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
        raise RobinBenchError(f"npz: float x in {path} spans [{lo}, {hi}]; expected values in [0, 1]")
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_labels(y: np.ndarray, key: str, n: int, path: Path) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise RobinBenchError(f"npz: {key} in {path} has shape {y.shape}; expected ({n},), one label per image")
    if not np.issubdtype(y.dtype, np.integer) or (n and int(y.min()) < 0):
        raise RobinBenchError(f"npz: {key} in {path} must hold non-negative integers (dtype {y.dtype})")
    return y.astype(np.int64)


def _describe_npz(path: Path) -> DatasetInfo:
    x, y, y_coarse = _read_npz(path)
    c, h, w = x.shape[1:]
    return DatasetInfo(
        name=NPZ.name,
        in_shape=(int(c), int(h), int(w)),
        n_classes=int(y.max()) + 1 if len(y) else 0,
        needs_root=True,
        augment=False,
        mean=None,
        std=None,
        source=str(path),
        n_coarse=int(y_coarse.max()) + 1 if y_coarse is not None and len(y_coarse) else None,
    )


@register_dataset(NPZ, describe=_describe_npz)
def read_npz(root: Path | None, split: str) -> Arrays:
    """``split`` of the ``.npz`` file ``root``: its own (``x_train``, ``y_train``, ``x_test``, ``y_test``), else a fixed
    stratified 80/20 split of its ``x`` and ``y``."""
    return Arrays(*_read_npz(Path(root or "."), split))
