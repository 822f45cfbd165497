"""A TCP port that accepts connections and never says a word: what a client meets
at an address where something listens but nothing it knows answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_port() -> Iterator[int]:
    """A listening port on 127.0.0.1 (yielded) that holds every connection open and
    sends nothing; closed with every connection on exit."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    worker = threading.Thread(target=accept, daemon=True)
    worker.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        worker.join(2)
        for conn in held:
            conn.close()
        server.close()
