"""``folder``: your images in class subfolders, as torchvision's ``ImageFolder`` lays them out.

``root`` holds ``train/<class>/`` and ``test/<class>/`` with PNG or JPEG images (read through Pillow). The
labels are the sorted class-folder names (``ImageFolder``'s rule), so ``train/`` and ``test/`` must hold the
same class folders; a hierarchy may name classes by folder name. Images are grayscale (1 channel) or, when any
image is in colour, RGB (3 channels); every image has the same size. Hidden files (``.DS_Store``) are
skipped; any other file that is not a PNG or JPEG image is an error naming it.

Example::

    >>> x, y = rb.datasets.load("folder", root="my_images", split="test")
    >>> rb.datasets.info("folder", root="my_images").class_names
    ('cat', 'dog')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robin_bench.data.registry import SPLITS, Arrays, DatasetInfo, register_dataset
from robin_bench.errors import RobinBenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Image files ``folder`` reads (any case)."""

_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")

FOLDER = DatasetInfo(
    name="folder",
    in_shape=None,
    n_classes=None,
    needs_root=True,
    augment=False,
    mean=None,
    std=None,
    source="your images: root/train/<class>/*.png|jpg and root/test/<class>/*.png|jpg",
)


def _classes(root: Path, split: str) -> list[str]:
    base = root / split
    if not base.is_dir():
        raise RobinBenchError(
            f"folder: {base} is not a folder; root must hold {'/ and '.join(SPLITS)}/ with one "
            "subfolder of images per class"
        )
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise RobinBenchError(
            f"folder: {base} has {len(names)} class folder(s) ({', '.join(names) or 'none'}); a "
            "classifier needs at least 2 classes, one subfolder each"
        )
    return names


def _class_names(root: Path) -> list[str]:
    if not root.is_dir():
        raise RobinBenchError(f"folder: root {root} is not a folder; give the folder holding train/ and test/")
    train, test = _classes(root, "train"), _classes(root, "test")
    if train != test:
        only = sorted(set(train) ^ set(test))
        raise RobinBenchError(
            f"folder: {root}/train and {root}/test hold different classes ({', '.join(only[:5])} "
            "in one only); labels are the sorted folder names, so both need the same class folders"
        )
    return train


def _files(root: Path, split: str, names: list[str]) -> list[tuple[Path, int]]:
    out = []
    for label, name in enumerate(names):
        for path in sorted((root / split / name).iterdir()):
            if path.name.startswith("."):
                continue
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                raise RobinBenchError(
                    f"folder: {path} is not a PNG or JPEG image; a class folder holds only images "
                    f"({', '.join(IMAGE_SUFFIXES)})"
                )
            out.append((path, label))
    if not out:
        raise RobinBenchError(f"folder: {root / split} holds no images")
    return out


def _open(path: Path) -> tuple[tuple[int, int], bool]:
    """(width, height) and whether ``path`` is grayscale, from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size, im.mode in _GRAY_MODES
    except (UnidentifiedImageError, OSError) as e:
        raise RobinBenchError(f"folder: {path} is not a readable image ({e.__class__.__name__})") from None


def _scan(root: Path, split: str | None) -> tuple[list[str], list[tuple[Path, int]], tuple[int, int], bool]:
    """Class names, (file, label) of ``split`` (both splits for None), the common size and whether all are gray;
    an odd size is an error naming the file."""
    names = _class_names(root)
    files = [f for s in ((split,) if split is not None else SPLITS) for f in _files(root, s, names)]
    size, gray = _open(files[0][0])
    for path, _ in files[1:]:
        other, is_gray = _open(path)
        if other != size:
            raise RobinBenchError(
                f"folder: {path} is {other[0]}x{other[1]} but {files[0][0]} is {size[0]}x{size[1]}; "
                "every image must have the same size (resize them first)"
            )
        gray = gray and is_gray
    return names, files, size, gray


def _describe(root: Path) -> DatasetInfo:
    names, files, (w, h), gray = _scan(root, None)
    return DatasetInfo(
        name=FOLDER.name,
        in_shape=(1 if gray else 3, h, w),
        n_classes=len(names),
        needs_root=True,
        augment=False,
        mean=None,
        std=None,
        source=str(root),
        class_names=tuple(names),
    )


@register_dataset(FOLDER, describe=_describe)
def read_folder(root: Path | None, split: str) -> Arrays:
    """Images of ``root/split/<class>/`` as uint8 (N, C, H, W) and labels = positions of the sorted class names."""
    from PIL import Image

    path = Path(root or ".")
    _, _, _, gray = _scan(path, None)  # the channel count is decided over both splits
    _, files, _, _ = _scan(path, split)
    mode = "L" if gray else "RGB"
    x = np.stack([np.asarray(Image.open(p).convert(mode)) for p, _ in files])
    x = x[:, None] if gray else x.transpose(0, 3, 1, 2)
    return Arrays(np.ascontiguousarray(x), np.array([label for _, label in files], dtype=np.int64), None)
