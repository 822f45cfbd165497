"""The board's behaviour (firmware/src/core/phyff_core.c), in MicroPython.

Same contracts as the C core (phyff_core.h K1-K7; wire.h C1-C5, F1-F3,
S1-S5, T1-T8, E1-E3, L1-L4): the same replies, error codes and arguments,
statistics, events, saturation bitmap, code conversions (K3) and
oversampling (K4), byte for byte. The structure mirrors phyff_core.c, helper
for helper (``_refuse``, ``_refuse_frame``, ``_reply_error``, the
``_cmd_*`` functions, QUERY's ``_query_check``/``_query_drive``/
``_query_measure``/``_query_sense`` steps), so the two are read side by side. All buffers are
allocated once in ``Core.__init__``; receiving, dispatching and answering a
frame allocate nothing (checked under ``micropython.heap_lock`` by the
tests), so the garbage collector never runs in the middle of a QUERY.

A port is any object with these methods (port.h R2-R4):

- ``drive(dac, off, n) -> int``: apply dac[off:off+n] (DAC codes; n is the
  wired drive count, codes past the active count are 0); 0 or a fault;
- ``sense(adc, off, n) -> int``: read n ADC codes once into adc[off:off+n];
- ``delay_us(us)``;
- ``measure_batch``: None, or ``measure_batch(dac, n, nd, adc, ns, k, settle_us)
  -> int``, a whole QUERY at once (R3), for media across a link.

``write(buf, n)`` sends the first n bytes of buf to the host (R1).
"""

import time
from array import array

import micropython
from micropython import const

