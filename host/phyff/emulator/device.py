"""An emulated board: the firmware core (via cffi) + a simulated medium.

The core is the same C that runs on a microcontroller (firmware/src/core);
only its port differs (firmware/ports/host): link bytes go to a memory
buffer, and measurements call back into Python, where a media Frontend
applies the board's DAC/ADC conversion to a simulated medium. Nothing of the
board's behaviour is re-implemented here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phyff._fileio import write_atomic
from phyff._native import ffi, lib
from phyff.emulator.shapes import DEFAULT_SHAPE_MEDIUM, SHAPES, BoardShape, get_shape
from phyff.media import make_medium
from phyff.media.frontend import Frontend
from phyff.protocol.wire import Feature

BOARD_NAME = "emulator"
OUT_CAPACITY = 1 << 20  # bytes of replies buffered between two reads

# URL query keys that configure the board rather than the medium.
BOARD_KEYS = {"seed", "dac_bits", "adc_bits", "batch", "unit_id", "max_oversample", "announce",
              "model_file", "shape"}


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
    # where the board's non-volatile model storage lives (None: in memory, for
    # the life of this board object; a path: a file, so a deployed model
    # outlives the process, as it would outlive a power cycle on a real board)
    model_file: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # passed to the medium
    shape: str | None = None  # a real board's shape (phyff.emulator.shapes), if named

    def url(self) -> str:
        q: dict[str, Any] = {"seed": self.seed}
        implied: set[str] = set()  # keys the shape sets
        if self.shape is not None:
            q["shape"] = self.shape
            implied = {"dac_bits", "adc_bits", "n_in", "n_out"}
        if self.dac_bits != 12 and "dac_bits" not in implied:
            q["dac_bits"] = self.dac_bits
        if self.adc_bits != 12 and "adc_bits" not in implied:
            q["adc_bits"] = self.adc_bits
        if not self.batch:
            q["batch"] = 0
        if self.model_file:
            q["model_file"] = self.model_file
        q.update({k: v for k, v in self.options.items() if k not in implied})
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


_RANGES = {  # board keys with integer values: the range the wire record can carry
    "seed": (0, 0xFFFFFFFF),  # it is also the board's uint32 unit id
    "dac_bits": (1, 15),  # values travel as Q15
    "adc_bits": (1, 15),
    "max_oversample": (1, 0xFFFF),  # caps.max_oversample is uint16
}


def _int_key(url: str, key: str, text: str) -> int:
    lo, hi = _RANGES["seed" if key == "unit_id" else key]
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"emulator URL {url!r}: {key}={text!r} must be an integer in "
                         f"{lo}..{hi}") from None
    if not lo <= value <= hi:
        raise ValueError(f"emulator URL {url!r}: {key}={value} is outside {lo}..{hi}")
    return value


def _bool_key(url: str, key: str, text: str) -> bool:
    value = _parse_value(text)
    if value in (0, 1) or isinstance(value, bool):
        return bool(value)
    raise ValueError(f"emulator URL {url!r}: {key}={text!r} must be 0/1 or true/false")


def parse_emu_url(url: str) -> EmulatorSpec:
    """Parse ``emu://MEDIUM?seed=N&noise=0.01&...``.

    Rules:

    1. MEDIUM is a medium *name* (built-in, registered or installed plugin,
       see ``phyff.media.registry``); it is resolved when the board is built,
       and never imported from the URL.
    2. Keys in BOARD_KEYS configure the board, every other key goes to the
       medium. Each key may appear once: ``seed=1&seed=2`` is refused rather
       than one silently winning.
    3. ``unit_id`` is another name for ``seed``: an emulated board's unit id
       (its serial number, which a saved model checks) *is* its medium seed,
       so the two cannot differ. Giving both is refused, whatever the order.
    4. Board values are range-checked here (ValueError naming the key and
       range), so a bad URL is a usage error, not a crash in the C core.
    """
    if not isinstance(url, str):
        raise ValueError(f"an emulator URL must be a string, got {type(url).__name__}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "emu":
        raise ValueError(f"not an emulator URL: {url!r} (expected emu://MEDIUM?seed=N)")
    medium = parts.netloc or parts.path.lstrip("/")
    spec = EmulatorSpec(medium=medium or "acoustic")
    try:
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True,
                                       strict_parsing=bool(parts.query), max_num_fields=256)
    except ValueError as exc:
        raise ValueError(f"emulator URL {url!r}: the query must be KEY=VALUE pairs joined by "
                         f"'&' ({exc})") from None
    seen: set[str] = set()
    for key, text in pairs:
        if key in seen:
            raise ValueError(f"emulator URL {url!r} gives {key!r} twice: give it once")
        seen.add(key)
        if key in ("seed", "unit_id"):
            if {"seed", "unit_id"} <= seen:
                raise ValueError(
                    f"emulator URL {url!r} gives both seed and unit_id: an emulated board's "
                    f"unit id is its medium seed (unit_id is another name for seed), so give "
                    f"one of them"
                )
            spec.seed = _int_key(url, key, text)
        elif key in ("dac_bits", "adc_bits", "max_oversample"):
            setattr(spec, key, _int_key(url, key, text))
        elif key in ("batch", "announce"):
            setattr(spec, key, _bool_key(url, key, text))
        elif key == "model_file":
            if not text:
                raise ValueError(f"emulator URL {url!r}: model_file needs a file path")
            spec.model_file = text
        elif key == "shape":
            spec.shape = text
        else:
            spec.options[key] = _parse_value(text)
    if spec.shape is not None:
        _apply_shape(url, spec, seen, bool(medium))
    return spec


def _check_channel_options(spec: EmulatorSpec) -> None:
    """The board's channel limit on the medium's n_in and n_out options, before the
    medium is built (building one far beyond it can take minutes and gigabytes).
    The medium checks its own, possibly lower, limits when it is built."""
    hi = int(lib.PHYFF_CORE_MAX_CHANNELS)
    for key in ("n_in", "n_out"):
        value = spec.options.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"emulated board: {key}={value!r} must be a whole number in "
                             f"1..{hi}")
        if not 1 <= value <= hi:
            raise ValueError(f"emulated board: {key}={value} is outside 1..{hi}, the board's "
                             f"channel limit")


def _apply_shape(url: str, spec: EmulatorSpec, given: set[str], medium_given: bool) -> None:
    """Give the spec a real board's channels and converters (shapes.py rule 1)."""

    try:
        shape = get_shape(str(spec.shape))
    except ValueError as exc:
        raise ValueError(f"emulator URL {url!r}: {exc}") from None
    if not medium_given:
        spec.medium = DEFAULT_SHAPE_MEDIUM
    wanted = {"dac_bits": shape.dac_bits, "adc_bits": shape.adc_bits,
              "n_in": shape.n_drive, "n_out": shape.n_sense}
    for key, value in wanted.items():
        have = getattr(spec, key) if key in ("dac_bits", "adc_bits") else spec.options.get(key)
        if key in given and have != value:
            raise ValueError(f"emulator URL {url!r}: shape={shape.name} has {key}={value}, "
                             f"the URL says {key}={have}; leave {key} out (or the shape)")
        if key in ("dac_bits", "adc_bits"):
            setattr(spec, key, value)
        else:
            spec.options[key] = value


