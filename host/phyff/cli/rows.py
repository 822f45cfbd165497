"""Feature rows for ``phyff classify`` and ``phyff predict``: a CSV file or stdin, checked.

Rules (every refusal names the line and column and is a ValueError, exit 2):

1. The text is UTF-8; a leading byte-order mark (what spreadsheet programs write)
   is dropped. Blank lines and lines starting with ``#`` are skipped.
2. The first row is a header when any of its cells is not a number (or when
   ``--skip-header`` says so). A header is matched by name to the model's
   features when the model records them: the columns may come in any order,
   but every feature must be there once and no other column may be.
3. Every row has the same number of cells as the header (or the first row);
   no cell is empty (an empty cell is never dropped: that would shift the row);
   every cell is a finite number.
4. stdin must be open: a closed stdin is bad input, not a hang or a crash.
"""

from __future__ import annotations

import csv
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

BOM = "\ufeff"


@dataclass(frozen=True)
class Rows:
    """Feature values in the model's order, and the line each row came from."""

    values: NDArray[np.float64]
    lines: NDArray[np.int64]
    where: str
    header: tuple[str, ...] | None


def read_text(source: str) -> tuple[str, str]:
    """The text of a CSV file, or of stdin for ``-``; (text, where) for messages."""
    if source == "-":
        stream = sys.stdin
        try:
            if stream is None or stream.closed:
                raise OSError("closed")
            data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode()
        except (OSError, ValueError):
            raise ValueError("stdin is closed: give a CSV file of feature rows, or pipe "
                             "rows in (phyff classify - < rows.csv)") from None
        return _decode(data, "stdin"), "stdin"
    path = Path(source)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise FileNotFoundError(f"no such file: {source}; give a CSV of feature rows "
                                f"(or - for stdin)") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{source} is not a regular file: give a CSV file of feature rows "
                         f"(or - for stdin)")
    return _decode(path.read_bytes(), source), source


