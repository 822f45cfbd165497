"""The Uno image's budget: flash and RAM on the ATmega328P, cycles and samples/s in simavr.

Run: ``python -m phyff.perf.uno`` (needs simavr's library, gcc-avr,
avr-libc and arduino-core-avr; builds the image and the harness if needed).

Size. ``avr-size`` of the Uno image (Arduino core + ports/arduino + board
core + shared codec, built with the Arduino IDE's flags: -Os, LTO,
--gc-sections). Flash = text + data, against the ATmega328P's 32 KiB (the
Uno's bootloader keeps 512 B of it, so 32,256 B are usable). RAM = data + bss,
static only, against 2 KiB; the rest is the stack (the core's QUERY path
needs a few hundred bytes of it).

Cycles. simavr counts the ATmega328P's cycles exactly (16 MHz), and the
harness (firmware/sim/simavr, rule SIM-S7) stamps every reply: the cycle the
request's first byte reached UART0, the cycle the reply's last byte left it,
and the cycles at which the first and last sense rounds of the QUERY began.
"cycles per sample" is the spacing of sense rounds: drive (4 analogWrite),
settle (0 here), six analogRead conversions (13 ADC clocks at 125 kHz each:
~1,664 cycles) and the core's bookkeeping. A frame also moves its request
and reply over the 115,200-baud UART (the Arduino core's U2X setting gives
117,647 baud: 1,360 cycles per byte), so "samples/s" is n / (end - start) in
simulated time for a full frame: what a real Uno delivers, less the host's
and the USB bridge's latency.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from phyff.board import Board
from phyff.emulator.simavr import (
    F_CPU,
    FLASH_SIZE,
    RAM_SIZE,
    SimavrBoard,
    SimavrError,
    ensure_firmware,
    image_sizes,
    simavr_unavailable,
)
from phyff.perf.firmware import benchmark_image, biggest_ram_symbols, next_diag_line
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Config, QueryHead

USABLE_FLASH = 32256  # 32 KiB less the Uno's 512-byte bootloader
URL = "emu://acoustic?seed=1"


def report_size(elf: Path) -> None:
    s = image_sizes(elf)
    print(f"flash {s['flash']:6d} B = text {s['text']} + data {s['data']}: "
          f"{100 * s['flash'] / FLASH_SIZE:.1f} % of 32 KiB "
          f"({USABLE_FLASH - s['flash']} B left beside the bootloader)")
    print(f"RAM   {s['ram']:6d} B = data {s['data']} + bss {s['bss']}: "
          f"{100 * s['ram'] / RAM_SIZE:.1f} % of 2 KiB ({RAM_SIZE - s['ram']} B for the stack)")
    largest = biggest_ram_symbols(elf, count=5, nm="avr-nm")
    print("largest RAM users: " + ", ".join(f"{n} {b} B" for n, b in largest))


def measure(elf: Path, configs: list[Config | None], repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        diag = Path(tmp) / "diag.log"
        with SimavrBoard(URL, elf=elf, diag=diag) as sb, Board.open(sb.url) as board:
            nd, n = board.n_drive, board.max_batch
            rng = np.random.default_rng(0)
            for config in configs:
                if config is not None:
                    board.link.request(Cmd.CONFIGURE, config.pack())
                seen = len(diag.read_text().split("\n")[:-1])
                per_sample, frame, wall = [], [], []
                for _ in range(repeats):
                    drive = rng.integers(0, 32768, size=(n, nd), dtype=np.int16)
                    payload = QueryHead(n, nd).pack() + wire.pack_samples(drive)
                    t0 = time.perf_counter()
                    board.link.request(Cmd.QUERY, payload)
                    wall.append(time.perf_counter() - t0)
                    d, seen = next_diag_line(diag, seen, timeout=10.0, error=SimavrError(
                        "the simavr harness wrote no diagnostics line for a reply"))
                    if d["rounds"] < 2:
                        raise SimavrError(f"a {n}-sample QUERY made {d['rounds']} sense rounds")
                    # sense rounds per sample: oversample of them
                    k = d["rounds"] // n
                    per_sample.append((d["last"] - d["first"]) / (d["rounds"] - 1) * k)
                    frame.append(d["end"] - d["start"])
                cfg = config or Config(0, 1, board.n_drive, board.n_sense)
                cyc = statistics.median(per_sample)
                fr = statistics.median(frame)
                print(f"settle {cfg.settle_us:4d} us, oversample {cfg.oversample}: "
                      f"{cyc:8.0f} cycles/sample ({cyc / F_CPU * 1e6:6.0f} us); "
                      f"{n}-sample QUERY {fr:8.0f} cycles = {fr / F_CPU * 1e3:5.1f} ms simulated "
                      f"-> {n / (fr / F_CPU):5.0f} samples/s at 115,200 baud "
                      f"(host wall clock {n / statistics.median(wall):4.0f} samples/s)")
                if config is not None:
                    board.link.request(Cmd.RESET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.parse_args(argv)
    elf = benchmark_image("Uno", simavr_unavailable, ensure_firmware)
    if elf is None:
        return 1
    print(f"== size of {elf} (ATmega328P)")
    report_size(elf)
    print(f"== QUERY cost on the simulated ATmega328P at {F_CPU // 1_000_000} MHz "
          f"(simavr, 4 drive x 6 sense, medium {re.sub(r'^emu://', '', URL)})")
    measure(elf, [None, Config(0, 4, 4, 6), Config(100, 1, 4, 6)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
