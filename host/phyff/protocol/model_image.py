"""The on-device model image of ``shared/include/phyff/model.h``, as records.

The image is what ``phyff deploy`` sends to a board: a head, one record and
three int16 arrays per block (and the slot map of a block driven as several
device rows, model.h M-R1), for one-pass models a read-out record and two
arrays, for a class-code label overlay the code section (M-L1), and, when the
model records its input scaling, the description section (M-D1-D5: how raw
values become the model's inputs, the feature and class names). The
records are packed and unpacked by the shared C (like the wire records), so
the host and the firmware agree on every byte; the array
layout (row-major, little-endian int16) is written here with numpy.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from phyff._native import lib
from phyff.protocol.wire import Record

MAGIC: int = lib.PHYFF_MODEL_MAGIC
VERSION: int = lib.PHYFF_MODEL_VERSION
MAX_BLOCKS: int = lib.PHYFF_MODEL_MAX_BLOCKS
MAX_ROWS: int = lib.PHYFF_MODEL_MAX_ROWS
MAX_REFIT_SAMPLES: int = lib.PHYFF_MODEL_MAX_REFIT_SAMPLES  # M-V4 (level 5)
OVERLAY_SLOTS: int = lib.PHYFF_OVERLAY_SLOTS
OVERLAY_CODE: int = lib.PHYFF_OVERLAY_CODE
INFERENCE_ONEPASS: int = lib.PHYFF_INFERENCE_ONEPASS
INFERENCE_GOODNESS: int = lib.PHYFF_INFERENCE_GOODNESS
BLOCK_PHYSICAL: int = lib.PHYFF_BLOCK_PHYSICAL
BLOCK_SKIP: int = lib.PHYFF_BLOCK_SKIP
ENCODERS: dict[str, int] = {
    "amplitude": lib.PHYFF_ENC_AMPLITUDE,
    "binary2": lib.PHYFF_ENC_BINARY2,
    "binary2_uniform": lib.PHYFF_ENC_BINARY2_UNIFORM,
    "phase": lib.PHYFF_ENC_PHASE,
    "clip": lib.PHYFF_ENC_CLIP,
}
ENCODER_NAMES: dict[int, str] = {v: k for k, v in ENCODERS.items()}
DESCRIBE_MAGIC: int = lib.PHYFF_DESCRIBE_MAGIC
DESCRIBE_HEAD_SIZE: int = lib.PHYFF_DESCRIBE_HEAD_SIZE
DESCRIBE_RANGE_Q8: int = lib.PHYFF_DESCRIBE_RANGE_Q8
DESCRIBE_CLIP: int = lib.PHYFF_DESCRIBE_CLIP
DESCRIBE_FEATURE_NAMES: int = lib.PHYFF_DESCRIBE_FEATURE_NAMES


@dataclass(frozen=True)
class ModelHead(Record, ctype="phyff_model_head"):
    """What the model is, what it takes, and which board it was trained on."""

    magic: int
    version: int
    n_blocks: int
    inference: int
    n_features: int
    n_classes: int
    width: int
    feature_offset: int
    train_unit_id: int
    input_exp: int
    score_exp: int
    overlay: int
    readout_abs: int
    name: str
    train_board: str
    train_medium: str


@dataclass(frozen=True)
class BlockHead(Record, ctype="phyff_block_head"):
    """One block: encoder, widths, exponents, shifts and its measuring settings."""

    encoder: int
    flags: int
    d_in: int
    n_drive: int
    n_sense: int
    d_out: int
    in_exp: int
    out_exp: int
    shift_p: int
    shift_h: int
    shift_b: int
    shift_out: int
    settle_us: int
    oversample: int
    readout_shift: int
    rows: int = 0  # model.h M-R1: 0 plain, else device rows per sample

    @property
    def physical(self) -> bool:
        return bool(self.flags & BLOCK_PHYSICAL)

    @property
    def skip(self) -> bool:
        return bool(self.flags & BLOCK_SKIP)

    @property
    def row_count(self) -> int:
        """Device rows per sample (1 for a plain block)."""
        return max(1, self.rows)

    @property
    def drive_width(self) -> int:
        """Drive values the encoder writes (M-R1)."""
        return self.d_in * (2 if ENCODER_NAMES.get(self.encoder, "").startswith("binary2")
                            else 1)

    @property
    def sensed(self) -> int:
        """Sensed values of one pass: rows x n_sense (M-R3)."""
        return self.row_count * self.n_sense

    @property
    def z_width(self) -> int:
        """Columns of W: the sensed values (physical), then the block input (skip)."""
        return self.sensed * self.physical + self.d_in * self.skip


@dataclass(frozen=True)
class ReadoutHead(Record, ctype="phyff_readout_head"):
    """The one-pass read-out: its width, classes and shifts."""

    n_in: int
    n_classes: int
    shift_b: int
    shift_out: int
    refit_samples: int = 0  # model.h M-V4 (level 5): samples a board's REFIT used, else 0


@dataclass(frozen=True)
class CodeHead(Record, ctype="phyff_code_head"):
    """The class-code overlay (model.h M-L1): the code's gain in 1/256."""

    gain_q8: int
    reserved: int = 0


