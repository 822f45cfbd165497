"""Datasets for phyff: one loader, one normalisation convention, one fingerprint.

Why this module exists: a physical network is only comparable to the paper (and to
itself across runs) when everyone trains on exactly the same tokens, split and
scaling. So every dataset comes out of :func:`load_dataset` in one shape
(:class:`Dataset`: float64 features, int64 labels, a fixed train/test split) and
carries a :meth:`Dataset.fingerprint` that a saved model records.

Names understood by :func:`load_dataset` (see :func:`available_datasets`):

``vowels7``
    The 7-vowel subset of Hillenbrand et al. (1995) used by physics-aware training
    (Wright et al., Nature 2022) and PhyLL (Momeni et al., Science 2023): 259 tokens
    from the 48 women, vowels ae, ah, aw, uw, er, iy, ih (labels 0..6), 12 formant
    features, and the train/test split published with physics-aware training
    (the ``split`` column of ``vowels7/vowels7_pat_split.csv``). That split is
    random by token, so test talkers also appear in training.
``vowels7:speaker``
    The same tokens split by talker (about 20 % of the 48 talkers held out,
    chosen by ``seed``), so the test measures generalisation to a new voice.
``hillenbrand12``
    All 12 vowels of all 139 talkers (men, women, boys, girls) from
    ``hillenbrand1995/vowdata.dat``, same 12 features, split by talker (about 20 %
    of the talkers of each speaker class held out, chosen by ``seed``). Tokens with
    any of the 12 formants recorded as 0 ("not measurable") are dropped: 71 of the
    file's 1,668 tokens, leaving 1,597. Labels 0..6 are the vowels7 vowels in the
    same order, so a token has the same label in both datasets.
``digits``
    scikit-learn's 8x8 handwritten digits (1,797 images), seeded stratified split
    of 1,437 train / 360 test.
``fashion-mnist``, ``fashion-mnist-14``, ``fashion-mnist-7``
    Fashion-MNIST 28x28, or average-pooled 2x2 (14x14) / 4x4 (7x7) for small
    physical media. A ``:N`` suffix keeps a seeded stratified subset of N training
    images (``fashion-mnist-14:6000``) for quick runs; the test set stays whole.
``csv:PATH[#label=COL]``, ``npz:PATH``, ``idx:IMAGES_PATH,LABELS_PATH``
    The user's own data (see :func:`load_dataset`).

Where files are looked for: the ``data_dir`` argument, else the ``PHYFF_DATA_DIR``
environment variable (the CLI's ``--data PATH`` sets the former). Fashion-MNIST is
also found in Debian's system location (package ``dataset-fashion-mnist``).

Normalisation (why: the paper feeds features in [0, 1] to the medium, and fitting
any statistic on test data would leak it into training):

* tabular features (vowels, CSV, NPZ/IDX of non-``uint8`` data): each feature is
  divided by its maximum absolute value over the *training split only*; training
  values then lie in [-1, 1] ([0, 1] for the positive formant frequencies) and test
  values may exceed 1 slightly. A feature that is 0 on every training row is left
  unscaled (divided by 1).
* images: fixed scaling, nothing fitted: ``uint8`` pixels / 255, digits / 16.

The returned arrays are new, C-contiguous and read-only: the fingerprint names the
data a model was trained on, so nothing downstream may change it in place (copy
first, e.g. ``ds.x_train.copy()``, before overlaying labels).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DATA_DIR_ENV",
    "FASHION_MNIST_SYSTEM_DIR",
    "Dataset",
    "DatasetError",
    "available_datasets",
    "load_dataset",
    "read_idx",
]

DATA_DIR_ENV: Final = "PHYFF_DATA_DIR"
"""Environment variable naming the folder that holds the data files."""

FASHION_MNIST_SYSTEM_DIR: Final = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's package ``dataset-fashion-mnist`` installs the IDX files (a documented
system default, searched after the data folder)."""

FASHION_MNIST_DEBIAN_PACKAGE: Final = "dataset-fashion-mnist"

VOWELS7_FILE: Final = "vowels7/vowels7_pat_split.csv"
HILLENBRAND_FILE: Final = "hillenbrand1995/vowdata.dat"

VOWELS7_CLASSES: Final = ("ae", "ah", "aw", "uw", "er", "iy", "ih")
# The vowels7 vowels first, in their order, so labels 0..6 mean the same in both sets.
HILLENBRAND12_CLASSES: Final = (*VOWELS7_CLASSES, "eh", "ei", "oa", "oo", "uh")
FORMANT_FEATURES: Final = (
    "F1_ss", "F2_ss", "F3_ss",
    "F1_20", "F2_20", "F3_20",
    "F1_50", "F2_50", "F3_50",
    "F1_80", "F2_80", "F3_80",
)  # fmt: skip
# 0-based columns of vowdata.dat holding FORMANT_FEATURES (F4 at column 6 is skipped).
_HILLENBRAND_COLUMNS: Final = (3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)
_HILLENBRAND_HEADER_LINES: Final = 30
_HILLENBRAND_NAME = re.compile(r"^([mwbg])(\d{2})([a-z]{2})$")

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

TEST_FRACTION: Final = 0.2
"""Share of samples (or talkers) held out when a dataset brings no split of its own."""

_VOWEL_ORIGIN: Final = (
    "The vowel data are Hillenbrand et al. (1995), 'Acoustic characteristics of American "
    "English vowels', JASA 97(5); the 7-vowel subset and its train/test split are the "
    "ones published with physics-aware training (Wright et al., Nature 2022)."
)

_Float = npt.NDArray[np.float64]
_Int = npt.NDArray[np.int64]


