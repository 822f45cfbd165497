"""Latency and throughput of a target, printed (run with -s); nothing is asserted on time.

Figures depend on the machine and the link; they are here so a run on real
hardware, QEMU or the emulator can be compared at a glance, not to pass or
fail a build.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from targets import Target

from phyff.board.client import Board
from phyff.protocol.wire import Cmd


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def test_latency_and_throughput(board: Board, target: Target) -> None:
    hello = timings(lambda: board.link.request(Cmd.HELLO), 30)
    one = np.full((1, board.n_drive), 12000, dtype=np.int16)
    single = timings(lambda: board.query(one), 30)
    full = np.random.default_rng(0).integers(0, 32768, (board.max_batch, board.n_drive),
                                             dtype=np.int16)
    frames = timings(lambda: board.query(full), 10)
    per_frame = statistics.median(frames)
    bytes_per_frame = 2 * board.max_batch * (board.n_drive + board.n_sense)
    print(f"\n[{target.name}] {board.caps.board} {board.caps.medium} "
          f"{board.n_drive}x{board.n_sense}: "
          f"HELLO round trip {statistics.median(hello) * 1e3:.2f} ms (median of 30), "
          f"1-sample QUERY {statistics.median(single) * 1e3:.2f} ms, "
          f"{board.max_batch}-sample QUERY {per_frame * 1e3:.1f} ms = "
          f"{board.max_batch / per_frame:,.0f} samples/s "
          f"({bytes_per_frame / per_frame / 1e3:.1f} kB/s of sample data)")
    assert board.stats().error_replies == 0
