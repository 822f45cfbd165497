"""The in-process transport to an emulated board (the ``emu://`` scheme).

Registered with the board layer as the entry point ``phyff.transports: emu``
(see ``phyff.board.transports``), so opening ``emu://acoustic?seed=1`` from a
Board needs no serial port and no import of the emulator by the board.
"""

from __future__ import annotations

from typing import Any

from phyff.emulator.device import EmulatedDevice


class DirectTransport:
    """In-process transport to an :class:`~phyff.emulator.EmulatedDevice`.

    The emulated core answers synchronously, so reads never wait: this is
    the fast path used by tests and by training on the emulator.
    """

    def __init__(self, device: Any) -> None:
        self.device = device
        self.timeout: float | None = 0.0
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        return self.device.write(bytes(data))

    @property
    def in_waiting(self) -> int:
        return len(self._buf) + self.device.pending()

    def read(self, size: int = 1) -> bytes:
        if len(self._buf) < size:
            self._buf += self.device.read_all()
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def reset_input_buffer(self) -> None:
        self._buf.clear()
        self.device.read_all()

    def close(self) -> None:
        pass

    def fault_cause(self) -> str | None:
        """What made the board's last medium fault (the medium's or the model storage's
        exception), taken once; None when it recorded none."""
        return self.device.take_fault()

    def oracle(self) -> Any:
        """The simulated medium behind this board, for baselines that need its physics."""
        return self.device


def open_emu_transport(url: str, **_: Any) -> DirectTransport:
    """Entry point for ``emu://`` URLs: baud rate and timeout do not apply in process."""
    return DirectTransport(EmulatedDevice(url))
