"""The board core under the MicroPython unix port, without a host or a medium server.

    micropython firmware/micropython/tests/selftest_mp.py

Checks that serving a frame allocates nothing (every frame is fed with the
heap locked, so any allocation raises MemoryError), on the per-sample path
and the batch path, and that both paths answer the same bytes. The fake
medium is the C unit test's (tests/c/test_core.c): sense[j] = (sum of the
drive codes) * (j + 1) mod 2^adc_bits. Last line: "N passed, M failed".
"""

import sys
from array import array

import micropython

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")

from phyffmp import wire  # noqa: E402
from phyffmp.core import Core  # noqa: E402

ADC_BITS = 12


class FakePort:
    """Per-sample drive/sense, or the whole batch at once (batch=True)."""

    def __init__(self, n_drive: int, n_sense: int, batch: bool) -> None:
        self.staged = array("H", [0] * n_drive)
        self.n_drive = n_drive
        self.n_sense = n_sense
        self.mask = (1 << ADC_BITS) - 1
        self.measure_batch = self._batch if batch else None
        self.senses = 0

    def drive(self, dac: "array", off: int, n: int) -> int:
        staged = self.staged
        for j in range(n):
            staged[j] = dac[off + j]
        return 0

    def sense(self, adc: "array", off: int, n: int) -> int:
        self.senses += 1
        total = 0
        staged = self.staged
        for j in range(self.n_drive):
            total += staged[j]
        for j in range(n):
            adc[off + j] = (total * (j + 1)) & self.mask
        return 0

    def delay_us(self, us: int) -> None:
        pass

    def _batch(self, dac: "array", n: int, nd: int, adc: "array", ns: int, k: int,
               settle: int) -> int:
        for s in range(n):
            total = 0
            for j in range(nd):
                total += dac[s * nd + j]
            for j in range(ns):
                adc[s * ns + j] = (total * (j + 1)) & self.mask
        return 0


class Sink:
    """The link's write side: keeps the replies in a preallocated buffer."""

    def __init__(self, cap: int) -> None:
        self.buf = bytearray(cap)
        self.n = 0

    def write(self, buf: bytearray, n: int) -> None:
        wire.copy(self.buf, self.n, buf, n)  # buf[0:n] -> self.buf[self.n:]
        self.n += n

    def frames(self) -> "list[bytes]":
        out = []
        start = 0
        for i in range(self.n):
            if self.buf[i] == 0:
                out.append(bytes(self.buf[start:i]))
                start = i + 1
        return out


def request(cmd: int, seq: int, payload: bytes = b"", level: int = wire.PROTOCOL_LEVEL,
            flags: int = 0) -> bytearray:
    raw = bytearray(wire.HEADER_SIZE + len(payload) + wire.CRC_SIZE)
    for i, b in enumerate(payload):
        raw[wire.HEADER_SIZE + i] = b
    out = bytearray(wire.wire_max_frame(len(payload)))
    n = wire.frame_encode(raw, len(payload), level, seq, cmd, flags, 0, out)
    return out[:n]


def query(n: int, nd: int, seed: int) -> bytearray:
    p = bytearray(4 + 2 * n * nd)
    wire.put_pair(p, 0, n, nd)
    x = seed
    for i in range(n * nd):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v = (x >> 8) & 0xFFFF
        if v & 0x8000 and v & 0x100 == 0:
            v &= 0x7FFF  # mostly non-negative, some negative drives
        wire.put_u16(p, 4 + 2 * i, v)
    return request(wire.CMD_QUERY, seed & 0xFF or 1, bytes(p))


def config(settle: int, k: int, nd: int, ns: int) -> bytearray:
    p = bytearray(wire.CONFIG_SIZE)
    wire.put_config(p, 0, settle, k, nd, ns, 0)
    return request(wire.CMD_CONFIGURE, 7, bytes(p))


passed = 0
failed = 0


def check(cond: bool, what: str) -> None:
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL", what)


