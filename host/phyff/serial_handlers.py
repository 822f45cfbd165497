"""Registers phyff's pyserial URL handlers, so that
``serial.serial_for_url("emu://acoustic?seed=1")`` opens an emulated board.

pyserial looks up ``<package>.protocol_<scheme>`` in the packages listed in
``serial.protocol_handler_packages``; registering adds ``phyff.emulator``.
"""

from __future__ import annotations

PACKAGE = "phyff.emulator"


def register() -> None:
    """Idempotent: add the emulator package to pyserial's handler list."""
    try:
        import serial
    except ImportError:  # pyserial is a dependency; stay importable without it
        return
    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)
