"""The board's read-out refit (learn.h RF-A1-RF-E1), bit for bit, in Python integers.

Why a second implementation: a board that learns by itself must still be
checkable. Given the read-out features of the samples a board learnt from
(recomputed with `reference` from its INFER trace) and their labels, this
module predicts the board's statistics and the exact read-out its REFIT
writes. It is written from learn.h's prose and shares no code with the C
(``shared/src/learn.c``). The statistics are numpy int64 (exact: every sum is
below 2^31); the solve uses Python integers, which are exact at any size,
so the only roundings are the ones learn.h states.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phyff.protocol.model_image import INFERENCE_ONEPASS, ModelImage, Readout, ReadoutHead

FEATURE_SHIFT = 4
MAX_SAMPLES = 511
MAX_WIDTH = 127
Q = 24
RESCALE = 8
RETRIES = 2
MAX_LAMBDA_SHIFT = 60
SEGMENT_SPREAD = 16
SHIFT_BIAS_MAX = 40
SHIFT_OUT_MAX = 62
EXP_LIMIT = 32

Int = NDArray[np.int64]


class RefitRefused(ValueError):
    """The board would refuse this REFIT; `reason` is learn.h's status name."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Statistics:
    """The sufficient statistics of RF-A3: Gram (n x n, symmetric), class sums (C x F), counts."""

    gram: Int
    sums: Int
    counts: Int

    @classmethod
    def empty(cls, width: int, n_classes: int) -> Statistics:
        n = width + 1
        return cls(np.zeros((n, n), np.int64), np.zeros((n_classes, width), np.int64),
                   np.zeros(n_classes, np.int64))

    def clear(self) -> None:
        """RF-M1: all zero."""
        self.gram[:] = 0
        self.sums[:] = 0
        self.counts[:] = 0

    @property
    def samples(self) -> int:
        return int(self.gram[-1, -1])

    def add(self, features: NDArray[np.integer], labels: NDArray[np.integer]) -> None:
        """RF-A2-A4: accumulate samples (N, F) of read-out features with their labels.

        All or nothing: a label out of range or a batch beyond the cap raises
        and leaves the statistics unchanged (RF-E1).
        """
        f = np.asarray(features, np.int64)
        y = np.asarray(labels, np.int64)
        width, c = self.sums.shape[1], len(self.counts)
        if f.ndim != 2 or f.shape[1] != width or len(y) != len(f):
            raise ValueError(f"expected ({len(y)}, {width}) features, got {f.shape}")
        if ((y < 0) | (y >= c)).any():
            raise RefitRefused("BAD_LABEL", f"labels must be 0..{c - 1}")
        if self.samples + len(f) > MAX_SAMPLES:
            raise RefitRefused("FULL", f"the statistics hold at most {MAX_SAMPLES} samples")
        g = reduce_features(f)
        aug = np.concatenate([g, np.ones((len(g), 1), np.int64)], axis=1)
        self.gram += aug.T @ aug
        np.add.at(self.sums, y, g)
        self.counts += np.bincount(y, minlength=c)

    def pack_area(self, byteorder: str = sys.byteorder) -> bytes:
        """RF-M1: the board's area bytes (int32 and uint16 in the board's byte order)."""
        n = self.gram.shape[0]
        order = "<" if byteorder == "little" else ">"
        tri = np.concatenate([self.gram[i, i:] for i in range(n)]).astype(order + "i4")
        sums = self.sums.reshape(-1).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        return tri.tobytes() + sums.tobytes() + self.counts.astype(order + "u2").tobytes()

    def area_size(self) -> int:
        """RF-M1: bytes of the board's area for these statistics."""
        return area_size(self.sums.shape[1], len(self.counts))