def feed_locked(core: Core, frame: bytearray) -> bool:
    """Feed one frame with the heap locked; False if anything allocated."""
    micropython.heap_lock()
    try:
        core.receive(frame, len(frame))
    except MemoryError:
        micropython.heap_unlock()
        return False
    micropython.heap_unlock()
    return True


def run(batch: bool) -> "list[bytes]":
    nd, ns = 4, 3
    port = FakePort(nd, ns, batch)
    sink = Sink(1 << 16)
    core = Core(port, sink.write, board="selftest", medium="fake", unit_id=42,
                features=wire.FEAT_SETTLE | wire.FEAT_OVERSAMPLE | wire.FEAT_CHANNEL_SELECT,
                n_drive=nd, n_sense=ns, dac_bits=12, adc_bits=ADC_BITS, max_oversample=8,
                max_payload=1024)
    mb = core.max_batch
    frames = [
        request(wire.CMD_HELLO, 1),
        query(mb, nd, 3),
        query(1, nd, 4),
        query(0, nd, 5),
        config(0, 3, 2, 2),  # oversample 3, channel subsets
        query(17, 2, 6),
        config(250, 1, nd, ns),
        query(9, nd, 8),
        query(mb + 1, nd, 9),  # BATCH_TOO_LARGE
        query(3, nd - 1, 10),  # BAD_CHANNELS
        request(wire.CMD_STATS, 11),
        request(wire.CMD_STATS, 12, b"x"),  # BAD_PAYLOAD
        request(0x33, 13),  # UNKNOWN_COMMAND
        request(wire.CMD_STATS, 14, level=wire.PROTOCOL_LEVEL + 1),  # BAD_LEVEL
        request(wire.CMD_STATS, 15, flags=wire.FLAG_REPLY),  # NOT_A_REQUEST
        bytearray(b"\x05\x11\x22\x00"),  # damaged: seq 0, CMD_NONE
        bytearray(b"\x00\x00"),  # empty frames: no reply
        request(wire.CMD_RESET, 16),
        request(wire.CMD_CONFIGURE, 17),
        request(wire.CMD_STATS, 18),
    ]
    expected = 0
    for f in frames:
        before = sink.n
        ok = feed_locked(core, f)
        check(ok, f"allocation while serving frame {bytes(f[:6])!r} (batch={batch})")
        if bytes(f) != b"\x00\x00":
            expected += 1
            if f is frames[-3]:  # RESET: its reply, then the reset event (W-E1)
                expected += 1
        else:
            check(sink.n == before, "an empty frame was answered")
    replies = sink.frames()
    check(len(replies) == expected, f"{len(replies)} replies for {expected} frames")
    for r in replies:
        body = bytearray(r)
        check(wire.frame_decode(body, len(body), 65535) >= 0, "a reply does not decode")
    if not batch:
        check(port.senses > 0, "per-sample path not taken")
    return replies


def strip_uptime(replies: "list[bytes]") -> "list[bytes]":
    """STATS replies carry the uptime (real time here): compare them without it."""
    out = []
    for r in replies:
        body = bytearray(r)
        length = wire.frame_decode(body, len(body), 65535)
        if body[2] == wire.CMD_STATS and length == wire.STATS_SIZE:
            out.append(bytes(body[:wire.HEADER_SIZE + 28]))
        else:
            out.append(bytes(r))
    return out


def reply_of(sink: Sink, index: int = -1) -> "tuple[bytearray, int]":
    body = bytearray(sink.frames()[index])
    return body, wire.frame_decode(body, len(body), 65535)


def error_of(sink: Sink) -> "tuple[int, int]":
    body, length = reply_of(sink)
    check(length == wire.ERROR_SIZE and body[3] == wire.FLAG_REPLY | wire.FLAG_ERROR,
          "not an error reply")
    return wire.get_u16(body, 8), wire.get_u16(body, 10)