def shape_of_url(url: str) -> BoardShape | None:
    """The shape of an ``emu://`` URL: the one it names, or the one whose channels and
    converters it spells out in full (``n_in=4&n_out=6&dac_bits=8&adc_bits=10`` is an
    Uno); None for other URLs."""
    if not str(url).startswith("emu:"):
        return None
    try:
        spec = parse_emu_url(str(url))
    except ValueError:
        return None
    if spec.shape is not None:
        return SHAPES.get(spec.shape)
    have = (spec.options.get("n_in"), spec.options.get("n_out"), spec.dac_bits, spec.adc_bits)
    for shape in SHAPES.values():
        if have == (shape.n_drive, shape.n_sense, shape.dac_bits, shape.adc_bits):
            return shape
    return None


def check_spec(spec: EmulatorSpec) -> None:
    """The ranges of parse_emu_url's rule 4, for a spec built in Python, and the
    model storage's rules (:func:`check_model_file`)."""
    for key in _RANGES:
        value = getattr(spec, key)
        lo, hi = _RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"emulated board: {key}={value!r} must be an integer in {lo}..{hi}")
    if spec.model_file is not None:
        check_model_file(spec.model_file)


MODEL_MAGIC = int(lib.PHYFF_MODEL_MAGIC).to_bytes(4, "little")  # model.h M-V1, first bytes
MODEL_FILE_CAP = 1 << 20  # bytes read back from storage, far above any board's model memory


def read_model_file(path: str | os.PathLike[str]) -> bytes | None:
    """The content of a model storage file; None when there is no file.

    The storage rules, which keep ``model_file=PATH`` from costing a user a file:

    1. Only a regular file is storage: a FIFO, device, socket or directory is
       refused (ValueError), never opened for a blocking read.
    2. A file that is not empty must start with the model image magic (model.h
       M-V1): anything else is someone's file, refused rather than read as a
       model, overwritten by a deploy or deleted by MODEL_ERASE.
    """
    where = os.fspath(path)
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device")
        raise ValueError(f"model_file {where} is not a regular file ({kind}); name a "
                         f"file for the board's model storage")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MODEL_FILE_CAP)
    if data and not data.startswith(MODEL_MAGIC):
        raise ValueError(f"model_file {where} exists and is not a phyff model image (it does "
                         f"not start with {MODEL_MAGIC!r}); the board would overwrite or "
                         f"delete it, so name a new file or one a board wrote")
    return data


def check_model_file(path: str | os.PathLike[str]) -> None:
    """Refuse a storage path the board may not use (:func:`read_model_file`'s rules)."""
    read_model_file(path)


@ffi.def_extern()
def phyff_host_model_save(handle, image, n):
    """Non-volatile model storage of the emulated board (host_port.h HOST-H4)."""
    device: EmulatedDevice = ffi.from_handle(handle)
    try:
        device.store_model(bytes(ffi.buffer(image, n)) if n else b"")
        return 0
    except Exception as exc:  # reported to the host as a medium fault
        device.record_fault(exc)
        return -1


