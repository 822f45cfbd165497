"""Q15/Q31 fixed-point arithmetic, exactly as the board computes it.

Thin wrappers over ``shared/include/phyff/fixed.h`` compiled into
``phyff._native``: the host never re-implements the rounding or saturation
rules (contracts FX-F1-F9 in that header), it calls the same C. Array functions
take numpy arrays and pass their buffers to C without copying when they are
already C-contiguous with the right dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from phyff._native import ffi, lib

Q15_MIN = -32768
Q15_MAX = 32767
Q31_MIN = -(2**31)
Q31_MAX = 2**31 - 1


def _check_range(name: str, value: int, lo: int, hi: int) -> int:
    value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value} is outside [{lo}, {hi}]")
    return value


def _q15(v: int) -> int:
    return _check_range("Q15 value", v, Q15_MIN, Q15_MAX)


def _q31(v: int) -> int:
    return _check_range("Q31 value", v, Q31_MIN, Q31_MAX)


def _binary(c_name: str, check: Callable[[int], int], doc: str) -> Callable[[int, int], int]:
    """The C operation c_name of ``phyff._native`` on two range-checked scalars."""
    c_op = getattr(lib, c_name)

    def op(a: int, b: int) -> int:
        return int(c_op(check(a), check(b)))

    op.__name__ = op.__qualname__ = c_name.removeprefix("phyff_")
    op.__doc__ = doc
    return op


q15_add = _binary("phyff_q15_add", _q15, "Saturating Q15 addition (FX-F2).")
q15_sub = _binary("phyff_q15_sub", _q15, "Saturating Q15 subtraction (FX-F2).")
q15_mul = _binary("phyff_q15_mul", _q15, "Q15 product, rounded to nearest with ties toward "
                  "+inf, saturated (FX-F3, FX-F4).")
q31_add = _binary("phyff_q31_add", _q31, "Saturating Q31 addition.")
q31_sub = _binary("phyff_q31_sub", _q31, "Saturating Q31 subtraction.")
q31_mul = _binary("phyff_q31_mul", _q31, "Q31 product with the same rounding and saturation "
                  "rules as Q15.")


def q15_to_q31(v: int) -> int:
    """Exact widening."""
    return int(lib.phyff_q15_to_q31(_q15(v)))


def q31_to_q15(v: int) -> int:
    """Narrowing with rounding (FX-F3) and saturation (FX-F2)."""
    return int(lib.phyff_q31_to_q15(_q31(v)))


def q15_from_float(x: float) -> int:
    """float -> Q15: ties away from zero, NaN -> 0, saturating (FX-F6)."""
    return int(lib.phyff_q15_from_double(float(x)))


def q15_to_float(v: int) -> float:
    """Q15 -> float, exact."""
    return float(lib.phyff_q15_to_double(_q15(v)))


def isqrt_u32(x: int) -> int:
    """floor(sqrt(x)) for 0 <= x < 2**32 (FX-F7)."""
    return int(lib.phyff_isqrt_u32(_check_range("x", x, 0, 2**32 - 1)))


def isqrt_u64(x: int) -> int:
    """floor(sqrt(x)) for 0 <= x < 2**64 (FX-F7)."""
    return int(lib.phyff_isqrt_u64(_check_range("x", x, 0, 2**64 - 1)))


# ---- arrays ---------------------------------------------------------------


_I16 = np.dtype(np.int16)
_from_buffer = ffi.from_buffer


def _as_int16(name: str, a: ArrayLike, ndim: int) -> NDArray[np.int16]:
    if type(a) is np.ndarray and a.dtype is _I16 and a.ndim == ndim and a.flags.c_contiguous:
        return a  # the common case: pass the caller's buffer straight to C
    arr = np.asarray(a)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int16)  # [] is a valid empty vector (FX-F8)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.dtype != np.int16:
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold Q15 integers (int16), got dtype {arr.dtype}")
        if arr.size and (arr.min() < Q15_MIN or arr.max() > Q15_MAX):
            raise ValueError(f"{name} has values outside the Q15 range [-32768, 32767]")
        arr = arr.astype(np.int16)
    return np.ascontiguousarray(arr)


def _ptr(ctype: str, arr: np.ndarray, writable: bool = False):
    return ffi.from_buffer(ctype, arr, require_writable=writable)


def from_float(x: ArrayLike) -> NDArray[np.int16]:
    """Convert an array of floats to Q15 with rule FX-F6 (the board's converter)."""
    arr = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(arr.shape, dtype=np.int16)
    lib.phyff_q15_from_double_array(
        _ptr("double[]", arr), _ptr("int16_t[]", out, True), arr.size
    )
    return out


def to_float(v: ArrayLike) -> NDArray[np.float64]:
    """Convert Q15 codes to floats (exact)."""
    arr = np.asarray(v)
    arr = _as_int16("v", arr.reshape(-1), 1).reshape(arr.shape)
    out = np.empty(arr.shape, dtype=np.float64)
    lib.phyff_q15_to_double_array(_ptr("int16_t[]", arr), _ptr("double[]", out, True), arr.size)
    return out


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.int16], NDArray[np.int16]]:
    x = _as_int16("a", a, 1)
    y = _as_int16("b", b, 1)
    if x.shape != y.shape:
        raise ValueError(f"dot needs equal lengths, got {x.shape[0]} and {y.shape[0]}")
    return x, y


