"""Serve an emulated board on a pty or a TCP port, for other processes.

``phyff emulate --pty`` prints a /dev/pts path that any serial program
(pyserial, miniterm, screen, a test in another language) can open;
``phyff emulate --tcp 127.0.0.1:PORT`` serves ``socket://127.0.0.1:PORT``.
One loop, no threads: wait for bytes, feed them to the board's core, write
its replies back. Each new host connection meets a board that has just
started (wire.h E3), like a USB-serial board that resets when its port is
opened: the board's state goes back to power-up and the reset event is the
connection's first frame (on a pty, just before the reply to the opener's
first request, since the pty cannot tell an open from nothing until then).
"""

from __future__ import annotations

import os
import select
import socket
import termios
import time
import tty
from collections.abc import Callable

from phyff.emulator.device import EmulatedDevice


class PtyServer:
    """An emulated board behind a pseudo-terminal."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.device = device
        self.master, slave = os.openpty()
        # Raw mode: no echo, no line editing, no CR/LF translation; bytes are bytes.
        # The setting belongs to the pty and outlives this descriptor.
        tty.setraw(slave, termios.TCSANOW)
        self.path = os.ttyname(slave)
        # Not kept open: while nobody has the path open the master reports
        # POLLHUP, which is how a new opener is told from the one before.
        os.close(slave)
        self.connections = 0

    def serve(self, should_stop: Callable[[], bool] = lambda: False, poll: float = 0.2) -> None:
        """Pump bytes until should_stop() is true; the path may be closed and
        reopened any number of times, each opener meeting a fresh board."""
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        connected = False
        while not should_stop():
            events = poller.poll(poll * 1000)
            if not events:
                continue
            mask = events[0][1]
            if mask & select.POLLHUP and not mask & select.POLLIN:
                connected = False  # nobody has the path open
                time.sleep(min(poll, 0.02))  # poll would return at once
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the opener closed it meanwhile
                connected = False
                continue
            if not data:
                continue
            if not connected:
                connected = True
                self.connections += 1
                self.device.restart()  # E3: the event goes out before the reply
            self.device.write(data)
            out = self.device.read_all()
            view = memoryview(out)
            while view:
                n = os.write(self.master, view)
                view = view[n:]

    def close(self) -> None:
        try:
            os.close(self.master)
        except OSError:
            pass


def pump_connection(conn: socket.socket, on_data: Callable[[bytes], None],
                    should_stop: Callable[[], bool], poll: float = 0.2) -> None:
    """Feed everything a TCP client sends to on_data until it leaves or we stop.

    TCP_NODELAY is set: replies are small and latency-bound. ``poll`` bounds
    how long a stop request can go unnoticed.
    """
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(poll)
    while not should_stop():
        try:
            data = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return
        if not data:
            return  # client went away
        on_data(data)


class TcpServer:
    """An emulated board behind a TCP port (one client at a time)."""

    def __init__(self, device: EmulatedDevice, host: str = "127.0.0.1", port: int = 0) -> None:
        self.device = device
        self.sock = socket.create_server((host, port))
        self.host, self.port = self.sock.getsockname()[:2]

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def serve(self, should_stop: Callable[[], bool] = lambda: False, poll: float = 0.2) -> None:
        self.sock.settimeout(poll)
        while not should_stop():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                self._serve_client(conn, should_stop, poll)

    def _serve_client(self, conn: socket.socket, should_stop: Callable[[], bool],
                      poll: float) -> None:
        self.device.restart()  # E3: every connection meets a board just started
        pending = self.device.read_all()
        if pending:
            conn.sendall(pending)

        def answer(data: bytes) -> None:
            self.device.write(data)
            out = self.device.read_all()
            if out:
                conn.sendall(out)

        pump_connection(conn, answer, should_stop, poll)

    def close(self) -> None:
        self.sock.close()