@ffi.def_extern()
def phyff_host_model_restore(handle, buf, cap):
    """The stored model at start-up (host_port.h HOST-H4); 0 when none or too large."""
    device: EmulatedDevice = ffi.from_handle(handle)
    try:
        image = device.stored_model()
    except Exception as exc:
        device.record_fault(exc)
        return 0
    if not image or len(image) > cap:
        return 0
    ffi.memmove(buf, image, len(image))
    return len(image)


@ffi.def_extern()
def phyff_host_measure(handle, dac, n_samples, n_drive, adc, n_sense, oversample):
    """The host port's medium callback (host_port.h HOST-H2): never raises into C."""
    device: EmulatedDevice = ffi.from_handle(handle)
    try:
        codes = np.frombuffer(ffi.buffer(dac, 2 * n_samples * n_drive), dtype=np.uint16)
        readings = device.frontend.measure(codes.reshape(n_samples, n_drive), int(oversample))
        readings = np.ascontiguousarray(readings[:, :n_sense], dtype=np.uint16)
        ffi.memmove(adc, ffi.from_buffer(readings), 2 * n_samples * n_sense)
        return 0
    except Exception as exc:  # reported to the host as a medium fault
        device.record_fault(exc)
        return -1


class EmulatedDevice:
    """One emulated board: bytes in, bytes out, like a serial device.

    ``write(bytes)`` feeds the core; replies accumulate and are taken with
    ``read_all()``. Thread-safe, so a server thread and a caller may share it.
    """

    def __init__(self, spec: EmulatorSpec | str | None = None, *, medium: Any = None,
                 medium_factory: Callable[..., Any] | None = None) -> None:
        """``spec`` (or its URL) says which board; the medium comes from, in order:
        ``medium`` (an object), ``medium_factory`` (called with the spec's seed and
        options: how Python code supplies its own medium without registering it),
        or the spec's medium name (built-ins and registered media only)."""
        if spec is None:
            spec = EmulatorSpec()
        elif isinstance(spec, str):
            spec = parse_emu_url(spec)
        check_spec(spec)
        self.spec = spec
        if medium is None:
            _check_channel_options(spec)
            medium = make_medium(medium_factory if medium_factory is not None else spec.medium,
                                 seed=spec.seed, **spec.options)
        self.medium = medium
        self.frontend = Frontend(self.medium, dac_bits=spec.dac_bits, adc_bits=spec.adc_bits)
        self.last_fault: Exception | None = None  # the latest medium or storage failure
        self._fault_pending = False  # last_fault not yet taken by take_fault()
        self.on_fault: Callable[[Exception], None] | None = None  # e.g. a server's log
        self._stored_model = b""
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
                                 1 if spec.batch else 0, 1, desc)
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

    def record_fault(self, exc: Exception) -> None:
        """Keep what made a medium fault, for the host (take_fault) and the log."""
        self.last_fault = exc
        self._fault_pending = True
        if self.on_fault is not None:
            self.on_fault(exc)

    def take_fault(self) -> str | None:
        """The last fault's exception in words, once (None when none is pending)."""
        if not self._fault_pending or self.last_fault is None:
            return None
        self._fault_pending = False
        return f"{type(self.last_fault).__name__}: {self.last_fault}"

    def store_model(self, image: bytes) -> None:
        """Keep a committed model image (b"": erase), in memory or in spec.model_file.

        A file is replaced atomically (a fresh temporary file beside it, then
        renamed), as port.h PORT-R6 asks: a crash mid-write leaves the previous
        image. The path is checked again first (:func:`read_model_file`): a
        file put there since the board started is not the board's to replace.
        """
        path = self.spec.model_file
        if path is not None:
            target = os.path.abspath(path)
            check_model_file(target)
            if image:
                write_atomic(target, image)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
        self._stored_model = image

    def stored_model(self) -> bytes:
        """The stored model image (b"" when none)."""
        path = self.spec.model_file
        if path is None:
            return self._stored_model
        return read_model_file(path) or b""

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
        event (wire.h W-E1) unless the spec says announce=0. The medium is not
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
                                1 if self.spec.batch else 0, 1, desc)
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

    def age(self, samples: int) -> None:
        """Run the simulated medium's drift clock on by `samples` rows (phyff.media)."""
        age = getattr(self.medium, "age", None)
        if age is None:
            raise ValueError(f"the medium {type(self.medium).__name__} has no drift clock "
                             "to run on (only phyff's built-in media have one)")
        with self._lock:
            age(samples)

    @property
    def virtual_seconds(self) -> float:
        """Board time spent measuring (virtual: settle + per-sample cost)."""
        return float(self._board.virtual_us) / 1e6


def samples_per_frame(n_drive: int, n_sense: int) -> int:
    """The core's batch limit for these channel counts."""
    return int(lib.phyff_core_max_batch(n_drive, n_sense))


__all__ = ["EmulatedDevice", "EmulatorSpec", "parse_emu_url", "samples_per_frame"]
