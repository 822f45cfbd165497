"""Link, board and URL reliability (issue 12 items 4, 5, 7, 8, 9).

Each test names the attack it replays and checks the error class, the exit
code the CLI now gives and that its message says what to do; none of them
may end in a traceback, a hang or a silently wrong board.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import serial
from scripted import ScriptedTransport

from phyff.board.client import BadCaps, Board, ProtocolMismatch, check_caps
from phyff.board.link import BoardBusy, Link, LinkError, LinkTimeout, check_timeout
from phyff.board.transports import open_transport
from phyff.cli.boards import tcp_address
from phyff.cli.common import positive_seconds as timeout_seconds
from phyff.cli.main import main
from phyff.emulator import EmulatedDevice, parse_emu_url
from phyff.emulator.transport import DirectTransport
from phyff.protocol import wire
from phyff.protocol.wire import Caps, Cmd, Flag, Header

GOOD_CAPS = Caps(level=wire.PROTOCOL_LEVEL, features=0x010F, firmware_version=0x000100,
                 unit_id=1, max_batch=100, max_payload=4096, n_drive=8, n_sense=8, dac_bits=12,
                 adc_bits=12, max_oversample=16, board="liar", medium="none")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the CLI in process: (exit code, stderr). argparse errors exit via SystemExit."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# ---- item 4: timeouts are finite and positive everywhere ------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0, -1, 1e300, True, "2"])
def test_timeouts_are_validated_everywhere(bad: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        check_timeout(bad)
    with pytest.raises(ValueError, match="timeout"):
        Link(DirectTransport(EmulatedDevice("emu://circuit?seed=1")), timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        Board.open("emu://circuit?seed=1", timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        open_transport("socket://127.0.0.1:9", timeout=bad)
    link = Link(DirectTransport(EmulatedDevice("emu://circuit?seed=1")), timeout=0.5)
    with pytest.raises(ValueError, match="timeout"):
        link.request(Cmd.HELLO, timeout=bad)
    if bad != 0:  # wait_event(0) returns at once: a deadline that has passed
        with pytest.raises(ValueError, match="timeout"):
            link.wait_event(bad)


def test_timeout_argument_type() -> None:
    assert timeout_seconds("0.25") == 0.25
    import argparse

    for text in ("nan", "inf", "-1", "0", "abc", "1e9"):
        with pytest.raises(argparse.ArgumentTypeError):
            timeout_seconds(text)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-2", "x"])
def test_cli_timeout_nan_inf_exit_2(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, err = cli(capsys, "info", "emu://circuit?seed=1", f"--timeout={value}")
    assert code == 2 and "--timeout" in err
    code, err = cli(capsys, "ports", f"--timeout={value}")
    assert code == 2 and "--timeout" in err


# ---- item 5: bad URLs and tiny replies give exit 2 / 3 with a message -------------------


@pytest.mark.parametrize(("url", "words"), [
    ("emu://acoustic?max_oversample=100000", "max_oversample=100000 is outside 1..65535"),
    ("emu://acoustic?max_oversample=0", "outside 1..65535"),
    ("emu://acoustic?dac_bits=16", "dac_bits=16 is outside 1..15"),
    ("emu://acoustic?seed=-1", "seed=-1 is outside"),
    ("emu://acoustic?seed=99999999999", "outside 0..4294967295"),
    ("emu://acoustic?seed=one", "must be an integer"),
    ("emu://acoustic?batch=maybe", "0/1 or true/false"),
    ("emu://acoustic?seed=1&seed=2", "'seed' twice"),
    ("emu://acoustic?seed=1&unit_id=7", "both seed and unit_id"),
    ("emu://acoustic?unit_id=7&seed=1", "both seed and unit_id"),
    ("emu://nosuch.mod:f", "import path in a URL is not followed"),
    ("emu://this:x", "import path in a URL is not followed"),
    ("emu://sonar?seed=1", "unknown medium 'sonar'"),
    ("socket://127.0.0.1:99999", "port must be a number in 1..65535"),
    ("socket://", "names no host"),
    ("socket://127.0.0.1", "needs a port"),
    ("socket://127.0.0.1:0", "needs a port in 1..65535"),
    ("rfc2217://:5000", "names no host"),
])
def test_bad_urls_exit_2_naming_the_problem(capsys: pytest.CaptureFixture[str], url: str,
                                            words: str) -> None:
    code, err = cli(capsys, "info", url, "--timeout", "0.5")
    assert code == 2, err
    assert words in err


def test_empty_url_is_refused() -> None:
    with pytest.raises(ValueError, match="board URL is empty"):
        open_transport("  ")


def test_unit_id_is_an_alias_of_seed_in_either_order() -> None:
    assert parse_emu_url("emu://acoustic?unit_id=7").seed == 7
    assert parse_emu_url("emu://acoustic?seed=7").seed == 7
    with Board.open("emu://acoustic?unit_id=7&noise=0") as a, \
            Board.open("emu://acoustic?noise=0&seed=7") as b:
        assert a.caps.unit_id == b.caps.unit_id == 7
        drive = [[0.3] * 20]
        assert (a.query_float(drive)[0] == b.query_float(drive)[0]).all()


def test_emulate_tcp_port_out_of_range_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "emulate", "--tcp", "127.0.0.1:99999")
    assert code == 2 and "port 99999 is outside 0..65535" in err
    code, err = cli(capsys, "emulate", "--tcp", "127.0.0.1:http")
    assert code == 2 and "must be a number" in err
    assert tcp_address("5000") == ("127.0.0.1", 5000)
    assert tcp_address("0.0.0.0:0") == ("0.0.0.0", 0)


def test_emulate_on_a_taken_port_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, err = cli(capsys, "emulate", "--tcp", f"127.0.0.1:{port}")
    assert code == 2 and f"cannot serve on 127.0.0.1:{port}" in err


class FakeBoard(ScriptedTransport):
    """A transport answering HELLO (and CONFIGURE) with what a test wants a board to say."""

    def __init__(self, hello: bytes, config: bytes | None = None) -> None:
        super().__init__()
        self.hello = hello
        self.config = config if config is not None else wire.Config(0, 1, 8, 8).pack()

    def write(self, data: bytes) -> int:
        for body in wire.Deframer().feed(data):
            header, _ = wire.decode_frame(body)
            payload = self.hello if header.cmd == Cmd.HELLO else self.config
            self._out += wire.encode_frame(
                Header(cmd=header.cmd, seq=header.seq, flags=Flag.REPLY), payload)
        return len(data)


def _fake(hello: bytes, **kw: Any) -> Board:
    return Board(Link(FakeBoard(hello, **kw), timeout=0.2, retries=0), url="fake://")  # type: ignore[arg-type]


@pytest.mark.parametrize("hello", [bytes([wire.PROTOCOL_LEVEL]),
                                   bytes([wire.PROTOCOL_LEVEL]) + bytes(20), b""])
def test_short_hello_reply_is_a_protocol_mismatch(hello: bytes) -> None:
    with pytest.raises(ProtocolMismatch, match="not phyff firmware"):
        _fake(hello)


def test_short_configure_reply_is_a_link_error() -> None:
    with pytest.raises(ProtocolMismatch, match="CONFIGURE reply is 3 bytes"):
        _fake(GOOD_CAPS.pack(), config=b"\x00\x01\x02")


# ---- item 7: a lying board is refused on HELLO -------------------------------------------


@pytest.mark.parametrize(("field", "value", "words"), [
    ("n_drive", 0, "n_drive=0"),
    ("n_sense", 0, "n_sense=0"),
    ("max_payload", 0, "max_payload=0"),
    ("max_payload", 10, "max_payload=10"),
    ("max_oversample", 0, "max_oversample=0"),
    ("max_batch", 0, "max_batch=0"),
    ("max_batch", 1000, "more than max_payload"),
    ("dac_bits", 0, "dac_bits=0"),
    ("adc_bits", 16, "adc_bits=16"),
    ("features", 0x8000, "not defined at protocol level"),
])
def test_lying_board_is_refused(field: str, value: int, words: str) -> None:
    check_caps(GOOD_CAPS)  # the honest record passes
    caps = dataclasses.replace(GOOD_CAPS, **{field: value})
    with pytest.raises(BadCaps, match=words):
        _fake(caps.pack())


def test_reply_limit_is_checked() -> None:
    caps = dataclasses.replace(GOOD_CAPS, max_batch=40000, n_drive=1, max_payload=65535,
                               n_sense=8)
    with pytest.raises(BadCaps, match="exceeds the protocol's 65535"):
        check_caps(caps)


@contextmanager
def lying_server(hello: bytes) -> Iterator[str]:
    """A TCP 'board' on 127.0.0.1 that answers every request with ``hello``."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            board = FakeBoard(hello)
            with conn:
                conn.settimeout(2)
                try:
                    while data := conn.recv(4096):
                        board.write(data)
                        conn.sendall(board.read(1 << 20))
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        srv.close()
        thread.join(2)


