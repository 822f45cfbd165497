"""The board's behaviour (firmware/src/core/phyff_core.c), in MicroPython.

Same contracts as the C core (phyff_core.h CORE-K1-K11; wire.h W-C1-C5, W-F1-F3,
W-S1-S5, W-T1-T11, W-E1-E3, W-L1-L4, "On-device inference", W-N1-N8 "On-device
learning" through phyffmp/learn.py): the same replies, error
codes and arguments, statistics, events, saturation bitmap, code conversions
(CORE-K3), oversampling (CORE-K4) and, with a model memory (``model_bytes`` > 0, as
PHYFF_CORE_MODEL_BYTES), the model commands and INFER, byte for byte. The
structure mirrors phyff_core.c, helper for helper (``_refuse``,
``_refuse_frame``, ``_reply_error``, the ``_cmd_*`` functions, QUERY's
``_query_check``/``_query_drive``/``_query_measure``/``_query_sense`` steps,
INFER's ``_infer_check``/``_infer_measure``/``_infer_pass``, ``batch_limit``,
``_restore_model``), so the two are read side by side; the ADC-to-Q15 rule
(C ``sense_q15``) is inlined in ``sense_values`` and ``_infer_measure``, as a
call per value would cost MicroPython too much. All buffers are allocated once in ``Core.__init__``;
receiving, dispatching and answering a QUERY, configuration or model frame
allocate nothing (checked under ``micropython.heap_lock`` by the tests), so
the garbage collector never runs in the middle of a QUERY. INFER allocates
nothing on a 64-bit port; on a 32-bit board its sums may become long ints
(phyffmp/model.py).

A port is any object with these methods (port.h PORT-R2-R4):

- ``drive(dac, off, n) -> int``: apply dac[off:off+n] (DAC codes; n is the
  wired drive count, codes past the active count are 0); 0 or a fault;
- ``sense(adc, off, n) -> int``: read n ADC codes once into adc[off:off+n];
- ``delay_us(us)``;
- ``measure_batch``: None, or ``measure_batch(dac, n, nd, adc, ns, k, settle_us)
  -> int``, a whole QUERY at once (PORT-R3), for media across a link.

``write(buf, n)`` sends the first n bytes of buf to the host (PORT-R1).

Model storage (port.h PORT-R6) is a file, ``model_file``: written to a temporary
file and renamed over the old one on MODEL_COMMIT, removed on MODEL_ERASE,
read back and checked (model.h M-V1-V6) at start-up and at ``restart()``.
"""

import os
import time
from array import array

import micropython
from micropython import const

