"""The Dataset record, its errors and warnings, and the helpers every source shares.

Why one module: every source (vowels, digits, Fashion-MNIST, the user's files) must
hand out data with the same invariants (float64 features, int64 labels 0..C-1, a
fixed train/test split, read-only arrays, a fingerprint), split the same way and
scale by the same rules. Putting those rules here keeps each source module down to
"read the file, say where the split comes from".

Scaling (why: the paper feeds features of a known range to the medium, and fitting
any statistic on test data would leak it into training):

* fixed divisors for data with a known range: ``uint8`` pixels / 255, digits / 16;
* :func:`maxabs_scale` for the curated tabular sets (vowels): each feature divided by
  its maximum ``|x|`` over the training split, so training values lie in [-1, 1];
* :func:`robust_scale` for the user's own tabular data, which may hold a typo, a unit
  error or a sentinel such as 1e308. Max-abs alone would divide a whole column by
  that one value and flatten every other row to about 0. The robust scaler is
  max-abs *with an outlier guard*: per feature, ``q`` is the 99th percentile of the
  non-zero ``|x|`` of the training split (non-zero: a sparse or indicator column is
  scaled by its values, not by its zeros), and the divisor is
  ``min(max |x|, OUTLIER_RATIO * q)``. On well-behaved columns (no value more than
  ``OUTLIER_RATIO`` = 10 times ``q``) this is exactly max-abs, so ordinary files scale
  as before; on a column with such outliers the bulk keeps at least a tenth of the
  range and the outliers saturate. Both splits are then clipped to [-1, 1] (a drive
  cannot exceed its range either), and a :class:`DatasetWarning` names constant
  columns (no information), outlier-dominated columns and test values far outside
  the training range, so nothing is flattened or clipped without a word.

Limits that keep hostile files from exhausting the machine: at most
:data:`MAX_CLASSES` classes (labels are remapped from the distinct values present,
so their size does not matter, only their count), and :func:`check_memory` refuses
arrays whose float64 working copies would not fit in physical memory.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt

DATA_DIR_ENV: Final = "PHYFF_DATA_DIR"
"""Environment variable naming the folder that holds the data files."""

TEST_FRACTION: Final = 0.2
"""Share of samples (or talkers) held out when a dataset brings no split of its own."""

MAX_CLASSES: Final = 1000
"""Most classes a dataset may have. Why a cap: every class costs a label slot on the
board and a row of the confusion matrix; a file with more distinct labels almost
always names the wrong column (an id, a measurement) as the label."""

OUTLIER_QUANTILE: Final = 0.99
"""Quantile of a column's non-zero |x| that :func:`robust_scale` treats as its bulk."""

OUTLIER_RATIO: Final = 10.0
"""A value more than this many times the bulk quantile is an outlier and saturates."""

WORKING_COPIES: Final = 4
"""Float64 copies of the data a load holds at its peak (raw, converted, train, test)."""

Float = npt.NDArray[np.float64]
_ArrayT = TypeVar("_ArrayT", bound=npt.NDArray[Any])
Int = npt.NDArray[np.int64]


class DatasetError(ValueError):
    """A dataset could not be found, parsed or validated; the message says how to fix it."""


class DatasetWarning(UserWarning):
    """The data loaded, but something in them deserves a look (constant or outlier columns).

    A separate category so that callers can turn these into errors
    (``warnings.simplefilter("error", DatasetWarning)``) or silence them on purpose.
    """


def shorten(text: str, limit: int = 120) -> str:
    """``repr(text)``, cut in the middle when long, so a message never echoes megabytes."""
    shown = repr(text)
    if len(shown) <= limit:
        return shown
    half = (limit - 5) // 2
    return f"{shown[:half]}[...]{shown[-half:]}"