@pytest.mark.parametrize(("field", "value"), [("n_drive", 0), ("max_batch", 0),
                                              ("max_oversample", 0), ("max_payload", 0)])
def test_cli_refuses_lying_board_exit_3(capsys: pytest.CaptureFixture[str], field: str,
                                        value: int) -> None:
    caps = dataclasses.replace(GOOD_CAPS, **{field: value})
    with lying_server(caps.pack()) as url:
        code, err = cli(capsys, "info", url, "--timeout", "1")
    assert code == 3, err
    assert f"{field}={value}" in err and "describes itself impossibly" in err


def test_cli_one_byte_hello_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    with lying_server(bytes([wire.PROTOCOL_LEVEL])) as url:
        code, err = cli(capsys, "info", url, "--timeout", "1")
    assert code == 3 and "HELLO reply is 1 bytes" in err


# ---- transports that fail, and the busy notice ---------------------------------------------


class Broken(DirectTransport):
    def __init__(self, fail: str) -> None:
        super().__init__(EmulatedDevice("emu://circuit?seed=1"))
        self.fail = fail

    def write(self, data: bytes) -> int:
        if self.fail == "write":
            raise serial.SerialException("write failed: [Errno 5] Input/output error")
        if self.fail == "write-timeout":
            raise serial.SerialTimeoutException("Write timeout")
        return super().write(data)

    def read(self, size: int = 1) -> bytes:
        if self.fail == "read":
            raise serial.SerialException("socket disconnected")
        return super().read(size)


