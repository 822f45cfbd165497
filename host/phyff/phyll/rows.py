"""Physical layers wider than the board: one block input driven as several device rows.

A dev board has a few drive channels (an Uno 4, a Nucleo 2); a problem has
as many inputs as it has features (and label slots). A block whose drive
vector is wider than the board's D active drive channels is driven as R
rows of D values, each row one device query; the block's physical output is
the R x S readings concatenated in row order. The medium thus acts on every
input, a few at a time, and the digital map after it sees all R x S readings
(time-multiplexing, as in single-node reservoir computing, with a memoryless
medium).

Which drive entry goes to which (row, channel) is a fixed per-model slot map
(`RowPlan.slots`, saved with the model); layouts:

- ``split``: entries in order, row after row; slots past the end wrap around
  to the first entries again (so R above the minimum repeats inputs);
- ``permute``: a fixed random permutation of the entries, then another, and
  so on until the R x D slots are full, so with R above the minimum every
  row after the first pass meets the inputs in new company.

Rules:

1. R >= ceil(W / D) for a drive vector of W entries: every entry is driven
   at least once; R <= MAX_ROWS;
2. with label slots, no row may hold label entries and no feature entry (the
   physics must see a label together with the data); ``permute`` draws again
   (a bounded number of times, seeded) until no row does, ``split`` refuses;
3. a slot map of one row that is the identity is the plain single-row block:
   `RowPlan.gather` is then not needed and the block behaves exactly as a
   block without rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROW_LAYOUTS: tuple[str, ...] = ("permute", "split")
MAX_ROWS = 64  # device rows per sample and block (an on-device model's limit too)
_REDRAWS = 100


def min_rows(drive_width: int, channels: int) -> int:
    """The fewest rows of `channels` drive values holding `drive_width` entries."""
    return max(1, math.ceil(drive_width / channels))


def check_rows(rows: int, drive_width: int, channels: int, what: str = "the block") -> None:
    """Rule 1, with errors that name the numbers."""
    need = min_rows(drive_width, channels)
    if rows < need:
        raise ValueError(
            f"{rows} rows are too few for {what}: its {drive_width} drive values need at "
            f"least ceil({drive_width} / {channels} drive channels) = {need} rows; set "
            f"--rows {need} or more (or leave it unset: the fewest that fit)")
    if rows > MAX_ROWS:
        raise ValueError(
            f"{rows} rows per sample is more than the {MAX_ROWS} a model may use (one sample "
            f"would take {rows} device queries per block); set --rows from {need} to {MAX_ROWS}")


@dataclass(frozen=True)
class RowPlan:
    """How one block's drive vector (W entries) is laid over `rows` rows of `channels`."""

    rows: int
    channels: int
    slots: np.ndarray  # (rows * channels,) drive entry of each (row, channel), row-major

    @property
    def is_plain(self) -> bool:
        """Rule 3: one row, entries in order."""
        return self.rows == 1 and bool(np.array_equal(self.slots, np.arange(self.channels)))

    def gather(self, drive: np.ndarray) -> np.ndarray:
        """Drive (N, W) -> device rows (N * rows, channels), sample-major, rows in order."""
        n = len(drive)
        return np.ascontiguousarray(drive[:, self.slots].reshape(n * self.rows, self.channels))

    def sensed(self, readings: np.ndarray, n: int) -> np.ndarray:
        """Readings (N * rows, S) -> the block's physical output (N, rows * S)."""
        return readings.reshape(n, -1)


def make_plan(layout: str, drive_width: int, channels: int, rows: int,
              rng: np.random.Generator, kinds: np.ndarray | None = None) -> RowPlan:
    """The slot map of `layout` (see the module docstring).

    kinds: per drive entry 0 = zero/spare, 1 = label, 2 = feature (block 0 with
    label slots; rule 2), or None for inputs without labels.
    """
    if layout not in ROW_LAYOUTS:
        raise ValueError(f"row layout must be one of {', '.join(ROW_LAYOUTS)}, got {layout!r}")
    check_rows(rows, drive_width, channels)
    total = rows * channels
    if rows == 1 and drive_width == channels and layout == "split":
        return RowPlan(1, channels, np.arange(channels))
    for _ in range(_REDRAWS if layout == "permute" else 1):
        if layout == "split":
            slots = np.arange(total) % drive_width
        else:
            parts = [rng.permutation(drive_width) for _ in range(-(-total // drive_width))]
            slots = np.concatenate(parts)[:total]
        bad = _label_alone(slots, channels, kinds)
        if bad is None:
            return RowPlan(rows, channels, slots.astype(np.int64))
    raise ValueError(
        f"the {layout} row layout puts label slots alone in row {bad} (no feature beside "
        f"them: the physics would never see a label with the data); use --labels add (a "
        f"superposed label that costs no drive channel) or --row-layout permute")


def _label_alone(slots: np.ndarray, channels: int, kinds: np.ndarray | None) -> int | None:
    """The first row holding a label entry and no feature entry (rule 2), or None."""
    if kinds is None:
        return None
    per_row = kinds[slots].reshape(-1, channels)
    alone = (per_row == 1).any(axis=1) & ~(per_row == 2).any(axis=1)
    return int(np.argmax(alone)) if alone.any() else None