@dataclass(frozen=True)
class DescribeHead(Record, ctype="phyff_describe_head"):
    """The description section's head (model.h M-D2)."""

    magic: int
    length: int
    n_features: int
    n_classes: int
    flags: int
    reserved: int = 0
    range_q8: int = DESCRIBE_RANGE_Q8


@dataclass(frozen=True)
class Description:
    """The description section (model.h M-D1-D5) as a record: its fields, and its
    bytes both ways. phyff turns raw values into INFER's int16 with the
    InputTransform it makes of one (phyff.ondevice.deploy.transform_of).

    ``scale`` and ``limit`` are float32 in the image, so they hold the float32
    values here (what every host reading the board gets); ``limit`` is in the
    model's input scale (raw / scale), as the host's InputTransform keeps it.
    """

    scale: tuple[float, ...]
    limit: tuple[float, ...]
    clip: bool
    feature_names: tuple[str, ...] | None
    class_names: tuple[str, ...]
    range_q8: int = DESCRIBE_RANGE_Q8

    def __post_init__(self) -> None:
        n = len(self.scale)
        if n < 1 or len(self.limit) != n:
            raise ValueError(f"a description needs one scale and one limit per feature, got "
                             f"{n} and {len(self.limit)}")
        if not all(math.isfinite(v) and v > 0 for v in self.scale):
            raise ValueError("the description's feature scales must be finite numbers above 0 "
                             "(model.h M-D5)")
        if not all(math.isfinite(v) and v >= 0 for v in self.limit):
            raise ValueError("the description's training ranges must be finite numbers >= 0 "
                             "(model.h M-D5)")
        if self.feature_names is not None and len(self.feature_names) != n:
            raise ValueError(f"{len(self.feature_names)} feature names for {n} features")
        if len(self.class_names) < 2:
            raise ValueError("a description names at least two classes")
        if not 0 < self.range_q8 <= 0xFFFF:
            raise ValueError(f"the description's range factor x 256 is {self.range_q8}; it "
                             f"must lie in 1..65535 (model.h M-D5)")
        for name in (*(self.feature_names or ()), *self.class_names):
            if "\x00" in name:
                raise ValueError(f"the name {name!r} holds a NUL character, which ends a name "
                                 f"in the image (model.h M-D2): rename it")

    @classmethod
    def of(cls, scale: Sequence[float], limit: Sequence[float], clip: bool,
           feature_names: Sequence[str] | None, class_names: Sequence[str],
           range_factor: float = DESCRIBE_RANGE_Q8 / 256) -> Description:
        """From float64 values: scale and limit rounded to float32, as the image holds them."""
        return cls(tuple(float(np.float32(v)) for v in scale),
                   tuple(float(np.float32(v)) for v in limit), bool(clip),
                   None if feature_names is None else tuple(str(f) for f in feature_names),
                   tuple(str(c) for c in class_names), round(range_factor * 256))

    @property
    def n_features(self) -> int:
        return len(self.scale)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def range_factor(self) -> float:
        return self.range_q8 / 256

    def pack(self) -> bytes:
        """The section's bytes (model.h M-D2)."""
        names = (*(self.feature_names or ()), *self.class_names)
        body = struct.pack(f"<{2 * self.n_features}f", *self.scale, *self.limit)
        body += b"".join(n.encode("utf-8") + b"\x00" for n in names)
        flags = (DESCRIBE_CLIP if self.clip else 0) | (
            DESCRIBE_FEATURE_NAMES if self.feature_names is not None else 0)
        head = DescribeHead(DESCRIBE_MAGIC, DESCRIBE_HEAD_SIZE + len(body), self.n_features,
                            self.n_classes, flags, 0, self.range_q8)
        return head.pack() + body

    @classmethod
    def unpack(cls, data: bytes) -> Description:
        """Parse a whole section (M-D2), with the checks hosts make (M-D3, M-D5)."""
        if len(data) < DESCRIBE_HEAD_SIZE:
            raise ValueError(f"the description section has {len(data)} bytes, fewer than its "
                             f"{DESCRIBE_HEAD_SIZE}-byte head")
        head = DescribeHead.unpack(data[:DESCRIBE_HEAD_SIZE])
        if head.magic != DESCRIBE_MAGIC:
            raise ValueError(f"not a description section (magic 0x{head.magic:08x}, expected "
                             f"0x{DESCRIBE_MAGIC:08x})")
        if head.length != len(data):
            raise ValueError(f"the description section says {head.length} bytes, it has "
                             f"{len(data)}")
        known = DESCRIBE_CLIP | DESCRIBE_FEATURE_NAMES
        if head.flags & ~known or head.reserved:
            raise ValueError(f"the description section has unknown flags (0x{head.flags:02x}) "
                             f"or a reserved byte set: a newer format than this phyff reads")
        nf = head.n_features
        at = DESCRIBE_HEAD_SIZE + 8 * nf
        if at > len(data):
            raise ValueError(f"the description section is truncated: its {nf} scales and "
                             f"limits need {at} bytes, it has {len(data)}")
        floats = struct.unpack(f"<{2 * nf}f", data[DESCRIBE_HEAD_SIZE:at])
        n_names = head.n_classes + (nf if head.flags & DESCRIBE_FEATURE_NAMES else 0)
        parts = data[at:].split(b"\x00")
        if len(parts) != n_names + 1 or parts[-1] != b"":
            raise ValueError(f"the description section should end with {n_names} names, each "
                             f"ended by a 0x00 byte; its name bytes do not")
        try:
            names = [p.decode("utf-8") for p in parts[:-1]]
        except UnicodeDecodeError as exc:
            raise ValueError(f"a name in the description section is not UTF-8 ({exc})") from None
        features = tuple(names[:nf]) if head.flags & DESCRIBE_FEATURE_NAMES else None
        classes = tuple(names[len(names) - head.n_classes:])
        return cls(tuple(floats[:nf]), tuple(floats[nf:]), bool(head.flags & DESCRIBE_CLIP),
                   features, classes, head.range_q8)

    def as_dict(self) -> dict[str, object]:
        return {"scale": list(self.scale), "limit": list(self.limit), "clip": self.clip,
                "range_factor": self.range_factor,
                "feature_names": None if self.feature_names is None else list(self.feature_names),
                "class_names": list(self.class_names)}

    def summary(self, most: int = 6) -> str:
        """One line: how raw values are scaled, and the names (the first few)."""
        def names(items: Sequence[str]) -> str:
            shown = ", ".join(repr(n) for n in items[:most])
            return shown + (f", ... ({len(items)})" if len(items) > most else "")
        clip = ", clipped to [-1, 1]" if self.clip else ""
        features = (f"features {names(self.feature_names)}" if self.feature_names is not None
                    else f"{self.n_features} unnamed features")
        return (f"raw / scale per feature{clip}; {features}; classes "
                f"{names(self.class_names)}; out of range beyond {self.range_factor:g}x the "
                f"training max |x|")


