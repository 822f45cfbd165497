"""Framing and constants of the phyff protocol (shared/include/phyff/wire.h).

Every number here is the C header's; a host test parses this file and
compares each ``const`` with the compiled C (no silent drift). Codec
functions work on caller-owned buffers and allocate nothing:

- ``crc16(buf, off, n, crc)``: CRC-16/CCITT-FALSE (W-W2), table-free like the C.
- ``crc32(buf, off, n, crc, st)``: CRC-32/ISO-HDLC (phyff_crc32) of model
  images, table-free, the register in two 16-bit halves (small ints on
  32-bit boards).
- ``cobs_encode(src, n, dst)`` / ``cobs_decode(src, n, dst, cap)``: the
  canonical COBS of wire.c (a block that reaches 254 bytes is closed with
  0xFF and no trailing empty block is emitted); decoding may run in place.
- ``frame_encode(raw, plen, ...)``: ``raw`` holds header space (8 bytes), the
  payload at offset 8 and room for the CRC; the whole frame, COBS-encoded and
  delimited, goes to ``out``.
- ``frame_decode(buf, n, max_payload)``: in place; returns the payload length,
  or minus the status code, after the checks of phyff_frame_decode in the
  same order.

Functions return ``-status`` on failure so that no tuple is ever built.
"""

import micropython
from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Viper's pointer types: a ptr8/ptr16/ptr32 argument takes any buffer.
    from array import array
    from typing import Any

    ptr8 = bytearray | memoryview
    ptr16 = array | memoryview
    ptr32 = array | memoryview

# ---- levels, sizes (wire.h) ---------------------------------------------------
PROTOCOL_LEVEL = const(5)
HEADER_SIZE = const(8)
CRC_SIZE = const(2)
CRC_INIT = const(0xFFFF)
MAX_PAYLOAD_LIMIT = const(65535)
NAME_SIZE = const(16)

# ---- enum phyff_cmd -----------------------------------------------------------
CMD_NONE = const(0x00)
CMD_HELLO = const(0x01)
CMD_CONFIGURE = const(0x02)
CMD_QUERY = const(0x03)
CMD_STATS = const(0x04)
CMD_RESET = const(0x05)
CMD_MODEL_BEGIN = const(0x10)
CMD_MODEL_CHUNK = const(0x11)
CMD_MODEL_COMMIT = const(0x12)
CMD_MODEL_INFO = const(0x13)
CMD_INFER = const(0x14)
CMD_MODEL_ERASE = const(0x15)
CMD_MODEL_DESCRIBE = const(0x16)  # level 5
CMD_LEARN = const(0x17)  # level 5: on-device learning (wire.h W-N1-N8)
CMD_REFIT = const(0x18)
CMD_FORGET = const(0x19)
CMD_EVENT = const(0x7F)

# ---- enum phyff_flag ----------------------------------------------------------
FLAG_REPLY = const(0x01)
FLAG_ERROR = const(0x02)
FLAG_EVENT = const(0x04)

# ---- enum phyff_event_id ------------------------------------------------------
EVENT_RESET = const(0x01)

# ---- enum phyff_status --------------------------------------------------------
OK = const(0)
ERR_BAD_CRC = const(1)
ERR_TRUNCATED = const(2)
ERR_TOO_LONG = const(3)
ERR_BAD_COBS = const(4)
ERR_BAD_LEVEL = const(5)
ERR_NO_SPACE = const(6)
ERR_EMPTY = const(7)
ERR_UNKNOWN_COMMAND = const(16)
ERR_BAD_PAYLOAD = const(17)
ERR_BATCH_TOO_LARGE = const(18)
ERR_BAD_CHANNELS = const(19)
ERR_BAD_CONFIG = const(20)
ERR_OVERRUN = const(21)
ERR_MEDIUM = const(22)
ERR_NOT_A_REQUEST = const(23)
ERR_NO_MODEL = const(24)
ERR_MODEL_TOO_LARGE = const(25)
ERR_LOAD_RANGE = const(26)
ERR_MODEL_CRC = const(27)
ERR_BAD_MODEL = const(28)
ERR_WRONG_BOARD = const(29)
ERR_NO_LOAD = const(30)
ERR_LEARN_FULL = const(31)
ERR_BAD_LABEL = const(32)
ERR_TOO_FEW = const(33)
ERR_SINGULAR = const(34)
ERR_NO_READOUT = const(35)
ERR_BAD_LAMBDA = const(36)
ERR_REFIT_OVERFLOW = const(37)
ERR_LEARN_TOO_LARGE = const(38)