def _decode(data: bytes, where: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ValueError(f"{where} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                         f"save the CSV as UTF-8") from None
    return text[1:] if text.startswith(BOM) else text


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_rows(source: str, *, n_features: int, feature_names: Sequence[str] | None = None,
              skip_header: bool = False) -> Rows:
    """Parse and check the rows (module rules 1-4); columns put in the model's order."""
    text, where = read_text(source)
    return parse_rows(text, where, n_features=n_features, feature_names=feature_names,
                      skip_header=skip_header)


def read_labelled_rows(source: str, *, n_features: int, class_names: Sequence[str] | None,
                       feature_names: Sequence[str] | None = None,
                       skip_header: bool = False) -> tuple[Rows, NDArray[np.int64]]:
    """Rows whose last column is the label: a class name of the run, or a class index.

    The feature columns follow read_rows' rules (a header names them, or they come
    in the model's order); the labels come back as class indices.
    """
    text, where = read_text(source)
    features_text: list[str] = []
    label_cells: list[tuple[int, str]] = []
    header_seen = False
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            features_text.append("")
            continue
        if len(cells) < 2:
            raise ValueError(f"{where} line {line}: a labelled row needs its features and, "
                             f"last, its label")
        first = not header_seen and not label_cells
        is_header = first and (skip_header or not all(_is_number(c) for c in cells[:-1] if c))
        header_seen = header_seen or is_header
        if not is_header:
            label_cells.append((line, cells[-1]))
        features_text.append(",".join(_quoted(c) for c in cells[:-1]))
    rows = parse_rows("\n".join(features_text), where, n_features=n_features,
                      feature_names=feature_names, skip_header=header_seen)
    return rows, _labels(label_cells, class_names, where)


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if ("," in cell or '"' in cell) else cell


def _labels(cells: list[tuple[int, str]], class_names: Sequence[str] | None,
            where: str) -> NDArray[np.int64]:
    """Class indices of the label cells: a class name of the run, or 0..C-1."""
    index = {name: i for i, name in enumerate(class_names or ())}
    n_classes = len(index)
    out = []
    for line, cell in cells:
        if cell in index:
            out.append(index[cell])
            continue
        try:
            value = int(cell)
        except ValueError:
            known = (f"one of {', '.join(repr(n) for n in list(index)[:8])}" if index
                     else "a class index")
            raise ValueError(f"{where} line {line}: label {cell[:40]!r} is not {known}") from None
        if value < 0 or (n_classes and value >= n_classes):
            raise ValueError(f"{where} line {line}: label {value} is not a class index "
                             f"0..{n_classes - 1}")
        out.append(value)
    return np.asarray(out, dtype=np.int64)


def parse_rows(text: str, where: str, *, n_features: int,
               feature_names: Sequence[str] | None = None, skip_header: bool = False) -> Rows:
    """read_rows on text already read (where: the source, for messages)."""
    header: tuple[str, ...] | None = None
    order: list[int] | None = None  # CSV column of each model feature
    width = 0
    first_line = 0
    values: list[list[float]] = []
    lines: list[int] = []
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not width:
            width, first_line = len(cells), line
            if skip_header or not all(_is_number(c) for c in cells if c):
                header = tuple(cells)
                order = _match_header(header, n_features, feature_names, where, line)
                continue
            if width != n_features:
                raise ValueError(f"{where} line {line} has {width} values; the model takes "
                                 f"{n_features} features")
        if len(cells) != width:
            what = f"the header (line {first_line})" if header else f"line {first_line}"
            raise ValueError(f"{where} line {line} has {len(cells)} values; {what} has {width}: "
                             f"every row needs the same columns")
        values.append(_numbers(cells, header, where, line))
        lines.append(line)
    if not values:
        raise ValueError(f"{where} holds no feature rows")
    x = np.asarray(values, dtype=np.float64)
    if order is not None:
        x = x[:, order]
    return Rows(x, np.asarray(lines, dtype=np.int64), where, header)


def _numbers(cells: list[str], header: tuple[str, ...] | None, where: str,
             line: int) -> list[float]:
    out = []
    for j, cell in enumerate(cells):
        column = f"column {j + 1}" + (f" ({header[j]!r})" if header and header[j] else "")
        if not cell:
            raise ValueError(f"{where} line {line} {column} is empty: every feature needs a "
                             f"value (an empty cell is not skipped, it would shift the row)")
        try:
            value = float(cell)
        except ValueError:
            raise ValueError(f"{where} line {line} {column}: {cell[:40]!r} is not a number"
                             + (" (a header must be the first line)" if line > 1 else "")
                             ) from None
        if not np.isfinite(value):
            raise ValueError(f"{where} line {line} {column}: {cell!r} is not a finite number")
        out.append(value)
    return out


def _match_header(header: tuple[str, ...], n_features: int,
                  feature_names: Sequence[str] | None, where: str, line: int) -> list[int] | None:
    """The CSV column of each model feature (None: the columns are in the model's order)."""
    if feature_names is None or not any(header):
        if len(header) != n_features:
            raise ValueError(f"{where} line {line}: the header has {len(header)} columns; the "
                             f"model takes {n_features} features")
        return None
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name in seen:
            raise ValueError(f"{where} line {line} column {j + 1}: {name!r} appears twice (also "
                             f"column {seen[name] + 1})")
        seen[name] = j
    missing = [n for n in feature_names if n not in seen]
    unknown = [(j, n) for j, n in enumerate(header) if n not in set(feature_names)]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(repr(n) for n in missing[:5])}"
                         + (f" ({len(missing)} in all)" if len(missing) > 5 else ""))
        if unknown:
            parts.append("not a feature of the model: " + ", ".join(
                f"column {j + 1} {n!r}" for j, n in unknown[:5]))
        raise ValueError(f"{where} line {line}: the header does not match the model's features "
                         f"({'; '.join(parts)}); its features are "
                         f"{', '.join(repr(n) for n in feature_names[:12])}"
                         + (" ..." if len(feature_names) > 12 else ""))
    return [seen[n] for n in feature_names]
