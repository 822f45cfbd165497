"""The board's behaviour (firmware/src/core/phyff_core.c), in MicroPython.

Same contracts as the C core (phyff_core.h K1-K5, wire.h C1-C4, L1-L4): the
same replies, error codes and arguments, statistics, saturation bitmap, code
conversions (K3) and oversampling (K4), byte for byte. All buffers are
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
FIRMWARE_VERSION = const(0x000100)  # PHYFF_FIRMWARE_VERSION: major << 16 | minor << 8 | patch
CORE_MAX_SETTLE_US = const(1000000)  # PHYFF_CORE_MAX_SETTLE_US
CORE_MAX_PAYLOAD = const(1024)  # PHYFF_CORE_MAX_PAYLOAD default (a board config may change it)
CORE_MAX_CHANNELS = const(64)  # PHYFF_CORE_MAX_CHANNELS default

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
        self.caps = bytearray(CAPS_SIZE)
        put_caps(self.caps, 0, PROTOCOL_LEVEL, self.features, FIRMWARE_VERSION,
                 unit_id & 0xFFFFFFFF, mb, max_payload, n_drive, n_sense, dac_bits, adc_bits,
                 max_oversample, board, medium)
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
        """The unsolicited reset event (C4), sent once after start-up."""
        put_pair(self.raw, _P, EVENT_RESET, PROTOCOL_LEVEL)
        self._send(0, CMD_EVENT, FLAG_EVENT, EVENT_SIZE)

    def note_overrun(self) -> None:
        """Bytes the link lost (a UART overrun), for STATS."""
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
                self.stats[S_FRAMING_ERRORS] += 1
                self._error(0, CMD_NONE, ERR_TOO_LONG, self.max_payload)
            elif st[1] != 0:
                self._handle(st[1])
            # else: an empty frame, ignored (C2a)
            st[1] = 0
            st[2] = 0
            st[0] = j + 1

    # ---- replies --------------------------------------------------------------

    def _send(self, seq: int, cmd: int, flags: int, plen: int) -> None:
        n = frame_encode(self.raw, plen, PROTOCOL_LEVEL, seq, cmd, flags, 0, self.tx)
        if n > 0:
            self.write(self.tx, n)

    def _error(self, seq: int, cmd: int, status: int, arg: int) -> None:
        put_pair(self.raw, _P, status, arg & 0xFFFF)
        self.stats[S_ERROR_REPLIES] += 1
        self._send(seq, cmd, FLAG_REPLY | FLAG_ERROR, ERROR_SIZE)

    def _tick(self) -> None:
        # Uptime from the millisecond tick; ticks_diff handles the port's wrap.
        now = time.ticks_ms()
        elapsed = time.ticks_diff(now, self.last_ms)
        self.last_ms = now
        if elapsed > 0:
            self.stats[S_UPTIME_MS] = (self.stats[S_UPTIME_MS] + elapsed) & 0xFFFFFFFF

    # ---- frames ---------------------------------------------------------------

    def _handle(self, rx_len: int) -> None:
        self._tick()
        rx = self.rx
        stats = self.stats
        length = frame_decode(rx, rx_len, self.max_payload)
        if length < 0:
            st = -length
            if st == ERR_BAD_CRC:
                stats[S_CRC_ERRORS] += 1
            else:
                stats[S_FRAMING_ERRORS] += 1
            self._error(0, CMD_NONE, st, self.max_payload if st == ERR_TOO_LONG else 0)
            return
        seq = rx[1]
        cmd = rx[2]
        if rx[3] & (FLAG_REPLY | FLAG_EVENT):
            stats[S_BAD_COMMANDS] += 1
            self._error(seq, cmd, ERR_NOT_A_REQUEST, 0)
            return
        if cmd != CMD_HELLO and rx[0] != PROTOCOL_LEVEL:
            stats[S_BAD_COMMANDS] += 1
            self._error(seq, cmd, ERR_BAD_LEVEL, PROTOCOL_LEVEL)
            return
        if cmd == CMD_QUERY:
            stats[S_FRAMES_OK] += 1
            self._query(seq, length)
        elif cmd == CMD_HELLO:
            stats[S_FRAMES_OK] += 1
            copy(self.raw, _P, self.caps, CAPS_SIZE)
            self._send(seq, cmd, FLAG_REPLY, CAPS_SIZE)
        elif cmd == CMD_CONFIGURE:
            stats[S_FRAMES_OK] += 1
            self._configure(seq, length)
        elif cmd == CMD_STATS:
            stats[S_FRAMES_OK] += 1
            if length != 0:
                stats[S_BAD_COMMANDS] += 1
                self._error(seq, cmd, ERR_BAD_PAYLOAD, 0)
                return
            put_stats(self.raw, _P, stats)
            self._send(seq, cmd, FLAG_REPLY, STATS_SIZE)
        elif cmd == CMD_RESET:
            stats[S_FRAMES_OK] += 1
            if length != 0:
                stats[S_BAD_COMMANDS] += 1
                self._error(seq, cmd, ERR_BAD_PAYLOAD, 0)
                return
            self._send(seq, cmd, FLAG_REPLY, 0)  # the reply goes out first
            self.settle_us = 0
            self.oversample = 1
            self.n_drive_active = self.n_drive
            self.n_sense_active = self.n_sense
            for k in range(8):
                stats[k] = 0
        else:
            stats[S_BAD_COMMANDS] += 1
            self._error(seq, cmd, ERR_UNKNOWN_COMMAND, 0)

    # ---- CONFIGURE ------------------------------------------------------------

    def _refusal(self, settle: int, k: int, nd: int, ns: int, reserved: int) -> int:
        """Offset of the first refused field of a proposed config, or -1 (C order)."""
        if settle > CORE_MAX_SETTLE_US:
            return 0
        if settle != 0 and not self.features & FEAT_SETTLE:
            return 0
        if k < 1 or k > self.max_oversample:
            return 4
        if nd < 1 or nd > self.n_drive:
            return 6
        if ns < 1 or ns > self.n_sense:
            return 8
        select = self.features & FEAT_CHANNEL_SELECT
        if not select and nd != self.n_drive:
            return 6
        if not select and ns != self.n_sense:
            return 8
        if reserved != 0:
            return 10
        return -1

    def _configure(self, seq: int, length: int) -> None:
        if length != 0 and length != CONFIG_SIZE:
            self._error(seq, CMD_CONFIGURE, ERR_BAD_PAYLOAD, CONFIG_SIZE)
            self.stats[S_BAD_COMMANDS] += 1
            return
        if length == CONFIG_SIZE:
            rx = self.rx
            settle = get_u32(rx, _P)
            k = get_u16(rx, _P + 4)
            nd = get_u16(rx, _P + 6)
            ns = get_u16(rx, _P + 8)
            refused = self._refusal(settle, k, nd, ns, get_u16(rx, _P + 10))
            if refused >= 0:
                self._error(seq, CMD_CONFIGURE, ERR_BAD_CONFIG, refused)
                self.stats[S_BAD_COMMANDS] += 1
                return
            self.settle_us = settle
            self.oversample = k
            self.n_drive_active = nd
            self.n_sense_active = ns
        put_config(self.raw, _P, self.settle_us, self.oversample, self.n_drive_active,
                   self.n_sense_active, 0)
        self._send(seq, CMD_CONFIGURE, FLAG_REPLY, CONFIG_SIZE)

    # ---- QUERY ------------------------------------------------------------------

    @micropython.native
    def _query(self, seq: int, length: int) -> None:
        rx = self.rx
        stats = self.stats
        if length < QUERY_HEAD_SIZE:
            self._error(seq, CMD_QUERY, ERR_BAD_PAYLOAD, QUERY_HEAD_SIZE)
            stats[S_BAD_COMMANDS] += 1
            return
        n = get_u16(rx, _P)
        nda = self.n_drive_active
        nd = self.n_drive
        ns = self.n_sense_active
        if get_u16(rx, _P + 2) != nda:
            self._error(seq, CMD_QUERY, ERR_BAD_CHANNELS, nda)
            stats[S_BAD_COMMANDS] += 1
            return
        if n > self.max_batch:
            self._error(seq, CMD_QUERY, ERR_BATCH_TOO_LARGE, self.max_batch)
            stats[S_BAD_COMMANDS] += 1
            return
        expect = QUERY_HEAD_SIZE + 2 * n * nda
        if length != expect:
            self._error(seq, CMD_QUERY, ERR_BAD_PAYLOAD, expect)
            stats[S_BAD_COMMANDS] += 1
            return
        # Reply layout in raw: header | head | n x ns int16 | ceil(n/8) bitmap.
        raw = self.raw
        bitmap = _P + QUERY_HEAD_SIZE + 2 * n * ns
        bitmap_len = (n + 7) >> 3
        zero(raw, bitmap, bitmap_len)
        dac = self.dac
        adc = self.adc
        prm = self.prm
        prm[P_SRC] = _P + QUERY_HEAD_SIZE
        prm[P_COUNT] = n * nda
        prm[P_ACTIVE] = nda
        prm[P_WIRED] = nd
        prm[P_SHIFT] = 15 - self.dac_bits
        prm[P_BITMAP] = bitmap
        drive_codes(rx, dac, raw, prm)
        fault = 0
        if n > 0:
            port = self.port
            k = self.oversample
            settle = self.settle_us
            if port.measure_batch is not None:
                fault = port.measure_batch(dac, n, nd, adc, ns, k, settle)
            else:
                fault = self._per_sample(port, dac, n, nd, adc, ns, k, settle)
        if fault != 0:
            self._error(seq, CMD_QUERY, ERR_MEDIUM, 0)
            return
        prm[P_COUNT] = n * ns
        prm[P_ACTIVE] = ns
        prm[P_SHIFT] = 15 - self.adc_bits
        prm[P_TOP] = (1 << self.adc_bits) - 1
        prm[P_OUT] = _P + QUERY_HEAD_SIZE
        sense_values(adc, raw, prm)
        put_pair(raw, _P, n, ns)
        stats[S_SAMPLES_SERVED] += n
        self._send(seq, CMD_QUERY, FLAG_REPLY, QUERY_HEAD_SIZE + 2 * n * ns + bitmap_len)

    @micropython.native
    def _per_sample(self, port: "Any", dac: "Any", n: int, nd: int, adc: "Any", ns: int,
                    k: int, settle: int) -> int:
        """K4: drive, settle, read k times, average with round half up."""
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
