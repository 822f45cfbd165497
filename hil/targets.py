"""The boards the hardware-in-the-loop suite can run against.

Every test in hil/ talks to "a board URL" and nothing else, so the same
tests qualify the in-process emulator, a pty, the firmware in QEMU and a
real board on a serial port. A target is a function from an EmulatorSpec
(which simulated medium, which seed) to a context manager yielding a URL
that :meth:`phyff.board.client.Board.open` accepts; leaving the context shuts the
target down. Adding a target is one entry in TARGETS.

Targets in TARGETS simulate their medium from the spec, so their replies can
be compared byte for byte with the in-process emulator's. Any other target
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


TARGETS: dict[str, TargetFactory] = {
    "emu": emu_target,
    "pty": pty_target,
    "qemu": qemu_target,
    "micropython": micropython_target,
}


@dataclass(frozen=True)
class Target:
    """A resolved --target: its name, how to open it, and what it can do."""

    name: str
    factory: TargetFactory
    emulated: bool  # honours the spec; replies comparable with the emulator's

    def open(self, spec: EmulatorSpec) -> AbstractContextManager[str]:
        return self.factory(spec)


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
