"""The IDX reader (the MNIST file format), shared by Fashion-MNIST and ``idx:`` user files.

Why a streaming reader: the header states the shape before any data, so the size is
checked against the file (or, for gzip, against what the stream really holds) and
against the machine's memory before anything large is allocated; a corrupt or
hostile header gets a DatasetError, never a huge allocation.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from phyff.datasets.base import DatasetError, check_memory

__all__ = ["read_idx"]

_IDX_DTYPES: Final[dict[int, np.dtype[Any]]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[Any]:
    """Read an IDX file (the MNIST format), gzipped or not, into a native-endian array.

    Layout: two zero bytes, a type code, the number of dimensions, one big-endian
    uint32 per dimension, then the values in C order (big-endian).

    Raises:
        DatasetError: unreadable, not IDX, truncated, corrupt, or too large for
            this machine; the message names the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _read_stream(stream, path, None)
            return _read_stream(raw, path, os.fstat(raw.fileno()).st_size)
    except DatasetError:
        raise
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path.name}: broken gzip data ({exc}); file {path}") from exc
    except OSError as exc:
        detail = exc.strerror or exc
        raise DatasetError(f"{path.name}: cannot read ({detail}); file {path}") from exc


def _read_stream(
    stream: io.BufferedIOBase, path: Path, file_size: int | None
) -> npt.NDArray[Any]:
    """Parse header and data from ``stream``; ``file_size`` is known for plain files."""
    head = stream.read(4)
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"{path.name}: not an IDX file (bad magic number {head.hex() or 'empty'})"
        )
    dtype, ndim = _IDX_DTYPES[head[2]], head[3]
    dims = stream.read(4 * ndim)
    if ndim == 0 or len(dims) < 4 * ndim:
        raise DatasetError(f"{path.name}: truncated IDX header")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    count = math.prod(shape)
    expected = count * dtype.itemsize
    header = 4 + 4 * ndim
    if file_size is not None and file_size - header != expected:
        raise DatasetError(
            f"{path.name}: IDX header says shape {shape} ({expected:,} bytes of data), "
            f"file holds {file_size - header:,}"
        )
    check_memory(count, path.name)
    data = stream.read(expected + 1)  # one byte more reveals trailing data
    if len(data) != expected:
        raise DatasetError(
            f"{path.name}: IDX header says shape {shape} ({expected:,} bytes of data), "
            f"the compressed stream holds {len(data):,}{'+' if len(data) > expected else ''}"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)
