"""The host side of the wire protocol (``shared/include/phyff/wire.h``).

Frames are encoded and decoded by the same C as the firmware, through
``phyff._native``. Constants and enums are read from the compiled module,
never typed in here. See the protocol essay at the top of ``wire.h``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import NDArray

from phyff._native import ffi, lib
from phyff.protocol.enums import (  # noqa: F401  (re-exported: wire.Cmd, wire.Status...)
    Cmd,
    EventId,
    Feature,
    Flag,
    Status,
)

PROTOCOL_LEVEL: int = lib.PHYFF_PROTOCOL_LEVEL
HEADER_SIZE: int = lib.PHYFF_HEADER_SIZE
CRC_SIZE: int = lib.PHYFF_CRC_SIZE
CRC_INIT: int = lib.PHYFF_CRC_INIT
MAX_PAYLOAD_LIMIT: int = lib.PHYFF_MAX_PAYLOAD_LIMIT
NAME_SIZE: int = lib.PHYFF_NAME_SIZE
DELIMITER = b"\x00"


def status_name(status: int) -> str:
    """The C library's short description of a status code ("bad CRC"...)."""
    return ffi.string(lib.phyff_status_name(int(status))).decode()


def as_status(code: int) -> Status | int:
    """A Status member when the code is known at this level, else the raw int."""
    try:
        return Status(code)
    except ValueError:
        return int(code)


class WireError(Exception):
    """A frame could not be encoded or decoded; ``status`` says why."""

    def __init__(self, status: int, context: str = "") -> None:
        self.status = as_status(status)
        msg = status_name(status)
        super().__init__(f"{msg}: {context}" if context else msg)


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE, the frame checksum (W-W2)."""
    return int(lib.phyff_crc16(crc, ffi.from_buffer(data), len(data)))


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode (no delimiter appended)."""
    cap = len(data) + len(data) // 254 + 1
    out = ffi.new("uint8_t[]", cap)
    n = ffi.new("size_t *")
    st = lib.phyff_cobs_encode(ffi.from_buffer(data), len(data), out, cap, n)
    if st != lib.PHYFF_OK:
        raise WireError(st)
    return bytes(ffi.buffer(out, n[0]))


def cobs_decode(data: bytes) -> bytes:
    """COBS-decode one frame body (delimiter excluded); raises WireError."""
    cap = max(len(data), 1)
    out = ffi.new("uint8_t[]", cap)
    n = ffi.new("size_t *")
    st = lib.phyff_cobs_decode(ffi.from_buffer(data), len(data), out, cap, n)
    if st != lib.PHYFF_OK:
        raise WireError(st)
    return bytes(ffi.buffer(out, n[0]))


@dataclass(frozen=True)
class Header:
    """A frame header (W-W4); ``length`` is implied by the payload."""

    cmd: int
    seq: int = 0
    flags: int = 0
    level: int = PROTOCOL_LEVEL
    aux: int = 0

    @property
    def is_reply(self) -> bool:
        return bool(self.flags & Flag.REPLY)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & Flag.ERROR)

    @property
    def is_event(self) -> bool:
        return bool(self.flags & Flag.EVENT)


def max_frame_size(payload_len: int) -> int:
    """Largest wire size (delimiter included) of a frame with this payload."""
    n = HEADER_SIZE + payload_len + CRC_SIZE
    return n + n // 254 + 1 + 1


def encode_frame(header: Header, payload: bytes = b"") -> bytes:
    """Encode header + payload into wire bytes, delimiter included."""
    for name, lo, hi in (("level", 0, 255), ("seq", 0, 255), ("cmd", 0, 255),
                         ("flags", 0, 255), ("aux", 0, 65535)):
        v = getattr(header, name)
        if not lo <= v <= hi:
            raise ValueError(f"header.{name}={v} is outside [{lo}, {hi}]")
    if len(payload) > MAX_PAYLOAD_LIMIT:
        raise WireError(lib.PHYFF_ERR_TOO_LONG, f"payload of {len(payload)} bytes")
    h = ffi.new("struct phyff_header *", {
        "level": header.level, "seq": header.seq, "cmd": header.cmd,
        "flags": header.flags, "length": 0, "aux": header.aux,
    })
    cap = max_frame_size(len(payload))
    out = ffi.new("uint8_t[]", cap)
    n = ffi.new("size_t *")
    src = ffi.from_buffer(payload) if payload else ffi.NULL
    st = lib.phyff_frame_encode(h, src, len(payload), out, cap, n)
    if st != lib.PHYFF_OK:
        raise WireError(st)
    return bytes(ffi.buffer(out, n[0]))


