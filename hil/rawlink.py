"""Raw frames to and from a board, for tests the Board class would hide.

phyff.board.link.Link retries damaged requests and turns ERROR replies into
exceptions; conformance tests need to see exactly what the board sent back,
to malformed input too. RawLink writes whatever bytes it is given and hands
back every frame the board answers, decoded but not interpreted.
"""

from __future__ import annotations

import time

from phyff.board.link import Transport
from phyff.board.transports import open_transport
from phyff.emulator.transport import DirectTransport
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Deframer, ErrorRecord, Header


class RawLink:
    """Bytes out, decoded frames in; events are kept apart in ``events``."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.transport: Transport = open_transport(url, timeout=timeout)
        self.timeout = timeout
        self.deframer = Deframer()
        self.pending: list[tuple[Header, bytes]] = []
        self.events: list[tuple[Header, bytes]] = []
        self.seq = 0

    def close(self) -> None:
        self.transport.close()

    def next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    def _pump(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        self.transport.timeout = min(remaining, 0.05)
        waiting = self.transport.in_waiting
        data = self.transport.read(waiting if waiting > 0 else 1)
        if not data and isinstance(self.transport, DirectTransport):
            time.sleep(0.001)  # the in-process board has nothing more to say
        for body in self.deframer.feed(data):
            header, payload = wire.decode_frame(body)  # a board must never send garbage
            (self.events if header.is_event else self.pending).append((header, payload))

    def frames(self, wait: float) -> list[tuple[Header, bytes]]:
        """Every non-event frame that arrives within `wait` seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self._pump(deadline)
        out, self.pending = self.pending, []
        return out

    def reply(self, timeout: float | None = None) -> tuple[Header, bytes]:
        """The next non-event frame; AssertionError if none comes in time."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.pending and time.monotonic() < deadline:
            self._pump(deadline)
        assert self.pending, "the board did not answer"
        return self.pending.pop(0)

    def request(self, cmd: int, payload: bytes = b"", *, seq: int | None = None,
                level: int = wire.PROTOCOL_LEVEL, flags: int = 0,
                timeout: float | None = None) -> tuple[Header, bytes]:
        """Send one well-formed frame and return the board's reply to it."""
        seq = self.next_seq() if seq is None else seq
        self.send(wire.encode_frame(Header(cmd=cmd, seq=seq, level=level, flags=flags),
                                    payload))
        return self.reply(timeout)

    def error(self, cmd: int, payload: bytes = b"", **kw: int) -> tuple[Header, ErrorRecord]:
        """Send a request that must be refused; return the ERROR reply's header and record."""
        header, body = self.request(cmd, payload, **kw)
        assert header.is_error and header.is_reply, f"expected an ERROR reply, got {header}"
        return header, ErrorRecord.unpack(body)

    def sync(self, within: float = 6.0) -> None:
        """Flush the board's receive buffer and wait for HELLO: a known state to start from.

        A board that resets when its port is opened (a Uno, the simulated one with
        its bootloader) runs its bootloader first, which swallows the first
        request: HELLO is asked again when the board announces its start or after
        a second without a reply, until ``within`` seconds have passed.
        """
        deadline = time.monotonic() + within
        while True:
            self.send(wire.DELIMITER)
            seq = self.next_seq()
            self.send(wire.encode_frame(Header(cmd=Cmd.HELLO, seq=seq)))
            started = len(self.events)
            until = min(deadline, time.monotonic() + 1.0)
            while time.monotonic() < until and len(self.events) == started:
                self._pump(until)
                if any(h.cmd == Cmd.HELLO and h.seq == seq for h, _ in self.pending):
                    self.pending.clear()
                    return
            assert time.monotonic() < deadline, "the board did not answer HELLO"
