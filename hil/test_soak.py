"""Long runs: many samples without a single error, and byte-identical to the emulator.

A target that simulates its medium (emu, pty, qemu...) is started fresh with
the same spec as an in-process emulator, and both get the same request
frames; every reply must be the same bytes. This is what makes the emulator
a faithful stand-in for the firmware: same core, same conversions, same
medium, and a port that adds nothing of its own. A real board is only
checked for errors and counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from rawlink import RawLink
from targets import Target

from phyff.emulator import parse_emu_url
from phyff.protocol import wire
from phyff.protocol.wire import Caps, Cmd, Config, QueryHead, Stats

# One drive and one sense channel: the most samples per byte on slow links
# (QEMU moves about 30 kB/s), still the full path through medium and core.
SOAK_SPEC = "emu://acoustic?seed=77&n_in=1&n_out=1"
CHECK_SPEC = "emu://acoustic?seed=5&n_in=6&n_out=4"


@contextmanager
def fresh_pair(target: Target, url: str) -> Iterator[tuple[RawLink, RawLink | None]]:
    """Raw links to a freshly started target and, if it is emulated, to an
    in-process emulator of the same spec (None for a real board)."""
    spec = parse_emu_url(url)
    with target.open(spec) as board_url:
        board = RawLink(board_url)
        reference = RawLink(target.fit(spec).url()) if target.emulated else None
        try:
            board.sync()
            if reference is not None:
                reference.sync()
            yield board, reference
        finally:
            board.close()
            if reference is not None:
                reference.close()


def both(board: RawLink, reference: RawLink | None, cmd: int, payload: bytes = b"") -> bytes:
    """The same request to both; the replies must be identical, header included."""
    seq = board.next_seq()
    header, reply = board.request(cmd, payload, seq=seq)
    assert not header.is_error, f"{Cmd(cmd).name} refused: {wire.ErrorRecord.unpack(reply)}"
    if reference is not None:
        ref_header, ref_reply = reference.request(cmd, payload, seq=seq)
        assert (header, reply) == (ref_header, ref_reply), (
            f"{Cmd(cmd).name} reply differs from the emulator's:\n{reply.hex()}\n"
            f"{ref_reply.hex()}")
    return reply


def drive(rng: np.random.Generator, n: int, n_drive: int) -> bytes:
    values = rng.integers(0, 32768, size=(n, n_drive), dtype=np.int16)
    return QueryHead(n, n_drive).pack() + wire.pack_samples(values)


def test_replies_match_the_emulator_byte_for_byte(target: Target) -> None:
    if not target.emulated:
        pytest.skip(f"target {target.name} has a physical medium: nothing to compare with")
    with fresh_pair(target, CHECK_SPEC) as (board, reference):
        caps = Caps.unpack(board.request(Cmd.HELLO)[1])
        rng = np.random.default_rng(3)
        for n in (1, 2, 7, 8, 9, caps.max_batch):
            both(board, reference, Cmd.QUERY, drive(rng, n, caps.n_drive))
        for config in (Config(0, 4, caps.n_drive, caps.n_sense),
                       Config(0, 1, 2, 3), Config(100, 7, 1, 1)):
            if config.oversample > 1 or config.n_drive_active < caps.n_drive:
                both(board, reference, Cmd.CONFIGURE, config.pack())
            for n in (1, 5, 33):  # within the board's frame limit (the Uno's is 15)
                n = min(n, caps.max_batch)
                both(board, reference, Cmd.QUERY, drive(rng, n, config.n_drive_active))
        # saturation: negative drives and full-scale readings flagged alike
        both(board, reference, Cmd.CONFIGURE, Config(0, 1, caps.n_drive, caps.n_sense).pack())
        rows = min(16, caps.max_batch)
        extreme = np.full((rows, caps.n_drive), 32767, dtype=np.int16)
        extreme[::3] = -1
        both(board, reference, Cmd.QUERY,
             QueryHead(rows, caps.n_drive).pack() + wire.pack_samples(extreme))


def test_soak(target: Target, request: pytest.FixtureRequest) -> None:
    option = request.config.getoption("--soak-samples")
    total = int(option) if option is not None else target.soak_samples
    with fresh_pair(target, SOAK_SPEC) as (board, reference):
        caps = Caps.unpack(board.request(Cmd.HELLO)[1])
        before = Stats.unpack(board.request(Cmd.STATS)[1])
        rng = np.random.default_rng(11)
        done = frames = 0
        t0 = time.perf_counter()
        while done < total:
            n = min(caps.max_batch, total - done)
            reply = both(board, reference, Cmd.QUERY, drive(rng, n, caps.n_drive))
            assert QueryHead.unpack(reply).n_samples == n
            done += n
            frames += 1
        seconds = time.perf_counter() - t0
        after = Stats.unpack(board.request(Cmd.STATS)[1])
    assert after.samples_served - before.samples_served == total
    assert after.frames_ok - before.frames_ok == frames + 1  # + the STATS itself
    for counter in ("crc_errors", "framing_errors", "bad_commands", "overruns", "error_replies"):
        assert getattr(after, counter) == getattr(before, counter), counter
    checked = "byte-identical to the emulator" if reference is not None else "no errors"
    print(f"\n[{target.name}] soak: {total} samples in {frames} frames, {seconds:.1f} s "
          f"({total / seconds:,.0f} samples/s), {checked}")
