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

import importlib
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


def _launched(name: str, board: Callable[[EmulatorSpec], AbstractContextManager[str]],
              unavailable: Callable[[], str | None]) -> TargetFactory:
    """A target that starts a board program in an emulator, or skips saying what is missing."""

    @contextmanager
    def factory(spec: EmulatorSpec) -> Iterator[str]:
        reason = unavailable()
        if reason:
            pytest.skip(f"{name} target: {reason}")
        with board(spec) as url:
            yield url

    return factory


@contextmanager
def _qemu_board(spec: EmulatorSpec) -> Iterator[str]:
    """The real Cortex-M firmware in QEMU, its medium served by the medium server."""
    from phyff.emulator.qemu import QemuBoard

    with QemuBoard(spec) as board:
        yield board.url


@contextmanager
def _simavr_board(spec: EmulatorSpec) -> Iterator[str]:
    """The Arduino Uno image (Arduino core, ATmega328P) in simavr, medium from the server."""
    from phyff.emulator.simavr import SimavrBoard

    with SimavrBoard(spec) as board:
        yield board.url


@contextmanager
def _simavr_boot_board(spec: EmulatorSpec) -> Iterator[str]:
    """The Uno image as a real Uno runs it: optiboot first, a reset on every connection."""
    from phyff.emulator.simavr import SimavrBoard

    with SimavrBoard(spec, bootloader=True) as board:
        yield board.url


def _micropython_board(spec: EmulatorSpec) -> AbstractContextManager[str]:
    """The MicroPython board program under the real MicroPython unix port."""
    from phyff.emulator.micropython import micropython_board

    return micropython_board(spec)


def _unavailable(module: str, check: str) -> Callable[[], str | None]:
    def reason() -> str | None:
        return getattr(importlib.import_module(module), check)()  # type: ignore[no-any-return]

    return reason


qemu_target = _launched("qemu", _qemu_board,
                        _unavailable("phyff.emulator.qemu", "qemu_unavailable"))
micropython_target = _launched("micropython", _micropython_board,
                               _unavailable("phyff.emulator.micropython",
                                            "micropython_unavailable"))
simavr_target = _launched("simavr", _simavr_board,
                          _unavailable("phyff.emulator.simavr", "simavr_unavailable"))
simavr_boot_target = _launched("simavr-boot", _simavr_boot_board,
                               _unavailable("phyff.emulator.simavr", "simavr_unavailable"))


def _uno_spec(spec: EmulatorSpec) -> EmulatorSpec:
    from phyff.emulator.simavr import uno_spec

    return uno_spec(spec)


TARGETS: dict[str, TargetFactory] = {
    "emu": emu_target,
    "pty": pty_target,
    "qemu": qemu_target,
    "micropython": micropython_target,
    "simavr": simavr_target,
    "simavr-boot": simavr_boot_target,
}

# Targets with a fixed board: the spec they serve for a requested one.
FITS: dict[str, Callable[[EmulatorSpec], EmulatorSpec]] = {"simavr": _uno_spec,
                                                           "simavr-boot": _uno_spec}

# Default soak length per target (--soak-samples overrides): the simulated
# Uno moves about 500 samples per simulated second over its 115,200-baud UART.
SOAK_SAMPLES: dict[str, int] = {"simavr": 4000, "simavr-boot": 4000}
DEFAULT_SOAK_SAMPLES = 100_000


# Targets whose board clock is a simulator's rather than wall time.
SIMULATED_CLOCK = {"simavr", "simavr-boot"}


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

    @property
    def simulated_clock(self) -> bool:
        """The board's clock is a simulator's (instructions executed), not wall time:
        simavr runs the ATmega328P slower than real time and idles between frames."""
        return self.name in SIMULATED_CLOCK


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