@pytest.mark.parametrize(("fail", "kind", "words"), [
    ("write", LinkError, "failed while sending HELLO"),
    ("write-timeout", LinkTimeout, "could not send HELLO within"),
    ("read", LinkError, "failed while reading"),
])
def test_transport_failures_become_link_errors(fail: str, kind: type, words: str) -> None:
    with pytest.raises(kind, match=words):
        Board(Link(Broken(fail), timeout=0.3))  # type: ignore[arg-type]


def test_busy_notice_raises_board_busy() -> None:
    from phyff.board.link import BUSY_NOTICE

    class Busy(FakeBoard):
        def write(self, data: bytes) -> int:
            self._out += BUSY_NOTICE
            return len(data)

    with pytest.raises(BoardBusy, match="board busy: another host is attached"):
        Board(Link(Busy(b""), timeout=0.3))  # type: ignore[arg-type]


def test_pyserial_write_timeout_is_set() -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = open_transport(f"socket://127.0.0.1:{srv.getsockname()[1]}", timeout=0.7)
        try:
            assert port.write_timeout == 0.7  # type: ignore[attr-defined]
            link = Link(port, timeout=0.7)
            assert port.write_timeout == link.write_timeout >= 0.7  # type: ignore[attr-defined]
        finally:
            port.close()


# ---- item 8: media are registered, never imported from a URL -------------------------------


EVIL = """\
import pathlib
pathlib.Path({marker!r}).write_text("imported")


def factory(seed=0, **options):
    from phyff.media import CircuitMedium
    return CircuitMedium(seed=seed, **options)
"""


def test_url_never_imports_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "marker"
    (tmp_path / "evilmod.py").write_text(EVIL.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import phyff  # noqa: F401  (registers emu:// with pyserial)

    with pytest.raises(serial.SerialException, match="import path in a URL is not followed"):
        serial.serial_for_url("emu://evilmod:factory")
    with pytest.raises(ValueError, match="import path in a URL is not followed"):
        EmulatedDevice("emu://evilmod:factory?seed=1")
    code, err = cli(capsys, "info", "emu://evilmod:factory")
    assert code == 2 and "phyff emulate --medium pkg.module:factory" in err
    assert not marker.exists()


def test_emulate_medium_import_path_from_the_command_line(tmp_path: Path) -> None:
    """The command line may name code: --medium pkg.module:factory works."""
    marker = tmp_path / "marker"
    (tmp_path / "mymedium.py").write_text(EVIL.format(marker=str(marker)))
    env = {"PYTHONPATH": f"{Path(__file__).resolve().parents[1] / 'host'}:{tmp_path}",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "phyff.cli.main", "emulate", "--tcp", "127.0.0.1:0",
         "--medium", "mymedium:factory", "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://"), proc.stderr.read() if proc.stderr else ""
        with Board.open(url, timeout=2) as board:
            assert board.caps.medium == "circuit" and board.caps.unit_id == 5
        assert marker.exists()
    finally:
        proc.terminate()
        assert proc.wait(5) == 0


def test_refusal_line_then_close_raises_board_busy() -> None:
    """A server that writes its refusal as a plain line and closes (the simavr
    harness does) is reported as busy, not as a lost link."""

    class LineThenClose(FakeBoard):
        def __init__(self) -> None:
            super().__init__(b"")
            self._out = (b"phyff-simavr: board busy: another host is attached to this "
                         b"simulated Uno; close it first\n")

        def write(self, data: bytes) -> int:
            return len(data)

        def read(self, size: int = 1) -> bytes:
            if not self._out:
                raise serial.SerialException("socket disconnected")
            return super().read(size)

    with pytest.raises(BoardBusy, match="simulated Uno"):
        Board(Link(LineThenClose(), timeout=0.3))  # type: ignore[arg-type]


def test_wait_event_zero_means_what_has_arrived() -> None:
    link = Link(DirectTransport(EmulatedDevice("emu://circuit?seed=1")), timeout=0.5)
    assert link.wait_event(0) is None  # returns at once, reads nothing
