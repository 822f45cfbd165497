"""What one INFER sample costs the board program, on whatever MicroPython runs this.

    micropython firmware/micropython/tools/bench_infer_mp.py [N_CHANNELS N_CLASSES]
    mpremote run firmware/micropython/tools/bench_infer_mp.py       # on a board

A two-block model (amplitude encoders, both blocks physical with a skip
path, N_CHANNELS drives and senses, N_CLASSES classes, width = N_CHANNELS)
is built in memory, loaded through MODEL_BEGIN/CHUNK/COMMIT and run by INFER
frames fed from memory; the medium is a stand-in batch port that costs almost
nothing, so the figures are the core's own work (encoding, the affine maps,
read-out or goodness, the reply). Per-sample costs are slopes between frames
of 1 and N samples. Prints "key value" lines:

  us_per_sample_onepass     one pass, linear read-out
  us_per_sample_goodness    one pass per label (N_CLASSES passes), cosine goodness
  us_per_commit             MODEL_COMMIT (CRC-32 of the image and the checks)
  image_bytes               the image's size
"""

import sys
import time
from array import array

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")

from phyffmp import wire  # noqa: E402
from phyffmp.core import Core  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class NullPort:
    """A batch port whose medium answers a fixed pattern (no time of its own)."""

    measure_batch: "Any" = None
    drive: "Any" = None
    sense: "Any" = None

    def __init__(self) -> None:
        self.measure_batch = self._batch

    def _batch(self, dac: "Any", n: int, nd: int, adc: "Any", ns: int, k: int,
               settle: int) -> int:
        for i in range(n * ns):
            adc[i] = (i * 37 + dac[i % nd]) & 0xFFF
        return 0

    def delay_us(self, us: int) -> None:
        pass


class Sink:
    def __init__(self) -> None:
        self.last = bytearray(8)

    def write(self, buf: bytearray, n: int) -> None:
        self.last[0] = buf[0]


def build(nc: int, ncls: int, goodness: bool) -> bytearray:
    """model.h image: width nc, two amplitude blocks (PHYSICAL | SKIP), d_out nc."""
    width = nc
    nf = width - ncls - 1
    blocks = 2
    z = nc + nc
    size = 72 + blocks * (24 + 2 * (nc * z + 2 * nc))
    if not goodness:
        size += 8 + 2 * (ncls * blocks * nc + ncls)
    img = bytearray(size)
    wire.put_u32(img, 0, 0x4D594850)
    wire.put_u16(img, 4, 1)
    img[6] = blocks
    img[7] = 1 if goodness else 0
    wire.put_u16(img, 8, nf)
    wire.put_u16(img, 10, ncls)
    wire.put_u16(img, 12, width)
    wire.put_u16(img, 14, ncls)
    wire.put_u32(img, 16, 7)
    img[21] = 16 if goodness else 3
    img[23] = 1
    wire.put_name(img, 24, "bench")
    wire.put_name(img, 56, "null")
    at = 72
    x = 12345
    for _ in range(blocks):
        head = (0, 3, nc & 0xFF, nc >> 8, nc & 0xFF, nc >> 8, nc & 0xFF, nc >> 8, nc & 0xFF,
                nc >> 8, 0, 0, 0, 1, 6, 15, 0, 0, 0, 0, 1, 0, 0, 0)
        for i, v in enumerate(head):
            img[at + i] = v
        at += 24
        for _ in range(nc * z + 2 * nc):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            wire.put_u16(img, at, ((x >> 8) % 12000 - 6000) & 0xFFFF)
            at += 2
    if not goodness:
        wire.put_pair(img, at, blocks * nc, ncls)
        img[at + 4] = 8
        img[at + 5] = 14
        at += 8
        while at < size:
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            wire.put_u16(img, at, ((x >> 8) % 12000 - 6000) & 0xFFFF)
            at += 2
    return img


def frame(cmd: int, payload: "Any") -> bytearray:
    raw = bytearray(wire.HEADER_SIZE + len(payload) + wire.CRC_SIZE)
    for i in range(len(payload)):
        raw[wire.HEADER_SIZE + i] = payload[i]
    out = bytearray(wire.wire_max_frame(len(payload)))
    n = wire.frame_encode(raw, len(payload), wire.PROTOCOL_LEVEL, 1, cmd, 0, 0, out)
    return out[:n]


def infer_frame(n: int, nf: int) -> bytearray:
    p = bytearray(8 + 2 * n * nf)
    wire.put_pair(p, 0, n, nf)
    for i in range(n * nf):
        wire.put_u16(p, 8 + 2 * i, ((i * 7919) % 40000 - 20000) & 0xFFFF)
    return frame(wire.CMD_INFER, p)


def bench(nc: int, ncls: int, goodness: bool, n: int) -> "tuple[float, float, int]":
    sink = Sink()
    img = build(nc, ncls, goodness)
    # model memory just the image's size: two slots of it must fit a board's heap
    core = Core(NullPort(), sink.write, board="bench", medium="null", unit_id=7, features=0,
                n_drive=nc, n_sense=nc, dac_bits=12, adc_bits=12, max_oversample=1,
                max_payload=4096, model_bytes=len(img), max_classes=ncls,
                infer_work=4 * nc + nc)
    begin = bytearray(8)
    wire.put_u32(begin, 0, len(img))
    wire.put_u32(begin, 4, wire.crc32(img, 0, len(img), 0, array("i", [0, 0])))
    f = frame(wire.CMD_MODEL_BEGIN, begin)
    core.receive(f, len(f))
    step = 2000
    for at in range(0, len(img), step):
        chunk = bytearray(4 + min(step, len(img) - at))
        wire.put_u32(chunk, 0, at)
        for i in range(len(chunk) - 4):
            chunk[4 + i] = img[at + i]
        f = frame(wire.CMD_MODEL_CHUNK, chunk)
        core.receive(f, len(f))
    f = frame(wire.CMD_MODEL_COMMIT, b"")
    t0 = time.ticks_us()
    core.receive(f, len(f))
    commit_us = time.ticks_diff(time.ticks_us(), t0)
    if not core.loaded:
        raise SystemExit("the benchmark model was refused")
    nf = nc - ncls - 1
    best = [0, 0]
    for i, count in enumerate((1, n)):
        f = infer_frame(count, nf)
        for rep in range(3):  # the quickest of three: less of the machine's noise
            t0 = time.ticks_us()
            core.receive(f, len(f))
            t = time.ticks_diff(time.ticks_us(), t0)
            best[i] = t if rep == 0 or t < best[i] else best[i]
    return (best[1] - best[0]) / (n - 1), commit_us, len(img)


def main() -> None:
    nc = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    ncls = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    one, commit_us, size = bench(nc, ncls, False, 41)
    good, _, _ = bench(nc, ncls, True, 11)
    print("us_per_sample_onepass", f"{one:.1f}")
    print("us_per_sample_goodness", f"{good:.1f}")
    print("us_per_commit", commit_us)
    print("image_bytes", size)


main()
