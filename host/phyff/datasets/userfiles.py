"""The user's own data: ``csv:PATH[#label=COL]``, ``npz:PATH``, ``idx:IMAGES,LABELS``.

Why this module is defensive: these files come from anywhere (an export with a
typo, a truncated download, a file made to break things), and a bad one must end in
a :class:`DatasetError` that names the file and says what to do -- never a
traceback, a hang or an allocation that takes the machine down. So:

* paths must name regular files (a directory, a pipe or a device is refused before
  anything is opened, so ``csv:/dev/stdin`` cannot hang);
* CSV is read line by line with a cap on the line length and on the number of
  values, text must be UTF-8, and every parse failure names the file and line;
* NPZ archives are opened with :mod:`zipfile` and each array's ``.npy`` header is
  read first: its shape must match the bytes the archive really holds and fit in
  memory before any array is allocated; pickled objects are never loaded;
* labels are remapped from the distinct values present, at most
  :data:`~phyff.datasets.base.MAX_CLASSES` of them;
* ``uint8`` data are pixels (/255); everything else is scaled by the
  outlier-guarded max-abs scaler of :mod:`phyff.datasets.base`, which warns
  (:class:`~phyff.datasets.base.DatasetWarning`) on constant and outlier columns.
"""

from __future__ import annotations

import csv
import lzma
import math
import operator
import re
import stat
import struct
import zipfile
import zlib
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Final

import numpy as np
import numpy.typing as npt

from phyff._npzentry import MAX_INFLATION, UnknownNpyVersion, is_zip_bomb, npy_header
from phyff.datasets.base import (
    MAX_CLASSES,
    TEST_FRACTION,
    Dataset,
    DatasetError,
    Int,
    check_finite,
    check_memory,
    encode_labels,
    list_some,
    robust_dataset,
    scaled_dataset,
    shorten,
    stratified_test_mask,
    warn_constant,
)
from phyff.datasets.idx import read_idx
from phyff.datasets.registry import DatasetRequest, register

__all__ = ["MAX_CSV_LINE_BYTES", "MAX_CSV_VALUES", "load_csv", "load_idx_pair", "load_npz"]

MAX_CSV_LINE_BYTES: Final = 32 * 1024 * 1024
"""Longest CSV line read (bytes); a longer one is not a table, and is refused unread."""

MAX_CSV_VALUES: Final = 100_000_000
"""Most feature values read from one CSV (800 MB as float64); convert larger data to NPZ."""

_CSV_LABEL_HINT: Final = "Choose the label column with csv:PATH#label=COLUMN."

_NPZ_KEYS: Final = (
    "x_train", "y_train", "x_test", "y_test", "x", "y", "class_names", "feature_names",
)  # fmt: skip

# Everything reading a damaged zip/npy can raise: zip structure, decompression, header
# parsing, impossible sizes, unsupported or encrypted entries (the fuzz tests throw
# mutated archives at it).
_ARCHIVE_FAILURES: Final = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    OverflowError,
    MemoryError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
)


# --------------------------------------------------------------------------- paths


