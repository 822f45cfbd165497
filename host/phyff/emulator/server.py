"""Serve an emulated board on a pty or a TCP port, for other processes.

``phyff emulate --pty`` prints a /dev/pts path that any serial program
(pyserial, miniterm, screen, a test in another language) can open;
``phyff emulate --tcp 127.0.0.1:PORT`` serves ``socket://127.0.0.1:PORT``.
One loop, no threads: wait (``select``/``poll``) for bytes or for room to
write, feed what arrives to the board's core, write its replies back. Each
new host connection meets a board that has just started (wire.h W-E3), like a
USB-serial board that resets when its port is opened: the board's state
goes back to power-up and the reset event is the connection's first frame
(on a pty, just before the reply to the opener's first request, since the
pty cannot tell an open from nothing until then).

A board has one host, like a real serial port. The rules that keep the
server alive whatever a client does:

1. One host at a time. A second TCP client gets, at once, the text
   :data:`~phyff.board.link.BUSY_NOTICE` ("phyff: board busy: another host
   is attached", between two 0x00 delimiters so it can never be mistaken for
   a frame), and again in answer to whatever it sends (a host may flush its
   input while opening the port and miss the first); phyff's Link turns it
   into ``BoardBusy`` ("board busy: another host is attached"). The
   connection is then held open for ``busy_linger`` seconds, so the notice
   is read before the close (a host that sees the close first may lose the
   text), then closed. At most
   :data:`MAX_TURNED_AWAY` such connections linger; beyond that they are
   closed right after the notice. A pty cannot tell its openers apart; phyff
   hosts open it with an exclusive lock instead (see
   ``phyff.board.transports``), so a second phyff host is told the same.
2. Every write has a deadline. Nothing here blocks on a client: sockets and
   the pty master are non-blocking, and replies wait in a buffer of at most
   :data:`MAX_BACKLOG` bytes (past that the server stops reading from the
   client, so a flood cannot grow memory). A client that leaves replies
   unread for ``write_deadline`` seconds is dropped (TCP: disconnected;
   pty: its unread replies are discarded, as are replies pending when the
   opener closes the path), and the server keeps serving.
3. A client that sends nothing, sends slowly, sends garbage or vanishes
   costs nothing but its own connection: the board core resynchronises on
   the next delimiter, and a vanished TCP client frees the board at once.
4. A host that has sent nothing for ``idle_timeout`` seconds (default
   :data:`IDLE_TIMEOUT`) and has no replies waiting gives the board up to
   the next host that connects: it is disconnected and the newcomer
   attached. Until another host asks, an idle host keeps the board (an
   interactive session may rest for hours), so the timeout only ends a
   connection that blocks someone else.
5. ``should_stop`` is polled at least every ``poll`` seconds whatever the
   clients do, so SIGTERM (which the CLI turns into a stop request) always
   ends the server, also when a pty's buffers are full.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import termios
import time
import tty
from collections.abc import Callable

from phyff.board.link import BUSY_NOTICE
from phyff.emulator.device import EmulatedDevice

MAX_BACKLOG = 1 << 20  # reply bytes buffered for one client before we stop reading it
MAX_TURNED_AWAY = 16  # busy connections held open at once to deliver the notice
WRITE_DEADLINE = 5.0  # seconds a client may leave replies unread before it is dropped
BUSY_LINGER = 2.0  # seconds a turned-away connection stays open so the notice is read
IDLE_TIMEOUT = 30.0  # seconds of silence after which a host yields the board (rule 4)

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _check_seconds(value: float, what: str) -> float:
    seconds = float(value)
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{what} must be a finite number of seconds above 0, got {value!r}")
    return seconds


class _Backlog:
    """Reply bytes not yet taken by the client, and since when they wait."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.since = 0.0  # when the oldest unsent byte was queued or last progress was made

    def add(self, data: bytes, now: float) -> None:
        if data:
            if not self.data:
                self.since = now
            self.data += data

    def sent(self, n: int, now: float) -> None:
        if n > 0:
            del self.data[:n]
            self.since = now

    def stalled(self, now: float, deadline: float) -> bool:
        return bool(self.data) and now - self.since > deadline

    def full(self) -> bool:
        return len(self.data) >= MAX_BACKLOG


