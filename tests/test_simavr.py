"""The Arduino Uno image (Arduino core, ATmega328P) built offline and run in simavr.

These run wherever gcc-avr, avr-libc, arduino-core-avr and libsimavr-dev are
installed, CI included, and skip with the install command otherwise. The
image is built with PlatformIO when it works offline and with the direct
avr-gcc build from the same definition; both are exercised when possible.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from phyff.board import Board
from phyff.emulator import simavr
from phyff.emulator.medium_server import MediumServer, MediumService
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Config, Event, Header, QueryHead

UNAVAILABLE = simavr.simavr_unavailable()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"simavr board: {UNAVAILABLE}")

SPEC = "emu://acoustic?seed=13"
FLASH_LIMIT = 32256  # the Uno's flash less its bootloader
STACK_RESERVE = 512  # RAM the QUERY path's stack and the Arduino core need beyond static data


@pytest.fixture(scope="module")
def uno() -> Iterator[simavr.SimavrBoard]:
    with simavr.SimavrBoard(SPEC) as board:  # finds the Uno image, or builds it
        yield board


def test_direct_build_fits_the_atmega328p() -> None:
    elf = simavr.build_with_avr_gcc()
    sizes = simavr.image_sizes(elf)
    assert sizes["flash"] <= FLASH_LIMIT, sizes
    assert sizes["ram"] <= simavr.RAM_SIZE - STACK_RESERVE, sizes
    # ARD-A4: every buffer is static; no heap allocator is linked in
    symbols = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert not {"malloc", "calloc", "realloc", "free"} & set(symbols)


@pytest.mark.skipif(not simavr.pio_ready(), reason="PlatformIO not set up offline "
                    "(firmware/tools/pio-offline.sh)")
def test_platformio_uno_sim_env_builds_the_same_program() -> None:
    pio = simavr.build_firmware(use_pio=True)
    assert pio == simavr.pio_elf()
    direct = simavr.build_with_avr_gcc()
    # Same sources and flags; link order may differ, the sizes do not.
    assert simavr.image_sizes(pio) == simavr.image_sizes(direct)
    assert simavr.elf_device(pio) == "atmega328p"


def test_spec_is_fitted_to_the_uno() -> None:
    spec = simavr.uno_spec("emu://optical?seed=4&n_in=80&n_out=40&noise=0.01")
    assert (spec.medium, spec.seed, spec.dac_bits, spec.adc_bits) == ("optical", 4, 8, 10)
    assert spec.options == {"n_in": 4, "n_out": 6, "noise": 0.01}


def test_replies_match_the_emulator_configured_like_the_uno(uno: simavr.SimavrBoard) -> None:
    """SIM-S3: one medium row per sense round, so the Uno answers byte for byte
    as the emulator configured like it, within its limits (CFG-C3)."""
    rng = np.random.default_rng(1)
    drive = rng.integers(-2000, 32768, size=(45, 4), dtype=np.int16)  # 3 frames of <= 20
    with Board.open(uno.url) as board, Board.open(uno.spec.url()) as reference:
        assert (board.caps.board, board.n_drive, board.n_sense) == ("uno", 4, 6)
        assert (board.caps.dac_bits, board.caps.adc_bits, board.caps.max_payload) == (8, 10, 192)
        for config in (Config(0, 1, 4, 6), Config(0, 3, 4, 6), Config(50, 1, 2, 4)):
            for b in (board, reference):
                b.configure(settle_us=config.settle_us, oversample=config.oversample,
                            n_drive=config.n_drive_active, n_sense=config.n_sense_active)
            x = drive[:, : config.n_drive_active]
            got, want = board.query(x), reference.query(x)
            assert np.array_equal(got.sense, want.sense)
            assert np.array_equal(got.saturated, want.saturated)
        stats = board.stats()
    # 45 rows in frames the Uno accepts: the host split them, nothing was refused.
    assert stats.error_replies == 0 and stats.bad_commands == 0
    assert stats.samples_served == 3 * 45


def test_a_second_host_is_told_the_board_is_busy(uno: simavr.SimavrBoard) -> None:
    """SIM-S2."""
    with Board.open(uno.url) as first:
        with socket.create_connection(("127.0.0.1", uno.port), timeout=5) as second:
            second.settimeout(5)
            message = b""
            while chunk := second.recv(256):
                message += chunk
        assert b"board busy" in message and b"close it first" in message
        assert first.hello().board == "uno"  # the attached host is not disturbed


def _frames(sock: socket.socket, deframer: wire.Deframer, n: int) -> list[tuple[Header, bytes]]:
    """The next n frames from the board."""
    frames: list[tuple[Header, bytes]] = []
    while len(frames) < n:
        chunk = sock.recv(512)
        assert chunk, "the simulated Uno closed the connection"
        frames += [wire.decode_frame(body) for body in deframer.feed(chunk)]
    return frames


def test_first_host_meets_the_start_up_event_and_diag_stamps_every_reply(
        tmp_path: Path) -> None:
    """SIM-S1 and ARD-A1: the simulation starts with the first host, which gets
    the board's start-up event; ARD-A2: loop() answers each request; SIM-S7:
    one --diag line per reply (to a request sent once the previous reply came),
    with the sense rounds between request and reply."""
    diag = tmp_path / "diag.txt"
    x = np.full((3, 4), 12000, dtype=np.int16)
    with simavr.SimavrBoard(SPEC, diag=diag) as uno, \
            socket.create_connection(("127.0.0.1", uno.port), timeout=10) as sock:
        deframer = wire.Deframer()
        [(header, payload)] = _frames(sock, deframer, 1)
        assert header.is_event and header.seq == 0 and header.cmd == Cmd.EVENT
        assert Event.unpack(payload).arg == wire.PROTOCOL_LEVEL
        replies = []
        for request in (wire.encode_frame(Header(cmd=Cmd.HELLO, seq=1)),
                        wire.encode_frame(Header(cmd=Cmd.QUERY, seq=2),
                                          QueryHead(3, 4).pack() + wire.pack_samples(x))):
            sock.sendall(request)  # one request at a time, as the cycle stamps assume
            replies += _frames(sock, deframer, 1)
    assert [(h.seq, h.is_error) for h, _ in replies] == [(1, False), (2, False)]
    lines = diag.read_text().splitlines()
    stamps = [re.fullmatch(r"reply start=(\d+) end=(\d+) rounds=(\d+) first=(\d+) last=(\d+)"
                           r" sp_min=(\d+)", line) for line in lines]
    assert len(lines) == 2 and all(stamps), lines
    hello, query = [tuple(int(v) for v in m.groups()) for m in stamps if m]
    assert hello[0] < hello[1] and hello[2:5] == (0, 0, 0)
    start, end, rounds, first, last, sp_min = query
    assert rounds == 3 and start < first <= last < end  # one sense round per sample
    # the lowest stack pointer so far: inside the RAM (0x100..RAMEND), never rising
    assert 0x100 <= sp_min <= hello[5] <= 0x8FF


def test_wrong_images_are_refused_with_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.elf"
    with pytest.raises(simavr.SimavrError, match="does not exist"):
        simavr.check_elf(missing)
    text = tmp_path / "firmware.elf"
    text.write_text("not an image")
    with pytest.raises(simavr.SimavrError, match="not an ELF"):
        simavr.check_elf(text)
    host_elf = Path(shutil.which("true") or "/bin/true")
    with pytest.raises(simavr.SimavrError, match="not an AVR image"):
        simavr.check_elf(host_elf)
    src = tmp_path / "main.c"
    src.write_text("int main(void) { return 0; }\n")
    mega = tmp_path / "mega.elf"
    subprocess.run(["avr-gcc", "-mmcu=atmega2560", str(src), "-o", str(mega)], check=True)
    with pytest.raises(simavr.SimavrError, match=r"atmega2560.*-mmcu=atmega328p"):
        simavr.SimavrBoard(SPEC, elf=mega).start()


def test_missing_simavr_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(simavr, "harness_path", lambda: tmp_path / "phyff-simavr")
    monkeypatch.setattr(simavr, "_simavr_dev_present", lambda: False)
    with pytest.raises(simavr.SimavrError, match=r"apt-get install .*libsimavr-dev"):
        simavr.SimavrBoard(SPEC).start()


def test_harness_refuses_a_medium_the_uno_is_not_wired_for() -> None:
    """SIM-S4, with exit code 2 (SIM-S6)."""
    elf, harness = simavr.ensure_firmware(), simavr.build_harness()
    server = MediumServer(MediumService("emu://acoustic?seed=1&n_in=6&n_out=4")).start()
    try:
        proc = subprocess.run([str(harness), "--elf", str(elf), "--medium", server.address],
                              capture_output=True, text=True, timeout=20, check=False)
    finally:
        server.close()
    assert proc.returncode == 2
    assert "n_in=4&n_out=6&dac_bits=8&adc_bits=10" in proc.stderr


def test_arduino_library_layout_and_example_sketch(tmp_path: Path) -> None:
    lib = simavr.assemble_library(tmp_path)
    props = dict(line.split("=", 1) for line in
                 (lib / "library.properties").read_text().splitlines() if "=" in line)
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph",
                "category", "architectures"):
        assert props.get(key), f"library.properties lacks {key}"
    assert props["category"] in ("Display", "Communication", "Signal Input/Output", "Sensors",
                                 "Device Control", "Timing", "Data Storage",
                                 "Data Processing", "Other")
    assert (lib / "library.json").is_file()
    assert (lib / "src" / "phyff_arduino.h").is_file()
    assert (lib / "examples" / "phyff_board" / "phyff_board.ino").is_file()
    with zipfile.ZipFile(tmp_path / "phyff-arduino.zip") as z:
        assert "phyff/library.properties" in z.namelist()
    sketch = lib / "examples" / "phyff_board" / "phyff_board.ino"
    example = simavr.build_sketch(sketch, lib, tmp_path / "build")
    assert simavr.elf_device(example) == "atmega328p"
    sizes = simavr.image_sizes(example)
    assert sizes["flash"] <= FLASH_LIMIT and sizes["ram"] <= simavr.RAM_SIZE - STACK_RESERVE


@pytest.mark.skipif(shutil.which("arduino-builder") is None,
                    reason="arduino-builder not installed (apt-get install arduino-builder)")
def test_the_arduino_ides_builder_compiles_the_example_and_it_runs(tmp_path: Path) -> None:
    lib = simavr.assemble_library(tmp_path / "libraries")
    sketch = lib / "examples" / "phyff_board" / "phyff_board.ino"
    elf = simavr.build_with_arduino_builder(sketch, lib.parent, tmp_path / "ide")
    sizes = simavr.image_sizes(elf)
    assert sizes["flash"] <= FLASH_LIMIT and sizes["ram"] <= simavr.RAM_SIZE - STACK_RESERVE
    # what the IDE would upload is a working board
    with simavr.SimavrBoard(SPEC, elf=elf) as uno, Board.open(uno.url) as board:
        assert board.caps.board == "uno"
        x = np.full((3, 4), 16000, dtype=np.int16)
        with Board.open(uno.spec.url()) as reference:
            assert np.array_equal(board.query(x).sense, reference.query(x).sense)
