"""The boards the hardware-in-the-loop suite can run against.

Every test in hil/ talks to "a board URL" and nothing else, so the same
tests qualify the in-process emulator, a pty, the firmware in QEMU and a
real board on a serial port. A target is a function from an EmulatorSpec
(which simulated medium, which seed) to a context manager yielding a URL
that :meth:`phyff.board.client.Board.open` accepts; leaving the context shuts the
target down. Adding a target is one entry in TARGETS.

Targets in TARGETS simulate their medium from the spec, so their replies can
be compared byte for byte with the in-process emulator's. A target whose
board is fixed (the simulated Uno: 4 drive, 6 sense channels, 8/10-bit
converters) serves the spec fitted to it: ``Target.fit(spec)`` is what it
actually serves, and the emulator to compare with. Any other target
name is taken as a serial port (``/dev/ttyACM0``, ``COM3``,
``socket://host:port``): a real board with a real medium, whose spec is
ignored and whose replies can only be checked for form.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import pytest

from phyff.emulator import EmulatedDevice, EmulatorSpec

TargetFactory = Callable[[EmulatorSpec], AbstractContextManager[str]]


@contextmanager
def emu_target(spec: EmulatorSpec) -> Iterator[str]:
    """The firmware core in process (phyff._native), no I/O at all."""
    yield spec.url()


@contextmanager
def pty_target(spec: EmulatorSpec) -> Iterator[str]:
    """The emulated board behind a pseudo-terminal, opened like a serial port."""
    from phyff.emulator.server import PtyServer

    server = PtyServer(EmulatedDevice(spec))
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop.is_set, 0.05),
                              name="hil-pty", daemon=True)
    thread.start()
    try:
        yield server.path
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@contextmanager
def qemu_target(spec: EmulatorSpec) -> Iterator[str]:
    """The real Cortex-M firmware in QEMU, its medium served by the medium server."""
    from phyff.emulator.qemu import QemuBoard, qemu_unavailable

    reason = qemu_unavailable()
    if reason:
        pytest.skip(f"qemu target: {reason}")
    with QemuBoard(spec) as board:
        yield board.url


@contextmanager
def micropython_target(spec: EmulatorSpec) -> Iterator[str]:
    """The MicroPython board program under the real MicroPython unix port."""
    from phyff.emulator.micropython import micropython_board, micropython_unavailable

    reason = micropython_unavailable()
    if reason:
        pytest.skip(f"micropython target: {reason}")
    with micropython_board(spec) as url:
        yield url


@contextmanager
def simavr_target(spec: EmulatorSpec) -> Iterator[str]:
    """The Arduino Uno image (Arduino core, ATmega328P) in simavr, medium from the server."""
    from phyff.emulator.simavr import SimavrBoard, simavr_unavailable

    reason = simavr_unavailable()
    if reason:
        pytest.skip(f"simavr target: {reason}")
    with SimavrBoard(spec) as board:
        yield board.url


def _uno_spec(spec: EmulatorSpec) -> EmulatorSpec:
    from phyff.emulator.simavr import uno_spec

    return uno_spec(spec)


TARGETS: dict[str, TargetFactory] = {
    "emu": emu_target,
    "pty": pty_target,
    "qemu": qemu_target,
    "micropython": micropython_target,
    "simavr": simavr_target,
}

# Targets with a fixed board: the spec they serve for a requested one.
FITS: dict[str, Callable[[EmulatorSpec], EmulatorSpec]] = {"simavr": _uno_spec}

# Default soak length per target (--soak-samples overrides): the simulated
# Uno moves about 500 samples per simulated second over its 115,200-baud UART.
SOAK_SAMPLES: dict[str, int] = {"simavr": 4000}
DEFAULT_SOAK_SAMPLES = 100_000


@dataclass(frozen=True)
class Target:
    """A resolved --target: its name, how to open it, and what it can do."""

    name: str
    factory: TargetFactory
    emulated: bool  # honours the spec; replies comparable with the emulator's

    def open(self, spec: EmulatorSpec) -> AbstractContextManager[str]:
        return self.factory(spec)

    def fit(self, spec: EmulatorSpec) -> EmulatorSpec:
        """The spec this target serves when asked for `spec` (the same one unless the
        board is fixed): an in-process emulator of it answers byte for byte alike."""
        fit = FITS.get(self.name)
        return fit(spec) if fit is not None else spec

    @property
    def soak_samples(self) -> int:
        return SOAK_SAMPLES.get(self.name, DEFAULT_SOAK_SAMPLES)


def serial_port_target(port: str) -> TargetFactory:
    """A real board on a serial port: the spec cannot choose its medium."""

    @contextmanager
    def factory(spec: EmulatorSpec) -> Iterator[str]:
        del spec
        if "://" not in port and not os.path.exists(port):
            pytest.skip(f"target {port}: no such serial port (is the board plugged in? "
                        f"`phyff ports` lists what is connected)")
        yield port

    return factory


def resolve(name: str) -> Target:
    if name in TARGETS:
        return Target(name, TARGETS[name], emulated=True)
    return Target(name, serial_port_target(name), emulated=False)
