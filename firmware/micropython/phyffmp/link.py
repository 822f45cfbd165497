"""The host link: USB stdio (the REPL's USB CDC serial) or a machine.UART.

A link has ``readinto(buf) -> int`` (waits up to ``poll_ms`` for bytes,
returns how many it put at the start of buf, 0 if none, -1 when the other
end is gone) and ``write(buf, n)`` (sends the first n bytes, all of them).
Neither allocates once built.
"""

import select
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class StdioLink:
    """The console: sys.stdin.buffer / sys.stdout.buffer.

    On a board this is USB CDC (Pico, pyboard) or the USB-UART bridge
    (ESP32). ``nonblocking`` is for a stdin whose file descriptor was made
    non-blocking by whoever started the program (the host launcher does, on
    a pty): then one readinto takes every byte waiting. Otherwise a board's
    stdin blocks until the whole buffer is full, so bytes are taken one at a
    time while poll says more are waiting.
    """

    def __init__(self, poll_ms: int = 50, nonblocking: bool = False) -> None:
        self.inp: Any = sys.stdin.buffer
        self.out: Any = sys.stdout.buffer
        self.poll = select.poll()
        self.poll.register(sys.stdin, select.POLLIN)
        self.out_poll = select.poll()
        self.out_poll.register(sys.stdout, select.POLLOUT)
        self.poll_ms = poll_ms
        self.nonblocking = nonblocking
        self.one = bytearray(1)

    def readinto(self, buf: bytearray) -> int:
        poll = self.poll
        events = poll.poll(self.poll_ms)
        if not events:
            return 0
        if events[0][1] & (select.POLLHUP | select.POLLERR) and not events[0][1] & select.POLLIN:
            return -1
        if self.nonblocking:
            got = self.inp.readinto(buf)
            if got is None:
                return 0
            return got if got > 0 else -1
        one = self.one
        n = 0
        cap = len(buf)
        while n < cap:
            if self.inp.readinto(one) != 1:
                return n if n else -1
            buf[n] = one[0]
            n += 1
            if not poll.poll(0):
                break
        return n

    def write(self, buf: bytearray, n: int) -> None:
        off = 0
        out = self.out
        while off < n:
            done = out.write(buf, off, n - off)
            if done is None:  # a non-blocking stdout is full: wait for room
                self.out_poll.poll(100)
                continue
            off += done


class UartLink:
    """A hardware UART (``machine.UART``), e.g. a USB-serial adapter on GP0/GP1."""

    def __init__(self, uart: "Any", poll_ms: int = 50) -> None:
        self.uart = uart
        self.poll = select.poll()
        self.poll.register(uart, select.POLLIN)
        self.poll_ms = poll_ms

    def readinto(self, buf: bytearray) -> int:
        if not self.poll.poll(self.poll_ms):
            return 0
        waiting = self.uart.any()
        if waiting <= 0:
            return 0
        got = self.uart.readinto(buf, waiting if waiting < len(buf) else len(buf))
        return got if got else 0

    def write(self, buf: bytearray, n: int) -> None:
        off = 0
        while off < n:
            done = self.uart.write(memoryview(buf)[off:n])
            if done:
                off += done