# ---- enum phyff_feature -------------------------------------------------------
FEAT_SATURATION_FLAGS = const(0x0001)
FEAT_SETTLE = const(0x0002)
FEAT_OVERSAMPLE = const(0x0004)
FEAT_CHANNEL_SELECT = const(0x0008)
FEAT_INFER = const(0x0010)
FEAT_MODEL_PERSIST = const(0x0020)
FEAT_LEARN = const(0x0040)
FEAT_EMULATED = const(0x0100)

# ---- record sizes -------------------------------------------------------------
ERROR_SIZE = const(4)
EVENT_SIZE = const(4)
CAPS_SIZE = const(76)
CONFIG_SIZE = const(12)
QUERY_HEAD_SIZE = const(4)
STATS_SIZE = const(44)
MODEL_BEGIN_SIZE = const(8)
CHUNK_HEAD_SIZE = const(4)
INFER_HEAD_SIZE = const(8)
INFER_TRACE = const(0x0001)  # enum phyff_infer_flag: PHYFF_INFER_TRACE
MODEL_INFO_SIZE = const(80)
DESCRIBE_REQUEST_SIZE = const(8)  # level 5: MODEL_DESCRIBE
DESCRIBE_REPLY_SIZE = const(8)
LEARN_HEAD_SIZE = const(4)
REFIT_REPLY_SIZE = const(8)
REFIT_REQUEST_SIZE = const(2)
READOUT_REFIT = const(1)  # enum phyff_readout_origin: PHYFF_READOUT_REFIT

# ---- medium link (medium_link.h) ----------------------------------------------
MEDIUM_DESCRIBE = const(0x41)
MEDIUM_MEASURE = const(0x42)
MEDIUM_DESC_SIZE = const(28)
MEASURE_HEAD_SIZE = const(8)


def cobs_max_encoded(n: int) -> int:
    """PHYFF_COBS_MAX_ENCODED: one byte per 254 of input, plus one."""
    return n + n // 254 + 1


def wire_max_frame(n: int) -> int:
    """PHYFF_WIRE_MAX_FRAME: a whole frame for an n-byte payload, delimiter included."""
    return cobs_max_encoded(HEADER_SIZE + n + CRC_SIZE) + 1


# ---- little-endian fields (W-W3) ------------------------------------------------


def get_u16(b: bytearray, off: int) -> int:
    return b[off] | (b[off + 1] << 8)


def get_u32(b: bytearray, off: int) -> int:
    return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)


def put_u16(b: bytearray, off: int, v: int) -> None:
    b[off] = v & 0xFF
    b[off + 1] = (v >> 8) & 0xFF


def put_u32(b: bytearray, off: int, v: int) -> None:
    b[off] = v & 0xFF
    b[off + 1] = (v >> 8) & 0xFF
    b[off + 2] = (v >> 16) & 0xFF
    b[off + 3] = (v >> 24) & 0xFF


# ---- records (wire.h structs, explicit little-endian) ------------------------------


def put_pair(b: bytearray, off: int, first: int, second: int) -> None:
    """struct phyff_error (status, arg), phyff_event (event, arg), phyff_query_head."""
    put_u16(b, off, first)
    put_u16(b, off + 2, second)


def put_config(b: bytearray, off: int, settle_us: int, oversample: int, n_drive_active: int,
               n_sense_active: int, reserved: int) -> None:
    put_u32(b, off, settle_us)
    put_u16(b, off + 4, oversample)
    put_u16(b, off + 6, n_drive_active)
    put_u16(b, off + 8, n_sense_active)
    put_u16(b, off + 10, reserved)