class PtyServer:
    """An emulated board behind a pseudo-terminal."""

    def __init__(self, device: EmulatedDevice, *, write_deadline: float = WRITE_DEADLINE,
                 log: Log = _quiet) -> None:
        self.device = device
        self.write_deadline = _check_seconds(write_deadline, "write_deadline")
        self.log = log
        self.dropped = 0  # times a client's unread replies were discarded
        self.master, slave = os.openpty()
        # Raw mode: no echo, no line editing, no CR/LF translation; bytes are bytes.
        # The setting belongs to the pty and outlives this descriptor.
        tty.setraw(slave, termios.TCSANOW)
        self.path = os.ttyname(slave)
        # Not kept open: while nobody has the path open the master reports
        # POLLHUP, which is how a new opener is told from the one before.
        os.close(slave)
        os.set_blocking(self.master, False)
        self.connections = 0

    def serve(self, should_stop: Callable[[], bool] = lambda: False, poll: float = 0.2) -> None:
        """Pump bytes until should_stop() is true; the path may be closed and
        reopened any number of times, each opener meeting a fresh board."""
        poller = select.poll()
        connected = False
        out = _Backlog()
        while not should_stop():
            mask_in = 0 if out.full() else select.POLLIN
            poller.register(self.master, mask_in | (select.POLLOUT if out.data else 0))
            events = poller.poll(poll * 1000)
            now = time.monotonic()
            mask = events[0][1] if events else 0
            if mask & select.POLLHUP and not mask & select.POLLIN:
                if out.data:  # the opener left without reading them
                    self._drop_unread(len(out.data), "closed the path")
                    out = _Backlog()
                connected = False  # nobody has the path open
                time.sleep(min(poll, 0.02))  # poll would return at once
                continue
            if mask & select.POLLIN:
                try:
                    data = os.read(self.master, 65536)
                except BlockingIOError:
                    data = b""
                except OSError:  # EIO: the opener closed it meanwhile
                    data = b""
                    connected = False
                if data:
                    if not connected:
                        connected = True
                        self.connections += 1
                        out = _Backlog()
                        self.device.restart()  # W-E3: the event goes out before the reply
                    self.device.write(data)
                    out.add(self.device.read_all(), now)
            if out.data and mask:
                try:
                    out.sent(os.write(self.master, out.data), now)
                except OSError:  # EAGAIN: the opener's input queue is full
                    pass
            if out.stalled(now, self.write_deadline):
                self._drop_unread(len(out.data), f"left replies unread for "
                                                 f"{self.write_deadline:g} s")
                out = _Backlog()

    def _drop_unread(self, pending: int, why: str) -> None:
        """The opener stopped reading or left: forget what it did not take, keep serving."""
        with contextlib.suppress(termios.error, OSError):
            termios.tcflush(self.master, termios.TCOFLUSH)
        self.dropped += 1
        self.log(f"pty host {why}: discarded {pending} unread bytes")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.master)


def pump_connection(conn: socket.socket, on_data: Callable[[bytes], None],
                    should_stop: Callable[[], bool], poll: float = 0.2,
                    write_deadline: float = WRITE_DEADLINE) -> None:
    """Feed everything a TCP client sends to on_data until it leaves or we stop.

    For servers with a thread per connection (the medium server). TCP_NODELAY
    is set: replies are small and latency-bound. ``poll`` bounds how long a
    stop request can go unnoticed; whatever on_data sends must go out within
    ``write_deadline`` seconds, else the connection is dropped (rule 2).
    """
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while not should_stop():
        conn.settimeout(poll)
        try:
            data = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return
        if not data:
            return  # client went away
        conn.settimeout(write_deadline)
        try:
            on_data(data)
        except OSError:  # the client stopped reading (timeout) or vanished
            return


class _Turned:
    def __init__(self, conn: socket.socket, until: float) -> None:
        self.conn = conn
        self.until = until


