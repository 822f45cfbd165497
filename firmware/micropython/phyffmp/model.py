"""The on-device model (shared/include/phyff/model.h, shared/src/model.c), in MicroPython.

Same image format, the same checks M-V1-V6 (and the description's M-D1-D3) in
the same order with the same refused offsets (``check``), and the integer
pipeline M-P1-P7 bit for bit (``infer_layout``, ``infer_encode``,
``infer_affine``, ``infer_readout_add``, ``infer_readout_finish``,
``infer_goodness``, ``argmax_s32``), mirroring model.c function for function.

Arithmetic: the C sums are exact int64 (model.h M-M2). Here the inner dot
products run in viper, where an int is a machine word (32 bits on a
board): each int16 x int16 product (|p| <= 2^30) is split into its low 16
bits and the rest, summed separately (both sums stay far below 2^31 for the
<= 16384 terms M-V3 allows), and joined as a Python int, which is exact at any
size. Shifts, rounding and saturation then run on Python ints. Those may be
long ints on a 32-bit board, so INFER allocates a little (unlike QUERY); the
model slots, views and scratch arrays are all preallocated.
"""

from array import array

import micropython
from micropython import const

from phyffmp.wire import ERR_BAD_MODEL, ERR_WRONG_BOARD, NAME_SIZE, OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    ptr8 = bytearray | memoryview
    ptr16 = array | memoryview
    ptr32 = array | memoryview

# model.h
MODEL_MAGIC = const(0x4D594850)  # "PHYM" little-endian
MODEL_VERSION = const(1)
MODEL_MAX_BLOCKS = const(8)
INFERENCE_ONEPASS = const(0)
INFERENCE_GOODNESS = const(1)
ENC_AMPLITUDE = const(0)
ENC_BINARY2 = const(1)
ENC_BINARY2_UNIFORM = const(2)
ENC_PHASE = const(3)
ENC_CLIP = const(4)
BLOCK_PHYSICAL = const(0x01)
BLOCK_SKIP = const(0x02)
MODEL_HEAD_SIZE = const(72)
BLOCK_HEAD_SIZE = const(24)
READOUT_HEAD_SIZE = const(8)
# model.h M-R1, M-L1 (level 4): blocks of device rows, the class-code overlay
MODEL_MAX_ROWS = const(64)
MODEL_MAX_REFIT_SAMPLES = const(511)  # M-V4 (level 5): learn.h RF-A4's cap
OVERLAY_SLOTS = const(0)
OVERLAY_CODE = const(1)
CODE_GAIN_MAX = const(1024)
CODE_HEAD_SIZE = const(4)
# model.h M-D1-D5 (level 5): the description section at the end of an image
DESCRIBE_MAGIC = const(0x44594850)  # "PHYD" little-endian
DESCRIBE_HEAD_SIZE = const(16)
DESCRIBE_RANGE_Q8 = const(384)
DESCRIBE_CLIP = const(0x01)
DESCRIBE_FEATURE_NAMES = const(0x02)

# model.c
SHIFT_SEGMENT_MAX = const(16)
SHIFT_BIAS_MAX = const(40)
SHIFT_OUT_MAX = const(62)
EXP_LIMIT = const(32)

# Slots of the viper helpers' parameter array (Limits.prm).
_AT = const(0)  # byte offset of the first weight in the image
_N = const(1)  # terms
_VOFF = const(2)  # first element of the vector
_LO = const(3)  # result: sum of the products' low 16 bits
_HI = const(4)  # result: sum of the products shifted right by 16
_STRIDE = const(5)  # _matvec: bytes from one row of weights to the next
_ROWS = const(6)  # _matvec: rows
_MODE = const(7)  # _matvec: 0 x, 1 |x| (-32768 -> 32767), 2 |x| (-32768 -> 32768)


def _u16(b: "Any", off: int) -> int:
    return b[off] | (b[off + 1] << 8)


def _u32(b: "Any", off: int) -> int:
    return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)


def _s8(v: int) -> int:
    return v - 256 if v & 0x80 else v


