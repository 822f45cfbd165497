"""A transport for tests that answers with whatever bytes a test scripts.

Subclasses implement `write` (decode the request, append a reply to `_out`);
reading drains `_out`, as a serial port would.
"""

from __future__ import annotations


class ScriptedTransport:
    """The pyserial-like part of a fake board: an output buffer that reads drain."""

    def __init__(self) -> None:
        self.timeout: float | None = 0.0
        self._out = b""

    def write(self, data: bytes) -> int:
        raise NotImplementedError

    @property
    def in_waiting(self) -> int:
        return len(self._out)

    def read(self, size: int = 1) -> bytes:
        out, self._out = self._out[:size], self._out[size:]
        return out

    def reset_input_buffer(self) -> None:
        self._out = b""

    def close(self) -> None:
        pass
