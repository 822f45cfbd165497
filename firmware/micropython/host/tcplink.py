"""The board's host link as a TCP port (unix port only): socket://HOST:PORT."""

import select
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class TcpLink:
    """Listens on one port; serves one client at a time (like QEMU's -serial tcp)."""

    def __init__(self, port: int, host: str = "127.0.0.1", poll_ms: int = 200) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(socket.getaddrinfo(host, port)[0][-1])
        server.listen(1)
        self.server: Any = server
        self.conn: Any = None
        self.poll_ms = poll_ms
        self.poll = select.poll()

    def accept(self) -> None:
        if self.conn is not None:
            self.poll.unregister(self.conn)
            self.conn.close()
        conn, _ = self.server.accept()
        try:
            conn.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        except OSError:
            pass
        conn.setblocking(False)
        self.conn = conn
        self.poll.register(conn, select.POLLIN)

    def readinto(self, buf: bytearray) -> int:
        if not self.poll.poll(self.poll_ms):
            return 0
        try:
            got = self.conn.readinto(buf)
        except OSError:
            return -1
        if got is None:
            return 0
        return got if got > 0 else -1

    def write(self, buf: bytearray, n: int) -> None:
        off = 0
        while off < n:
            try:
                done = self.conn.write(buf, off, n - off)
            except OSError:
                return  # the client went away; its next read says so
            if done is None:
                continue
            off += done
