"""The pty/TCP board servers against hostile clients (issue 12 items 2 and 3).

Each test starts ``phyff emulate`` as a real subprocess on 127.0.0.1 (or a
pty) and attacks it the way a stalled, greedy or absent host would: the
server must answer a second host at once with "board busy", drop a client
that never reads and keep serving, and end on SIGTERM whatever state its
buffers are in; the host must never block without a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from phyff.board.client import Board
from phyff.board.link import BUSY_NOTICE, BoardBusy, Link, LinkError, LinkTimeout
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Header, QueryHead

posix_only = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pty")


@contextlib.contextmanager
def emulator(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``phyff emulate ARGS`` in a subprocess; yields (process, the URL/path it printed)."""
    proc = subprocess.Popen([sys.executable, "-m", "phyff.cli.main", "emulate", "--verbose",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        where = proc.stdout.readline().strip()
        assert where, proc.stderr.read() if proc.stderr else "no output"
        yield proc, where
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _addr(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("socket://").rpartition(":")
    return host, int(port)


def _query_frame(seq: int, n: int, n_drive: int = 20) -> bytes:
    payload = QueryHead(n, n_drive).pack() + bytes(2 * n * n_drive)
    return wire.encode_frame(Header(cmd=Cmd.QUERY, seq=seq), payload)


def _flood_pty(fd: int, seconds: float) -> int:
    """Send whole QUERY frames on a pty and never read; returns how many went out."""
    frame = _query_frame(1, 100)  # ~4 KB each way
    sent = 0
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        view = memoryview(frame)
        while view and time.monotonic() < t_end:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                time.sleep(0.01)
        sent += not view
    return sent


def test_second_host_is_told_board_busy_at_once() -> None:
    with emulator("--tcp", "127.0.0.1:0") as (proc, url), Board.open(url, timeout=2) as first:
        t0 = time.monotonic()
        with pytest.raises(BoardBusy, match="board busy: another host is attached"):
            Board.open(url, timeout=2)
        assert time.monotonic() - t0 < 1.5  # not after the link's retries (8.5 s before)
        # An idle `nc` sees the notice as text at once.
        with socket.create_connection(_addr(url), timeout=2) as idle:
            assert idle.recv(256) == BUSY_NOTICE
        # The first host was never disturbed, and the board is free once it leaves.
        assert first.query_float([[0.5] * 20])[0].shape == (1, 20)
        first.close()
        with Board.open(url, timeout=2) as again:
            assert again.caps.n_drive == 20
        assert proc.poll() is None


def test_client_that_never_reads_is_dropped_and_the_server_keeps_serving() -> None:
    with emulator("--tcp", "127.0.0.1:0") as (proc, url):
        greedy = socket.create_connection(_addr(url), timeout=5)
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        frame = _query_frame(1, 1000)  # each reply is ~40 KB; it never reads any
        sent = 0
        deadline = time.monotonic() + 10
        greedy.settimeout(0.5)
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline and sent < 400:
                greedy.sendall(frame)
                sent += 1
        assert proc.poll() is None, "the server exited under a client that never reads"
        # Dropped after the server's write deadline (5 s): the board is free again.
        t_end = time.monotonic() + 15
        while True:
            try:
                with Board.open(url, timeout=1, retries=0) as board:
                    assert board.query_float([[0.25] * 20])[0].shape == (1, 20)
                break
            except BoardBusy:
                assert time.monotonic() < t_end, "the never-reading client was never dropped"
                time.sleep(0.5)
        greedy.close()
        assert proc.poll() is None


def test_flooding_slow_and_vanishing_clients_do_not_hurt_the_server() -> None:
    with emulator("--tcp", "127.0.0.1:0") as (proc, url):
        addr = _addr(url)
        # Flood: 2 MB of noise without delimiters, then a vanish mid-frame.
        with socket.create_connection(addr, timeout=5) as flood:
            flood.settimeout(2)
            with contextlib.suppress(OSError):
                for _ in range(32):
                    flood.sendall(os.urandom(1 << 16).replace(b"\0", b"\1"))
            flood.sendall(_query_frame(1, 10)[:30])
        # Slow: a HELLO one byte at a time, then read the reply like a real host.
        with socket.create_connection(addr, timeout=5) as slow:
            for b in wire.DELIMITER + wire.encode_frame(Header(cmd=Cmd.HELLO, seq=9)):
                slow.sendall(bytes([b]))
                time.sleep(0.005)
            got = b""
            while got.count(b"\0") < 2:
                got += slow.recv(4096)
        # Many connect/close cycles while a host is attached.
        with Board.open(url, timeout=2) as board:
            for _ in range(20):
                with contextlib.suppress(OSError), socket.create_connection(addr, timeout=1):
                    pass
            assert board.query_float([[0.5] * 20])[0].shape == (1, 20)
        assert proc.poll() is None


@posix_only
def test_stopped_pty_emulator_gives_exit_3_not_a_hang() -> None:
    """Item 2: the emulator stopped (SIGSTOP) while the host writes: a deadline, not a hang."""
    with emulator("--pty") as (proc, path):
        with Board.open(path, timeout=1) as board:
            os.kill(proc.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            with pytest.raises(LinkError):  # LinkTimeout on the read or on the write
                for _ in range(50):  # fills the pty's buffers: writes must time out
                    board.query_float([[0.5] * 20] * 200)
            assert time.monotonic() - t0 < 30
        # `phyff info` on the stuck pty ends with exit 3 within its deadlines.
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "phyff.cli.main", "info", path,
                               "--timeout", "1"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 3, done.stderr
        assert "Traceback" not in done.stderr
        assert time.monotonic() - t0 < 30
        # SIGTERM ends the stopped server once it runs again, buffers full or not.
        os.kill(proc.pid, signal.SIGTERM)
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(5) == 0


@posix_only
def test_pty_client_that_never_reads_and_sigterm_with_full_buffers() -> None:
    with emulator("--pty") as (proc, path):
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert _flood_pty(fd, 3) > 20
            assert proc.poll() is None
            # SIGTERM ends the server although its writes to the pty cannot proceed.
            t0 = time.monotonic()
            proc.terminate()
            assert proc.wait(5) == 0
            assert time.monotonic() - t0 < 2
        finally:
            os.close(fd)


@posix_only
def test_pty_unread_replies_are_discarded_and_the_next_host_is_served() -> None:
    with emulator("--pty") as (proc, path):
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        assert _flood_pty(fd, 2) > 20
        os.close(fd)
        time.sleep(6)  # past the server's write deadline: the unread replies go
        assert proc.poll() is None
        with Board.open(path, timeout=1) as board:
            assert board.query_float([[0.5] * 20])[0].shape == (1, 20)
        assert proc.stderr is not None
        proc.terminate()
        assert proc.wait(5) == 0
        assert "discarded" in proc.stderr.read()


@posix_only
def test_second_host_on_a_pty_is_told_board_busy() -> None:
    with emulator("--pty") as (_, path), Board.open(path, timeout=1) as first:
        with pytest.raises(BoardBusy, match="board busy: another host is attached"):
            Board.open(path, timeout=1)
        assert first.caps.n_drive == 20


def test_write_deadline_on_a_socket_that_is_never_read() -> None:
    """The Link's writes time out (LinkTimeout) when the far end stops reading."""
    import serial

    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = serial.serial_for_url(f"socket://127.0.0.1:{srv.getsockname()[1]}", timeout=0.2)
        conn, _ = srv.accept()
        try:
            link = Link(port, timeout=0.5, retries=0)
            assert link.write_timeout == 0.5  # a URL transport: no baud rate to add
            big = bytes(60000)
            t0 = time.monotonic()
            for _ in range(2000):  # unknown cmd: nobody answers, nobody reads
                try:
                    link.request(0x7E, big, timeout=0.01)
                except LinkTimeout as exc:
                    if "could not send" in str(exc):
                        break
            else:
                pytest.fail("the socket's buffers never filled")
            assert time.monotonic() - t0 < 20
        finally:
            conn.close()
            port.close()
