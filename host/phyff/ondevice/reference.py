"""The board's integer pipeline in numpy: model.h M-P1-P7, bit for bit.

Why a second implementation: the board's answers must be checkable without
trusting the board. Given the same features and the same sensed values (the
trace an INFER reply carries, or a simulated medium), this module predicts
every drive value, every block output and every score the board computes,
exactly. It is written from model.h's prose with numpy int64 arithmetic and
shares no code with the C (``shared/src/model.c``), so a test comparing the
two compares two readings of the spec.

Vectorised over samples: one call runs a whole batch through a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phyff.protocol.model_image import (
    ENCODER_NAMES,
    INFERENCE_ONEPASS,
    OVERLAY_CODE,
    Block,
    ModelImage,
)

Int = NDArray[np.int64]
Sense = Callable[[int, int, NDArray[np.int16]], NDArray[np.int16]]
"""sense(pass_index, block, drive Q15 (M, n_drive)) -> sensed Q15 (M, n_sense); a block
of R device rows (model.h M-R1-R2) is asked for its N x R rows at once, sample after
sample, each sample's rows in order."""

Q15_MAX = 32767


def isqrt(x: Int) -> Int:
    """floor(sqrt(x)) of non-negative int64 values (fixed.h FX-F7), exact."""
    x = np.asarray(x, dtype=np.int64)
    r = np.floor(np.sqrt(x.astype(np.float64))).astype(np.int64)
    r -= (r * r > x).astype(np.int64)
    r += ((r + 1) * (r + 1) <= x).astype(np.int64)
    return r


def round_shift(x: Int, s: int) -> Int:
    """Add half, shift right by s, i.e. floor((x + 2^(s-1)) / 2^s) (fixed.h FX-F3); s = 0: x."""
    if s == 0:
        return x
    return (x + (np.int64(1) << np.int64(s - 1))) >> np.int64(s)


def sat(x: Int, bits: int) -> tuple[Int, NDArray[np.bool_]]:
    """Saturate to a signed `bits`-bit range (fixed.h FX-F2); also say where it clipped."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    clipped = (x < lo) | (x > hi)
    return np.clip(x, lo, hi), clipped


def layout(image: ModelImage, x: NDArray[np.int16], label: int | None
           ) -> tuple[Int, NDArray[np.bool_]]:
    """M-P1-P2: input rows (N, width) from features (N, F); label None = neutral overlay."""
    h = image.head
    n = len(x)
    rows = np.zeros((n, h.width), np.int64)
    rows[:, h.feature_offset:h.feature_offset + h.n_features] = x
    top = np.abs(x.astype(np.int64)).max(axis=1, initial=0)
    clipped = top > Q15_MAX
    top = np.minimum(top, Q15_MAX)
    if h.overlay == OVERLAY_CODE:  # M-L2
        assert image.code is not None
        codes = image.code.codes.astype(np.int64)
        scaled = top * image.code.head.gain_q8
        if label is None:
            num = scaled[:, None] * codes.sum(axis=0)[None, :]
            den = 256 * h.n_classes
            add = (2 * num + den) // (2 * den)
        else:
            add = ((scaled + 128) >> 8)[:, None] * codes[label][None, :]
        v, over = sat(x.astype(np.int64) + add, 16)
        rows[:, h.feature_offset:h.feature_offset + h.n_features] = v
        return rows, clipped | over.any(axis=1)
    if label is None:
        c = h.n_classes
        rows[:, :c] = ((top + c // 2) // c)[:, None]
    else:
        rows[:, label] = top
    return rows, clipped


def encode(block: Block, h: Int) -> Int:
    """M-P3: drive values (N, n_drive) in [0, 32767] from block inputs h (N, d_in)."""
    name = ENCODER_NAMES[block.head.encoder]
    if name == "amplitude":
        a = isqrt((h * h).sum(axis=1))[:, None]
        safe = np.where(a == 0, 1, a)
        v = (np.abs(h) * 32768 + safe // 2) // safe
        return np.where(a == 0, 0, np.minimum(v, Q15_MAX))
    if name == "clip":
        e = block.head.in_exp
        v = h * (np.int64(1) << np.int64(e)) if e >= 0 else round_shift(h, -e)
        return np.clip(v, 0, Q15_MAX)
    lo = h.min(axis=1, keepdims=True)
    span = h.max(axis=1, keepdims=True) - lo
    d = h - lo
    safe = np.where(span == 0, 1, span)
    if name == "phase":
        return np.where(span == 0, 0, (d * Q15_MAX + safe // 2) // safe)
    if name == "binary2":
        msb = 4 * d > span
        lsb = ((d > 0) & (4 * d <= span)) | (4 * d > 3 * span)
    else:  # binary2_uniform
        level = np.minimum((4 * d) // safe, 3)
        msb = level >= 2
        lsb = (level % 2) == 1
    msb &= span != 0
    lsb &= span != 0
    drive = np.empty((len(h), 2 * h.shape[1]), np.int64)
    drive[:, 0::2] = msb * Q15_MAX
    drive[:, 1::2] = lsb * Q15_MAX
    return drive


def affine(block: Block, p: Int | None, h: Int) -> tuple[Int, NDArray[np.bool_]]:
    """M-P5: block outputs (N, d_out) and per-sample saturation."""
    bh = block.head
    w = block.weights.astype(np.int64)
    acc = np.zeros((len(h), bh.d_out), np.int64)
    col = 0
    if bh.physical:
        assert p is not None
        part = p @ w[:, :bh.sensed].T
        acc += part * (np.int64(1) << np.int64(bh.shift_p))
        col = bh.sensed
    if bh.skip:
        part = h @ w[:, col:col + bh.d_in].T
        acc += part * (np.int64(1) << np.int64(bh.shift_h))
    acc += block.bias.astype(np.int64) * (np.int64(1) << np.int64(bh.shift_b))
    y, clipped = sat(round_shift(acc, bh.shift_out), 16)
    return y, np.asarray(clipped.any(axis=1))


def rows_of(block: Block, drive: Int) -> Int:
    """M-R1-R2: the device rows (N x R, n_drive) of drive values (N, W); a plain block's
    drive as it is."""
    if not block.head.rows:
        return drive
    assert block.slots is not None
    return drive[:, block.slots.astype(np.int64).reshape(-1)].reshape(-1, block.head.n_drive)


def readout_features(image: ModelImage, y: Int) -> Int:
    """M-P6: |y| (with |-32768| -> 32767) or y, as the model's read-out reads them."""
    return np.minimum(np.abs(y), Q15_MAX) if image.head.readout_abs else y


