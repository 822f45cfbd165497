"""``digits``: scikit-learn's 8x8 handwritten digits (1,797 images).

Seeded stratified split of 1,437 train / 360 test; pixels / 16 (the images' fixed
range, nothing fitted).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from phyff.datasets.base import Dataset, DatasetError, scaled_dataset, stratified_test_mask
from phyff.datasets.registry import register

__all__ = ["load_digits"]


def load_digits(seed: int) -> Dataset:
    """scikit-learn's digits, pixels / 16, seeded stratified 1,437/360 split.

    Why the direct file read: importing ``sklearn.datasets`` costs over a second; the
    same CSV that ``load_digits`` parses is read here, falling back to ``load_digits``
    if scikit-learn ever moves it.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise DatasetError(
            "digits comes with scikit-learn, which is not installed; "
            "install it with `pip install scikit-learn`"
        )
    csv_path = (
        Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if spec.origin is not None
        else None
    )
    if csv_path is not None and csv_path.is_file():
        table = np.loadtxt(csv_path, delimiter=",")
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # pragma: no cover - depends on the installed scikit-learn layout
        from sklearn.datasets import load_digits as sklearn_digits

        bunch = sklearn_digits()
        x, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, np.int64)
    test = stratified_test_mask(y, 360, np.random.default_rng(seed))
    return scaled_dataset(
        "digits",
        x[~test], y[~test], x[test], y[test],
        class_names=tuple(str(d) for d in range(10)),
        feature_names=None,
        source=f"scikit-learn load_digits (UCI optical digits, 8x8); stratified 1,437/360 split "
        f"(seed {seed}); pixels / 16",
        image_shape=(8, 8),
        divisor=16.0,
    )  # fmt: skip


register(
    "digits",
    "scikit-learn 8x8 digits, 1,437/360 stratified split, seeded",
    lambda r: load_digits(r.seed),
)
