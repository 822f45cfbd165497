"""First contact with a board that resets when its port is opened: the open/close soak.

Run: ``python -m phyff.perf.autoreset [--opens 100] [--url socket://...]`` (or
``make bench-autoreset``). Without --url it starts the simulated Uno with
optiboot and its DTR-like auto-reset (``phyff emulate --simavr``'s default).

Each round opens the port (which resets the board: its bootloader runs
first), performs phyff's handshake as :class:`~phyff.board.client.Board`
does it (HELLO; the board's start-up event means "ask again") and closes
the port. Reported: how many rounds got their HELLO reply, and the median,
90th percentile and worst wall time from opening the port to that reply.

For comparison, a real Uno's optiboot flashes its LED for about 0.4 s and
then listens for an upload for about 1 s before it starts the sketch: a
host that waits for the sketch's start-up message, as Firmata clients do,
waits about 1.4 s. phyff does not wait: its first byte is no STK500
command, so optiboot starts the sketch 16 ms after reading it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field

from phyff.board.link import BoardResetDetected, Link, LinkError
from phyff.board.transports import open_transport
from phyff.protocol.wire import Cmd


@dataclass
class SoakResult:
    opens: int
    seconds: list[float] = field(default_factory=list)  # open -> HELLO reply, per success
    failures: list[str] = field(default_factory=list)
    bad_frames: int = 0  # bytes that were no frame (a bootloader's), over all rounds

    @property
    def handshakes(self) -> int:
        return len(self.seconds)

    def summary(self) -> str:
        if not self.seconds:
            return f"0/{self.opens} handshakes: {self.failures[:1]}"
        s = sorted(self.seconds)
        p90 = s[min(len(s) - 1, int(0.9 * len(s)))]
        return (f"{self.handshakes}/{self.opens} handshakes; open -> first HELLO reply: median "
                f"{1e3 * statistics.median(s):.0f} ms, 90th percentile {1e3 * p90:.0f} ms, "
                f"worst {1e3 * s[-1]:.0f} ms; {self.bad_frames} non-frame bursts dropped")


def first_hello(url: str, *, timeout: float = 2.0, retries: int = 3) -> tuple[float, int]:
    """Open url, shake hands as Board does; (seconds to the HELLO reply, bad frames seen)."""
    start = time.monotonic()
    transport = open_transport(url, timeout=timeout)
    try:
        link = Link(transport, timeout=timeout, retries=retries)
        for _ in range(3):
            try:
                link.request(Cmd.HELLO)
                return time.monotonic() - start, link.stats.bad_frames
            except BoardResetDetected:
                continue
        raise LinkError("the board kept restarting during the handshake")
    finally:
        transport.close()


def soak(url: str, opens: int = 100) -> SoakResult:
    result = SoakResult(opens=opens)
    for _ in range(opens):
        try:
            seconds, bad = first_hello(url)
        except LinkError as exc:
            result.failures.append(str(exc))
            continue
        result.seconds.append(seconds)
        result.bad_frames += bad
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phyff.perf.autoreset",
                                     description="open/close soak of a board that resets on "
                                                 "open: handshakes and time to first HELLO")
    parser.add_argument("--opens", type=int, default=100)
    parser.add_argument("--url", help="a board to soak (default: the simulated Uno, optiboot, "
                                      "reset on open)")
    args = parser.parse_args(argv)
    if args.url:
        result = soak(args.url, args.opens)
        where = args.url
    else:
        from phyff.emulator.simavr import SimavrBoard

        with SimavrBoard("emu://acoustic?seed=1", bootloader=True) as board:
            result = soak(board.url, args.opens)
        where = "the simulated Uno (optiboot, reset on open)"
    print(f"{where}: {result.summary()}")
    print("a real Uno's optiboot: ~0.4 s of LED flashes, then ~1 s listening before the sketch "
          "starts (a host waiting for the sketch waits ~1.4 s)")
    for failure in result.failures[:5]:
        print(f"  failed: {failure}")
    return 0 if result.handshakes == result.opens else 1


if __name__ == "__main__":
    raise SystemExit(main())
