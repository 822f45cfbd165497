"""An emulated board: the firmware core (via cffi) + a simulated medium.

The core is the same C that runs on a microcontroller (firmware/src/core);
only its port differs (firmware/ports/host): link bytes go to a memory
buffer, and measurements call back into Python, where a media Frontend
applies the board's DAC/ADC conversion to a simulated medium. Nothing of the
board's behaviour is re-implemented here.
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phyff._native import ffi, lib
from phyff.media import make_medium
from phyff.media.frontend import Frontend
from phyff.protocol.wire import Feature

BOARD_NAME = "emulator"
OUT_CAPACITY = 1 << 20  # bytes of replies buffered between two reads

# URL query keys that configure the board rather than the medium.
BOARD_KEYS = {"seed", "dac_bits", "adc_bits", "batch", "unit_id", "max_oversample", "announce"}


@dataclass
class EmulatorSpec:
    """What an ``emu://`` URL says: which medium, which seed, which converters."""

    medium: str = "acoustic"
    seed: int = 0
    dac_bits: int = 12
    adc_bits: int = 12
    batch: bool = True  # use the core's batch path (False: per-sample drive/sense)
    max_oversample: int = 64
    announce: bool = True  # send the "board reset" event when opened
    options: dict[str, Any] = field(default_factory=dict)  # passed to the medium

    def url(self) -> str:
        q: dict[str, Any] = {"seed": self.seed}
        if self.dac_bits != 12:
            q["dac_bits"] = self.dac_bits
        if self.adc_bits != 12:
            q["adc_bits"] = self.adc_bits
        if not self.batch:
            q["batch"] = 0
        q.update(self.options)
        return f"emu://{self.medium}?{urllib.parse.urlencode(q)}"


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_emu_url(url: str) -> EmulatorSpec:
    """Parse ``emu://MEDIUM?seed=N&noise=0.01&...``.

    MEDIUM is a registered medium name or ``pkg.module:factory``. Keys in
    BOARD_KEYS configure the board; every other key goes to the medium.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "emu":
        raise ValueError(f"not an emulator URL: {url!r} (expected emu://MEDIUM?seed=N)")
    medium = parts.netloc or parts.path.lstrip("/") or "acoustic"
    spec = EmulatorSpec(medium=medium)
    for key, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
        value = _parse_value(values[-1])
        if key == "seed" or key == "unit_id":
            spec.seed = int(value)
        elif key == "dac_bits":
            spec.dac_bits = int(value)
        elif key == "adc_bits":
            spec.adc_bits = int(value)
        elif key == "batch":
            spec.batch = bool(value)
        elif key == "max_oversample":
            spec.max_oversample = int(value)
        elif key == "announce":
            spec.announce = bool(value)
        else:
            spec.options[key] = value
    return spec


@ffi.def_extern()
def phyff_host_measure(handle, dac, n_samples, n_drive, adc, n_sense, oversample):
    """The host port's medium callback (host_port.h H2): never raises into C."""
    device: EmulatedDevice = ffi.from_handle(handle)
    try:
        codes = np.frombuffer(ffi.buffer(dac, 2 * n_samples * n_drive), dtype=np.uint16)
        readings = device.frontend.measure(codes.reshape(n_samples, n_drive), int(oversample))
        readings = np.ascontiguousarray(readings[:, :n_sense], dtype=np.uint16)
        ffi.memmove(adc, ffi.from_buffer(readings), 2 * n_samples * n_sense)
        return 0
    except Exception as exc:  # reported to the host as a medium fault
        device.last_fault = exc
        return -1