def goodness(block: Block, y: Int) -> Int:
    """M-P6: cosine goodness of block outputs, Q15, rounded half up; 0 for a zero vector."""
    num = (np.abs(y) * block.xi.astype(np.int64)).sum(axis=1)
    norm = isqrt((y * y).sum(axis=1))
    safe = np.where(norm == 0, 1, norm)
    g = (2 * num + safe) // (2 * safe)
    return np.where(norm == 0, 0, g)


@dataclass
class Result:
    """What the board would answer, and what it computed on the way."""

    classes: Int
    scores: Int
    saturated: NDArray[np.bool_]
    drives: list[list[Int]]  # [pass][block] (N x rows, n_drive), physical blocks only
    outputs: list[list[Int]]  # [pass][block] (N, d_out)


def sense_top(adc_bits: int) -> int:
    """The Q15 value of an ADC's top code, which flags a sample (wire.h QUERY, CORE-K3)."""
    return ((1 << adc_bits) - 1) << (15 - adc_bits)


def run(image: ModelImage, features: NDArray[np.int16], sense: Sense,
        top: int | None = None) -> Result:
    """The whole pipeline (M-P1-P7) on features (N, n_features) int16.

    top: the Q15 value of the board's top ADC code (`sense_top`); a sensed value
    there flags its sample, as on the board. None: sensing never flags.
    """
    x = np.asarray(features)
    head = image.head
    if x.ndim != 2 or x.shape[1] != head.n_features:
        raise ValueError(f"the model takes {head.n_features} features per sample, got shape "
                         f"{x.shape}")
    n, c = len(x), head.n_classes
    onepass = head.inference == INFERENCE_ONEPASS
    labels: list[int | None] = [None] if onepass else list(range(c))
    saturated = np.zeros(n, bool)
    scores = np.zeros((n, c), np.int64)
    acc = np.zeros((n, c), np.int64)
    drives: list[list[Int]] = []
    outputs: list[list[Int]] = []
    for index, label in enumerate(labels):
        h, clipped = layout(image, x, label)
        saturated |= clipped
        pass_drives: list[Int] = []
        pass_outputs: list[Int] = []
        total = np.zeros(n, np.int64)
        column = 0
        for k, block in enumerate(image.blocks):
            p = None
            if block.head.physical:
                drive = rows_of(block, encode(block, h))
                pass_drives.append(drive)
                p = np.asarray(sense(index, k, drive.astype(np.int16)), dtype=np.int64)
                p = p.reshape(n, block.head.sensed)
                if top is not None:
                    saturated |= (p >= top).any(axis=1)
            y, clipped = affine(block, p, h)
            saturated |= clipped
            pass_outputs.append(y)
            if onepass:
                assert image.readout is not None
                seg = image.readout.weights[:, column:column + block.head.d_out]
                part = readout_features(image, y) @ seg.astype(np.int64).T
                acc += part * (np.int64(1) << np.int64(block.head.readout_shift))
                column += block.head.d_out
            else:
                total += goodness(block, y)
            h = y
        if not onepass:
            scores[:, label] = total
        drives.append(pass_drives)
        outputs.append(pass_outputs)
    if onepass:
        assert image.readout is not None
        rh = image.readout.head
        acc += image.readout.bias.astype(np.int64) * (np.int64(1) << np.int64(rh.shift_b))
        scores, clipped = sat(round_shift(acc, rh.shift_out), 32)
        saturated |= clipped.any(axis=1)
    classes = scores.argmax(axis=1)  # numpy: the first of equal maxima, like M-P7
    return Result(classes, scores, saturated, drives, outputs)


def replay(image: ModelImage, trace: NDArray[np.int16]) -> Sense:
    """A sense function that answers with the sensed values an INFER trace recorded.

    The trace holds, per sample, every measurement in order (pass, block,
    channel), exactly as the board made them.
    """
    offsets: dict[tuple[int, int], int] = {}
    at = 0
    passes = 1 if image.head.inference == INFERENCE_ONEPASS else image.head.n_classes
    for index in range(passes):
        for k, block in enumerate(image.blocks):
            if block.head.physical:
                offsets[(index, k)] = at
                at += block.head.sensed
    if trace.shape[1] != at:
        raise ValueError(f"the trace has {trace.shape[1]} values per sample; this model "
                         f"measures {at}")

    def sense(index: int, k: int, drive: NDArray[np.int16]) -> NDArray[np.int16]:
        start = offsets[(index, k)]
        bh = image.blocks[k].head
        return trace[:, start:start + bh.sensed].reshape(-1, bh.n_sense)

    return sense