def dot_q15_acc64(a: ArrayLike, b: ArrayLike) -> int:
    """Exact integer sum of products (FX-F5)."""
    x, y = _pair(a, b)
    return int(lib.phyff_dot_q15_acc64(_ptr("int16_t[]", x), _ptr("int16_t[]", y), x.size))


def dot_q15_acc32(a: ArrayLike, b: ArrayLike) -> int:
    """Sum of products in a 32-bit accumulator saturating at every step (FX-F5)."""
    x, y = _pair(a, b)
    return int(lib.phyff_dot_q15_acc32(_ptr("int16_t[]", x), _ptr("int16_t[]", y), x.size))


def dot_q15(a: ArrayLike, b: ArrayLike) -> int:
    """Q15 dot product: exact sum, one rounding, one saturation (FX-F5)."""
    x, y = _pair(a, b)
    return int(lib.phyff_dot_q15(_ptr("int16_t[]", x), _ptr("int16_t[]", y), x.size))


def _matrix(w: ArrayLike, cols: int) -> NDArray[np.int16]:
    m = _as_int16("w", w, 2)
    if m.shape[1] != cols:
        raise ValueError(f"w has {m.shape[1]} columns but x has {cols} entries")
    return m


def matvec_q15(w: ArrayLike, x: ArrayLike) -> NDArray[np.int16]:
    """y = w @ x in Q15, each output rounded and saturated once.

    Kept lean (no helper calls on the fast path): for a 64x64 matrix the
    Python around the C call costs more than the arithmetic.
    """
    v = _as_int16("x", x, 1)
    m = _as_int16("w", w, 2)
    rows, cols = m.shape
    if v.shape[0] != cols:
        raise ValueError(f"w has {cols} columns but x has {v.shape[0]} entries")
    out = np.empty(rows, dtype=_I16)
    lib.phyff_matvec_q15(
        _from_buffer("int16_t[]", m), rows, cols, _from_buffer("int16_t[]", v),
        _from_buffer("int16_t[]", out, require_writable=True),
    )
    return out


def matvec_q15_acc64(w: ArrayLike, x: ArrayLike) -> NDArray[np.int64]:
    """Raw exact int64 accumulators of w @ x."""
    v = _as_int16("x", x, 1)
    m = _matrix(w, v.size)
    out = np.empty(m.shape[0], dtype=np.int64)
    lib.phyff_matvec_q15_acc64(
        _ptr("int16_t[]", m), m.shape[0], m.shape[1], _ptr("int16_t[]", v),
        _ptr("int64_t[]", out, True),
    )
    return out


def matmul_q15(w: ArrayLike, x: ArrayLike) -> NDArray[np.int16]:
    """Y[b] = w @ X[b] in Q15 for a batch X of shape (batch, cols)."""
    xs = _as_int16("x", x, 2)
    m = _matrix(w, xs.shape[1])
    out = np.empty((xs.shape[0], m.shape[0]), dtype=np.int16)
    lib.phyff_matmul_q15(
        _ptr("int16_t[]", m), m.shape[0], m.shape[1], _ptr("int16_t[]", xs), xs.shape[0],
        _ptr("int16_t[]", out, True),
    )
    return out