class EmulatedDevice:
    """One emulated board: bytes in, bytes out, like a serial device.

    ``write(bytes)`` feeds the core; replies accumulate and are taken with
    ``read_all()``. Thread-safe, so a server thread and a caller may share it.
    """

    def __init__(self, spec: EmulatorSpec | str | None = None, *, medium: Any = None) -> None:
        if spec is None:
            spec = EmulatorSpec()
        elif isinstance(spec, str):
            spec = parse_emu_url(spec)
        self.spec = spec
        self.medium = medium if medium is not None else make_medium(
            spec.medium, seed=spec.seed, **spec.options
        )
        if not (1 <= spec.dac_bits <= 15 and 1 <= spec.adc_bits <= 15):
            raise ValueError("dac_bits and adc_bits must be between 1 and 15")
        self.frontend = Frontend(self.medium, dac_bits=spec.dac_bits, adc_bits=spec.adc_bits)
        self.last_fault: Exception | None = None
        self._lock = threading.RLock()
        self._handle = ffi.new_handle(self)
        self._out = ffi.new("uint8_t[]", OUT_CAPACITY)
        self._board = ffi.new("struct phyff_host_board *")
        name = str(self.medium.name)[:16]
        self._names = (ffi.new("char[]", BOARD_NAME.encode()), ffi.new("char[]", name.encode()))
        desc = ffi.new("struct phyff_board_desc *", {
            "board": self._names[0],
            "medium": self._names[1],
            "unit_id": spec.seed & 0xFFFFFFFF,
            "features": int(Feature.SETTLE | Feature.OVERSAMPLE | Feature.CHANNEL_SELECT
                            | Feature.EMULATED),
            "n_drive": int(self.medium.n_in),
            "n_sense": int(self.medium.n_out),
            "dac_bits": spec.dac_bits,
            "adc_bits": spec.adc_bits,
            "max_oversample": spec.max_oversample,
        })
        st = lib.phyff_host_init(self._board, self._handle, self._out, OUT_CAPACITY,
                                 1 if spec.batch else 0, desc)
        if st != lib.PHYFF_OK:
            raise ValueError(
                f"the emulated board refused medium {spec.medium!r} "
                f"({self.medium.n_in} in, {self.medium.n_out} out): channel counts must be "
                f"1..{lib.PHYFF_CORE_MAX_CHANNELS} and one sample must fit a frame"
            )
        if spec.announce:
            lib.phyff_host_announce(self._board)

    @property
    def url(self) -> str:
        return self.spec.url()

    def write(self, data: bytes) -> int:
        """Bytes from the host to the board; replies are produced synchronously."""
        if not data:
            return 0
        with self._lock:
            lib.phyff_host_receive(self._board, ffi.from_buffer(data), len(data))
        return len(data)

    def pending(self) -> int:
        return int(self._board.out_len)

    def read_all(self) -> bytes:
        """Take every reply byte produced so far."""
        with self._lock:
            n = self._board.out_len
            if n == 0:
                return b""
            data = bytes(ffi.buffer(self._out, n))
            self._board.out_len = 0
            return data

    def restart(self) -> None:
        """A new start of the board: core state as at power-up, then the reset
        event (wire.h E1) unless the spec says announce=0. The medium is not
        part of the board and keeps its state, as a physical one would across
        a reboot."""
        with self._lock:
            self._board.out_len = 0
            desc_caps = self._board.core.caps
            desc = ffi.new("struct phyff_board_desc *", {
                "board": self._names[0], "medium": self._names[1],
                "unit_id": desc_caps.unit_id,
                "features": desc_caps.features, "n_drive": desc_caps.n_drive,
                "n_sense": desc_caps.n_sense, "dac_bits": desc_caps.dac_bits,
                "adc_bits": desc_caps.adc_bits, "max_oversample": desc_caps.max_oversample,
            })
            virtual_us = self._board.virtual_us
            lib.phyff_host_init(self._board, self._handle, self._out, OUT_CAPACITY,
                                1 if self.spec.batch else 0, desc)
            self._board.virtual_us = virtual_us  # measuring time spent stays counted
            if self.spec.announce:
                lib.phyff_host_announce(self._board)

    def power_cycle(self) -> None:
        """Simulate a board reset with its medium: medium reset, board restarted."""
        with self._lock:
            self.medium.reset()
            self.restart()

    def perturb(self, kind: str = "step", strength: float = 1.0) -> None:
        """Change the simulated medium (an object moved into the cavity...)."""
        with self._lock:
            self.medium.perturb(kind, strength)

    @property
    def virtual_seconds(self) -> float:
        """Board time spent measuring (virtual: settle + per-sample cost)."""
        return float(self._board.virtual_us) / 1e6


def samples_per_frame(n_drive: int, n_sense: int) -> int:
    """The core's batch limit for these channel counts."""
    return int(lib.phyff_core_max_batch(n_drive, n_sense))


__all__ = ["EmulatedDevice", "EmulatorSpec", "parse_emu_url", "samples_per_frame"]