class TcpServer:
    """An emulated board behind a TCP port (one host at a time, see the rules above)."""

    def __init__(self, device: EmulatedDevice, host: str = "127.0.0.1", port: int = 0, *,
                 write_deadline: float = WRITE_DEADLINE, busy_linger: float = BUSY_LINGER,
                 idle_timeout: float = IDLE_TIMEOUT, log: Log = _quiet) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"TCP port {port!r} is outside 0..65535 (0: any free port)")
        self.device = device
        self.write_deadline = _check_seconds(write_deadline, "write_deadline")
        self.busy_linger = _check_seconds(busy_linger, "busy_linger")
        self.idle_timeout = _check_seconds(idle_timeout, "idle_timeout")
        self.last_heard = 0.0  # when the attached host last sent bytes (or attached)
        self.log = log
        self.turned_away = 0  # connections told "board busy"
        self.dropped = 0  # clients disconnected for not reading their replies
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.sock = socket.create_server((host, port), family=family)
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ValueError(f"cannot serve on {host}:{port}: {reason}; choose another "
                             f"address or port (port 0 picks a free one)") from exc
        self.sock.setblocking(False)
        self.host, self.port = self.sock.getsockname()[:2]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"socket://{host}:{self.port}"

    def serve(self, should_stop: Callable[[], bool] = lambda: False, poll: float = 0.2) -> None:
        client: socket.socket | None = None
        out = _Backlog()
        lingering: list[_Turned] = []
        try:
            while not should_stop():
                readable = [self.sock] + [t.conn for t in lingering]
                writable = []
                if client is not None:
                    if not out.full():
                        readable.append(client)
                    if out.data:
                        writable.append(client)
                ready, can_write, _ = select.select(readable, writable, [], poll)
                now = time.monotonic()
                for t in [t for t in lingering if t.conn in ready]:
                    if not self._discard(t.conn):
                        lingering.remove(t)
                for t in [t for t in lingering if now >= t.until]:
                    t.conn.close()
                    lingering.remove(t)
                # The attached host first: one that just left frees the board for
                # a host connecting in the same round.
                if client is not None:
                    client = self._serve_client(client, out, client in ready,
                                                client in can_write, now)
                if self.sock in ready:
                    client = self._accept(client, out, lingering, now)
        finally:
            if client is not None:
                client.close()
            for t in lingering:
                t.conn.close()

    def _serve_client(self, client: socket.socket, out: _Backlog, readable: bool,
                      writable: bool, now: float) -> socket.socket | None:
        """One round for the attached host; None once it is gone or dropped."""
        if readable and not self._receive(client, out, now):
            self._drop(client, out, "disconnected")
            return None
        if writable:
            try:
                out.sent(client.send(out.data), now)
            except BlockingIOError:
                pass
            except OSError:
                self._drop(client, out, "vanished")
                return None
        if out.stalled(now, self.write_deadline):
            self.dropped += 1
            self._drop(client, out, f"left replies unread for {self.write_deadline:g} s: dropped")
            return None
        return client

    @staticmethod
    def _gone(client: socket.socket) -> bool:
        """True when the attached host closed its end (checked before turning one away)."""
        try:
            return client.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _accept(self, client: socket.socket | None, out: _Backlog, lingering: list[_Turned],
                now: float) -> socket.socket | None:
        try:
            conn, peer = self.sock.accept()
        except OSError:  # the client gave up between select and accept
            return client
        conn.setblocking(False)
        if client is not None and self._gone(client):
            self._drop(client, out, "disconnected")
            client = None
        if client is not None and not out.data and now - self.last_heard >= self.idle_timeout:
            self._drop(client, out, f"silent for {self.idle_timeout:g} s: gave the board up "
                                    f"to {peer[0]}:{peer[1]}")
            client = None
        if client is None:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Replies nobody took belong to no one. W-E3: every connection meets a
            # board just started, whose reset event is its first frame.
            out.data.clear()
            self.device.restart()
            out.add(self.device.read_all(), now)
            self.last_heard = now
            self.log(f"host {peer[0]}:{peer[1]} attached")
            return conn
        self.turned_away += 1
        with contextlib.suppress(OSError):
            conn.send(BUSY_NOTICE)
        if len(lingering) < MAX_TURNED_AWAY:
            lingering.append(_Turned(conn, now + self.busy_linger))
        else:
            conn.close()
        self.log(f"host {peer[0]}:{peer[1]} turned away: board busy")
        return client

    @staticmethod
    def _discard(conn: socket.socket) -> bool:
        """Answer what a turned-away client sends with the notice again (a host may
        have discarded the first one while opening its port, as pyserial does);
        False once the client has gone."""
        try:
            if conn.recv(65536):
                with contextlib.suppress(OSError):
                    conn.send(BUSY_NOTICE)
                return True
        except BlockingIOError:
            return True
        except OSError:
            pass
        conn.close()
        return False

    def _receive(self, client: socket.socket, out: _Backlog, now: float) -> bool:
        try:
            data = client.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        self.last_heard = now
        self.device.write(data)
        out.add(self.device.read_all(), now)
        return True

    def _drop(self, client: socket.socket, out: _Backlog, why: str) -> None:
        with contextlib.suppress(OSError):
            client.close()
        out.data.clear()
        self.device.read_all()
        self.log(f"host {why}")

    def close(self) -> None:
        self.sock.close()
