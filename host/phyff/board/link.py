"""The host end of the serial link: frames, deadlines, resync and retries.

A :class:`Link` turns "send this command, get its reply" into bytes on any
pyserial-like transport (a real port, ``socket://``, ``emu://``, a pty, or
the in-process emulator). Rules it enforces (wire.h C1-C5, F3, E1-E2):

- every read has a deadline; a request without a valid reply by then is
  sent again with the SAME sequence number, up to ``retries`` times, then
  :class:`LinkTimeout` is raised;
- a reply counts only if its CRC is good and its seq and cmd match the
  request; anything else (stale replies, noise) is dropped and counted;
- requests are numbered 1..255 (seq 0 marks the board's own frames, C4);
- a framing-error notice from the board (ERROR, seq 0, cmd NONE) answers no
  request: it may be about our request or about noise or a fragment our
  flush ended, and replies come in order, so the link keeps reading for
  its reply a little longer (``damage_grace``) and then retries with the
  same seq (F3, C3). A reply that fails its own CRC is retried at once;
- the reset event that follows a RESET reply (E1) is consumed with it;
  any other "board reset" event raises :class:`BoardResetDetected` so the
  caller can redo its handshake and configuration;
- a lone 0x00 is sent before the first request and after any trouble, so a
  half-received frame in the board's buffer is flushed (wire.h C5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Deframer, ErrorRecord, Event, EventId, Flag, Header, Status

_DRAIN = 1 << 16  # bytes asked for when draining what has already arrived


class Transport(Protocol):
    """The part of pyserial's Serial that the link uses."""

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    @property
    def in_waiting(self) -> int: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


class LinkError(Exception):
    """Base class of link failures."""


class LinkTimeout(LinkError):
    """No valid reply within the deadline, after every retry."""


class BoardResetDetected(LinkError):
    """The board announced a (re)start: its configuration is back to defaults."""


class BoardError(LinkError):
    """The board answered with an ERROR reply."""

    def __init__(self, cmd: int, status: int, arg: int) -> None:
        self.cmd = cmd
        self.status = wire.as_status(status)
        self.arg = arg
        super().__init__(describe_error(cmd, status, arg))


def describe_error(cmd: int, status: int, arg: int) -> str:
    """An ERROR reply in words, with the action to take where there is one."""
    name = wire.status_name(status)
    try:
        cmd_name = Cmd(cmd).name
    except ValueError:
        cmd_name = f"0x{cmd:02x}"
    hints = {
        Status.BATCH_TOO_LARGE: f"the board takes at most {arg} samples per QUERY",
        Status.BAD_CHANNELS: f"the board expects {arg} drive values per sample",
        Status.BAD_CONFIG: f"field at byte offset {arg} of the config was refused",
        Status.BAD_LEVEL: f"the board speaks protocol level {arg}; flash matching firmware",
        Status.UNKNOWN_COMMAND: "the firmware does not serve this command at its level",
        Status.MEDIUM: "the board could not drive or read the medium; check the wiring",
        Status.TOO_LONG: f"the board accepts payloads of at most {arg} bytes",
    }
    hint = hints.get(wire.as_status(status))  # type: ignore[call-overload]
    return f"{cmd_name}: {name}" + (f" ({hint})" if hint else "")


@dataclass
class LinkStats:
    """What the host saw on the line (the board keeps its own, see STATS)."""

    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    bad_frames: int = 0  # replies that failed COBS/CRC/length checks
    stale_replies: int = 0  # valid frames for another seq/cmd
    damaged_requests: int = 0  # board said our request arrived damaged
    resets_seen: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    events: list[int] = field(default_factory=list)


