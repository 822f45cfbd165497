"""What one QUERY sample costs the board program, on whatever MicroPython runs this.

    micropython firmware/micropython/tools/bench_mp.py [N_DRIVE N_SENSE]   # on the host
    mpremote run firmware/micropython/tools/bench_mp.py                    # on a board

No link and no converter: the core is fed whole QUERY frames from memory and
writes its replies to memory; the per-sample port's PWM/ADC calls are stand-in
built-in methods, so a call costs what a call into C costs on that port (the
converter's own time, e.g. the RP2040's 2 us per ADC conversion, comes on
top). Per-sample costs are slopes between frames of 1 and N samples, so the
per-frame overhead (header, CRC and COBS of the fixed part, dispatch) is
left out. Prints "key value" lines:

  us_per_sample_batch       core + codec per sample, the medium measured elsewhere
  us_per_sample_per_sample  the same plus the per-sample loop: n_drive setter calls,
                            n_sense reader calls (oversample 1)
  viper_iters_per_sample    byte/value iterations of the viper loops per sample
  calls_per_sample          Python-level calls into C per sample (per-sample path)
  us_per_viper_iter         crc16 over 4 KiB, per byte
  us_per_call               a bound built-in method called in a native loop
  us_per_stdio_byte         StdioLink one-byte read (poll + readinto), only when
                            stdin is a pipe holding data (the host benchmark does it)
"""

import sys
import time

import micropython

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")

from phyffmp import wire  # noqa: E402
from phyffmp.core import Core  # noqa: E402
from phyffmp.ports.hw import HwPort  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class NullBatch:
    """measure_batch that reads nothing: the medium costs nothing here."""

    def __init__(self, n_drive: int, n_sense: int) -> None:
        self.n_drive = n_drive
        self.n_sense = n_sense

    def measure_batch(self, dac: "Any", n: int, nd: int, adc: "Any", ns: int, k: int,
                      settle: int) -> int:
        return 0

    def drive(self, dac: "Any", off: int, n: int) -> int:
        return 0

    def sense(self, adc: "Any", off: int, n: int) -> int:
        return 0

    def delay_us(self, us: int) -> None:
        pass


def stand_in_port(n_drive: int, n_sense: int) -> HwPort:
    """HwPort whose setters/readers are built-in bound methods (calls into C)."""
    sink = set()
    setters = [sink.discard for _ in range(n_drive)]  # one int argument, returns None
    readers = [time.ticks_ms for _ in range(n_sense)]  # no argument, returns a small int
    return HwPort(setters, 4, 12, readers, 4, 12, 0)


class Sink:
    def __init__(self) -> None:
        self.n = 0

    def write(self, buf: bytearray, n: int) -> None:
        self.n += n


def query_frame(n: int, nd: int) -> bytearray:
    raw = bytearray(wire.HEADER_SIZE + 4 + 2 * n * nd + wire.CRC_SIZE)
    wire.put_pair(raw, wire.HEADER_SIZE, n, nd)
    x = 12345
    for i in range(n * nd):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        wire.put_u16(raw, wire.HEADER_SIZE + 4 + 2 * i, (x >> 9) & 0x7FFF)
    out = bytearray(wire.wire_max_frame(4 + 2 * n * nd))
    m = wire.frame_encode(raw, 4 + 2 * n * nd, wire.PROTOCOL_LEVEL, 1, wire.CMD_QUERY, 0, 0,
                          out)
    return out[:m]


def per_frame_us(core: Core, frame: bytearray, repeats: int) -> float:
    best = 1e18
    for _ in range(repeats):
        t0 = time.ticks_us()
        core.receive(frame, len(frame))
        dt = time.ticks_diff(time.ticks_us(), t0)
        if dt < best:
            best = dt
    return best


def slope(port: "Any", nd: int, ns: int, max_payload: int) -> "tuple[float, int]":
    sink = Sink()
    core = Core(port, sink.write, board="bench", medium="none", unit_id=0, features=0,
                n_drive=nd, n_sense=ns, dac_bits=12, adc_bits=12, max_oversample=1,
                max_payload=max_payload, max_channels=ns)
    n = core.max_batch
    one = query_frame(1, nd)
    many = query_frame(n, nd)
    t1 = per_frame_us(core, one, 15)
    tn = per_frame_us(core, many, 7)
    return (tn - t1) / (n - 1), n


@micropython.native
def call_loop(fn: "Any", count: int) -> None:
    for i in range(count):
        fn(i)


def main() -> None:
    nd = int(sys.argv[1]) if len(sys.argv) > 2 else 20
    ns = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    max_payload = 16384 if sys.platform in ("linux", "darwin") else 1024
    batch, n = slope(NullBatch(nd, ns), nd, ns, max_payload)
    per, _ = slope(stand_in_port(nd, ns), nd, ns, max_payload)
    print("platform", sys.platform)
    print("n_drive", nd)
    print("n_sense", ns)
    print("frame_samples", n)
    print("us_per_sample_batch", batch)
    print("us_per_sample_per_sample", per)
    # viper loops per sample: request gather + COBS decode + CRC (2 bytes per value)
    # + Q15 -> DAC codes; reply Q15 conversion + CRC + COBS encode (2 bytes per value)
    print("viper_iters_per_sample", 7 * nd + 5 * ns)
    print("calls_per_sample", nd + ns + 2)
    buf = bytearray(4096)
    t0 = time.ticks_us()
    for _ in range(20):
        wire.crc16(buf, 0, len(buf), wire.CRC_INIT)
    print("us_per_viper_iter", time.ticks_diff(time.ticks_us(), t0) / (20 * len(buf)))
    sink = set()
    t0 = time.ticks_us()
    call_loop(sink.discard, 100000)
    print("us_per_call", time.ticks_diff(time.ticks_us(), t0) / 100000)
    if len(sys.argv) > 3 and sys.argv[3] == "stdio":
        from phyffmp.link import StdioLink

        link = StdioLink(poll_ms=0)
        chunk = bytearray(256)
        total = 0
        t0 = time.ticks_us()
        while True:
            got = link.readinto(chunk)
            if got <= 0:
                break
            total += got
        if total:
            print("us_per_stdio_byte", time.ticks_diff(time.ticks_us(), t0) / total)


main()
