#!/usr/bin/env python3
"""Golden vectors for phyff's fixed-point kernels, wire protocol and on-device model.

This is an independent, exact reference: it uses only Python integers and
fractions.Fraction, never the C code or the phyff package. Each function below
implements one operation straight from the numbered contracts in
shared/include/phyff/fixed.h (FX-F1-F9), shared/include/phyff/wire.h (W-W1-W4,
W-L4, W-P2-P3) and shared/include/phyff/model.h (M-M1-M2, M-P1-P7, M-V1-V6), and the
generator writes the results as JSON:

    shared/vectors/fixed.json   fixed-point operations
    shared/vectors/wire.json    CRC-16, CRC-32, COBS, frames, records, constants
    shared/vectors/model.json   model image records, checks M-V1-V6, pipeline M-P1-P7
    shared/vectors/learn.json   read-out learning RF-A1-E1 (written by gen_learn.py)

Usage:
    python shared/vectors/generate.py           # (re)write the three files
    python shared/vectors/generate.py --check   # exit 1 if the files are stale

File format (format 1): one top-level object with sorted keys: "format"
(the version), "generator", "seed" and one list per operation. Each case is
{"in": ..., "out": ...}. Integers are plain JSON integers (up to 64-bit);
doubles are strings that C99 strtod and Python float.fromhex both read
exactly: float.hex() output, "nan", "-nan", "inf" or "-inf"; byte strings are
lowercase hex. Long payloads are given as a recipe:
{"len": n, "mul": m, "add": a} stands for bytes (i * m + a) mod 256, i < n.
Flags (saturation) are JSON booleans. In model.json every pipeline case
carries its whole image (hex) and the board limits it is checked against
(struct phyff_model_limits, medium as text); "model" or "why" name the case
for people and are not inputs.
Output is deterministic: a fixed seed per group, no time, no dict-order
dependence, so regenerating gives identical bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

FORMAT = 1
SEED = 0x50485946  # "PHYF"
HERE = Path(__file__).resolve().parent

# =============================================================================
# fixed.h reference
# =============================================================================

Q15_MIN, Q15_MAX = -(2**15), 2**15 - 1
Q31_MIN, Q31_MAX = -(2**31), 2**31 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
HALF = Fraction(1, 2)


def sat(v: int, lo: int, hi: int) -> int:
    """FX-F2: clamp to the nearest end of the range."""
    return lo if v < lo else hi if v > hi else v


def sat_q15(v: int) -> int:
    return sat(v, Q15_MIN, Q15_MAX)


def sat_q31(v: int) -> int:
    return sat(v, Q31_MIN, Q31_MAX)


def round_half_up(q: Fraction) -> int:
    """FX-F3: round to nearest, ties toward +infinity."""
    return math.floor(q + HALF)


def round_half_away(q: Fraction) -> int:
    """FX-F6: round to nearest, ties away from zero."""
    if q >= 0:
        return math.floor(q + HALF)
    return -math.floor(-q + HALF)


def round_shift_s64(x: int, s: int) -> int:
    """x / 2^s rounded by FX-F3 (phyff_round_shift_s64)."""
    return round_half_up(Fraction(x, 2**s))


def q15_add(a: int, b: int) -> int:
    return sat_q15(a + b)


def q15_sub(a: int, b: int) -> int:
    return sat_q15(a - b)


def q15_mul(a: int, b: int) -> int:
    """FX-F4: exact product, rounded once (FX-F3), saturated (FX-F2)."""
    return sat_q15(round_half_up(Fraction(a * b, 2**15)))


def q31_add(a: int, b: int) -> int:
    return sat_q31(a + b)


def q31_sub(a: int, b: int) -> int:
    return sat_q31(a - b)


def q31_mul(a: int, b: int) -> int:
    return sat_q31(round_half_up(Fraction(a * b, 2**31)))


def q15_to_q31(v: int) -> int:
    """Exact: v / 2^15 == (v * 2^16) / 2^31."""
    return v * 2**16


def q31_to_q15(v: int) -> int:
    return sat_q15(round_half_up(Fraction(v, 2**16)))


def q15_from_float(x: float) -> int:
    """FX-F6: scale by 2^15 exactly, round ties away from zero, saturate."""
    if math.isnan(x):
        return 0
    if x >= 1.0:
        return Q15_MAX
    if x <= -1.0:
        return Q15_MIN
    return sat_q15(round_half_away(Fraction(x) * 2**15))


def q15_to_float(v: int) -> float:
    """FX-F6: exact (v / 32768 has at most 16 significant bits)."""
    f = Fraction(v, 2**15)
    out = float(f)
    assert Fraction(out) == f
    return out


def isqrt(x: int) -> int:
    """FX-F7: floor(sqrt(x))."""
    return math.isqrt(x)


def dot_acc64(a: Sequence[int], b: Sequence[int]) -> int:
    """FX-F5: the exact sum of the exact products."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def dot_acc32(a: Sequence[int], b: Sequence[int]) -> int:
    """FX-F5: 32-bit accumulator saturating after every addition, j = 0..n-1."""
    acc = 0
    for x, y in zip(a, b, strict=True):
        acc = sat_q31(acc + x * y)
    return acc


def dot_q15(a: Sequence[int], b: Sequence[int]) -> int:
    """FX-F5: exact sum, rounded once (FX-F3), saturated once (FX-F2)."""
    return sat_q15(round_half_up(Fraction(dot_acc64(a, b), 2**15)))


def matvec_acc64(w: Sequence[int], rows: int, cols: int, x: Sequence[int]) -> list[int]:
    return [dot_acc64(w[i * cols : (i + 1) * cols], x) for i in range(rows)]


def matvec_q15(w: Sequence[int], rows: int, cols: int, x: Sequence[int]) -> list[int]:
    return [dot_q15(w[i * cols : (i + 1) * cols], x) for i in range(rows)]


def matmul_q15(
    w: Sequence[int], rows: int, cols: int, xs: Sequence[int], batch: int
) -> list[int]:
    """Y[b, i] = dot_q15(W[i, :], X[b, :]), Y row-major (batch, rows)."""
    out: list[int] = []
    for b in range(batch):
        out.extend(matvec_q15(w, rows, cols, xs[b * cols : (b + 1) * cols]))
    return out


# =============================================================================
# wire.h reference
# =============================================================================

PROTOCOL_LEVEL = 5
HEADER_SIZE = 8
CRC_SIZE = 2
CRC_INIT = 0xFFFF
MAX_PAYLOAD_LIMIT = 65535
NAME_SIZE = 16
ERROR_SIZE = 4
EVENT_SIZE = 4
CAPS_SIZE = 76
CONFIG_SIZE = 12
QUERY_HEAD_SIZE = 4
STATS_SIZE = 44
MODEL_BEGIN_SIZE = 8
CHUNK_HEAD_SIZE = 4
INFER_HEAD_SIZE = 8
MODEL_INFO_SIZE = 80
DESCRIBE_REQUEST_SIZE = 8  # level 5
DESCRIBE_REPLY_SIZE = 8
LEARN_HEAD_SIZE = 4
REFIT_REPLY_SIZE = 8
REFIT_REQUEST_SIZE = 2

CMD = {
    "NONE": 0x00,
    "HELLO": 0x01,
    "CONFIGURE": 0x02,
    "QUERY": 0x03,
    "STATS": 0x04,
    "RESET": 0x05,
    "MODEL_BEGIN": 0x10,
    "MODEL_CHUNK": 0x11,
    "MODEL_COMMIT": 0x12,
    "MODEL_INFO": 0x13,
    "INFER": 0x14,
    "MODEL_ERASE": 0x15,
    "MODEL_DESCRIBE": 0x16,  # level 5
    "LEARN": 0x17,  # level 5
    "REFIT": 0x18,
    "FORGET": 0x19,
    "EVENT": 0x7F,
}
FLAG = {"REPLY": 0x01, "ERROR": 0x02, "EVENT": 0x04}
EVENT_ID = {"RESET": 0x01}
STATUS = {
    "OK": 0,
    "BAD_CRC": 1,
    "TRUNCATED": 2,
    "TOO_LONG": 3,
    "BAD_COBS": 4,
    "BAD_LEVEL": 5,
    "NO_SPACE": 6,
    "EMPTY": 7,
    "UNKNOWN_COMMAND": 16,
    "BAD_PAYLOAD": 17,
    "BATCH_TOO_LARGE": 18,
    "BAD_CHANNELS": 19,
    "BAD_CONFIG": 20,
    "OVERRUN": 21,
    "MEDIUM": 22,
    "NOT_A_REQUEST": 23,
    "NO_MODEL": 24,
    "MODEL_TOO_LARGE": 25,
    "LOAD_RANGE": 26,
    "MODEL_CRC": 27,
    "BAD_MODEL": 28,
    "WRONG_BOARD": 29,
    "NO_LOAD": 30,
    "LEARN_FULL": 31,  # level 5
    "BAD_LABEL": 32,
    "TOO_FEW": 33,
    "SINGULAR": 34,
    "NO_READOUT": 35,
    "BAD_LAMBDA": 36,
    "REFIT_OVERFLOW": 37,
    "LEARN_TOO_LARGE": 38,
}
# phyff_status_name: short, stable names (hosts show them to users).
STATUS_NAME = {
    "OK": "ok",
    "BAD_CRC": "bad CRC",
    "TRUNCATED": "truncated frame",
    "TOO_LONG": "frame too long",
    "BAD_COBS": "bad COBS encoding",
    "BAD_LEVEL": "protocol level mismatch",
    "NO_SPACE": "buffer too small",
    "EMPTY": "empty frame",
    "UNKNOWN_COMMAND": "unknown command",
    "BAD_PAYLOAD": "bad payload",
    "BATCH_TOO_LARGE": "batch too large",
    "BAD_CHANNELS": "wrong channel count",
    "BAD_CONFIG": "configuration refused",
    "OVERRUN": "receive overrun",
    "MEDIUM": "medium fault",
    "NOT_A_REQUEST": "not a request",
    "NO_MODEL": "no model loaded",
    "MODEL_TOO_LARGE": "model too large",
    "LOAD_RANGE": "model chunk out of order",
    "MODEL_CRC": "model CRC mismatch",
    "BAD_MODEL": "model refused",
    "WRONG_BOARD": "model for another board",
    "NO_LOAD": "no model load in progress",
    "LEARN_FULL": "learning statistics full",
    "BAD_LABEL": "label out of range",
    "TOO_FEW": "too few samples to refit",
    "SINGULAR": "singular refit system",
    "NO_READOUT": "no read-out to learn",
    "BAD_LAMBDA": "ridge penalty out of range",
    "REFIT_OVERFLOW": "refit out of range",
    "LEARN_TOO_LARGE": "learning statistics too large",
}
FEATURE = {
    "SATURATION_FLAGS": 0x0001,
    "SETTLE": 0x0002,
    "OVERSAMPLE": 0x0004,
    "CHANNEL_SELECT": 0x0008,
    "INFER": 0x0010,
    "MODEL_PERSIST": 0x0020,
    "LEARN": 0x0040,  # level 5
    "EMULATED": 0x0100,
}
INFER_FLAG = {"TRACE": 0x0001}