class Link:
    """Request/reply over a byte transport, with deadlines and retries."""

    def __init__(self, transport: Transport, *, timeout: float = 2.0, retries: int = 3,
                 max_payload: int = wire.MAX_PAYLOAD_LIMIT, damage_grace: float = 0.25) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive (seconds)")
        if damage_grace <= 0:
            raise ValueError("damage_grace must be positive (seconds)")
        self.damage_grace = damage_grace
        self._backlog: list[bytes] = []  # frames read past the reply they came with
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.max_payload = max_payload
        self.stats = LinkStats()
        self._deframer = Deframer(max_body=wire.max_frame_size(max_payload))
        self._seq = 0
        self._need_flush = True

    def close(self) -> None:
        self.transport.close()

    def next_seq(self) -> int:
        """1..255: seq 0 is reserved for the board's damaged-frame notices."""
        self._seq = self._seq % 255 + 1
        return self._seq

    def _read_some(self, deadline: float) -> bytes:
        """Wait (until the deadline) for at least one byte, then take all that is there.

        The drain uses a zero timeout: pyserial's ``in_waiting`` is only 0/1
        for sockets, and reading byte by byte costs a system call per byte.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        waiting = self.transport.in_waiting
        if waiting == 0:
            self.transport.timeout = remaining
            data = self.transport.read(1)
            if not data:
                return b""
        else:
            data = b""
        self.transport.timeout = 0
        data += self.transport.read(max(waiting, _DRAIN))
        self.stats.bytes_in += len(data)
        return data

    def _bodies(self, deadline: float) -> list[bytes]:
        """Frame bodies kept from an earlier read, else those of a new read."""
        if self._backlog:
            bodies, self._backlog = self._backlog, []
            return bodies
        return self._deframer.feed(self._read_some(deadline))

    def wait_event(self, timeout: float) -> Event | None:
        """Wait for an unsolicited frame (e.g. the reset announcement)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self._bodies(deadline)
            for i, body in enumerate(bodies):
                try:
                    header, payload = wire.decode_frame(body, self.max_payload)
                except wire.WireError:
                    self.stats.bad_frames += 1
                    continue
                if header.is_event:
                    event = Event.unpack(payload)
                    self.stats.events.append(event.event)
                    self._backlog = bodies[i + 1:] + self._backlog
                    return event
        return None

    def request(self, cmd: int, payload: bytes = b"", *, timeout: float | None = None,
                level: int = wire.PROTOCOL_LEVEL) -> bytes:
        """Send one request and return the reply's payload.

        Raises BoardError for an ERROR reply, BoardResetDetected when the
        board announces a restart, LinkTimeout after the last retry.
        """
        seq = self.next_seq()
        frame = wire.encode_frame(Header(cmd=cmd, seq=seq, level=level), payload)
        per_try = timeout if timeout is not None else self.timeout
        self.stats.requests += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            data = (wire.DELIMITER + frame) if self._need_flush else frame
            self._need_flush = False
            self.transport.write(data)
            self.stats.bytes_out += len(data)
            outcome = self._await_reply(cmd, seq, time.monotonic() + per_try)
            if isinstance(outcome, bytes):
                if cmd == Cmd.RESET:
                    self._take_reset_event(time.monotonic() + per_try)
                return outcome
            self._need_flush = True
            if outcome == "timeout":
                self.stats.timeouts += 1
        raise LinkTimeout(
            f"no valid reply to {Cmd(cmd).name if cmd in set(Cmd) else cmd} after "
            f"{self.retries + 1} tries of {per_try:.2f} s: is the board connected, powered and "
            f"running phyff firmware at the right baud rate?"
        )

    def _take_reset_event(self, deadline: float) -> None:
        """Consume the event a board sends right after its RESET reply (E1).

        A board of this level always sends it; if it does not come by the
        deadline the link goes on (the next request would see a late one
        as a reboot, which only costs a handshake).
        """
        event = self.wait_event(max(0.0, deadline - time.monotonic()))
        if event is not None and event.event != EventId.RESET:
            self._on_event(event.pack())

    def _await_reply(self, cmd: int, seq: int, deadline: float) -> bytes | str:
        while True:
            bodies = self._bodies(deadline)
            if not bodies and time.monotonic() >= deadline:
                return "timeout"
            damaged = False
            for i, body in enumerate(bodies):
                try:
                    header, reply = wire.decode_frame(body, self.max_payload)
                except wire.WireError:
                    self.stats.bad_frames += 1
                    damaged = True  # possibly our reply, garbled: ask again
                    continue
                if header.is_event:
                    try:
                        self._on_event(reply)
                    except BoardResetDetected:
                        self._backlog = bodies[i + 1:] + self._backlog
                        raise
                    continue
                if not header.is_reply:
                    self.stats.stale_replies += 1
                    continue
                if header.seq == 0 and header.cmd == Cmd.NONE and header.is_error:
                    # F3: a notice, not our reply; ours follows if our request was intact
                    self.stats.damaged_requests += 1
                    deadline = min(deadline, time.monotonic() + self.damage_grace)
                    continue
                if header.seq != seq or header.cmd != cmd:
                    self.stats.stale_replies += 1
                    continue
                self._backlog = bodies[i + 1:] + self._backlog
                if header.flags & Flag.ERROR:
                    err = ErrorRecord.unpack(reply)
                    raise BoardError(cmd, err.status, err.arg)
                return reply
            if damaged:
                return "damaged"

    def _on_event(self, payload: bytes) -> None:
        try:
            event = Event.unpack(payload)
        except wire.WireError:
            self.stats.bad_frames += 1
            return
        self.stats.events.append(event.event)
        if event.event == EventId.RESET:
            self.stats.resets_seen += 1
            raise BoardResetDetected(
                "the board restarted (it announced a reset): its configuration is back to "
                "defaults"
            )