def put_stats(b: bytearray, off: int, counters: "Any") -> None:
    """struct phyff_stats from its eleven counters, in field order (W-T1-T11)."""
    for k in range(STATS_SIZE // 4):
        put_u32(b, off + 4 * k, counters[k])


def put_name(b: bytearray, off: int, name: str) -> None:
    """A NUL-padded name field: at most NAME_SIZE bytes, stops at a NUL (copy_name)."""
    raw = name.encode()
    end = False
    for i in range(NAME_SIZE):
        if i >= len(raw) or raw[i] == 0:
            end = True
        b[off + i] = 0 if end else raw[i]


def put_caps(b: bytearray, off: int, level: int, features: int, firmware_version: int,
             unit_id: int, max_batch: int, max_payload: int, n_drive: int, n_sense: int,
             dac_bits: int, adc_bits: int, max_oversample: int, board: str,
             medium: str, max_settle_us: int, model_capacity: int = 0, model_crc: int = 0,
             model_loaded: int = 0, max_classes: int = 0, infer_work: int = 0) -> None:
    """struct phyff_caps (reserved0, reserved1, reserved2 = 0)."""
    b[off] = level
    b[off + 1] = 0
    put_u16(b, off + 2, features)
    put_u32(b, off + 4, firmware_version)
    put_u32(b, off + 8, unit_id)
    put_u16(b, off + 12, max_batch)
    put_u16(b, off + 14, max_payload)
    put_u16(b, off + 16, n_drive)
    put_u16(b, off + 18, n_sense)
    b[off + 20] = dac_bits
    b[off + 21] = adc_bits
    put_u16(b, off + 22, max_oversample)
    put_name(b, off + 24, board)
    put_name(b, off + 40, medium)
    put_u32(b, off + 56, max_settle_us)
    put_caps_model(b, off, model_capacity, model_crc, model_loaded)
    put_caps_limits(b, off, max_classes, infer_work)


def put_caps_limits(b: bytearray, off: int, max_classes: int, infer_work: int) -> None:
    """The level-4 tail of struct phyff_caps: the on-device limits a model must fit."""
    put_u16(b, off + 72, max_classes)
    put_u16(b, off + 74, infer_work)


def put_caps_model(b: bytearray, off: int, model_capacity: int, model_crc: int,
                   model_loaded: int) -> None:
    """The level-3 tail of struct phyff_caps: the model memory and the model in force."""
    put_u32(b, off + 60, model_capacity)
    put_u32(b, off + 64, model_crc)
    b[off + 68] = model_loaded
    b[off + 69] = 0
    put_u16(b, off + 70, 0)


def put_model_info(b: bytearray, off: int, crc: int, image_size: int, train_unit_id: int,
                   n_features: int, n_classes: int, max_batch: int, max_batch_trace: int,
                   n_blocks: int, inference: int, input_exp: int, score_exp: int,
                   trace_values: int, names: "Any", names_off: int, origin: int = 0,
                   readout_origin: int = 0, readout_samples: int = 0) -> None:
    """struct phyff_model_info; names: 48 bytes at names[names_off:] (name, train_board,
    train_medium, as the image head holds them), or None for all zero."""
    put_u32(b, off, crc)
    put_u32(b, off + 4, image_size)
    put_u32(b, off + 8, train_unit_id)
    put_u16(b, off + 12, n_features)
    put_u16(b, off + 14, n_classes)
    put_u16(b, off + 16, max_batch)
    put_u16(b, off + 18, max_batch_trace)
    b[off + 20] = n_blocks
    b[off + 21] = inference
    b[off + 22] = input_exp & 0xFF
    b[off + 23] = score_exp & 0xFF
    put_u16(b, off + 24, trace_values)
    put_u16(b, off + 26, origin)
    for i in range(3 * NAME_SIZE):
        b[off + 28 + i] = names[names_off + i] if names is not None else 0
    put_u16(b, off + 76, readout_origin)  # level 5 (W-N6)
    put_u16(b, off + 78, readout_samples)


def put_refit_reply(b: bytearray, off: int, crc: int, samples: int, conditioning: int) -> None:
    """struct phyff_refit_reply (level 5)."""
    put_u32(b, off, crc)
    put_u16(b, off + 4, samples)
    put_u16(b, off + 6, conditioning)


def put_describe_request(b: bytearray, off: int, offset: int, max_bytes: int,
                         reserved: int) -> None:
    """struct phyff_describe_request (level 5)."""
    put_u32(b, off, offset)
    put_u16(b, off + 4, max_bytes)
    put_u16(b, off + 6, reserved)


def put_describe_reply(b: bytearray, off: int, section_size: int, offset: int) -> None:
    """struct phyff_describe_reply (level 5)."""
    put_u32(b, off, section_size)
    put_u32(b, off + 4, offset)


def check_level(level: int, cmd: int) -> int:
    """phyff_check_level: HELLO passes at any level (W-L4)."""
    if cmd == CMD_HELLO or level == PROTOCOL_LEVEL:
        return OK
    return ERR_BAD_LEVEL


# ---- CRC and COBS (viper: machine-word loops, no objects) ------------------------


@micropython.viper
def crc16(buf: ptr8, off: int, n: int, crc: int) -> int:
    """CRC-16/CCITT-FALSE of buf[off:off+n], continuing from crc (W-W2)."""
    i = off
    end = off + n
    while i < end:
        x = ((crc >> 8) ^ buf[i]) & 0xFF
        x ^= x >> 4
        crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
        i += 1
    return crc


@micropython.viper
def _crc32_bits(buf: ptr8, off: int, n: int, st: ptr32) -> int:
    """The CRC-32 register over buf[off:off+n], kept as two 16-bit halves in st.

    Halves keep every value a small int on 32-bit boards (no 0xEDB88320
    constant, no sign trouble with viper's signed machine words).
    """
    lo = st[0]
    hi = st[1]
    i = off
    end = off + n
    while i < end:
        lo ^= buf[i]
        k = 0
        while k < 8:
            lsb = lo & 1
            lo = (lo >> 1) | ((hi & 1) << 15)
            hi = hi >> 1
            if lsb:
                hi ^= 0xEDB8
                lo ^= 0x8320
            k += 1
        i += 1
    st[0] = lo
    st[1] = hi
    return n


def crc32(buf: "Any", off: int, n: int, crc: int, st: "Any") -> int:
    """phyff_crc32: CRC-32/ISO-HDLC of buf[off:off+n], continuing from crc.

    st is a caller-owned int32 array of two (the register's halves).
    Start with crc = 0; chained calls give the CRC of the concatenation.
    """
    c = crc ^ 0xFFFFFFFF
    st[0] = c & 0xFFFF
    st[1] = (c >> 16) & 0xFFFF
    _crc32_bits(buf, off, n, st)
    return ((st[1] << 16) | st[0]) ^ 0xFFFFFFFF


@micropython.viper
def cobs_encode(src: ptr8, n: int, dst: ptr8) -> int:
    """COBS-encode src[0:n] into dst (room for cobs_max_encoded(n)); returns its length."""
    code_at = 0
    out = 1
    code = 1
    closed = 0
    i = 0
    while i < n:
        b = src[i]
        i += 1
        if b == 0:
            dst[code_at] = code
            code_at = out
            out += 1
            code = 1
            closed = 0
            continue
        dst[out] = b
        out += 1
        code += 1
        if code == 0xFF:
            dst[code_at] = code
            code = 1
            if i < n:
                code_at = out
                out += 1
            else:
                closed = 1  # input ends on a full block: no trailing empty block
    if closed == 0:
        dst[code_at] = code
    return out


@micropython.viper
def cobs_decode(src: ptr8, n: int, dst: ptr8, cap: int) -> int:
    """COBS-decode src[0:n] into dst[0:cap] (dst may be src); length or -status."""
    if n == 0:
        return -7  # ERR_EMPTY
    i = 0
    out = 0
    while i < n:
        code = src[i]
        i += 1
        if code == 0:
            return -4  # ERR_BAD_COBS
        run = code - 1
        if run > n - i:
            return -4
        if run > cap - out:
            return -6  # ERR_NO_SPACE
        k = 0
        while k < run:
            b = src[i]
            i += 1
            if b == 0:
                return -4
            dst[out] = b
            out += 1
            k += 1
        if code != 0xFF and i < n:
            if out >= cap:
                return -6
            dst[out] = 0
            out += 1
    return out


@micropython.viper
def gather(data: ptr8, n: int, rx: ptr8, st: ptr32) -> int:
    """Frame reassembly (CORE-K1, CORE-K2) from data[st[0]:n] into rx; index of the delimiter, or n.

    st holds [position in data, rx_len, dropping, rx capacity] and is
    updated. Bytes past the capacity set the dropping flag: the frame is
    dropped up to its delimiter, like phyff_core_receive.
    """
    i = st[0]
    rx_len = st[1]
    dropping = st[2]
    cap = st[3]
    while i < n:
        b = data[i]
        if b == 0:
            break
        i += 1
        if dropping:
            continue
        if rx_len == cap:
            dropping = 1
            continue
        rx[rx_len] = b
        rx_len += 1
    st[0] = i
    st[1] = rx_len
    st[2] = dropping
    return i


@micropython.viper
def copy(dst: ptr8, off: int, src: ptr8, n: int) -> int:
    """dst[off:off+n] = src[0:n], without a slice object; returns n."""
    i = 0
    while i < n:
        dst[off + i] = src[i]
        i += 1
    return n


# ---- frames (W-W1, W-W4) ------------------------------------------------------------


def frame_encode(raw: bytearray, plen: int, level: int, seq: int, cmd: int, flags: int,
                 aux: int, out: bytearray) -> int:
    """Frame raw[8:8+plen] as a wire frame in out; returns its length or -status.

    raw must have room for HEADER_SIZE + plen + CRC_SIZE bytes: the header is
    written at raw[0:8] and the CRC after the payload, then the whole is
    COBS-encoded into out and the 0x00 delimiter appended.
    """
    if plen > MAX_PAYLOAD_LIMIT:
        return -ERR_TOO_LONG
    if len(out) < wire_max_frame(plen):
        return -ERR_NO_SPACE
    raw[0] = level
    raw[1] = seq
    raw[2] = cmd
    raw[3] = flags
    put_u16(raw, 4, plen)
    put_u16(raw, 6, aux)
    body = HEADER_SIZE + plen
    put_u16(raw, body, crc16(raw, 0, body, CRC_INIT))
    n = cobs_encode(raw, body + CRC_SIZE, out)
    out[n] = 0
    return n + 1


def frame_decode(buf: bytearray, n: int, max_payload: int) -> int:
    """Decode the frame body buf[0:n] in place; payload length, or -status.

    On success the header is buf[0:8] and the payload buf[8:8+length].
    Checks in the order of phyff_frame_decode: EMPTY, BAD_COBS, TRUNCATED,
    BAD_CRC, TRUNCATED/TOO_LONG against the length field, TOO_LONG against
    max_payload. The level is not checked (W-L4).
    """
    m = cobs_decode(buf, n, buf, n)
    if m < 0:
        return m
    if m < HEADER_SIZE + CRC_SIZE:
        return -ERR_TRUNCATED
    body = m - CRC_SIZE
    if crc16(buf, 0, body, CRC_INIT) != get_u16(buf, body):
        return -ERR_BAD_CRC
    length = get_u16(buf, 4)
    got = body - HEADER_SIZE
    if got < length:
        return -ERR_TRUNCATED
    if got > length:
        return -ERR_TOO_LONG
    if length > max_payload:
        return -ERR_TOO_LONG
    return length
