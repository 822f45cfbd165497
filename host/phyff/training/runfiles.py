"""The files of a run directory, and keeping them consistent under interruption.

A run directory holds:
  config.json      the TrainConfig of the run (human-readable)
  metrics.jsonl    one JSON object per completed epoch
  checkpoint.npz   model + optimiser + generator state after the last epoch
  model.npz        the final model (written at the end)
  goodness.npz     test-set goodness and confusion matrix (written at the end)
  cache.npz        the layer-wise schedule's measurement caches (for resume)

The metrics line of an epoch is written before its checkpoint, and Ctrl-C is
held back while both are written, so after an interruption the checkpoint and
the metrics agree; `truncate_metrics` repairs the rare disagreement left by a
hard kill.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from phyff._fileio import append_line, write_atomic

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.npz"
MODEL_FILE = "model.npz"
GOODNESS_FILE = "goodness.npz"
CACHE_FILE = "cache.npz"  # the layer-wise schedule's measurements
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, MODEL_FILE, GOODNESS_FILE, CACHE_FILE)
LOCK_FILE = ".lock"


class RunInUse(ValueError):
    """Another process is writing to this run directory."""


def check_run_path(run: Path) -> None:
    """A run directory must be named, and must not be a file."""
    if not str(run).strip() or str(run) in (".", "./"):
        raise ValueError("the run directory name is empty; give --run DIR (a new folder)")
    if run.exists() and not run.is_dir():
        raise ValueError(f"{run} is a file, not a run directory; choose another --run")


def existing_run_files(run: Path) -> list[str]:
    """The run files already in `run` (what a new run would overwrite)."""
    return [name for name in RUN_FILES if (run / name).exists()]


def remove_run_files(run: Path) -> None:
    """Delete a previous run's files (--overwrite); other files are left alone."""
    for name in RUN_FILES:
        (run / name).unlink(missing_ok=True)


def remove_stale_temporaries(run: Path) -> list[Path]:
    """Delete temporaries that a killed save left behind (only call while holding the lock)."""
    stale = [p for p in run.glob(".*.tmp")
             if any(p.name.startswith(f".{name}") for name in RUN_FILES)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


@contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """Hold the run directory for this process; a second writer is refused at once.

    An advisory lock (flock) on `run/.lock`: the kernel drops it when the
    process ends in any way, so a killed run never leaves the directory locked.
    """
    path = run / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunInUse(
                f"{run} is being written by another phyff process (pid {holder}); wait for it "
                f"to finish, stop it, or choose another --run"
            ) from None
        # The holder before us removes the file as it leaves: a lock taken on the
        # removed file locks nothing, so take the one now at the path instead.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still held: no stale .lock is left behind
        os.close(fd)  # closing releases the lock


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record and flush it to disk."""
    append_line(path, json.dumps(record, sort_keys=True))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All complete records of a metrics file (a torn last line is skipped)."""
    records: list[dict[str, Any]] = []
    if not path.is_file():
        return records
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        except RecursionError:
            raise ValueError(f"{path} line {number}: nested too deeply to read; {_EDITED}"
                             ) from None
        if isinstance(record, dict) and isinstance(record.get("epoch"), int):
            _check_record(record, f"{path} line {number}")
            records.append(record)
    return records


_EDITED = "the file was edited or damaged: fix or delete that line"
ACCURACY_FIELDS = ("train_acc", "test_acc", "cached_train_acc", "subset_acc")
NUMBER_FIELDS = ("loss", "separation")  # NaN allowed: a block that trained nothing


def _check_record(record: dict[str, Any], where: str) -> None:
    """A metrics record's figures are what phyff writes: numbers, accuracies in [0, 1]
    or null (plotting 5.0 as 500 %, or text, would be a silent wrong result)."""
    for name in NUMBER_FIELDS:
        if name not in record:
            continue
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: {name} {value!r} is not a number; {_EDITED}")
    for name in ACCURACY_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}: {name} {value!r} is not an accuracy in [0, 1]; "
                             f"{_EDITED}")


def truncate_metrics(path: Path, last_epoch: int) -> list[dict[str, Any]]:
    """Keep only records of epochs <= last_epoch (the checkpoint's); returns them."""
    kept = [r for r in read_metrics(path) if int(r.get("epoch", 0)) <= last_epoch]
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
    return kept


def write_text_atomic(path: Path, text: str) -> None:
    """Replace a small text file atomically (phyff._fileio.write_atomic)."""
    write_atomic(path, text)


@contextmanager
def defer_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C inside the block and deliver it right after.

    Only the main thread receives signals, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
