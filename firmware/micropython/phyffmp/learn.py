"""On-device learning of the read-out (shared/include/phyff/learn.h, shared/src/learn.c).

The same statistics area byte for byte (RF-M1, little-endian: every board
MicroPython runs on is), the same fixed-point ridge solve and the same
quantisation into the image's read-out (RF-A1-RF-E1), mirroring learn.c
function for function. The arithmetic runs on Python ints, which are exact at
any size, with the C's int64 formulas; so a refit allocates (long ints on a
32-bit board) where the C uses its caller's scratch.
"""

from micropython import const

from phyffmp.model import BLOCK_HEAD_SIZE, INFERENCE_ONEPASS, READOUT_HEAD_SIZE, isqrt_u64

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from phyffmp.model import View

# learn.h
LEARN_FEATURE_SHIFT = const(4)
LEARN_MAX_SAMPLES = const(511)
LEARN_MAX_WIDTH = const(127)
LEARN_Q = const(24)
LEARN_RESCALE = const(8)
LEARN_RETRIES = const(2)
LEARN_MAX_LAMBDA_SHIFT = const(60)

LEARN_OK = const(0)
LEARN_FULL = const(1)
LEARN_BAD_LABEL = const(2)
LEARN_TOO_FEW = const(3)
LEARN_TOO_WIDE = const(4)
LEARN_BAD_LAMBDA = const(5)
LEARN_SINGULAR = const(6)
LEARN_OVERFLOW = const(7)
LEARN_NO_READOUT = const(8)

_Q = const(24)
_LIMIT = const(0x7FFFFFFF)


def _tri_count(n: int) -> int:
    return n * (n + 1) // 2


def _tri_index(n: int, i: int, j: int) -> int:
    return i * n - i * (i - 1) // 2 + (j - i)


def area_size(width: int, n_classes: int) -> int:
    """phyff_learn_area_size (RF-M1)."""
    return 4 * _tri_count(width + 1) + 3 * n_classes * width + 2 * n_classes


def _get32(area: "Any", off: int) -> int:
    v = area[off] | (area[off + 1] << 8) | (area[off + 2] << 16) | (area[off + 3] << 24)
    return v - 0x100000000 if v & 0x80000000 else v


def _set32(area: "Any", off: int, v: int) -> None:
    v &= 0xFFFFFFFF
    area[off] = v & 0xFF
    area[off + 1] = (v >> 8) & 0xFF
    area[off + 2] = (v >> 16) & 0xFF
    area[off + 3] = v >> 24


def _get24(area: "Any", off: int) -> int:
    v = area[off] | (area[off + 1] << 8) | (area[off + 2] << 16)
    return v - 0x1000000 if v & 0x800000 else v


def _set24(area: "Any", off: int, v: int) -> None:
    v &= 0xFFFFFF
    area[off] = v & 0xFF
    area[off + 1] = (v >> 8) & 0xFF
    area[off + 2] = v >> 16


def _tri_get(area: "Any", n: int, i: int, j: int) -> int:
    return _get32(area, 4 * _tri_index(n, i, j))


def _tri_set(area: "Any", n: int, i: int, j: int, v: int) -> None:
    _set32(area, 4 * _tri_index(n, i, j), v)


def _sums_at(width: int) -> int:
    return 4 * _tri_count(width + 1)


def _counts_at(width: int, n_classes: int) -> int:
    return _sums_at(width) + 3 * n_classes * width


def clear(area: "Any", width: int, n_classes: int) -> None:
    """phyff_learn_clear."""
    for k in range(area_size(width, n_classes)):
        area[k] = 0


def samples(area: "Any", width: int) -> int:
    """phyff_learn_samples: G_FF."""
    n = width + 1
    return _tri_get(area, n, n - 1, n - 1)


def class_samples(area: "Any", width: int, n_classes: int, c: int) -> int:
    at = _counts_at(width, n_classes) + 2 * c
    return area[at] | (area[at + 1] << 8)


def feature(y: int, readout_abs: bool) -> int:
    """RF-A1."""
    if not readout_abs or y >= 0:
        return y
    return 32767 if y == -32768 else -y


def _reduce(f: int) -> int:
    """RF-A2: round_shift(f, 4)."""
    return (f + 8) >> 4


