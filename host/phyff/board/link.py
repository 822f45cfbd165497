"""The host end of the serial link: frames, deadlines, resync and retries.

A :class:`Link` turns "send this command, get its reply" into bytes on any
pyserial-like transport (a real port, ``socket://``, ``emu://``, a pty, or
the in-process emulator). Rules it enforces (wire.h W-C1-C5, W-F3, W-E1-E2):

- every read AND every write has a deadline; a request without a valid
  reply by then is sent again with the SAME sequence number, up to
  ``retries`` times, then :class:`LinkTimeout` is raised. A write the
  transport cannot finish in time (a board that stopped reading, a pty whose
  buffers are full) raises :class:`LinkTimeout` at once: the line is stuck,
  not noisy. Deadlines are checked finite and positive (:func:`check_timeout`);
- a transport that fails (a socket closed by the far end, a port unplugged)
  raises :class:`LinkError` saying so, never a transport's own exception;
- a server that already serves another host answers with
  :data:`BUSY_NOTICE` instead of frames; that raises :class:`BoardBusy`;
- a reply counts only if its CRC is good and its seq and cmd match the
  request; anything else (stale replies, noise) is dropped and counted;
- requests are numbered 1..255 (seq 0 marks the board's own frames, W-C4);
- a framing-error notice from the board (ERROR, seq 0, cmd NONE) answers no
  request: it may be about our request or about noise or a fragment our
  flush ended, and replies come in order, so the link keeps reading for
  its reply a little longer (``damage_grace``) and then retries with the
  same seq (W-F3, W-C3). A reply that fails its own CRC is retried at once;
- the reset event that follows a RESET reply (W-E1) is consumed with it;
  any other "board reset" event raises :class:`BoardResetDetected` so the
  caller can redo its handshake and configuration;
- a lone 0x00 is sent before the first request and after any trouble, so a
  half-received frame in the board's buffer is flushed (wire.h W-C5);
- first contact with a board that resets when its port is opened (an
  Arduino Uno's DTR auto-reset) meets its bootloader first. That lone 0x00
  is no STK500 command, so optiboot gives up at once and starts the
  application 16 ms later (after its ~0.4 s of LED flashes); the
  application's start-up event raises BoardResetDetected, the handshake asks
  HELLO again, and the next request starts with a 0x00 again (the board may
  hold the tail of the frame the bootloader let through). Anything a
  bootloader answers (STK500's 0x14 0x10) is no frame: it is dropped and
  counted as a bad frame, never reported as an error; a frame that follows
  up to 8 such bytes with no delimiter between is still read. The first
  HELLO so comes within the link's timeout times its tries; on the
  simulated Uno in about 0.4 s (docs/boards.md). A board whose application
  never starts is told apart from a dead line by :mod:`phyff.board.bootloader`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Deframer, ErrorRecord, Event, EventId, Flag, Header, Status

_DRAIN = 1 << 16  # bytes asked for when draining what has already arrived
_MAX_JUNK = 8  # leading non-frame bytes a frame is recovered from (see _decode)

MAX_TIMEOUT = 86_400.0  # one day: longer waits are mistakes, and overflow select()
# What a deadline allows a board per ADC read when it adds the board's own
# measuring time (oversample reads per sample) to the link's wait.
ADC_READ_SECONDS = 1e-4

#: What a board server sends, between two delimiters, to a host that connects
#: while another host is attached (``phyff emulate --tcp``). It is text, so a
#: person at ``nc`` reads it too; it can never decode as a frame (no CRC).
BUSY_TEXT = b"phyff: board busy: another host is attached"
BUSY_NOTICE = wire.DELIMITER + BUSY_TEXT + b"\n" + wire.DELIMITER
#: What every phyff board server's refusal contains (the simavr harness sends
#: its own line with it, without delimiters, then closes).
BUSY_PHRASE = b"board busy: another host is attached"


def check_timeout(value: object, what: str = "timeout") -> float:
    """``value`` as seconds, or ValueError: finite, positive and at most a day.

    NaN would make every deadline comparison false (wait forever) and inf
    overflows ``select``; both come easily from a command line.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TIMEOUT:
        raise ValueError(
            f"{what} must be a finite number of seconds above 0 and at most "
            f"{MAX_TIMEOUT:.0f} (one day), got {value!r}"
        )
    return seconds


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