def area_size(width: int, n_classes: int) -> int:
    """RF-M1: n (n + 1) / 2 int32, C x F 3-byte sums, C uint16 counts."""
    n = width + 1
    return 4 * (n * (n + 1) // 2) + 3 * n_classes * width + 2 * n_classes


def readout_features(image: ModelImage, outputs: list[Int]) -> Int:
    """RF-A1: the read-out's features (N, F) from the blocks' outputs of the one-pass pass."""
    parts = [np.minimum(np.abs(y), 32767) if image.head.readout_abs else y for y in outputs]
    return np.concatenate(parts, axis=1).astype(np.int64)


def real_features(image: ModelImage, f: Int) -> NDArray[np.float64]:
    """The reals read-out features f (N, F) stand for: f 2^(e_k - 15), e_k the out_exp of
    the feature's block (model.h M-M1), as the host's float ridge fits them."""
    exps = np.concatenate([[b.head.out_exp] * b.head.d_out for b in image.blocks])
    return f * 2.0 ** (exps - 15)


def readout_scores(image: ModelImage, f: Int) -> Int:
    """model.h M-P6: the read-out's int32 scores of read-out features f (N, F)."""
    ro = image.readout
    if ro is None:
        raise ValueError("the image has no read-out (a goodness model)")
    acc = np.zeros((len(f), image.head.n_classes), np.int64)
    col = 0
    for blk in image.blocks:
        d = blk.head.d_out
        acc += (f[:, col:col + d] @ ro.weights[:, col:col + d].astype(np.int64).T
                ) << blk.head.readout_shift
        col += d
    acc += ro.bias.astype(np.int64) << ro.head.shift_b
    s = ro.head.shift_out
    return (acc + ((1 << (s - 1)) if s else 0)) >> s


def reduce_features(f: Int) -> Int:
    """RF-A2: round_shift(f, 4) (fixed.h FX-F3), |g| <= 2048."""
    return (f + (1 << (FEATURE_SHIFT - 1))) >> FEATURE_SHIFT


def _bitlen(m: int) -> int:
    return int(m).bit_length()


def _clog2(m: int) -> int:
    return _bitlen(m - 1)


def _round_shift(v: int, s: int) -> int:
    if s == 0:
        return v
    if s > 62:
        return 0
    return (v + (1 << (s - 1))) >> s


def _scale(v: int, s: int) -> int:
    return v << s if s >= 0 else _round_shift(v, -s)


def _div_round(a: int, d: int) -> int:
    return (2 * a + d) // (2 * d)


def _sat16(v: int) -> int:
    return max(-32768, min(32767, v))


@dataclass
class Refit:
    """The new image, the conditioning figure (RF-S4) and how many samples made it."""

    image: ModelImage
    cond_bits: int
    samples: int


def _segments(image: ModelImage) -> list[tuple[int, int, int]]:
    """(first column, width, out_exp) of each block's read-out segment."""
    out = []
    col = 0
    for blk in image.blocks:
        out.append((col, blk.head.d_out, blk.head.out_exp))
        col += blk.head.d_out
    return out


def _preconditions(image: ModelImage, stats: Statistics, lambda_shift: int) -> None:
    """RF-S1: refusals that change nothing."""
    if image.head.inference != INFERENCE_ONEPASS or image.readout is None:
        raise ValueError("only a one-pass model has a read-out to refit")
    width = image.readout.head.n_in
    if not 1 <= width <= MAX_WIDTH:
        raise RefitRefused("TOO_WIDE", f"the read-out has {width} features; a board refits "
                           f"at most {MAX_WIDTH}")
    if stats.samples < 2 or (stats.counts < 1).any():
        missing = [int(c) for c in np.flatnonzero(stats.counts < 1)]
        raise RefitRefused("TOO_FEW", f"{stats.samples} samples, classes without any: "
                           f"{missing}; every class needs at least one and the total two")
    if not 0 <= lambda_shift <= MAX_LAMBDA_SHIFT:
        raise RefitRefused("BAD_LAMBDA", f"lambda_shift must be 0..{MAX_LAMBDA_SHIFT}")
    for _, _, e in _segments(image):
        if 53 - 2 * e - lambda_shift > 61:
            raise RefitRefused("BAD_LAMBDA", f"lambda 2^-{lambda_shift} is too large for a "
                               f"block of exponent {e}")


def _factor(image: ModelImage, stats: Statistics, lambda_shift: int
            ) -> tuple[list[list[int]], list[int], int]:
    """RF-S2-S4: (L as rows of Python ints, u, conditioning figure)."""
    n = stats.gram.shape[0]
    width = n - 1
    abar = [[int(stats.gram[i, j]) << 31 for j in range(n)] for i in range(n)]
    for col, d, e in _segments(image):
        p = 53 - 2 * e - lambda_shift
        if p >= 0:
            for i in range(col, col + d):
                abar[i][i] += 1 << p
    assert width == sum(d for _, d, _ in _segments(image))
    u = []
    for i in range(n):
        if abar[i][i] == 0:
            raise RefitRefused("SINGULAR", f"feature {i} is always 0 and unpenalised")
        b = _bitlen(abar[i][i])
        u.append(-((Q - b) // 2))  # ceil((b - Q) / 2)
    a = [[_scale(abar[i][j], -(u[i] + u[j])) for j in range(n)] for i in range(n)]
    low = [[0] * n for _ in range(n)]
    pivots = []
    for j in range(n):
        dj = (a[j][j] << Q) - sum(low[j][k] * low[j][k] for k in range(j))
        if dj < (1 << Q):
            raise RefitRefused("SINGULAR", f"pivot {j} vanished: the system is singular or "
                               f"conditioned beyond 2^{2 * Q}")
        pivots.append(dj)
        low[j][j] = math.isqrt(dj)
        for i in range(j + 1, n):
            num = (a[i][j] << Q) - sum(low[i][k] * low[j][k] for k in range(j))
            v = _div_round(num, low[j][j])
            if abs(v) > (1 << Q):
                raise RefitRefused("OVERFLOW", f"factor entry ({i}, {j}) out of range")
            low[i][j] = v
    cond = _bitlen(max(pivots)) - _bitlen(min(pivots))
    return low, u, cond


def _solve_class(low: list[list[int]], u: list[int], rhs: list[int]) -> tuple[list[int], int]:
    """RF-S5: (w, r_c) of one class."""
    n = len(rhs)
    r = max(_bitlen(abs(b)) + 31 - u[i] for i, b in enumerate(rhs) if b != 0) - Q
    limit = (1 << 31) - 1
    for _attempt in range(RETRIES + 1):
        b = [_scale(rhs[i], 31 - u[i] - r) for i in range(n)]
        y: list[int] = []
        ok = True
        for i in range(n):
            num = (b[i] << Q) - sum(low[i][k] * y[k] for k in range(i))
            v = _div_round(num, low[i][i])
            if abs(v) > limit:
                ok = False
                break
            y.append(v)
        if ok:
            w = [0] * n
            for i in range(n - 1, -1, -1):
                num = (y[i] << Q) - sum(low[k][i] * w[k] for k in range(i + 1, n))
                v = _div_round(num, low[i][i])
                if abs(v) > limit:
                    ok = False
                    break
                w[i] = v
        if ok:
            return w, r
        r += RESCALE
    raise RefitRefused("OVERFLOW", "the solution does not fit int32 even after rescaling")


def refit(image: ModelImage, stats: Statistics, lambda_shift: int) -> Refit:
    """RF-S1-Q5: the image with its refitted read-out, or RefitRefused with learn.h's reason."""
    _preconditions(image, stats, lambda_shift)
    assert image.readout is not None
    width = image.readout.head.n_in
    n_classes = image.head.n_classes
    try:
        low, u, cond = _factor(image, stats, lambda_shift)
    finally:  # RF-S3 overwrote them on the board, whatever the outcome (RF-A5, RF-E1)
        consumed = Statistics(stats.gram.copy(), stats.sums.copy(), stats.counts.copy())
        stats.clear()
    weights: list[list[int]] = []
    shifts_r: list[int] = []
    for c in range(n_classes):
        rhs = [int(v) for v in consumed.sums[c]] + [int(consumed.counts[c])]
        w, r = _solve_class(low, u, rhs)
        weights.append(w)
        shifts_r.append(r)

    def x(i: int, c: int) -> int:
        return shifts_r[c] - u[i] - Q - FEATURE_SHIFT

    score_exp = image.head.score_exp
    u_s = score_exp - 31
    segments = _segments(image)
    units = []
    for col, d, _ in segments:
        exps = [x(i, c) + _clog2(abs(weights[c][i]))
                for c in range(n_classes) for i in range(col, col + d) if weights[c][i] != 0]
        units.append(max(exps) - 15 if exps else u_s)
    coarsest = max(units)
    units = [max(uk, coarsest - SEGMENT_SPREAD) for uk in units]
    unit = min(units)
    if unit > u_s:
        score_exp = unit + 31
        if score_exp > EXP_LIMIT:
            raise RefitRefused("OVERFLOW", "the new weights are too large for a score scale")
        u_s = unit
    shift_out = u_s - unit
    if shift_out > SHIFT_OUT_MAX:
        raise RefitRefused("OVERFLOW", f"the scores need a shift of {shift_out} bits")
    bias_exps = [shifts_r[c] - u[width] - Q + _clog2(abs(weights[c][width]))
                 for c in range(n_classes) if weights[c][width] != 0]
    beta = max([unit + 15, *bias_exps])
    shift_b = beta - 15 - unit
    if shift_b > SHIFT_BIAS_MAX:
        raise RefitRefused("OVERFLOW", f"the bias needs a shift of {shift_b} bits")
    r_q = np.zeros((n_classes, width), np.int16)
    for (col, d, _), uk in zip(segments, units, strict=True):
        for c in range(n_classes):
            for i in range(col, col + d):
                r_q[c, i] = _sat16(_scale(weights[c][i], x(i, c) - uk))
    rb = np.array([_sat16(_scale(weights[c][width], shifts_r[c] - u[width] - Q + 15 - beta))
                   for c in range(n_classes)], np.int16)
    head = dataclasses.replace(image.head, score_exp=score_exp)
    blocks = [dataclasses.replace(blk, head=dataclasses.replace(blk.head, readout_shift=uk - unit))
              for blk, uk in zip(image.blocks, units, strict=True)]
    rh = image.readout.head
    readout = Readout(ReadoutHead(rh.n_in, rh.n_classes, shift_b, shift_out, consumed.samples),
                      r_q, rb)  # RF-Q5: refit_samples records the samples solved
    return Refit(ModelImage(head, blocks, readout), cond, consumed.samples)