from phyffmp import learn as lm
from phyffmp.model import (
    BLOCK_PHYSICAL,
    INFERENCE_ONEPASS,
    Limits,
    View,
    argmax_s32,
    block_rows,
    infer_affine,
    infer_encode,
    infer_goodness,
    infer_layout,
    infer_readout_add,
    infer_readout_finish,
    infer_slot,
    model_check,
    sensed_width,
)
from phyffmp.wire import (
    CAPS_SIZE,
    CHUNK_HEAD_SIZE,
    CMD_CONFIGURE,
    CMD_EVENT,
    CMD_FORGET,
    CMD_HELLO,
    CMD_INFER,
    CMD_LEARN,
    CMD_MODEL_BEGIN,
    CMD_MODEL_CHUNK,
    CMD_MODEL_COMMIT,
    CMD_MODEL_DESCRIBE,
    CMD_MODEL_ERASE,
    CMD_MODEL_INFO,
    CMD_NONE,
    CMD_QUERY,
    CMD_REFIT,
    CMD_RESET,
    CMD_STATS,
    CONFIG_SIZE,
    CRC_SIZE,
    DESCRIBE_REPLY_SIZE,
    DESCRIBE_REQUEST_SIZE,
    ERR_BAD_CHANNELS,
    ERR_BAD_CONFIG,
    ERR_BAD_CRC,
    ERR_BAD_LABEL,
    ERR_BAD_LAMBDA,
    ERR_BAD_LEVEL,
    ERR_BAD_MODEL,
    ERR_BAD_PAYLOAD,
    ERR_BATCH_TOO_LARGE,
    ERR_LEARN_FULL,
    ERR_LEARN_TOO_LARGE,
    ERR_LOAD_RANGE,
    ERR_MEDIUM,
    ERR_MODEL_CRC,
    ERR_MODEL_TOO_LARGE,
    ERR_NO_LOAD,
    ERR_NO_MODEL,
    ERR_NO_READOUT,
    ERR_NOT_A_REQUEST,
    ERR_REFIT_OVERFLOW,
    ERR_SINGULAR,
    ERR_TOO_FEW,
    ERR_TOO_LONG,
    ERR_UNKNOWN_COMMAND,
    ERROR_SIZE,
    EVENT_RESET,
    EVENT_SIZE,
    FEAT_CHANNEL_SELECT,
    FEAT_INFER,
    FEAT_LEARN,
    FEAT_MODEL_PERSIST,
    FEAT_SATURATION_FLAGS,
    FEAT_SETTLE,
    FLAG_ERROR,
    FLAG_EVENT,
    FLAG_REPLY,
    HEADER_SIZE,
    INFER_HEAD_SIZE,
    INFER_TRACE,
    LEARN_HEAD_SIZE,
    MAX_PAYLOAD_LIMIT,
    MODEL_BEGIN_SIZE,
    MODEL_INFO_SIZE,
    NAME_SIZE,
    OK,
    PROTOCOL_LEVEL,
    QUERY_HEAD_SIZE,
    READOUT_REFIT,
    REFIT_REPLY_SIZE,
    REFIT_REQUEST_SIZE,
    STATS_SIZE,
    cobs_max_encoded,
    copy,
    crc32,
    frame_decode,
    frame_encode,
    gather,
    get_u16,
    get_u32,
    put_caps,
    put_caps_limits,
    put_caps_model,
    put_config,
    put_describe_reply,
    put_model_info,
    put_pair,
    put_refit_reply,
    put_stats,
    put_u16,
    put_u32,
    wire_max_frame,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Viper's pointer types: a ptr8/ptr16/ptr32 argument takes any buffer.
    from array import array
    from typing import Any

    ptr8 = bytearray | memoryview
    ptr16 = array | memoryview
    ptr32 = array | memoryview

# phyff_core.h
FIRMWARE_VERSION = const(0x000200)  # PHYFF_FIRMWARE_VERSION: major << 16 | minor << 8 | patch
CORE_MAX_SETTLE_US = const(1000000)  # PHYFF_CORE_MAX_SETTLE_US
CORE_MAX_PAYLOAD = const(1024)  # PHYFF_CORE_MAX_PAYLOAD default (a board config may change it)
CORE_MAX_CHANNELS = const(64)  # PHYFF_CORE_MAX_CHANNELS default
CORE_MODEL_BYTES = const(0)  # PHYFF_CORE_MODEL_BYTES default: no inference
CORE_MAX_CLASSES = const(32)  # PHYFF_CORE_MAX_CLASSES default
CORE_INFER_WORK = const(512)  # PHYFF_CORE_INFER_WORK default


# load_state (phyff_core.c)
LOAD_IDLE = const(0)
LOAD_BUSY = const(1)
LOAD_DONE = const(2)

# offsetof(struct phyff_config, field): BAD_CONFIG's argument (wire.h CONFIGURE);
# tests/test_micropython.py checks them against the compiled C.
CFG_SETTLE_US = const(0)
CFG_OVERSAMPLE = const(4)
CFG_N_DRIVE_ACTIVE = const(6)
CFG_N_SENSE_ACTIVE = const(8)
CFG_RESERVED = const(10)

# Indices into Core.stats, in struct phyff_stats order.
S_FRAMES_OK = const(0)
S_CRC_ERRORS = const(1)
S_FRAMING_ERRORS = const(2)
S_BAD_COMMANDS = const(3)
S_OVERRUNS = const(4)
S_SAMPLES_SERVED = const(5)
S_ERROR_REPLIES = const(6)
S_UPTIME_MS = const(7)
S_INFER_SAMPLES = const(8)
S_INFER_DIGITAL_US = const(9)
S_INFER_MEDIUM_US = const(10)
N_STATS = const(11)

_P = const(8)  # HEADER_SIZE: where payloads start in rx and raw


def sat_u16(v: int) -> int:
    """sat_u16(): sizes and offsets in error arguments saturate at 65535."""
    return 0xFFFF if v > 0xFFFF else v


def batch_limit(room: int, per_request: int, per_reply: int) -> int:
    """batch_limit(): the largest n whose request (n * per_request bytes) and
    reply (n * per_reply bytes and a ceil(n / 8)-byte bitmap) fit room,
    saturated at 65535; the batch-limit solver of QUERY and INFER."""
    n = room // per_request
    by_reply = (room * 8) // (8 * per_reply + 1)
    if by_reply < n:
        n = by_reply
    while n > 0 and n * per_reply + (n + 7) // 8 > room:
        n -= 1
    return sat_u16(n)


def max_batch(n_drive: int, n_sense: int, max_payload: int = CORE_MAX_PAYLOAD) -> int:
    """phyff_core_max_batch: largest QUERY batch for the full channel counts."""
    return batch_limit(max_payload - QUERY_HEAD_SIZE, 2 * n_drive, 2 * n_sense)


# ---- sample conversions (CORE-K3), viper ------------------------------------------------


# Viper functions take at most four arguments on older MicroPython releases,
# so the scalars of a conversion travel in a preallocated int32 array.
P_SRC = const(0)  # drive_codes: offset of the first Q15 value in src
P_COUNT = const(1)  # values to convert (n * channels)
P_ACTIVE = const(2)  # values per sample in the source (drive) or the reply (sense)
P_WIRED = const(3)  # codes per sample in dac (n_drive); unused for sense
P_SHIFT = const(4)  # 15 - bits
P_TOP = const(5)  # sense: the ADC's top code
P_OUT = const(6)  # sense: offset of the first Q15 value in out
P_BITMAP = const(7)  # offset of the saturation bitmap in out/raw


@micropython.viper
def drive_codes(src: ptr8, dac: ptr16, bitmap: ptr8, prm: ptr32) -> int:
    """Q15 drive values (LE, sample-major, P_ACTIVE per sample) -> DAC codes.

    Writes full rows of P_WIRED codes (inactive channels 0); a negative value
    is driven as 0 and flags its sample in the bitmap (CORE-K3).
    """
    off = prm[0]
    count = prm[1]
    n_active = prm[2]
    n_drive = prm[3]
    shift = prm[4]
    bm = prm[7]
    i = 0
    s = 0
    j = 0
    while i < count:
        v = src[off + 2 * i] | (src[off + 2 * i + 1] << 8)
        code = 0
        if v & 0x8000:
            bitmap[bm + (s >> 3)] = bitmap[bm + (s >> 3)] | (1 << (s & 7))
        else:
            code = v >> shift
        dac[s * n_drive + j] = code
        i += 1
        j += 1
        if j == n_active:
            while j < n_drive:
                dac[s * n_drive + j] = 0
                j += 1
            j = 0
            s += 1
    return s


@micropython.viper
def sense_values(adc: ptr16, out: ptr8, prm: ptr32) -> int:
    """ADC codes -> Q15 sense values (LE) in out; a code at the top flags its sample (CORE-K3)."""
    count = prm[1]
    n_sense = prm[2]
    shift = prm[4]
    top = prm[5]
    off = prm[6]
    bm = prm[7]
    i = 0
    s = 0
    j = 0
    while i < count:
        code = adc[i]
        if code > top:
            code = top
        if code == top:
            out[bm + (s >> 3)] = out[bm + (s >> 3)] | (1 << (s & 7))
        v = code << shift
        out[off + 2 * i] = v & 0xFF
        out[off + 2 * i + 1] = (v >> 8) & 0xFF
        i += 1
        j += 1
        if j == n_sense:
            j = 0
            s += 1
    return s


@micropython.viper
def copy_span(dst: ptr8, off: int, src: ptr8, prm: ptr32) -> int:
    """dst[off:off+prm[P_COUNT]] = src[prm[P_SRC]:...], without a slice object."""
    s = prm[0]
    n = prm[1]
    i = 0
    while i < n:
        dst[off + i] = src[s + i]
        i += 1
    return n


@micropython.viper
def zero(buf: ptr8, off: int, n: int) -> int:
    i = 0
    while i < n:
        buf[off + i] = 0
        i += 1
    return n


class Core:
    """One board: call ``announce()`` once the link is up, then ``receive()``."""

    def __init__(self, port: "Any", write: "Any", board: str, medium: str, unit_id: int,
                 features: int, n_drive: int, n_sense: int, dac_bits: int, adc_bits: int,
                 max_oversample: int, max_payload: int = CORE_MAX_PAYLOAD,
                 max_channels: int = CORE_MAX_CHANNELS, model_bytes: int = CORE_MODEL_BYTES,
                 max_classes: int = CORE_MAX_CLASSES, infer_work: int = CORE_INFER_WORK,
                 model_file: "str | None" = None) -> None:
        # phyff_core_init's checks; a refused description raises.
        if not (1 <= n_drive <= 65535 and 1 <= n_sense <= max_channels
                and 1 <= dac_bits <= 15 and 1 <= adc_bits <= 15 and max_oversample >= 1):
            raise ValueError("board description out of range")
        if not CAPS_SIZE <= max_payload <= MAX_PAYLOAD_LIMIT:
            raise ValueError("max_payload out of range")
        if not (0 <= model_bytes and 1 <= max_classes and 0 <= infer_work <= 16384
                and max_payload >= MODEL_INFO_SIZE):
            raise ValueError("inference limits out of range")
        if port.measure_batch is None and (port.drive is None or port.sense is None):
            raise ValueError("port has neither drive/sense nor measure_batch")
        mb = max_batch(n_drive, n_sense, max_payload)
        if mb < 1:
            raise ValueError("one sample must fit a frame")
        self.port = port
        self.write = write
        self.max_payload = max_payload
        self.n_drive = n_drive
        self.n_sense = n_sense
        self.dac_bits = dac_bits
        self.adc_bits = adc_bits
        self.max_oversample = max_oversample
        self.features = (features | FEAT_SATURATION_FLAGS) & 0xFFFF
        self.max_batch = mb
        self.max_settle_us = CORE_MAX_SETTLE_US if self.features & FEAT_SETTLE else 0
        self.caps = bytearray(CAPS_SIZE)
        put_caps(self.caps, 0, PROTOCOL_LEVEL, self.features, FIRMWARE_VERSION,
                 unit_id & 0xFFFFFFFF, mb, max_payload, n_drive, n_sense, dac_bits, adc_bits,
                 max_oversample, board, medium, self.max_settle_us)
        # The configuration in force (struct phyff_config).
        self.settle_us = 0
        self.oversample = 1
        self.n_drive_active = n_drive
        self.n_sense_active = n_sense
        self.stats = array("I", [0] * N_STATS)
        self.uptime_frac = 0
        self.last_ms = time.ticks_ms()
        # Buffers, as in struct phyff_core: rx holds a frame body (COBS-decoded
        # in place), raw a reply (header | payload | CRC), tx its encoding.
        self.rx = bytearray(cobs_max_encoded(HEADER_SIZE + max_payload + CRC_SIZE))
        # [position in the data being fed, rx_len, dropping, capacity]
        self.rx_state = array("i", [0, 0, 0, len(self.rx)])
        self.prm = array("i", [0] * 8)
        self.raw = bytearray(HEADER_SIZE + max_payload + CRC_SIZE)
        self.tx = bytearray(wire_max_frame(max_payload))
        self.dac = array("H", [0] * (mb * n_drive))
        self.adc = array("H", [0] * (mb * n_sense))
        self.acc = array("I", [0] * n_sense)
        self.prm_copy = array("i", [0] * 2)
        # On-device inference (PHYFF_CORE_MODEL_BYTES > 0): two model slots (the
        # model in force, the one being loaded), two views, per-sample scratch.
        self.model_bytes = model_bytes
        self.model_file = model_file
        self.active = 0
        self.loaded = False
        self.load_state = LOAD_IDLE
        self.model_crc = 0
        self.load_size = 0
        self.load_crc = 0
        self.load_received = 0
        if model_bytes > 0:
            self.features |= FEAT_INFER | FEAT_LEARN  # CORE-K11
            if model_file is not None and self._storage_works():
                self.features |= FEAT_MODEL_PERSIST
            else:
                self.model_file = None  # no storage: model_save/model_restore are NULL
            put_u16(self.caps, 2, self.features)
            self.model = (bytearray(model_bytes), bytearray(model_bytes))
            self.crc_st = array("i", [0, 0])
            # the DAC row of the full wired width shares the scratch (model_limits)
            work = infer_work - n_drive if infer_work > n_drive else 0
            # d_out <= the work values (M-V3), n_classes <= max_classes; only the view in
            # force runs the pipeline, so both views share its row sums
            self.view = View(max(work, max_classes))
            self.staging_view = View()
            self.staging_view.share_rows(self.view)
            put_caps_limits(self.caps, 0, max_classes, work)  # level 4
            self.limits = Limits(unit_id & 0xFFFFFFFF, self.caps[40:40 + NAME_SIZE], n_drive,
                                 n_sense, max_oversample, self.max_settle_us, max_classes,
                                 work)
            self.h = array("h", [0] * work)
            self.y = array("h", [0] * work)
            self.drive = array("h", [0] * work)
            self.p = array("h", [0] * max(n_sense, work))  # rows x n_sense (M-R3)
            self.idac = array("H", [0] * n_drive)
            self.iadc = array("H", [0] * n_sense)
            self.class_acc = [0] * max_classes
            self.scores = array("i", [0] * max_classes)
            self.goodness = 0
            self.trace_at = -1
            self.medium_us = 0
            # on-device learning (CORE-K11, wire.h W-N1-N8)
            self.learn_f = array("h", [0] * lm.LEARN_MAX_WIDTH)
            self.repeat_cmd = 0
            self.repeat_seq = 0
            self.refit_cond = 0
            self._learn_model_changed()
            self._restore_model()

    # ---- link side ------------------------------------------------------------

    def announce(self) -> None:
        """phyff_core_announce: the reset event (W-E1), at start-up and after RESET."""
        put_pair(self.raw, _P, EVENT_RESET, PROTOCOL_LEVEL)
        self._send_frame(0, CMD_EVENT, FLAG_EVENT, EVENT_SIZE)

    def restart(self) -> None:
        """The board's state as at power-up (a new start; the caller announces it).

        As after a power cycle, the model in force is what storage restores
        (nothing without storage) and a load in progress is gone.
        """
        self._default_config()
        for k in range(N_STATS):
            self.stats[k] = 0
        if self.model_bytes > 0:
            self.loaded = False
            self.model_crc = 0
            self.load_state = LOAD_IDLE
            self.view.clear()
            self._learn_model_changed()
            self.repeat_cmd = 0
            self._restore_model()
        self.last_ms = time.ticks_ms()
        self.rx_state[1] = 0
        self.rx_state[2] = 0

    def note_overrun(self) -> None:
        """phyff_core_note_overrun: a loss the link detected (W-T5)."""
        self.stats[S_OVERRUNS] += 1

    @micropython.native
    def receive(self, data: bytearray, n: int) -> None:
        """Feed n received bytes; every complete non-empty frame gets one reply (CORE-K1)."""
        st = self.rx_state
        rx = self.rx
        st[0] = 0
        while True:
            j = gather(data, n, rx, st)
            if j >= n:
                return
            # a delimiter
            if st[2]:
                self._tick()
                self._refuse_frame(ERR_TOO_LONG)  # CORE-K2
            elif st[1] != 0:
                self._handle_frame(st[1])
            # else: an empty frame, ignored (W-C5)
            st[1] = 0
            st[2] = 0
            st[0] = j + 1

    # ---- replies --------------------------------------------------------------

    def _send_frame(self, seq: int, cmd: int, flags: int, plen: int) -> None:
        n = frame_encode(self.raw, plen, PROTOCOL_LEVEL, seq, cmd, flags, 0, self.tx)
        if n > 0:
            self.write(self.tx, n)

    def _reply_error(self, seq: int, cmd: int, status: int, arg: int) -> None:
        put_pair(self.raw, _P, status, arg & 0xFFFF)
        self.stats[S_ERROR_REPLIES] += 1
        self._send_frame(seq, cmd, FLAG_REPLY | FLAG_ERROR, ERROR_SIZE)

    def _refuse(self, seq: int, cmd: int, status: int, arg: int) -> None:
        """refuse(): an intact request refused (W-S1-S4), counted as a bad command."""
        self.stats[S_BAD_COMMANDS] += 1
        self._reply_error(seq, cmd, status, arg)

    def _refuse_frame(self, status: int) -> None:
        """refuse_frame(): a frame that failed W-F1, answered by a seq-0 notice (W-F3)."""
        if status == ERR_BAD_CRC:
            self.stats[S_CRC_ERRORS] += 1
        else:
            self.stats[S_FRAMING_ERRORS] += 1
        self._reply_error(0, CMD_NONE, status, self.max_payload if status == ERR_TOO_LONG else 0)

    def _default_config(self) -> None:
        self.settle_us = 0
        self.oversample = 1
        self.n_drive_active = self.n_drive
        self.n_sense_active = self.n_sense

    def _tick(self) -> None:
        # Uptime from the millisecond tick; ticks_diff handles the port's wrap.
        now = time.ticks_ms()
        elapsed = time.ticks_diff(now, self.last_ms)
        self.last_ms = now
        if elapsed > 0:
            self.stats[S_UPTIME_MS] = (self.stats[S_UPTIME_MS] + elapsed) & 0xFFFFFFFF

    # ---- frames ---------------------------------------------------------------

    def _handle_frame(self, rx_len: int) -> None:
        self._tick()
        rx = self.rx
        length = frame_decode(rx, rx_len, self.max_payload)
        if length < 0:
            self._refuse_frame(-length)
            return
        self.stats[S_FRAMES_OK] += 1  # intact: its reply carries its seq (W-T1)
        seq = rx[1]
        cmd = rx[2]
        # W-N3: a LEARN or REFIT repeating the request that succeeded just before
        repeat = False
        if self.model_bytes > 0:
            repeat = self.repeat_cmd != 0 and self.repeat_cmd == cmd and self.repeat_seq == seq
            self.repeat_cmd = 0
        if rx[3] & (FLAG_REPLY | FLAG_EVENT):
            self._refuse(seq, cmd, ERR_NOT_A_REQUEST, 0)
            return
        if cmd != CMD_HELLO and rx[0] != PROTOCOL_LEVEL:
            self._refuse(seq, cmd, ERR_BAD_LEVEL, PROTOCOL_LEVEL)
            return
        if cmd == CMD_QUERY:
            self._cmd_query(seq, length)
        elif cmd == CMD_INFER and self.model_bytes > 0:
            self._cmd_infer(seq, length)
        elif cmd == CMD_HELLO:
            self._cmd_hello(seq)  # any payload is ignored
        elif cmd == CMD_CONFIGURE:
            self._cmd_configure(seq, length)
        elif cmd == CMD_STATS:
            self._cmd_stats(seq, length)
        elif cmd == CMD_RESET:
            self._cmd_reset(seq, length)
        elif cmd == CMD_MODEL_BEGIN and self.model_bytes > 0:
            self._cmd_model_begin(seq, length)
        elif cmd == CMD_MODEL_CHUNK and self.model_bytes > 0:
            self._cmd_model_chunk(seq, length)
        elif cmd == CMD_MODEL_COMMIT and self.model_bytes > 0:
            self._cmd_model_commit(seq, length)
        elif cmd == CMD_MODEL_INFO and self.model_bytes > 0:
            self._cmd_model_info(seq, length)
        elif cmd == CMD_MODEL_ERASE and self.model_bytes > 0:
            self._cmd_model_erase(seq, length)
        elif cmd == CMD_MODEL_DESCRIBE and self.model_bytes > 0:
            self._cmd_model_describe(seq, length)
        elif cmd == CMD_LEARN and self.model_bytes > 0:
            self._cmd_learn(seq, length, repeat)
        elif cmd == CMD_REFIT and self.model_bytes > 0:
            self._cmd_refit(seq, length, repeat)
        elif cmd == CMD_FORGET and self.model_bytes > 0:
            self._cmd_forget(seq, length)
        else:
            self._refuse(seq, cmd, ERR_UNKNOWN_COMMAND, 0)

    # ---- commands -------------------------------------------------------------

    def _cmd_hello(self, seq: int) -> None:
        if self.model_bytes > 0:
            put_caps_model(self.caps, 0, self.model_bytes,
                           self.model_crc if self.loaded else 0, 1 if self.loaded else 0)
        copy(self.raw, _P, self.caps, CAPS_SIZE)
        self._send_frame(seq, CMD_HELLO, FLAG_REPLY, CAPS_SIZE)

    def _cmd_stats(self, seq: int, length: int) -> None:
        if length != 0:
            self._refuse(seq, CMD_STATS, ERR_BAD_PAYLOAD, 0)
            return
        put_stats(self.raw, _P, self.stats)
        self._send_frame(seq, CMD_STATS, FLAG_REPLY, STATS_SIZE)

    def _cmd_reset(self, seq: int, length: int) -> None:
        if length != 0:
            self._refuse(seq, CMD_RESET, ERR_BAD_PAYLOAD, 0)
            return
        self._send_frame(seq, CMD_RESET, FLAG_REPLY, 0)  # the reply goes out first
        self.load_state = LOAD_IDLE  # a load in progress is dropped; the model stays
        self._default_config()
        stats = self.stats
        for k in range(N_STATS):
            stats[k] = 0
        self.announce()  # W-E1: state back to power-up defaults

    def _config_refusal(self, settle: int, k: int, nd: int, ns: int, reserved: int) -> int:
        """config_refusal(): offset of the first refused field, or -1 (record order)."""
        select = self.features & FEAT_CHANNEL_SELECT
        if settle > self.max_settle_us:
            return CFG_SETTLE_US
        if k < 1 or k > self.max_oversample:
            return CFG_OVERSAMPLE
        if nd < 1 or nd > self.n_drive or (not select and nd != self.n_drive):
            return CFG_N_DRIVE_ACTIVE
        if ns < 1 or ns > self.n_sense or (not select and ns != self.n_sense):
            return CFG_N_SENSE_ACTIVE
        if reserved != 0:
            return CFG_RESERVED
        return -1

    def _cmd_configure(self, seq: int, length: int) -> None:
        if length != 0 and length != CONFIG_SIZE:
            self._refuse(seq, CMD_CONFIGURE, ERR_BAD_PAYLOAD, CONFIG_SIZE)
            return
        if length == CONFIG_SIZE:
            rx = self.rx
            settle = get_u32(rx, _P + CFG_SETTLE_US)
            k = get_u16(rx, _P + CFG_OVERSAMPLE)
            nd = get_u16(rx, _P + CFG_N_DRIVE_ACTIVE)
            ns = get_u16(rx, _P + CFG_N_SENSE_ACTIVE)
            refused = self._config_refusal(settle, k, nd, ns, get_u16(rx, _P + CFG_RESERVED))
            if refused >= 0:
                self._refuse(seq, CMD_CONFIGURE, ERR_BAD_CONFIG, refused)
                return
            self.settle_us = settle
            self.oversample = k
            self.n_drive_active = nd
            self.n_sense_active = ns
        put_config(self.raw, _P, self.settle_us, self.oversample, self.n_drive_active,
                   self.n_sense_active, 0)
        self._send_frame(seq, CMD_CONFIGURE, FLAG_REPLY, CONFIG_SIZE)

    # ---- QUERY ------------------------------------------------------------------

    @micropython.native
    def _query_check(self, seq: int, length: int) -> int:
        """query_check(): the sample count, or -1 after refusing (wire.h QUERY order)."""
        rx = self.rx
        if length < QUERY_HEAD_SIZE:
            self._refuse(seq, CMD_QUERY, ERR_BAD_PAYLOAD, QUERY_HEAD_SIZE)
            return -1
        n = get_u16(rx, _P)
        nda = self.n_drive_active
        if get_u16(rx, _P + 2) != nda:
            self._refuse(seq, CMD_QUERY, ERR_BAD_CHANNELS, nda)
            return -1
        if n > self.max_batch:
            self._refuse(seq, CMD_QUERY, ERR_BATCH_TOO_LARGE, self.max_batch)
            return -1
        expect = QUERY_HEAD_SIZE + 2 * n * nda
        if length != expect:
            self._refuse(seq, CMD_QUERY, ERR_BAD_PAYLOAD, expect)
            return -1
        return n

    @micropython.native
    def _query_drive(self, n: int, bitmap: int) -> None:
        """query_drive(): Q15 drive values -> full rows of DAC codes in self.dac (CORE-K3)."""
        prm = self.prm
        prm[P_SRC] = _P + QUERY_HEAD_SIZE
        prm[P_COUNT] = n * self.n_drive_active
        prm[P_ACTIVE] = self.n_drive_active
        prm[P_WIRED] = self.n_drive
        prm[P_SHIFT] = 15 - self.dac_bits
        prm[P_BITMAP] = bitmap
        drive_codes(self.rx, self.dac, self.raw, prm)

    @micropython.native
    def _query_measure(self, dac: "Any", n: int, ns: int, k: int, settle: int,
                       adc: "Any") -> int:
        """query_measure(): n DAC rows -> ADC rows with the settings given (the
        config's fields: ns sense channels, oversample k, settle); 0, or
        non-zero for a medium fault. The port is not called for n = 0."""
        if n == 0:
            return 0
        port = self.port
        nd = self.n_drive
        if port.measure_batch is not None:
            return port.measure_batch(dac, n, nd, adc, ns, k, settle)
        return self._measure_each(port, dac, n, nd, adc, ns, k, settle)

    @micropython.native
    def _query_sense(self, n: int, bitmap: int) -> None:
        """query_sense(): ADC codes -> Q15 sense values in the reply (CORE-K3)."""
        prm = self.prm
        ns = self.n_sense_active
        prm[P_COUNT] = n * ns
        prm[P_ACTIVE] = ns
        prm[P_SHIFT] = 15 - self.adc_bits
        prm[P_TOP] = (1 << self.adc_bits) - 1
        prm[P_OUT] = _P + QUERY_HEAD_SIZE
        prm[P_BITMAP] = bitmap
        sense_values(self.adc, self.raw, prm)

    @micropython.native
    def _cmd_query(self, seq: int, length: int) -> None:
        n = self._query_check(seq, length)
        if n < 0:
            return
        ns = self.n_sense_active
        # Reply layout in raw: header | head | n x ns int16 | ceil(n/8) bitmap.
        raw = self.raw
        bitmap = _P + QUERY_HEAD_SIZE + 2 * n * ns
        bitmap_len = (n + 7) >> 3
        zero(raw, bitmap, bitmap_len)
        self._query_drive(n, bitmap)
        if self._query_measure(self.dac, n, ns, self.oversample, self.settle_us,
                               self.adc) != 0:
            # Not the request's fault: an ERROR reply, but no bad command.
            self._reply_error(seq, CMD_QUERY, ERR_MEDIUM, 0)
            return
        self._query_sense(n, bitmap)
        put_pair(raw, _P, n, ns)
        self.stats[S_SAMPLES_SERVED] += n
        self._send_frame(seq, CMD_QUERY, FLAG_REPLY, QUERY_HEAD_SIZE + 2 * n * ns + bitmap_len)

    @micropython.native
    def _measure_each(self, port: "Any", dac: "Any", n: int, nd: int, adc: "Any", ns: int,
                      k: int, settle: int) -> int:
        """measure_one() for every sample (CORE-K4): drive, settle, read k times, round half up."""
        acc = self.acc
        half = k >> 1
        for s in range(n):
            if port.drive(dac, s * nd, nd) != 0:
                return -1
            if settle:
                port.delay_us(settle)
            base = s * ns
            if k == 1:
                if port.sense(adc, base, ns) != 0:
                    return -1
                continue
            for j in range(ns):
                acc[j] = 0
            for _ in range(k):
                if port.sense(adc, base, ns) != 0:
                    return -1
                for j in range(ns):
                    acc[j] += adc[base + j]
            for j in range(ns):
                adc[base + j] = (acc[j] + half) // k
        return 0

    # ---- on-device inference (wire.h "On-device inference", model.h) ---------------

    def _storage_works(self) -> bool:
        """Whether the model file's folder takes a file (FEAT_MODEL_PERSIST)."""
        probe = self.model_file + ".probe"  # type: ignore[operator]
        try:
            with open(probe, "wb") as f:
                f.write(b"phyff")
            os.remove(probe)
            return True
        except OSError:
            return False

    def _model_save(self, image: "Any", n: int) -> int:
        """port.h PORT-R6 model_save: store image[0:n] (n = 0: erase); 0 when stored whole.

        A new image goes to a temporary file first, then replaces the old one
        by a rename, so a power cut leaves the old or the new image, never
        half of one. On filesystems whose rename will not replace a file
        (FAT), the old one is removed first; _model_restore then falls back
        to the temporary file if a power cut came in between.
        """
        path = self.model_file
        if path is None:
            return 0  # no storage: nothing to keep (model_save is NULL)
        tmp = path + ".tmp"
        try:
            if n == 0:
                for name in (path, tmp):
                    try:
                        os.remove(name)
                    except OSError:
                        pass
                return 0 if not _exists(path) else -1
            with open(tmp, "wb") as f:
                if f.write(memoryview(image)[:n]) != n:
                    return -1
            try:
                os.rename(tmp, path)
            except OSError:
                os.remove(path)
                os.rename(tmp, path)
            return 0
        except OSError:
            return -1

    def _model_restore_bytes(self, buf: bytearray) -> int:
        """PORT-R6 model_restore: the stored image into buf; its size, 0 when none or too big."""
        path = self.model_file
        if path is None:
            return 0
        for name in (path, path + ".tmp"):
            try:
                with open(name, "rb") as f:
                    n = f.readinto(buf)
                    if f.read(1):
                        return 0  # larger than the model memory
                    return n or 0
            except OSError:
                continue
        return 0

    def _restore_model(self) -> None:
        """restore_model(): a model kept across a power cycle, if it passes COMMIT's checks."""
        slot = self.model[0]
        n = self._model_restore_bytes(slot)
        if n == 0 or n > self.model_bytes:
            return
        view = self.view
        if model_check(slot, n, self.limits, view) != OK or self._infer_max_batch(view, 0) == 0:
            view.clear()  # the checks COMMIT makes
            return
        self.active = 0
        self.loaded = True
        self.model_crc = crc32(slot, 0, n, 0, self.crc_st)

    def _infer_max_batch(self, v: View, trace: int) -> int:
        """infer_max_batch(): largest INFER batch whose request and reply fit max_payload."""
        per_reply = 2 + 4 * v.n_classes
        if trace:
            per_reply += 2 * v.trace_values
        return batch_limit(self.max_payload - INFER_HEAD_SIZE, 2 * v.n_features, per_reply)

    def _reply_model_info(self, seq: int, cmd: int) -> None:
        """model_info() + reply_model_info(): struct phyff_model_info of the model in force."""
        v = self.view
        put_model_info(self.raw, _P, self.model_crc, v.size, v.train_unit_id, v.n_features,
                       v.n_classes, self._infer_max_batch(v, 0), self._infer_max_batch(v, 1),
                       v.n_blocks, v.inference, v.input_exp, v.score_exp, v.trace_values,
                       v.image, 24,  # the head's name, train_board, train_medium
                       0, READOUT_REFIT if self._refitted() else 0,
                       v.r_refit_samples if self._refitted() else 0)
        self._send_frame(seq, cmd, FLAG_REPLY, MODEL_INFO_SIZE)

    def _cmd_model_begin(self, seq: int, length: int) -> None:
        if length != MODEL_BEGIN_SIZE:
            self._refuse(seq, CMD_MODEL_BEGIN, ERR_BAD_PAYLOAD, MODEL_BEGIN_SIZE)
            return
        rx = self.rx
        size = get_u32(rx, _P)
        if size == 0 or size > self.model_bytes:
            self.load_state = LOAD_IDLE
            self._refuse(seq, CMD_MODEL_BEGIN, ERR_MODEL_TOO_LARGE, sat_u16(self.model_bytes))
            return
        self.load_state = LOAD_BUSY
        self.learn_ready = False  # W-N1: the chunks overwrite the statistics
        self.load_size = size
        self.load_crc = get_u32(rx, _P + 4)
        self.load_received = 0
        prm = self.prm_copy
        prm[0] = _P
        prm[1] = MODEL_BEGIN_SIZE
        copy_span(self.raw, _P, rx, prm)  # the same record back
        self._send_frame(seq, CMD_MODEL_BEGIN, FLAG_REPLY, MODEL_BEGIN_SIZE)

    def _cmd_model_chunk(self, seq: int, length: int) -> None:
        if length < CHUNK_HEAD_SIZE + 1:
            self._refuse(seq, CMD_MODEL_CHUNK, ERR_BAD_PAYLOAD, CHUNK_HEAD_SIZE + 1)
            return
        if self.load_state != LOAD_BUSY:
            self._refuse(seq, CMD_MODEL_CHUNK, ERR_NO_LOAD, 0)
            return
        rx = self.rx
        offset = get_u32(rx, _P)
        n = length - CHUNK_HEAD_SIZE
        if offset > self.load_received or offset + n > self.load_size:
            self._refuse(seq, CMD_MODEL_CHUNK, ERR_LOAD_RANGE, sat_u16(self.load_received))
            return
        prm = self.prm_copy
        prm[0] = _P + CHUNK_HEAD_SIZE
        prm[1] = n
        copy_span(self.model[1 - self.active], offset, rx, prm)
        if offset + n > self.load_received:
            self.load_received = offset + n
        put_u32(self.raw, _P, self.load_received)
        self._send_frame(seq, CMD_MODEL_CHUNK, FLAG_REPLY, CHUNK_HEAD_SIZE)

    def _cmd_model_commit(self, seq: int, length: int) -> None:
        if length != 0:
            self._refuse(seq, CMD_MODEL_COMMIT, ERR_BAD_PAYLOAD, 0)
            return
        if self.load_state == LOAD_DONE and self.loaded:  # a retried COMMIT (W-C3)
            self._reply_model_info(seq, CMD_MODEL_COMMIT)
            return
        if self.load_state != LOAD_BUSY:
            self._refuse(seq, CMD_MODEL_COMMIT, ERR_NO_LOAD, 0)
            return
        self.load_state = LOAD_IDLE  # whatever happens now, this load is over
        if self.load_received != self.load_size:
            self._refuse(seq, CMD_MODEL_COMMIT, ERR_LOAD_RANGE, sat_u16(self.load_received))
            return
        staging = 1 - self.active
        image = self.model[staging]
        if crc32(image, 0, self.load_size, 0, self.crc_st) != self.load_crc:
            self._refuse(seq, CMD_MODEL_COMMIT, ERR_MODEL_CRC, 0)
            return
        view = self.staging_view
        st = model_check(image, self.load_size, self.limits, view)
        if st == OK and self._infer_max_batch(view, 0) == 0:
            self._refuse(seq, CMD_MODEL_COMMIT, ERR_BAD_MODEL, 8)  # one sample must fit a frame
            return
        if st != OK:
            self._refuse(seq, CMD_MODEL_COMMIT, st, sat_u16(view.bad))
            return
        if self._model_save(image, self.load_size) != 0:
            self._reply_error(seq, CMD_MODEL_COMMIT, ERR_MEDIUM, 0)
            return
        self.active = staging
        self.staging_view = self.view
        self.view = view
        self.model_crc = self.load_crc
        self.loaded = True
        self.load_state = LOAD_DONE
        self._learn_model_changed()  # W-N1, W-N6
        self._reply_model_info(seq, CMD_MODEL_COMMIT)

    def _cmd_model_info(self, seq: int, length: int) -> None:
        if length != 0:
            self._refuse(seq, CMD_MODEL_INFO, ERR_BAD_PAYLOAD, 0)
            return
        if not self.loaded:
            self._refuse(seq, CMD_MODEL_INFO, ERR_NO_MODEL, 0)
            return
        self._reply_model_info(seq, CMD_MODEL_INFO)

    def _cmd_model_describe(self, seq: int, length: int) -> None:
        """MODEL_DESCRIBE (level 5): a piece of the description section (model.h M-D1)."""
        if length != DESCRIBE_REQUEST_SIZE:
            self._refuse(seq, CMD_MODEL_DESCRIBE, ERR_BAD_PAYLOAD, DESCRIBE_REQUEST_SIZE)
            return
        if not self.loaded:
            self._refuse(seq, CMD_MODEL_DESCRIBE, ERR_NO_MODEL, 0)
            return
        rx = self.rx
        offset = get_u32(rx, _P)
        max_bytes = get_u16(rx, _P + 4)
        v = self.view
        if get_u16(rx, _P + 6) != 0:
            self._refuse(seq, CMD_MODEL_DESCRIBE, ERR_BAD_CONFIG, 6)
            return
        if offset > v.describe_size:
            self._refuse(seq, CMD_MODEL_DESCRIBE, ERR_BAD_CONFIG, 0)
            return
        n = min(v.describe_size - offset, max_bytes, self.max_payload - DESCRIBE_REPLY_SIZE)
        put_describe_reply(self.raw, _P, v.describe_size, offset)
        prm = self.prm_copy
        prm[0] = v.describe_at + offset
        prm[1] = n
        copy_span(self.raw, _P + DESCRIBE_REPLY_SIZE, v.image, prm)
        self._send_frame(seq, CMD_MODEL_DESCRIBE, FLAG_REPLY, DESCRIBE_REPLY_SIZE + n)

    def _cmd_model_erase(self, seq: int, length: int) -> None:
        if length != 0:
            self._refuse(seq, CMD_MODEL_ERASE, ERR_BAD_PAYLOAD, 0)
            return
        if self._model_save(None, 0) != 0:
            self._reply_error(seq, CMD_MODEL_ERASE, ERR_MEDIUM, 0)
            return
        self.loaded = False
        self.model_crc = 0
        self.load_state = LOAD_IDLE
        self.view.clear()
        self._learn_model_changed()  # W-N1, W-N6
        self._send_frame(seq, CMD_MODEL_ERASE, FLAG_REPLY, 0)

    @micropython.native
    def _infer_measure(self, k: int) -> int:
        """infer_measure(): block k's physical part (M-P3-P4) from h into p (Q15).

        -1 for a medium fault, 1 when a sense channel read its top code, else
        0; the time in the port is added to self.medium_us.
        """
        v = self.view
        drive = self.drive
        infer_encode(v, k, self.h, drive)
        dac = self.idac
        shift = 15 - self.dac_bits
        nd_b = v.n_drive[k]
        ns = v.n_sense[k]
        adc = self.iadc
        top = (1 << self.adc_bits) - 1
        adc_shift = 15 - self.adc_bits
        clipped = 0
        p = self.p
        for r in range(block_rows(v, k)):  # M-R1-R2: row after row through the slot map
            for j in range(self.n_drive):
                dac[j] = drive[infer_slot(v, k, r, j)] >> shift if j < nd_b else 0
            t0 = time.ticks_us()
            fault = self._query_measure(dac, 1, ns, v.oversample[k], v.settle_us[k], adc)
            self.medium_us += time.ticks_diff(time.ticks_us(), t0)
            if fault != 0:
                return -1
            base = r * ns
            for j in range(ns):
                code = adc[j]
                if code > top:
                    code = top
                if code == top:
                    clipped = 1
                p[base + j] = code << adc_shift
        return clipped

    @micropython.native
    def _infer_pass(self, xoff: int, label: int, features: "Any" = None) -> int:
        """infer_pass(): one pass of the sample at rx[xoff:] through every block.

        label -1: the neutral overlay. Fills the read-out accumulators
        (one-pass) or leaves the summed goodness in self.goodness; appends the
        sensed values to the reply at self.trace_at when it is >= 0. Returns
        -1 for a medium fault, else 1 when something saturated, else 0.
        """
        v = self.view
        h = self.h
        y = self.y
        p = self.p
        raw = self.raw
        sat = 1 if infer_layout(v, self.rx, xoff, label, h) else 0
        self.goodness = 0
        at_f = 0  # features: where block k's read-out features go (learn.h RF-A1)
        for k in range(v.n_blocks):
            if v.flags[k] & BLOCK_PHYSICAL:
                r = self._infer_measure(k)
                if r < 0:
                    return -1
                sat |= r
                at = self.trace_at
                if at >= 0:
                    n = sensed_width(v, k)
                    for j in range(n):
                        put_u16(raw, at + 2 * j, p[j] & 0xFFFF)
                    self.trace_at = at + 2 * n
            if infer_affine(v, k, p, h, y):
                sat = 1
            if features is not None:
                for j in range(v.d_out[k]):
                    features[at_f + j] = lm.feature(y[j], v.readout_abs != 0)
                at_f += v.d_out[k]
            elif v.inference == INFERENCE_ONEPASS:
                infer_readout_add(v, k, y, self.class_acc)
            else:
                self.goodness += infer_goodness(v, k, y)
            for j in range(v.d_out[k]):  # y is the next block's h
                h[j] = y[j]
        return sat

    @micropython.native
    def _infer_check(self, seq: int, length: int) -> int:
        """infer_check(): the sample count, or -1 after refusing (wire.h INFER order)."""
        if length < INFER_HEAD_SIZE:
            self._refuse(seq, CMD_INFER, ERR_BAD_PAYLOAD, INFER_HEAD_SIZE)
            return -1
        if not self.loaded:
            self._refuse(seq, CMD_INFER, ERR_NO_MODEL, 0)
            return -1
        v = self.view
        rx = self.rx
        n = get_u16(rx, _P)
        flags = get_u16(rx, _P + 4)
        if get_u16(rx, _P + 2) != v.n_features:
            self._refuse(seq, CMD_INFER, ERR_BAD_CHANNELS, v.n_features)
            return -1
        if flags & ~INFER_TRACE & 0xFFFF:
            self._refuse(seq, CMD_INFER, ERR_BAD_CONFIG, 4)
            return -1
        if get_u16(rx, _P + 6) != 0:
            self._refuse(seq, CMD_INFER, ERR_BAD_CONFIG, 6)
            return -1
        limit = self._infer_max_batch(v, flags & INFER_TRACE)
        if n > limit:
            self._refuse(seq, CMD_INFER, ERR_BATCH_TOO_LARGE, limit)
            return -1
        expect = INFER_HEAD_SIZE + 2 * n * v.n_features
        if length != expect:
            self._refuse(seq, CMD_INFER, ERR_BAD_PAYLOAD, expect & 0xFFFF)
            return -1
        return n

    @micropython.native
    def _cmd_infer(self, seq: int, length: int) -> None:
        n = self._infer_check(seq, length)
        if n < 0:
            return
        v = self.view
        flags = get_u16(self.rx, _P + 4)
        tracing = flags & INFER_TRACE
        f = v.n_features
        c = v.n_classes
        raw = self.raw
        classes = _P + INFER_HEAD_SIZE
        scores_at = classes + 2 * n
        trace = scores_at + 4 * n * c
        tv = v.trace_values
        bitmap = trace + (2 * n * tv if tracing else 0)
        zero(raw, bitmap, (n + 7) >> 3)
        t0 = time.ticks_us()
        self.medium_us = 0
        scores = self.scores
        acc = self.class_acc
        for s in range(n):
            xoff = _P + INFER_HEAD_SIZE + 2 * s * f
            self.trace_at = trace + 2 * s * tv if tracing else -1
            if v.inference == INFERENCE_ONEPASS:
                for j in range(c):
                    acc[j] = 0
                r = self._infer_pass(xoff, -1)
                if r < 0:
                    self._reply_error(seq, CMD_INFER, ERR_MEDIUM, 0)
                    return
                sat = r
                if infer_readout_finish(v, acc, scores):
                    sat = 1
            else:
                sat = 0
                for label in range(c):
                    r = self._infer_pass(xoff, label)
                    if r < 0:
                        self._reply_error(seq, CMD_INFER, ERR_MEDIUM, 0)
                        return
                    scores[label] = self.goodness
                    sat |= r
            put_u16(raw, classes + 2 * s, argmax_s32(scores, c))
            base = scores_at + 4 * s * c
            for j in range(c):
                put_u32(raw, base + 4 * j, scores[j] & 0xFFFFFFFF)
            if sat:
                raw[bitmap + (s >> 3)] |= 1 << (s & 7)
        total_us = time.ticks_diff(time.ticks_us(), t0)
        stats = self.stats
        medium_us = self.medium_us
        stats[S_INFER_MEDIUM_US] = (stats[S_INFER_MEDIUM_US] + medium_us) & 0xFFFFFFFF
        stats[S_INFER_DIGITAL_US] = (stats[S_INFER_DIGITAL_US] + total_us - medium_us) & 0xFFFFFFFF
        stats[S_INFER_SAMPLES] = (stats[S_INFER_SAMPLES] + n) & 0xFFFFFFFF
        put_pair(raw, _P, n, c)
        put_pair(raw, _P + 4, flags, 0)
        self._send_frame(seq, CMD_INFER, FLAG_REPLY, bitmap - _P + ((n + 7) >> 3))


    # ---- on-device learning (CORE-K11, wire.h W-N1-N8, learn.h) ---------------------

    def _learn_model_changed(self) -> None:
        """learn_model_changed(): the model in force changed, its statistics are gone."""
        self.learn_ready = False

    def _refitted(self) -> bool:
        """W-N6: whether a board refitted the read-out in force (the image says, M-V4)."""
        v = self.view
        return v.inference == INFERENCE_ONEPASS and v.r_refit_samples > 0

    def _learn_max_batch(self, v: View) -> int:
        """learn_max_batch(): most LEARN samples whose request fits max_payload."""
        n = (self.max_payload - LEARN_HEAD_SIZE) // (2 * v.n_features + 2)
        return n if n < lm.LEARN_MAX_SAMPLES else lm.LEARN_MAX_SAMPLES

    def _learn_refused(self, seq: int, cmd: int) -> bool:
        """learn_refused(): a model, a writable read-out, statistics that fit."""
        if not self.loaded:
            self._refuse(seq, cmd, ERR_NO_MODEL, 0)
            return True
        v = self.view
        if v.inference != INFERENCE_ONEPASS:
            self._refuse(seq, cmd, ERR_NO_READOUT, 0)
            return True
        width = v.readout_width
        size = lm.area_size(width, v.n_classes)
        if (width > lm.LEARN_MAX_WIDTH or size > self.model_bytes
                or 8 * (width + 1) > self.max_payload):
            self._refuse(seq, cmd, ERR_LEARN_TOO_LARGE, sat_u16(size))
            return True
        return False

    def _learn_stats(self) -> "Any":
        """learn_stats(): the statistics, cleared on first use; ends a load in progress."""
        area = self.model[1 - self.active]
        if self.load_state == LOAD_BUSY:
            self.load_state = LOAD_IDLE
        if not self.learn_ready:
            lm.clear(area, self.view.readout_width, self.view.n_classes)
            self.learn_ready = True
        return area

    def _reply_learn(self, seq: int) -> None:
        v = self.view
        area = self._learn_stats()
        c = v.n_classes
        put_pair(self.raw, _P, lm.samples(area, v.readout_width), c)
        for j in range(c):
            put_u16(self.raw, _P + LEARN_HEAD_SIZE + 2 * j,
                    lm.class_samples(area, v.readout_width, c, j))
        self._send_frame(seq, CMD_LEARN, FLAG_REPLY, LEARN_HEAD_SIZE + 2 * c)

    def _cmd_learn(self, seq: int, length: int, repeat: bool) -> None:
        if repeat:  # W-N3: a retry of the LEARN just served
            self._reply_learn(seq)
            self.repeat_cmd = CMD_LEARN
            self.repeat_seq = seq
            return
        if length < LEARN_HEAD_SIZE:
            self._refuse(seq, CMD_LEARN, ERR_BAD_PAYLOAD, LEARN_HEAD_SIZE)
            return
        if self._learn_refused(seq, CMD_LEARN):
            return
        v = self.view
        rx = self.rx
        f = v.n_features
        c = v.n_classes
        if get_u16(rx, _P + 2) != f:
            self._refuse(seq, CMD_LEARN, ERR_BAD_CHANNELS, f)
            return
        n = get_u16(rx, _P)
        limit = self._learn_max_batch(v)
        if n > limit:
            self._refuse(seq, CMD_LEARN, ERR_BATCH_TOO_LARGE, limit)
            return
        expect = LEARN_HEAD_SIZE + n * (2 * f + 2)
        if length != expect:
            self._refuse(seq, CMD_LEARN, ERR_BAD_PAYLOAD, sat_u16(expect))
            return
        labels = _P + LEARN_HEAD_SIZE + 2 * n * f
        for s in range(n):
            if get_u16(rx, labels + 2 * s) >= c:
                self._refuse(seq, CMD_LEARN, ERR_BAD_LABEL, c)
                return
        area = self._learn_stats()
        width = v.readout_width
        learnt = lm.samples(area, width)
        if learnt + n > lm.LEARN_MAX_SAMPLES:
            self._refuse(seq, CMD_LEARN, ERR_LEARN_FULL, lm.LEARN_MAX_SAMPLES - learnt)
            return
        self.trace_at = -1
        self.medium_us = 0
        for s in range(n):
            if self._infer_pass(_P + LEARN_HEAD_SIZE + 2 * s * f, -1, self.learn_f) < 0:
                self._reply_error(seq, CMD_LEARN, ERR_MEDIUM, 0)  # W-N2
                return
            if lm.add(area, width, c, self.learn_f, get_u16(rx, labels + 2 * s)) != lm.LEARN_OK:
                self._reply_error(seq, CMD_LEARN, ERR_REFIT_OVERFLOW, 0)  # cannot happen
                return
        self._reply_learn(seq)
        self.repeat_cmd = CMD_LEARN
        self.repeat_seq = seq

    def _refit_status(self, st: int, lam: int, area: "Any") -> tuple:
        """refit_status(): the wire status of a learn.h result, and its arg."""
        v = self.view
        if st == lm.LEARN_TOO_FEW:
            j = 0
            while j < v.n_classes and lm.class_samples(area, v.readout_width, v.n_classes, j):
                j += 1
            return ERR_TOO_FEW, j
        if st == lm.LEARN_BAD_LAMBDA:
            lowest = 0  # learn.h RF-S1: 53 - 2 e_k - L <= 61
            for k in range(v.n_blocks):
                need = -8 - 2 * v.out_exp[k]
                if need > lowest:
                    lowest = need
            return ERR_BAD_LAMBDA, (lm.LEARN_MAX_LAMBDA_SHIFT
                                    if lam > lm.LEARN_MAX_LAMBDA_SHIFT else lowest)
        if st == lm.LEARN_SINGULAR:
            return ERR_SINGULAR, 0
        if st == lm.LEARN_NO_READOUT:
            return ERR_NO_READOUT, 0
        if st == lm.LEARN_TOO_WIDE:
            return ERR_LEARN_TOO_LARGE, sat_u16(lm.area_size(v.readout_width, v.n_classes))
        return ERR_REFIT_OVERFLOW, 0

    def _refit_undo(self, old_crc: int) -> bool:
        """refit_undo(): the model before the refit back from storage (W-N4)."""
        image = self.model[self.active]
        n = self._model_restore_bytes(image)
        if (0 < n <= self.model_bytes and crc32(image, 0, n, 0, self.crc_st) == old_crc
                and model_check(image, n, self.limits, self.view) == OK):
            return True
        self.loaded = False
        self.model_crc = 0
        self.view.clear()
        self._learn_model_changed()
        return False

    def _reply_refit(self, seq: int) -> None:
        put_refit_reply(self.raw, _P, self.model_crc, self.view.r_refit_samples, self.refit_cond)
        self._send_frame(seq, CMD_REFIT, FLAG_REPLY, REFIT_REPLY_SIZE)
        self.repeat_cmd = CMD_REFIT
        self.repeat_seq = seq

    def _cmd_refit(self, seq: int, length: int, repeat: bool) -> None:
        if repeat:  # W-N3: a retry of the REFIT just served
            self._reply_refit(seq)
            return
        if length != REFIT_REQUEST_SIZE:
            self._refuse(seq, CMD_REFIT, ERR_BAD_PAYLOAD, REFIT_REQUEST_SIZE)
            return
        if self._learn_refused(seq, CMD_REFIT):
            return
        lam = get_u16(self.rx, _P)
        if lam > 255:
            lam = 255
        v = self.view
        area = self._learn_stats()
        image = self.model[self.active]
        st, cond = lm.refit(area, v, image, lam)
        if st != lm.LEARN_OK:
            status, arg = self._refit_status(st, lam, area)
            self._refuse(seq, CMD_REFIT, status, arg)  # learn.h RF-E1: read-out untouched
            return
        old_crc = self.model_crc
        size = v.size
        if model_check(image, size, self.limits, v) != OK:
            self._refit_undo(old_crc)  # cannot happen: learn.h RF-Q5 keeps M-V1-V6
            self._refuse(seq, CMD_REFIT, ERR_REFIT_OVERFLOW, 0)
            return
        if self._model_save(image, size) != 0:
            self._refit_undo(old_crc)
            self._reply_error(seq, CMD_REFIT, ERR_MEDIUM, 0)
            return
        self.model_crc = crc32(image, 0, size, 0, self.crc_st)
        self.refit_cond = cond
        if self.load_state == LOAD_DONE:
            self.load_state = LOAD_IDLE  # COMMIT's retry is over
        self._reply_refit(seq)

    def _cmd_forget(self, seq: int, length: int) -> None:
        if length != 0:
            self._refuse(seq, CMD_FORGET, ERR_BAD_PAYLOAD, 0)
            return
        if not self.loaded:
            self._refuse(seq, CMD_FORGET, ERR_NO_MODEL, 0)
            return
        self.learn_ready = False  # cleared the next time they are used
        self._send_frame(seq, CMD_FORGET, FLAG_REPLY, 0)


def _exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False