def list_some(items: Sequence[str], limit: int = 5, total: int | None = None) -> str:
    """Join the first few items of a long list of problems, saying how many there are.

    ``total`` is the full count when the caller only formatted the first few items
    (so that a million problems never become a million strings).
    """
    count = len(items) if total is None else total
    shown = "; ".join(items[:limit])
    return shown if count <= limit else f"{shown}; ... ({count:,} in all)"


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
    x_train: Float
    y_train: Int
    x_test: Float
    y_test: Int
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...] | None
    source: str
    image_shape: tuple[int, int] | None
    input_scale: tuple[float, ...] | None = None
    """Per feature: the divisor that turned the raw values into these (None: unknown)."""
    input_clip: bool = False
    """The scaled values were clipped to [-1, 1] after the division."""
    input_range: float = 0.0
    """The known range of the scaled values (1 for fixed divisors such as pixels / 255;
    0 when only the training split says how far the values reach)."""

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
        if self.input_scale is not None:
            object.__setattr__(self, "input_scale",
                               tuple(float(v) for v in np.ravel(self.input_scale)))
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) != 2:
                raise DatasetError(f"{where}: image_shape must be (height, width), got {shape}")
            object.__setattr__(self, "image_shape", shape)
        validate(self)

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
            put(arr.data.cast("B"))
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