class DatasetError(ValueError):
    """A dataset could not be found, parsed or validated; the message says how to fix it."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled dataset with a fixed train/test split, ready for training.

    Construction copies anything that is not already a read-only float64 (features)
    or int64 (labels) C-contiguous array, so a caller's arrays are never shared or
    modified, and validates shapes, labels and finiteness (raising
    :class:`DatasetError`). ``eq=False``: two datasets are compared by
    :meth:`fingerprint`, not by ``==`` on arrays.
    """

    name: str
    x_train: _Float
    y_train: _Int
    x_test: _Float
    y_test: _Int
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...] | None
    source: str
    image_shape: tuple[int, int] | None

    def __post_init__(self) -> None:
        where = self.name or "dataset"
        for field, dtype in (
            ("x_train", np.float64),
            ("x_test", np.float64),
            ("y_train", np.int64),
            ("y_test", np.int64),
        ):
            value = getattr(self, field)
            arr = _frozen_array(value, dtype, f"{where}: {field}")
            object.__setattr__(self, field, arr)
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if self.feature_names is not None:
            object.__setattr__(self, "feature_names", tuple(str(f) for f in self.feature_names))
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) != 2:
                raise DatasetError(f"{where}: image_shape must be (height, width), got {shape}")
            object.__setattr__(self, "image_shape", shape)
        _validate(self)

    @property
    def n_classes(self) -> int:
        """Number of classes (labels run 0..n_classes-1)."""
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        """Number of features per sample (pixels for flattened images)."""
        return int(self.x_train.shape[1])

    def fingerprint(self) -> str:
        """SHA-256 (hex) over the name, the four arrays and the class names.

        Why: a saved model records this so that evaluating it later on different data
        (another split, another scaling, a changed file) is detected, not silently
        reported. Each array contributes its dtype, shape and raw bytes; every piece
        is length-prefixed so that no two different datasets hash the same stream.
        """
        digest = hashlib.sha256()

        def put(chunk: bytes | memoryview) -> None:
            digest.update(memoryview(chunk).nbytes.to_bytes(8, "little"))
            digest.update(chunk)

        put(b"phyff-dataset-v1")
        put(self.name.encode("utf-8"))
        for arr in (self.x_train, self.y_train, self.x_test, self.y_test):
            put(arr.dtype.str.encode("ascii"))
            put(repr(tuple(arr.shape)).encode("ascii"))
            put(memoryview(arr).cast("B"))
        put(str(len(self.class_names)).encode("ascii"))
        for class_name in self.class_names:
            put(class_name.encode("utf-8"))
        return digest.hexdigest()

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
            f"n_classes={self.n_classes}, image_shape={self.image_shape}, source={self.source!r})"
        )


