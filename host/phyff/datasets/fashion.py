"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, MIT licence), full size or average-pooled.

``fashion-mnist``, ``fashion-mnist-14``, ``fashion-mnist-7``
    Fashion-MNIST 28x28, or average-pooled 2x2 (14x14) / 4x4 (7x7) for small
    physical media. A ``:N`` suffix keeps a seeded stratified subset of N training
    images (``fashion-mnist-14:6000``) for quick runs; the test set stays whole.

The IDX files are looked for in ``fashion-mnist/`` inside the data folder, then in
Debian's system location (package ``dataset-fashion-mnist``). Pixels / 255.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from phyff.datasets.base import (
    DATA_DIR_ENV,
    Dataset,
    DatasetError,
    Float,
    resolve_data_dir,
    scaled_dataset,
    stratified_subset,
)
from phyff.datasets.idx import read_idx
from phyff.datasets.registry import DatasetRequest, register

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEBIAN_PACKAGE",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_SYSTEM_DIR",
    "load_fashion_mnist",
]

FASHION_MNIST_SYSTEM_DIR: Final = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's package ``dataset-fashion-mnist`` installs the IDX files (a documented
system default, searched after the data folder)."""

FASHION_MNIST_DEBIAN_PACKAGE: Final = "dataset-fashion-mnist"

FASHION_MNIST_CLASSES: Final = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FASHION_MNIST_FILES: Final = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_POOL: Final = {None: 1, "14": 2, "7": 4}
_SIZE_IN_NAME = re.compile(r"fashion-mnist(?:-(14|7))?(?::[0-9]+)?")


def _find_fashion_dir(data_dir: str | os.PathLike[str] | None) -> dict[str, Path]:
    """The four Fashion-MNIST files from the first folder holding all of them."""
    base, origin = resolve_data_dir(data_dir)
    candidates = [(base / "fashion-mnist", f"data folder ({origin})")]
    candidates.append((FASHION_MNIST_SYSTEM_DIR, f"Debian's {FASHION_MNIST_DEBIAN_PACKAGE}"))
    for folder, _ in candidates:
        found: dict[str, Path] = {}
        for stem in FASHION_MNIST_FILES:
            for suffix in (".gz", ""):
                if (folder / (stem + suffix)).is_file():
                    found[stem] = folder / (stem + suffix)
                    break
        if len(found) == len(FASHION_MNIST_FILES):
            return found
    looked = "; ".join(f"{folder} ({why})" for folder, why in candidates)
    raise DatasetError(
        "Fashion-MNIST not found: need the IDX files "
        + ", ".join(f"{s}[.gz]" for s in FASHION_MNIST_FILES)
        + f". Looked in: {looked}. Install Debian's package {FASHION_MNIST_DEBIAN_PACKAGE} "
        f"(apt-get install {FASHION_MNIST_DEBIAN_PACKAGE}), or put the files in a folder "
        f"named fashion-mnist inside the data folder given by `--data PATH` or {DATA_DIR_ENV}. "
        "Fashion-MNIST: Xiao, Rasul, Vollgraf 2017, MIT licence."
    )


def load_fashion_mnist(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    *,
    pool: int,
    subset: int | None,
    seed: int,
) -> Dataset:
    """Fashion-MNIST, optionally a stratified training subset, average-pooled ``pool``x``pool``."""
    files = _find_fashion_dir(data_dir)
    arrays = [read_idx(files[stem]) for stem in FASHION_MNIST_FILES]
    x_train, y_train, x_test, y_test = arrays
    for stem, imgs, labels in (
        (FASHION_MNIST_FILES[0], x_train, y_train),
        (FASHION_MNIST_FILES[2], x_test, y_test),
    ):
        if imgs.ndim != 3 or imgs.dtype != np.uint8:
            raise DatasetError(
                f"{stem}: expected uint8 images (N, h, w), got {imgs.dtype} {imgs.shape}"
            )
        if labels.ndim != 1 or labels.shape[0] != imgs.shape[0]:
            raise DatasetError(
                f"{stem}: mismatched lengths: {imgs.shape[0]} images, labels "
                f"of shape {labels.shape}"
            )
        if imgs.shape[1] % pool or imgs.shape[2] % pool:
            raise DatasetError(f"{stem}: images {imgs.shape[1:]} cannot be pooled {pool}x{pool}")
    y_train = y_train.astype(np.int64)
    y_test = y_test.astype(np.int64)
    n_classes = len(FASHION_MNIST_CLASSES)
    for stem, labels in ((FASHION_MNIST_FILES[1], y_train), (FASHION_MNIST_FILES[3], y_test)):
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise DatasetError(f"{stem}: labels out of range 0..{n_classes - 1}")
    note = ""
    if subset is not None:
        if not n_classes <= subset <= y_train.size:
            raise DatasetError(
                f"{name}: subset size must be between {n_classes} (one per class) and "
                f"{y_train.size} (the training set), got {subset}"
            )
        idx = stratified_subset(y_train, subset, np.random.default_rng(seed))
        x_train, y_train = x_train[idx], y_train[idx]
        note = f"; stratified subset of {subset} training images (seed {seed})"
    h, w = x_train.shape[1:]
    image_shape = (h // pool, w // pool)

    def pooled(imgs: npt.NDArray[np.uint8]) -> Float:
        n = imgs.shape[0]
        if pool == 1:
            return imgs.reshape(n, -1).astype(np.float64)
        blocks = imgs.reshape(n, image_shape[0], pool, image_shape[1], pool)
        return blocks.mean(axis=(2, 4), dtype=np.float64).reshape(n, -1)

    size = f"{image_shape[0]}x{image_shape[1]}"
    how = "" if pool == 1 else f", average-pooled {pool}x{pool} to {size}"
    return scaled_dataset(
        name,
        pooled(x_train), y_train, pooled(x_test), y_test,
        class_names=FASHION_MNIST_CLASSES,
        feature_names=None,
        source=f"Fashion-MNIST (Xiao et al. 2017, MIT), IDX files{how}{note}; pixels / 255",
        image_shape=image_shape,
        divisor=255.0,
    )  # fmt: skip


def _load(request: DatasetRequest) -> Dataset:
    """Registry adapter: the size in the name chooses the pooling, ``:N`` the subset."""
    groups = request.match.groupdict()
    size = _SIZE_IN_NAME.fullmatch(request.name)
    pool = _POOL[size.group(1) if size is not None else None]
    digits = groups.get("subset")
    subset = None
    if digits is not None:
        # more digits than any dataset has images: out of range, said by the check
        subset = int(digits) if len(digits) <= 12 else 10**12
    return load_fashion_mnist(
        request.name, request.data_dir, pool=pool, subset=subset,
        seed=request.seed,
    )  # fmt: skip


register(
    "fashion-mnist",
    f"Fashion-MNIST 28x28, 60,000/10,000 (Debian package {FASHION_MNIST_DEBIAN_PACKAGE} "
    "or DATA/fashion-mnist)",
    _load,
)
register("fashion-mnist-14", "Fashion-MNIST average-pooled 2x2 to 14x14", _load)
register("fashion-mnist-7", "Fashion-MNIST average-pooled 4x4 to 7x7", _load)
register(
    "fashion-mnist[-14|-7]:N",
    "a stratified subset of N training images, seeded",
    _load,
    pattern=r"fashion-mnist(?:-14|-7)?:(?P<subset>[0-9]+)",
)
