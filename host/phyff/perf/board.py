"""Figures for boards: samples per second for 20 -> 20 queries, and wire overhead.

Run: ``python -m phyff.perf.board``. One run, three ways to reach the
same emulated board (in process, a pty through pyserial, TCP through
pyserial), so the ratios compare within the run. The medium's own cost is
printed too, so the protocol's share is visible.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from phyff.board.client import Board
from phyff.emulator import EmulatedDevice
from phyff.emulator.server import PtyServer, TcpServer
from phyff.media import make_medium
from phyff.protocol import wire


@contextmanager
def served(make: Callable[[EmulatedDevice], PtyServer | TcpServer], url: str) -> Iterator[str]:
    server = make(EmulatedDevice(url))
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, kwargs={"should_stop": stop.is_set},
                              daemon=True)
    thread.start()
    try:
        yield server.path if isinstance(server, PtyServer) else server.url
    finally:
        stop.set()
        thread.join(2)
        server.close()


def rate(board: Board, n: int, batch: int, rng: np.random.Generator) -> float:
    """Samples per second for n samples sent in query() calls of `batch` rows."""
    x = rng.random((n, board.n_drive))
    board.query_float(x[:batch])  # warm-up
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        board.query_float(x[start:start + batch])
    return n / (time.perf_counter() - t0)


def overhead(n_samples: int, n_channels: int = 20) -> tuple[float, float]:
    """(request, reply) wire bytes / payload bytes for one QUERY frame.

    Payload bytes are drawn at random: COBS spends one code byte per zero or
    per 254 non-zero bytes, so the content barely matters.
    """
    rng = np.random.default_rng(1)
    req_payload = wire.QUERY_HEAD_SIZE + 2 * n_samples * n_channels
    rep_payload = req_payload + (n_samples + 7) // 8
    header = wire.Header(cmd=wire.Cmd.QUERY)
    req = len(wire.encode_frame(header, rng.bytes(req_payload)))
    rep = len(wire.encode_frame(header, rng.bytes(rep_payload)))
    return req / req_payload, rep / rep_payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--medium", default="acoustic")
    parser.add_argument("--samples", type=int, default=50_000)
    args = parser.parse_args()
    url = f"emu://{args.medium}?seed=1"
    rng = np.random.default_rng(0)
    print(f"phyff board throughput, {args.medium} medium (one run)")

    medium = make_medium(args.medium, seed=1)
    x = rng.random((4096, medium.n_in))
    medium.respond(x[:64])
    t0 = time.perf_counter()
    for start in range(0, len(x), 1024):
        medium.respond(x[start:start + 1024])
    print(f"  medium alone (batches of 1024):   {len(x) / (time.perf_counter() - t0):10.0f} "
          f"samples/s")

    with Board.open(url) as board:
        for batch in (32, 1024, 8192):
            print(f"  in process, query({batch:5d} rows):  "
                  f"{rate(board, args.samples, batch, rng):10.0f} samples/s "
                  f"(frames of {min(batch, board.max_batch)})")
    with served(PtyServer, url) as path, Board.open(path) as board:
        for batch in (32, 1024):
            print(f"  pty + pyserial, query({batch:5d}):   "
                  f"{rate(board, args.samples // 2, batch, rng):10.0f} samples/s")
    with served(TcpServer, url) as tcp_url, Board.open(tcp_url) as board:
        for batch in (32, 1024):
            print(f"  TCP + pyserial, query({batch:5d}):   "
                  f"{rate(board, args.samples // 2, batch, rng):10.0f} samples/s")
    for n in (1, 8, 32, 64, 408):
        req, rep = overhead(n)
        print(f"  wire overhead, {n:3d} samples x 20 ch: request {req:.4f}, reply {rep:.4f} "
              f"(payload share {100 / max(req, rep):.1f} %)")


if __name__ == "__main__":
    main()