def _frozen_array(value: object, dtype: type[np.generic], where: str) -> npt.NDArray[np.generic]:
    """Return a read-only C-contiguous array of ``dtype``; copy unless already one."""
    if (
        isinstance(value, np.ndarray)
        and value.dtype == dtype
        and value.flags.c_contiguous
        and not value.flags.writeable
    ):
        return value
    arr = np.asarray(value)
    if dtype is np.int64 and arr.dtype.kind not in "iu":
        if (
            arr.dtype.kind == "f"
            and arr.size
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            pass  # integral floats are accepted as labels
        elif arr.size:
            raise DatasetError(f"{where}: labels must be integers, got dtype {arr.dtype}")
    elif dtype is np.float64 and arr.dtype.kind not in "biuf":
        raise DatasetError(f"{where}: features must be numeric, got dtype {arr.dtype}")
    out = np.array(arr, dtype=dtype, order="C", copy=True)
    out.setflags(write=False)
    return out


def _validate(ds: Dataset) -> None:
    """Check the invariants every consumer relies on; raise DatasetError otherwise."""
    where = ds.name or "dataset"
    for split in ("train", "test"):
        x: _Float = getattr(ds, f"x_{split}")
        y: _Int = getattr(ds, f"y_{split}")
        if x.ndim != 2:
            raise DatasetError(f"{where}: x_{split} must be 2-D (samples, features), got {x.shape}")
        if y.ndim != 1:
            raise DatasetError(f"{where}: y_{split} must be 1-D, got shape {y.shape}")
        if x.shape[0] != y.shape[0]:
            raise DatasetError(
                f"{where}: mismatched lengths: x_{split} has {x.shape[0]} rows, "
                f"y_{split} has {y.shape[0]} labels"
            )
        if x.shape[0] == 0:
            raise DatasetError(f"{where}: the {split} split is empty")
        _check_finite(x, f"{where}: x_{split}", ds.feature_names)
    if ds.x_train.shape[1] != ds.x_test.shape[1]:
        raise DatasetError(
            f"{where}: train has {ds.x_train.shape[1]} features, test has {ds.x_test.shape[1]}"
        )
    if ds.x_train.shape[1] == 0:
        raise DatasetError(f"{where}: no features")
    if ds.n_classes < 2:
        raise DatasetError(f"{where}: need at least 2 classes, got {ds.n_classes}")
    for split, y in (("train", ds.y_train), ("test", ds.y_test)):
        bad = np.flatnonzero((y < 0) | (y >= ds.n_classes))
        if bad.size:
            raise DatasetError(
                f"{where}: labels out of range 0..{ds.n_classes - 1} in y_{split}: "
                f"{_list_some([f'row {i}: {y[i]}' for i in bad])}"
            )
    counts = np.bincount(ds.y_train, minlength=ds.n_classes)
    missing = [f"{c} ({ds.class_names[c]!r})" for c in np.flatnonzero(counts == 0)]
    if missing:
        raise DatasetError(
            f"{where}: class {', '.join(missing)} has no sample in the training split; "
            "a model cannot learn a class it never sees"
        )
    if ds.feature_names is not None and len(ds.feature_names) != ds.n_features:
        raise DatasetError(
            f"{where}: {len(ds.feature_names)} feature names for {ds.n_features} features"
        )
    if ds.image_shape is not None and math.prod(ds.image_shape) != ds.n_features:
        raise DatasetError(
            f"{where}: image_shape {ds.image_shape} does not match {ds.n_features} features"
        )


def _list_some(items: Sequence[str], limit: int = 5) -> str:
    """Join the first few items of a long list of problems, saying how many there are."""
    shown = "; ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}; ... ({len(items)} in all)"


def _check_finite(
    x: npt.NDArray[np.floating],
    where: str,
    feature_names: Sequence[str] | None = None,
    row_name: Callable[[int], str] | None = None,
) -> None:
    """Raise DatasetError naming the rows and columns that hold NaN or infinity."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    rows, cols = np.nonzero(bad.reshape(x.shape[0], -1))
    cells = []
    for r, c in zip(rows[:5].tolist(), cols[:5].tolist(), strict=True):
        col = repr(feature_names[c]) if feature_names is not None else str(c)
        label = row_name(r) if row_name is not None else f"row {r}"
        cells.append(f"{label} column {col} = {x.reshape(x.shape[0], -1)[r, c]}")
    raise DatasetError(
        f"{where}: {rows.size} non-finite feature value(s) (NaN, inf or empty) in "
        f"{np.unique(rows).size} row(s): {_list_some(cells)}"
        + ("" if rows.size <= 5 else f" ... ({rows.size} cells in all)")
    )


# --------------------------------------------------------------------------- names


_FASHION_NAME = re.compile(r"^fashion-mnist(?:-(14|7))?(?::(\d+))?$")


def available_datasets() -> list[tuple[str, str]]:
    """(name, one-line description) of every dataset name, for the CLI's help."""
    return [
        (
            "vowels7",
            "Hillenbrand 1995, 7 vowels of 48 women, 259 tokens, 12 formants, "
            "physics-aware-training split (210/49)",
        ),
        (
            "vowels7:speaker",
            "the vowels7 tokens split by talker (~20 % of talkers held out, seeded)",
        ),
        (
            "hillenbrand12",
            "Hillenbrand 1995, all 12 vowels of 139 talkers (1,597 measurable "
            "tokens), split by talker, seeded",
        ),
        ("digits", "scikit-learn 8x8 digits, 1,437/360 stratified split, seeded"),
        (
            "fashion-mnist",
            "Fashion-MNIST 28x28, 60,000/10,000 (Debian package "
            f"{FASHION_MNIST_DEBIAN_PACKAGE} or DATA/fashion-mnist)",
        ),
        ("fashion-mnist-14", "Fashion-MNIST average-pooled 2x2 to 14x14"),
        ("fashion-mnist-7", "Fashion-MNIST average-pooled 4x4 to 7x7"),
        ("fashion-mnist[-14|-7]:N", "a stratified subset of N training images, seeded"),
        (
            "csv:PATH[#label=COL]",
            "your CSV: label column 'label' (or COL), numeric columns "
            "are features, optional 'split' column train/test",
        ),
        ("npz:PATH", "your NPZ: x_train, y_train, x_test, y_test (or x, y to be split)"),
        ("idx:IMAGES,LABELS", "your IDX image and label files (split 80/20, seeded)"),
    ]


def load_dataset(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, seed: int = 0
) -> Dataset:
    """Load the dataset called ``name`` (see :func:`available_datasets`).

    ``data_dir`` is the folder holding the data files (the CLI's ``--data``); when
    None, the ``PHYFF_DATA_DIR`` environment variable is used. ``seed`` chooses the
    split wherever the data bring none of their own (speaker splits, digits, user
    files without a split) and Fashion-MNIST subsets; the same seed always gives the
    same split. ``vowels7`` ignores it (its split is fixed by the file).

    User files (relative paths are relative to the working directory):

    * ``csv:PATH`` -- header row required; the label column is ``label`` unless
      ``csv:PATH#label=COL``; integer labels are used as they are (0..C-1), text
      labels become classes in sorted order. Every other column holding numbers is a
      feature; pure text columns (ids, file names) are ignored. A ``split`` column
      with values ``train``/``test`` is honoured, otherwise 20 % of each class is
      held out (seeded).
    * ``npz:PATH`` -- arrays ``x_train, y_train, x_test, y_test`` or ``x, y`` (split
      as for CSV); optional ``class_names`` and ``feature_names``. 3-D ``x`` arrays
      are images (samples, height, width) and are flattened.
    * ``idx:IMAGES_PATH,LABELS_PATH`` -- IDX files (optionally gzipped), split as
      for CSV.

    ``uint8`` user data are treated as pixels (/255); anything else is scaled by its
    training maxima (see the module docstring).

    Raises:
        DatasetError: unknown name, missing or malformed file, or data that fail
            validation; the message says what and where.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise DatasetError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    name = name.strip()
    if name == "vowels7":
        return _load_vowels7(data_dir, speaker_split=False, seed=seed)
    if name == "vowels7:speaker":
        return _load_vowels7(data_dir, speaker_split=True, seed=seed)
    if name == "hillenbrand12":
        return _load_hillenbrand12(data_dir, seed=seed)
    if name == "digits":
        return _load_digits(seed)
    fashion = _FASHION_NAME.match(name)
    if fashion is not None:
        pool = {None: 1, "14": 2, "7": 4}[fashion.group(1)]
        subset = int(fashion.group(2)) if fashion.group(2) is not None else None
        return _load_fashion_mnist(name, data_dir, pool=pool, subset=subset, seed=seed)
    if name.startswith("csv:"):
        return _load_csv(name, seed)
    if name.startswith("npz:"):
        return _load_npz(name, seed)
    if name.startswith("idx:"):
        return _load_idx_pair(name, seed)
    known = ", ".join(n for n, _ in available_datasets())
    raise DatasetError(f"unknown dataset {name!r}; known names: {known}")


# --------------------------------------------------------------------------- helpers


def _resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path | None, str]:
    """The data folder and a phrase saying where it came from (for error messages)."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument (--data)"
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser(), f"the {DATA_DIR_ENV} environment variable"
    return None, ""


def _data_file(data_dir: str | os.PathLike[str] | None, relative: str, dataset: str) -> Path:
    """Locate ``relative`` under the data folder or raise a DatasetError that says how."""
    base, origin = _resolve_data_dir(data_dir)
    how = (
        f"Point phyff at the data folder that contains {relative} with `--data PATH` or the "
        f"{DATA_DIR_ENV} environment variable. "
    )
    if base is None:
        raise DatasetError(
            f"{dataset} needs the file {relative}, but no data folder was given "
            f"(no --data PATH / data_dir argument, {DATA_DIR_ENV} is unset). {how}" + _VOWEL_ORIGIN
        )
    path = base / relative
    if not path.is_file():
        raise DatasetError(
            f"{dataset} needs the file {relative}; looked for it at {path} (data folder from "
            f"{origin}) and it is not there. {how}" + _VOWEL_ORIGIN
        )
    return path


def _maxabs(x_train: _Float) -> _Float:
    """Per-feature maximum |value| over the training rows; 1 where that is 0."""
    scale = np.max(np.abs(x_train), axis=0)
    return np.where(scale > 0, scale, 1.0)


def _allocate(counts: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.int64]:
    """Split ``total`` over groups in proportion to ``counts`` (largest remainder).

    Why: per-class rounding alone does not hit an exact total (e.g. 360 digits), and
    ties are broken by group index so the result is deterministic.
    """
    exact = counts.astype(np.float64) * total / max(int(counts.sum()), 1)
    quota = np.floor(exact).astype(np.int64)
    remainder = exact - quota
    order = np.lexsort((np.arange(counts.size), -remainder))
    quota[order[: total - int(quota.sum())]] += 1
    return quota


def _stratified_test_mask(y: _Int, n_test: int, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """Choose ``n_test`` samples, proportionally per class, keeping >= 1 per class in train."""
    counts = np.bincount(y)
    quota = np.minimum(_allocate(counts, n_test), np.maximum(counts - 1, 0))
    mask = np.zeros(y.size, dtype=bool)
    for c in range(counts.size):
        members = np.flatnonzero(y == c)
        mask[rng.permutation(members)[: quota[c]]] = True
    return mask


def _stratified_subset(y: _Int, n: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Sorted indices of ``n`` samples drawn proportionally per class, >= 1 per class.

    Why sorted: the subset keeps the file's order, so only membership depends on
    ``rng``. A class that proportional allocation would leave empty gets one sample,
    taken from the largest quota, so every class stays learnable.
    """
    counts = np.bincount(y)
    quota = _allocate(counts, n)
    for c in np.flatnonzero((quota == 0) & (counts > 0)):
        quota[int(np.argmax(quota))] -= 1
        quota[c] = 1
    chosen = [rng.permutation(np.flatnonzero(y == c))[: quota[c]] for c in range(counts.size)]
    return np.sort(np.concatenate(chosen))


def _group_test_mask(
    groups: Sequence[str], strata: Sequence[str], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """Hold out about TEST_FRACTION of the groups (talkers) of each stratum.

    Why groups: tokens of one talker are strongly correlated, so a fair test set has
    no talker that training saw. Why strata: men, women and children differ in
    formant scale, and each kind must be present on both sides. Groups and strata
    are visited in sorted order so the choice depends only on ``rng``'s seed.
    """
    stratum_of: dict[str, str] = {}
    for g, s in zip(groups, strata, strict=True):
        if stratum_of.setdefault(g, s) != s:
            raise DatasetError(f"talker {g!r} appears in two speaker classes")
    test_groups: set[str] = set()
    for stratum in sorted(set(stratum_of.values())):
        members = sorted(g for g, s in stratum_of.items() if s == stratum)
        n_test = min(max(round(TEST_FRACTION * len(members)), 1), len(members) - 1)
        test_groups.update(members[i] for i in rng.permutation(len(members))[:n_test])
    return np.array([g in test_groups for g in groups], dtype=bool)


# --------------------------------------------------------------------------- vowels


def _load_vowels7(
    data_dir: str | os.PathLike[str] | None, *, speaker_split: bool, seed: int
) -> Dataset:
    """vowels7 (file split) or vowels7:speaker (talker split) from the published CSV."""
    name = "vowels7:speaker" if speaker_split else "vowels7"
    path = _data_file(data_dir, VOWELS7_FILE, name)
    hz_columns = [f"{f}_hz" for f in FORMANT_FEATURES]
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [
            c
            for c in ["split", "label", "vowel", "hillenbrand_file", *hz_columns]
            if c not in (reader.fieldnames or [])
        ]
        if missing:
            raise DatasetError(f"{path.name}: missing column(s) {missing}; not the expected file")
        rows = list(reader)
    try:
        x = np.array([[float(r[c]) for c in hz_columns] for r in rows], dtype=np.float64)
        y = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    except ValueError as exc:
        raise DatasetError(f"{path.name}: unreadable number: {exc}") from exc
    _check_finite(x, path.name, hz_columns, lambda i: f"line {i + 2}")
    for i, r in enumerate(rows):
        if not 0 <= y[i] < len(VOWELS7_CLASSES) or VOWELS7_CLASSES[y[i]] != r["vowel"]:
            raise DatasetError(
                f"{path.name} line {i + 2}: label {r['label']} does not match vowel "
                f"{r['vowel']!r} (expected labels {dict(enumerate(VOWELS7_CLASSES))})"
            )
    files = [r["hillenbrand_file"] for r in rows]
    if speaker_split:
        talkers = [f[:3] for f in files]
        test = _group_test_mask(talkers, ["w"] * len(talkers), np.random.default_rng(seed))
        n_talkers = len(set(talkers))
        n_test_talkers = len({t for t, m in zip(talkers, test, strict=True) if m})
        split = f"split by talker: {n_test_talkers} of {n_talkers} talkers held out (seed {seed})"
    else:
        values = [r["split"].strip() for r in rows]
        bad = [f"line {i + 2}: {v!r}" for i, v in enumerate(values) if v not in ("train", "test")]
        if bad:
            raise DatasetError(f"{path.name}: split must be train or test: {_list_some(bad)}")
        test = np.array([v == "test" for v in values])
        split = "train/test split published with physics-aware training (by token)"
    return _scaled_dataset(
        name,
        x[~test], y[~test], x[test], y[test],
        class_names=VOWELS7_CLASSES,
        feature_names=FORMANT_FEATURES,
        source=(
            "Hillenbrand et al. 1995, 7-vowel subset of 48 women as published with "
            f"physics-aware training (Wright et al. 2022); {split}; formants in Hz "
            "divided by their training maxima"
        ),
    )  # fmt: skip


def _load_hillenbrand12(data_dir: str | os.PathLike[str] | None, *, seed: int) -> Dataset:
    """All 12 vowels of all talkers, measurable tokens only, split by talker."""
    path = _data_file(data_dir, HILLENBRAND_FILE, "hillenbrand12")
    lines = path.read_text(encoding="latin-1").splitlines()
    legend = lines[_HILLENBRAND_HEADER_LINES - 1].split() if len(lines) >= 30 else []
    if legend != [str(i) for i in range(1, 17)]:
        raise DatasetError(
            f"{path.name}: expected the column legend '1 2 ... 16' on line "
            f"{_HILLENBRAND_HEADER_LINES} (end of the header); not the expected file"
        )
    class_index = {v: i for i, v in enumerate(HILLENBRAND12_CLASSES)}
    features: list[list[float]] = []
    labels: list[int] = []
    talkers: list[str] = []
    kinds: list[str] = []
    n_tokens = 0
    first_data_line = _HILLENBRAND_HEADER_LINES + 1
    for line_no, line in enumerate(lines[_HILLENBRAND_HEADER_LINES:], first_data_line):
        fields = line.split()
        if not fields:
            continue
        match = _HILLENBRAND_NAME.match(fields[0])
        if match is None or len(fields) != 16 or match.group(3) not in class_index:
            raise DatasetError(f"{path.name} line {line_no}: unexpected entry {line.strip()!r}")
        try:
            values = [float(fields[c]) for c in _HILLENBRAND_COLUMNS]
        except ValueError as exc:
            raise DatasetError(f"{path.name} line {line_no}: {exc}") from exc
        n_tokens += 1
        if 0.0 in values:  # 0 = "not measurable" in this file
            continue
        features.append(values)
        labels.append(class_index[match.group(3)])
        kinds.append(match.group(1))
        talkers.append(match.group(1) + match.group(2))
    x = np.array(features, dtype=np.float64).reshape(-1, len(FORMANT_FEATURES))
    y = np.array(labels, dtype=np.int64)
    _check_finite(x, path.name, FORMANT_FEATURES)
    # Choose test talkers from every talker in the file, not only those with a
    # measurable token, so the split does not depend on the dropping rule.
    data_lines = lines[_HILLENBRAND_HEADER_LINES:]
    all_talkers = sorted({ln.split()[0][:3] for ln in data_lines if ln.split()})
    held = _group_test_mask(all_talkers, [t[0] for t in all_talkers], np.random.default_rng(seed))
    test_talkers = {t for t, m in zip(all_talkers, held, strict=True) if m}
    test = np.array([t in test_talkers for t in talkers], dtype=bool)
    dropped = n_tokens - len(labels)
    return _scaled_dataset(
        "hillenbrand12",
        x[~test], y[~test], x[test], y[test],
        class_names=HILLENBRAND12_CLASSES,
        feature_names=FORMANT_FEATURES,
        source=(
            f"Hillenbrand et al. 1995 (vowdata.dat), 12 vowels, {len(all_talkers)} talkers; "
            f"{dropped} of {n_tokens} tokens dropped for an unmeasurable formant (0); split "
            f"by talker, {len(test_talkers)} talkers held out, stratified by men/women/boys/"
            f"girls (seed {seed}); formants in Hz divided by their training maxima"
        ),
    )  # fmt: skip


def _scaled_dataset(
    name: str,
    x_train: _Float,
    y_train: _Int,
    x_test: _Float,
    y_test: _Int,
    *,
    class_names: Sequence[str],
    feature_names: Sequence[str] | None,
    source: str,
    image_shape: tuple[int, int] | None = None,
    divisor: float | None = None,
) -> Dataset:
    """Normalise (fixed ``divisor``, or max-abs fitted on train) and build the Dataset."""
    if x_train.shape[0] == 0:
        raise DatasetError(f"{name}: the train split is empty")
    scale: float | _Float = divisor if divisor is not None else _maxabs(x_train)
    return Dataset(
        name=name,
        x_train=_readonly(np.ascontiguousarray(x_train / scale, dtype=np.float64)),
        y_train=_readonly(np.ascontiguousarray(y_train, dtype=np.int64)),
        x_test=_readonly(np.ascontiguousarray(x_test / scale, dtype=np.float64)),
        y_test=_readonly(np.ascontiguousarray(y_test, dtype=np.int64)),
        class_names=tuple(class_names),
        feature_names=None if feature_names is None else tuple(feature_names),
        source=source,
        image_shape=image_shape,
    )


def _readonly(arr: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """Own the data (copy if ``arr`` is a view of someone's array) and forbid writes."""
    if arr.base is not None or not arr.flags.owndata:
        arr = arr.copy(order="C")
    arr.setflags(write=False)
    return arr


# --------------------------------------------------------------------------- images


def _load_digits(seed: int) -> Dataset:
    """scikit-learn's digits, pixels / 16, seeded stratified 1,437/360 split.

    Why the direct file read: importing ``sklearn.datasets`` costs over a second; the
    same CSV that ``load_digits`` parses is read here, falling back to ``load_digits``
    if scikit-learn ever moves it.
    """
    spec = importlib.util.find_spec("sklearn")
    csv_path = (
        Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if spec is not None and spec.origin is not None
        else None
    )
    if csv_path is not None and csv_path.is_file():
        table = np.loadtxt(csv_path, delimiter=",")
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # pragma: no cover - depends on the installed scikit-learn layout
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, np.int64)
    test = _stratified_test_mask(y, 360, np.random.default_rng(seed))
    return _scaled_dataset(
        "digits",
        x[~test], y[~test], x[test], y[test],
        class_names=tuple(str(d) for d in range(10)),
        feature_names=None,
        source=f"scikit-learn load_digits (UCI optical digits, 8x8); stratified 1,437/360 split "
        f"(seed {seed}); pixels / 16",
        image_shape=(8, 8),
        divisor=16.0,
    )  # fmt: skip


_IDX_DTYPES: Final = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[np.generic]:
    """Read an IDX file (the MNIST format), gzipped or not, into a native-endian array.

    Layout: two zero bytes, a type code, the number of dimensions, one big-endian
    uint32 per dimension, then the values in C order (big-endian).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{path.name}: broken gzip data: {exc}") from exc
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"{path.name}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DatasetError(f"{path.name}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path.name}: IDX header says shape {shape} ({expected} bytes of data), "
            f"file holds {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def _find_fashion_dir(data_dir: str | os.PathLike[str] | None) -> dict[str, Path]:
    """The four Fashion-MNIST files from the first folder holding all of them."""
    base, origin = _resolve_data_dir(data_dir)
    candidates = [] if base is None else [(base / "fashion-mnist", f"data folder ({origin})")]
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


def _load_fashion_mnist(
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
    note = ""
    if subset is not None:
        n_classes = len(FASHION_MNIST_CLASSES)
        if not n_classes <= subset <= y_train.size:
            raise DatasetError(
                f"{name}: subset size must be between {n_classes} (one per class) and "
                f"{y_train.size} (the training set), got {subset}"
            )
        if y_train.min() < 0 or y_train.max() >= n_classes:
            raise DatasetError(f"{name}: labels out of range 0..{n_classes - 1} in training file")
        idx = _stratified_subset(y_train, subset, np.random.default_rng(seed))
        x_train, y_train = x_train[idx], y_train[idx]
        note = f"; stratified subset of {subset} training images (seed {seed})"
    h, w = x_train.shape[1:]
    image_shape = (h // pool, w // pool)

    def pooled(imgs: npt.NDArray[np.uint8]) -> _Float:
        n = imgs.shape[0]
        if pool == 1:
            return imgs.reshape(n, -1).astype(np.float64)
        blocks = imgs.reshape(n, image_shape[0], pool, image_shape[1], pool)
        return blocks.mean(axis=(2, 4), dtype=np.float64).reshape(n, -1)

    size = f"{image_shape[0]}x{image_shape[1]}"
    how = "" if pool == 1 else f", average-pooled {pool}x{pool} to {size}"
    return _scaled_dataset(
        name,
        pooled(x_train), y_train, pooled(x_test), y_test,
        class_names=FASHION_MNIST_CLASSES,
        feature_names=None,
        source=f"Fashion-MNIST (Xiao et al. 2017, MIT), IDX files{how}{note}; pixels / 255",
        image_shape=image_shape,
        divisor=255.0,
    )  # fmt: skip


# --------------------------------------------------------------------------- user files


def _user_path(text: str, spec: str) -> Path:
    """A user-given file path that must exist."""
    path = Path(text.strip()).expanduser()
    if not text.strip():
        raise DatasetError(f"{spec!r}: no file path given")
    if not path.is_file():
        raise DatasetError(f"{spec!r}: file not found: {path}")
    return path


def _encode_labels(
    parts: Sequence[tuple[str, npt.NDArray[np.generic]]],
    class_names: Sequence[str] | None,
    where: str,
) -> tuple[list[_Int], tuple[str, ...]]:
    """Turn label arrays into int64 0..C-1 plus class names, or say what is wrong.

    Text labels become classes in sorted order; numbers must be non-negative
    integers and are kept as they are (C = max + 1 unless class names are given).
    """
    if any(arr.dtype.kind in "USO" for _, arr in parts):
        names = (
            tuple(str(c) for c in class_names)
            if class_names is not None
            else tuple(sorted({str(v) for _, arr in parts for v in arr.tolist()}))
        )
        index = {n: i for i, n in enumerate(names)}
        out = []
        for part, arr in parts:
            unknown = sorted({str(v) for v in arr.tolist()} - index.keys())
            if unknown:
                raise DatasetError(f"{where}: {part} has labels not in class_names: {unknown[:5]}")
            out.append(np.array([index[str(v)] for v in arr.tolist()], dtype=np.int64))
        return out, names
    out = []
    top = -1
    for part, arr in parts:
        if arr.ndim != 1:
            raise DatasetError(f"{where}: {part} must be 1-D, got shape {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise DatasetError(f"{where}: {part} must hold integer labels, got {arr.dtype}")
        values = arr.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if bad.size:
            raise DatasetError(
                f"{where}: {part} has non-integer labels: "
                f"{_list_some([f'row {i}: {arr[i]}' for i in bad])}"
            )
        negative = np.flatnonzero(values < 0)
        if negative.size:
            raise DatasetError(
                f"{where}: {part} has labels out of range (negative): "
                f"{_list_some([f'row {i}: {arr[i]}' for i in negative])}"
            )
        ints = values.astype(np.int64)
        top = max(top, int(ints.max(initial=-1)))
        out.append(ints)
    if class_names is not None:
        names = tuple(str(c) for c in class_names)
        for (part, _), ints in zip(parts, out, strict=True):
            bad = np.flatnonzero(ints >= len(names))
            if bad.size:
                raise DatasetError(
                    f"{where}: {part} has labels out of range 0..{len(names) - 1} "
                    f"({len(names)} class names): "
                    f"{_list_some([f'row {i}: {ints[i]}' for i in bad])}"
                )
        return out, names
    return out, tuple(str(c) for c in range(top + 1))


def _split_and_scale(
    name: str,
    x: npt.NDArray[np.generic],
    y: _Int,
    test: npt.NDArray[np.bool_] | None,
    *,
    seed: int,
    class_names: tuple[str, ...],
    feature_names: Sequence[str] | None,
    image_shape: tuple[int, int] | None,
    source: str,
) -> Dataset:
    """Apply a given split (or a seeded stratified 80/20 one) and the normalisation rule."""
    note = "split given by the file"
    if test is None:
        test = _stratified_test_mask(y, round(TEST_FRACTION * y.size), np.random.default_rng(seed))
        held = round(100 * TEST_FRACTION)
        note = f"stratified {100 - held}/{held} split (seed {seed})"
    return _user_dataset(
        name, x[~test], y[~test], x[test], y[test],
        class_names=class_names, feature_names=feature_names, image_shape=image_shape,
        source=f"{source}; {note}",
    )  # fmt: skip


def _user_dataset(
    name: str,
    x_train: npt.NDArray[np.generic],
    y_train: _Int,
    x_test: npt.NDArray[np.generic],
    y_test: _Int,
    *,
    class_names: tuple[str, ...],
    feature_names: Sequence[str] | None,
    image_shape: tuple[int, int] | None,
    source: str,
) -> Dataset:
    """Scale user data: uint8 as pixels (/255), anything else by training maxima."""
    for part, x in (("train", x_train), ("test", x_test)):
        if x.shape[0] == 0:
            raise DatasetError(f"{name}: the {part} split is empty")
    pixels = x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    return _scaled_dataset(
        name,
        x_train.astype(np.float64), y_train, x_test.astype(np.float64), y_test,
        class_names=class_names, feature_names=feature_names, image_shape=image_shape,
        source=f"{source}; " + ("pixels / 255" if pixels else "features / training max |x|"),
        divisor=255.0 if pixels else None,
    )  # fmt: skip


def _parse_float(text: str) -> float | None:
    """A number, NaN for an empty cell, or None for text."""
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _load_csv(spec: str, seed: int) -> Dataset:
    """``csv:PATH[#label=COL]``: numeric columns are features, see load_dataset."""
    body = spec[len("csv:") :]
    label_col = "label"
    head, sep, tail = body.rpartition("#")
    if sep and tail.startswith("label="):
        body, label_col = head, tail[len("label=") :].strip()
    path = _user_path(body, spec)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DatasetError(
                    f"{path.name} line {reader.line_num}: {len(row)} fields, header has "
                    f"{len(header)}"
                )
            rows.append(row)
            lines.append(reader.line_num)
    if not header or not rows:
        raise DatasetError(f"{path.name}: no header row or no data rows")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise DatasetError(f"{path.name}: duplicate column name(s) {duplicates}")
    if label_col not in header:
        raise DatasetError(
            f"{path.name}: no label column {label_col!r}; columns are {header}. "
            f"Choose one with csv:PATH#label=COLUMN"
        )
    columns = {h: [row[i] for row in rows] for i, h in enumerate(header)}

    feature_names: list[str] = []
    feature_values: list[list[float]] = []
    ignored: list[str] = []
    for col in header:
        if col in (label_col, "split"):
            continue
        parsed = [_parse_float(v) for v in columns[col]]
        text = [i for i, v in enumerate(parsed) if v is None]
        if len(text) == len(parsed):
            ignored.append(col)  # a text column such as an id or a file name
            continue
        if text:
            raise DatasetError(
                f"{path.name}: column {col!r} mixes numbers and text: "
                + _list_some([f"line {lines[i]}: {columns[col][i]!r}" for i in text])
            )
        feature_names.append(col)
        feature_values.append([v for v in parsed if v is not None])
    if not feature_names:
        raise DatasetError(f"{path.name}: no numeric feature column besides {label_col!r}")
    x = np.array(feature_values, dtype=np.float64).T.copy()
    _check_finite(x, path.name, feature_names, lambda i: f"line {lines[i]}")

    raw_labels = [v.strip() for v in columns[label_col]]
    empty = [f"line {lines[i]}" for i, v in enumerate(raw_labels) if not v]
    if empty:
        raise DatasetError(f"{path.name}: empty label in column {label_col!r}: {_list_some(empty)}")
    numbers = [_parse_float(v) for v in raw_labels]
    label_array: npt.NDArray[np.generic] = (
        np.array(numbers, dtype=np.float64)
        if all(v is not None for v in numbers)
        else np.array(raw_labels, dtype=str)
    )
    (y,), class_names = _encode_labels([(f"column {label_col!r}", label_array)], None, path.name)

    test: npt.NDArray[np.bool_] | None = None
    if "split" in columns:
        values = [v.strip().lower() for v in columns["split"]]
        bad = [
            f"line {lines[i]}: {v!r}" for i, v in enumerate(values) if v not in ("train", "test")
        ]
        if bad:
            raise DatasetError(f"{path.name}: split must be train or test: {_list_some(bad)}")
        test = np.array([v == "test" for v in values])
    source = f"CSV file {path.name}, label column {label_col!r}"
    if ignored:
        source += f", text columns ignored: {', '.join(ignored)}"
    return _split_and_scale(
        spec, x, y, test, seed=seed, class_names=class_names,
        feature_names=feature_names, image_shape=None, source=source,
    )  # fmt: skip


def _as_features(
    arr: npt.NDArray[np.generic], what: str, where: str
) -> tuple[npt.NDArray[np.generic], tuple[int, int] | None]:
    """Flatten (N, h, w) images to (N, h*w); accept (N, F); reject the rest."""
    if arr.dtype.kind not in "biuf":
        raise DatasetError(f"{where}: {what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 3:
        return arr.reshape(arr.shape[0], -1), (int(arr.shape[1]), int(arr.shape[2]))
    if arr.ndim == 2:
        return arr, None
    raise DatasetError(
        f"{where}: {what} must be (samples, features) or (samples, h, w), got shape {arr.shape}"
    )


def _load_npz(spec: str, seed: int) -> Dataset:
    """``npz:PATH`` with x_train/y_train/x_test/y_test or x/y (see load_dataset)."""
    path = _user_path(spec[len("npz:") :], spec)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path.name}: cannot read as .npz (no pickled objects): {exc}") from exc
    split_keys = ("x_train", "y_train", "x_test", "y_test")
    names = arrays.get("class_names")
    class_names = None if names is None else [str(n) for n in names.tolist()]
    feats = arrays.get("feature_names")
    feature_names = None if feats is None else [str(f) for f in feats.tolist()]
    where = path.name
    if all(k in arrays for k in split_keys):
        x_tr, shape_tr = _as_features(arrays["x_train"], "x_train", where)
        x_te, shape_te = _as_features(arrays["x_test"], "x_test", where)
        if shape_tr != shape_te:
            raise DatasetError(f"{where}: x_train images {shape_tr} but x_test images {shape_te}")
        for part, x, y in (("train", x_tr, arrays["y_train"]), ("test", x_te, arrays["y_test"])):
            if y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise DatasetError(
                    f"{where}: mismatched lengths: x_{part} has {x.shape[0]} rows, "
                    f"y_{part} has shape {y.shape}"
                )
            _check_finite(x, f"{where}: x_{part}", feature_names)
        (y_tr, y_te), classes = _encode_labels(
            [("y_train", arrays["y_train"]), ("y_test", arrays["y_test"])], class_names, where
        )
        return _user_dataset(
            spec, x_tr, y_tr, x_te, y_te, class_names=classes, feature_names=feature_names,
            image_shape=shape_tr, source=f"NPZ file {path.name}; split given by the file",
        )  # fmt: skip
    if "x" in arrays and "y" in arrays:
        x, shape = _as_features(arrays["x"], "x", where)
        if arrays["y"].ndim != 1 or x.shape[0] != arrays["y"].shape[0]:
            raise DatasetError(
                f"{where}: mismatched lengths: x has {x.shape[0]} rows, "
                f"y has shape {arrays['y'].shape}"
            )
        _check_finite(x, f"{where}: x", feature_names)
        (y,), classes = _encode_labels([("y", arrays["y"])], class_names, where)
        return _split_and_scale(
            spec, x, y, None, seed=seed, class_names=classes, feature_names=feature_names,
            image_shape=shape, source=f"NPZ file {path.name}",
        )  # fmt: skip
    raise DatasetError(
        f"{where}: expected arrays x_train, y_train, x_test, y_test (or x, y); "
        f"found {sorted(arrays)}"
    )


def _load_idx_pair(spec: str, seed: int) -> Dataset:
    """``idx:IMAGES_PATH,LABELS_PATH``, split as for CSV."""
    images_text, sep, labels_text = spec[len("idx:") :].rpartition(",")
    if not sep:
        raise DatasetError(f"{spec!r}: expected idx:IMAGES_PATH,LABELS_PATH")
    images_path = _user_path(images_text, spec)
    labels_path = _user_path(labels_text, spec)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    x, shape = _as_features(images, images_path.name, images_path.name)
    if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
        raise DatasetError(
            f"{spec!r}: mismatched lengths: {x.shape[0]} samples in "
            f"{images_path.name}, labels of shape {labels.shape}"
        )
    _check_finite(x, images_path.name)
    (y,), classes = _encode_labels([(labels_path.name, labels)], None, spec)
    return _split_and_scale(
        spec, x, y, None, seed=seed, class_names=classes, feature_names=None,
        image_shape=shape, source=f"IDX files {images_path.name}, {labels_path.name}",
    )  # fmt: skip