class BoardBusy(LinkError):
    """A board server refused this host: another one is attached."""


class BoardResetDetected(LinkError):
    """The board announced a (re)start: its configuration is back to defaults."""


class BoardError(LinkError):
    """The board answered with an ERROR reply."""

    def __init__(self, cmd: int, status: int, arg: int, cause: str | None = None) -> None:
        self.cmd = cmd
        self.status = wire.as_status(status)
        self.arg = arg
        self.cause = cause
        super().__init__(describe_error(cmd, status, arg, cause))


def describe_error(cmd: int, status: int, arg: int, cause: str | None = None) -> str:
    """An ERROR reply in words, with the action to take where there is one.

    ``cause``: what the board knows of the failure beyond its status, where the
    transport can tell (an emulated board's medium or storage exception); it
    replaces the generic hint, which would send the user to check wiring that
    does not exist.
    """
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
        Status.NO_MODEL: "no model is loaded on the board: run phyff deploy RUN --board URL",
        Status.MODEL_TOO_LARGE: f"the board's model memory holds {arg} bytes",
        Status.LOAD_RANGE: f"the board had received {arg} bytes of the image; load it again",
        Status.MODEL_CRC: "the image arrived damaged; load it again",
        Status.BAD_MODEL: f"the image's field at byte offset {arg} breaks a rule of "
                          f"phyff/model.h; rebuild it with this phyff",
        Status.WRONG_BOARD: f"the image's field at byte offset {arg} names another board "
                            f"than this one; deploy to the board the model was trained on",
        Status.NO_LOAD: "no model load is in progress; send MODEL_BEGIN first",
        Status.LEARN_FULL: f"the board's statistics take {arg} more samples; refit "
                           f"(phyff adapt) or forget them first",
        Status.BAD_LABEL: f"labels must be class indices below {arg}",
        Status.TOO_FEW: f"class {arg} has no samples yet (every class needs one, and the "
                        f"refit at least two samples); learn more before refitting",
        Status.SINGULAR: "the samples do not determine a read-out; learn more varied samples "
                         "or a larger ridge penalty (a smaller lambda_shift), then refit",
        Status.NO_READOUT: ("the model is compiled into the firmware (read-only); load it "
                            "with phyff deploy to learn on the board" if arg == 1 else
                            "a goodness model has no read-out to learn"),
        Status.BAD_LAMBDA: f"lambda_shift out of range for this model; the nearest accepted "
                           f"is {arg}",
        Status.REFIT_OVERFLOW: "the refitted read-out does not fit the model's number "
                               "format; use a larger ridge penalty (a smaller lambda_shift)",
        Status.LEARN_TOO_LARGE: f"the read-out is too wide to learn on this board (its "
                                f"statistics need {arg} bytes; a slot, 127 features and "
                                f"the frame size bound them, wire.h W-N1); learn on the host",
    }
    hint = hints.get(wire.as_status(status))  # type: ignore[call-overload]
    if cause:
        hint = f"the emulated board reports: {cause}"
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
        self.damage_grace = check_timeout(damage_grace, "damage_grace")
        self._backlog: list[bytes] = []  # frames read past the reply they came with
        self.transport = transport
        self.timeout = check_timeout(timeout)
        self.retries = retries
        self.max_payload = max_payload
        self.stats = LinkStats()
        self._deframer = Deframer(max_body=wire.max_frame_size(max_payload))
        self._seq = 0
        self._need_flush = True
        self._recent = b""  # the last bytes read, to explain a closed connection
        self.write_timeout = self._set_write_deadline()

    def _set_write_deadline(self) -> float:
        """Give a pyserial transport a write deadline; return the one in force.

        The deadline is the link timeout plus the time the largest frame
        takes on the wire at a serial port's baud rate (65 KB at 115200 baud
        is 5.7 s), so a slow line is never mistaken for a stuck one; URL
        transports (``socket://``) have no baud rate and get the link timeout.
        Transports without ``write_timeout`` (the in-process emulator) never
        block on a write.
        """
        baud = getattr(self.transport, "baudrate", None)
        is_url = "://" in str(getattr(self.transport, "portstr", ""))  # socket://: no baud rate
        wire_time = 0.0
        if isinstance(baud, int | float) and baud > 0 and not is_url:
            wire_time = 10.0 * wire.max_frame_size(self.max_payload) / float(baud)
        deadline = self.timeout + wire_time
        if hasattr(self.transport, "write_timeout"):
            self.transport.write_timeout = deadline
        return deadline

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
        try:
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
        except OSError as exc:  # pyserial's SerialException is an OSError
            self._need_flush = True
            self._check_busy(self._recent)  # a server that refused us, then closed
            raise LinkError(
                f"the link to the board failed while reading ({exc}): was it unplugged, or "
                f"did the board server stop?"
            ) from exc
        self.stats.bytes_in += len(data)
        self._recent = (self._recent + data)[-256:]
        return data

    def _write(self, cmd: int, data: bytes) -> None:
        """Send all of ``data`` within the write deadline, or raise LinkTimeout/LinkError."""
        try:
            self.transport.write(data)
        except OSError as exc:
            self._need_flush = True  # part of the frame may be out: flush before the next
            if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
                self.stats.timeouts += 1
                raise LinkTimeout(
                    f"could not send {_cmd_name(cmd)} within {self.write_timeout:.2f} s: the "
                    f"board stopped reading (is it hung, stopped or busy with another host?)"
                ) from exc
            raise LinkError(
                f"the link to the board failed while sending {_cmd_name(cmd)} ({exc}): was it "
                f"unplugged, or did the board server stop?"
            ) from exc
        self.stats.bytes_out += len(data)

    def _bodies(self, deadline: float) -> list[bytes]:
        """Frame bodies kept from an earlier read, else those of a new read."""
        if self._backlog:
            bodies, self._backlog = self._backlog, []
            return bodies
        return self._deframer.feed(self._read_some(deadline))

    def wait_event(self, timeout: float) -> Event | None:
        """Wait for an unsolicited frame (e.g. the reset announcement)."""
        # 0 (a deadline already past, as callers computing one may pass) returns at
        # once; anything else must be a real deadline.
        wait = 0.0 if timeout == 0 and not isinstance(timeout, bool) else check_timeout(timeout)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            bodies = self._bodies(deadline)
            for i, body in enumerate(bodies):
                decoded = self._decode(body)
                if decoded is None:
                    continue
                header, payload = decoded
                if header.is_event:
                    event = self._record_event(payload)
                    if event is None:
                        continue
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
        if timeout is not None:
            timeout = check_timeout(timeout)
        frame = wire.encode_frame(Header(cmd=cmd, seq=seq, level=level), payload)
        per_try = timeout if timeout is not None else self.timeout
        self.stats.requests += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            data = (wire.DELIMITER + frame) if self._need_flush else frame
            self._need_flush = False
            self._write(cmd, data)
            try:
                outcome = self._await_reply(cmd, seq, time.monotonic() + per_try)
            except BoardResetDetected:
                # A board that restarted (e.g. reset by opening its port) may hold the
                # tail of a frame its bootloader let through: flush before the next.
                self._need_flush = True
                raise
            if isinstance(outcome, bytes):
                if cmd == Cmd.RESET:
                    self._take_reset_event(time.monotonic() + per_try)
                return outcome
            self._need_flush = True
            if outcome == "timeout":
                self.stats.timeouts += 1
        raise LinkTimeout(
            f"no valid reply to {_cmd_name(cmd)} after "
            f"{self.retries + 1} tries of {per_try:.2f} s: is the board connected, powered and "
            f"running phyff firmware at the right baud rate?"
        )

    def _take_reset_event(self, deadline: float) -> None:
        """Consume the event a board sends right after its RESET reply (W-E1).

        A board of this level always sends it; if it does not come by the
        deadline the link goes on (the next request would see a late one
        as a reboot, which only costs a handshake).
        """
        event = self.wait_event(max(0.0, deadline - time.monotonic()))
        if event is not None and event.event != EventId.RESET:
            self._on_event(event.pack())

    def _decode(self, body: bytes) -> tuple[wire.Header, bytes] | None:
        """A received frame's header and payload, or None for a damaged one (counted;
        a busy notice from an emulator server raises BoardBusy)."""
        try:
            return wire.decode_frame(body, self.max_payload)
        except wire.WireError:
            self._check_busy(body)
            self.stats.bad_frames += 1
        # A frame right behind a few bytes that were none (a bootloader's STK500
        # answer, line noise at power-up) shares their body: no delimiter between.
        # Its own COBS, length and CRC still tell it apart from garbage.
        for skip in range(1, min(_MAX_JUNK, len(body) - 1) + 1):
            try:
                return wire.decode_frame(body[skip:], self.max_payload)
            except wire.WireError:
                continue
        return None

    def _await_reply(self, cmd: int, seq: int, deadline: float) -> bytes | str:
        while True:
            bodies = self._bodies(deadline)
            if not bodies and time.monotonic() >= deadline:
                return "timeout"
            damaged = False
            for i, body in enumerate(bodies):
                decoded = self._decode(body)
                if decoded is None:
                    damaged = True  # possibly our reply, garbled: ask again
                    continue
                header, reply = decoded
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
                    # W-F3: a notice, not our reply; ours follows if our request was intact
                    self.stats.damaged_requests += 1
                    deadline = min(deadline, time.monotonic() + self.damage_grace)
                    continue
                if header.seq != seq or header.cmd != cmd:
                    self.stats.stale_replies += 1
                    continue
                self._backlog = bodies[i + 1:] + self._backlog
                if header.flags & Flag.ERROR:
                    try:
                        err = ErrorRecord.unpack(reply)
                    except wire.WireError as exc:
                        raise LinkError(
                            f"the board's ERROR reply to {_cmd_name(cmd)} is {len(reply)} "
                            f"bytes, too short for an error record: this is not phyff "
                            f"firmware at protocol level {wire.PROTOCOL_LEVEL}"
                        ) from exc
                    raise BoardError(cmd, err.status, err.arg, self._fault_cause(err.status))
                return reply
            if damaged:
                return "damaged"

    def _fault_cause(self, status: int) -> str | None:
        """A medium fault's cause, from a transport that knows it (``fault_cause()``:
        the in-process emulated board); None otherwise."""
        cause = getattr(self.transport, "fault_cause", None)
        if status != Status.MEDIUM or not callable(cause):
            return None
        text = cause()
        return str(text) if text else None

    @staticmethod
    def _check_busy(data: bytes) -> None:
        """BoardBusy when a board server's refusal is in ``data`` (a frame body or
        the last bytes before the connection closed)."""
        if BUSY_PHRASE in data:
            line = data[data.rfind(b"\0") + 1:] if data.endswith(b"\n") else data
            said = line.decode("ascii", "replace").strip("\0\r\n ")
            raise BoardBusy(
                f"board busy: another host is attached to this board server ({said!r}); wait "
                f"until it disconnects, or start another emulator (phyff emulate --tcp "
                f"127.0.0.1:0)"
            )

    def _record_event(self, payload: bytes) -> Event | None:
        """The event in payload, counted in the stats; None (a bad frame) when it is
        not one."""
        try:
            event = Event.unpack(payload)
        except wire.WireError:
            self.stats.bad_frames += 1
            return None
        self.stats.events.append(event.event)
        return event

    def _on_event(self, payload: bytes) -> None:
        event = self._record_event(payload)
        if event is not None and event.event == EventId.RESET:
            self.stats.resets_seen += 1
            raise BoardResetDetected(
                "the board restarted (it announced a reset): its configuration is back to "
                "defaults"
            )


def _cmd_name(cmd: int) -> str:
    try:
        return Cmd(cmd).name
    except ValueError:
        return f"command 0x{cmd:02x}"
