"""What device queries cost on a board: frame sizes, link time, settle time, turnaround.

On a real board every device query is wall time, and a user should know
before training (and see after) what a run costs. This module projects the
wall time of a number of queries on a board from facts the protocol and the
board state, not from guesses about the host:

1. frame sizes come from the wire protocol (``shared/include/phyff/wire.h``):
   header 8 + payload + CRC 2 bytes, COBS-stuffed (one code byte per 254 and
   one more) and a delimiter; a QUERY carries a 4-byte head and n_drive int16
   per sample, its reply the head, n_sense int16 per sample and a saturation
   bitmap of ceil(n / 8) bytes;
2. samples per frame: the board's max_batch, lowered if max_payload cannot
   hold that many samples in the request or the reply;
3. link time: every byte is 10 bits on a UART (start, 8 data, stop) at the
   baud rate, both directions; a link that is not a UART (an emulator, QEMU's
   virtual serial port, USB CDC at full speed) has no such limit (baud None);
4. board time per sample: the configured settle time plus `oversample` ADC
   reads, plus any fixed per-sample work of the firmware and medium;
5. a fixed turnaround per frame (host and firmware latency);
6. a measure() call of r rows takes ceil(r / batch) frames, so from totals
   the frame count is bounded by calls + queries // batch (the projection
   uses that bound, erring on the slow side by at most one frame per call).

`measure_rate` measures the per-frame turnaround and per-sample time of the
board in use (what `phyff info` prints as samples/s); `LinkModel.measured`
turns that into a model whose projection can be checked against a run.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from phyff.protocol import wire

UART_BITS_PER_BYTE = 10
REFERENCE_BAUDS = (115_200, 921_600)
DEFAULT_TURNAROUND_S = 1e-3  # a USB-serial round trip is about a millisecond
DEFAULT_ADC_READ_S = 10e-6  # one ADC conversion of a microcontroller (~10 us)


def wire_bytes(payload: int) -> int:
    """Bytes on the wire of a frame with this payload (rule 1), delimiter included."""
    return wire.max_frame_size(payload)


def request_bytes(n_samples: int, n_drive: int) -> int:
    """Wire bytes of a QUERY request of n_samples drive vectors."""
    return wire_bytes(wire.QUERY_HEAD_SIZE + 2 * n_samples * n_drive)


def reply_bytes(n_samples: int, n_sense: int) -> int:
    """Wire bytes of a QUERY reply of n_samples readings (saturation bitmap included)."""
    return wire_bytes(wire.QUERY_HEAD_SIZE + 2 * n_samples * n_sense + (n_samples + 7) // 8)


@dataclass(frozen=True)
class BoardFacts:
    """What the projection needs from a board: shapes, frame limits, configuration."""

    n_drive: int
    n_sense: int
    max_batch: int
    max_payload: int
    settle_us: int
    oversample: int

    def __post_init__(self) -> None:
        if min(self.n_drive, self.n_sense, self.max_batch, self.max_payload) < 1:
            raise ValueError(f"board facts must be positive: {self}")

    @classmethod
    def of(cls, board: Any) -> BoardFacts:
        """The facts of an open `phyff.board.client.Board` (its caps and configuration)."""
        c = board.config
        return cls(int(board.n_drive), int(board.n_sense), int(board.caps.max_batch),
                   int(board.caps.max_payload), int(c.settle_us), int(c.oversample))

    @property
    def batch(self) -> int:
        """Samples per QUERY frame (rule 2)."""
        head = wire.QUERY_HEAD_SIZE
        by_request = (self.max_payload - head) // (2 * self.n_drive)
        by_reply = (self.max_payload - head) * 8 // (16 * self.n_sense + 1)
        return max(1, min(self.max_batch, by_request, by_reply))


@dataclass(frozen=True)
class LinkModel:
    """How a board spends time: link speed, per-frame turnaround, per-sample work."""

    baud: float | None  # UART bits/s (10 bits per byte); None: not link-limited
    turnaround_s: float = DEFAULT_TURNAROUND_S
    sample_s: float = 0.0  # fixed work per sample beyond settle and ADC reads
    adc_read_s: float = DEFAULT_ADC_READ_S
    name: str = ""

    @classmethod
    def uart(cls, baud: float) -> LinkModel:
        """A UART board at `baud`, with the default turnaround and ADC read time."""
        return cls(float(baud), name=f"{baud:,.0f}-baud UART board")

    @classmethod
    def measured(cls, rate: MeasuredRate, name: str = "this board (measured)") -> LinkModel:
        """The board as `measure_rate` found it: its turnaround and time per sample.

        The measured per-sample time already holds the link, settle and ADC
        time at the current configuration, so nothing is added for them.
        """
        return cls(None, rate.turnaround_s, rate.sample_s, 0.0, name)


@dataclass(frozen=True)
class Projection:
    """Projected wall time of some device queries on one board model."""

    name: str
    queries: int
    frames: int
    bytes: int
    link_s: float
    board_s: float
    turnaround_s: float

    @property
    def seconds(self) -> float:
        return self.link_s + self.board_s + self.turnaround_s

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = self.seconds
        return out

    def text(self) -> str:
        return f"{format_seconds(self.seconds)} on a {self.name}" if "board" in self.name \
            else f"{format_seconds(self.seconds)} on {self.name}"


def project(queries: int, calls: int, facts: BoardFacts, link: LinkModel) -> Projection:
    """Wall time of `queries` rows sent in `calls` measure() calls (rules 1-6)."""
    if queries < 0 or calls < 0:
        raise ValueError(f"queries and calls must be >= 0, got {queries} and {calls}")
    b = facts.batch
    frames = max(math.ceil(queries / b), min(queries, queries // b + calls))
    # Per frame: the empty request and reply; per sample: the int16 values and a
    # bitmap bit (rounded up per frame: at most a byte more per frame, ignored);
    # COBS adds one byte per 254 stuffed bytes.
    data = queries * 2 * (facts.n_drive + facts.n_sense) + math.ceil(queries / 8)
    size = (frames * (request_bytes(0, facts.n_drive) + reply_bytes(0, facts.n_sense))
            + data + data // 254)
    link_s = 0.0 if link.baud is None else size * UART_BITS_PER_BYTE / link.baud
    per_sample = facts.settle_us * 1e-6 + facts.oversample * link.adc_read_s + link.sample_s
    if link.baud is None and link.adc_read_s == 0.0:
        per_sample = link.sample_s  # measured: settle and ADC time are inside sample_s
    return Projection(link.name, int(queries), int(frames), int(size), link_s,
                      queries * per_sample, frames * link.turnaround_s)


def format_seconds(s: float) -> str:
    """Human wall time: 850 ms, 12.3 s, 4.2 min, 3.7 h."""
    if s < 1:
        return f"{1e3 * s:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def is_emulated(board: Any) -> bool:
    """True for an in-process emulated board (emu:// URLs), whose time says nothing real."""
    return str(getattr(board, "url", "")).startswith("emu:")


def shape_facts(facts: BoardFacts, shape: Any) -> tuple[BoardFacts, LinkModel]:
    """The facts and link of the real board an emulated board is shaped like
    (`phyff.emulator.shapes.BoardShape`): its frame limit, settle time and baud rate."""
    real = BoardFacts(facts.n_drive, facts.n_sense, facts.max_batch, int(shape.max_payload),
                      int(shape.settle_us), facts.oversample)
    link = LinkModel(float(shape.baud), name=f"real {shape.title} ({shape.baud:,} baud"
                     + (f", settle {shape.settle_us / 1000:g} ms)" if shape.settle_us else ")"))
    return real, link


def projections(queries: int, calls: int, facts: BoardFacts, *, baud: float | None,
                emulated: bool, rate: MeasuredRate | None = None,
                shape: Any = None) -> list[Projection]:
    """The projections a command prints: the board in use, and for emulated boards two UARTs
    (or, for a board shaped like a real one, that real board).

    baud: the serial baud rate the board was opened with (a real board's link);
    rate: a measurement of the board in use, when one was made;
    shape: the real board an emulated board is shaped like (`phyff.emulator.shapes`).
    """
    out = []
    if rate is not None:
        out.append(project(queries, calls, facts, LinkModel.measured(rate)))
    if emulated and shape is not None:
        out.append(project(queries, calls, *shape_facts(facts, shape)))
    elif emulated:
        out += [project(queries, calls, facts, LinkModel.uart(b)) for b in REFERENCE_BAUDS]
    elif baud:
        out.append(project(queries, calls, facts, LinkModel.uart(baud)))
    return out


# ---- measuring the board in use -------------------------------------------------


@dataclass(frozen=True)
class MeasuredRate:
    """Per-frame turnaround and per-sample time of a board, from timed QUERY frames."""

    turnaround_s: float
    sample_s: float
    batch: int

    @property
    def samples_per_s(self) -> float:
        """Throughput with full frames."""
        return self.batch / (self.turnaround_s + self.batch * self.sample_s)

    def as_dict(self) -> dict[str, float]:
        return {"turnaround_s": self.turnaround_s, "sample_s": self.sample_s,
                "batch": self.batch, "samples_per_s": self.samples_per_s}


def measure_rate(board: Any, repeats: int = 3, level: float = 0.5) -> MeasuredRate:
    """Time 1-sample and full frames on `board` (2 x repeats frames) and fit t = a + b n.

    The drive is a constant `level` on every channel (harmless for any medium).
    Medians over repeats keep one slow frame from skewing the fit.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    facts = BoardFacts.of(board)
    big = facts.batch
    times: dict[int, list[float]] = {1: [], big: []}
    for n in (1, big):
        drive = np.full((n, facts.n_drive), level)
        for _ in range(repeats):
            t0 = time.perf_counter()
            board.query_float(drive)
            times[n].append(time.perf_counter() - t0)
    t1, tb = statistics.median(times[1]), statistics.median(times[big])
    per_sample = max(0.0, (tb - t1) / (big - 1)) if big > 1 else 0.0
    turnaround = max(0.0, t1 - per_sample)
    return MeasuredRate(turnaround, per_sample, big)
