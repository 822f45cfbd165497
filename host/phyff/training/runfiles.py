"""The files of a run directory, and keeping them consistent under interruption.

A run directory holds:
  config.json      the TrainConfig of the run (human-readable)
  metrics.jsonl    one JSON object per completed epoch
  checkpoint.npz   model + optimiser + generator state after the last epoch
  model.npz        the final model (written at the end)
  goodness.npz     test-set goodness and confusion matrix (written at the end)

The metrics line of an epoch is written before its checkpoint, and Ctrl-C is
held back while both are written, so after an interruption the checkpoint and
the metrics agree; `truncate_metrics` repairs the rare disagreement left by a
hard kill.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.npz"
MODEL_FILE = "model.npz"
GOODNESS_FILE = "goodness.npz"


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record and flush it to disk."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All complete records of a metrics file (a torn last line is skipped)."""
    records = []
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_metrics(path: Path, last_epoch: int) -> list[dict[str, Any]]:
    """Keep only records of epochs <= last_epoch (the checkpoint's); returns them."""
    kept = [r for r in read_metrics(path) if int(r.get("epoch", 0)) <= last_epoch]
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
    return kept


def write_text_atomic(path: Path, text: str) -> None:
    """Replace a small text file atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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