def decode_frame(body: bytes, max_payload: int = MAX_PAYLOAD_LIMIT) -> tuple[Header, bytes]:
    """Decode the bytes between two delimiters into (header, payload)."""
    buf = ffi.new("uint8_t[]", max(len(body), 1))
    ffi.memmove(buf, body, len(body))
    h = ffi.new("struct phyff_header *")
    payload = ffi.new("const uint8_t **")
    plen = ffi.new("size_t *")
    st = lib.phyff_frame_decode(buf, len(body), max_payload, h, payload, plen)
    if st != lib.PHYFF_OK:
        raise WireError(st)
    header = Header(cmd=h.cmd, seq=h.seq, flags=h.flags, level=h.level, aux=h.aux)
    return header, bytes(ffi.buffer(payload[0], plen[0]))


class Deframer:
    """Splits a byte stream into frame bodies on the 0x00 delimiter (W-W1).

    Bytes that pile up beyond ``max_body`` without a delimiter are dropped
    (counted in ``overflows``) and the reader waits for the next delimiter:
    that is the resync rule, and it bounds memory whatever the line carries.
    """

    def __init__(self, max_body: int = max_frame_size(MAX_PAYLOAD_LIMIT)) -> None:
        self.max_body = max_body
        self._buf = bytearray()
        self._discarding = False
        self.overflows = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the complete non-empty bodies seen so far."""
        bodies: list[bytes] = []
        parts = data.split(DELIMITER)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if not self._discarding:
                self._buf += part
                if len(self._buf) > self.max_body:
                    self.overflows += 1
                    self._buf.clear()
                    self._discarding = True
            if last:
                break
            if not self._discarding and self._buf:
                bodies.append(bytes(self._buf))
            self._buf.clear()
            self._discarding = False
        return bodies

    def clear(self) -> None:
        self._buf.clear()
        self._discarding = False


# ---- records -----------------------------------------------------------------

R = TypeVar("R", bound="Record")


class Record:
    """A fixed-size record of the protocol, packed and unpacked by the C codec (W-W3).

    A record is a frozen dataclass that names its C struct once, as a class
    keyword: ``class Caps(Record, ctype="phyff_caps")``. Everything else is
    derived from the compiled module: the size (``PHYFF_CAPS_SIZE``), the
    codec functions (``phyff_caps_pack`` / ``_unpack``) and which fields are
    fixed-size text (the struct's ``char[]`` members). The dataclass fields
    must name the struct's members (a test holds them equal).
    """

    _ctype: ClassVar[str]
    _size: ClassVar[int]
    _pack: ClassVar[str]
    _unpack: ClassVar[str]
    _strings: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, ctype: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not ctype:
            return
        cls._ctype = ctype
        cls._size = int(getattr(lib, f"{ctype.upper()}_SIZE"))
        cls._pack, cls._unpack = f"{ctype}_pack", f"{ctype}_unpack"
        members = ffi.typeof(f"struct {ctype}").fields
        cls._strings = tuple(name for name, f in members
                             if f.type.kind == "array" and f.type.item.cname == "char")

    @classmethod
    def c_members(cls) -> list[str]:
        """The C struct's member names, in order."""
        return [name for name, _ in ffi.typeof(f"struct {cls._ctype}").fields]

    @classmethod
    def size(cls) -> int:
        """Bytes on the wire."""
        return cls._size

    def pack(self) -> bytes:
        values = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name in self._strings:
                raw = v.encode("ascii")
                if len(raw) > NAME_SIZE:
                    raise ValueError(f"{f.name}={v!r} is longer than {NAME_SIZE} bytes")
                v = raw.ljust(NAME_SIZE, b"\0")
            values[f.name] = v
        c = ffi.new(f"struct {self._ctype} *")
        for k, v in values.items():
            if k in self._strings:
                ffi.memmove(getattr(c, k), v, NAME_SIZE)
            else:
                setattr(c, k, v)
        out = ffi.new("uint8_t[]", self._size)
        getattr(lib, self._pack)(c, out)
        return bytes(ffi.buffer(out, self._size))

    @classmethod
    def unpack(cls: type[R], data: bytes) -> R:
        if len(data) < cls._size:
            raise WireError(lib.PHYFF_ERR_BAD_PAYLOAD,
                            f"{cls.__name__} needs {cls._size} bytes, got {len(data)}")
        c = ffi.new(f"struct {cls._ctype} *")
        getattr(lib, cls._unpack)(ffi.from_buffer(data), c)
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            v = getattr(c, f.name)
            if f.name in cls._strings:
                v = bytes(ffi.buffer(v, NAME_SIZE)).split(b"\0", 1)[0].decode("ascii", "replace")
            kwargs[f.name] = v
        return cls(**kwargs)


@dataclass(frozen=True)
class ErrorRecord(Record, ctype="phyff_error"):
    status: int
    arg: int = 0


@dataclass(frozen=True)
class Event(Record, ctype="phyff_event"):
    event: int
    arg: int = 0


@dataclass(frozen=True)
class Caps(Record, ctype="phyff_caps"):
    """What a board says about itself in reply to HELLO."""

    level: int
    features: int
    firmware_version: int
    unit_id: int
    max_batch: int
    max_payload: int
    n_drive: int
    n_sense: int
    dac_bits: int
    adc_bits: int
    max_oversample: int
    board: str
    medium: str
    max_settle_us: int = 0  # largest config.settle_us the board accepts (level 2)
    model_capacity: int = 0  # bytes of model memory, 0 without on-device inference (level 3)
    model_crc: int = 0  # CRC-32 of the model in force, 0 when none
    model_loaded: int = 0  # 1 when a model is in force
    reserved0: int = 0
    reserved1: int = 0
    reserved2: int = 0
    max_classes: int = 0  # most classes an on-device model may have (level 4)
    infer_work: int = 0  # int16 scratch values one INFER sample may use (level 4)

    @property
    def firmware_version_str(self) -> str:
        v = self.firmware_version
        return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"

    def feature_names(self) -> list[str]:
        return [f.name for f in Feature if self.features & f]

    def as_dict(self) -> dict[str, object]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("reserved0", "reserved1", "reserved2"):
            d.pop(name)
        d["firmware"] = self.firmware_version_str
        d["feature_names"] = self.feature_names()
        return d


@dataclass(frozen=True)
class Config(Record, ctype="phyff_config"):
    settle_us: int
    oversample: int
    n_drive_active: int
    n_sense_active: int
    reserved: int = 0


@dataclass(frozen=True)
class QueryHead(Record, ctype="phyff_query_head"):
    n_samples: int
    n_channels: int


@dataclass(frozen=True)
class Stats(Record, ctype="phyff_stats"):
    frames_ok: int
    crc_errors: int
    framing_errors: int
    bad_commands: int
    overruns: int
    samples_served: int
    error_replies: int
    uptime_ms: int
    infer_samples: int = 0
    infer_digital_us: int = 0
    infer_medium_us: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ModelBegin(Record, ctype="phyff_model_begin"):
    """MODEL_BEGIN: the size and CRC-32 of the image about to be loaded."""

    image_size: int
    crc32: int


@dataclass(frozen=True)
class ChunkHead(Record, ctype="phyff_chunk_head"):
    """MODEL_CHUNK: where a chunk goes (request) or bytes received (reply)."""

    offset: int


@dataclass(frozen=True)
class InferHead(Record, ctype="phyff_infer_head"):
    """INFER: samples and values per sample (features in requests, classes in replies)."""

    n_samples: int
    n_values: int
    flags: int = 0
    reserved: int = 0


@dataclass(frozen=True)
class ModelInfo(Record, ctype="phyff_model_info"):
    """The identity of the model in force on a board (MODEL_INFO, MODEL_COMMIT)."""

    crc32: int
    image_size: int
    train_unit_id: int
    n_features: int
    n_classes: int
    max_batch: int
    max_batch_trace: int
    n_blocks: int
    inference: int
    input_exp: int
    score_exp: int
    trace_values: int
    name: str
    train_board: str
    train_medium: str
    origin: int = 0  # MODEL_LOADED, or MODEL_COMPILED into the firmware (level 4)
    readout_origin: int = 0  # READOUT_HOST, or READOUT_REFIT on the board (level 5, W-N6)
    readout_samples: int = 0  # samples the board's refit used

    @property
    def refitted(self) -> bool:
        """True when the board's REFIT wrote the read-out in force (wire.h W-N6)."""
        return self.readout_origin == lib.PHYFF_READOUT_REFIT

    def provenance(self) -> str:
        """The read-out's origin in words: who fitted it, from how many samples."""
        if self.refitted:
            return f"refitted on the board from {self.readout_samples} samples"
        return "trained on the host"

    def as_dict(self) -> dict[str, object]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["origin"] = "compiled in" if self.origin == lib.PHYFF_MODEL_COMPILED else "loaded"
        d["readout_origin"] = "refit" if self.refitted else "host"
        d["inference"] = "goodness" if self.inference == lib.PHYFF_INFERENCE_GOODNESS \
            else "onepass"
        return d


@dataclass(frozen=True)
class DescribeRequest(Record, ctype="phyff_describe_request"):
    """MODEL_DESCRIBE (level 5): which piece of the model's description section."""

    offset: int
    max_bytes: int
    reserved: int = 0


@dataclass(frozen=True)
class DescribeReply(Record, ctype="phyff_describe_reply"):
    """MODEL_DESCRIBE's reply record; the section's bytes from offset follow it."""

    section_size: int
    offset: int


@dataclass(frozen=True)
class LearnHead(Record, ctype="phyff_learn_head"):
    """LEARN (level 5): samples and values (features per sample in requests; in replies
    the samples learnt so far and the classes)."""

    n_samples: int
    n_values: int


@dataclass(frozen=True)
class RefitReply(Record, ctype="phyff_refit_reply"):
    """REFIT's answer (level 5): the new image's CRC-32, the samples the refit used and
    learn.h RF-S4's conditioning figure (log2 of the spread of the Cholesky pivots)."""

    crc32: int
    samples: int
    conditioning: int


ERROR_SIZE: int = lib.PHYFF_ERROR_SIZE
EVENT_SIZE: int = lib.PHYFF_EVENT_SIZE
CAPS_SIZE: int = lib.PHYFF_CAPS_SIZE
CONFIG_SIZE: int = lib.PHYFF_CONFIG_SIZE
QUERY_HEAD_SIZE: int = lib.PHYFF_QUERY_HEAD_SIZE
STATS_SIZE: int = lib.PHYFF_STATS_SIZE
INFER_HEAD_SIZE: int = lib.PHYFF_INFER_HEAD_SIZE
CHUNK_HEAD_SIZE: int = lib.PHYFF_CHUNK_HEAD_SIZE
DESCRIBE_REPLY_SIZE: int = lib.PHYFF_DESCRIBE_REPLY_SIZE
INFER_TRACE: int = lib.PHYFF_INFER_TRACE
LEARN_HEAD_SIZE: int = lib.PHYFF_LEARN_HEAD_SIZE
LEARN_MAX_SAMPLES: int = lib.PHYFF_LEARN_MAX_SAMPLES
REFIT_REQUEST_SIZE: int = lib.PHYFF_REFIT_REQUEST_SIZE  # uint16 lambda_shift


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32 of a model image (wire.h phyff_crc32; zlib's CRC)."""
    return int(lib.phyff_crc32(crc, ffi.from_buffer(data), len(data)))


def pack_samples(values: NDArray[np.int16]) -> bytes:
    """Q15 values to little-endian bytes (W-W3), without a Python loop."""
    arr = np.asarray(values)
    if arr.dtype != np.int16:
        raise TypeError(f"samples must be int16 (Q15), got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype="<i2").tobytes()


def unpack_samples(data: bytes, n_samples: int, n_channels: int) -> NDArray[np.int16]:
    """Little-endian bytes to an (n_samples, n_channels) int16 array."""
    need = 2 * n_samples * n_channels
    if len(data) < need:
        raise WireError(lib.PHYFF_ERR_BAD_PAYLOAD, f"need {need} sample bytes, got {len(data)}")
    arr = np.frombuffer(data, dtype="<i2", count=n_samples * n_channels)
    return arr.astype(np.int16).reshape(n_samples, n_channels)


# ---- replies that carry arrays after their head (wire.h "Command payloads") ----

class ReplyMismatch(ValueError):
    """A reply whose head or length does not answer the request it replies to."""


def unpack_bitmap(data: bytes, n: int) -> NDArray[np.bool_]:
    """The per-sample flags of a saturation bitmap (QUERY and INFER replies): bit s % 8 of
    byte s / 8 is sample s."""
    if n == 0:
        return np.zeros(0, dtype=bool)
    bits = np.unpackbits(np.frombuffer(data, np.uint8, (n + 7) // 8), bitorder="little")
    return bits[:n].astype(bool)


def unpack_query_reply(payload: bytes, n_samples: int, n_channels: int
                       ) -> tuple[NDArray[np.int16], NDArray[np.bool_]]:
    """A QUERY reply to n_samples: sensed Q15 values (n_samples, n_channels) and flags.

    Layout: query head (n_samples, n_sense_active), the samples, the saturation
    bitmap. WireError when the head itself is cut short; ReplyMismatch when
    the reply holds another shape than the request asked for.
    """
    head = QueryHead.unpack(payload)
    bitmap_len = (n_samples + 7) // 8
    expect = QUERY_HEAD_SIZE + 2 * n_samples * n_channels + bitmap_len
    if head.n_samples != n_samples or head.n_channels != n_channels or len(payload) != expect:
        raise ReplyMismatch(
            f"QUERY reply does not match the request ({head.n_samples} x {head.n_channels} "
            f"in {len(payload)} bytes, expected {n_samples} x {n_channels} in {expect})")
    sense = unpack_samples(payload[QUERY_HEAD_SIZE:], n_samples, n_channels)
    return sense, unpack_bitmap(payload[len(payload) - bitmap_len:], n_samples)


@dataclass(frozen=True)
class InferReply:
    """An INFER reply: classes (N,), int32 scores (N, C), sensed trace (N, T), flags (N,)."""

    classes: NDArray[np.int64]
    scores: NDArray[np.int64]
    trace: NDArray[np.int16]
    saturated: NDArray[np.bool_]

    @classmethod
    def unpack(cls, payload: bytes, n_samples: int, n_classes: int, trace_values: int = 0
               ) -> InferReply:
        """Decode a reply to n_samples; trace_values is 0 unless PHYFF_INFER_TRACE was asked.

        Layout: infer head (n_samples, n_classes), n x uint16 class, n x C int32
        scores, n x T int16 trace, the saturation bitmap. WireError when the
        head is cut short; ReplyMismatch when the reply holds another shape.
        """
        head = InferHead.unpack(payload)
        m, c, t = n_samples, n_classes, trace_values
        at = INFER_HEAD_SIZE
        expect = at + m * (2 + 4 * c + 2 * t) + (m + 7) // 8
        if head.n_samples != m or head.n_values != c or len(payload) != expect:
            raise ReplyMismatch(
                f"INFER reply does not match the request ({head.n_samples} x {head.n_values} "
                f"in {len(payload)} bytes, expected {m} x {c} in {expect})")
        classes = np.frombuffer(payload, "<u2", m, at).astype(np.int64)
        at += 2 * m
        scores = np.frombuffer(payload, "<i4", m * c, at).reshape(m, c).astype(np.int64)
        at += 4 * m * c
        trace = (np.frombuffer(payload, "<i2", m * t, at).reshape(m, t).astype(np.int16)
                 if t else np.zeros((m, 0), np.int16))
        at += 2 * m * t
        return cls(classes, scores, trace, unpack_bitmap(payload[at:], m))


@dataclass(frozen=True)
class LearnReply:
    """A LEARN reply (wire.h W-N8): samples in the board's statistics and their count
    per class (C,)."""

    samples_total: int
    class_counts: NDArray[np.int64]

    @classmethod
    def unpack(cls, payload: bytes, n_classes: int) -> LearnReply:
        """Decode a reply for a model of n_classes classes: learn head (samples learnt,
        n_classes) + n_classes x uint16 counts. WireError when the head is cut short;
        ReplyMismatch when the reply holds another number of classes."""
        head = LearnHead.unpack(payload)
        expect = LEARN_HEAD_SIZE + 2 * n_classes
        if head.n_values != n_classes or len(payload) != expect:
            raise ReplyMismatch(
                f"LEARN reply does not match the model ({head.n_values} classes in "
                f"{len(payload)} bytes, expected {n_classes} in {expect})")
        counts = np.frombuffer(payload, "<u2", n_classes, LEARN_HEAD_SIZE).astype(np.int64)
        return cls(head.n_samples, counts)


def pack_learn_request(features: NDArray[np.int16], labels: NDArray[np.integer]) -> bytes:
    """A LEARN request: learn head, the features (N, F) sample-major, then N uint16 labels."""
    n, f = features.shape
    return (LearnHead(n, f).pack() + pack_samples(features)
            + np.ascontiguousarray(labels, dtype="<u2").tobytes())
