"""pyserial handler for ``emu://MEDIUM?seed=N&...``: an emulated board as a port.

Found by pyserial through ``serial.protocol_handler_packages`` (phyff adds
``phyff.emulator`` on import). The board's replies are produced when bytes
are written, so ``read`` only waits when nothing has been written yet, as a
real idle port would, up to the port's timeout.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import serial

from phyff.emulator.device import EmulatedDevice, parse_emu_url

if TYPE_CHECKING:  # pyserial's stub types write() against the buffer protocol
    from typing_extensions import Buffer


class Serial(serial.SerialBase):
    """A pyserial port whose far end is an in-process emulated board."""

    def open(self) -> None:
        url = self.portstr
        if url is None:
            raise serial.SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise serial.SerialException("Port is already open.")
        try:
            self._device = EmulatedDevice(parse_emu_url(url))
        except (ValueError, TypeError, ImportError) as exc:
            raise serial.SerialException(
                f"cannot start emulated board {self.portstr!r}: {exc}"
            ) from exc
        self._rx = bytearray()
        self._cond = threading.Condition()
        self.is_open = True

    def from_url(self, url: str) -> str:
        parse_emu_url(url)  # validates; raises ValueError with the expected form
        return url

    def close(self) -> None:
        self.is_open = False

    def _reconfigure_port(self) -> None:
        pass  # baud rate and framing mean nothing to an in-process board

    @property
    def in_waiting(self) -> int:
        self._pull()
        return len(self._rx)

    def _pull(self) -> None:
        data = self._device.read_all()
        if data:
            self._rx += data

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise serial.PortNotOpenError()
        timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._pull()
                if len(self._rx) >= size:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining if remaining is not None else 0.1)
            out = bytes(self._rx[:size])
            del self._rx[:size]
            return out

    def write(self, data: Buffer, /) -> int:
        if not self.is_open:
            raise serial.PortNotOpenError()
        n = self._device.write(bytes(data))
        with self._cond:
            self._cond.notify_all()
        return n

    def reset_input_buffer(self) -> None:
        self._pull()
        self._rx.clear()

    def reset_output_buffer(self) -> None:
        pass

    @property
    def device(self) -> EmulatedDevice:
        """The emulated board behind this port (for tests: perturb, power_cycle)."""
        return self._device
