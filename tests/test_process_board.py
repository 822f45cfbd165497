"""A firmware image in an emulator subprocess as a board, and how images are found and built.

The lifecycle (:class:`~phyff.emulator.process_board.ProcessBoard`) is
tested here once with a stand-in emulator (a small Python program that
listens like QEMU or the simavr harness does), so these run everywhere;
then the same promises against the real emulators, each where it is
installed. The image recipe (:mod:`phyff.emulator.image`) is tested on a
throw-away checkout.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from phyff.board.client import Board
from phyff.emulator import image
from phyff.emulator.image import FirmwareImage, filter_sources, pio_options
from phyff.emulator.process_board import ProcessBoard, free_port, serve_board

SPEC = "emu://acoustic?seed=3"

# The stand-in emulator: argv = mode, port. "serve" listens on the port (0: any)
# and says so on stderr like the simavr harness, then greets each connection;
# "fail" exits at once with a message; "mute" never listens; "crash" listens, then
# exits after 0.5 s.
FAKE = r"""
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
if mode == "fail":
    sys.stderr.write("fake: cannot load libfake.so\n")
    sys.exit(1)
if mode == "mute":
    time.sleep(60)
s = socket.socket()
try:
    s.bind(("127.0.0.1", port))
except OSError as exc:
    sys.stderr.write(f"fake: {exc}\n")
    sys.exit(1)
s.listen()
sys.stderr.write(f"fake: listening on 127.0.0.1:{s.getsockname()[1]}\n")
sys.stderr.flush()
if mode == "crash":
    time.sleep(0.5)
    sys.exit(3)
while True:
    conn, _ = s.accept()
    conn.sendall(b"hello\n")
    conn.close()