def test_features_limit_configure() -> None:
    """Without SETTLE and CHANNEL_SELECT, settling and channel subsets are refused."""
    sink = Sink(4096)
    core = Core(FakePort(4, 3, True), sink.write, board="b", medium="m", unit_id=1,
                features=wire.FEAT_OVERSAMPLE, n_drive=4, n_sense=3, dac_bits=12,
                adc_bits=ADC_BITS, max_oversample=8)
    for cfg, arg in (((100, 1, 4, 3), 0), ((0, 9, 4, 3), 4), ((0, 2, 3, 3), 6),
                     ((0, 2, 4, 2), 8), ((1000001, 1, 4, 3), 0)):
        f = config(*cfg)
        core.receive(f, len(f))
        check(error_of(sink) == (wire.ERR_BAD_CONFIG, arg), f"config {cfg!r}: offset {arg}")


class HotPort(FakePort):
    """Reads past the converter's top code (a port bug or a noisy line): clamped, flagged."""

    def _batch(self, dac: "array", n: int, nd: int, adc: "array", ns: int, k: int,
               settle: int) -> int:
        for i in range(n * ns):
            adc[i] = 0xFFFF if i % 2 else 5
        return 0


def test_codes_above_top_are_clamped() -> None:
    sink = Sink(4096)
    core = Core(HotPort(2, 2, True), sink.write, board="b", medium="m", unit_id=1,
                features=0, n_drive=2, n_sense=2, dac_bits=12, adc_bits=10, max_oversample=1)
    f = query(3, 2, 77)
    core.receive(f, len(f))
    body, length = reply_of(sink)
    check(length == 4 + 2 * 3 * 2 + 1, "reply length")
    values = [wire.get_u16(body, 12 + 2 * i) for i in range(6)]
    check(values == [5 << 5, 1023 << 5] * 3, f"clamped values {values!r}")
    check(body[12 + 12] == 0b111, "every sample flagged")


def test_uptime_counts_from_reset() -> None:
    import time

    sink = Sink(4096)
    core = Core(FakePort(2, 2, True), sink.write, board="b", medium="m", unit_id=1,
                features=0, n_drive=2, n_sense=2, dac_bits=12, adc_bits=12, max_oversample=1)
    stats = request(wire.CMD_STATS, 1)
    reset = request(wire.CMD_RESET, 2)
    time.sleep_ms(300)
    core.receive(stats, len(stats))
    up1 = wire.get_u32(reply_of(sink)[0], 8 + 28)
    core.receive(reset, len(reset))
    time.sleep_ms(30)
    core.receive(stats, len(stats))
    up2 = wire.get_u32(reply_of(sink)[0], 8 + 28)
    check(290 <= up1 < 5000, f"uptime {up1} ms after 300 ms")
    check(25 <= up2 < up1, f"uptime {up2} ms, 30 ms after RESET (before: {up1} ms)")


def model_image(unit_id: int, medium: str) -> bytearray:
    """A one-block one-pass model (model.h) for the fake board: 2 classes, 1 feature."""
    img = bytearray(152)
    wire.put_u32(img, 0, 0x4D594850)  # magic
    wire.put_u16(img, 4, 1)  # version
    img[6] = 1  # n_blocks
    wire.put_u16(img, 8, 1)  # n_features
    wire.put_u16(img, 10, 2)  # n_classes
    wire.put_u16(img, 12, 4)  # width
    wire.put_u16(img, 14, 2)  # feature_offset
    wire.put_u32(img, 16, unit_id)
    img[21] = 3  # score_exp
    img[23] = 1  # readout_abs
    wire.put_name(img, 24, "selftest")
    wire.put_name(img, 56, medium)
    blk = bytes([0, 3, 4, 0, 4, 0, 3, 0, 2, 0, 0, 0, 0, 1, 6, 15, 0, 0, 0, 0, 1, 0, 0, 0])
    for i, v in enumerate(blk):
        img[72 + i] = v
    for i in range(18):  # W (2 x 7), b, xi
        wire.put_u16(img, 96 + 2 * i, ((i * 7919) % 20000 - 10000) & 0xFFFF)
    wire.put_pair(img, 132, 2, 2)  # read-out: n_in, n_classes
    img[136] = 8  # shift_b
    img[137] = 14  # shift_out
    for i in range(6):  # R (2 x 2), rb
        wire.put_u16(img, 140 + 2 * i, ((i * 3571) % 16000 - 8000) & 0xFFFF)
    return img