def user_path(text: str, spec: str) -> Path:
    """A user-given path that must name an existing regular file; else a DatasetError."""
    text = text.strip()
    if not text:
        raise DatasetError(f"{shorten(spec)}: no file path given")
    try:
        path = Path(text).expanduser()
    except (RuntimeError, ValueError):  # ~user unknown, or a NUL byte: checked below
        path = Path(text)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DatasetError(f"{shorten(spec)}: file not found: {path}") from None
    except NotADirectoryError:
        raise DatasetError(
            f"{shorten(spec)}: file not found: {path} (a folder on the way is a file)"
        ) from None
    except PermissionError:
        raise DatasetError(
            f"{shorten(spec)}: permission denied for {path}; check the file's permissions"
        ) from None
    except (OSError, ValueError) as exc:  # name too long, NUL byte, loops, ...
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DatasetError(
            f"{shorten(spec)}: cannot use path {shorten(str(path))}: {detail}"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise DatasetError(
            f"{shorten(spec)}: {path} is a directory, not a file; give the path of the data "
            "file inside it"
        )
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(
            f"{shorten(spec)}: {path} is not a regular file (a device, pipe or socket); "
            "phyff reads datasets from regular files only"
        )
    return path


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- shared


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


@dataclass(frozen=True)
class _About:
    """What a user file says besides its numbers, carried to the Dataset unchanged."""

    class_names: tuple[str, ...]
    feature_names: Sequence[str] | None
    image_shape: tuple[int, int] | None
    source: str  # where the data came from, for the Dataset's source line


def _split_and_scale(
    name: str,
    x: npt.NDArray[np.generic],
    y: Int,
    test: npt.NDArray[np.bool_] | None,
    about: _About,
    *,
    seed: int,
) -> Dataset:
    """Apply a given split (or a seeded stratified 80/20 one) and the scaling rule."""
    note = "split given by the file"
    if test is None:
        test = stratified_test_mask(y, round(TEST_FRACTION * y.size), np.random.default_rng(seed))
        held = round(100 * TEST_FRACTION)
        note = f"stratified {100 - held}/{held} split (seed {seed})"
    return _user_dataset(name, x[~test], y[~test], x[test], y[test],
                         replace(about, source=f"{about.source}; {note}"))


def _user_dataset(
    name: str,
    x_train: npt.NDArray[np.generic],
    y_train: Int,
    x_test: npt.NDArray[np.generic],
    y_test: Int,
    about: _About,
) -> Dataset:
    """Scale user data: uint8 as pixels (/255), anything else by the robust scaler."""
    for part, x in (("train", x_train), ("test", x_test)):
        if x.shape[0] == 0:
            raise DatasetError(f"{name}: the {part} split is empty")
    if x_train.shape[1] == 0:
        raise DatasetError(f"{name}: no features")
    if x_train.dtype == np.uint8 and x_test.dtype == np.uint8:
        train = x_train.astype(np.float64)
        warn_constant(train, name, about.feature_names, per_column=False)
        return scaled_dataset(
            name, train, y_train, x_test.astype(np.float64), y_test,
            class_names=about.class_names, feature_names=about.feature_names,
            image_shape=about.image_shape, source=f"{about.source}; pixels / 255",
            divisor=255.0,
        )  # fmt: skip
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return robust_dataset(
            name, x_train.astype(np.float64), y_train, x_test.astype(np.float64), y_test,
            class_names=about.class_names, feature_names=about.feature_names,
            image_shape=about.image_shape,
            source=f"{about.source}; features / training max |x| (outlier-guarded, "
                   "clipped to +-1)",
        )  # fmt: skip


# --------------------------------------------------------------------------- CSV


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


def _csv_lines(binary: IO[bytes], path: Path) -> Iterator[str]:
    """The file's lines as text, for the csv module, checked one line at a time.

    Why by hand rather than a text wrapper: a line longer than MAX_CSV_LINE_BYTES is
    refused before it is held whole, and a byte that is not UTF-8 is reported with
    its line number (a wrapper decodes ahead in blocks). A leading byte-order mark is
    dropped; lines ending in a lone carriage return (old Mac files) are split too.
    """
    number = 0
    while True:
        raw = binary.readline(MAX_CSV_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_CSV_LINE_BYTES:
            raise DatasetError(
                f"{path.name} line {number + 1}: longer than {MAX_CSV_LINE_BYTES:,} bytes; "
                f"this is not a table phyff can read as CSV (file {path})"
            )
        if number == 0 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start : exc.start + 1].hex()
            raise DatasetError(
                f"{path.name} line {number + 1}: not UTF-8 text (byte 0x{byte} at column "
                f"{exc.start + 1}); save the file as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet); "
                f"file {path}"
            ) from None
        for piece in _LONE_CR.split(text) if "\r" in text else (text,):
            if piece:
                number += 1
                yield piece


def _parse_float(text: str) -> float | None:
    """A number, NaN for an empty cell, or None for text."""
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _read_csv_table(
    path: Path, label_col: str
) -> tuple[list[str], list[str], list[str] | None, npt.NDArray[np.float64], list[int], list[str]]:
    """Read header, labels, split column, features, line numbers and ignored columns."""
    with _open_binary(path) as binary:
        reader = csv.reader(_csv_lines(binary, path))
        try:
            return _parse_csv(reader, path, label_col)
        except csv.Error as exc:
            limit = csv.field_size_limit()
            detail = (
                f"a field is longer than {limit:,} characters (often a quote mark that is "
                "never closed)"
                if "field larger than field limit" in str(exc)
                else str(exc)
            )
            raise DatasetError(
                f"{path.name} line {reader.line_num}: not valid CSV: {detail}; file {path}"
            ) from exc
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _parse_row(
    cells: Sequence[str],
    values: array[float],
    text_count: list[int],
    text_seen: dict[int, list[str]],
    line_num: int,
) -> None:
    """Slow path for a row with empty or text cells: NaN for those, text counted per column."""
    for k, raw in enumerate(cells):
        cell = raw.strip()
        if not cell:
            values.append(math.nan)
            continue
        try:
            values.append(float(cell))
        except ValueError:
            values.append(math.nan)
            text_count[k] += 1
            seen = text_seen.setdefault(k, [])
            if len(seen) < 5:
                seen.append(f"line {line_num}: {shorten(cell, 40)}")


def _parse_csv(
    reader: Iterator[list[str]], path: Path, label_col: str
) -> tuple[list[str], list[str], list[str] | None, npt.NDArray[np.float64], list[int], list[str]]:
    name = path.name
    header = [h.strip() for h in next(reader, [])]
    if not header or not any(header):
        raise DatasetError(f"{name}: no header row (the first line must name the columns)")
    duplicates = sorted(h for h, n in Counter(header).items() if n > 1)
    if duplicates:
        raise DatasetError(
            f"{name}: duplicate column name(s) {list_some([shorten(d, 40) for d in duplicates])}"
        )
    if label_col not in header:
        shown = [shorten(h, 40) for h in header[:10]]
        raise DatasetError(
            f"{name}: no label column {shorten(label_col, 60)}; columns are "
            f"{list_some(shown, limit=10, total=len(header))}. {_CSV_LABEL_HINT}"
        )
    label_i = header.index(label_col)
    split_i = header.index("split") if "split" in header and label_col != "split" else None
    feature_idx = [i for i in range(len(header)) if i not in (label_i, split_i)]
    n_feat = len(feature_idx)
    values = array("d")
    labels: list[str] = []
    splits: list[str] = []
    lines: list[int] = []
    text_count = [0] * n_feat
    text_seen: dict[int, list[str]] = {}
    getter = operator.itemgetter(*feature_idx) if feature_idx else None

    def pick(row: list[str]) -> Sequence[str]:
        if getter is None:
            return ()
        picked = getter(row)
        return (picked,) if n_feat == 1 else picked

    for row in reader:
        if not "".join(row).strip():  # a blank line (or only separators)
            continue
        if len(row) != len(header):
            raise DatasetError(
                f"{name} line {getattr(reader, 'line_num', '?')}: {len(row):,} fields, header "
                f"has {len(header):,}"
            )
        if (len(lines) + 1) * n_feat > MAX_CSV_VALUES:
            raise DatasetError(
                f"{name}: more than {MAX_CSV_VALUES:,} feature values; CSV this large is slow "
                "and memory-hungry to parse. Save the data as NPZ (numpy.savez with x and y) "
                "and use npz:PATH"
            )
        line_num = int(getattr(reader, "line_num", len(lines) + 2))
        cells = pick(row)
        try:  # fast path: every cell a number (float() ignores surrounding spaces)
            values.extend(list(map(float, cells)))
        except ValueError:
            _parse_row(cells, values, text_count, text_seen, line_num)
        labels.append(row[label_i].strip())
        if split_i is not None:
            splits.append(row[split_i].strip())
        lines.append(line_num)
    if not lines:
        raise DatasetError(f"{name}: no data rows below the header")
    n_rows = len(lines)
    table = np.frombuffer(values, dtype=np.float64).reshape(n_rows, n_feat)
    keep: list[int] = []
    ignored: list[str] = []
    for k, i in enumerate(feature_idx):
        if text_count[k] == n_rows:
            ignored.append(header[i])  # a text column such as an id or a file name
        elif text_count[k]:
            raise DatasetError(
                f"{name}: column {shorten(header[i], 40)} mixes numbers and text: "
                + list_some(text_seen[k], total=text_count[k])
            )
        else:
            keep.append(k)
    features = [header[feature_idx[k]] for k in keep]
    x = table[:, keep] if len(keep) != n_feat else table.copy()
    return features, labels, (splits if split_i is not None else None), x, lines, ignored


def load_csv(spec: str, body: str, seed: int) -> Dataset:
    """``csv:PATH[#label=COL]``: numeric columns are features, see load_dataset."""
    label_col = "label"
    head, sep, tail = body.rpartition("#")
    if sep and tail.startswith("label="):
        body, label_col = head, tail[len("label=") :].strip()
        if not label_col:
            raise DatasetError(f"{shorten(spec)}: empty column name after #label=")
    path = user_path(body, spec)
    feature_names, raw_labels, split_values, x, lines, ignored = _read_csv_table(path, label_col)
    if not feature_names:
        raise DatasetError(
            f"{path.name}: no numeric feature column besides {shorten(label_col, 40)}"
        )
    check_finite(x, path.name, feature_names, lambda i: f"line {lines[i]}")

    empty = [i for i, v in enumerate(raw_labels) if not v]
    if empty:
        raise DatasetError(
            f"{path.name}: empty label in column {shorten(label_col, 40)}: "
            + list_some([f"line {lines[i]}" for i in empty[:5]], total=len(empty))
        )
    numbers = [_parse_float(v) for v in raw_labels]
    label_array: npt.NDArray[np.generic] = (
        np.array(numbers, dtype=np.float64)
        if all(v is not None for v in numbers)
        else np.array(raw_labels, dtype=str)
    )
    (y,), class_names = encode_labels(
        [(f"column {shorten(label_col, 40)}", label_array)], None, path.name, _CSV_LABEL_HINT
    )

    test: npt.NDArray[np.bool_] | None = None
    if split_values is not None:
        lowered = [v.lower() for v in split_values]
        bad = [i for i, v in enumerate(lowered) if v not in ("train", "test")]
        if bad:
            shown = [f"line {lines[i]}: {shorten(split_values[i], 40)}" for i in bad[:5]]
            raise DatasetError(
                f"{path.name}: split must be train or test: {list_some(shown, total=len(bad))}"
            )
        test = np.array([v == "test" for v in lowered], dtype=bool)
    source = f"CSV file {path.name}, label column {label_col!r}"
    if ignored:
        source += f", text columns ignored: {list_some(ignored, limit=10)}"
    return _split_and_scale(spec, x, y, test, _About(class_names, feature_names, None, source),
                            seed=seed)


# --------------------------------------------------------------------------- NPZ


def _npy_header(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str
) -> tuple[tuple[int, ...], np.dtype[np.generic]]:
    """Shape and dtype from a member's .npy header, checked against the bytes it holds."""
    entry = info.filename
    try:
        shape, dtype, header_len = npy_header(archive, info)
    except UnknownNpyVersion as err:
        raise DatasetError(
            f"{where}: entry {shorten(entry, 60)} uses .npy format version {err.version}, "
            "which phyff does not read; save it with numpy.savez"
        ) from None
    if dtype.hasobject:
        raise DatasetError(
            f"{where}: entry {shorten(entry, 60)} holds Python objects (dtype {dtype}); phyff "
            "never loads pickled data. Save plain numeric arrays, and class names as a "
            "string array (numpy.array(names, dtype=str))"
        )
    if any(d < 0 for d in shape):
        raise DatasetError(f"{where}: entry {shorten(entry, 60)} has a negative shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if is_zip_bomb(info):
        raise DatasetError(
            f"{where}: entry {shorten(entry, 60)} inflates {info.compress_size:,} bytes to "
            f"{info.file_size:,} (more than {MAX_INFLATION}:1): a zip bomb or an array of one "
            "repeated value, not data to train on"
        )
    if header_len + nbytes != info.file_size:
        raise DatasetError(
            f"{where}: entry {shorten(entry, 60)} claims shape {shape} of {dtype} "
            f"({nbytes:,} bytes) but holds {max(info.file_size - header_len, 0):,} bytes of "
            "data: the file is corrupt or truncated. Re-create it with numpy.savez"
        )
    return shape, dtype


def _read_npz(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """The known arrays of an .npz archive, every failure a DatasetError naming the file."""
    where = path.name
    with _open_binary(path) as handle:
        start = handle.read(6)
    if not start:
        raise DatasetError(f"{where}: the file is empty; expected an .npz archive ({path})")
    if start == b"\x93NUMPY":
        raise DatasetError(
            f"{where}: a single .npy array, not an .npz archive; save the data with "
            "numpy.savez(path, x=..., y=...) (or x_train, y_train, x_test, y_test)"
        )
    if start[:2] != b"PK":
        raise DatasetError(
            f"{where}: not an .npz archive (it should be a zip file made by numpy.savez; the "
            f"file starts with bytes {start[:4].hex()}); file {path}"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members: dict[str, zipfile.ZipInfo] = {}
            others: list[str] = []
            for info in archive.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else None
                if key in _NPZ_KEYS:
                    members[key] = info
                else:
                    others.append(info.filename)
            if not ({"x", "y"} <= members.keys() or
                    {"x_train", "y_train", "x_test", "y_test"} <= members.keys()):  # fmt: skip
                found = sorted(members) + [shorten(o, 40) for o in others[:10]]
                raise DatasetError(
                    f"{where}: expected arrays x_train, y_train, x_test, y_test (or x, y); "
                    f"found {list_some(found, limit=12, total=len(members) + len(others))}"
                )
            shapes = {key: _npy_header(archive, info, where) for key, info in members.items()}
            check_memory(sum(math.prod(shape) for shape, _ in shapes.values()), where)
            arrays = {}
            for key, info in members.items():
                with archive.open(info) as fp:
                    arrays[key] = np.lib.format.read_array(fp, allow_pickle=False)
            return arrays
    except DatasetError:
        raise
    except _ARCHIVE_FAILURES as exc:
        raise DatasetError(
            f"{where}: corrupt or truncated .npz archive ({type(exc).__name__}: "
            f"{shorten(str(exc), 160)}); re-create it with numpy.savez. File {path}"
        ) from exc


def _names(arr: npt.NDArray[np.generic] | None, what: str, where: str) -> list[str] | None:
    """Optional class_names / feature_names: a 1-D array of names."""
    if arr is None:
        return None
    if arr.ndim != 1:
        raise DatasetError(f"{where}: {what} must be a 1-D array of names, got shape {arr.shape}")
    if what == "class_names" and arr.size > MAX_CLASSES:
        raise DatasetError(
            f"{where}: {arr.size:,} class_names; phyff handles at most {MAX_CLASSES:,} classes"
        )
    if arr.dtype.kind == "S":
        return [bytes(n).decode("utf-8", "replace") for n in arr.tolist()]
    return [str(n) for n in arr.tolist()]


def load_npz(spec: str, body: str, seed: int) -> Dataset:
    """``npz:PATH`` with x_train/y_train/x_test/y_test or x/y (see load_dataset)."""
    path = user_path(body, spec)
    arrays = _read_npz(path)
    where = path.name
    class_names = _names(arrays.get("class_names"), "class_names", where)
    feature_names = _names(arrays.get("feature_names"), "feature_names", where)
    if all(k in arrays for k in ("x_train", "y_train", "x_test", "y_test")):
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
            check_finite(x, f"{where}: x_{part}", feature_names)
        (y_tr, y_te), classes = encode_labels(
            [("y_train", arrays["y_train"]), ("y_test", arrays["y_test"])], class_names, where
        )
        return _user_dataset(spec, x_tr, y_tr, x_te, y_te, _About(
            classes, feature_names, shape_tr, f"NPZ file {path.name}; split given by the file"))
    x, shape = _as_features(arrays["x"], "x", where)
    if arrays["y"].ndim != 1 or x.shape[0] != arrays["y"].shape[0]:
        raise DatasetError(
            f"{where}: mismatched lengths: x has {x.shape[0]} rows, y has shape {arrays['y'].shape}"
        )
    check_finite(x, f"{where}: x", feature_names)
    (y,), classes = encode_labels([("y", arrays["y"])], class_names, where)
    return _split_and_scale(spec, x, y, None,
                            _About(classes, feature_names, shape, f"NPZ file {path.name}"),
                            seed=seed)


# --------------------------------------------------------------------------- IDX


def load_idx_pair(spec: str, body: str, seed: int) -> Dataset:
    """``idx:IMAGES_PATH,LABELS_PATH``, split as for CSV."""
    images_text, sep, labels_text = body.rpartition(",")
    if not sep:
        raise DatasetError(f"{shorten(spec)}: expected idx:IMAGES_PATH,LABELS_PATH")
    images_path = user_path(images_text, spec)
    labels_path = user_path(labels_text, spec)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    x, shape = _as_features(images, images_path.name, images_path.name)
    if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
        raise DatasetError(
            f"{shorten(spec)}: mismatched lengths: {x.shape[0]} samples in "
            f"{images_path.name}, labels of shape {labels.shape}"
        )
    check_finite(x, images_path.name)
    (y,), classes = encode_labels([(labels_path.name, labels)], None, labels_path.name)
    return _split_and_scale(spec, x, y, None, _About(
        classes, None, shape, f"IDX files {images_path.name}, {labels_path.name}"), seed=seed)


# The split of files that bring none, as train/test percent (TEST_FRACTION).
_SPLIT: Final = f"{100 - round(100 * TEST_FRACTION)}/{round(100 * TEST_FRACTION)}"


def _body(request: DatasetRequest) -> str:
    return request.match.group("body")


register(
    "csv:PATH[#label=COL]",
    "your CSV: label column 'label' (or COL), numeric columns are features; a 'split' "
    f"column (train/test) gives the split, else a stratified {_SPLIT} split (seed 0)",
    lambda r: load_csv(r.name, _body(r), r.seed),
    pattern=r"csv:(?P<body>.*)",
)
register(
    "npz:PATH",
    f"your NPZ: x_train, y_train, x_test, y_test (or x, y: a stratified {_SPLIT} split, "
    "seed 0)",
    lambda r: load_npz(r.name, _body(r), r.seed),
    pattern=r"npz:(?P<body>.*)",
)
register(
    "idx:IMAGES,LABELS",
    f"your IDX image and label files (a stratified {_SPLIT} split, seed 0)",
    lambda r: load_idx_pair(r.name, _body(r), r.seed),
    pattern=r"idx:(?P<body>.*)",
)
