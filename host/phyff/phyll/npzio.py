"""Crash-safe single-file storage: numpy arrays plus a JSON header in one .npz.

Models and checkpoints must survive a crash or Ctrl-C at any moment: a run that
is interrupted while saving must still find the previous complete file on disk.
So every write goes to a temporary file in the same directory, is flushed to
disk, and then atomically renamed over the target (os.replace). Files are read
with allow_pickle=False; the header is stored as a plain unicode string, so
loading never executes code.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would: mkstemp's 0600 hides the file
        with os.fdopen(fd, "wb") as handle:
            # numpy's stub types a **dict splat against savez's allow_pickle
            np.savez(handle, **payload)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def read_npz(path: str | os.PathLike[str], expected_format: str,
             max_version: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by write_npz_atomic and check its format and version."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no {expected_format} file at {source}")
    try:
        with np.load(source, allow_pickle=False) as data:
            header = json.loads(str(data[HEADER_KEY][()]))
            arrays = {k: data[k] for k in data.files if k != HEADER_KEY}
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError, IndexError) as err:
        remedy = _REMEDY.get(expected_format, "Re-create it.")
        raise ValueError(
            f"{source} is not a readable {expected_format} file: it is corrupt, truncated or "
            f"was not written by phyff ({type(err).__name__}). {remedy}"
        ) from None
    found = header.get("format")
    if found != expected_format:
        raise ValueError(f"{source} holds {found!r}, expected a {expected_format!r} file")
    version = header.get("format_version")
    if not isinstance(version, int) or version > max_version or version < 1:
        raise ValueError(
            f"{source} has {expected_format} format version {version!r}; this phyff reads "
            f"versions 1..{max_version}. Upgrade phyff to load it."
        )
    return header, arrays


def _umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (best effort: not every platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
