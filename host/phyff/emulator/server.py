"""Serve an emulated board on a pty or a TCP port, for other processes.

``phyff emulate --pty`` prints a /dev/pts path that any serial program
(pyserial, miniterm, screen, a test in another language) can open;
``phyff emulate --tcp 127.0.0.1:PORT`` serves ``socket://127.0.0.1:PORT``.
One loop, no threads: wait for bytes, feed them to the board's core, write
its replies back.
"""

from __future__ import annotations

import os
import select
import socket
import termios
import tty
from collections.abc import Callable

from phyff.emulator.device import EmulatedDevice


class PtyServer:
    """An emulated board behind a pseudo-terminal."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.device = device
        self.master, self._slave = os.openpty()
        # Raw mode: no echo, no line editing, no CR/LF translation; bytes are bytes.
        tty.setraw(self._slave, termios.TCSANOW)
        self.path = os.ttyname(self._slave)

    def serve(self, should_stop: Callable[[], bool] = lambda: False, poll: float = 0.2) -> None:
        """Pump bytes until should_stop() is true. The slave end stays open here
        so a client may close and reopen the path without the pty vanishing."""
        # The board announces its start to whoever opens the path first.
        pending = self.device.read_all()
        if pending:
            os.write(self.master, pending)
        while not should_stop():
            ready, _, _ = select.select([self.master], [], [], poll)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                continue
            if data:
                self.device.write(data)
                out = self.device.read_all()
                view = memoryview(out)
                while view:
                    n = os.write(self.master, view)
                    view = view[n:]

    def close(self) -> None:
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
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
