"""The emulated board's port (firmware/ports/host/host_port.h), checked directly.

Where the core's link bytes go when the host does not read them, how the
measuring time of a board without a real medium is counted, and that the
host's threads never make two port functions run at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from phyff._native import ffi, lib
from phyff.board.client import Board
from phyff.board.link import Link
from phyff.emulator import EmulatedDevice
from phyff.emulator.transport import DirectTransport
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Header, QueryHead


def _host_board(out_cap: int) -> tuple[Any, Any, list[Any]]:
    """A bare host-port board (no medium callback is reached by HELLO or the
    reset event) whose link buffer holds out_cap bytes."""
    keep = [ffi.new("char[]", b"test"), ffi.new("char[]", b"none")]
    desc = ffi.new("struct phyff_board_desc *", {
        "board": keep[0], "medium": keep[1], "unit_id": 1, "features": 0, "n_drive": 1,
        "n_sense": 1, "dac_bits": 12, "adc_bits": 12, "max_oversample": 1})
    out = ffi.new("uint8_t[]", out_cap)
    board = ffi.new("struct phyff_host_board *")
    assert lib.phyff_host_init(board, ffi.NULL, out, out_cap, 1, 0, desc) == lib.PHYFF_OK
    keep.append(desc)
    return board, out, keep


def test_link_bytes_arrive_in_order_and_what_does_not_fit_is_counted() -> None:
    """HOST-H1 (the host port's link_write, PORT-R1): bytes are appended in
    order; past the buffer's end they are dropped and counted."""
    roomy, roomy_out, _keep1 = _host_board(256)
    lib.phyff_host_announce(roomy)
    event = bytes(ffi.buffer(roomy_out, roomy.out_len))
    header, _ = wire.decode_frame(event[:-1])
    assert header.cmd == Cmd.EVENT and event.endswith(b"\0")

    small, small_out, _keep2 = _host_board(40)
    for _ in range(3):
        lib.phyff_host_announce(small)
    stream = event * 3
    assert small.out_len == 40
    assert bytes(ffi.buffer(small_out, small.out_len)) == stream[:40]
    assert small.out_dropped == len(stream) - 40


@pytest.mark.parametrize("batch", [1, 0], ids=["batch", "per-sample"])
def test_measuring_time_is_virtual_settle_and_reads(batch: int) -> None:
    """HOST-H3: delay_us and every read add to virtual_us (PORT-R4: a settle
    wait is the board's time, not the host's), alike on both measuring paths."""
    url = f"emu://acoustic?seed=3&noise=0&batch={batch}"
    device = EmulatedDevice(url)
    board = Board(Link(DirectTransport(device), timeout=0.5), url=url)  # type: ignore[arg-type]
    board.configure(settle_us=250, oversample=3)
    before = device.virtual_seconds
    board.query_float(np.full((7, board.n_drive), 0.5))
    per_read_us = 10  # phyff_host_init's us_per_sample
    assert device.virtual_seconds - before == pytest.approx(7 * (250 + 3 * per_read_us) * 1e-6)


def test_port_functions_never_run_concurrently() -> None:
    """PORT-R5: whatever threads feed the emulated board, its medium is never
    measured by two port calls at once."""
    device = EmulatedDevice("emu://acoustic?seed=3&noise=0")
    guard = threading.Lock()
    running = [0, 0]  # now, most at once
    measure = device.frontend.measure

    def watched(codes: np.ndarray, oversample: int) -> np.ndarray:
        with guard:
            running[0] += 1
            running[1] = max(running)
        time.sleep(0.001)  # a window any concurrent call would fall into
        try:
            return measure(codes, oversample)
        finally:
            with guard:
                running[0] -= 1

    device.frontend.measure = watched  # type: ignore[method-assign]
    n_drive = int(device.medium.n_in)
    device.read_all()  # the start-up event

    def client(k: int) -> None:
        x = np.full((2, n_drive), 1000 * (k + 1), dtype=np.int16)
        payload = QueryHead(2, n_drive).pack() + wire.pack_samples(x)
        for seq in range(1, 11):
            device.write(wire.encode_frame(Header(cmd=Cmd.QUERY, seq=seq), payload))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    replies = [wire.decode_frame(body) for body in device.read_all().split(b"\0")[:-1]]
    assert len(replies) == 40 and not any(h.is_error for h, _ in replies)
    assert running[1] == 1