"""


class FakeError(RuntimeError):
    pass


class FakeBoard(ProcessBoard):
    name = "fake"
    process = "the fake emulator"
    error = FakeError
    launch_attempts = 3

    def __init__(self, mode: str = "serve", ports: list[int] | None = None, **kw: object) -> None:
        super().__init__(SPEC, **kw)  # type: ignore[arg-type]
        self.mode = mode
        self.ports = list(ports or [])
        self.launched: list[int] = []

    def prepare(self) -> None:
        pass

    def pick_port(self) -> int:
        return self.ports.pop(0) if self.ports else 0

    def command(self, port: int) -> list[str]:
        assert self.medium is not None  # the medium server is up before the emulator
        self.launched.append(port)
        return [sys.executable, "-c", FAKE, self.mode, str(port)]

    def listening_port(self, line: bytes, port: int) -> int | None:
        m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
        return int(m.group(1)) if m else None

    def start_hint(self) -> str:
        return " (install libfake)" if "libfake" in self.stderr else ""

    def banner(self) -> str:
        return "a fake board"


def _greeting(url: str) -> bytes:
    host, port = url.removeprefix("socket://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        return s.recv(16)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


# ---- the lifecycle, with the stand-in ------------------------------------------


def test_the_board_serves_and_leaving_stops_everything() -> None:
    board = FakeBoard()
    with pytest.raises(RuntimeError, match="boom"), board:
        assert board.running() and board.proc is not None and board.medium is not None
        pid, medium_port = board.proc.pid, board.medium.port
        assert _greeting(board.url) == b"hello\n"
        assert "listening on" in board.stderr
        raise RuntimeError("boom")
    assert board.proc is None and board.medium is None and not board.running()
    assert _gone(pid) and _refused(medium_port)
    board.close()  # twice is fine


def test_the_url_of_a_board_not_started_says_how_to_start_it() -> None:
    with pytest.raises(FakeError, match=r"not started.*context manager"):
        _ = FakeBoard().url


def test_an_emulator_that_exits_at_start_is_reported_with_its_message() -> None:
    board = FakeBoard("fail")
    with pytest.raises(FakeError, match=r"the fake emulator did not start: fake: cannot load "
                                        r"libfake\.so \(install libfake\)"):
        board.start()
    assert board.medium is None and board.proc is None
    assert len(board.launched) == 3  # no port was asked for: each attempt had its chance


def test_a_taken_port_is_retried_unless_it_was_asked_for() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        free = free_port()
        with FakeBoard(ports=[busy, free]) as board:
            assert board.launched == [busy, free] and board.port == free
            assert _greeting(board.url) == b"hello\n"
        asked = FakeBoard(port=busy)
        with pytest.raises(FakeError, match=r"did not start: fake: .*in use"):
            asked.start()
        assert asked.launched == [busy]


def test_an_emulator_that_never_listens_times_out_and_is_stopped() -> None:
    board = FakeBoard("mute", start_timeout=1.0)
    t0 = time.monotonic()
    with pytest.raises(FakeError, match="did not open its host link within 1 s: no message"):
        board.start()
    assert time.monotonic() - t0 < 10
    assert board.proc is None and board.medium is None


def _serve(make: Callable[[], ProcessBoard], error: type[Exception],
           capsys: pytest.CaptureFixture[str], stop_after: float | None) -> tuple[int, str, str]:
    """Run serve_board in a thread; stop it after stop_after s (None: let it end)."""
    stop = threading.Event()
    rc: list[int] = []
    thread = threading.Thread(target=lambda: rc.append(serve_board(make, error, stop, True)))
    thread.start()
    if stop_after is not None:
        time.sleep(stop_after)
        stop.set()
    thread.join(timeout=30)
    out = capsys.readouterr()
    assert rc, "serve_board did not return"
    return rc[0], out.out, out.err


def test_serving_prints_the_url_and_stops_when_told(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _serve(FakeBoard, FakeError, capsys, stop_after=1.0)
    assert rc == 0 and re.fullmatch(r"socket://127\.0\.0\.1:\d+\n", out), out
    assert "# a fake board; Ctrl-C to stop" in err and "# medium server: 0 requests" in err


def test_serving_ends_when_the_emulator_does(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _serve(lambda: FakeBoard("crash"), FakeError, capsys, stop_after=None)
    assert rc == 1 and out.startswith("socket://") and "fake stopped: fake: listening" in err


def test_serving_a_board_that_cannot_start_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _serve(lambda: FakeBoard("fail"), FakeError, capsys, stop_after=None)
    assert rc == 1 and out == "" and "phyff: the fake emulator did not start" in err


# ---- the same promises against the real emulators --------------------------------


# A real emulator: its board (built on the image), and its ``phyff emulate`` loop.
Emulator = tuple[Callable[[], ProcessBoard], Callable[..., int]]


def _qemu() -> tuple[str | None, Callable[[], ProcessBoard], Callable[..., int]]:
    from phyff.emulator import qemu

    return (qemu.qemu_unavailable(), lambda: qemu.QemuBoard(SPEC, elf=qemu.ensure_firmware()),
            qemu.run_qemu_board)


def _simavr() -> tuple[str | None, Callable[[], ProcessBoard], Callable[..., int]]:
    from phyff.emulator import simavr

    return (simavr.simavr_unavailable(),
            lambda: simavr.SimavrBoard(SPEC, elf=simavr.ensure_firmware()),
            simavr.run_simavr_board)


@pytest.fixture(params=[_qemu, _simavr], ids=["qemu", "simavr"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    reason, make, run = request.param()
    if reason is not None:
        pytest.skip(f"{request.node.callspec.id} board: {reason}")
    yield make, run


def test_a_real_board_shut_down_leaves_nothing_behind(emulator: Emulator) -> None:
    make, _ = emulator
    board = make()
    with pytest.raises(RuntimeError, match="boom"), board:
        assert board.proc is not None and board.medium is not None
        pid, port, medium_port = board.proc.pid, board.port, board.medium.port
        with Board.open(board.url) as client:
            client.query(np.zeros((2, client.n_drive), dtype=np.int16))
        raise RuntimeError("boom")
    assert board.proc is None and board.medium is None and _gone(pid)
    assert _refused(port) and _refused(medium_port)
    board.close()  # twice is fine


def test_phyff_emulate_serves_a_real_board_until_stopped(
        emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    _, run = emulator
    stop = threading.Event()
    rc: list[int] = []
    thread = threading.Thread(target=lambda: rc.append(run(SPEC, port=0, stop=stop,
                                                           verbose=False)))
    thread.start()
    try:
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            url = next((line for line in capsys.readouterr().out.splitlines()
                        if line.startswith("socket://")), "")
            time.sleep(0.05)
        assert url, "no URL printed"
        with Board.open(url) as board:
            sense = board.query(np.zeros((2, board.n_drive), dtype=np.int16)).sense
            assert sense.shape == (2, board.n_sense)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert rc == [0]


# ---- images --------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away checkout (PHYFF_REPO) with a platformio.ini and a few sources."""
    monkeypatch.setenv("PHYFF_REPO", str(tmp_path))
    fw = tmp_path / "firmware"
    for rel in ("src/core/a.c", "src/core/a.h", "src/b.cpp", "ports/x/x.c", "ports/y/y.c",
                "platforms/p/boards/b.json"):
        (fw / rel).parent.mkdir(parents=True, exist_ok=True)
        (fw / rel).write_text("/* */\n")
    (fw / "platformio.ini").write_text(
        "[platformio]\nsrc_dir = .\n\n"
        "[common]\nflags = -DA ${deeper.flags}\n\n[deeper]\nflags = -DB\n\n"
        "[loop]\nflags = ${loop.flags}\n\n"
        "[env]\nbuild_flags = -DDEFAULT\nboard = generic\n\n"
        "[env:x]\nbuild_src_filter = +<src/> +<ports/x/> -<src/b.cpp>\n"
        "build_flags = ${common.flags} -DX\n\n"
        "[env:loop]\nbuild_flags = ${loop.flags}\n")
    return tmp_path