class RefWireError(Exception):
    """A codec failure of the reference, carrying the status name (W-P2)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """W-W2: CRC-16/CCITT-FALSE, poly 0x1021, MSB first, no reflection or final xor."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32/ISO-HDLC (zlib): reflected poly 0xEDB88320, init and final xor
    0xFFFFFFFF. A finished CRC continues a chain: crc32(b, crc32(a)) ==
    crc32(a + b), as wire.h phyff_crc32 says."""
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def cobs_max_encoded(n: int) -> int:
    return n + n // 254 + 1


def wire_max_frame(n: int) -> int:
    return cobs_max_encoded(HEADER_SIZE + n + CRC_SIZE) + 1


def cobs_encode(data: bytes) -> bytes:
    """Canonical (minimal) COBS, no delimiter.

    A block is up to 254 non-zero bytes; its code byte is its length + 1 and
    0xFF means "254 bytes, no zero follows". A final run of exactly 254 bytes
    ends the encoding without an extra 0x01 code (the form of Cheshire and
    Baker's examples); the empty input encodes to 0x01.
    """
    out = bytearray()
    block = bytearray()
    just_filled = False
    for b in data:
        just_filled = False
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
                just_filled = True
    if not just_filled:
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """COBS decode of a frame body (delimiter excluded), per wire.h."""
    if not data:
        raise RefWireError("EMPTY")
    if 0 in data:
        raise RefWireError("BAD_COBS")
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        i += 1
        if i + code - 1 > n:
            raise RefWireError("BAD_COBS")
        out += data[i : i + code - 1]
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def u16_at(b: bytes, at: int) -> int:
    """The little-endian uint16 at byte `at` of b."""
    return b[at] | (b[at + 1] << 8)


def u16le(v: int) -> bytes:
    assert 0 <= v <= 0xFFFF
    return bytes((v & 0xFF, v >> 8))


def u32le(v: int) -> bytes:
    assert 0 <= v <= 0xFFFFFFFF
    return bytes((v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24))


def get_u16(b: bytes, off: int) -> int:
    return b[off] | (b[off + 1] << 8)


def get_u32(b: bytes, off: int) -> int:
    return get_u16(b, off) | (get_u16(b, off + 2) << 16)


def header_pack(h: dict[str, int]) -> bytes:
    """W-W4: level, seq, cmd, flags (u8 each), length, aux (u16 LE)."""
    return (
        bytes((h["level"], h["seq"], h["cmd"], h["flags"]))
        + u16le(h["length"])
        + u16le(h["aux"])
    )


def header_unpack(b: bytes) -> dict[str, int]:
    return {
        "level": b[0],
        "seq": b[1],
        "cmd": b[2],
        "flags": b[3],
        "length": get_u16(b, 4),
        "aux": get_u16(b, 6),
    }


def frame_raw(h: dict[str, int], payload: bytes, length: int | None = None) -> bytes:
    """Decoded frame bytes: header + payload + CRC (LE). length overrides the field."""
    hd = dict(h, length=len(payload) if length is None else length)
    body = header_pack(hd) + payload
    return body + u16le(crc16(body))


def frame_encode(h: dict[str, int], payload: bytes) -> bytes:
    """W-W1: COBS(header + payload + CRC) + 0x00. h["length"] is ignored."""
    if len(payload) > MAX_PAYLOAD_LIMIT:
        raise RefWireError("TOO_LONG")
    return cobs_encode(frame_raw(h, payload)) + b"\x00"


def frame_decode(body: bytes, max_payload: int) -> tuple[dict[str, int], bytes]:
    """Checks in the order wire.h gives for phyff_frame_decode."""
    raw = cobs_decode(body)  # EMPTY, BAD_COBS
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        raise RefWireError("TRUNCATED")
    if crc16(raw[:-CRC_SIZE]) != get_u16(raw, len(raw) - CRC_SIZE):
        raise RefWireError("BAD_CRC")
    h = header_unpack(raw[:HEADER_SIZE])
    actual = len(raw) - HEADER_SIZE - CRC_SIZE
    if actual < h["length"]:
        raise RefWireError("TRUNCATED")
    if actual > h["length"]:
        raise RefWireError("TOO_LONG")
    if h["length"] > max_payload:
        raise RefWireError("TOO_LONG")
    return h, raw[HEADER_SIZE:-CRC_SIZE]


def check_level(level: int, cmd: int) -> str:
    """W-L4: HELLO is served at any level; everything else needs ours."""
    if cmd == CMD["HELLO"] or level == PROTOCOL_LEVEL:
        return "OK"
    return "BAD_LEVEL"


def name_bytes(s: str) -> bytes:
    raw = s.encode("ascii")
    assert len(raw) <= NAME_SIZE
    return raw + bytes(NAME_SIZE - len(raw))


CAPS_FIELDS: list[tuple[str, str]] = [
    ("level", "u8"),
    ("reserved0", "u8"),
    ("features", "u16"),
    ("firmware_version", "u32"),
    ("unit_id", "u32"),
    ("max_batch", "u16"),
    ("max_payload", "u16"),
    ("n_drive", "u16"),
    ("n_sense", "u16"),
    ("dac_bits", "u8"),
    ("adc_bits", "u8"),
    ("max_oversample", "u16"),
    ("board", "name"),
    ("medium", "name"),
    ("max_settle_us", "u32"),
    ("model_capacity", "u32"),
    ("model_crc", "u32"),
    ("model_loaded", "u8"),
    ("reserved1", "u8"),
    ("reserved2", "u16"),
    ("max_classes", "u16"),  # level 4
    ("infer_work", "u16"),
]
CONFIG_FIELDS = [
    ("settle_us", "u32"),
    ("oversample", "u16"),
    ("n_drive_active", "u16"),
    ("n_sense_active", "u16"),
    ("reserved", "u16"),
]
STATS_FIELDS = [
    (name, "u32")
    for name in (
        "frames_ok",
        "crc_errors",
        "framing_errors",
        "bad_commands",
        "overruns",
        "samples_served",
        "error_replies",
        "uptime_ms",
        "infer_samples",
        "infer_digital_us",
        "infer_medium_us",
    )
]
MODEL_BEGIN_FIELDS = [("image_size", "u32"), ("crc32", "u32")]
CHUNK_HEAD_FIELDS = [("offset", "u32")]
INFER_HEAD_FIELDS = [("n_samples", "u16"), ("n_values", "u16"), ("flags", "u16"),
                     ("reserved", "u16")]
MODEL_INFO_FIELDS = [
    ("crc32", "u32"),
    ("image_size", "u32"),
    ("train_unit_id", "u32"),
    ("n_features", "u16"),
    ("n_classes", "u16"),
    ("max_batch", "u16"),
    ("max_batch_trace", "u16"),
    ("n_blocks", "u8"),
    ("inference", "u8"),
    ("input_exp", "i8"),
    ("score_exp", "i8"),
    ("trace_values", "u16"),
    ("origin", "u16"),  # level 4 (enum phyff_model_origin)
    ("name", "name"),
    ("train_board", "name"),
    ("train_medium", "name"),
    ("readout_origin", "u16"),  # level 5 (wire.h W-N6)
    ("readout_samples", "u16"),
]
DESCRIBE_REQUEST_FIELDS = [("offset", "u32"), ("max_bytes", "u16"), ("reserved", "u16")]
DESCRIBE_REPLY_FIELDS = [("section_size", "u32"), ("offset", "u32")]
LEARN_HEAD_FIELDS = [("n_samples", "u16"), ("n_values", "u16")]
REFIT_REPLY_FIELDS = [("crc32", "u32"), ("samples", "u16"), ("conditioning", "u16")]
ERROR_FIELDS = [("status", "u16"), ("arg", "u16")]
EVENT_FIELDS = [("event", "u16"), ("arg", "u16")]
QUERY_HEAD_FIELDS = [("n_samples", "u16"), ("n_channels", "u16")]
HEADER_FIELDS = [
    ("level", "u8"),
    ("seq", "u8"),
    ("cmd", "u8"),
    ("flags", "u8"),
    ("length", "u16"),
    ("aux", "u16"),
]


def record_pack(fields: list[tuple[str, str]], rec: dict[str, Any]) -> bytes:
    out = bytearray()
    for name, kind in fields:
        v = rec[name]
        if kind == "u8":
            assert 0 <= v <= 0xFF
            out.append(v)
        elif kind == "i8":
            assert -128 <= v <= 127
            out.append(v & 0xFF)
        elif kind == "u16":
            out += u16le(v)
        elif kind == "u32":
            out += u32le(v)
        else:
            out += name_bytes(v)
    return bytes(out)


def samples_pack(v: Sequence[int]) -> bytes:
    return b"".join(u16le(x & 0xFFFF) for x in v)


# =============================================================================
# model.h reference (written from model.h's prose: M-M1-M2, M-P1-P7, M-V1-V6)
# =============================================================================

MODEL_MAGIC = 0x4D594850  # "PHYM" little-endian
MODEL_VERSION = 1
MODEL_MAX_BLOCKS = 8
MODEL_HEAD_SIZE = 72
BLOCK_HEAD_SIZE = 24
READOUT_HEAD_SIZE = 8
INFERENCE = {"ONEPASS": 0, "GOODNESS": 1}
ENCODER = {"AMPLITUDE": 0, "BINARY2": 1, "BINARY2_UNIFORM": 2, "PHASE": 3, "CLIP": 4}
BLOCK_FLAG = {"PHYSICAL": 0x01, "SKIP": 0x02}
# model.h M-R1, M-L1 (level 4): blocks driven as several device rows, class-code overlay
MODEL_MAX_ROWS = 64
OVERLAY = {"SLOTS": 0, "CODE": 1}
CODE_GAIN_MAX = 1024
CODE_HEAD_SIZE = 4
# model.h M-D1-D5 (level 5): the description section at the end of an image
DESCRIBE_MAGIC = 0x44594850  # "PHYD" little-endian
DESCRIBE_HEAD_SIZE = 16
DESCRIBE_FLAG = {"CLIP": 0x01, "FEATURE_NAMES": 0x02}
DESCRIBE_RANGE_Q8 = 384
SHIFT_SEGMENT_MAX, SHIFT_BIAS_MAX, SHIFT_OUT_MAX, EXP_LIMIT = 16, 40, 62, 32

MODEL_HEAD_FIELDS = [
    ("magic", "u32"), ("version", "u16"), ("n_blocks", "u8"), ("inference", "u8"),
    ("n_features", "u16"), ("n_classes", "u16"), ("width", "u16"),
    ("feature_offset", "u16"), ("train_unit_id", "u32"), ("input_exp", "i8"),
    ("score_exp", "i8"), ("overlay", "u8"), ("readout_abs", "u8"), ("name", "name"),
    ("train_board", "name"), ("train_medium", "name"),
]
BLOCK_HEAD_FIELDS = [
    ("encoder", "u8"), ("flags", "u8"), ("d_in", "u16"), ("n_drive", "u16"),
    ("n_sense", "u16"), ("d_out", "u16"), ("in_exp", "i8"), ("out_exp", "i8"),
    ("shift_p", "u8"), ("shift_h", "u8"), ("shift_b", "u8"), ("shift_out", "u8"),
    ("settle_us", "u32"), ("oversample", "u16"), ("readout_shift", "u8"), ("rows", "u8"),
]
READOUT_HEAD_FIELDS = [("n_in", "u16"), ("n_classes", "u16"), ("shift_b", "u8"),
                       ("shift_out", "u8"), ("refit_samples", "u16")]
MODEL_MAX_REFIT_SAMPLES = 511  # M-V4 (level 5): learn.h RF-A4's cap
CODE_HEAD_FIELDS = [("gain_q8", "u16"), ("reserved", "u16")]
DESCRIBE_HEAD_FIELDS = [("magic", "u32"), ("length", "u32"), ("n_features", "u16"),
                        ("n_classes", "u16"), ("flags", "u8"), ("reserved", "u8"),
                        ("range_q8", "u16")]
WIDTH = {"u8": 1, "i8": 1, "u16": 2, "u32": 4, "name": NAME_SIZE}


def field_offsets(fields: list[tuple[str, str]]) -> dict[str, int]:
    out, at = {}, 0
    for n, k in fields:
        out[n] = at
        at += WIDTH[k]
    return out


def record_unpack(fields: list[tuple[str, str]], b: bytes) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    at = 0
    for n, k in fields:
        w = WIDTH[k]
        raw = b[at:at + w]
        if k == "name":
            rec[n] = raw  # the 16 bytes, compared whole (M-V6)
        else:
            v = int.from_bytes(raw, "little")
            rec[n] = v - 256 if k == "i8" and v > 127 else v
        at += w
    return rec


def s16(v: int) -> int:
    return v - 65536 if v > 32767 else v


def i16_pack(values: Iterable[int]) -> bytes:
    return b"".join(u16le(v & 0xFFFF) for v in values)


def i16_unpack(b: bytes) -> list[int]:
    return [s16(get_u16(b, 2 * i)) for i in range(len(b) // 2)]


def drive_width(encoder: int, d_in: int) -> int:
    return 2 * d_in if encoder in (ENCODER["BINARY2"], ENCODER["BINARY2_UNIFORM"]) else d_in


def block_rows(b: dict[str, Any]) -> int:
    """M-R1: device rows per sample (0 in the head: the plain block, one row)."""
    return max(1, b["rows"])


def sensed_width(b: dict[str, Any]) -> int:
    """M-R3: sensed values of one pass through the block."""
    return block_rows(b) * b["n_sense"]


def block_work(b: dict[str, Any]) -> int:
    """M-R3: scratch values of a block (h, drive, p, y)."""
    drive = b["n_drive"] if b["rows"] == 0 else drive_width(b["encoder"], b["d_in"])
    return b["d_in"] + drive + sensed_width(b) + b["d_out"]


def z_width(b: dict[str, Any]) -> int:
    return (sensed_width(b) if b["flags"] & BLOCK_FLAG["PHYSICAL"] else 0) + \
        (b["d_in"] if b["flags"] & BLOCK_FLAG["SKIP"] else 0)


def image_pack(m: dict[str, Any]) -> bytes:
    """model.h "Image layout": head, per block head + W + b + xi, read-out."""
    out = bytearray(record_pack(MODEL_HEAD_FIELDS, m["head"]))
    for blk in m["blocks"]:
        out += record_pack(BLOCK_HEAD_FIELDS, blk["head"])
        out += i16_pack(v for row in blk["W"] for v in row)
        out += i16_pack(blk["b"]) + i16_pack(blk["xi"])
        if blk["head"]["rows"]:
            out += b"".join(u16le(v) for row in blk["slots"] for v in row)
    if m.get("readout") is not None:
        ro = m["readout"]
        out += record_pack(READOUT_HEAD_FIELDS, ro["head"])
        out += i16_pack(v for row in ro["R"] for v in row) + i16_pack(ro["rb"])
    if m["head"]["overlay"] == OVERLAY["CODE"]:
        out += record_pack(CODE_HEAD_FIELDS, m["code"]["head"])
        out += bytes(c & 0xFF for row in m["code"]["codes"] for c in row)
    if m.get("describe") is not None:
        out += describe_pack(m["describe"])
    return bytes(out)


def describe_pack(d: dict[str, Any]) -> bytes:
    """M-D2: head, scale and limit (float32), then the names, each ended by 0x00."""
    nf = len(d["scale"])
    names = list(d.get("feature_names") or []) + list(d["class_names"])
    flags = (DESCRIBE_FLAG["CLIP"] if d["clip"] else 0) | (
        DESCRIBE_FLAG["FEATURE_NAMES"] if d.get("feature_names") is not None else 0)
    body = b"".join(struct.pack("<f", v) for v in list(d["scale"]) + list(d["limit"]))
    body += b"".join(n.encode("utf-8") + b"\x00" for n in names)
    head = {"magic": DESCRIBE_MAGIC, "length": DESCRIBE_HEAD_SIZE + len(body), "n_features": nf,
            "n_classes": len(d["class_names"]), "flags": flags, "reserved": 0,
            "range_q8": d.get("range_q8", DESCRIBE_RANGE_Q8)}
    return record_pack(DESCRIBE_HEAD_FIELDS, head) + body


def describe_host_accepts(image: bytes, at: int) -> bool:
    """M-D5: what a host checks beyond the board's structure (no section: True)."""
    if not at:
        return True
    d = record_unpack(DESCRIBE_HEAD_FIELDS, image[at:at + DESCRIBE_HEAD_SIZE])
    nf = d["n_features"]
    p = at + DESCRIBE_HEAD_SIZE
    floats = struct.unpack(f"<{2 * nf}f", image[p:p + 8 * nf])
    try:
        image[p + 8 * nf:].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return (all(math.isfinite(v) and v > 0 for v in floats[:nf])
            and all(math.isfinite(v) and v >= 0 for v in floats[nf:]) and d["range_q8"] > 0)


def describe_check(image: bytes, at: int, h: dict[str, Any],
                   need: Callable[[bool, int], None]) -> None:
    """M-D1-D3: the structure of the section image[at:], the layout ending at `at`."""
    size = len(image)
    rest = size - at
    need(rest >= 4 and get_u32(image, at) == DESCRIBE_MAGIC, size)  # M-D1: else M-V5 (rest < 0 too)
    need(rest >= DESCRIBE_HEAD_SIZE, size)
    d = record_unpack(DESCRIBE_HEAD_FIELDS, image[at:at + DESCRIBE_HEAD_SIZE])
    do = field_offsets(DESCRIBE_HEAD_FIELDS)
    need(d["length"] == rest, at + do["length"])
    need(d["n_features"] == h["n_features"], at + do["n_features"])
    need(d["n_classes"] == h["n_classes"], at + do["n_classes"])
    need(d["flags"] & ~(DESCRIBE_FLAG["CLIP"] | DESCRIBE_FLAG["FEATURE_NAMES"]) == 0,
         at + do["flags"])
    need(d["reserved"] == 0, at + do["reserved"])
    p = at + DESCRIBE_HEAD_SIZE
    need(p + 8 * d["n_features"] <= size, size)
    p += 8 * d["n_features"]
    names = d["n_classes"] + (d["n_features"] if d["flags"] & DESCRIBE_FLAG["FEATURE_NAMES"]
                              else 0)
    for _ in range(names):
        end = image.find(b"\x00", p)
        need(end >= 0, p)
        p = end + 1
    need(p == size, p)


class ModelRefused(Exception):
    def __init__(self, status: str, offset: int) -> None:
        super().__init__(f"{status} at {offset}")
        self.status, self.offset = status, offset


def model_check(image: bytes, lim: dict[str, Any]) -> dict[str, Any]:
    """M-V1-V6: the first refused field in image order (M-V1-V5), then M-V6.

    A rule on several fields is reported at the field the header's V-list
    names it by: width (12) for n_classes + n_features <= width <=
    work_values, feature_offset (14) for its two bounds, a block's d_in for
    its scratch, n_drive for the drive width. Returns the parsed view."""
    size = len(image)

    def need(ok: bool, off: int) -> None:
        if not ok:
            raise ModelRefused("BAD_MODEL", off)

    need(size >= MODEL_HEAD_SIZE, size)
    h = record_unpack(MODEL_HEAD_FIELDS, image[:MODEL_HEAD_SIZE])
    o = field_offsets(MODEL_HEAD_FIELDS)
    nc, nf = h["n_classes"], h["n_features"]
    need(h["magic"] == MODEL_MAGIC, o["magic"])
    need(h["version"] == MODEL_VERSION, o["version"])
    need(1 <= h["n_blocks"] <= MODEL_MAX_BLOCKS, o["n_blocks"])
    need(h["inference"] in INFERENCE.values(), o["inference"])
    need(nf >= 1, o["n_features"])
    need(2 <= nc <= lim["max_classes"], o["n_classes"])
    coded = h["overlay"] == OVERLAY["CODE"]
    slots = 0 if coded else nc
    need(slots + nf <= h["width"] <= lim["work_values"], o["width"])
    need(h["feature_offset"] >= slots and h["feature_offset"] + nf <= h["width"],
         o["feature_offset"])
    need(-EXP_LIMIT <= h["input_exp"] <= EXP_LIMIT, o["input_exp"])
    need(-EXP_LIMIT <= h["score_exp"] <= EXP_LIMIT, o["score_exp"])
    need(h["overlay"] in OVERLAY.values(), o["overlay"])
    need(h["readout_abs"] in (0, 1), o["readout_abs"])
    at = MODEL_HEAD_SIZE
    d_in, in_exp = h["width"], h["input_exp"]
    blocks, block_at = [], []
    bo = field_offsets(BLOCK_HEAD_FIELDS)
    for _ in range(h["n_blocks"]):
        need(at + BLOCK_HEAD_SIZE <= size, size)
        b = record_unpack(BLOCK_HEAD_FIELDS, image[at:at + BLOCK_HEAD_SIZE])
        phys = bool(b["flags"] & BLOCK_FLAG["PHYSICAL"])
        need(b["encoder"] in ENCODER.values(), at + bo["encoder"])
        need(b["flags"] & ~(BLOCK_FLAG["PHYSICAL"] | BLOCK_FLAG["SKIP"]) == 0 and
             b["flags"] != 0, at + bo["flags"])
        need(b["d_in"] == d_in and block_work(b) <= lim["work_values"], at + bo["d_in"])
        need((b["n_drive"] == drive_width(b["encoder"], b["d_in"]) if b["rows"] == 0
              else b["n_drive"] >= 1) and
             (not phys or 1 <= b["n_drive"] <= lim["n_drive"]), at + bo["n_drive"])
        need(not phys or 1 <= b["n_sense"] <= lim["n_sense"], at + bo["n_sense"])
        need(b["d_out"] >= 1, at + bo["d_out"])
        need(b["in_exp"] == in_exp, at + bo["in_exp"])
        need(-EXP_LIMIT <= b["out_exp"] <= EXP_LIMIT, at + bo["out_exp"])
        need(b["shift_p"] <= SHIFT_SEGMENT_MAX, at + bo["shift_p"])
        need(b["shift_h"] <= SHIFT_SEGMENT_MAX, at + bo["shift_h"])
        need(b["shift_b"] <= SHIFT_BIAS_MAX, at + bo["shift_b"])
        need(b["shift_out"] <= SHIFT_OUT_MAX, at + bo["shift_out"])
        need(not phys or b["settle_us"] <= lim["max_settle_us"], at + bo["settle_us"])
        need(not phys or 1 <= b["oversample"] <= lim["max_oversample"], at + bo["oversample"])
        need(b["readout_shift"] <= SHIFT_SEGMENT_MAX, at + bo["readout_shift"])
        need(b["rows"] <= MODEL_MAX_ROWS and (b["rows"] == 0 or phys), at + bo["rows"])
        blocks.append(b)
        block_at.append(at + BLOCK_HEAD_SIZE)
        at += BLOCK_HEAD_SIZE + 2 * (b["d_out"] * z_width(b) + 2 * b["d_out"])
        b["slots"], b["slots_at"] = [], 0
        if b["rows"]:  # M-R1: the slot map, each entry < the drive width
            n = b["rows"] * b["n_drive"]
            need(at + 2 * n <= size, size)
            w = drive_width(b["encoder"], b["d_in"])
            for i in range(n):
                need(u16_at(image, at + 2 * i) < w, at + 2 * i)
            b["slots"] = [u16_at(image, at + 2 * i) for i in range(n)]
            b["slots_at"] = at
            at += 2 * n
        d_in, in_exp = b["d_out"], b["out_exp"]
    trace = sum(sensed_width(b) for b in blocks if b["flags"] & BLOCK_FLAG["PHYSICAL"])
    width = sum(b["d_out"] for b in blocks)
    readout, readout_at = None, 0
    if h["inference"] == INFERENCE["ONEPASS"]:
        ro = field_offsets(READOUT_HEAD_FIELDS)
        need(at + READOUT_HEAD_SIZE <= size, size)
        readout = record_unpack(READOUT_HEAD_FIELDS, image[at:at + READOUT_HEAD_SIZE])
        need(readout["n_in"] == width, at + ro["n_in"])
        need(readout["n_classes"] == nc, at + ro["n_classes"])
        need(readout["shift_b"] <= SHIFT_BIAS_MAX, at + ro["shift_b"])
        need(readout["shift_out"] <= SHIFT_OUT_MAX, at + ro["shift_out"])
        need(readout["refit_samples"] <= MODEL_MAX_REFIT_SAMPLES, at + ro["refit_samples"])
        readout_at = at + READOUT_HEAD_SIZE
        at = readout_at + 2 * (nc * width + nc)
    else:
        trace *= nc
    code: dict[str, Any] | None = None
    if coded:  # M-L1: the code section ends the image
        need(at + CODE_HEAD_SIZE <= size, size)
        ch = record_unpack(CODE_HEAD_FIELDS, image[at:at + CODE_HEAD_SIZE])
        co = field_offsets(CODE_HEAD_FIELDS)
        need(ch["gain_q8"] <= CODE_GAIN_MAX, at + co["gain_q8"])
        need(ch["reserved"] == 0, at + co["reserved"])
        at += CODE_HEAD_SIZE
        need(at + nc * nf <= size, size)
        codes = [image[at + i] - 256 if image[at + i] > 127 else image[at + i]
                 for i in range(nc * nf)]
        for i, c in enumerate(codes):
            need(c in (-1, 1), at + i)
        code = {"gain_q8": ch["gain_q8"], "codes": [codes[c * nf:(c + 1) * nf]
                                                     for c in range(nc)]}
        at += nc * nf
    describe_at = 0
    if at != size:  # M-D1: a description section, or a size fault (M-V5)
        describe_check(image, at, h, need)
        describe_at = at
    need(trace <= 0xFFFF, o["n_blocks"])
    if h["train_unit_id"] != lim["unit_id"]:
        raise ModelRefused("WRONG_BOARD", o["train_unit_id"])
    if h["train_medium"] != name_bytes(lim["medium"]):
        raise ModelRefused("WRONG_BOARD", o["train_medium"])
    work = max([h["width"]] + [block_work(b) for b in blocks])
    return {"image": image, "head": h, "blocks": blocks, "block_at": block_at,
            "readout": readout, "readout_at": readout_at, "trace_values": trace,
            "readout_width": width, "work_values": work, "code": code,
            "describe_at": describe_at, "describe_size": size - describe_at if describe_at else 0}


def view_i16(v: dict[str, Any], at: int, n: int) -> list[int]:
    return i16_unpack(v["image"][at:at + 2 * n])


def round_shift(acc: int, s: int) -> int:
    """M-M2: one round-and-shift (FX-F3); a shift of 0 leaves acc as it is."""
    return acc if s == 0 else round_shift_s64(acc, s)


def infer_layout(v: dict[str, Any], x: Sequence[int], label: int) -> tuple[list[int], bool]:
    """M-P1-P2: features into the row, the overlay on the label slots."""
    h = v["head"]
    row = [0] * h["width"]
    for j, xj in enumerate(x):
        row[h["feature_offset"] + j] = xj
    top = max(abs(t) for t in row)
    value = min(top, Q15_MAX)
    c = h["n_classes"]
    if v["code"] is not None:  # M-L2
        codes, g = v["code"]["codes"], v["code"]["gain_q8"]
        scaled = value * g
        saturated = top > Q15_MAX
        for j, xj in enumerate(x):
            if label < 0:
                num, den = scaled * sum(codes[k][j] for k in range(c)), 256 * c
                add = (2 * num + den) // (2 * den)  # round half up, Python // floors
            else:
                add = ((scaled + 128) >> 8) * codes[label][j]
            t = xj + add
            saturated |= not Q15_MIN <= t <= Q15_MAX
            row[h["feature_offset"] + j] = sat_q15(t)
        return row, saturated
    if label < 0:
        for j in range(c):
            row[j] = (value + c // 2) // c
    else:
        row[label] = value
    return row, top > Q15_MAX


def infer_encode(v: dict[str, Any], k: int, hv: Sequence[int]) -> list[int]:
    """M-P3, encoder by encoder."""
    b = v["blocks"][k]
    enc = b["encoder"]
    if enc == ENCODER["AMPLITUDE"]:
        a = isqrt(sum(t * t for t in hv))
        return [0 if a == 0 else min(Q15_MAX, (abs(t) * 32768 + a // 2) // a) for t in hv]
    if enc == ENCODER["CLIP"]:
        e = b["in_exp"]
        vals = [t * 2**e if e >= 0 else round_shift_s64(t, -e) for t in hv]
        return [sat(t, 0, Q15_MAX) for t in vals]
    lo = min(hv)
    span = max(hv) - lo
    if enc == ENCODER["PHASE"]:
        return [0 if span == 0 else ((t - lo) * 32767 + span // 2) // span for t in hv]
    out: list[int] = []
    for t in hv:
        d = t - lo
        msb = lsb = False
        if span != 0:
            if enc == ENCODER["BINARY2"]:
                msb = 4 * d > span
                lsb = (d > 0 and 4 * d <= span) or 4 * d > 3 * span
            else:
                level = min((4 * d) // span, 3)
                msb, lsb = level >= 2, level % 2 == 1
        out += [Q15_MAX * msb, Q15_MAX * lsb]
    return out


def infer_rows(v: dict[str, Any], k: int, drive: Sequence[int]) -> list[int]:
    """M-R1-R2: the values a block drives, row after row (a plain block: its drive)."""
    b = v["blocks"][k]
    if b["rows"] == 0:
        return list(drive)
    return [drive[s] for s in b["slots"]]


def infer_affine(v: dict[str, Any], k: int, p: Sequence[int],
                 hv: Sequence[int]) -> tuple[list[int], bool]:
    """M-P5 (M-M2): exact segment sums, shifted, plus the bias; one rounding, one saturation."""
    b = v["blocks"][k]
    z = z_width(b)
    at = v["block_at"][k]
    w = view_i16(v, at, b["d_out"] * z)
    bias = view_i16(v, at + 2 * b["d_out"] * z, b["d_out"])
    phys, skip = b["flags"] & BLOCK_FLAG["PHYSICAL"], b["flags"] & BLOCK_FLAG["SKIP"]
    y, saturated = [], False
    for i in range(b["d_out"]):
        row = w[i * z:(i + 1) * z]
        acc = 0
        col = 0
        if phys:
            n = sensed_width(b)
            acc += dot_acc64(row[:n], p[:n]) * 2**b["shift_p"]
            col = n
        if skip:
            acc += dot_acc64(row[col:col + b["d_in"]], hv) * 2**b["shift_h"]
        acc += bias[i] * 2**b["shift_b"]
        r = round_shift(acc, b["shift_out"])
        saturated |= not Q15_MIN <= r <= Q15_MAX
        y.append(sat_q15(r))
    return y, saturated


def infer_readout(v: dict[str, Any], ys: Sequence[Sequence[int]]) -> tuple[list[int], list[int],
                                                                             bool]:
    """M-P6 one-pass: acc_c over the blocks' segments, then bias, round, sat32."""
    h, ro = v["head"], v["readout"]
    nc, width = h["n_classes"], v["readout_width"]
    r = view_i16(v, v["readout_at"], nc * width)
    rb = view_i16(v, v["readout_at"] + 2 * nc * width, nc)
    acc = [0] * nc
    col = 0
    for k, y in enumerate(ys):
        f = [min(abs(t), Q15_MAX) for t in y] if h["readout_abs"] else list(y)
        shift = v["blocks"][k]["readout_shift"]
        for c in range(nc):
            seg = r[c * width + col:c * width + col + len(y)]
            acc[c] += dot_acc64(seg, f) * 2**shift
        col += len(y)
    scores, saturated = [], False
    for c in range(nc):
        t = round_shift(acc[c] + rb[c] * 2**ro["shift_b"], ro["shift_out"])
        saturated |= not Q31_MIN <= t <= Q31_MAX
        scores.append(sat_q31(t))
    return acc, scores, saturated


def infer_goodness(v: dict[str, Any], k: int, y: Sequence[int]) -> int:
    """M-P6 goodness: round half up of sum |y_j| xi_j / isqrt(sum y_j^2); 0 for y = 0."""
    b = v["blocks"][k]
    xi = view_i16(v, v["block_at"][k] + 2 * (b["d_out"] * z_width(b) + b["d_out"]), b["d_out"])
    num = sum(abs(t) * x for t, x in zip(y, xi, strict=True))
    den = isqrt(sum(t * t for t in y))
    if den == 0:
        return 0
    return (2 * num + den) // (2 * den)  # floor((2n + d) / (2d)): Python // floors


def argmax(scores: Sequence[int]) -> int:
    """M-P7: the first index of the largest score."""
    best = 0
    for i, s in enumerate(scores):
        if s > scores[best]:
            best = i
    return best


def infer_sample(v: dict[str, Any], x: Sequence[int],
                 sensed: Sequence[Sequence[int]]) -> dict[str, Any]:
    """M-P1-P7 for one sample, the sensed values given (M-P4 is the board's): one list
    per measurement, in order pass, block. Returns drives, scores, class, saturation."""
    h = v["head"]
    labels = [-1] if h["inference"] == INFERENCE["ONEPASS"] else list(range(h["n_classes"]))
    drives: list[list[int]] = []
    scores: list[int] = []
    saturated = False
    m = 0
    for label in labels:
        hv, sat_l = infer_layout(v, x, label)
        saturated |= sat_l
        ys, good = [], 0
        for k, b in enumerate(v["blocks"]):
            p: list[int] = []
            if b["flags"] & BLOCK_FLAG["PHYSICAL"]:
                drives.append(infer_rows(v, k, infer_encode(v, k, hv)))
                p = list(sensed[m])
                m += 1
            y, s = infer_affine(v, k, p, hv)
            saturated |= s
            ys.append(y)
            if h["inference"] == INFERENCE["GOODNESS"]:
                good += infer_goodness(v, k, y)
            hv = y
        if h["inference"] == INFERENCE["ONEPASS"]:
            _, scores, s = infer_readout(v, ys)
            saturated |= s
        else:
            scores.append(good)
    assert m == len(sensed)
    return {"drives": drives, "scores": scores, "class": argmax(scores), "sat": saturated}


# =============================================================================
# Case generation
# =============================================================================


def rng_for(group: str) -> random.Random:
    """One generator per group, so adding a group never shifts another's cases."""
    digest = hashlib.sha256(f"{SEED}:{group}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def randint(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform in [lo, hi] from getrandbits only (stable across Python versions)."""
    span = hi - lo + 1
    bits = span.bit_length()
    while True:
        r = rng.getrandbits(bits)
        if r < span:
            return lo + r


def rand_bytes(rng: random.Random, n: int, zero_every: int = 0) -> bytes:
    """n random bytes; with zero_every = k, roughly one byte in k is 0x00."""
    out = bytearray()
    for _ in range(n):
        if zero_every and randint(rng, 0, zero_every - 1) == 0:
            out.append(0)
        else:
            out.append(randint(rng, 1, 255))
    return bytes(out)


def fhex(x: float) -> str:
    """A double as a string that strtod and float.fromhex read exactly."""
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return float.hex(x)


def f64_from_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def uniq(items: Iterable[Any]) -> list[Any]:
    """Stable de-duplication (by JSON form, so -0.0 and 0.0 stay distinct)."""
    seen: set[str] = set()
    out = []
    for it in items:
        key = json.dumps(it, sort_keys=True) if not isinstance(it, float) else fhex(it)
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out


Q15_CORNERS = [-32768, -32767, -16385, -16384, -16383, -2, -1, 0, 1, 2, 16383, 16384, 16385,
               32766, 32767]
Q31_CORNERS = [Q31_MIN, Q31_MIN + 1, -(2**30) - 1, -(2**30), -(2**30) + 1, -65536, -32768, -1, 0,
               1, 32768, 65536, 2**30 - 1, 2**30, 2**30 + 1, Q31_MAX - 1, Q31_MAX]


def scalar_binary(
    group: str, corners: list[int], lo: int, hi: int, fn: Callable[[int, int], int],
    extra: Iterable[tuple[int, int]] = (), n_random: int = 150,
) -> list[dict[str, Any]]:
    rng = rng_for(group)
    pairs = [(a, b) for a in corners for b in corners]
    pairs += list(extra)
    pairs += [(randint(rng, lo, hi), randint(rng, lo, hi)) for _ in range(n_random)]
    return [{"in": [a, b], "out": fn(a, b)} for a, b in uniq(pairs)]


def tie_pairs(rng: random.Random, frac_bits: int, lo: int, hi: int, count: int
              ) -> list[tuple[int, int]]:
    """Operand pairs whose exact product lies exactly half-way (a*b mod 2^f == 2^(f-1)),
    of both signs, plus the neighbours just below and above each tie."""
    out: list[tuple[int, int]] = []
    while len(out) < count:
        k = randint(rng, 0, frac_bits - 1)
        # a = odd * 2^k, b = odd * 2^(f-1-k): product = odd * 2^(f-1)
        amax = hi >> k
        bmax = hi >> (frac_bits - 1 - k)
        if amax < 1 or bmax < 1:
            continue
        a = (randint(rng, 0, (amax - 1) // 2) * 2 + 1) << k
        b = (randint(rng, 0, (bmax - 1) // 2) * 2 + 1) << (frac_bits - 1 - k)
        if not (lo <= a <= hi and lo <= b <= hi):
            continue
        sa = -1 if randint(rng, 0, 1) else 1
        sb = -1 if randint(rng, 0, 1) else 1
        out.append((sa * a, sb * b))
    return out


def gen_fixed() -> dict[str, Any]:
    g: dict[str, Any] = {}

    # ---- saturation helpers ---------------------------------------------------
    rng = rng_for("sat_q15")
    xs = [Q31_MIN, Q31_MIN + 1, -65536, -32769, -32768, -32767, -1, 0, 1, 32766, 32767, 32768,
          32769, 65535, Q31_MAX - 1, Q31_MAX]
    xs += [randint(rng, Q31_MIN, Q31_MAX) for _ in range(40)]
    xs += [randint(rng, -40000, 40000) for _ in range(40)]
    g["sat_q15"] = [{"in": [x], "out": sat_q15(x)} for x in uniq(xs)]

    rng = rng_for("sat_q31")
    xs = [I64_MIN, I64_MIN + 1, Q31_MIN - 1, Q31_MIN, Q31_MIN + 1, -1, 0, 1, Q31_MAX - 1,
          Q31_MAX, Q31_MAX + 1, 2**32, I64_MAX - 1, I64_MAX]
    xs += [randint(rng, I64_MIN, I64_MAX) for _ in range(40)]
    xs += [randint(rng, Q31_MIN - 2**20, Q31_MAX + 2**20) for _ in range(40)]
    g["sat_q31"] = [{"in": [x], "out": sat_q31(x)} for x in uniq(xs)]

    # ---- round_shift_s64: |x| <= 2^62, s in 1..62 ----------------------------
    rng = rng_for("round_shift_s64")
    rs: list[tuple[int, int]] = []
    for s in (1, 2, 15, 16, 31, 32, 61, 62):
        h = 2 ** (s - 1)
        for k in (0, 1, 2, 3, -1, -2, -3):
            t = k * 2**s + h  # a tie
            rs += [(t, s), (t - 1, s), (t + 1, s)]
        rs += [(0, s), (1, s), (-1, s), (2**62, s), (-(2**62), s), (2**62 - 1, s),
               (-(2**62) + 1, s)]
    for _ in range(120):
        s = randint(rng, 1, 62)
        rs.append((randint(rng, -(2**62), 2**62), s))
    for _ in range(60):
        s = randint(rng, 1, 40)
        k = randint(rng, -(2 ** (61 - s)), 2 ** (61 - s))
        rs.append((k * 2**s + 2 ** (s - 1), s))
    rs = [(x, s) for x, s in uniq(rs) if abs(x) <= 2**62]
    g["round_shift_s64"] = [{"in": [x, s], "out": round_shift_s64(x, s)} for x, s in rs]

    # ---- Q15 scalar -----------------------------------------------------------
    g["q15_add"] = scalar_binary("q15_add", Q15_CORNERS, Q15_MIN, Q15_MAX, q15_add)
    g["q15_sub"] = scalar_binary("q15_sub", Q15_CORNERS, Q15_MIN, Q15_MAX, q15_sub)
    rng = rng_for("q15_mul.ties")
    mul_extra = [(1, 16384), (-1, 16384), (16384, -1), (3, 16384), (-3, 16384), (1, 16383),
                 (1, 16385), (-1, 16383), (-1, 16385), (16383, 1), (-16383, 1), (-16384, 1),
                 (-16385, 1), (-32768, -32768), (-32768, 32767), (32767, 32767),
                 (-32768, 1), (-32768, -1), (181, 181), (-181, 181), (5, 9830), (-5, 9830)]
    mul_extra += tie_pairs(rng, 15, Q15_MIN, Q15_MAX, 60)
    g["q15_mul"] = scalar_binary("q15_mul", Q15_CORNERS, Q15_MIN, Q15_MAX, q15_mul,
                                 extra=mul_extra, n_random=200)

    # ---- Q31 scalar -----------------------------------------------------------
    g["q31_add"] = scalar_binary("q31_add", Q31_CORNERS, Q31_MIN, Q31_MAX, q31_add)
    g["q31_sub"] = scalar_binary("q31_sub", Q31_CORNERS, Q31_MIN, Q31_MAX, q31_sub)
    rng = rng_for("q31_mul.ties")
    m31_extra = [(1, 2**30), (-1, 2**30), (3, 2**30), (-3, 2**30), (1, 2**30 - 1),
                 (1, 2**30 + 1), (-1, 2**30 - 1), (-1, 2**30 + 1), (Q31_MIN, Q31_MIN),
                 (Q31_MIN, Q31_MAX), (Q31_MAX, Q31_MAX), (Q31_MIN, 1), (Q31_MIN, -1),
                 (46341, 46341), (-46341, 46341)]
    m31_extra += tie_pairs(rng, 31, Q31_MIN, Q31_MAX, 60)
    g["q31_mul"] = scalar_binary("q31_mul", Q31_CORNERS, Q31_MIN, Q31_MAX, q31_mul,
                                 extra=m31_extra, n_random=200)

    # ---- conversions ----------------------------------------------------------
    rng = rng_for("q15_to_q31")
    vs = Q15_CORNERS + [randint(rng, Q15_MIN, Q15_MAX) for _ in range(50)]
    g["q15_to_q31"] = [{"in": [v], "out": q15_to_q31(v)} for v in uniq(vs)]

    rng = rng_for("q31_to_q15")
    vs = list(Q31_CORNERS)
    for k in (0, 1, 2, 100, 32766, 32767, -1, -2, -100, -32767, -32768):
        t = k * 65536 + 32768  # ties
        vs += [t - 1, t, t + 1]
    vs += [0x7FFF7FFF, 0x7FFF8000, 0x7FFF8001, Q31_MIN + 32767, Q31_MIN + 32768,
           Q31_MIN + 32769]
    vs += [randint(rng, -32768, 32767) * 65536 + 32768 for _ in range(30)]
    vs += [randint(rng, Q31_MIN, Q31_MAX) for _ in range(80)]
    g["q31_to_q15"] = [{"in": [v], "out": q31_to_q15(v)} for v in uniq(vs) if
                       Q31_MIN <= v <= Q31_MAX]

    g["q15_from_double"] = gen_from_double()

    rng = rng_for("q15_to_double")
    vs = Q15_CORNERS + [randint(rng, Q15_MIN, Q15_MAX) for _ in range(60)]
    g["q15_to_double"] = [{"in": [v], "out": fhex(q15_to_float(v))} for v in uniq(vs)]

    # ---- integer square roots -------------------------------------------------
    rng = rng_for("isqrt_u32")
    xs = [0, 1, 2, 3, 4, 5, 8, 9, 10, 15, 16, 17, 2**16, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1]
    for k in (2, 3, 255, 256, 4095, 46340, 46341, 65534, 65535):
        xs += [k * k - 1, k * k, k * k + 1]
    for _ in range(60):
        k = randint(rng, 1, 65535)
        xs += [k * k - 1, k * k]
    xs += [randint(rng, 0, 2**32 - 1) for _ in range(60)]
    g["isqrt_u32"] = [{"in": [x], "out": isqrt(x)} for x in uniq(xs) if 0 <= x < 2**32]

    rng = rng_for("isqrt_u64")
    xs = [0, 1, 2, 3, 4, 2**32 - 1, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
    for k in (2, 3, 65535, 65536, 2**31, 3037000499, 3037000500, 2**32 - 2, 2**32 - 1):
        xs += [k * k - 1, k * k, k * k + 1]
    for _ in range(60):
        k = randint(rng, 1, 2**32 - 1)
        xs += [k * k - 1, k * k]
    xs += [randint(rng, 0, 2**64 - 1) for _ in range(60)]
    xs += [randint(rng, 0, 2**40) for _ in range(20)]
    g["isqrt_u64"] = [{"in": [x], "out": isqrt(x)} for x in uniq(xs) if 0 <= x < 2**64]

    # ---- dot products -------------------------------------------------------------
    dots = gen_dot_inputs()
    g["dot_q15_acc64"] = [{"in": [a, b], "out": dot_acc64(a, b)} for a, b in dots]
    g["dot_q15_acc32"] = [{"in": [a, b], "out": dot_acc32(a, b)} for a, b in dots]
    g["dot_q15"] = [{"in": [a, b], "out": dot_q15(a, b)} for a, b in dots]

    # ---- matvec / matmul --------------------------------------------------------
    mvs = gen_matvec_inputs()
    g["matvec_q15"] = [{"in": [r, c, w, x], "out": matvec_q15(w, r, c, x)} for r, c, w, x in mvs]
    g["matvec_q15_acc64"] = [{"in": [r, c, w, x], "out": matvec_acc64(w, r, c, x)}
                             for r, c, w, x in mvs]
    g["matmul_q15"] = [{"in": [r, c, b, w, xs_], "out": matmul_q15(w, r, c, xs_, b)}
                       for r, c, b, w, xs_ in gen_matmul_inputs()]
    return g


def gen_from_double() -> list[dict[str, Any]]:
    rng = rng_for("q15_from_double")
    inf, nan = math.inf, math.nan
    tiny = f64_from_bits(1)  # smallest subnormal
    xs: list[float] = [
        nan, -nan, math.copysign(nan, -1.0), inf, -inf, 0.0, -0.0, 1.0, -1.0, 2.0, -2.0,
        1.5, -1.5, 1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308,
        tiny, -tiny, f64_from_bits(0x000FFFFFFFFFFFFF), -f64_from_bits(0x000FFFFFFFFFFFFF),
        2.2250738585072014e-308, -2.2250738585072014e-308, 0.5, -0.5, 0.25, -0.25,
        math.nextafter(1.0, 0.0), math.nextafter(-1.0, 0.0), math.nextafter(1.0, 2.0),
        math.nextafter(-1.0, -2.0), 1.0 - 2.0**-16, -(1.0 - 2.0**-16),
        math.nextafter(1.0 - 2.0**-16, 0.0), math.nextafter(-(1.0 - 2.0**-16), 0.0),
        math.nextafter(1.0 - 2.0**-16, 1.0), math.nextafter(-(1.0 - 2.0**-16), -1.0),
        0.1, -0.1, 1.0 / 3.0, -1.0 / 3.0, 2.0**-15, -(2.0**-15), 2.0**-17, -(2.0**-17),
        math.nextafter(0.5, 0.0), math.nextafter(-0.5, 0.0),
    ]
    # Ties (k + 1/2) / 2^15 of both signs and their immediate neighbours: the
    # value just below a tie in magnitude must round toward zero, just above away.
    for k in (0, 1, 2, 3, 100, 12345, 16383, 16384, 32765, 32766, 32767):
        t = (k + 0.5) / 32768.0
        for v in (t, -t):
            xs += [v, math.nextafter(v, 0.0), math.nextafter(v, math.copysign(2.0, v))]
    # exact grid points and random exact ties
    for v in Q15_CORNERS:
        xs.append(v / 32768.0)
    for _ in range(40):
        k = randint(rng, -32768, 32767)
        xs.append((k + 0.5) / 32768.0)
    # random doubles: uniform in (-1.25, 1.25) by value, and random bit patterns
    for _ in range(120):
        xs.append(randint(rng, -(2**53), 2**53) / 2.0**53 * 1.25)
    for _ in range(60):
        xs.append(f64_from_bits(randint(rng, 0, 2**64 - 1)))
    for _ in range(40):  # small magnitudes around the first rounding step
        xs.append(randint(rng, -(2**40), 2**40) / 2.0**55)
    return [{"in": [fhex(x)], "out": q15_from_float(x)} for x in uniq(xs)]


def gen_dot_inputs() -> list[tuple[list[int], list[int]]]:
    rng = rng_for("dot")
    m, mx = Q15_MIN, Q15_MAX
    d: list[tuple[list[int], list[int]]] = [
        ([], []),
        ([0], [0]),
        ([m], [m]),  # 2^30 -> 32768 -> saturates to 32767
        ([m], [mx]),
        ([mx], [mx]),
        ([1], [16384]),  # +0.5 tie -> 1
        ([-1], [16384]),  # -0.5 tie -> 0
        ([3], [16384]),  # 1.5 -> 2
        ([-3], [16384]),  # -1.5 -> -1
        ([1, 1], [8192, 8192]),  # tie formed by the sum
        ([-1, -1], [8192, 8192]),
        ([1], [16383]),
        ([1], [16385]),
        ([-1], [16383]),
        ([-1], [16385]),
        ([m, m], [m, m]),  # acc32 saturates exactly at the second add
        ([m, 1], [m, -1]),  # 2^30 - 1
        ([m] * 3 + [mx] * 3, [m] * 3 + [m] * 3),  # acc32 saturates mid-sum, then falls
        ([mx] * 3 + [m] * 3, [m] * 3 + [m] * 3),  # negative saturation mid-sum, then rises
        ([m] * 4 + [mx] * 4, [m] * 4 + [m] * 4),
        ([mx, mx, mx, m, m, m], [m, m, m, m, m, m]),
        ([m] * 8, [m] * 8),  # acc64 = 2^33
        ([m] * 1024, [m] * 1024),  # acc64 = 2^40
        ([mx] * 1024, [m] * 1024),
        ([m, mx] * 64, [m, m] * 64),  # acc32 alternates at the top
        ([16384, -16384], [16384, 16384]),
        ([m] * 2 + [1], [m] * 2 + [-1]),
    ]
    for n in (1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 64, 100):
        for _ in range(3):
            d.append(([randint(rng, m, mx) for _ in range(n)],
                      [randint(rng, m, mx) for _ in range(n)]))
    for n in (1, 2, 5, 20):  # small magnitudes: rounding dominates
        for _ in range(6):
            d.append(([randint(rng, -200, 200) for _ in range(n)],
                      [randint(rng, -200, 200) for _ in range(n)]))
    # exact ties of the sum, both signs: adjust the last element pair
    for _ in range(30):
        n = randint(rng, 1, 12)
        a = [randint(rng, -3000, 3000) for _ in range(n)]
        b = [randint(rng, -3000, 3000) for _ in range(n)]
        rem = (dot_acc64(a, b) - 16384) % 32768  # subtract this many to make a tie
        a.append(1)
        b.append(-rem if rem <= 16384 else 32768 - rem)
        if randint(rng, 0, 1):
            a, b = [-x for x in a], b  # flips the tie's sign: k + 1/2 -> -(k + 1/2)
        d.append((a, b))
    # large products: saturating and near-saturating sums
    for _ in range(20):
        n = randint(rng, 2, 12)
        a = [randint(rng, m, m + 2000) if randint(rng, 0, 1) else randint(rng, mx - 2000, mx)
             for _ in range(n)]
        b = [randint(rng, m, m + 2000) if randint(rng, 0, 1) else randint(rng, mx - 2000, mx)
             for _ in range(n)]
        d.append((a, b))
    return d


def gen_matvec_inputs() -> list[tuple[int, int, list[int], list[int]]]:
    rng = rng_for("matvec")
    m, mx = Q15_MIN, Q15_MAX
    out: list[tuple[int, int, list[int], list[int]]] = [
        (0, 0, [], []),
        (0, 3, [], [1, 2, 3]),
        (3, 0, [], []),  # empty rows: y = 0 (FX-F8)
        (1, 1, [m], [m]),
        (2, 1, [1, -1], [16384]),  # ties +0.5 -> 1 and -0.5 -> 0
        (2, 2, [m, m, mx, mx], [m, m]),  # saturate high and low
        (3, 3, [m, 0, 0, 0, m, 0, 0, 0, m], [m, 1, -1]),
        (4, 2, [1, 1, -1, -1, 3, 0, -3, 0], [8192, 8192]),
    ]
    for rows, cols in ((1, 5), (5, 1), (2, 3), (4, 4), (3, 17), (8, 8), (16, 20), (20, 16),
                       (7, 64)):
        for _ in range(2):
            w = [randint(rng, m, mx) for _ in range(rows * cols)]
            x = [randint(rng, m, mx) for _ in range(cols)]
            out.append((rows, cols, w, x))
    for rows, cols in ((3, 4), (6, 6)):  # small values: rounding dominates
        w = [randint(rng, -300, 300) for _ in range(rows * cols)]
        x = [randint(rng, -300, 300) for _ in range(cols)]
        out.append((rows, cols, w, x))
    return out


def gen_matmul_inputs() -> list[tuple[int, int, int, list[int], list[int]]]:
    rng = rng_for("matmul")
    m, mx = Q15_MIN, Q15_MAX
    out: list[tuple[int, int, int, list[int], list[int]]] = [
        (2, 2, 0, [1, 2, 3, 4], []),
        (0, 2, 3, [], [1, 2, 3, 4, 5, 6]),
        (2, 0, 2, [], []),
        (1, 1, 2, [16384], [1, -1]),
        (2, 2, 2, [m, m, mx, mx], [m, m, mx, mx]),
    ]
    for rows, cols, batch in ((1, 3, 4), (3, 1, 4), (4, 5, 3), (8, 20, 4), (20, 8, 6), (5, 5, 1)):
        w = [randint(rng, m, mx) for _ in range(rows * cols)]
        xs = [randint(rng, m, mx) for _ in range(batch * cols)]
        out.append((rows, cols, batch, w, xs))
    w = [randint(rng, -200, 200) for _ in range(12)]
    xs = [randint(rng, -200, 200) for _ in range(20)]
    out.append((3, 4, 5, w, xs))
    return out


# ---- wire ------------------------------------------------------------------


def hx(b: bytes) -> str:
    return b.hex()


def pattern(n: int, mul: int, add: int) -> bytes:
    return bytes((i * mul + add) & 0xFF for i in range(n))


def hdr(cmd: int, seq: int = 0, flags: int = 0, level: int = PROTOCOL_LEVEL, aux: int = 0,
        length: int = 0) -> dict[str, int]:
    return {"level": level, "seq": seq, "cmd": cmd, "flags": flags, "length": length, "aux": aux}


def caps_example(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "level": PROTOCOL_LEVEL, "reserved0": 0, "features": 0x0107,
        "firmware_version": (0 << 16) | (1 << 8) | 0, "unit_id": 0xC0FFEE01, "max_batch": 256,
        "max_payload": 16384, "n_drive": 8, "n_sense": 20, "dac_bits": 12, "adc_bits": 12,
        "max_oversample": 64, "board": "qemu-mps2-an385", "medium": "acoustic",
        "max_settle_us": 1000000, "model_capacity": 65535, "model_crc": 0xCBF43926,
        "model_loaded": 1, "reserved1": 0, "reserved2": 0, "max_classes": 32,
        "infer_work": 492,
    }
    c.update(over)
    return c


def gen_wire() -> dict[str, Any]:
    g: dict[str, Any] = {}

    # ---- constants and enum values (the protocol's numbers, W-L1/W-L2) -----------------
    consts = {
        "PROTOCOL_LEVEL": PROTOCOL_LEVEL, "HEADER_SIZE": HEADER_SIZE, "CRC_SIZE": CRC_SIZE,
        "CRC_INIT": CRC_INIT, "MAX_PAYLOAD_LIMIT": MAX_PAYLOAD_LIMIT, "NAME_SIZE": NAME_SIZE,
        "ERROR_SIZE": ERROR_SIZE, "EVENT_SIZE": EVENT_SIZE, "CAPS_SIZE": CAPS_SIZE,
        "CONFIG_SIZE": CONFIG_SIZE, "QUERY_HEAD_SIZE": QUERY_HEAD_SIZE, "STATS_SIZE": STATS_SIZE,
        "MODEL_BEGIN_SIZE": MODEL_BEGIN_SIZE, "CHUNK_HEAD_SIZE": CHUNK_HEAD_SIZE,
        "INFER_HEAD_SIZE": INFER_HEAD_SIZE, "MODEL_INFO_SIZE": MODEL_INFO_SIZE,
        "DESCRIBE_REQUEST_SIZE": DESCRIBE_REQUEST_SIZE,
        "DESCRIBE_REPLY_SIZE": DESCRIBE_REPLY_SIZE,
        "LEARN_HEAD_SIZE": LEARN_HEAD_SIZE, "REFIT_REPLY_SIZE": REFIT_REPLY_SIZE,
        "REFIT_REQUEST_SIZE": REFIT_REQUEST_SIZE,
    }
    g["constants"] = [{"in": k, "out": v} for k, v in consts.items()]
    enums: list[dict[str, Any]] = []
    for ename, table in (("Cmd", CMD), ("Flag", FLAG), ("EventId", EVENT_ID), ("Status", STATUS),
                         ("Feature", FEATURE), ("InferFlag", INFER_FLAG)):
        enums += [{"in": [ename, k], "out": v} for k, v in table.items()]
    g["enums"] = enums
    ns = [0, 1, 2, 253, 254, 255, 507, 508, 509, 1000, 65535, 65545]
    g["cobs_max_encoded"] = [{"in": n, "out": cobs_max_encoded(n)} for n in ns]
    g["wire_max_frame"] = [{"in": n, "out": wire_max_frame(n)} for n in ns[:-1]]

    # ---- CRC ------------------------------------------------------------------------
    rng = rng_for("crc16")
    crc_in: list[tuple[int, bytes]] = [
        (CRC_INIT, b""), (CRC_INIT, b"123456789"), (0, b""), (0x1234, b""), (CRC_INIT, b"\x00"),
        (CRC_INIT, b"\xff"), (CRC_INIT, b"\x00" * 4), (CRC_INIT, b"\xff" * 32), (0, b"123456789"),
        (crc16(b"1234"), b"56789"),  # continuation: == crc16("123456789")
        (CRC_INIT, b"A"), (CRC_INIT, bytes(range(256))),
    ]
    for n in (1, 2, 3, 7, 8, 9, 16, 100, 255, 600):
        crc_in.append((CRC_INIT, rand_bytes(rng, n, zero_every=5)))
    for _ in range(6):
        crc_in.append((randint(rng, 0, 0xFFFF), rand_bytes(rng, randint(rng, 0, 40), 4)))
    g["crc16"] = [{"in": {"crc": c, "data": hx(d)}, "out": crc16(d, c)} for c, d in crc_in]

    # CRC-32 (model images): check value, empty input, chaining, random data
    assert crc32(b"123456789") == 0xCBF43926  # the catalogue's check value
    rng = rng_for("crc32")
    crc32_in: list[tuple[int, bytes]] = [
        (0, b""), (0, b"123456789"), (0xCBF43926, b""), (0x12345678, b""), (0, b"\x00"),
        (0, b"\xff"), (0, b"\x00" * 4), (0, b"\xff" * 4), (0, b"\xff" * 32), (0, b"a"),
        (crc32(b"1234"), b"56789"),  # chaining: == crc32("123456789")
        (crc32(b"123456789"), b"123456789"), (0, bytes(range(256))),
        (0, b"The quick brown fox jumps over the lazy dog"),
    ]
    for n in (1, 2, 3, 7, 8, 9, 16, 100, 255, 1000):
        crc32_in.append((0, rand_bytes(rng, n, zero_every=5)))
    for _ in range(6):
        crc32_in.append((randint(rng, 0, 0xFFFFFFFF), rand_bytes(rng, randint(rng, 0, 40), 4)))
    g["crc32"] = [{"in": {"crc": c, "data": hx(d)}, "out": crc32(d, c)} for c, d in crc32_in]

    # ---- COBS -----------------------------------------------------------------------
    rng = rng_for("cobs")
    nz = lambda n: bytes((i % 255) + 1 for i in range(n))  # noqa: E731 - n non-zero bytes
    cobs_data: list[bytes] = [
        b"", b"\x00", b"\x00\x00", b"\x00" * 3, b"\x11", b"\x11\x00", b"\x00\x11",
        b"\x11\x22\x00\x33", b"\x11\x22\x33\x44", b"\x11\x00\x00\x00", bytes(range(1, 256)),
        bytes(range(256)), bytes(range(2, 256)) + b"\x00", bytes(range(3, 256)) + b"\x00\x01",
        nz(1), nz(253), nz(254), nz(255), nz(507), nz(508), nz(509), nz(762),
        nz(253) + b"\x00", nz(254) + b"\x00", nz(255) + b"\x00", b"\x00" + nz(254),
        b"\x00" + nz(253), nz(254) + b"\x00" + nz(254), b"\x00" * 254, b"\x00" * 255,
        nz(127) + b"\x00" + nz(127),
    ]
    for n in (2, 5, 30, 300, 1000):
        cobs_data.append(rand_bytes(rng, n, zero_every=7))
    for n in (10, 600):
        cobs_data.append(rand_bytes(rng, n, zero_every=300))
    enc_cases: list[dict[str, Any]] = []
    for d in cobs_data:
        enc_cases.append({"in": {"data": hx(d)}, "out": {"status": "OK",
                                                          "data": hx(cobs_encode(d))}})
    # NO_SPACE: the capacity rule is cap >= PHYFF_COBS_MAX_ENCODED(n), even when the
    # actual encoding would fit (254 non-zero bytes encode to 255 < 256).
    for d in (b"", b"\x11", nz(253), nz(254), nz(508), b"\x00" * 10):
        mx = cobs_max_encoded(len(d))
        enc_cases.append({"in": {"data": hx(d), "cap": mx - 1}, "out": {"status": "NO_SPACE"}})
        enc_cases.append({"in": {"data": hx(d), "cap": mx},
                          "out": {"status": "OK", "data": hx(cobs_encode(d))}})
    enc_cases.append({"in": {"data": "", "cap": 0}, "out": {"status": "NO_SPACE"}})
    g["cobs_encode"] = enc_cases

    dec_cases: list[dict[str, Any]] = []
    for d in cobs_data:
        dec_cases.append({"in": {"data": hx(cobs_encode(d))}, "out": {"status": "OK",
                                                                       "data": hx(d)}})
    # Non-canonical but valid: a final 0x01 code after a full 0xFF block.
    for d in (nz(254), nz(508), b"\x00" + nz(254)):
        dec_cases.append({"in": {"data": hx(cobs_encode(d) + b"\x01")},
                          "out": {"status": "OK", "data": hx(d)}})
    bad: list[tuple[bytes, str]] = [
        (b"", "EMPTY"),
        (b"\x00", "BAD_COBS"),  # a zero as a code byte
        (b"\x00\x00", "BAD_COBS"),
        (b"\x01\x00", "BAD_COBS"),
        (b"\x03\x11\x00", "BAD_COBS"),  # a zero inside a block
        (b"\x05\x11\x22\x00\x33", "BAD_COBS"),
        (b"\x02\x11\x00\x01", "BAD_COBS"),  # a zero where a code belongs
        (b"\x02", "BAD_COBS"),  # the code runs past the end
        (b"\x03\x11", "BAD_COBS"),
        (b"\x01\x05\x11\x22", "BAD_COBS"),
        (b"\xff" + nz(253), "BAD_COBS"),
        (b"\xff", "BAD_COBS"),
        (cobs_encode(nz(300))[:-1], "BAD_COBS"),
        (b"\x03\x11\x22\x05\x33", "BAD_COBS"),
    ]
    for d, st in bad:
        dec_cases.append({"in": {"data": hx(d)}, "out": {"status": st}})
    # NO_SPACE: the result does not fit; exactly the result's size does.
    for d in (b"\x11\x22", b"\x00", nz(254), b"\x11\x00\x22", b"\x00" * 5):
        e = cobs_encode(d)
        dec_cases.append({"in": {"data": hx(e), "cap": len(d) - 1},
                          "out": {"status": "NO_SPACE"}})
        dec_cases.append({"in": {"data": hx(e), "cap": len(d)},
                          "out": {"status": "OK", "data": hx(d)}})
    dec_cases.append({"in": {"data": "01", "cap": 0}, "out": {"status": "OK", "data": ""}})
    g["cobs_decode"] = dec_cases

    g["frame_encode"], g["frame_decode"] = gen_frames()
    g["check_level"] = gen_check_level()
    g.update(gen_records())
    return g


def frame_case(h: dict[str, int], payload: bytes, cap: int | None = None,
               pattern_args: dict[str, int] | None = None) -> dict[str, Any]:
    inp: dict[str, Any] = {"header": h}
    if pattern_args is not None:
        inp["payload_pattern"] = pattern_args
    else:
        inp["payload"] = hx(payload)
    if cap is not None:
        inp["cap"] = cap
    out: dict[str, Any]
    try:
        if cap is not None and cap < wire_max_frame(len(payload)):
            raise RefWireError("NO_SPACE")
        wire = frame_encode(h, payload)
    except RefWireError as e:
        return {"in": inp, "out": {"status": e.status}}
    out = {"status": "OK", "crc": crc16(header_pack(dict(h, length=len(payload))) + payload)}
    if pattern_args is not None:
        out["wire_len"] = len(wire)
        out["wire_sha256"] = hashlib.sha256(wire).hexdigest()
        out["wire_head"] = hx(wire[:32])
        out["wire_tail"] = hx(wire[-32:])
    else:
        out["wire"] = hx(wire)
    return {"in": inp, "out": out}


def decode_case(body: bytes, max_payload: int = MAX_PAYLOAD_LIMIT) -> dict[str, Any]:
    inp = {"body": hx(body), "max_payload": max_payload}
    try:
        h, payload = frame_decode(body, max_payload)
    except RefWireError as e:
        return {"in": inp, "out": {"status": e.status}}
    return {"in": inp, "out": {"status": "OK", "header": h, "payload": hx(payload)}}


def gen_frames() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = rng_for("frames")
    c = CMD
    caps = record_pack(CAPS_FIELDS, caps_example())
    config = record_pack(CONFIG_FIELDS, {"settle_us": 250, "oversample": 4, "n_drive_active": 3,
                                         "n_sense_active": 5, "reserved": 0})
    qh_req = record_pack(QUERY_HEAD_FIELDS, {"n_samples": 4, "n_channels": 3})
    drive = [0, 32767, 16384, 1, 100, 200, 300, 0, 0, 32767, 32767, 32767]
    qh_rep = record_pack(QUERY_HEAD_FIELDS, {"n_samples": 4, "n_channels": 5})
    sense = [randint(rng, 0, 4095) << 3 for _ in range(20)]
    stats = record_pack(STATS_FIELDS, {n: i * 1000 + 7 for i, (n, _) in enumerate(STATS_FIELDS)})
    err = record_pack(ERROR_FIELDS, {"status": STATUS["BAD_CRC"], "arg": 0})
    err_batch = record_pack(ERROR_FIELDS, {"status": STATUS["BATCH_TOO_LARGE"], "arg": 256})
    ev = record_pack(EVENT_FIELDS, {"event": EVENT_ID["RESET"], "arg": PROTOCOL_LEVEL})
    R, E, V = FLAG["REPLY"], FLAG["ERROR"], FLAG["EVENT"]

    frames: list[tuple[dict[str, int], bytes]] = [
        (hdr(c["HELLO"]), b""),
        (hdr(c["HELLO"], seq=1, level=0), b""),  # any level: HELLO from an older host
        (hdr(c["HELLO"], seq=1, flags=R), caps),
        (hdr(c["CONFIGURE"], seq=2), b""),
        (hdr(c["CONFIGURE"], seq=3), config),
        (hdr(c["CONFIGURE"], seq=3, flags=R), config),
        (hdr(c["QUERY"], seq=4), qh_req + samples_pack(drive)),
        (hdr(c["QUERY"], seq=4, flags=R), qh_rep + samples_pack(sense) + b"\x05"),
        (hdr(c["STATS"], seq=5), b""),
        (hdr(c["STATS"], seq=5, flags=R), stats),
        (hdr(c["RESET"], seq=6), b""),
        (hdr(c["RESET"], seq=6, flags=R), b""),
        (hdr(c["NONE"], seq=0, flags=R | E), err),
        (hdr(c["QUERY"], seq=9, flags=R | E), err_batch),
        (hdr(c["EVENT"], flags=V), ev),
        (hdr(c["QUERY"], seq=7, length=999), b"\x01\x02\x03"),  # length field is ignored
        (hdr(0xFF, seq=0xFF, flags=0xFF, level=0xFF, aux=0xFFFF), b"\xff" * 3),
        (hdr(c["QUERY"], seq=10, aux=0x1234), b"\x00" * 300),
        (hdr(c["MODEL_CHUNK"], seq=11, aux=0x0100), bytes(range(256))),
    ]
    # level 3 conversations: a load, its info, an INFER with a trace, a refusal
    image = bytes(range(1, 41))
    info = record_pack(MODEL_INFO_FIELDS, {
        "crc32": crc32(image), "image_size": len(image), "train_unit_id": 0xC0FFEE01,
        "n_features": 3, "n_classes": 2, "max_batch": 100, "max_batch_trace": 60, "n_blocks": 1,
        "inference": 0, "input_exp": -2, "score_exp": 4, "trace_values": 2, "origin": 0,
        "name": "m", "train_board": "qemu-mps2-an385", "train_medium": "acoustic",
        "readout_origin": 0, "readout_samples": 0})
    feats = [100, -200, 300, -32768, 0, 32767]
    scores = [-5, 70000, 2**31 - 1, -(2**31)]
    frames += [
        (hdr(c["MODEL_BEGIN"], seq=40), record_pack(MODEL_BEGIN_FIELDS, {
            "image_size": len(image), "crc32": crc32(image)})),
        (hdr(c["MODEL_CHUNK"], seq=41), u32le(0) + image[:24]),
        (hdr(c["MODEL_CHUNK"], seq=42, flags=R), u32le(24)),
        (hdr(c["MODEL_COMMIT"], seq=43, flags=R), info),
        (hdr(c["INFER"], seq=44), record_pack(INFER_HEAD_FIELDS, {
            "n_samples": 2, "n_values": 3, "flags": INFER_FLAG["TRACE"], "reserved": 0})
         + samples_pack(feats)),
        (hdr(c["INFER"], seq=44, flags=R), record_pack(INFER_HEAD_FIELDS, {
            "n_samples": 2, "n_values": 2, "flags": INFER_FLAG["TRACE"], "reserved": 0})
         + u16le(1) + u16le(0) + b"".join(u32le(v & 0xFFFFFFFF) for v in scores)
         + samples_pack([8, 32760, 4096, 0]) + b"\x02"),
        (hdr(c["MODEL_COMMIT"], seq=45, flags=R | E),
         record_pack(ERROR_FIELDS, {"status": STATUS["BAD_MODEL"], "arg": 87})),
        (hdr(c["MODEL_ERASE"], seq=46), b""),
    ]
    # level 5 conversations (wire.h W-N1-N8): LEARN two samples, REFIT, FORGET, refusals
    frames += [
        (hdr(c["LEARN"], seq=50), record_pack(LEARN_HEAD_FIELDS, {"n_samples": 2, "n_values": 3})
         + samples_pack(feats) + u16le(1) + u16le(0)),
        (hdr(c["LEARN"], seq=50, flags=R), record_pack(LEARN_HEAD_FIELDS, {
            "n_samples": 2, "n_values": 2}) + u16le(1) + u16le(1)),
        (hdr(c["LEARN"], seq=51, flags=R | E),
         record_pack(ERROR_FIELDS, {"status": STATUS["BAD_LABEL"], "arg": 2})),
        (hdr(c["REFIT"], seq=52), u16le(20)),
        (hdr(c["REFIT"], seq=52, flags=R), record_pack(REFIT_REPLY_FIELDS, {
            "crc32": crc32(image), "samples": 2, "conditioning": 9})),
        (hdr(c["REFIT"], seq=53, flags=R | E),
         record_pack(ERROR_FIELDS, {"status": STATUS["TOO_FEW"], "arg": 0})),
        (hdr(c["FORGET"], seq=54), b""),
        (hdr(c["FORGET"], seq=54, flags=R), b""),
    ]
    # every learning refusal with its documented arg (wire.h W-N5, W-N8)
    for seq, (cmd, status, arg) in enumerate([
            ("LEARN", "LEARN_FULL", 411), ("LEARN", "NO_READOUT", 1),
            ("LEARN", "LEARN_TOO_LARGE", 4298), ("REFIT", "SINGULAR", 0),
            ("REFIT", "BAD_LAMBDA", 60), ("REFIT", "REFIT_OVERFLOW", 0),
            ("REFIT", "NO_READOUT", 0), ("LEARN", "BATCH_TOO_LARGE", 127)], start=55):
        frames.append((hdr(c[cmd], seq=seq, flags=R | E),
                       record_pack(ERROR_FIELDS, {"status": STATUS[status], "arg": arg})))
    # a payload that makes the frame's CRC 0x0000 (both CRC bytes are zero)
    h0 = hdr(c["QUERY"], seq=12)
    x = b"\x10\x20\x30\x40"
    full = header_pack(dict(h0, length=len(x) + 2)) + x
    frames.append((h0, x + crc16(full).to_bytes(2, "big")))
    # payload sizes around COBS block boundaries (decoded frame = payload + 10)
    for n in (243, 244, 245, 246, 253, 254, 255, 498, 499, 500):
        frames.append((hdr(c["QUERY"], seq=n & 0xFF, flags=R, aux=0x0101),
                       bytes((i % 255) + 1 for i in range(n))))
    for n in (1, 2, 9, 17, 40, 64, 129, 513, 1000):
        frames.append((hdr(randint(rng, 0, 255), seq=randint(rng, 0, 255),
                           flags=randint(rng, 0, 255), level=randint(rng, 0, 3),
                           aux=randint(rng, 0, 0xFFFF)), rand_bytes(rng, n, zero_every=9)))

    enc = [frame_case(h, p) for h, p in frames]
    # capacity: PHYFF_WIRE_MAX_FRAME(n) is needed, one byte less is NO_SPACE
    for h, p in (frames[0], frames[6], frames[-1]):
        enc.append(frame_case(h, p, cap=wire_max_frame(len(p))))
        enc.append(frame_case(h, p, cap=wire_max_frame(len(p)) - 1))
    enc.append(frame_case(frames[0][0], b"", cap=0))
    # the largest payload, and one byte more
    big = {"len": 65535, "mul": 7, "add": 3}
    enc.append(frame_case(hdr(c["QUERY"], seq=0x42, flags=R), pattern(65535, 7, 3),
                          pattern_args=big))
    enc.append(frame_case(hdr(c["QUERY"], seq=0x43), pattern(65535, 1, 0),
                          pattern_args={"len": 65535, "mul": 1, "add": 0}))
    enc.append(frame_case(hdr(c["QUERY"], seq=0x44), pattern(65536, 7, 3),
                          pattern_args={"len": 65536, "mul": 7, "add": 3},
                          cap=wire_max_frame(65536)))

    # ---- decoding --------------------------------------------------------------------
    dec: list[dict[str, Any]] = []
    for h, p in frames:
        dec.append(decode_case(frame_encode(h, p)[:-1]))
    # max_payload: the limit itself passes, one byte over is TOO_LONG
    h10, p10 = hdr(c["QUERY"], seq=20), bytes(range(1, 11))
    body10 = frame_encode(h10, p10)[:-1]
    dec += [decode_case(body10, 10), decode_case(body10, 9), decode_case(body10, 0),
            decode_case(frame_encode(hdr(c["HELLO"]), b"")[:-1], 0)]
    # non-canonical COBS that still decodes to a valid frame (final 0x01 after 0xFF)
    hn = hdr(c["QUERY"], seq=21, flags=R)  # aux = 0: the last 254 bytes follow a zero
    for t in range(1, 256):
        pn = bytes(((i * 13 + t) % 255) + 1 for i in range(252))
        raw = frame_raw(hn, pn)
        if 0 not in raw[-254:]:
            break
    else:  # pragma: no cover - the search always succeeds
        raise AssertionError("no zero-free CRC found")
    canon = cobs_encode(raw)
    assert canon[-255] == 0xFF
    dec.append(decode_case(canon + b"\x01"))

    # ---- decode errors, each check in wire.h's order --------------------------------
    good = frame_encode(hdr(c["QUERY"], seq=30, aux=7), b"\x11\x22\x33\x44\x55")[:-1]
    raw_good = cobs_decode(good)
    errs: list[bytes] = [
        b"",  # EMPTY
        b"\x00",  # BAD_COBS
        good[:3] + b"\x00" + good[3:],  # BAD_COBS: zero inside
        good[:-1],  # BAD_COBS: the last code runs past the end
        good + b"\x05",  # BAD_COBS
        b"\x01",  # decodes to 0 bytes: TRUNCATED
        cobs_encode(b"\x01" * 9),  # 9 bytes: TRUNCATED
        cobs_encode(raw_good[:9]),
        cobs_encode(header_pack(hdr(c["HELLO"]))),  # header without CRC: TRUNCATED
        cobs_encode(b"\x00" * 10),  # BAD_CRC (crc16 of 8 zeros is not 0)
        cobs_encode(bytes(10)[:8] + u16le(crc16(bytes(8)) ^ 1)),
        cobs_encode(raw_good[:-1] + bytes((raw_good[-1] ^ 0x80,))),  # BAD_CRC: CRC byte
        cobs_encode(bytes((raw_good[0] ^ 1,)) + raw_good[1:]),  # BAD_CRC: header bit
        cobs_encode(raw_good[:10] + bytes((raw_good[10] ^ 4,)) + raw_good[11:]),  # payload bit
        cobs_encode(raw_good[:-3] + raw_good[-2:]),  # a payload byte lost: BAD_CRC
        # length field disagrees with the bytes, CRC correct: TRUNCATED / TOO_LONG
        cobs_encode(frame_raw(hdr(c["QUERY"], seq=31), b"\x01\x02\x03", length=5)),
        cobs_encode(frame_raw(hdr(c["QUERY"], seq=31), b"\x01\x02\x03", length=4)),
        cobs_encode(frame_raw(hdr(c["QUERY"], seq=31), b"", length=1)),
        cobs_encode(frame_raw(hdr(c["QUERY"], seq=31), b"", length=65535)),
        cobs_encode(frame_raw(hdr(c["QUERY"], seq=32), b"\x01\x02\x03", length=2)),
        cobs_encode(frame_raw(hdr(c["QUERY"], seq=32), b"\x01\x02\x03", length=0)),
        # precedence: wrong length AND bad CRC -> BAD_CRC (CRC is checked first)
        cobs_encode(frame_raw(hdr(c["QUERY"], seq=33), b"\x01\x02", length=9)[:-1] + b"\x00"),
    ]
    for body in errs:
        dec.append(decode_case(body))
    # too long for the limit, though consistent
    dec.append(decode_case(frame_encode(hdr(c["QUERY"], seq=34), bytes(100))[:-1], 99))
    dec.append(decode_case(frame_encode(hdr(c["QUERY"], seq=34), bytes(100))[:-1], 100))
    # length disagreement is reported before the max_payload check
    dec.append(decode_case(cobs_encode(frame_raw(hdr(c["QUERY"]), b"\x01" * 4, length=9)), 2))
    # random single-byte corruptions of valid frames (re-encoded so COBS stays valid)
    for _ in range(12):
        h, p = frames[randint(rng, 0, len(frames) - 1)]
        raw = bytearray(frame_raw(h, p))
        pos = randint(rng, 0, len(raw) - 1)
        raw[pos] ^= 1 << randint(rng, 0, 7)
        dec.append(decode_case(cobs_encode(bytes(raw))))
    return enc, dec


def gen_check_level() -> list[dict[str, Any]]:
    cases = []
    for level in (0, 1, 2, 3, 4, 255):
        for name in CMD:
            cases.append({"in": {"level": level, "cmd": CMD[name]},
                          "out": check_level(level, CMD[name])})
    cases.append({"in": {"level": 4, "cmd": 0x16}, "out": check_level(4, 0x16)})
    cases.append({"in": {"level": 1, "cmd": 0xEE}, "out": check_level(1, 0xEE)})
    return cases


def packs(fields: list[tuple[str, str]], recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"in": r, "out": hx(record_pack(fields, r))} for r in recs]

def maxed(fields: list[tuple[str, str]]) -> dict[str, Any]:
    top = {"u8": 0xFF, "i8": 127, "u16": 0xFFFF, "u32": 0xFFFFFFFF}
    return {n: ("x" * NAME_SIZE if k == "name" else top[k]) for n, k in fields}


def minned(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """Signed fields at their most negative, the rest 0 (sign extension)."""
    return {n: ("" if k == "name" else -128 if k == "i8" else 0) for n, k in fields}

def zeroed(fields: list[tuple[str, str]]) -> dict[str, Any]:
    return {n: ("" if k == "name" else 0) for n, k in fields}

def distinct(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """Every byte different, to catch swapped bytes or fields."""
    out: dict[str, Any] = {}
    nxt = 1
    for n, k in fields:
        width = {"u8": 1, "i8": 1, "u16": 2, "u32": 4, "name": 0}[k]
        if k == "name":
            out[n] = "".join(chr(0x41 + (nxt + i) % 26) for i in range(5))
            nxt += 5
            continue
        v = sum(((nxt + i) & 0xFF) << (8 * i) for i in range(width))
        out[n] = v - 256 if k == "i8" and v > 127 else v
        nxt += width
    return out

def rand_record(rng: random.Random, fields: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, k in fields:
        if k == "name":
            out[n] = "".join(chr(randint(rng, 0x20, 0x7E)) for _ in range(randint(rng, 0, 16)))
        elif k == "i8":
            out[n] = randint(rng, -128, 127)
        else:
            out[n] = randint(rng, 0, {"u8": 0xFF, "u16": 0xFFFF, "u32": 0xFFFFFFFF}[k])
    return out


def record_cases(rng: random.Random, fields: list[tuple[str, str]],
                 extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """zeroed, maxed, distinct-bytes, two random records (+ extra), packed."""
    recs = [zeroed(fields), maxed(fields), distinct(fields), rand_record(rng, fields),
            rand_record(rng, fields)]
    if any(k == "i8" for _, k in fields):
        recs.append(minned(fields))
    return packs(fields, recs + (extra or []))


def gen_records() -> dict[str, Any]:
    rng = rng_for("records")
    g: dict[str, Any] = {}

    all_fields = {
        "header_pack": HEADER_FIELDS, "error_pack": ERROR_FIELDS, "event_pack": EVENT_FIELDS,
        "query_head_pack": QUERY_HEAD_FIELDS, "config_pack": CONFIG_FIELDS,
        "stats_pack": STATS_FIELDS,
    }
    for gname, fields in all_fields.items():
        g[gname] = record_cases(rng, fields)
    g["header_pack"] += packs(HEADER_FIELDS, [hdr(CMD["QUERY"], seq=9, length=2564, aux=1)])
    g["error_pack"] += packs(ERROR_FIELDS, [{"status": STATUS["BAD_LEVEL"], "arg": 1},
                                            {"status": STATUS["BAD_CONFIG"], "arg": 6}])
    g["event_pack"] += packs(EVENT_FIELDS, [{"event": EVENT_ID["RESET"], "arg": 1}])
    g["query_head_pack"] += packs(QUERY_HEAD_FIELDS, [{"n_samples": 64, "n_channels": 20}])
    g["config_pack"] += packs(CONFIG_FIELDS, [{"settle_us": 1000000, "oversample": 16,
                                               "n_drive_active": 8, "n_sense_active": 20,
                                               "reserved": 0}])
    g["caps_pack"] = packs(CAPS_FIELDS, [
        caps_example(),
        caps_example(board="pico", medium="unknown", features=0, dac_bits=10, adc_bits=12),
        caps_example(board="0123456789abcdef", medium="ABCDEFGHIJKLMNOP"),  # no NUL at all
        caps_example(board="", medium=""),
        zeroed(CAPS_FIELDS),
        dict(maxed(CAPS_FIELDS), board="z" * 15, medium="y"),
        dict(distinct(CAPS_FIELDS), board="b", medium="mediummedium"),
        caps_example(features=0x0137, model_capacity=0, model_crc=0, model_loaded=0),
        caps_example(features=0x0007, model_capacity=0, model_crc=0, model_loaded=0,
                     max_classes=0, infer_work=0),  # no FEAT_INFER: no limits
    ])
    # level 3 records (on-device inference)
    g["model_begin_pack"] = record_cases(rng, MODEL_BEGIN_FIELDS, [
        {"image_size": 1234, "crc32": crc32(b"123456789")}])
    g["chunk_head_pack"] = record_cases(rng, CHUNK_HEAD_FIELDS, [{"offset": 65536}])
    g["infer_head_pack"] = record_cases(rng, INFER_HEAD_FIELDS, [
        {"n_samples": 16, "n_values": 64, "flags": INFER_FLAG["TRACE"], "reserved": 0}])
    info = {"crc32": 0xDEADBEEF, "image_size": 4242, "train_unit_id": 0xC0FFEE01,
            "n_features": 64, "n_classes": 10, "max_batch": 12, "max_batch_trace": 3,
            "n_blocks": 2, "inference": 1, "input_exp": -3, "score_exp": 16,
            "trace_values": 400, "origin": 1, "name": "digits-run-7",
            "train_board": "qemu-mps2-an385", "train_medium": "optical",
            "readout_origin": 0, "readout_samples": 0}
    g["model_info_pack"] = record_cases(rng, MODEL_INFO_FIELDS, [
        info, dict(info, input_exp=-128, score_exp=127, name="0123456789abcdef"),
        dict(info, readout_origin=1, readout_samples=511)])
    # level 5 records (MODEL_DESCRIBE)
    g["describe_request_pack"] = record_cases(rng_for("describe_records"),
                                              DESCRIBE_REQUEST_FIELDS, [
        {"offset": 0, "max_bytes": 65535, "reserved": 0},
        {"offset": 70000, "max_bytes": 1016, "reserved": 1}])
    g["describe_reply_pack"] = record_cases(rng_for("describe_records"),
                                            DESCRIBE_REPLY_FIELDS, [
        {"section_size": 0, "offset": 0}, {"section_size": 1234, "offset": 1016}])
    # level 5 records (on-device learning, wire.h W-N1-N8)
    g["learn_head_pack"] = record_cases(rng_for("learn_records"), LEARN_HEAD_FIELDS, [
        {"n_samples": 12, "n_values": 40}, {"n_samples": 511, "n_values": 7}])
    g["refit_reply_pack"] = record_cases(rng_for("refit_records"), REFIT_REPLY_FIELDS, [
        {"crc32": crc32(b"123456789"), "samples": 70, "conditioning": 21}])
    samples = [[], [0], [1], [-1], [-32768], [32767], [0x1234, -0x1234],
               [-32768, 32767, 0, -1, 1, 256, -256, 255]]
    samples.append([randint(rng, Q15_MIN, Q15_MAX) for _ in range(40)])
    g["samples_pack"] = [{"in": s, "out": hx(samples_pack(s))} for s in samples]
    g["u16_le"] = [{"in": v, "out": hx(u16le(v))} for v in (0, 1, 0xFF, 0x100, 0x1234, 0xFFFF)]
    g["u32_le"] = [{"in": v, "out": hx(u32le(v))}
                   for v in (0, 1, 0xFF, 0x100, 0x12345678, 0x80000000, 0xFFFFFFFF)]
    g["status_name_unknown"] = [{"in": v, "out": "unknown status"}
                                for v in (-1, 8, 9, 15, 39, 40, 100, 255, 256, 65536,
                                          -2147483648)]
    g["status_name"] = [{"in": STATUS[k], "out": v} for k, v in STATUS_NAME.items()]
    return g


# ---- model ------------------------------------------------------------------


LIMITS = {"unit_id": 0xC0FFEE01, "medium": "acoustic", "n_drive": 16, "n_sense": 12,
          "max_oversample": 64, "max_settle_us": 1000000, "max_classes": 32,
          "work_values": 512}


def make_model(rng: random.Random, *, inference: str, n_features: int, n_classes: int,
               blocks: list[dict[str, Any]], width: int | None = None,
               feature_offset: int | None = None, input_exp: int = 0, score_exp: int = 0,
               readout_abs: int = 1, wr: int = 3000, readout: dict[str, Any] | None = None,
               name: str = "vec", gain_q8: int | None = None) -> dict[str, Any]:
    """A model dict for image_pack: random int16 arrays in [-wr, wr], heads from
    the given block settings (each: encoder, flags, d_out, n_sense, out_exp, shifts;
    rows and n_drive for a block of device rows, M-R1, with a random slot map);
    gain_q8 set: the class-code overlay (M-L1) with random codes."""
    coded = gain_q8 is not None
    fo = (0 if coded else n_classes) if feature_offset is None else feature_offset
    width = fo + n_features if width is None else width
    head = {"magic": MODEL_MAGIC, "version": MODEL_VERSION, "n_blocks": len(blocks),
            "inference": INFERENCE[inference], "n_features": n_features,
            "n_classes": n_classes, "width": width, "feature_offset": fo,
            "train_unit_id": LIMITS["unit_id"], "input_exp": input_exp, "score_exp": score_exp,
            "overlay": OVERLAY["CODE"] if coded else OVERLAY["SLOTS"],
            "readout_abs": readout_abs, "name": name, "train_board": "vec-board",
            "train_medium": LIMITS["medium"]}
    out: dict[str, Any] = {"head": head, "blocks": []}
    d_in, in_exp = width, input_exp
    for spec in blocks:
        enc = ENCODER[spec.get("encoder", "AMPLITUDE")]
        flags = spec.get("flags", BLOCK_FLAG["PHYSICAL"] | BLOCK_FLAG["SKIP"])
        phys = bool(flags & BLOCK_FLAG["PHYSICAL"])
        rows = spec.get("rows", 0)
        bh = {"encoder": enc, "flags": flags, "d_in": d_in,
              "n_drive": spec["n_drive"] if rows else drive_width(enc, d_in),
              "n_sense": spec.get("n_sense", 4) if phys else 0, "d_out": spec["d_out"],
              "in_exp": in_exp, "out_exp": spec.get("out_exp", 0),
              "shift_p": spec.get("shift_p", 0), "shift_h": spec.get("shift_h", 0),
              "shift_b": spec.get("shift_b", 0), "shift_out": spec.get("shift_out", 15),
              "settle_us": spec.get("settle_us", 100 if phys else 0),
              "oversample": spec.get("oversample", 2 if phys else 0),
              "readout_shift": spec.get("readout_shift", 0), "rows": rows}
        z = z_width(bh)
        bwr = spec.get("wr", wr)
        blk = {"head": bh,
               "W": spec.get("W") or [[randint(rng, -bwr, bwr) for _ in range(z)]
                                      for _ in range(bh["d_out"])],
               "b": spec.get("b") or [randint(rng, -bwr, bwr) for _ in range(bh["d_out"])],
               "xi": spec.get("xi") or [randint(rng, -32768, 32767) for _ in range(bh["d_out"])]}
        if rows:
            w = drive_width(enc, d_in)
            blk["slots"] = spec.get("slots") or [[randint(rng, 0, w - 1)
                                                  for _ in range(bh["n_drive"])]
                                                 for _ in range(rows)]
        out["blocks"].append(blk)
        d_in, in_exp = bh["d_out"], bh["out_exp"]
    if inference == "ONEPASS":
        n_in = sum(b["head"]["d_out"] for b in out["blocks"])
        ro = dict({"shift_b": 0, "shift_out": 15}, **(readout or {}))
        rwr = ro.pop("wr", wr)
        out["readout"] = {
            "head": {"n_in": n_in, "n_classes": n_classes, "shift_b": ro["shift_b"],
                     "shift_out": ro["shift_out"], "refit_samples": 0},
            "R": [[randint(rng, -rwr, rwr) for _ in range(n_in)] for _ in range(n_classes)],
            "rb": [randint(rng, -rwr, rwr) for _ in range(n_classes)]}
    if coded:
        out["code"] = {"head": {"gain_q8": gain_q8, "reserved": 0},
                       "codes": [[1 if randint(rng, 0, 1) else -1 for _ in range(n_features)]
                                 for _ in range(n_classes)]}
    return out


def patch(image: bytes, off: int, kind: str, value: int) -> bytes:
    """The image with one field (at byte off) set to value."""
    raw = {"u8": lambda v: bytes((v & 0xFF,)), "u16": u16le, "u32": u32le}[kind](value)
    return image[:off] + raw + image[off + len(raw):]


def check_case(image: bytes, lim: dict[str, Any], why: str) -> dict[str, Any]:
    inp = {"image": hx(image), "limits": lim, "why": why}
    try:
        v = model_check(image, lim)
    except ModelRefused as e:
        return {"in": inp, "out": {"status": e.status, "bad_offset": e.offset}}
    return {"in": inp, "out": {"status": "OK", "bad_offset": 0,
                               "trace_values": v["trace_values"],
                               "readout_width": v["readout_width"],
                               "work_values": v["work_values"], "block_at": v["block_at"],
                               "readout_at": v["readout_at"],
                               "describe_at": v["describe_at"],
                               "describe_size": v["describe_size"],
                               "host_accepts": describe_host_accepts(image, v["describe_at"])}}


def sample_models(rng: random.Random) -> dict[str, dict[str, Any]]:
    """Small valid models covering both inference kinds, every encoder and flag mix."""
    P, S = BLOCK_FLAG["PHYSICAL"], BLOCK_FLAG["SKIP"]
    return {
        "onepass_amp_bin2": make_model(rng, inference="ONEPASS", n_features=6, n_classes=3,
            input_exp=1, blocks=[
                {"encoder": "AMPLITUDE", "flags": P | S, "n_sense": 5, "d_out": 6, "out_exp": 2,
                 "shift_p": 1, "shift_h": 2, "shift_b": 3, "shift_out": 16, "readout_shift": 1},
                {"encoder": "BINARY2", "flags": P | S, "n_sense": 4, "d_out": 3, "out_exp": -1,
                 "shift_h": 0, "shift_b": 15, "shift_out": 14, "readout_shift": 2}],
            readout={"shift_b": 10, "shift_out": 8}),
        "goodness_phase_clip": make_model(rng, inference="GOODNESS", n_features=5, n_classes=3,
            feature_offset=4, width=10, input_exp=-2, score_exp=16, blocks=[
                {"encoder": "PHASE", "flags": P, "n_sense": 6, "d_out": 5, "out_exp": 3,
                 "shift_out": 15},
                {"encoder": "CLIP", "flags": S, "d_out": 4, "out_exp": 0, "shift_h": 3,
                 "shift_b": 20, "shift_out": 18}]),
        "onepass_digital_b2u": make_model(rng, inference="ONEPASS", n_features=4, n_classes=2,
            readout_abs=0, blocks=[
                {"encoder": "BINARY2_UNIFORM", "flags": S, "d_out": 5, "out_exp": 0,
                 "shift_h": 4, "shift_b": 12, "shift_out": 17}],
            readout={"shift_b": 0, "shift_out": 0}),
        "goodness_three": make_model(rng, inference="GOODNESS", n_features=3, n_classes=4,
            input_exp=3, score_exp=16, blocks=[
                {"encoder": "CLIP", "flags": P | S, "n_sense": 3, "d_out": 4, "out_exp": -4,
                 "shift_p": 2, "shift_b": 40, "shift_out": 44},
                {"encoder": "AMPLITUDE", "flags": P, "n_sense": 2, "d_out": 3, "out_exp": 0},
                {"encoder": "BINARY2", "flags": S, "d_out": 2, "out_exp": 5, "shift_out": 0,
                 "wr": 3}]),
        "onepass_saturating": make_model(rng, inference="ONEPASS", n_features=3, n_classes=5,
            wr=32767, blocks=[
                {"encoder": "PHASE", "flags": P | S, "n_sense": 4, "d_out": 4, "shift_p": 16,
                 "shift_h": 16, "shift_b": 16, "shift_out": 2, "readout_shift": 16}],
            readout={"shift_b": 40, "shift_out": 0}),
        # y_i = round(+-h_i / 2) (+ a bias of 0 or 1/2): odd inputs are exact halves,
        # which round toward +infinity (FX-F3): 1.5 -> 2, -1.5 -> -1, -0.5 -> 0
        "onepass_affine_ties": make_model(rng, inference="ONEPASS", n_features=2, n_classes=2,
            blocks=[{"encoder": "CLIP", "flags": S, "d_out": 4, "shift_out": 1,
                     "W": [[0, 0, 1, 0], [0, 0, -1, 0], [0, 0, 0, 1], [0, 0, 1, 1]],
                     "b": [0, 0, 1, 0]}],
            readout={"shift_out": 1}),
    }


def row_models(rng: random.Random) -> dict[str, dict[str, Any]]:
    """Level-4 models (M-R1, M-L1): blocks of device rows, the class-code overlay."""
    P, S = BLOCK_FLAG["PHYSICAL"], BLOCK_FLAG["SKIP"]
    return {
        "onepass_rows_code": make_model(rng, inference="ONEPASS", n_features=7, n_classes=3,
            input_exp=1, gain_q8=256, blocks=[
                {"encoder": "AMPLITUDE", "flags": P | S, "rows": 3, "n_drive": 3, "n_sense": 2,
                 "d_out": 7, "out_exp": 2, "shift_p": 1, "shift_h": 2, "shift_b": 3,
                 "shift_out": 16, "readout_shift": 1},
                {"encoder": "BINARY2", "flags": P | S, "rows": 5, "n_drive": 3, "n_sense": 2,
                 "d_out": 4, "out_exp": -1, "shift_b": 15, "shift_out": 14,
                 "readout_shift": 2}],
            readout={"shift_b": 10, "shift_out": 8}),
        "goodness_rows_slots": make_model(rng, inference="GOODNESS", n_features=5, n_classes=3,
            input_exp=-2, score_exp=16, blocks=[
                {"encoder": "PHASE", "flags": P | S, "rows": 2, "n_drive": 4, "n_sense": 3,
                 "d_out": 5, "out_exp": 3, "shift_out": 15,
                 "slots": [[0, 1, 2, 3], [4, 5, 6, 7]]},
                {"encoder": "CLIP", "flags": P, "rows": 1, "n_drive": 2, "n_sense": 3,
                 "d_out": 4, "out_exp": 0, "shift_b": 20, "shift_out": 18}]),
        "goodness_code_saturating": make_model(rng, inference="GOODNESS", n_features=3,
            n_classes=4, gain_q8=1024, score_exp=16, blocks=[
                {"encoder": "AMPLITUDE", "flags": P | S, "rows": 2, "n_drive": 2, "n_sense": 2,
                 "d_out": 3, "shift_out": 15}]),
    }


def describe_cases(images: dict[str, bytes]) -> list[tuple[bytes, dict[str, Any], str]]:
    """M-D1-D3 (level 5): images ending with a description section, whole and broken."""
    base = images["onepass_amp_bin2"]  # 6 features, 3 classes
    named = {"scale": [1.0, 0.5, 255.0, 1e-3, 3.25, 1e6], "clip": False,
             "limit": [1.0, 0.75, 1.0, 0.0, 2.5, 1.5],
             "feature_names": ["f1", "", "t\u00e9mp", "x,y", "long feature name", "z"],
             "class_names": ["a", "\u00e9t\u00e9", "c"]}
    with_names = base + describe_pack(named)
    at = len(base)
    do = field_offsets(DESCRIBE_HEAD_FIELDS)
    names_at = at + DESCRIBE_HEAD_SIZE + 8 * 6
    unnamed = describe_pack({"scale": [2.0] * 6, "clip": True, "limit": [1.0] * 6,
                             "feature_names": None, "class_names": ["x", "y", "z"]})
    coded = images["goodness_code_saturating"]  # 3 features, 4 classes
    coded_d = coded + describe_pack({"scale": [1.0, 2.0, 4.0], "clip": True,
                                     "limit": [0.5, 0.5, 0.5], "feature_names": None,
                                     "class_names": ["0", "1", "2", "3"]})
    P = lambda off, kind, v: patch(with_names, off, kind, v)  # noqa: E731
    last_nul = len(with_names) - 1
    return [
        (with_names, LIMITS, "M-D1 valid: a description with feature names"),
        (base + unnamed, dict(LIMITS, unit_id=7), "M-D3 before M-V6: a valid section, "
         "then the wrong unit"),
        (base + unnamed, LIMITS, "M-D1 valid: clipped, no feature names"),
        (coded_d, LIMITS, "M-D1 valid: after the code section"),
        (base + unnamed[:3], LIMITS, "M-D1 three bytes of the magic: a size fault"),
        (base + b"\x51" + unnamed[1:], LIMITS, "M-D1 another magic: a size fault"),
        (base + unnamed[:15], LIMITS, "M-D3 a head cut short"),
        (P(at + do["length"], "u32", len(with_names) - at + 1), LIMITS, "M-D3 length one more"),
        (P(at + do["length"], "u32", 16), LIMITS, "M-D3 length of the head alone"),
        (P(at + do["n_features"], "u16", 5), LIMITS, "M-D3 n_features"),
        (P(at + do["n_classes"], "u16", 4), LIMITS, "M-D3 n_classes"),
        (P(at + do["flags"], "u8", 4), LIMITS, "M-D3 an unknown flag"),
        (P(at + do["reserved"], "u8", 1), LIMITS, "M-D3 reserved"),
        (P(at + do["range_q8"], "u16", 0), LIMITS, "M-D3 range_q8 is not the board's to check"),
        (P(at + DESCRIBE_HEAD_SIZE, "u32", 0xFFFFFFFF), LIMITS,
         "M-D3 a NaN scale is not the board's to check"),
        (P(at + do["flags"], "u8", 1), LIMITS,
         "M-D3 the feature-name flag cleared: bytes after the class names"),
        (patch(base + unnamed, at + do["flags"], "u8", 3), LIMITS,
         "M-D3 the feature-name flag set without names: the last name unended"),
        (with_names[:last_nul] + b"!", LIMITS, "M-D3 the last name without its 0x00"),
        (patch(with_names, at + do["length"], "u32", len(with_names) - at + 1) + b"\x00",
         LIMITS, "M-D3 one byte after the last name"),
        (patch(base + unnamed[:DESCRIBE_HEAD_SIZE + 8], at + do["length"], "u32",
               DESCRIBE_HEAD_SIZE + 8), LIMITS, "M-D3 the float arrays cut short"),
        (patch(with_names[:names_at + 2], at + do["length"], "u32", names_at + 2 - at), LIMITS,
         "M-D3 the section ends inside the first name"),
        (patch(P(at + do["n_features"], "u16", 5), at + do["flags"], "u8", 9), LIMITS,
         "M-D3 two fields: the first in section order"),
    ]


def q15_vec(rng: random.Random, n: int, lo: int = Q15_MIN, hi: int = Q15_MAX) -> list[int]:
    out = []
    for _ in range(n):
        r = randint(rng, 0, 9)
        out.append(lo if r == 0 else hi if r == 1 else randint(rng, lo, hi))
    return out


def gen_model() -> dict[str, Any]:
    g: dict[str, Any] = {}
    consts = {"MODEL_MAGIC": MODEL_MAGIC, "MODEL_VERSION": MODEL_VERSION,
              "MODEL_MAX_BLOCKS": MODEL_MAX_BLOCKS, "MODEL_HEAD_SIZE": MODEL_HEAD_SIZE,
              "BLOCK_HEAD_SIZE": BLOCK_HEAD_SIZE, "READOUT_HEAD_SIZE": READOUT_HEAD_SIZE,
              "DESCRIBE_MAGIC": DESCRIBE_MAGIC, "DESCRIBE_HEAD_SIZE": DESCRIBE_HEAD_SIZE,
              "DESCRIBE_RANGE_Q8": DESCRIBE_RANGE_Q8,
              "MODEL_MAX_REFIT_SAMPLES": MODEL_MAX_REFIT_SAMPLES}
    g["constants"] = [{"in": k, "out": v} for k, v in consts.items()]
    enums: list[dict[str, Any]] = []
    for ename, table in (("Inference", INFERENCE), ("Encoder", ENCODER),
                         ("BlockFlag", BLOCK_FLAG), ("DescribeFlag", DESCRIBE_FLAG)):
        enums += [{"in": [ename, k], "out": v} for k, v in table.items()]
    g["enums"] = enums

    rng = rng_for("model_records")
    g["model_head_pack"] = record_cases(rng, MODEL_HEAD_FIELDS, [
        {"magic": MODEL_MAGIC, "version": 1, "n_blocks": 2, "inference": 1, "n_features": 64,
         "n_classes": 10, "width": 80, "feature_offset": 16, "train_unit_id": 1,
         "input_exp": -7, "score_exp": 16, "overlay": 0, "readout_abs": 1, "name": "digits",
         "train_board": "emu", "train_medium": "optical"}])
    g["block_head_pack"] = record_cases(rng, BLOCK_HEAD_FIELDS, [
        {"encoder": 1, "flags": 3, "d_in": 80, "n_drive": 160, "n_sense": 40, "d_out": 40,
         "in_exp": -7, "out_exp": -2, "shift_p": 3, "shift_h": 16, "shift_b": 40,
         "shift_out": 62, "settle_us": 250, "oversample": 4, "readout_shift": 2, "rows": 0},
        {"encoder": 0, "flags": 1, "d_in": 19, "n_drive": 4, "n_sense": 6, "d_out": 19,
         "in_exp": 0, "out_exp": 1, "shift_p": 0, "shift_h": 1, "shift_b": 2,
         "shift_out": 15, "settle_us": 50000, "oversample": 1, "readout_shift": 0, "rows": 5}])
    g["readout_head_pack"] = record_cases(rng, READOUT_HEAD_FIELDS, [
        {"n_in": 80, "n_classes": 10, "shift_b": 40, "shift_out": 62, "refit_samples": 0},
        {"n_in": 40, "n_classes": 7, "shift_b": 3, "shift_out": 9, "refit_samples": 511}])
    g["code_head_pack"] = record_cases(rng_for("model_code_records"), CODE_HEAD_FIELDS, [
        {"gain_q8": 256, "reserved": 0}, {"gain_q8": 1024, "reserved": 0}])
    g["describe_head_pack"] = record_cases(rng_for("model_describe_records"),
                                           DESCRIBE_HEAD_FIELDS, [
        {"magic": DESCRIBE_MAGIC, "length": 61, "n_features": 2, "n_classes": 3, "flags": 3,
         "reserved": 0, "range_q8": DESCRIBE_RANGE_Q8}])

    rng = rng_for("model_images")
    models = sample_models(rng)
    models.update(row_models(rng_for("model_rows")))
    images = {k: image_pack(m) for k, m in models.items()}
    views = {k: model_check(img, LIMITS) for k, img in images.items()}

    # ---- M-V1-V6 -------------------------------------------------------------------
    chk: list[dict[str, Any]] = [check_case(img, LIMITS, f"valid {k}")
                                 for k, img in images.items()]
    base = images["onepass_amp_bin2"]
    gb = images["goodness_phase_clip"]
    b0, b1 = MODEL_HEAD_SIZE, views["onepass_amp_bin2"]["block_at"][1] - BLOCK_HEAD_SIZE
    ro_at = views["onepass_amp_bin2"]["readout_at"] - READOUT_HEAD_SIZE
    ho, bo = field_offsets(MODEL_HEAD_FIELDS), field_offsets(BLOCK_HEAD_FIELDS)
    roo = field_offsets(READOUT_HEAD_FIELDS)
    H = lambda f, kind, v, img=base: patch(img, ho[f], kind, v)  # noqa: E731
    B = lambda at, f, kind, v, img=base: patch(img, at + bo[f], kind, v)  # noqa: E731
    broken: list[tuple[bytes, dict[str, Any], str]] = [
        (b"", LIMITS, "M-V1 empty"),
        (base[:71], LIMITS, "M-V1 shorter than the head"),
        (H("magic", "u32", 0x4D594851), LIMITS, "M-V1 magic"),
        (H("version", "u16", 2), LIMITS, "M-V1 version"),
        (H("version", "u16", 0), LIMITS, "M-V1 version 0"),
        (H("n_blocks", "u8", 0), LIMITS, "M-V2 no block"),
        (H("n_blocks", "u8", 9), LIMITS, "M-V2 too many blocks"),
        (H("inference", "u8", 2), LIMITS, "M-V2 inference"),
        (H("n_features", "u16", 0), LIMITS, "M-V2 no feature"),
        (H("n_classes", "u16", 1), LIMITS, "M-V2 one class"),
        (H("n_classes", "u16", 33), LIMITS, "M-V2 more classes than max_classes"),
        (H("width", "u16", 8), LIMITS, "M-V2 width < n_classes + n_features"),
        (base, dict(LIMITS, work_values=8), "M-V2 width > work_values"),
        (H("feature_offset", "u16", 2), LIMITS, "M-V2 feature_offset < n_classes"),
        (H("feature_offset", "u16", 4), LIMITS, "M-V2 features past the width"),
        (H("input_exp", "u8", 33), LIMITS, "M-V2 input_exp 33"),
        (H("input_exp", "u8", (-33) & 0xFF), LIMITS, "M-V2 input_exp -33"),
        (H("score_exp", "u8", 33), LIMITS, "M-V2 score_exp"),
        (H("overlay", "u8", 1), LIMITS, "M-V2 overlay"),
        (H("readout_abs", "u8", 2), LIMITS, "M-V2 readout_abs"),
        (B(b0, "encoder", "u8", 5), LIMITS, "M-V3 encoder"),
        (B(b0, "flags", "u8", 0), LIMITS, "M-V3 z empty"),
        (B(b0, "flags", "u8", 7), LIMITS, "M-V3 unknown flag"),
        (B(b1, "d_in", "u16", 5), LIMITS, "M-V3 d_in != previous d_out"),
        (base, dict(LIMITS, work_values=22), "M-V3 scratch > work_values"),
        (B(b0, "rows", "u8", 65), dict(LIMITS, work_values=22),
         "M-V3 scratch and rows: the scratch (at d_in) comes first"),
        (B(b0, "n_drive", "u16", 10), LIMITS, "M-V3 n_drive != d_in"),
        (base, dict(LIMITS, n_drive=8), "M-V3 n_drive above the board's"),
        (B(b0, "n_sense", "u16", 0), LIMITS, "M-V3 physical without sense"),
        (base, dict(LIMITS, n_sense=4), "M-V3 n_sense above the board's"),
        (B(b0, "d_out", "u16", 0), LIMITS, "M-V3 d_out 0"),
        (B(b0, "in_exp", "u8", 0), LIMITS, "M-V3 in_exp != input_exp"),
        (B(b1, "in_exp", "u8", 0), LIMITS, "M-V3 in_exp != previous out_exp"),
        (B(b0, "out_exp", "u8", 33), LIMITS, "M-V3 out_exp"),
        (B(b0, "shift_p", "u8", 17), LIMITS, "M-V3 shift_p"),
        (B(b0, "shift_h", "u8", 17), LIMITS, "M-V3 shift_h"),
        (B(b0, "shift_b", "u8", 41), LIMITS, "M-V3 shift_b"),
        (B(b0, "shift_out", "u8", 63), LIMITS, "M-V3 shift_out"),
        (base, dict(LIMITS, max_settle_us=99), "M-V3 settle_us"),
        (B(b0, "oversample", "u16", 0), LIMITS, "M-V3 oversample 0"),
        (base, dict(LIMITS, max_oversample=1), "M-V3 oversample above the board's"),
        (B(b0, "readout_shift", "u8", 17), LIMITS, "M-V3 readout_shift"),
        (B(b1, "rows", "u8", 65), LIMITS, "M-R1 more than 64 rows (second block)"),
        (B(b1, "shift_p", "u8", 17, B(b1, "rows", "u8", 65)), LIMITS,
         "M-V3 two fields: the first in image order"),
        (patch(base, ro_at + roo["n_in"], "u16", 8), LIMITS, "M-V4 n_in"),
        (patch(base, ro_at + roo["n_classes"], "u16", 4), LIMITS, "M-V4 n_classes"),
        (patch(base, ro_at + roo["shift_b"], "u8", 41), LIMITS, "M-V4 shift_b"),
        (patch(base, ro_at + roo["shift_out"], "u8", 63), LIMITS, "M-V4 shift_out"),
        (patch(base, ro_at + roo["refit_samples"], "u16", 511), LIMITS,
         "M-V4 refit_samples at the cap"),
        (patch(base, ro_at + roo["refit_samples"], "u16", 512), LIMITS,
         "M-V4 refit_samples above the cap"),
        (base[:-1], LIMITS, "M-V5 one byte short"),
        (base + b"\x00", LIMITS, "M-V5 one byte extra"),
        (base[:b0 + 10], LIMITS, "M-V5 cut in a block head"),
        (base[:ro_at + 4], LIMITS, "M-V5 cut in the read-out head"),
        (gb + b"\x00\x00", LIMITS, "M-V5 goodness image with a read-out's bytes"),
        (H("inference", "u8", 1), LIMITS, "M-V5 one-pass image marked goodness"),
        (B(b0, "settle_us", "u32", 0, B(b0, "flags", "u8", 2)), LIMITS,
         "M-V5 a block made digital keeps the physical W columns"),
        (H("train_unit_id", "u32", 7), LIMITS, "M-V6 unit"),
        (H("train_medium", "u32", 0x6F636361), LIMITS, "M-V6 medium"),
        (base, dict(LIMITS, unit_id=1, medium="optical"), "M-V6 both: the unit first"),
        (base, dict(LIMITS, medium="acoustic-long-16"), "M-V6 medium of 16 characters"),
        (H("overlay", "u8", 1, H("train_unit_id", "u32", 7)), LIMITS,
         "M-V2 before M-V6 though the unit comes first in the image"),
    ]
    # A non-physical block's settle/oversample/n_sense are not the board's business.
    dig = make_model(rng, inference="ONEPASS", n_features=2, n_classes=2, blocks=[
        {"encoder": "PHASE", "flags": BLOCK_FLAG["SKIP"], "d_out": 2, "settle_us": 10**8,
         "oversample": 0}])
    broken.append((image_pack(dig), LIMITS, "valid: a digital block ignores the board limits"))
    # The sensed values per sample must fit a u16 count (n_classes passes of goodness).
    big_lim = dict(LIMITS, n_drive=1000, n_sense=100, max_classes=1000, work_values=16384)
    tr = make_model(rng, inference="GOODNESS", n_features=1, n_classes=700, blocks=[
        {"encoder": "AMPLITUDE", "flags": BLOCK_FLAG["PHYSICAL"], "n_sense": 100, "d_out": 1}])
    broken.append((image_pack(tr), big_lim, "trace of 70000 values: refused at n_blocks"))
    tr_ok = make_model(rng, inference="GOODNESS", n_features=1, n_classes=655, blocks=[
        {"encoder": "AMPLITUDE", "flags": BLOCK_FLAG["PHYSICAL"], "n_sense": 100, "d_out": 1}])
    broken.append((image_pack(tr_ok), big_lim, "trace of 65500 values: accepted"))
    # M-R1 and M-L1 (level 4): slot maps and the class-code section
    rc, rv = images["onepass_rows_code"], views["onepass_rows_code"]
    rs = rv["blocks"][0]["slots_at"]
    rb0 = MODEL_HEAD_SIZE
    rd1 = rv["block_at"][1] - BLOCK_HEAD_SIZE
    code_at = len(rc) - 3 * 7 - CODE_HEAD_SIZE
    gs = images["goodness_rows_slots"]
    broken += [
        (patch(rc, rs, "u16", 7), LIMITS, "M-R1 a slot past the drive width (7 of 7)"),
        (patch(rc, rs + 2 * 8, "u16", 0xFFFF), LIMITS, "M-R1 the last slot of block 0"),
        (patch(rc, rb0 + bo["rows"], "u8", 0), LIMITS,
         "M-R1 rows 0 with a channel count below the drive width"),
        (patch(gs, MODEL_HEAD_SIZE + bo["flags"], "u8", 2), LIMITS,
         "M-R1 rows on a digital block"),
        (rc[:rs + 3], LIMITS, "M-V5 cut in a slot map"),
        (patch(rc, rd1 + bo["n_drive"], "u16", 17), LIMITS, "M-R1 a row wider than the board"),
        (patch(rc, rd1 + bo["n_drive"], "u16", 0), LIMITS, "M-R1 a row of no channel"),
        (patch(rc, code_at, "u16", 1025), LIMITS, "M-L1 gain above 4"),
        (patch(rc, code_at + 2, "u16", 1), LIMITS, "M-L1 reserved"),
        (patch(rc, code_at + 4 + 5, "u8", 0), LIMITS, "M-L1 a code of 0"),
        (patch(rc, code_at + 4 + 20, "u8", 2), LIMITS, "M-L1 a code of 2 (the last)"),
        (rc[:code_at + 2], LIMITS, "M-V5 cut in the code head"),
        (rc[:-1], LIMITS, "M-V5 one code short"),
        (rc + b"\x01", LIMITS, "M-V5 one code extra"),
        (patch(rc, ho["overlay"], "u8", 0), LIMITS,
         "M-V2 label slots need n_classes + n_features <= width"),
        (patch(rc, ho["overlay"], "u8", 2), LIMITS,
         "M-V2 overlay 2: with label slots the width is refused first"),
        (patch(rc, ho["feature_offset"], "u16", 1), LIMITS, "M-L1 features past the width"),
        (base + bytes(4), LIMITS, "M-V5 a slot-overlay image with a code head's bytes"),
    ]
    broken += describe_cases(images)
    for img, lim, why in broken:
        chk.append(check_case(img, lim, why))
    g["model_check"] = chk

    def case(model: str, **inp: Any) -> dict[str, Any]:
        return {"image": hx(images[model]), "limits": LIMITS, "model": model, **inp}

    # ---- M-P1-P2 layout --------------------------------------------------------------
    rng = rng_for("model_layout")
    lay: list[dict[str, Any]] = []
    for name, v in views.items():
        nf, nc = v["head"]["n_features"], v["head"]["n_classes"]
        xs = [[0] * nf, [Q15_MIN] + [0] * (nf - 1), [1] * nf, [Q15_MAX] + [-5] * (nf - 1),
              q15_vec(rng, nf), q15_vec(rng, nf, -50, 50), [nc // 2] + [0] * (nf - 1)]
        for x in xs:
            for label in [-1, *range(nc)]:
                h, s = infer_layout(v, x, label)
                lay.append({"in": case(name, x=x, label=label), "out": {"h": h, "sat": s}})
    g["infer_layout"] = lay

    # ---- M-P3 encoders -----------------------------------------------------------------
    rng = rng_for("model_encode")
    enc_cases: list[dict[str, Any]] = []
    edge_rows = [[0, 0, 0, 0, 0], [7, 7, 7, 7, 7], [-32768, -32768, -32768, -32768, -32768],
                 [0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [-32768, 32767, 0, -1, 1],
                 [1, 1, 1, 1, 0], [3, 4, 0, 0, 0], [-3, 4, 0, 0, 0], [0, 0, 0, 0, 1],
                 [-32768, 0, 0, 0, 0], [32767, 32767, 32767, 32767, 32767],
                 [0, 2, 4, 6, 8], [10, 11, 12, 13, 13], [-1, 0, 0, 0, 0], [1, 2, 0, 0, 0],
                 # amplitude ties: a = isqrt(2^32 + 1) = 65536 = 2^16, so every odd
                 # |h_j| * 32768 / a is an exact half (16383.5, 181.5) and rounds up
                 [-32768, -32768, -32768, 32767, 256], [-32768, 32767, -32768, 32767, 363]]
    for enc in ENCODER:
        exps = [0] if enc != "CLIP" else [0, -1, -3, 2, 15, 32, -32]
        for e in exps:
            m = make_model(rng, inference="ONEPASS", n_features=3, n_classes=2, input_exp=e,
                           blocks=[{"encoder": enc, "flags": BLOCK_FLAG["SKIP"], "d_out": 1}])
            img = image_pack(m)
            v = model_check(img, LIMITS)
            rows = edge_rows + [q15_vec(rng, 5) for _ in range(4)] + \
                [q15_vec(rng, 5, -9, 9) for _ in range(2)]
            for h in rows:
                enc_cases.append({"in": {"image": hx(img), "limits": LIMITS, "k": 0, "h": h,
                                         "encoder": enc, "in_exp": e},
                                  "out": infer_encode(v, 0, h)})
    for name, v in views.items():  # deeper blocks of the sample models
        for k, b in enumerate(v["blocks"]):
            for _ in range(2):
                h = q15_vec(rng, b["d_in"])
                enc_cases.append({"in": case(name, k=k, h=h), "out": infer_encode(v, k, h)})
    g["infer_encode"] = enc_cases

    # ---- M-P5 affine ---------------------------------------------------------------------
    rng = rng_for("model_affine")
    aff: list[dict[str, Any]] = []
    for name, v in views.items():
        for k, b in enumerate(v["blocks"]):
            ns = sensed_width(b) if b["flags"] & BLOCK_FLAG["PHYSICAL"] else 0
            inputs = [([0] * ns, [0] * b["d_in"]), ([Q15_MAX] * ns, [Q15_MIN] * b["d_in"]),
                      ([Q15_MAX] * ns, [Q15_MAX] * b["d_in"])]
            inputs += [(q15_vec(rng, ns, 0, Q15_MAX), q15_vec(rng, b["d_in"]))
                       for _ in range(6)]
            inputs += [([2 * t + 1 for t in q15_vec(rng, ns, 0, 16383)],
                        [2 * t + 1 for t in q15_vec(rng, b["d_in"], -16384, 16383)]),
                       ([1] * ns, [1] * b["d_in"]), ([-1] * ns, [-1] * b["d_in"]),
                       ([3] * ns, [-3] * b["d_in"])]
            for p, h in inputs:
                y, s = infer_affine(v, k, p, h)
                aff.append({"in": case(name, k=k, p=p, h=h), "out": {"y": y, "sat": s}})
    g["infer_affine"] = aff

    # ---- M-P6 read-out and goodness ----------------------------------------------------
    rng = rng_for("model_readout")
    rd: list[dict[str, Any]] = []
    for name, v in views.items():
        if v["readout"] is None:
            continue
        douts = [b["d_out"] for b in v["blocks"]]
        yss = [[[0] * d for d in douts], [[Q15_MIN] * d for d in douts],
               [[Q15_MAX] * d for d in douts]]
        yss += [[q15_vec(rng, d) for d in douts] for _ in range(6)]
        for ys in yss:
            acc, scores, s = infer_readout(v, ys)
            rd.append({"in": case(name, ys=ys), "out": {"acc": acc, "scores": scores, "sat": s}})
    g["infer_readout"] = rd

    rng = rng_for("model_goodness")
    gd: list[dict[str, Any]] = []
    for name, v in views.items():
        for k, b in enumerate(v["blocks"]):
            ys = [[0] * b["d_out"], [Q15_MIN] * b["d_out"], [1] * b["d_out"],
                  [-1] + [0] * (b["d_out"] - 1)]
            ys += [q15_vec(rng, b["d_out"]) for _ in range(4)]
            for y in ys:
                gd.append({"in": case(name, k=k, y=y), "out": infer_goodness(v, k, y)})
    # ties of the half-up division: |y| = (1, 1, 1, 1), norm 2, numerator = sum xi
    for xi in ([1, 0, 0, 0], [-1, 0, 0, 0], [-3, 0, 0, 0], [3, 0, 0, 0], [-32768] * 4,
               [32767] * 4, [5, -2, 0, 0], [1, 1, 1, -4]):
        m = make_model(rng, inference="GOODNESS", n_features=2, n_classes=2, blocks=[
            {"encoder": "AMPLITUDE", "flags": BLOCK_FLAG["SKIP"], "d_out": 4, "xi": xi}])
        img = image_pack(m)
        v = model_check(img, LIMITS)
        for y in ([1, 1, 1, 1], [-1, 1, -1, 1], [1, 1, 0, 0], [3, 4, 0, 0], [0, 0, 0, 0],
                  [-32768, -32768, -32768, -32768]):
            gd.append({"in": {"image": hx(img), "limits": LIMITS, "k": 0, "y": y, "xi": xi},
                       "out": infer_goodness(v, 0, y)})
    g["infer_goodness"] = gd

    # ---- M-P7 argmax -------------------------------------------------------------------
    rng = rng_for("model_argmax")
    am = [[0], [Q31_MIN], [1, 1], [0, 1], [1, 0], [Q31_MIN, Q31_MIN], [-5, -3, -3, -7],
          [Q31_MAX, 0, Q31_MAX], [3, 9, 2, 9, 9], [Q31_MIN, Q31_MIN + 1]]
    am += [[randint(rng, -5, 5) for _ in range(randint(rng, 1, 12))] for _ in range(10)]
    g["argmax"] = [{"in": s, "out": argmax(s)} for s in am]

    # ---- M-P1-P7: a whole sample, the sensed values given ---------------------------
    rng = rng_for("model_sample")
    smp: list[dict[str, Any]] = []
    for name, v in views.items():
        nf = v["head"]["n_features"]
        passes = 1 if v["readout"] is not None else v["head"]["n_classes"]
        for t in range(5):
            x = q15_vec(rng, nf, -2000, 2000) if t < 3 else q15_vec(rng, nf)
            sensed = [[randint(rng, 0, 4095) << 3 for _ in range(sensed_width(b))]
                      for _ in range(passes) for b in v["blocks"]
                      if b["flags"] & BLOCK_FLAG["PHYSICAL"]]
            smp.append({"in": case(name, x=x, sensed=sensed), "out": infer_sample(v, x, sensed)})
    g["infer_sample"] = smp
    return g


# =============================================================================
# Output
# =============================================================================


def render(groups: dict[str, Any]) -> str:
    """Sorted keys, one case per line (readable diffs), ASCII only."""
    doc = dict(groups)
    doc["format"] = FORMAT
    doc["seed"] = SEED
    doc["generator"] = "shared/vectors/generate.py"
    lines = ["{"]
    keys = sorted(doc)
    for i, key in enumerate(keys):
        comma = "," if i + 1 < len(keys) else ""
        val = doc[key]
        if isinstance(val, list):
            lines.append(f"{json.dumps(key)}: [")
            for j, case in enumerate(val):
                sep = "," if j + 1 < len(val) else ""
                lines.append(json.dumps(case, sort_keys=True, separators=(",", ":"),
                                        allow_nan=False) + sep)
            lines.append("]" + comma)
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(val, sort_keys=True)}{comma}")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # well-formed
    return text


def _gen_learn() -> Any:
    """gen_learn.py (learn.h's vectors) beside this file, however this file was loaded;
    its ``import generate`` gets this very module."""
    import importlib.util

    sys.modules.setdefault("generate", sys.modules[__name__])
    spec = importlib.util.spec_from_file_location("gen_learn", HERE / "gen_learn.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outputs() -> dict[Path, str]:
    gen_learn = _gen_learn()
    return {HERE / "fixed.json": render(gen_fixed()), HERE / "wire.json": render(gen_wire()),
            HERE / "model.json": render(gen_model()),
            HERE / "learn.json": render(gen_learn.gen_learn())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="regenerate in memory and fail if the files on disk differ")
    args = ap.parse_args(argv)
    stale = 0
    for path, text in outputs().items():
        if args.check:
            try:
                on_disk = path.read_text(encoding="ascii")
            except FileNotFoundError:
                on_disk = None
            if on_disk != text:
                print(f"{path.name}: stale (run generate.py)", file=sys.stderr)
                stale += 1
            else:
                print(f"{path.name}: up to date ({len(text)} bytes)")
        else:
            path.write_text(text, encoding="ascii", newline="\n")
            print(f"wrote {path.name} ({len(text)} bytes)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