def add(area: "Any", width: int, n_classes: int, f: "Any", label: int) -> int:
    """phyff_learn_add (RF-A2-A4)."""
    if label >= n_classes:
        return LEARN_BAD_LABEL
    n = width + 1
    if samples(area, width) >= LEARN_MAX_SAMPLES:
        return LEARN_FULL
    at = 0
    for i in range(n):
        gi = _reduce(f[i]) if i < width else 1
        for j in range(i, n):
            gj = _reduce(f[j]) if j < width else 1
            _set32(area, at, _get32(area, at) + gi * gj)
            at += 4
    row = _sums_at(width) + 3 * label * width
    for i in range(width):
        _set24(area, row + 3 * i, _get24(area, row + 3 * i) + _reduce(f[i]))
    at = _counts_at(width, n_classes) + 2 * label
    c = (area[at] | (area[at + 1] << 8)) + 1
    area[at] = c & 0xFF
    area[at + 1] = c >> 8
    return LEARN_OK


def _bitlen(m: int) -> int:
    b = 0
    while m:
        b += 1
        m >>= 1
    return b


def _scale(v: int, s: int) -> int:
    if s >= 0:
        return v << s
    if -s > 62:
        return 0
    return (v + (1 << (-s - 1))) >> -s


def _div_round(a: int, d: int) -> int:
    q = a // d
    return q + 1 if 2 * (a - q * d) >= d else q