def run_model(batch: bool) -> "list[bytes]":
    """Load a model in two chunks and run INFER: served, and with the heap locked."""
    from array import array

    nd, ns = 4, 3
    sink = Sink(1 << 16)
    core = Core(FakePort(nd, ns, batch), sink.write, board="selftest", medium="fake",
                unit_id=42, features=0, n_drive=nd, n_sense=ns, dac_bits=12, adc_bits=ADC_BITS,
                max_oversample=8, max_payload=1024, model_bytes=1024)
    img = model_image(42, "fake")
    crc = wire.crc32(img, 0, len(img), 0, array("i", [0, 0]))
    begin = bytearray(8)
    wire.put_u32(begin, 0, len(img))
    wire.put_u32(begin, 4, crc)
    chunks = []
    for at, end in ((0, 100), (100, len(img))):
        c = bytearray(4 + end - at)
        wire.put_u32(c, 0, at)
        for i in range(end - at):
            c[4 + i] = img[at + i]
        chunks.append(request(wire.CMD_MODEL_CHUNK, 3, bytes(c)))
    infer = bytearray(8 + 2 * 5)
    wire.put_pair(infer, 0, 5, 1)
    for i, v in enumerate((0, 1000, -32768, 32767, -5)):
        wire.put_u16(infer, 8 + 2 * i, v & 0xFFFF)
    traced = bytearray(infer)
    traced[4] = 1  # PHYFF_INFER_TRACE
    frames = [request(wire.CMD_MODEL_BEGIN, 2, bytes(begin))]
    frames.extend(chunks)  # (MicroPython has no *unpacking in list displays)
    frames.extend([
        request(wire.CMD_MODEL_COMMIT, 4),
        request(wire.CMD_MODEL_COMMIT, 5),  # a retry: the same record
        request(wire.CMD_MODEL_INFO, 6),
        request(wire.CMD_HELLO, 7),
        request(wire.CMD_MODEL_DESCRIBE, 11, bytes(8)),  # level 5: the (empty) description
    ])
    for f in frames:
        check(feed_locked(core, f), f"allocation while serving model frame {bytes(f[:6])!r}")
    for f in (request(wire.CMD_INFER, 8, bytes(infer)), request(wire.CMD_INFER, 9, bytes(traced))):
        if sys.maxsize > 2**40:
            # 64-bit port: every sum is a small int, so INFER allocates nothing either
            check(feed_locked(core, f), f"allocation while serving INFER {bytes(f[:6])!r}")
        else:
            core.receive(f, len(f))
    f = request(wire.CMD_MODEL_ERASE, 10)
    core.receive(f, len(f))
    replies = sink.frames()
    check(len(replies) == len(frames) + 3, f"{len(replies)} replies for {len(frames) + 3} frames")
    for r in replies:
        body = bytearray(r)
        check(wire.frame_decode(body, len(body), 65535) >= 0 and body[3] == wire.FLAG_REPLY,
              f"model command {body[2]} refused or damaged")
    check(core.features & wire.FEAT_INFER and not core.features & wire.FEAT_MODEL_PERSIST,
          "features: INFER without MODEL_PERSIST (no model file)")
    return replies


a = run(batch=False)
b = run(batch=True)
check(strip_uptime(a) == strip_uptime(b), "per-sample and batch paths answer differently")
a = run_model(batch=False)
b = run_model(batch=True)
check(a == b, "per-sample and batch paths infer differently")
test_features_limit_configure()
test_codes_above_top_are_clamped()
test_uptime_counts_from_reset()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