def validate(ds: Dataset) -> None:
    """Check the invariants every consumer relies on; raise DatasetError otherwise."""
    where = ds.name or "dataset"
    for split in ("train", "test"):
        x: Float = getattr(ds, f"x_{split}")
        y: Int = getattr(ds, f"y_{split}")
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
        check_finite(x, f"{where}: x_{split}", ds.feature_names)
    if ds.x_train.shape[1] != ds.x_test.shape[1]:
        raise DatasetError(
            f"{where}: train has {ds.x_train.shape[1]} features, test has {ds.x_test.shape[1]}"
        )
    if ds.x_train.shape[1] == 0:
        raise DatasetError(f"{where}: no features")
    if ds.n_classes < 2:
        raise DatasetError(f"{where}: need at least 2 classes, got {ds.n_classes}")
    if ds.n_classes > MAX_CLASSES:
        raise DatasetError(
            f"{where}: {ds.n_classes:,} classes; phyff handles at most {MAX_CLASSES:,} "
            "(MAX_CLASSES)"
        )
    for split, y in (("train", ds.y_train), ("test", ds.y_test)):
        bad = np.flatnonzero((y < 0) | (y >= ds.n_classes))
        if bad.size:
            raise DatasetError(
                f"{where}: labels out of range 0..{ds.n_classes - 1} in y_{split}: "
                f"{list_some([f'row {i}: {y[i]}' for i in bad[:5]], total=bad.size)}"
            )
    counts = np.bincount(ds.y_train, minlength=ds.n_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        missing = [f"{c} ({ds.class_names[c]!r})" for c in empty[:5]]
        raise DatasetError(
            f"{where}: class {list_some(missing, total=empty.size)} "
            "has no sample in the training split; a model cannot learn a class it never sees"
        )
    if ds.feature_names is not None and len(ds.feature_names) != ds.n_features:
        raise DatasetError(
            f"{where}: {len(ds.feature_names)} feature names for {ds.n_features} features"
        )
    if ds.input_scale is not None and len(ds.input_scale) != ds.n_features:
        raise DatasetError(
            f"{where}: {len(ds.input_scale)} feature scales for {ds.n_features} features"
        )
    if ds.image_shape is not None and math.prod(ds.image_shape) != ds.n_features:
        raise DatasetError(
            f"{where}: image_shape {ds.image_shape} does not match {ds.n_features} features"
        )


def check_finite(
    x: npt.NDArray[Any],
    where: str,
    feature_names: Sequence[str] | None = None,
    row_name: Callable[[int], str] | None = None,
) -> None:
    """Raise DatasetError naming the rows and columns that hold NaN or infinity.

    ``x`` may be of any numeric dtype (integers are always finite).
    """
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    flat = x.reshape(x.shape[0], -1)
    rows, cols = np.nonzero(bad.reshape(x.shape[0], -1))
    cells = []
    for r, c in zip(rows[:5].tolist(), cols[:5].tolist(), strict=True):
        col = repr(feature_names[c]) if feature_names is not None else str(c)
        label = row_name(r) if row_name is not None else f"row {r}"
        cells.append(f"{label} column {col} = {flat[r, c]}")
    raise DatasetError(
        f"{where}: {rows.size:,} non-finite feature value(s) (NaN, inf or empty) in "
        f"{np.unique(rows).size:,} row(s): {'; '.join(cells)}"
        + ("" if rows.size <= 5 else f" ... ({rows.size:,} cells in all)")
    )


# --------------------------------------------------------------------------- memory


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def check_memory(n_values: int, where: str) -> None:
    """Refuse data whose float64 working copies would not fit in physical memory.

    Why before reading: a header can claim any shape, and numpy allocates the whole
    array up front; on Linux a large-but-possible allocation succeeds and the
    kernel's out-of-memory killer later takes the process (or another one) down.
    """
    need = n_values * 8 * WORKING_COPIES
    have = physical_memory()
    if have is not None and need > have:
        raise DatasetError(
            f"{where}: {n_values:,} values need about {_bytes(need)} while loading "
            f"(float64, {WORKING_COPIES} working copies); this machine has {_bytes(have)} of "
            "memory. Use a subset of the data, or a machine with more memory."
        )


def _bytes(n: int) -> str:
    """A byte count for people (1.5 GB)."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- data folder


def default_data_dir() -> Path:
    """The data folder used when neither ``--data`` nor ``PHYFF_DATA_DIR`` names one:
    the user's data directory of the platform (``$XDG_DATA_HOME/phyff``, by default
    ``~/.local/share/phyff`` on Linux; ``~/Library/Application Support/phyff`` on macOS;
    ``%LOCALAPPDATA%\\phyff`` on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", "").strip() or
                    Path.home() / ".local" / "share")
    return base / "phyff"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The data folder and a phrase saying where it came from (for error messages):
    ``data_dir`` (the CLI's ``--data``), else ``PHYFF_DATA_DIR``, else
    :func:`default_data_dir`."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument (--data)"
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser(), f"the {DATA_DIR_ENV} environment variable"
    return default_data_dir(), "the default, as neither --data nor PHYFF_DATA_DIR is set"


def data_file(
    data_dir: str | os.PathLike[str] | None, relative: str, dataset: str, origin_note: str = ""
) -> Path:
    """Locate ``relative`` under the data folder or raise a DatasetError that says how.

    ``origin_note`` is appended to the error: where the data come from, so a user
    without them knows what to look for.
    """
    base, origin = resolve_data_dir(data_dir)
    path = base / relative
    if not path.is_file():
        raise DatasetError(
            f"{dataset} needs the file {relative}; looked for it at {path} (data folder from "
            f"{origin}) and it is not there. Put the file there under that name (the vowel "
            f"data's folders are vowels7/ and hillenbrand1995/, as the data's README names "
            f"them), or point phyff at the folder that holds {relative} with `--data PATH` "
            f"or the {DATA_DIR_ENV} environment variable. " + origin_note
        )
    return path


# --------------------------------------------------------------------------- splits


def allocate(counts: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.int64]:
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


def stratified_test_mask(y: Int, n_test: int, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """Choose ``n_test`` samples, proportionally per class, keeping >= 1 per class in train."""
    counts = np.bincount(y)
    quota = np.minimum(allocate(counts, n_test), np.maximum(counts - 1, 0))
    mask = np.zeros(y.size, dtype=bool)
    order = np.argsort(y, kind="stable")  # members of each class, in file order
    starts = np.concatenate([[0], np.cumsum(counts)])
    for c in range(counts.size):
        members = order[starts[c] : starts[c + 1]]
        mask[rng.permutation(members)[: quota[c]]] = True
    return mask


def stratified_subset(y: Int, n: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Sorted indices of ``n`` samples drawn proportionally per class, >= 1 per class.

    Why sorted: the subset keeps the file's order, so only membership depends on
    ``rng``. A class that proportional allocation would leave empty gets one sample,
    taken from the largest quota, so every class stays learnable.
    """
    counts = np.bincount(y)
    quota = allocate(counts, n)
    for c in np.flatnonzero((quota == 0) & (counts > 0)):
        quota[int(np.argmax(quota))] -= 1
        quota[c] = 1
    chosen = [rng.permutation(np.flatnonzero(y == c))[: quota[c]] for c in range(counts.size)]
    return np.sort(np.concatenate(chosen))


def group_test_mask(
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


# --------------------------------------------------------------------------- labels


def encode_labels(
    parts: Sequence[tuple[str, npt.NDArray[np.generic]]],
    class_names: Sequence[str] | None,
    where: str,
    hint: str = "",
) -> tuple[list[Int], tuple[str, ...]]:
    """Turn label arrays into int64 0..C-1 plus class names, or say what is wrong.

    Without ``class_names``, labels are remapped from the distinct values present
    (over all ``parts``), in sorted order: text sorts as text, numbers (which must be
    integers) numerically and are named by their value, so labels 0..C-1 keep their
    meaning and labels such as 3 and 10**12 become classes 0 and 1. Why remap: the
    class count must depend on how many labels there are, never on how large they
    are. With ``class_names``, numbers are indices into them and text must be one of
    them. ``hint`` is added to the too-many-classes error (e.g. how to pick another
    label column).
    """
    for part, arr in parts:
        if arr.ndim != 1:
            raise DatasetError(f"{where}: {part} must be 1-D, got shape {arr.shape}")
    if any(arr.dtype.kind in "USO" for _, arr in parts):
        texts = [np.asarray([str(v) for v in arr.tolist()], dtype=str) for _, arr in parts]
        if class_names is not None:
            names = tuple(str(c) for c in class_names)
            known = np.asarray(names, dtype=str)
            for (part, _), text in zip(parts, texts, strict=True):
                unknown = np.setdiff1d(text, known)
                if unknown.size:
                    raise DatasetError(
                        f"{where}: {part} has labels not in class_names: "
                        + list_some([shorten(str(u), 40) for u in unknown[:5]], total=unknown.size)
                    )
        else:
            distinct = np.unique(np.concatenate(texts)) if texts else np.array([], dtype=str)
            _check_class_count(distinct.size, [shorten(str(v), 40) for v in distinct[:5]],
                               where, hint)  # fmt: skip
            names = tuple(str(v) for v in distinct.tolist())
        order = np.argsort(np.asarray(names, dtype=str), kind="stable")
        sorted_names = np.asarray(names, dtype=str)[order]
        out = [
            order[np.searchsorted(sorted_names, text)].astype(np.int64, copy=False)
            for text in texts
        ]
        return out, names
    values: list[npt.NDArray[Any]] = []
    for part, arr in parts:
        if arr.dtype.kind not in "biuf":
            raise DatasetError(f"{where}: {part} must hold integer labels, got {arr.dtype}")
        as_float = arr.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(as_float) | (as_float != np.round(as_float)))
        if bad.size:
            raise DatasetError(
                f"{where}: {part} has non-integer labels: "
                + list_some([f"row {i}: {arr[i]}" for i in bad[:5]], total=bad.size)
            )
        # integers stay exact (uint64 too: converting it to int64 would wrap around)
        values.append(arr.astype(np.int64) if arr.dtype.kind in "bi" else
                      arr if arr.dtype.kind == "u" else as_float)  # fmt: skip
    if class_names is not None:
        names = tuple(str(c) for c in class_names)
        out = []
        for (part, _), v in zip(parts, values, strict=True):
            bad = np.flatnonzero((v < 0) | (v >= len(names)))
            if bad.size:
                raise DatasetError(
                    f"{where}: {part} has labels out of range 0..{len(names) - 1} "
                    f"({len(names)} class names): "
                    + list_some([f"row {i}: {v[i]:g}" for i in bad[:5]], total=bad.size)
                )
            out.append(v.astype(np.int64))
        return out, names
    distinct = np.unique(np.concatenate(values)) if values else np.array([], dtype=np.int64)
    _check_class_count(distinct.size, [f"{v:.0f}" for v in distinct[:5].tolist()], where, hint)
    out = [np.searchsorted(distinct, v).astype(np.int64) for v in values]
    return out, tuple(f"{v:.0f}" for v in distinct.tolist())


def _check_class_count(count: int, first: list[str], where: str, hint: str) -> None:
    """Refuse more than MAX_CLASSES distinct labels before any per-class work is done."""
    if count > MAX_CLASSES:
        raise DatasetError(
            f"{where}: {count:,} distinct labels (the smallest: {', '.join(first)}); phyff "
            f"handles at most {MAX_CLASSES:,} classes. So many distinct values usually mean "
            f"the label column is an id or a measurement.{' ' + hint if hint else ''}"
        )


# --------------------------------------------------------------------------- scaling


def maxabs_scale(x_train: Float) -> Float:
    """Per-feature maximum |value| over the training rows; 1 where that is 0."""
    scale = np.max(np.abs(x_train), axis=0)
    return np.where(scale > 0, scale, 1.0)


@dataclass(frozen=True)
class RobustFit:
    """What :func:`robust_scale` fitted on the training split, and what it found."""

    scale: Float
    """Per feature: the divisor, ``min(max |x|, OUTLIER_RATIO * bulk)`` (1 where 0)."""
    bulk: Float
    """Per feature: the OUTLIER_QUANTILE quantile of the non-zero |x| (0 if none)."""
    dominated: npt.NDArray[np.bool_]
    """Per feature: some training value exceeds OUTLIER_RATIO * bulk (and saturates)."""


def robust_scale(x_train: Float) -> RobustFit:
    """Fit the outlier-guarded max-abs scaler (see the module docstring) on ``x_train``."""
    magnitude = np.sort(np.abs(x_train), axis=0)
    n = magnitude.shape[0]
    zeros = np.count_nonzero(magnitude == 0, axis=0)
    nonzero = n - zeros
    # 'lower' quantile of the non-zero magnitudes: an order statistic, so with few
    # rows one extreme value cannot drag it up by interpolation.
    index = zeros + np.floor(OUTLIER_QUANTILE * np.maximum(nonzero - 1, 0)).astype(np.int64)
    index = np.minimum(index, n - 1)
    picked = np.take_along_axis(magnitude, index[None, :], axis=0)[0]
    bulk = np.where(nonzero > 0, picked, 0.0)
    top = magnitude[-1]
    limit = OUTLIER_RATIO * bulk
    dominated = (bulk > 0) & (top > limit)
    scale = np.where(dominated, limit, top)
    scale = np.where(scale > 0, scale, 1.0)
    return RobustFit(scale=scale, bulk=bulk, dominated=dominated)


def _warn(message: str) -> None:
    """Issue a DatasetWarning attributed to the first caller outside this package.

    Why: a warning is printed with its location, and the useful location is the
    code that asked for the dataset, not the scaler deep inside this package.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and os.path.dirname(frame.f_code.co_filename) == package:
        frame = frame.f_back
        level += 1
    warnings.warn(message, DatasetWarning, stacklevel=level)


def _column(feature_names: Sequence[str] | None, j: int) -> str:
    return shorten(feature_names[j], 40) if feature_names is not None else f"column {j}"


def warn_constant(
    x_train: Float, where: str, feature_names: Sequence[str] | None, *, per_column: bool
) -> None:
    """Warn (DatasetWarning) when features are the same on every training row.

    ``per_column`` False (images) only warns when *every* feature is constant: a
    blank border pixel is normal in an image, a constant column in a table is not.
    """
    constant = np.flatnonzero(np.all(x_train == x_train[:1], axis=0))
    n_features = x_train.shape[1]
    if constant.size == n_features:
        _warn(
            f"{where}: every feature is constant over the training split, so nothing can be "
            "learned from these data; check that the file holds the intended columns"
        )
    elif per_column and constant.size:
        shown = [f"{_column(feature_names, j)} = {x_train[0, j]:g}" for j in constant[:5]]
        _warn(
            f"{where}: {constant.size:,} of {n_features:,} feature column(s) are constant over "
            f"the training split and carry no information: "
            f"{list_some(shown, total=constant.size)}. Drop them to save board channels"
        )


def warn_outliers(
    fit: RobustFit,
    x_train: Float,
    x_test_scaled: Float,
    where: str,
    feature_names: Sequence[str] | None,
) -> None:
    """Warn (DatasetWarning) on outlier-dominated columns and far-out test values."""
    dominated = np.flatnonzero(fit.dominated)
    if dominated.size:
        top = np.max(np.abs(x_train[:, dominated[:5]]), axis=0)
        shown = [
            f"{_column(feature_names, j)} (largest |x| {t:.3g}, 99th percentile {fit.bulk[j]:.3g})"
            for j, t in zip(dominated[:5].tolist(), top.tolist(), strict=True)
        ]
        _warn(
            f"{where}: {dominated.size:,} feature column(s) hold values more than "
            f"{OUTLIER_RATIO:g} times the 99th percentile of the column's non-zero magnitudes: "
            f"{list_some(shown, total=dominated.size)}. Those values are clipped so that "
            "they do not flatten the other rows; check the file for typos, unit errors or "
            "sentinel values"
        )
    far = np.abs(x_test_scaled) > OUTLIER_RATIO
    if far.any():
        rows, cols = np.nonzero(far)
        shown = [
            f"test row {r} {_column(feature_names, c)}"
            for r, c in zip(rows[:5].tolist(), cols[:5].tolist(), strict=True)
        ]
        _warn(
            f"{where}: {rows.size:,} test value(s) lie more than {OUTLIER_RATIO:g} times "
            f"beyond the training range and are clipped: {list_some(shown, total=rows.size)}"
        )


def scaled_dataset(name: str, x_train: Float, y_train: Int, x_test: Float, y_test: Int, *,
                   divisor: float | None = None, **meta: Any) -> Dataset:
    """Normalise (fixed ``divisor``, or max-abs fitted on train) and build the Dataset.

    ``meta``: class_names, feature_names, source, image_shape (see `Dataset`).
    """
    if x_train.shape[0] == 0:
        raise DatasetError(f"{name}: the train split is empty")
    scale: float | Float = divisor if divisor is not None else maxabs_scale(x_train)
    per_feature = np.broadcast_to(np.asarray(scale, dtype=np.float64), (x_train.shape[1],))
    return frozen_dataset(name, x_train / scale, y_train, x_test / scale, y_test,
                          input_scale=tuple(per_feature.tolist()),
                          input_range=1.0 if divisor is not None else 0.0, **meta)


def frozen_dataset(name: str, x_train: Float, y_train: Int, x_test: Float, y_test: Int, *,
                   class_names: Sequence[str], feature_names: Sequence[str] | None,
                   **meta: Any) -> Dataset:
    """A Dataset owning read-only float64 features and int64 labels."""
    return Dataset(
        name=name,
        x_train=readonly(np.ascontiguousarray(x_train, dtype=np.float64)),
        y_train=readonly(np.ascontiguousarray(y_train, dtype=np.int64)),
        x_test=readonly(np.ascontiguousarray(x_test, dtype=np.float64)),
        y_test=readonly(np.ascontiguousarray(y_test, dtype=np.int64)),
        class_names=tuple(class_names),
        feature_names=None if feature_names is None else tuple(feature_names),
        **{"image_shape": None, **meta},
    )


def robust_dataset(name: str, x_train: Float, y_train: Int, x_test: Float, y_test: Int, *,
                   feature_names: Sequence[str] | None, **meta: Any) -> Dataset:
    """Scale with :func:`robust_scale` (fitted on train), clip to [-1, 1], warn, build."""
    if x_train.shape[0] == 0:
        raise DatasetError(f"{name}: the train split is empty")
    if x_test.shape[0] == 0:
        raise DatasetError(f"{name}: the test split is empty")
    fit = robust_scale(x_train)
    train = x_train / fit.scale
    test = x_test / fit.scale
    warn_constant(x_train, name, feature_names, per_column=True)
    warn_outliers(fit, x_train, test, name, feature_names)
    np.clip(train, -1.0, 1.0, out=train)
    np.clip(test, -1.0, 1.0, out=test)
    return frozen_dataset(name, train, y_train, test, y_test, feature_names=feature_names,
                          input_scale=tuple(fit.scale.tolist()), input_clip=True, **meta)


def readonly(arr: _ArrayT) -> _ArrayT:
    """Own the data (copy if ``arr`` is a view of someone's array) and forbid writes."""
    if arr.base is not None or not arr.flags.owndata or not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    arr.setflags(write=False)
    return arr
