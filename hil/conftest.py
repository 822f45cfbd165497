"""Fixtures of the hardware-in-the-loop suite: which board, and ways to talk to it.

Choose the board with ``--target NAME|PORT`` or ``PHYFF_HIL_TARGET``:
``emu`` (default: the firmware core in process), ``pty``, ``qemu`` (the real
Cortex-M firmware in QEMU), ``micropython``, ``simavr`` (the Arduino Uno
image in simavr), ``simavr-boot`` (the same, booting through optiboot and
reset on every connection, as a real Uno) or a serial port of a real board.
See targets.py.

    python -m pytest hil                              # in-process emulator
    python -m pytest hil --target qemu -s             # QEMU, with figures printed
    PHYFF_HIL_TARGET=/dev/ttyACM0 python -m pytest hil
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from rawlink import RawLink
from targets import Target, resolve

from phyff.board.client import Board
from phyff.emulator import EmulatorSpec, parse_emu_url
from phyff.protocol.wire import Caps, Cmd

# A small medium keeps QEMU's byte-by-byte serial I/O quick; the conformance
# rules do not depend on channel counts.
DEFAULT_SPEC = "emu://acoustic?seed=21&n_in=6&n_out=4"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("phyff hil")
    group.addoption("--target", default=os.environ.get("PHYFF_HIL_TARGET", "emu"),
                    help="board to test: emu, pty, qemu, micropython, simavr, simavr-boot, or "
                         "a serial port such as /dev/ttyACM0 (default: $PHYFF_HIL_TARGET or "
                         "emu)")
    group.addoption("--soak-samples", type=int, default=None,
                    help="samples measured by the soak test (default 100000; 4000 on "
                         "the simulated Uno)")


def pytest_report_header(config: pytest.Config) -> str:
    return f"phyff hil target: {config.getoption('--target')}"


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    return resolve(str(request.config.getoption("--target")))


@pytest.fixture(scope="session")
def spec() -> EmulatorSpec:
    return parse_emu_url(DEFAULT_SPEC)


@pytest.fixture(scope="session")
def board_url(target: Target, spec: EmulatorSpec) -> Iterator[str]:
    """One running board for the session (tests restore its state with RESET)."""
    with target.open(spec) as url:
        yield url


@pytest.fixture
def board(board_url: str) -> Iterator[Board]:
    """A Board client on the session's board, configuration back to defaults."""
    with Board.open(board_url, timeout=3.0) as b:
        b.reset()
        yield b


@pytest.fixture
def raw(board_url: str) -> Iterator[RawLink]:
    """Raw frames to the session's board, after a RESET."""
    link = RawLink(board_url)
    try:
        link.sync()
        header, _ = link.request(Cmd.RESET)
        assert header.is_reply and not header.is_error
        yield link
    finally:
        link.close()


@pytest.fixture
def caps(raw: RawLink) -> Caps:
    _, payload = raw.request(Cmd.HELLO)
    return Caps.unpack(payload)