def _s16(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


class Limits:
    """struct phyff_model_limits: what the board allows (from its caps and buffers)."""

    def __init__(self, unit_id: int, medium: bytearray, n_drive: int, n_sense: int,
                 max_oversample: int, max_settle_us: int, max_classes: int,
                 work_values: int) -> None:
        self.unit_id = unit_id
        self.medium = medium  # NAME_SIZE bytes, NUL-padded, as in caps
        self.n_drive = n_drive
        self.n_sense = n_sense
        self.max_oversample = max_oversample
        self.max_settle_us = max_settle_us
        self.max_classes = max_classes
        self.work_values = work_values


class View:
    """struct phyff_model_view: a checked image, its head, where its parts start.

    Block fields are arrays indexed by block (allocated once), so checking an
    image into a view replaces values and creates no objects per block.
    """

    def __init__(self, rows: int = 0) -> None:
        """rows: most rows one matrix-vector product may have (d_out, n_classes)."""
        self.image: Any = None
        self.size = 0
        self.bad = 0  # phyff_model_check's *bad_offset
        # struct phyff_model_head
        self.magic = 0
        self.version = 0
        self.n_blocks = 0
        self.inference = 0
        self.n_features = 0
        self.n_classes = 0
        self.width = 0
        self.feature_offset = 0
        self.train_unit_id = 0
        self.input_exp = 0
        self.score_exp = 0
        self.overlay = 0
        self.readout_abs = 0
        # struct phyff_block_head, one entry per block
        mb = MODEL_MAX_BLOCKS
        self.encoder = array("i", [0] * mb)
        self.flags = array("i", [0] * mb)
        self.d_in = array("i", [0] * mb)
        self.n_drive = array("i", [0] * mb)
        self.n_sense = array("i", [0] * mb)
        self.d_out = array("i", [0] * mb)
        self.in_exp = array("i", [0] * mb)
        self.out_exp = array("i", [0] * mb)
        self.shift_p = array("i", [0] * mb)
        self.shift_h = array("i", [0] * mb)
        self.shift_b = array("i", [0] * mb)
        self.shift_out = array("i", [0] * mb)
        self.settle_us = array("I", [0] * mb)
        self.oversample = array("i", [0] * mb)
        self.readout_shift = array("i", [0] * mb)
        self.n_rows = array("i", [0] * mb)  # the head's `rows` (M-R1): 0 plain
        self.block_at = array("I", [0] * mb)  # offset of W of block k
        self.slots_at = array("I", [0] * mb)  # offset of block k's slot map (M-R1)
        # struct phyff_code_head (M-L1)
        self.code_gain = 0
        self.code_reserved = 0
        self.code_at = 0
        # the description section (M-D1): where it starts and its bytes (0: none)
        self.describe_at = 0
        self.describe_size = 0
        # struct phyff_readout_head
        self.r_n_in = 0
        self.r_n_classes = 0
        self.r_shift_b = 0
        self.r_shift_out = 0
        self.r_refit_samples = 0
        self.readout_at = 0
        self.trace_values = 0
        self.readout_width = 0
        # scratch of the viper helpers: [at, n, voff, lo, hi, stride, rows, mode]
        self.prm = array("i", [0] * 8)
        self.rows = rows
        self.sums = array("i", [0] * (2 * rows))  # _matvec: (lo, hi) per row
        self.accs = [0] * rows  # a row's exact sum (a Python int: may pass 2^31)

    def share_rows(self, other: "View") -> None:
        """Use other's row-sum scratch (one of two views runs the pipeline at a time)."""
        self.rows = other.rows
        self.sums = other.sums
        self.accs = other.accs

    def clear(self) -> None:
        """memset(view, 0): the head fields a reply reads (MODEL_INFO) and where the
        read-out starts back to 0, as after the C's memset."""
        self.image = None
        self.readout_at = 0
        self.size = 0
        self.n_blocks = 0
        self.inference = 0
        self.n_features = 0
        self.n_classes = 0
        self.train_unit_id = 0
        self.input_exp = 0
        self.score_exp = 0
        self.trace_values = 0
        self.readout_width = 0
        self.describe_at = 0
        self.describe_size = 0

    def head_unpack(self, img: "Any") -> None:
        """phyff_model_head_unpack (the names stay in the image: offsets 24, 40, 56)."""
        self.magic = _u32(img, 0)
        self.version = _u16(img, 4)
        self.n_blocks = img[6]
        self.inference = img[7]
        self.n_features = _u16(img, 8)
        self.n_classes = _u16(img, 10)
        self.width = _u16(img, 12)
        self.feature_offset = _u16(img, 14)
        self.train_unit_id = _u32(img, 16)
        self.input_exp = _s8(img[20])
        self.score_exp = _s8(img[21])
        self.overlay = img[22]
        self.readout_abs = img[23]

    def block_unpack(self, img: "Any", at: int, k: int) -> None:
        """phyff_block_head_unpack into entry k."""
        self.encoder[k] = img[at]
        self.flags[k] = img[at + 1]
        self.d_in[k] = _u16(img, at + 2)
        self.n_drive[k] = _u16(img, at + 4)
        self.n_sense[k] = _u16(img, at + 6)
        self.d_out[k] = _u16(img, at + 8)
        self.in_exp[k] = _s8(img[at + 10])
        self.out_exp[k] = _s8(img[at + 11])
        self.shift_p[k] = img[at + 12]
        self.shift_h[k] = img[at + 13]
        self.shift_b[k] = img[at + 14]
        self.shift_out[k] = img[at + 15]
        self.settle_us[k] = _u32(img, at + 16)
        self.oversample[k] = _u16(img, at + 20)
        self.readout_shift[k] = img[at + 22]
        self.n_rows[k] = img[at + 23]

    def code_unpack(self, img: "Any", at: int) -> None:
        """phyff_code_head_unpack (M-L1)."""
        self.code_gain = _u16(img, at)
        self.code_reserved = _u16(img, at + 2)

    def readout_unpack(self, img: "Any", at: int) -> None:
        """phyff_readout_head_unpack."""
        self.r_n_in = _u16(img, at)
        self.r_n_classes = _u16(img, at + 2)
        self.r_shift_b = img[at + 4]
        self.r_shift_out = img[at + 5]
        self.r_refit_samples = _u16(img, at + 6)


# ---- checks (M-V1-V6) ---------------------------------------------------------------


def _exp_ok(e: int) -> bool:
    return -EXP_LIMIT <= e <= EXP_LIMIT


def _drive_width(encoder: int, d_in: int) -> int:
    two = encoder == ENC_BINARY2 or encoder == ENC_BINARY2_UNIFORM
    return 2 * d_in if two else d_in


def block_rows(v: View, k: int) -> int:
    """phyff_block_rows: device rows per sample of block k (M-R1)."""
    r = v.n_rows[k]
    return 1 if r == 0 else r


def block_drive_width(v: View, k: int) -> int:
    """phyff_block_drive_width: drive values block k's encoder writes (M-R1)."""
    return _drive_width(v.encoder[k], v.d_in[k])


def sensed_width(v: View, k: int) -> int:
    """Sensed values of one pass through block k (M-R3)."""
    return block_rows(v, k) * v.n_sense[k]


def _z_width(v: View, k: int) -> int:
    z = 0
    if v.flags[k] & BLOCK_PHYSICAL:
        z += sensed_width(v, k)
    if v.flags[k] & BLOCK_SKIP:
        z += v.d_in[k]
    return z


def _block_work(v: View, k: int) -> int:
    """Scratch of one block: h in, drive, p, y out (int16 values; M-R3)."""
    drive = v.n_drive[k] if v.n_rows[k] == 0 else block_drive_width(v, k)
    return v.d_in[k] + drive + sensed_width(v, k) + v.d_out[k]


def infer_slot(v: View, k: int, r: int, j: int) -> int:
    """phyff_infer_slot: the drive value channel j takes in row r of block k (M-R1)."""
    if v.n_rows[k] == 0:
        return j
    return _u16(v.image, v.slots_at[k] + 2 * (r * v.n_drive[k] + j))


def model_work_values(v: View) -> int:
    """phyff_model_work_values: scratch values (int16) the pipeline needs per sample."""
    need = v.width
    for k in range(v.n_blocks):
        w = _block_work(v, k)
        if w > need:
            need = w
    return need


def _refuse(v: View, off: int) -> int:
    v.bad = off
    return ERR_BAD_MODEL


def _check_block(v: View, k: int, at: int, d_in: int, in_exp: int, lim: Limits) -> int:
    """check_block(): OK, or BAD_MODEL with v.bad = the refused field's offset."""
    if v.encoder[k] > ENC_CLIP:
        return _refuse(v, at + 0)
    flags = v.flags[k]
    if (flags & ~(BLOCK_PHYSICAL | BLOCK_SKIP)) != 0 or flags == 0:
        return _refuse(v, at + 1)
    # the scratch rule is reported at d_in, so it is checked with it (first
    # refused field in image order, even when a later field is also bad)
    if v.d_in[k] != d_in or d_in == 0 or _block_work(v, k) > lim.work_values:
        return _refuse(v, at + 2)
    physical = (flags & BLOCK_PHYSICAL) != 0
    rows = v.n_rows[k]
    if ((rows == 0 and v.n_drive[k] != _drive_width(v.encoder[k], v.d_in[k]))
            or (rows != 0 and v.n_drive[k] < 1)
            or (physical and v.n_drive[k] > lim.n_drive)):
        return _refuse(v, at + 4)
    if physical and (v.n_sense[k] < 1 or v.n_sense[k] > lim.n_sense):
        return _refuse(v, at + 6)
    if v.d_out[k] < 1:
        return _refuse(v, at + 8)
    if v.in_exp[k] != in_exp:
        return _refuse(v, at + 10)
    if not _exp_ok(v.out_exp[k]):
        return _refuse(v, at + 11)
    if v.shift_p[k] > SHIFT_SEGMENT_MAX:
        return _refuse(v, at + 12)
    if v.shift_h[k] > SHIFT_SEGMENT_MAX:
        return _refuse(v, at + 13)
    if v.shift_b[k] > SHIFT_BIAS_MAX:
        return _refuse(v, at + 14)
    if v.shift_out[k] > SHIFT_OUT_MAX:
        return _refuse(v, at + 15)
    if physical and v.settle_us[k] > lim.max_settle_us:
        return _refuse(v, at + 16)
    if physical and (v.oversample[k] < 1 or v.oversample[k] > lim.max_oversample):
        return _refuse(v, at + 20)
    if v.readout_shift[k] > SHIFT_SEGMENT_MAX:
        return _refuse(v, at + 22)
    if rows > MODEL_MAX_ROWS or (rows != 0 and not physical):
        return _refuse(v, at + 23)
    return OK


def _check_describe(v: View, image: "Any", at: int, size: int) -> int:
    """check_describe(): the structure of the section image[at:size] (M-D1-D3)."""
    if at > size:
        return _refuse(v, size)  # the layout itself runs past the end (M-V5)
    rest = size - at
    if rest < 4 or _u32(image, at) != DESCRIBE_MAGIC:
        return _refuse(v, size)
    if rest < DESCRIBE_HEAD_SIZE:
        return _refuse(v, size)
    if _u32(image, at + 4) != rest:
        return _refuse(v, at + 4)
    nf = _u16(image, at + 8)
    if nf != v.n_features:
        return _refuse(v, at + 8)
    if _u16(image, at + 10) != v.n_classes:
        return _refuse(v, at + 10)
    flags = image[at + 12]
    if flags & ~(DESCRIBE_CLIP | DESCRIBE_FEATURE_NAMES):
        return _refuse(v, at + 12)
    if image[at + 13] != 0:
        return _refuse(v, at + 13)
    p = at + DESCRIBE_HEAD_SIZE
    if p + 8 * nf > size:
        return _refuse(v, size)
    p += 8 * nf
    names = v.n_classes + (nf if flags & DESCRIBE_FEATURE_NAMES else 0)
    for _ in range(names):
        start = p
        while p < size and image[p] != 0:
            p += 1
        if p == size:
            return _refuse(v, start)
        p += 1
    if p != size:
        return _refuse(v, p)
    return OK


def model_check(image: "Any", size: int, lim: Limits, v: View) -> int:
    """phyff_model_check: OK, BAD_MODEL or WRONG_BOARD, with v.bad = the field's offset.

    image[0:size] is checked against M-V1-V6 in image order; on OK the view
    describes it (v.image is image).
    """
    v.clear()
    v.bad = 0
    if size < MODEL_HEAD_SIZE:
        return _refuse(v, size)
    v.head_unpack(image)
    if v.magic != MODEL_MAGIC:
        return _refuse(v, 0)
    if v.version != MODEL_VERSION:
        return _refuse(v, 4)
    if v.n_blocks < 1 or v.n_blocks > MODEL_MAX_BLOCKS:
        return _refuse(v, 6)
    if v.inference > INFERENCE_GOODNESS:
        return _refuse(v, 7)
    if v.n_features < 1:
        return _refuse(v, 8)
    if v.n_classes < 2 or v.n_classes > lim.max_classes:
        return _refuse(v, 10)
    coded = v.overlay == OVERLAY_CODE
    slots = 0 if coded else v.n_classes
    if v.width < slots + v.n_features or v.width > lim.work_values:
        return _refuse(v, 12)
    if v.feature_offset < slots or v.feature_offset + v.n_features > v.width:
        return _refuse(v, 14)
    if not _exp_ok(v.input_exp):
        return _refuse(v, 20)
    if not _exp_ok(v.score_exp):
        return _refuse(v, 21)
    if v.overlay > OVERLAY_CODE:
        return _refuse(v, 22)
    if v.readout_abs > 1:
        return _refuse(v, 23)

    at = MODEL_HEAD_SIZE
    d_in = v.width
    in_exp = v.input_exp
    trace = 0
    readout_width = 0
    for k in range(v.n_blocks):
        if at + BLOCK_HEAD_SIZE > size:
            return _refuse(v, size)
        v.block_unpack(image, at, k)
        st = _check_block(v, k, at, d_in, in_exp, lim)
        if st != OK:
            return st
        if v.flags[k] & BLOCK_PHYSICAL:
            trace += sensed_width(v, k)
        readout_width += v.d_out[k]
        v.block_at[k] = at + BLOCK_HEAD_SIZE
        at += BLOCK_HEAD_SIZE + 2 * (v.d_out[k] * _z_width(v, k) + 2 * v.d_out[k])
        v.slots_at[k] = 0
        if v.n_rows[k] != 0:  # M-R1: the slot map, every entry < the drive width
            n = v.n_rows[k] * v.n_drive[k]
            if at + 2 * n > size:
                return _refuse(v, size)
            w = block_drive_width(v, k)
            for i in range(n):
                if _u16(image, at + 2 * i) >= w:
                    return _refuse(v, at + 2 * i)
            v.slots_at[k] = at
            at += 2 * n
        d_in = v.d_out[k]
        in_exp = v.out_exp[k]
    if v.inference == INFERENCE_ONEPASS:
        if at + READOUT_HEAD_SIZE > size:
            return _refuse(v, size)
        v.readout_unpack(image, at)
        if v.r_n_in != readout_width:
            return _refuse(v, at + 0)
        if v.r_n_classes != v.n_classes:
            return _refuse(v, at + 2)
        if v.r_shift_b > SHIFT_BIAS_MAX:
            return _refuse(v, at + 4)
        if v.r_shift_out > SHIFT_OUT_MAX:
            return _refuse(v, at + 5)
        if v.r_refit_samples > MODEL_MAX_REFIT_SAMPLES:
            return _refuse(v, at + 6)
        v.readout_at = at + READOUT_HEAD_SIZE
        at += READOUT_HEAD_SIZE + 2 * (v.n_classes * readout_width + v.n_classes)
    else:
        trace *= v.n_classes
    v.code_at = 0
    if coded:  # M-L1: the code section ends the image
        if at + CODE_HEAD_SIZE > size:
            return _refuse(v, size)
        v.code_unpack(image, at)
        if v.code_gain > CODE_GAIN_MAX:
            return _refuse(v, at)
        if v.code_reserved != 0:
            return _refuse(v, at + 2)
        at += CODE_HEAD_SIZE
        n = v.n_classes * v.n_features
        if at + n > size:
            return _refuse(v, size)
        for i in range(n):
            c = image[at + i]
            if c != 1 and c != 0xFF:
                return _refuse(v, at + i)
        v.code_at = at
        at += n
    if at != size:  # M-D1: a description section, or a size fault (M-V5)
        st = _check_describe(v, image, at, size)
        if st != OK:
            return st
        v.describe_at = at
        v.describe_size = size - at
    if trace > 0xFFFF:
        return _refuse(v, 6)
    v.trace_values = trace
    v.readout_width = readout_width
    if v.train_unit_id != lim.unit_id:
        v.bad = 16
        return ERR_WRONG_BOARD
    for i in range(NAME_SIZE):
        if image[56 + i] != lim.medium[i]:
            v.bad = 56
            return ERR_WRONG_BOARD
    v.image = image
    v.size = size
    return OK


# ---- fixed.h helpers on Python ints ------------------------------------------------


@micropython.native
def isqrt_u64(x: int) -> int:
    """phyff_isqrt_u64: floor(sqrt(x)), the same digit-by-digit method.

    The first bit is found upwards from 1 (the C walks down from 2^62, not a
    small int on MicroPython): the same power of 4, so the same result.
    """
    res = 0
    bit = 1
    while bit <= x >> 2:
        bit <<= 2
    while bit != 0:
        if x >= res + bit:
            x -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    return res


def round_shift(acc: int, s: int) -> int:
    """round_shift(): add half, floor (fixed.h FX-F3); s = 0 leaves acc as it is."""
    if s == 0:
        return acc
    return (acc + (1 << (s - 1))) >> s


# ---- viper kernels -----------------------------------------------------------------


@micropython.viper
def _dot_image(img: ptr8, vec: ptr16, prm: ptr32, mode: int) -> int:
    """Sum of image int16 weights (from byte prm[_AT]) times vec[prm[_VOFF]:][:prm[_N]].

    mode 0: vec as it is; 1: |vec| with -32768 -> 32767 (read-out of |y|);
    2: |vec| with -32768 -> 32768 (abs16, goodness). The exact sum is
    prm[_HI] * 65536 + prm[_LO].
    """
    at = prm[0]
    n = prm[1]
    voff = prm[2]
    lo = 0
    hi = 0
    j = 0
    while j < n:
        w = img[at] | (img[at + 1] << 8)
        if w & 0x8000:
            w -= 0x10000
        x = vec[voff + j]
        if x & 0x8000:
            x -= 0x10000
        if mode != 0 and x < 0:
            x = 0 - x
            if mode == 1 and x == 32768:
                x = 32767
        p = w * x
        lo += p & 0xFFFF
        hi += p >> 16
        at += 2
        j += 1
    prm[3] = lo
    prm[4] = hi
    return 0


@micropython.viper
def _matvec(img: ptr8, vec: ptr16, prm: ptr32, out: ptr32) -> int:
    """_dot_image for prm[_ROWS] rows of weights prm[_STRIDE] bytes apart.

    Row i's sum is out[2i + 1] * 65536 + out[2i]; the mode is prm[_MODE].
    One call per matrix instead of one per row: the rows run in machine code.
    """
    at0 = prm[0]
    n = prm[1]
    voff = prm[2]
    stride = prm[5]
    rows = prm[6]
    mode = prm[7]
    i = 0
    while i < rows:
        at = at0 + i * stride
        lo = 0
        hi = 0
        j = 0
        while j < n:
            w = img[at] | (img[at + 1] << 8)
            if w & 0x8000:
                w -= 0x10000
            x = vec[voff + j]
            if x & 0x8000:
                x -= 0x10000
            if mode != 0 and x < 0:
                x = 0 - x
                if mode == 1 and x == 32768:
                    x = 32767
            p = w * x
            lo += p & 0xFFFF
            hi += p >> 16
            at += 2
            j += 1
        out[2 * i] = lo
        out[2 * i + 1] = hi
        i += 1
    return rows


@micropython.viper
def _sum_squares(vec: ptr16, prm: ptr32) -> int:
    """Sum of vec[prm[_VOFF]:][:prm[_N]] squared: prm[_HI] * 65536 + prm[_LO]."""
    n = prm[1]
    voff = prm[2]
    lo = 0
    hi = 0
    j = 0
    while j < n:
        x = vec[voff + j]
        if x & 0x8000:
            x -= 0x10000
        p = x * x
        lo += p & 0xFFFF
        hi += p >> 16
        j += 1
    prm[3] = lo
    prm[4] = hi
    return 0


@micropython.native
def _dot(v: View, at: int, vec: "Any", voff: int, n: int, mode: int) -> int:
    prm = v.prm
    prm[_AT] = at
    prm[_N] = n
    prm[_VOFF] = voff
    _dot_image(v.image, vec, prm, mode)
    return (prm[_HI] << 16) + prm[_LO]


@micropython.native
def _rows(v: View, at: int, vec: "Any", n: int, stride: int, rows: int, mode: int) -> None:
    """Row sums of a weight matrix (rows x n, rows stride bytes apart) times vec, in v.sums."""
    prm = v.prm
    prm[_AT] = at
    prm[_N] = n
    prm[_VOFF] = 0
    prm[_STRIDE] = stride
    prm[_ROWS] = rows
    prm[_MODE] = mode
    _matvec(v.image, vec, prm, v.sums)


@micropython.native
def _squares(v: View, vec: "Any", n: int) -> int:
    prm = v.prm
    prm[_N] = n
    prm[_VOFF] = 0
    _sum_squares(vec, prm)
    return (prm[_HI] << 16) + prm[_LO]


def _weight(v: View, at: int) -> int:
    return _s16(_u16(v.image, at))


# ---- pipeline (M-P1-P7) --------------------------------------------------------------


@micropython.native
def infer_layout(v: View, src: "Any", off: int, label: int, h: "Any") -> bool:
    """M-P1-P2: h (width values) from the features at src[off:] (LE int16) and label.

    label -1: the neutral overlay. Returns True when the overlay value saturated.
    """
    for j in range(v.width):
        h[j] = 0
    top = 0
    fo = v.feature_offset
    for j in range(v.n_features):
        x = _s16(src[off + 2 * j] | (src[off + 2 * j + 1] << 8))
        h[fo + j] = x
        a = -x if x < 0 else x
        if a > top:
            top = a
    sat = top > 32767
    if sat:
        top = 32767
    if v.overlay == OVERLAY_CODE:  # M-L2
        c = v.n_classes
        nf = v.n_features
        img = v.image
        code_at = v.code_at
        scaled = top * v.code_gain
        a = (scaled + 128) >> 8
        den = 256 * c
        for j in range(nf):
            if label < 0:
                s = 0
                for k in range(c):
                    s += _s8(img[code_at + k * nf + j])
                num = 2 * scaled * s + den
                add = num // (2 * den)  # div_round: floor((2n + d) / (2d))
            else:
                add = a * _s8(img[code_at + label * nf + j])
            t = h[fo + j] + add
            if t > 32767 or t < -32768:
                sat = True
            h[fo + j] = 32767 if t > 32767 else (-32768 if t < -32768 else t)
        return sat
    if label < 0:
        c = v.n_classes
        share = (top + c // 2) // c
        for j in range(c):
            h[j] = share
    else:
        h[label] = top
    return sat


@micropython.native
def infer_encode(v: View, k: int, h: "Any", drive: "Any") -> None:
    """M-P3: drive (the drive width of Q15 values, M-R1) of block k from its input h (d_in)."""
    d = v.d_in[k]
    enc = v.encoder[k]
    if enc == ENC_AMPLITUDE:
        a = isqrt_u64(_squares(v, h, d))
        half = a // 2
        for j in range(d):
            x = h[j]
            val = 0
            if a != 0:
                val = ((-x if x < 0 else x) * 32768 + half) // a
            drive[j] = 32767 if val > 32767 else val
        return
    if enc == ENC_CLIP:
        e = v.in_exp[k]
        for j in range(d):
            val = h[j] << e if e >= 0 else round_shift(h[j], -e)
            drive[j] = 0 if val < 0 else (32767 if val > 32767 else val)
        return
    lo = h[0]
    hi = h[0]
    for j in range(1, d):
        if h[j] < lo:
            lo = h[j]
        if h[j] > hi:
            hi = h[j]
    span = hi - lo
    half = span // 2
    for j in range(d):
        dj = h[j] - lo
        if enc == ENC_PHASE:
            drive[j] = 0 if span == 0 else (dj * 32767 + half) // span
            continue
        msb = False
        lsb = False
        if span != 0:
            if enc == ENC_BINARY2:
                msb = 4 * dj > span
                lsb = (dj > 0 and 4 * dj <= span) or 4 * dj > 3 * span
            else:
                level = (4 * dj) // span
                if level > 3:
                    level = 3
                msb = level >= 2
                lsb = (level & 1) != 0
        drive[2 * j] = 32767 if msb else 0
        drive[2 * j + 1] = 32767 if lsb else 0


@micropython.native
def infer_affine(v: View, k: int, p: "Any", h: "Any", y: "Any") -> bool:
    """M-P5: y (d_out) of block k from p (rows x n_sense, physical blocks) and h (d_in).

    Returns True when an output saturated.
    """
    flags = v.flags[k]
    z = _z_width(v, k)
    w_at = v.block_at[k]
    d_out = v.d_out[k]
    b_at = w_at + 2 * d_out * z
    ns = sensed_width(v, k)
    d_in = v.d_in[k]
    sp = v.shift_p[k]
    sh = v.shift_h[k]
    sb = v.shift_b[k]
    so = v.shift_out[k]
    sat = False
    sums = v.sums
    accs = v.accs
    for i in range(d_out):
        accs[i] = 0
    at = w_at
    if flags & BLOCK_PHYSICAL:
        _rows(v, at, p, ns, 2 * z, d_out, 0)
        for i in range(d_out):
            accs[i] = ((sums[2 * i + 1] << 16) + sums[2 * i]) << sp
        at += 2 * ns
    if flags & BLOCK_SKIP:
        _rows(v, at, h, d_in, 2 * z, d_out, 0)
        for i in range(d_out):
            accs[i] += ((sums[2 * i + 1] << 16) + sums[2 * i]) << sh
    for i in range(d_out):
        acc = accs[i] + (_weight(v, b_at + 2 * i) << sb)
        r = round_shift(acc, so)
        if r > 32767 or r < -32768:
            sat = True
        y[i] = 32767 if r > 32767 else (-32768 if r < -32768 else r)
    return sat


@micropython.native
def infer_readout_add(v: View, k: int, y: "Any", acc: "Any") -> None:
    """M-P6 one-pass: add block k's read-out segment of y to acc (n_classes ints)."""
    col = 0
    for j in range(k):
        col += v.d_out[j]
    mode = 1 if v.readout_abs != 0 else 0
    d_out = v.d_out[k]
    rs = v.readout_shift[k]
    _rows(v, v.readout_at + 2 * col, y, d_out, 2 * v.readout_width, v.n_classes, mode)
    sums = v.sums
    for c in range(v.n_classes):
        acc[c] += ((sums[2 * c + 1] << 16) + sums[2 * c]) << rs


@micropython.native
def infer_readout_finish(v: View, acc: "Any", scores: "Any") -> bool:
    """M-P6 one-pass: scores (int32) from acc, the bias added here; True when one saturated."""
    rb_at = v.readout_at + 2 * v.n_classes * v.readout_width
    sat = False
    for c in range(v.n_classes):
        total = acc[c] + (_weight(v, rb_at + 2 * c) << v.r_shift_b)
        r = round_shift(total, v.r_shift_out)
        if r > 0x7FFFFFFF or r < -0x80000000:
            sat = True
        scores[c] = 0x7FFFFFFF if r > 0x7FFFFFFF else (-0x80000000 if r < -0x80000000 else r)
    return sat


@micropython.native
def infer_goodness(v: View, k: int, y: "Any") -> int:
    """M-P6 goodness: G_k of block k's output y, Q15 (cosine with xi, rounded half up)."""
    d_out = v.d_out[k]
    xi_at = v.block_at[k] + 2 * (d_out * _z_width(v, k) + d_out)
    num = _dot(v, xi_at, y, 0, d_out, 2)
    norm = isqrt_u64(_squares(v, y, d_out))
    if norm == 0:
        return 0
    return (2 * num + norm) // (2 * norm)  # div_round: floor((2n + d) / (2d))


@micropython.native
def argmax_s32(scores: "Any", n: int) -> int:
    """M-P7: the first index of the largest of n scores."""
    best = 0
    for i in range(1, n):
        if scores[i] > scores[best]:
            best = i
    return best
