"""The firmware image itself, built for a Cortex-M3 and run in QEMU against the host.

These run wherever qemu-system-arm and arm-none-eabi-gcc (with newlib) are
installed, CI included, and skip with the install command otherwise. The
image is built with PlatformIO when it works offline, else with the direct
gcc fallback from the same definition; both are exercised when possible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from phyff.board.client import Board
from phyff.board.link import BoardError
from phyff.emulator import parse_emu_url, qemu
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Config, Feature, QueryHead, Status

UNAVAILABLE = qemu.qemu_unavailable()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"QEMU board: {UNAVAILABLE}")

SPEC = "emu://acoustic?seed=11&n_in=6&n_out=4"
FLASH_BUDGET = 32 * 1024
RAM_BUDGET = 16 * 1024


def section_sizes(elf: Path) -> tuple[int, int, int]:
    """text, data, bss as arm-none-eabi-size reports them (Berkeley format)."""
    out = subprocess.run(["arm-none-eabi-size", "-B", "-d", str(elf)], capture_output=True,
                         text=True, check=True).stdout.splitlines()[1].split()
    return int(out[0]), int(out[1]), int(out[2])


@pytest.fixture(scope="module")
def qemu_board() -> Iterator[qemu.QemuBoard]:
    with qemu.QemuBoard(SPEC) as board:  # finds the image, or builds it
        yield board


def test_direct_gcc_build_fits_the_budget() -> None:
    elf = qemu.build_with_gcc()
    text, data, bss = section_sizes(elf)
    assert text + data <= FLASH_BUDGET, f"flash {text + data} bytes"
    assert data + bss <= RAM_BUDGET, f"RAM {data + bss} bytes (stack included)"


def test_the_image_carries_on_device_inference(qemu_board: qemu.QemuBoard) -> None:
    """Two model slots that hold a vowels7 network (4,062 bytes), in RAM only."""
    with Board.open(qemu_board.url) as board:
        assert board.caps.features & Feature.INFER
        assert not board.caps.features & Feature.MODEL_PERSIST  # no storage on QEMU
        assert board.caps.model_capacity >= 4062


@pytest.mark.skipif(not qemu.pio_ready(), reason="PlatformIO is not set up for offline use "
                    "(pip install platformio scons && firmware/tools/pio-offline.sh)")
def test_platformio_build_matches_the_direct_build() -> None:
    elf = qemu.build_firmware(use_pio=True)
    assert elf == qemu.pio_elf()
    # one definition, two builders: the same code comes out
    assert section_sizes(elf) == section_sizes(qemu.build_with_gcc())


def test_hello_and_query_round_trip(qemu_board: qemu.QemuBoard) -> None:
    with Board.open(qemu_board.url) as board:
        caps = board.caps
        assert (caps.board, caps.medium, caps.unit_id) == ("qemu-mps2-an385", "acoustic", 11)
        assert (caps.n_drive, caps.n_sense, caps.dac_bits, caps.adc_bits) == (6, 4, 12, 12)
        assert caps.features & Feature.EMULATED and caps.max_payload == 1024
        result = board.query(np.full((3, 6), 16000, dtype=np.int16))
        assert result.sense.shape == (3, 4) and not result.saturated.any()
        with pytest.raises(BoardError) as info:
            board.link.request(Cmd.QUERY, QueryHead(caps.max_batch + 1, 6).pack())
        assert (info.value.status, info.value.arg) == (Status.BATCH_TOO_LARGE, caps.max_batch)


def test_replies_are_byte_identical_to_the_emulator() -> None:
    """Fresh QEMU board and fresh emulator, same seed, same frames: same reply bytes."""
    spec = parse_emu_url("emu://acoustic?seed=23&n_in=5&n_out=3")
    rng = np.random.default_rng(4)
    with qemu.QemuBoard(spec) as qb, Board.open(qb.url) as board, \
            Board.open(spec.url()) as emulator:
        requests: list[tuple[int, bytes]] = [
            (Cmd.CONFIGURE, Config(0, 3, 5, 3).pack()),
            (Cmd.CONFIGURE, Config(0, 1, 4, 2).pack()),
        ]
        for n in (1, 8, 17, board.max_batch):
            drive = rng.integers(-100, 32768, size=(n, 5), dtype=np.int16)
            requests.insert(1, (Cmd.QUERY, QueryHead(n, 5).pack() + wire.pack_samples(drive)))
            requests.append((Cmd.QUERY, QueryHead(n, 4).pack() + wire.pack_samples(drive[:, :4])))
        for cmd, payload in requests:
            got = board.link.request(cmd, payload)
            want = emulator.link.request(cmd, payload)
            assert got == want, f"{Cmd(cmd).name} of {len(payload)} bytes differs"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_an_idle_board_sleeps(qemu_board: qemu.QemuBoard) -> None:
    with Board.open(qemu_board.url):
        assert qemu_board.proc is not None
        pid = qemu_board.proc.pid
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        used = _cpu_seconds(pid) - before
    assert used < 0.5, f"QEMU used {used:.2f} s of CPU in 1 s while the board was idle"


def test_missing_firmware_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(qemu.QemuError, match="pio run -e qemu"):
        qemu.QemuBoard(SPEC, elf=tmp_path / "nothing.elf").start()


def test_qemu_unavailable_names_the_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(qemu.shutil, "which",
                        lambda name: None if name == qemu.QEMU else real_which(name))
    reason = qemu.qemu_unavailable()
    assert reason is not None and "apt-get install" in reason and "qemu-system-arm" in reason


PROJECTION_FACTOR = 2.0


def test_cost_projection_matches_the_qemu_boards_time(qemu_board: qemu.QemuBoard) -> None:
    """The cost model, calibrated by measure_rate (phyff info), predicts other call shapes.

    Calibration times 1-sample and full frames; the check sends calls of other
    sizes (partial frames included) and compares their measured time with the
    projection: within PROJECTION_FACTOR either way.
    """
    from phyff.board.cost import BoardFacts, LinkModel, measure_rate, project

    # The host's load can slow the calibration or the check (never speed them
    # up), so a try disturbed by other work is repeated, up to three times;
    # the assertion is on the last try.
    with Board.open(qemu_board.url, timeout=5.0) as board:
        for _ in range(3):
            rate = measure_rate(board)
            facts = BoardFacts.of(board)
            sizes = [facts.batch + 7, 3, 2 * facts.batch // 3]
            t0 = time.perf_counter()
            for n in sizes:
                board.query_float(np.full((n, facts.n_drive), 0.25))
            measured = time.perf_counter() - t0
            projected = project(sum(sizes), len(sizes), facts,
                                LinkModel.measured(rate)).seconds
            print(f"\nQEMU: {rate.samples_per_s:.0f} samples/s; {sum(sizes)} samples in "
                  f"{len(sizes)} calls: measured {measured:.3f} s, projected {projected:.3f} s")
            if projected / PROJECTION_FACTOR <= measured <= projected * PROJECTION_FACTOR:
                break
    assert projected / PROJECTION_FACTOR <= measured <= projected * PROJECTION_FACTOR