from phyffmp.wire import (
    CAPS_SIZE,
    CMD_CONFIGURE,
    CMD_EVENT,
    CMD_HELLO,
    CMD_NONE,
    CMD_QUERY,
    CMD_RESET,
    CMD_STATS,
    CONFIG_SIZE,
    CRC_SIZE,
    ERR_BAD_CHANNELS,
    ERR_BAD_CONFIG,
    ERR_BAD_CRC,
    ERR_BAD_LEVEL,
    ERR_BAD_PAYLOAD,
    ERR_BATCH_TOO_LARGE,
    ERR_MEDIUM,
    ERR_NOT_A_REQUEST,
    ERR_TOO_LONG,
    ERR_UNKNOWN_COMMAND,
    ERROR_SIZE,
    EVENT_RESET,
    EVENT_SIZE,
    FEAT_CHANNEL_SELECT,
    FEAT_SATURATION_FLAGS,
    FEAT_SETTLE,
    FLAG_ERROR,
    FLAG_EVENT,
    FLAG_REPLY,
    HEADER_SIZE,
    MAX_PAYLOAD_LIMIT,
    PROTOCOL_LEVEL,
    QUERY_HEAD_SIZE,
    STATS_SIZE,
    cobs_max_encoded,
    copy,
    frame_decode,
    frame_encode,
    gather,
    get_u16,
    get_u32,
    put_caps,
    put_config,
    put_pair,
    put_stats,
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

_P = const(8)  # HEADER_SIZE: where payloads start in rx and raw


def max_batch(n_drive: int, n_sense: int, max_payload: int = CORE_MAX_PAYLOAD) -> int:
    """phyff_core_max_batch: largest QUERY batch for the full channel counts."""
    room = max_payload - QUERY_HEAD_SIZE
    by_request = room // (2 * n_drive)
    # reply: 2 * n * n_sense + ceil(n / 8) <= room
    n = (room * 8) // (16 * n_sense + 1)
    while n > 0 and 2 * n * n_sense + (n + 7) // 8 > room:
        n -= 1
    while 2 * (n + 1) * n_sense + (n + 8) // 8 <= room:
        n += 1
    best = by_request if by_request < n else n
    return 0xFFFF if best > 0xFFFF else best


# ---- sample conversions (K3), viper ------------------------------------------------


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
    is driven as 0 and flags its sample in the bitmap (K3).
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
    """ADC codes -> Q15 sense values (LE) in out; a code at the top flags its sample (K3)."""
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
                 max_channels: int = CORE_MAX_CHANNELS) -> None:
        # phyff_core_init's checks; a refused description raises.
        if not (1 <= n_drive <= 65535 and 1 <= n_sense <= max_channels
                and 1 <= dac_bits <= 15 and 1 <= adc_bits <= 15 and max_oversample >= 1):
            raise ValueError("board description out of range")
        if not CAPS_SIZE <= max_payload <= MAX_PAYLOAD_LIMIT:
            raise ValueError("max_payload out of range")
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
        self.stats = array("I", [0] * 8)
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

    # ---- link side ------------------------------------------------------------

    def announce(self) -> None:
        """phyff_core_announce: the reset event (E1), at start-up and after RESET."""
        put_pair(self.raw, _P, EVENT_RESET, PROTOCOL_LEVEL)
        self._send_frame(0, CMD_EVENT, FLAG_EVENT, EVENT_SIZE)

    def restart(self) -> None:
        """The board's state as at power-up (a new start; the caller announces it)."""
        self._default_config()
        for k in range(8):
            self.stats[k] = 0
        self.last_ms = time.ticks_ms()
        self.rx_state[1] = 0
        self.rx_state[2] = 0

    def note_overrun(self) -> None:
        """phyff_core_note_overrun: a loss the link detected (T5)."""
        self.stats[S_OVERRUNS] += 1

    @micropython.native
    def receive(self, data: bytearray, n: int) -> None:
        """Feed n received bytes; every complete non-empty frame gets one reply (K1)."""
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
                self._refuse_frame(ERR_TOO_LONG)  # K2
            elif st[1] != 0:
                self._handle_frame(st[1])
            # else: an empty frame, ignored (C5)
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
        """refuse(): an intact request refused (S1-S4), counted as a bad command."""
        self.stats[S_BAD_COMMANDS] += 1
        self._reply_error(seq, cmd, status, arg)

    def _refuse_frame(self, status: int) -> None:
        """refuse_frame(): a frame that failed F1, answered by a seq-0 notice (F3)."""
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
        self.stats[S_FRAMES_OK] += 1  # intact: its reply carries its seq (T1)
        seq = rx[1]
        cmd = rx[2]
        if rx[3] & (FLAG_REPLY | FLAG_EVENT):
            self._refuse(seq, cmd, ERR_NOT_A_REQUEST, 0)
            return
        if cmd != CMD_HELLO and rx[0] != PROTOCOL_LEVEL:
            self._refuse(seq, cmd, ERR_BAD_LEVEL, PROTOCOL_LEVEL)
            return
        if cmd == CMD_QUERY:
            self._cmd_query(seq, length)
        elif cmd == CMD_HELLO:
            self._cmd_hello(seq)  # any payload is ignored
        elif cmd == CMD_CONFIGURE:
            self._cmd_configure(seq, length)
        elif cmd == CMD_STATS:
            self._cmd_stats(seq, length)
        elif cmd == CMD_RESET:
            self._cmd_reset(seq, length)
        else:
            self._refuse(seq, cmd, ERR_UNKNOWN_COMMAND, 0)

    # ---- commands -------------------------------------------------------------

    def _cmd_hello(self, seq: int) -> None:
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
        self._default_config()
        stats = self.stats
        for k in range(8):
            stats[k] = 0
        self.announce()  # E1: state back to power-up defaults

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
        """query_drive(): Q15 drive values -> full rows of DAC codes in self.dac (K3)."""
        prm = self.prm
        prm[P_SRC] = _P + QUERY_HEAD_SIZE
        prm[P_COUNT] = n * self.n_drive_active
        prm[P_ACTIVE] = self.n_drive_active
        prm[P_WIRED] = self.n_drive
        prm[P_SHIFT] = 15 - self.dac_bits
        prm[P_BITMAP] = bitmap
        drive_codes(self.rx, self.dac, self.raw, prm)

    @micropython.native
    def _query_measure(self, n: int) -> int:
        """query_measure(): DAC rows -> ADC rows; 0, or non-zero for a medium fault."""
        if n == 0:
            return 0
        port = self.port
        nd = self.n_drive
        ns = self.n_sense_active
        k = self.oversample
        settle = self.settle_us
        if port.measure_batch is not None:
            return port.measure_batch(self.dac, n, nd, self.adc, ns, k, settle)
        return self._measure_each(port, self.dac, n, nd, self.adc, ns, k, settle)

    @micropython.native
    def _query_sense(self, n: int, bitmap: int) -> None:
        """query_sense(): ADC codes -> Q15 sense values in the reply (K3)."""
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
        if self._query_measure(n) != 0:
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
        """measure_one() for every sample (K4): drive, settle, read k times, round half up."""
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
