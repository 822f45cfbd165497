"""Deterministic numerical kernels shared by the simulated media.

Why this module exists: a medium must give bit-identical float64 readings for a
row whatever batch the row arrives in (a board may send 64 rows in one frame or
in 64 frames, and two runs are compared byte for byte). Two everyday numpy tools
break that promise:

- a BLAS matrix product picks its kernel from the matrix shapes (gemv for one
  row, small-matrix or blocked gemm for more), and the kernels sum in different
  orders, so row i of ``X @ W`` changes in the last bits with the number of rows;
- transcendental ufuncs (exp, sin, ...) may take SIMD or scalar paths depending
  on the array layout and the CPU.

So per-row work in the media uses only IEEE basic operations (+, -, *, /, sqrt),
which are correctly rounded element by element, plus ``rint`` and scaling by
powers of two, which are exact. On top of those this module provides:

- `ExactMatmul`: a matrix product made *exact* by putting the inputs and the
  weights on binary grids small enough that every product and partial sum is
  an integer multiple of one unit below 2**53. An exact sum does not depend on
  the summation order, so any BLAS kernel gives the same bits, at BLAS speed;
- `ordered_sum` / `ordered_contract`: reductions in a fixed tree order that
  depends only on the reduced length, for products whose inputs are not on a
  grid (fields after a nonlinearity);
- `det_exp`, `det_cos_sin_turns`, `det_log1p`: elementary functions written with
  basic operations only, accurate to a few ulp.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: respond() resolves each drive value to 2**-DRIVE_GRID_BITS of full scale: finer
#: than any DAC a board carries (12-16 bits) and coarse enough for `ExactMatmul`.
DRIVE_GRID_BITS = 20

_MANTISSA_BUDGET = 52  # one bit below float64's 53 as margin against rint rounding up
_BLAS_CHUNK = 1 << 17  # multiply-adds per BLAS call (see ExactMatmul.__call__)


def quantize(x: np.ndarray, bits: int) -> np.ndarray:
    """Round `x` to the nearest multiple of 2**-bits (ties to even).

    Scaling by a power of two is exact (no overflow or subnormals at the sizes used
    here), and plain multiplication is much faster than ``np.ldexp``.
    """
    return np.rint(x * float(2.0**bits)) * float(2.0**-bits)


class ExactMatmul:
    """``x @ W`` computed exactly, hence identical for every batch split and BLAS kernel.

    The inputs must be integer multiples of 2**-input_bits with magnitude at most
    2**input_bound_log2 (`quantize_input` enforces both). Each weight column is
    rounded to ``weight_bits`` significant bits relative to that column's largest
    entry, where ``weight_bits = 52 - (input_bits + input_bound_log2 + 1) - ceil(log2 P)``
    for P input terms. Then every product is an integer number of units
    2**-(input_bits + E_q) of magnitude below 2**(52 - ceil(log2 P)), and any sum of
    P of them stays below 2**52 units: exactly representable, so the order of
    summation cannot matter. The rounding of the weights (about 2**-weight_bits
    relative) is far below any physical tolerance; it is part of the medium's
    definition.

    `weights` may be a stack (..., P, Q) of matrices; each is quantised per column.
    """

    def __init__(self, weights: np.ndarray, input_bits: int, input_bound_log2: int = 0) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim < 2 or w.shape[-2] < 1:
            raise ValueError(f"ExactMatmul expects (..., P, Q) weights, got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("ExactMatmul weights must be finite")
        n_terms = w.shape[-2]
        term_bits = int(np.ceil(np.log2(n_terms))) if n_terms > 1 else 0
        self.weight_bits = _MANTISSA_BUDGET - (input_bits + input_bound_log2 + 1) - term_bits
        if self.weight_bits < 16:
            raise ValueError(
                f"ExactMatmul: {n_terms} terms of {input_bits}-bit inputs leave only "
                f"{self.weight_bits} bits for the weights (need >= 16)"
            )
        self.input_bits = int(input_bits)
        self.input_bound_log2 = int(input_bound_log2)
        col_max = np.max(np.abs(w), axis=-2, keepdims=True)
        _, col_exp = np.frexp(col_max)  # col_max = f * 2**e, 0.5 <= f < 1
        scale = (self.weight_bits - col_exp).astype(np.int64)
        scale[col_max == 0] = 0
        self.weights = np.ascontiguousarray(np.ldexp(np.rint(np.ldexp(w, scale)), -scale))
        self.weights_t = np.ascontiguousarray(np.swapaxes(self.weights, -1, -2))

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Clip `x` to the declared bound and round it to the declared grid."""
        bound = float(2.0**self.input_bound_log2)
        y = np.clip(x, -bound, bound)
        y *= float(2.0**self.input_bits)
        np.rint(y, out=y)
        y *= float(2.0**-self.input_bits)
        return y

    # The sums are exact, so any kernel gives the same bits. BLAS is called on row
    # chunks of at most _BLAS_CHUNK multiply-adds per matrix: below that size a
    # BLAS library runs single-threaded, and a threaded call on these small products
    # can stall for tens of milliseconds when other processes compete for the cores.

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x @ W`` for x (..., N, P) on the declared grid: (..., N, Q)."""
        return chunked_matmul(x, self.weights)

    def left(self, x: np.ndarray) -> np.ndarray:
        """``W^T @ x`` for x (..., P, N) on the declared grid: (..., Q, N).

        The same exact sums laid out batch-last, for media that keep the batch as
        the fastest-varying axis (chunked over the N columns).
        """
        p, q = self.weights.shape[-2:]
        cols = max(1, _BLAS_CHUNK // (p * q))
        n = x.shape[-1]
        if n <= cols:
            return np.matmul(self.weights_t, x)
        parts = [np.matmul(self.weights_t, x[..., s : s + cols]) for s in range(0, n, cols)]
        return np.concatenate(parts, axis=-1)


def chunked_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` computed in row chunks small enough for a single-threaded BLAS call.

    Why: on a busy machine a multi-threaded BLAS call on a mid-sized product can
    wait tens of milliseconds for a free core; a few single-threaded calls cannot.
    The result equals ``a @ b`` up to the summation order of the BLAS kernel.
    """
    p, q = b.shape[-2:]
    rows = max(1, _BLAS_CHUNK // (p * q))
    n = a.shape[-2]
    if n <= rows:
        return np.matmul(a, b)
    parts = [np.matmul(a[..., s : s + rows, :], b) for s in range(0, n, rows)]
    return np.concatenate(parts, axis=-2)


def bound_log2(bound: float) -> int:
    """Smallest integer b with 2**b >= bound (for declaring `ExactMatmul` input bounds)."""
    if not (np.isfinite(bound) and bound > 0):
        raise ValueError(f"bound must be positive and finite, got {bound}")
    mant, exp = np.frexp(bound)
    return int(exp - 1) if mant == 0.5 else int(exp)


def complex_block(m: np.ndarray) -> np.ndarray:
    """Real form of a complex matrix product acting on concatenated [re, im] vectors.

    For ``m`` of shape (..., P, Q) returns (..., 2P, 2Q) so that
    ``[x_re, x_im] @ block = [re(x @ m), im(x @ m)]``. Why: it turns every complex
    contraction into a real one that `ExactMatmul` / `ordered_contract` can do
    with basic float operations only (no complex SIMD kernels involved).
    """
    re, im = m.real, m.imag
    top = np.concatenate([re, im], axis=-1)
    bottom = np.concatenate([-im, re], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def ordered_sum(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum along `axis` in a fixed pairwise tree order that depends only on its length.

    Unlike ``np.sum`` (whose order may depend on memory layout and SIMD width), the
    result for one element depends on nothing but that element's own operands.
    """
    a = np.asarray(x)
    ax = axis % a.ndim
    pre: tuple[Any, ...] = (slice(None),) * ax
    n = a.shape[ax]
    if n == 0:
        return np.zeros(a.shape[:ax] + a.shape[ax + 1 :], dtype=a.dtype)
    while n > 1:
        half = n // 2
        low: tuple[Any, ...] = (*pre, slice(0, half))
        high: tuple[Any, ...] = (*pre, slice(half, 2 * half))
        head = a[low] + a[high]
        if n % 2:
            rest: tuple[Any, ...] = (*pre, slice(2 * half, n))
            head = np.concatenate([head, a[rest]], axis=ax)
        a, n = head, head.shape[ax]
    first: tuple[Any, ...] = (*pre, 0)
    return a[first]


def ordered_contract(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``out[..., q] = sum_p x[..., p] * w[..., p, q]`` summed with `ordered_sum`.

    Broadcasts over leading axes. For small contractions of arbitrary float inputs
    (the fields after a nonlinearity), where `ExactMatmul` cannot be used.
    """
    return ordered_sum(x[..., :, None] * w, axis=-2)


# ---- elementary functions from basic operations ---------------------------------

_LN2_HI = 6.93147180369123816490e-01  # trailing zeros: k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_TERMS = 14  # Taylor terms for |r| <= ln(2)/2: truncation error < 1e-17 relative


def det_exp(x: np.ndarray) -> np.ndarray:
    """exp(x), using basic operations only (deterministic per element, ~1 ulp).

    Cody-Waite reduction x = k ln2 + r with |r| <= ln2/2, a Taylor polynomial for
    exp(r), and an exact scaling by 2**k. Arguments are clipped to [-700, 700].
    """
    xc = np.clip(np.asarray(x, dtype=np.float64), -700.0, 700.0)
    k = np.rint(xc * _INV_LN2)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = np.full_like(r, _EXP_COEFFS[0])
    for coeff in _EXP_COEFFS[1:]:
        p *= r
        p += coeff
    return p * _pow2(k)


def det_log1p(x: np.ndarray) -> np.ndarray:
    """log(1 + x) for |x| <= 0.5, from basic operations (an atanh series).

    log(1+x) = 2 atanh(z), z = x / (2 + x), |z| <= 1/3; 24 odd terms reach 1e-17.
    Used for small relative parameter changes (temperature ratios); arguments are
    clipped to [-0.5, 0.5].
    """
    xc = np.clip(np.asarray(x, dtype=np.float64), -0.5, 0.5)
    z = xc / (2.0 + xc)
    z2 = z * z
    acc = np.full_like(z, 1.0 / 47.0)
    for n in range(45, 0, -2):
        acc = acc * z2 + 1.0 / n
    return 2.0 * z * acc


_TWO_PI = 6.283185307179586


def det_cos_sin_turns(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos(2 pi t), sin(2 pi t)) for t in turns, from basic operations only.

    Reduction to the nearest quarter turn (|r| <= 1/8 turn, |x| <= pi/4), Taylor
    polynomials to x**18, then an exact quadrant swap. Phases in this project are
    naturally in turns (a drive fraction of the modulator's 2 pi range).
    """
    tt = np.asarray(t, dtype=np.float64)
    quarter = np.rint(4.0 * tt)
    x = _TWO_PI * (tt - 0.25 * quarter)
    x2 = x * x
    s = np.full_like(x, _SIN_COEFFS[0])
    for coeff in _SIN_COEFFS[1:]:
        s *= x2
        s += coeff
    s *= x
    c = np.full_like(x, _COS_COEFFS[0])
    for coeff in _COS_COEFFS[1:]:
        c *= x2
        c += coeff
    q = quarter.astype(np.int64) & 3  # quadrant 0..3 (two's complement: -1 -> 3)
    swap = (q & 1).astype(bool)  # odd quarter turns exchange cos and sin
    cos = np.where(swap, s, c) * np.take(_COS_SIGN, q)  # sign flips are exact
    sin = np.where(swap, c, s) * np.take(_SIN_SIGN, q)
    return cos, sin


_COS_SIGN = np.array([1.0, -1.0, -1.0, 1.0])
_SIN_SIGN = np.array([1.0, 1.0, -1.0, -1.0])


def _pow2(k: np.ndarray) -> np.ndarray:
    """2.0**k for integer-valued float k in [-1022, 1023], built from the exponent bits."""
    biased = (k.astype(np.int64) + 1023) << 52
    return biased.view(np.float64)


def _factorial(n: int) -> float:
    out = 1.0
    for i in range(2, n + 1):
        out *= i
    return out


# Horner coefficients, highest power first (in x for exp, in x**2 for sin/x and cos).
_EXP_COEFFS = tuple(1.0 / _factorial(n) for n in range(_EXP_TERMS - 1, -1, -1))
_SIN_COEFFS = tuple((-1.0) ** (n // 2) / _factorial(n) for n in range(17, 0, -2))
_COS_COEFFS = tuple((-1.0) ** (n // 2) / _factorial(n) for n in range(18, -1, -2))
