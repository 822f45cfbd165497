"""Crash-safe single-file storage: numpy arrays plus a JSON header in one .npz.

Models and checkpoints must survive a crash or Ctrl-C at any moment: a run that
is interrupted while saving must still find the previous complete file on disk.
So every write goes through phyff._fileio.atomic_output (a fresh temporary file
in the same directory, flushed, renamed over the target). Files are read with
allow_pickle=False; the header is stored as a plain unicode string, so loading
never executes code, and read_npz checks what each member declares before it
reads anything (see its rules).
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from phyff._fileio import atomic_output, loads_json
from phyff._npzentry import UnknownNpyVersion, is_zip_bomb, npy_header

HEADER_KEY = "header_json"

# What a user can do when a file cannot be read, by format.
_REMEDY: dict[str, str] = {
    "phyff-model": "Train the model again (phyff train), or restore the file from a backup.",
    "phyff-checkpoint": "The run cannot be resumed from it: start the run again with "
                        "--overwrite, or under a new --run.",
    "phyff-goodness": "Train again to re-create it; the model itself is not affected.",
    "phyff-cache": "Delete it: a resumed run then measures its caches again.",
}


def write_npz_atomic(path: str | os.PathLike[str], arrays: dict[str, np.ndarray],
                     header: dict[str, Any]) -> Path:
    """Write `arrays` and `header` to `path` atomically; returns the path."""
    target = Path(path)
    if HEADER_KEY in arrays:
        raise ValueError(f"array name {HEADER_KEY!r} is reserved for the header")
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {HEADER_KEY: np.array(json.dumps(header, sort_keys=True))}
    payload.update({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    with atomic_output(target) as handle:
        # numpy's stub types a **dict splat against savez's allow_pickle
        np.savez(handle, **payload)  # type: ignore[arg-type]
    return target


MAX_HEADER_CHARS = 1 << 20  # a header is a few kB of JSON
MAX_ARRAY_BYTES = 1 << 30  # all arrays read from one file together (models: kB to MB)


def read_npz(path: str | os.PathLike[str], expected_format: str,
             max_version: int, members: str = r"[A-Za-z_][A-Za-z0-9_]{0,63}",
             max_bytes: int = MAX_ARRAY_BYTES
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by write_npz_atomic and check its format and version.

    The rules that keep a hostile or damaged file from costing more than a
    clear ValueError (naming the file):

    1. Only members whose names fully match the regular expression `members`
       (the format's arrays) and the header are read; anything else in the
       archive is never decompressed.
    2. Each member's .npy header is read first: no Python objects, a shape
       and dtype whose size is exactly what the zip entry declares, and all of
       them together at most `max_bytes` (a zip bomb declares its size).
    3. The header is one JSON object of at most MAX_HEADER_CHARS characters,
       with ``format`` == expected_format and an integer ``format_version``
       (not a bool) in 1..max_version.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no {expected_format} file at {source}")
    remedy = _REMEDY.get(expected_format, "Re-create it.")
    pattern = re.compile(members)
    try:
        with zipfile.ZipFile(source) as archive:
            wanted = {}
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if info.filename.endswith(".npy") and (
                        name == HEADER_KEY or pattern.fullmatch(name)):
                    wanted[name] = info
            if HEADER_KEY not in wanted:
                raise _Unreadable("it holds no phyff header")
            declared = {name: _declared(archive, info, name) for name, info in wanted.items()}
            text_dtype = declared[HEADER_KEY][1]
            if text_dtype.kind != "U" or declared[HEADER_KEY][0] != () or \
                    text_dtype.itemsize > 4 * MAX_HEADER_CHARS:
                raise _Unreadable("its header is not one JSON text of at most "
                                  f"{MAX_HEADER_CHARS:,} characters")
            total = sum(math.prod(shape) * dtype.itemsize for shape, dtype in declared.values())
            if total > max_bytes:
                raise _Unreadable(f"its arrays declare {total:,} bytes; a {expected_format} "
                                  f"file holds at most {max_bytes:,}")
            loaded = {}
            for name, info in wanted.items():
                with archive.open(info) as fp:
                    loaded[name] = np.lib.format.read_array(fp, allow_pickle=False)
    except _Unreadable as err:
        raise ValueError(f"{source} is not a readable {expected_format} file: {err}. "
                         f"{remedy}") from None
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError, IndexError,
            NotImplementedError, RuntimeError) as err:
        raise ValueError(
            f"{source} is not a readable {expected_format} file: it is corrupt, truncated or "
            f"was not written by phyff ({type(err).__name__}). {remedy}"
        ) from None
    header = loads_json(str(loaded.pop(HEADER_KEY)[()]), f"{source}: the header")
    if not isinstance(header, dict):
        raise ValueError(f"{source} is not a readable {expected_format} file: its header is "
                         f"a JSON {type(header).__name__}, not an object. {remedy}")
    found = header.get("format")
    if found != expected_format:
        raise ValueError(f"{source} holds {found!r}, expected a {expected_format!r} file")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or \
            not 1 <= version <= max_version:
        raise ValueError(
            f"{source} has {expected_format} format version {version!r}; this phyff reads "
            f"versions 1..{max_version}. Upgrade phyff to load it."
        )
    return header, loaded


class _Unreadable(Exception):
    """Why a file is refused before its arrays are read (rule 1-3 of read_npz)."""


def _declared(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
              name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """A member's shape and dtype from its .npy header, checked against its entry size."""
    try:
        shape, dtype, header_len = npy_header(archive, info)
    except UnknownNpyVersion as err:
        raise _Unreadable(f"array {name} uses .npy version {err.version}") from None
    if dtype.hasobject:
        raise _Unreadable(f"array {name} holds Python objects")
    if any(d < 0 for d in shape):
        raise _Unreadable(f"array {name} has a negative shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if is_zip_bomb(info):
        raise _Unreadable(f"array {name} inflates {info.compress_size:,} bytes to "
                          f"{info.file_size:,}: a zip bomb")
    if header_len + nbytes != info.file_size:
        raise _Unreadable(f"array {name} declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                          f"but its entry holds {max(info.file_size - header_len, 0):,}")
    return shape, dtype
