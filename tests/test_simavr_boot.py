"""The simulated Uno boots like a real one: optiboot, DTR-like reset on open, uploads.

The harness (firmware/sim/simavr, rules SIM-B1-B8) loads optiboot into the boot
section with the Uno's fuses and resets the MCU whenever a host connects.
These tests upload through the real tools (avrdude, PlatformIO, `phyff
flash`), check each image answers HELLO with its own identity, that a
failed upload leaves a board the host names as such, and that phyff's
first contact survives the bootloader every time. They need what
tests/test_simavr.py needs, plus avrdude (CI installs both).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from silent import silent_port

from phyff.board.bootloader import BootloaderOnly, probe_stk500
from phyff.board.client import Board
from phyff.cli.main import main as phyff
from phyff.emulator import simavr
from phyff.perf.autoreset import soak

UNAVAILABLE = simavr.simavr_unavailable() or (
    None if shutil.which("avrdude") else "avrdude not installed (apt-get install avrdude)")
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"simavr boot: {UNAVAILABLE}")

SPEC = "emu://acoustic?seed=2"
ROOT = Path(__file__).resolve().parents[1]


def avrdude(url: str, image: Path) -> subprocess.CompletedProcess[str]:
    cmd = ["avrdude", "-c", "arduino", "-p", "m328p", "-P", simavr.avrdude_port(url),
           "-b", "115200", "-U", f"flash:w:{image}:i"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Two builds of the Uno image that differ in their identity (caps.unit_id)."""
    out = tmp_path_factory.mktemp("uno-images")
    return {unit: simavr.build_image_hex(out / f"unit{unit}", {"PHYFF_UNIT_ID": f"{unit}u"})
            for unit in (11, 22)}


@pytest.fixture()
def blank() -> Iterator[simavr.SimavrBoard]:
    """A Uno with only its bootloader (an erased application flash)."""
    with simavr.SimavrBoard(SPEC, bootloader=True, erased=True) as board:
        yield board


@pytest.fixture()
def uno() -> Iterator[simavr.SimavrBoard]:
    """A Uno with optiboot and the current image, reset on open (phyff emulate --simavr)."""
    with simavr.SimavrBoard(SPEC, bootloader=True) as board:
        yield board


def test_bootloader_and_image_fit_the_uno() -> None:
    hex_lines = simavr.build_bootloader().read_text().split()
    addresses = [int(line[3:7], 16) + int(line[1:3], 16) for line in hex_lines
                 if line[7:9] == "00"]
    starts = [int(line[3:7], 16) for line in hex_lines if line[7:9] == "00"]
    assert min(starts) == simavr.FLASH_SIZE - simavr.BOOT_SECTION
    assert max(addresses) <= simavr.FLASH_SIZE
    sizes = simavr.image_sizes(simavr.build_with_avr_gcc())
    assert sizes["flash"] <= simavr.FLASH_SIZE - simavr.BOOT_SECTION, sizes
    assert sizes["ram"] <= simavr.RAM_SIZE, sizes


def test_avrdude_uploads_two_images_in_turn(blank: simavr.SimavrBoard,
                                            images: dict[int, Path]) -> None:
    for unit, image in images.items():
        proc = avrdude(blank.url, image)
        assert proc.returncode == 0, proc.stderr
        assert "bytes of flash verified" in proc.stderr
        with Board.open(blank.url) as board:
            assert board.caps.board == "uno"
            assert board.caps.unit_id == unit


def test_a_failed_upload_leaves_a_board_that_says_so(images: dict[int, Path]) -> None:
    # The flash stops taking page writes at 0x800: avrdude's verify fails there.
    with simavr.SimavrBoard(SPEC, bootloader=True, app=images[11],
                            flash_fault=0x800) as board:
        with Board.open(board.url) as b:  # the old image runs until the upload
            assert b.caps.unit_id == 11
        proc = avrdude(board.url, images[22])
        assert proc.returncode != 0
        assert "verification mismatch" in proc.stderr
        with pytest.raises(BootloaderOnly, match=r"bootloader does \(STK500, ATmega328P.*"
                                                 r"empty or damaged.*phyff flash --board"):
            Board.open(board.url, timeout=0.5, retries=1)
        reply = probe_stk500(board.url)
        assert reply is not None and reply.env == "uno"