def test_pio_options_resolve_references_and_fall_back_to_env(checkout: Path) -> None:
    opts = pio_options("x")
    assert opts["build_flags"] == "-DA -DB -DX" and opts["board"] == "generic"
    assert opts["build_src_flags"] == "" and opts["src_dir"] == "."
    assert pio_options("other")["build_flags"] == "-DDEFAULT"
    with pytest.raises(FakeError, match="nest too deeply"):
        pio_options("loop", FakeError)


def test_the_source_filter_picks_what_platformio_would(checkout: Path) -> None:
    fw = (checkout / "firmware").resolve()

    def names(found: list[Path]) -> list[str]:
        return sorted(p.relative_to(fw).as_posix() for p in found)

    x = pio_options("x")["build_src_filter"]
    assert names(filter_sources(fw, x, (".c", ".cpp"))) == ["ports/x/x.c", "src/core/a.c"]
    assert names(filter_sources(fw, "+<*> -<ports/>", (".c",))) == ["src/core/a.c"]
    assert names(filter_sources(fw, "+<src/*.cpp>", (".c",))) == []
    assert filter_sources(fw, "+<*> -<*>", (".c", ".cpp")) == []


def _image(direct: Callable[..., Path]) -> FirmwareImage:
    return FirmwareImage(env="x", build_dir="x", port="x", platform="p", error=FakeError,
                         direct=direct)


def _age(path: Path, seconds_ago: float) -> None:
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_the_newest_fresh_image_is_found_and_stale_ones_are_not(checkout: Path) -> None:
    img = _image(lambda verbose: Path())
    assert img.find_elf() is None
    for elf in (img.pio_elf(), img.gcc_elf()):
        elf.parent.mkdir(parents=True, exist_ok=True)
        elf.write_bytes(b"\x7fELF")
    for src in img.source_files():
        _age(src, 100)
    _age(img.pio_elf(), 50)
    _age(img.gcc_elf(), 10)
    assert img.find_elf() == img.gcc_elf()
    _age(checkout / "firmware" / "ports" / "x" / "x.c", 20)  # edited after pio's build
    assert img.find_elf() == img.gcc_elf()
    _age(checkout / "firmware" / "ports" / "y" / "y.c", 0)  # not this image's port
    assert img.find_elf() == img.gcc_elf()
    _age(checkout / "firmware" / "src" / "core" / "a.h", 0)  # a shared header edited
    assert img.find_elf() is None


def test_a_failed_pio_build_falls_back_to_the_direct_build(
        checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = checkout / "bin"
    bin_dir.mkdir()
    pio = bin_dir / "pio"
    pio.write_text("#!/bin/sh\necho 'registry unreachable' >&2\nexit 1\n")
    pio.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    built = checkout / "direct.elf"
    assert _image(lambda verbose: built).build(use_pio=True) == built

    def broken(verbose: bool) -> Path:
        raise FakeError("no compiler")

    with pytest.raises(FakeError, match=r"(?s)no compiler.*pio run -e x failed too.*"
                                        r"registry unreachable"):
        _image(broken).build(use_pio=True)
    with pytest.raises(FakeError, match=r"^no compiler$"):
        _image(broken).build(use_pio=False)


def test_the_repository_is_found_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHYFF_REPO", raising=False)
    assert (image.firmware_dir() / "platformio.ini").is_file()
