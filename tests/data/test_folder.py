"""``folder``: class-subfolder images as ImageFolder lays them out; ``npz`` with its own split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import robin_bench as rb
from robin_bench.bench.config import load_suite
from robin_bench.cli import main

CLASSES = ("cat", "dog", "emu")


def images(
    root: Path,
    *,
    size: tuple[int, int] = (8, 8),
    per_class: int = 3,
    rgb: bool = False,
    classes: tuple[str, ...] = CLASSES,
) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                shape = (size[1], size[0], 3) if rgb else (size[1], size[0])
                pixels = np.full(shape, 40 * label, dtype=np.uint8) + rng.integers(0, 30, shape, dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.{'jpg' if i == 2 else 'png'}")
    return root


def test_labels_are_the_sorted_folder_names(tmp_path: Path) -> None:
    root = images(tmp_path / "data")
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"\x00")
    info = rb.datasets.info("folder", root=root)
    assert info.class_names == CLASSES and info.in_shape == (1, 8, 8) and info.n_classes == 3
    x, y = rb.datasets.load("folder", root=root, split="test")
    assert x.shape == (9, 1, 8, 8) and y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    png = np.asarray(Image.open(root / "test" / "dog" / "0.png"), dtype=np.float32) / 255
    assert np.allclose(x[3, 0].numpy(), png)


def test_colour_images_give_three_channels(tmp_path: Path) -> None:
    root = images(tmp_path / "data", rgb=True, size=(10, 8))
    x, _ = rb.datasets.load("folder", root=root, split="train")
    assert x.shape == (9, 3, 8, 10)


def test_a_hierarchy_may_name_classes_by_folder_name(tmp_path: Path) -> None:
    root = images(tmp_path / "data")
    suite = {
        "name": "f",
        "dataset": {"name": "folder", "root": str(root)},
        "hierarchy": {"pets": ["cat", "dog"], "birds": ["emu"]},
        "threat_models": [{"norm": "Linf", "eps": [0.1]}],
        "models": [{"name": "h", "kind": "har", "arch": "mlp", "train": {"epochs": 1}}],
        "attacks": [{"attack": "fgsm"}],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    h = load_suite(tmp_path / "s.yaml").get_hierarchy()
    assert h is not None and h.fine_classes(0) == [0, 1] and h.fine_classes(1) == [2]
    suite["hierarchy"] = {"pets": ["cat", "dgo"], "birds": ["emu"]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    with pytest.raises(rb.RobinBenchError, match="unknown class 'dgo'; did you mean 'dog'"):
        load_suite(tmp_path / "s.yaml")


def odd_size(root: Path) -> str:
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(root / "test" / "emu" / "odd.png")
    return "odd.png is 8x9"


def one_class(root: Path) -> str:
    for split in ("train", "test"):
        for name in ("dog", "emu"):
            for f in (root / split / name).iterdir():
                f.unlink()
            (root / split / name).rmdir()
    return "has 1 class folder(s) (cat)"


def not_an_image(root: Path) -> str:
    (root / "train" / "dog" / "notes.txt").write_text("hello")
    return "notes.txt is not a PNG or JPEG image"


def broken_png(root: Path) -> str:
    (root / "train" / "dog" / "broken.png").write_bytes(b"not png")
    return "broken.png is not a readable image"


def other_classes(root: Path) -> str:
    (root / "test" / "emu").rename(root / "test" / "owl")
    return "hold different classes"


@pytest.mark.parametrize("damage", [odd_size, one_class, not_an_image, broken_png, other_classes])
def test_a_bad_folder_is_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object
) -> None:
    root = images(tmp_path / "data")
    expected = damage(root)  # type: ignore[operator]
    suite = {
        "name": "f",
        "dataset": {"name": "folder", "root": str(root)},
        "threat_models": [{"norm": "Linf", "eps": [0.1]}],
        "models": [{"name": "m", "kind": "flat", "arch": "mlp", "train": {"epochs": 1}}],
        "attacks": [{"attack": "fgsm"}],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    assert main(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "out").exists()


def test_an_npz_may_carry_its_own_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "own.npz"
    np.savez(
        path,
        x_train=rng.random((30, 1, 8, 8), dtype=np.float32),
        y_train=np.arange(30) % 3,
        x_test=rng.random((7, 1, 8, 8), dtype=np.float32),
        y_test=np.arange(7) % 3,
    )
    x, y = rb.datasets.load("npz", root=path, split="test")
    assert x.shape[0] == 7 and y.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert rb.datasets.load("npz", root=path, split="train")[0].shape[0] == 30
    np.savez(path, x_train=rng.random((30, 1, 8, 8), dtype=np.float32), y_train=np.arange(30) % 3)
    with pytest.raises(rb.RobinBenchError, match="lacks x_test, y_test"):
        rb.datasets.load("npz", root=path, split="test")