@dataclass
class Block:
    """A block record with its arrays: W (d_out, z), b (d_out,), xi (d_out,), and the
    slot map (rows, n_drive) uint16 of a multi-row block (M-R1)."""

    head: BlockHead
    weights: NDArray[np.int16]
    bias: NDArray[np.int16]
    xi: NDArray[np.int16]
    slots: NDArray[np.uint16] | None = None


@dataclass
class CodeOverlay:
    """The code section (M-L1): its head and the codes (n_classes, n_features) of -1/+1."""

    head: CodeHead
    codes: NDArray[np.int8]


@dataclass
class Readout:
    """The read-out record with R (n_classes, n_in) and rb (n_classes,)."""

    head: ReadoutHead
    weights: NDArray[np.int16]
    bias: NDArray[np.int16]


@dataclass
class ModelImage:
    """A whole image: head, blocks, read-out (one-pass models only)."""

    head: ModelHead
    blocks: list[Block] = field(default_factory=list)
    readout: Readout | None = None
    code: CodeOverlay | None = None
    description: Description | None = None  # model.h M-D1: the optional last section

    def pack(self) -> bytes:
        """The image bytes, in model.h's layout."""
        parts = [self.head.pack()]
        for blk in self.blocks:
            parts.append(blk.head.pack())
            for arr in (blk.weights, blk.bias, blk.xi):
                parts.append(_int16_bytes(arr))
            if blk.head.rows:
                if blk.slots is None:
                    raise ValueError("a block with rows needs its slot map")
                parts.append(np.ascontiguousarray(blk.slots, dtype="<u2").tobytes())
        if self.readout is not None:
            parts.append(self.readout.head.pack())
            parts.append(_int16_bytes(self.readout.weights))
            parts.append(_int16_bytes(self.readout.bias))
        if self.head.overlay == OVERLAY_CODE:
            if self.code is None:
                raise ValueError("a class-code overlay needs its codes")
            parts.append(self.code.head.pack())
            parts.append(np.ascontiguousarray(self.code.codes, dtype=np.int8).tobytes())
        if self.description is not None:
            d = self.description
            if (d.n_features, d.n_classes) != (self.head.n_features, self.head.n_classes):
                raise ValueError(f"the description has {d.n_features} features and "
                                 f"{d.n_classes} classes; the model "
                                 f"{self.head.n_features} and {self.head.n_classes}")
            parts.append(d.pack())
        return b"".join(parts)

    @classmethod
    def unpack(cls, data: bytes) -> ModelImage:
        """Parse image bytes (structure only; the board's checks are M-V1-V6 of model.h)."""
        reader = _Reader(data)
        head = ModelHead.unpack(reader.take(ModelHead.size(), "the model head"))
        if head.magic != MAGIC:
            raise ValueError(f"not a phyff model image (magic 0x{head.magic:08x}, expected "
                             f"0x{MAGIC:08x})")
        if head.n_blocks > MAX_BLOCKS:
            raise ValueError(f"the image says {head.n_blocks} blocks; at most {MAX_BLOCKS}")
        image = cls(head)
        for k in range(head.n_blocks):
            bh = BlockHead.unpack(reader.take(BlockHead.size(), f"block {k}'s head"))
            w = reader.int16(bh.d_out * bh.z_width, f"block {k}'s weights").reshape(
                bh.d_out, bh.z_width)
            b = reader.int16(bh.d_out, f"block {k}'s bias")
            xi = reader.int16(bh.d_out, f"block {k}'s goodness direction")
            slots = None
            if bh.rows:
                n = bh.rows * bh.n_drive
                slots = np.frombuffer(reader.take(2 * n, f"block {k}'s slot map"),
                                      dtype="<u2").astype(np.uint16).reshape(bh.rows,
                                                                             bh.n_drive)
            image.blocks.append(Block(bh, w, b, xi, slots))
        if head.inference == INFERENCE_ONEPASS:
            rh = ReadoutHead.unpack(reader.take(ReadoutHead.size(), "the read-out head"))
            r = reader.int16(rh.n_classes * rh.n_in, "the read-out weights").reshape(
                rh.n_classes, rh.n_in)
            rb = reader.int16(rh.n_classes, "the read-out bias")
            image.readout = Readout(rh, r, rb)
        if head.overlay == OVERLAY_CODE:
            ch = CodeHead.unpack(reader.take(CodeHead.size(), "the code head"))
            n = head.n_classes * head.n_features
            codes = np.frombuffer(reader.take(n, "the class codes"), dtype=np.int8)
            image.code = CodeOverlay(ch, codes.reshape(head.n_classes, head.n_features).copy())
        if reader.at != len(data):  # M-D1: a description section, or bytes too many
            rest = data[reader.at:]
            if len(rest) < 4 or int.from_bytes(rest[:4], "little") != DESCRIBE_MAGIC:
                raise ValueError(f"the image has {len(rest)} bytes after its end")
            image.description = Description.unpack(rest)
            if (image.description.n_features, image.description.n_classes) != (
                    head.n_features, head.n_classes):
                raise ValueError("the image's description counts other features or classes "
                                 "than its model")
        return image


def _int16_bytes(arr: NDArray[np.int16]) -> bytes:
    a = np.asarray(arr)
    if a.dtype != np.int16:
        raise TypeError(f"image arrays are int16, got {a.dtype}")
    return np.ascontiguousarray(a, dtype="<i2").tobytes()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError(f"the image is truncated: {what} needs bytes {self.at}.."
                             f"{self.at + n - 1}, the image has {len(self.data)}")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def int16(self, n: int, what: str) -> NDArray[np.int16]:
        return np.frombuffer(self.take(2 * n, what), dtype="<i2").astype(np.int16)