def test_first_contact_info_ports_and_train(uno: simavr.SimavrBoard, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert phyff(["info", uno.url]) == 0
    out, err = capsys.readouterr()
    assert "board      uno" in out and err == ""
    assert phyff(["ports", uno.url]) == 0
    out, _ = capsys.readouterr()
    assert re.search(rf"^phyff\s+{re.escape(uno.url)}\s+uno", out, re.M), out
    rows = ["label,a,b,split"]
    for i in range(40):
        y = i % 2
        a, b = (0.25, 0.7) if y else (0.7, 0.25)
        rows.append(f"{y},{a + 0.01 * (i % 5)},{b - 0.01 * (i % 3)},"
                    f"{'test' if i >= 30 else 'train'}")
    csv = tmp_path / "two.csv"
    csv.write_text("\n".join(rows) + "\n")
    code = phyff(["train", "--board", uno.url, "--dataset", f"csv:{csv}", "--epochs", "2",
                  "--run", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "test accuracy" in out


def test_open_close_soak_100_handshakes(uno: simavr.SimavrBoard) -> None:
    result = soak(uno.url, 100)
    assert result.failures == []
    assert result.handshakes == 100
    print(f"\n{result.summary()}")


def test_phyff_flash_builds_uploads_and_checks_hello(
        uno: simavr.SimavrBoard, capsys: pytest.CaptureFixture[str]) -> None:
    if not simavr.pio_ready():
        pytest.skip("PlatformIO not set up offline (firmware/tools/pio-offline.sh)")
    assert phyff(["flash", "--board", uno.url]) == 0
    out, _ = capsys.readouterr()
    assert "flashed env uno_sim (the board says it is 'uno' (HELLO))" in out
    assert "protocol level" in out


def test_phyff_flash_reports_a_failed_verify(images: dict[int, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    if not simavr.pio_ready():
        pytest.skip("PlatformIO not set up offline (firmware/tools/pio-offline.sh)")
    with simavr.SimavrBoard(SPEC, bootloader=True, app=images[11], flash_fault=0) as board:
        assert phyff(["flash", "--board", board.url, "--env", "uno_sim", "--no-build"]) == 3
    _, err = capsys.readouterr()
    assert "failed its verify" in err and "bootloader is intact" in err
    assert "Traceback" not in err


def test_phyff_flash_refuses_a_board_it_cannot_tell(capsys: pytest.CaptureFixture[str]) -> None:
    """A TCP port where nothing answers: no HELLO, no bootloader, no USB ids."""
    with silent_port() as port:
        url = f"socket://127.0.0.1:{port}"
        code = phyff(["flash", "--board", url, "--timeout", "0.3"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "cannot tell which firmware" in err and "Pass --env, one of: uno" in err
    assert phyff(["flash", "--board", url, "--env", "nano"]) == 2
    assert "no env 'nano'" in capsys.readouterr().err


def test_the_upload_instructions_in_docs_boards_md(
        blank: simavr.SimavrBoard, images: dict[int, Path]) -> None:
    """docs/boards.md's upload commands for the simulated Uno, run as written."""
    text = (ROOT / "docs" / "boards.md").read_text()
    section = text.split("### Uploading to the simulated Uno", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```\n(.*?)^```", section, re.M | re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()
                if line.strip().startswith(("avrdude ", "pio run "))]
    assert any(c.startswith("avrdude ") for c in commands)
    assert any(c.startswith("pio run ") for c in commands)
    port = blank.url.rsplit(":", 1)[1]
    for command in commands:
        if command.startswith("pio ") and not simavr.pio_ready():
            continue
        line = command.split("#", 1)[0].replace("PORT", port)
        argv = shlex.split(re.sub(r"[^\s:]*firmware\.hex", str(images[22]), line))
        cwd = ROOT / "firmware" if argv[0] == "pio" else ROOT
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, f"{command}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        with Board.open(blank.url) as board:
            assert board.caps.board == "uno"