def _ceil_half(x: int) -> int:
    return -((-x) // 2)


def _sat16(v: int) -> int:
    return 32767 if v > 32767 else (-32768 if v < -32768 else v)


def _penalty(v: "View", lam: int, i: int) -> int:
    """p_k of feature i's block (RF-S2); -1 for the bias."""
    col = 0
    for k in range(v.n_blocks):
        col += v.d_out[k]
        if i < col:
            return 53 - 2 * v.out_exp[k] - lam
    return -1


def _factor(area: "Any", v: "View", n: int, lam: int, u: list) -> tuple:
    """RF-S2-S4 in place; (status, conditioning figure)."""
    for i in range(n):
        abar = _tri_get(area, n, i, i) << 31
        p = _penalty(v, lam, i)
        if p >= 0:
            abar += 1 << p
        if abar <= 0:
            return LEARN_SINGULAR, 0
        u[i] = _ceil_half(_bitlen(abar) - _Q)
    for i in range(n):
        p = _penalty(v, lam, i)
        for j in range(i, n):
            abar = _tri_get(area, n, i, j) << 31
            if j == i and p >= 0:
                abar += 1 << p
            _tri_set(area, n, i, j, _scale(abar, -(u[i] + u[j])))
    dmax = 0
    dmin = -1
    one = 1 << _Q
    for j in range(n):
        d = _tri_get(area, n, j, j) << _Q
        for k in range(j):
            lkj = _tri_get(area, n, k, j)
            d -= lkj * lkj
        if d < one:
            return LEARN_SINGULAR, 0
        if d > dmax:
            dmax = d
        if dmin < 0 or d < dmin:
            dmin = d
        ljj = isqrt_u64(d)
        _tri_set(area, n, j, j, ljj)
        for c in range(j + 1, n):
            num = _tri_get(area, n, j, c) << _Q
            for k in range(j):
                num -= _tri_get(area, n, k, c) * _tri_get(area, n, k, j)
            x = _div_round(num, ljj)
            if x > one or x < -one:
                return LEARN_OVERFLOW, 0
            _tri_set(area, n, j, c, x)
    return LEARN_OK, _bitlen(dmax) - _bitlen(dmin)


def _rhs(area: "Any", width: int, n_classes: int, c: int, i: int) -> int:
    if i < width:
        return _get24(area, _sums_at(width) + 3 * (c * width + i))
    return class_samples(area, width, n_classes, c)


def _solve_class(area: "Any", width: int, n_classes: int, u: list, c: int, y: list,
                 w: list) -> tuple:
    """RF-S5: (status, r_c); w holds the solution."""
    n = width + 1
    r = -(1 << 31)  # INT32_MIN, as learn.c: a class has count_c >= 1, so some b != 0
    for i in range(n):
        b = _rhs(area, width, n_classes, c, i)
        if b:
            e = _bitlen(abs(b)) + 31 - u[i] - _Q
            if e > r:
                r = e
    for _attempt in range(LEARN_RETRIES + 1):
        ok = True
        for i in range(n):
            num = _scale(_rhs(area, width, n_classes, c, i), 31 - u[i] - r) << _Q
            for k in range(i):
                num -= _tri_get(area, n, k, i) * y[k]
            x = _div_round(num, _tri_get(area, n, i, i))
            if x > _LIMIT or x < -_LIMIT:
                ok = False
                break
            y[i] = x
        if ok:
            for i in range(n - 1, -1, -1):
                num = y[i] << _Q
                for k in range(i + 1, n):
                    num -= _tri_get(area, n, i, k) * w[k]
                x = _div_round(num, _tri_get(area, n, i, i))
                if x > _LIMIT or x < -_LIMIT:
                    ok = False
                    break
                w[i] = x
        if ok:
            return LEARN_OK, r
        r += LEARN_RESCALE
    return LEARN_OVERFLOW, 0


def _put16(image: "Any", at: int, v: int) -> None:
    v &= 0xFFFF
    image[at] = v & 0xFF
    image[at + 1] = v >> 8


def refit(area: "Any", v: "View", image: "Any", lam: int) -> tuple:
    """phyff_learn_refit (RF-S1-Q5, RF-E1): (status, conditioning figure)."""
    width = v.readout_width
    n_classes = v.n_classes
    nb = v.n_blocks
    if v.inference != INFERENCE_ONEPASS:
        return LEARN_NO_READOUT, 0
    if width < 1 or width > LEARN_MAX_WIDTH:
        return LEARN_TOO_WIDE, 0
    if samples(area, width) < 2:
        return LEARN_TOO_FEW, 0
    for c in range(n_classes):
        if class_samples(area, width, n_classes, c) < 1:
            return LEARN_TOO_FEW, 0
    if lam > LEARN_MAX_LAMBDA_SHIFT:
        return LEARN_BAD_LAMBDA, 0
    for k in range(nb):
        if 53 - 2 * v.out_exp[k] - lam > 61:
            return LEARN_BAD_LAMBDA, 0
    n = width + 1
    solved = samples(area, width)
    u = [0] * n
    y = [0] * n
    w = [0] * n
    st, cond = _factor(area, v, n, lam, u)
    fx = -_Q - LEARN_FEATURE_SHIFT
    omega: list = [None] * nb  # None: a segment without a non-zero weight yet
    bias_exp = None
    rs = [0] * n_classes
    for c in range(n_classes):
        if st != LEARN_OK:
            break
        st, r = _solve_class(area, width, n_classes, u, c, y, w)
        if st != LEARN_OK:
            break
        rs[c] = r
        i = 0
        for k in range(nb):
            for _ in range(v.d_out[k]):
                if w[i]:
                    e = r - u[i] + fx + _bitlen(abs(w[i]) - 1)
                    if omega[k] is None or e > omega[k]:
                        omega[k] = e
                i += 1
        if w[width]:
            e = r - u[width] - _Q + _bitlen(abs(w[width]) - 1)
            if bias_exp is None or e > bias_exp:
                bias_exp = e
    score_exp = v.score_exp
    units = [0] * nb
    unit = 0
    beta = 0
    if st == LEARN_OK:
        u_s = score_exp - 31
        for k in range(nb):
            units[k] = u_s if omega[k] is None else omega[k] - 15
        coarsest = max(units)
        for k in range(nb):
            if units[k] < coarsest - 16:
                units[k] = coarsest - 16
        unit = min(units)
        if unit > u_s:
            score_exp = unit + 31
            if score_exp > 32:
                st = LEARN_OVERFLOW
            u_s = unit
        if u_s - unit > 62:
            st = LEARN_OVERFLOW
        beta = unit + 15
        if bias_exp is not None and bias_exp > beta:
            beta = bias_exp
        if beta - 15 - unit > 40:
            st = LEARN_OVERFLOW
    if st == LEARN_OK:
        r_at = v.readout_at
        rb_at = r_at + 2 * n_classes * width
        for c in range(n_classes):
            st, r = _solve_class(area, width, n_classes, u, c, y, w)
            if st != LEARN_OK:
                break
            i = 0
            for k in range(nb):
                for _ in range(v.d_out[k]):
                    _put16(image, r_at + 2 * (c * width + i),
                           _sat16(_scale(w[i], r - u[i] + fx - units[k])))
                    i += 1
            _put16(image, rb_at + 2 * c,
                   _sat16(_scale(w[width], r - u[width] - _Q + 15 - beta)))
        if st == LEARN_OK:
            image[21] = score_exp & 0xFF
            image[r_at - READOUT_HEAD_SIZE + 4] = beta - 15 - unit
            image[r_at - READOUT_HEAD_SIZE + 5] = score_exp - 31 - unit
            _put16(image, r_at - READOUT_HEAD_SIZE + 6, solved)  # RF-Q5: refit_samples
            for k in range(nb):
                image[v.block_at[k] - BLOCK_HEAD_SIZE + 22] = units[k] - unit
    clear(area, width, n_classes)
    return st, cond if st == LEARN_OK else 0
