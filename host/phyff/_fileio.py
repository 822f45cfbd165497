"""Writing and reading the files phyff keeps, so that a crash, a full disk or a
hostile neighbour loses nothing.

A leaf (it imports nothing of phyff), so every layer writes its files the same way.

Rules:

1. A file is replaced atomically (:func:`atomic_output`, :func:`write_atomic`):
   written to a fresh temporary file made by ``mkstemp`` in the target's own
   folder (an unpredictable name, created exclusively, so a planted symlink
   is never followed), flushed to disk, then renamed over the target. A write
   that fails for any reason, a full disk included, removes its temporary
   file and leaves the previous file as it was.
2. An OSError from writing that names no file (ENOSPC, EDQUOT, EIO while
   writing) is raised again naming the target, so the message says which
   path could not be written.
3. JSON read from a file goes through :func:`loads_json`: a document nested
   too deeply for Python's parser (which raises RecursionError, shown as a
   crash) or not JSON at all is a ValueError naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: Path) -> None:
    """Persist a rename in `directory` (best effort: not every platform allows it)."""
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


def _named(exc: OSError, target: Path) -> OSError:
    """Rule 2: the same error, naming the target when the system named nothing."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(target))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, text: bool = False,
                  newline: str | None = None) -> Iterator[IO[Any]]:
    """A file object whose content replaces `path` when the block ends (rule 1).

    Text mode writes UTF-8. The folder must exist. The file gets the permissions
    a plain ``open()`` would give (mkstemp's 0600 would hide it from the group).
    """
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
    except OSError as exc:
        raise _named(exc, target) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        handle: IO[Any] = (os.fdopen(fd, "w", encoding="utf-8", newline=newline) if text
                           else os.fdopen(fd, "wb"))
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise _named(exc, target) from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Replace `path` with `data` (bytes, or text written as UTF-8) atomically."""
    with atomic_output(path, text=isinstance(data, str)) as handle:
        handle.write(data)
    return Path(path)


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line and flush it to disk; an error names the file (rule 2)."""
    target = Path(path)
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line if line.endswith("\n") else line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise _named(exc, target) from exc


def loads_json(text: str | bytes, where: str) -> Any:
    """``json.loads`` for file content (rule 3); ValueError names `where`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{where}: the JSON is nested too deeply to read; it was not "
                         f"written by phyff") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: not valid JSON ({exc})") from None


__all__ = ["append_line", "atomic_output", "fsync_dir", "loads_json",
           "write_atomic"]
