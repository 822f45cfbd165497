"""The firmware's budget: image size, and instructions per QUERY and per INFER sample on a
Cortex-M3.

Run: ``python -m phyff.perf.firmware`` (needs qemu-system-arm and
arm-none-eabi-gcc; builds the QEMU image first if needed).

Size. ``arm-none-eabi-size`` of the QEMU image (board core + shared codec +
QEMU port + startup code + the parts of newlib they use). Flash = text +
data; RAM = data + bss, where bss includes the 1.5 KiB stack the linker script
reserves. The budget is 32 KiB of flash and 16 KiB of RAM (the image carries
on-device inference with two model slots); the linker script already refuses
to link anything larger, this prints the margin.

Instructions per sample. QEMU does not model cycles, but with ``-icount
shift=0`` every guest instruction advances virtual time by exactly 1 ns, so
the firmware's own timer (TIMER0, 25 MHz) counts executed instructions in
steps of 40. The QEMU port (ports/qemu/qemu_port.c) measures, for every
reply, the ticks it spent executing from the first byte of the request to
the last byte of the reply, minus the ticks spent waiting for a UART, and
writes them to UART2. Waiting is excluded because it depends on how fast the
host answers, not on the firmware; what remains is deterministic up to how
the request's bytes happened to be split across receive calls (a few ticks).

The benchmark sends QUERY frames of 1 and of N samples (N = 32, or the batch
limit if smaller), 7 of each, and takes the slope between the medians: the
per-sample cost, free of the per-frame overhead (which is the intercept).
"medium link" is the part spent encoding MEASURE and decoding its reply, the
QEMU port's stand-in for driving DACs and reading ADCs; "core" is the rest
(frame decode and CRC, Q15 to DAC codes, ADC codes to Q15, saturation flags,
reply encode and CRC, and writing it to the UART). A real Cortex-M3 runs
these at roughly 1.2-1.5 cycles per instruction (flash wait states, taken
branches), so cycles ~ 1.3 x instructions.

INFER (:func:`measure_infer`): a vowels7-sized model (20 drive / 20 sense
channels, two 20-output blocks with skips, 7 classes, 4,062 bytes) is loaded
and INFER frames of 1 and 16 samples are timed the same way, and by the
board's own STATS counters (infer_digital_us, infer_medium_us).

LEARN and REFIT (:func:`measure_learn`, wire.h W-N1-N8): the same model, LEARN
frames of 1 and 16 samples (the slope: one sample measured through the
blocks and added to the read-out's statistics), then REFIT of the statistics
of 70 samples (10 per class; the solve of learn.h RF-S1-Q5, the image check,
its CRC-32 and the reply), timed by the same diagnostics. The milliseconds at
the QEMU board's nominal 25 MHz are instructions / 25 MHz at 1 to 1.3 cycles
per instruction.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phyff.board.client import Board
from phyff.emulator.qemu import QemuBoard, QemuError, ensure_firmware, qemu_unavailable
from phyff.ondevice.random_images import random_model_image
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, QueryHead

FLASH_BUDGET = 32 * 1024
RAM_BUDGET = 16 * 1024
INSTRUCTIONS_PER_TICK = 40  # 1 ns per instruction under icount shift=0, 25 MHz timer
INSTRUCTIONS_PER_US = 1000  # micros() = ticks / 25: one microsecond of virtual time
MEDIA = ("emu://acoustic?seed=1&n_in=6&n_out=4", "emu://acoustic?seed=1",
         "emu://optical?seed=1")


# A vowels7-sized network on the acoustic medium (20 drive / 20 sense channels):
# 7 classes, 12 features, two blocks of 20 outputs with skip connections.
VOWELS7_MEDIUM = "emu://acoustic?seed=1&n_in=20&n_out=20"
VOWELS7_CLASSES = 7
VOWELS7_FEATURES = 12


@dataclass
class Diag:
    busy: int  # timer ticks executing (waits excluded)
    medium: int  # of which in the medium link
    wait: int


def sizes(elf: Path) -> dict[str, int]:
    """Allocated sections of the ELF, by name (arm-none-eabi-size -A)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    result: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and not parts[0].startswith(".debug"):
            result[parts[0]] = int(parts[1])
    return result


def biggest_ram_symbols(elf: Path, count: int = 6,
                        nm: str = "arm-none-eabi-nm") -> list[tuple[str, int]]:
    """The image's largest static RAM users (data and bss symbols), largest first:
    where to look when RAM runs short. nm is the image's toolchain's nm."""
    out = subprocess.run([nm, "-S", "--size-sort", "-r", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "bBdD":
            found.append((parts[3], int(parts[1], 16)))
    return found[:count]


def report_size(elf: Path) -> bool:
    s = sizes(elf)
    flash = s.get(".text", 0) + s.get(".ARM.exidx", 0) + s.get(".data", 0)
    ram = s.get(".data", 0) + s.get(".bss", 0) + s.get(".stack", 0)
    subprocess.run(["arm-none-eabi-size", str(elf)], check=True)
    ok = flash <= FLASH_BUDGET and ram <= RAM_BUDGET
    print(f"flash {flash} B of {FLASH_BUDGET} ({100 * flash / FLASH_BUDGET:.0f} %), "
          f"RAM {ram} B of {RAM_BUDGET} ({100 * ram / RAM_BUDGET:.0f} %, "
          f"{s.get('.stack', 0)} B of it stack): {'within budget' if ok else 'OVER BUDGET'}")
    print("largest RAM users: " + ", ".join(f"{n} {b} B" for n, b in biggest_ram_symbols(elf)))
    return ok


def next_diag_line(path: Path, seen: int, error: Exception, *, prefix: str = "",
                   timeout: float = 5.0) -> tuple[dict[str, int], int]:
    """The ``key=value`` numbers of the next diagnostics line in the file at path
    after the first `seen` ones (only lines starting with prefix count), and seen + 1.

    Only complete lines are read: the emulator may be half-way through writing the
    last one. Raises error when no new line comes within timeout seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        complete = path.read_text().split("\n")[:-1]
        lines = [ln for ln in complete if ln.startswith(prefix)]
        if len(lines) > seen:
            fields = dict(kv.split("=") for kv in lines[seen].split()[1:])
            return {k: int(v) for k, v in fields.items()}, seen + 1
        time.sleep(0.005)
    raise error


def _read_diag(path: Path, seen: int) -> tuple[Diag, int]:
    """The QEMU port's next UART2 line (``phyff-diag busy=B medium=M wait=W``)."""
    fields, seen = next_diag_line(path, seen, prefix="phyff-diag", error=QemuError(
        "the firmware wrote no diagnostics line on UART2"))
    return Diag(fields["busy"], fields["medium"], fields["wait"]), seen


def measure_cycles(url: str, elf: Path, repeats: int = 7) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        diag = Path(tmp) / "uart2.log"
        with QemuBoard(url, elf=elf, icount=True, diag=diag) as qb, Board.open(qb.url) as board:
            nd, ns = board.n_drive, board.n_sense
            hi = min(32, board.max_batch)
            seen = len(diag.read_text().splitlines())  # start-up lines (the announcement...)
            rng = np.random.default_rng(0)
            runs: dict[int, list[Diag]] = {1: [], hi: []}
            for _ in range(repeats):
                for n in (1, hi):
                    drive = rng.integers(0, 32768, size=(n, nd), dtype=np.int16)
                    payload = QueryHead(n, nd).pack() + wire.pack_samples(drive)
                    board.link.request(Cmd.QUERY, payload)
                    d, seen = _read_diag(diag, seen)
                    runs[n].append(d)
    med = {n: (statistics.median(d.busy for d in ds), statistics.median(d.medium for d in ds))
           for n, ds in runs.items()}
    spread = max(d.busy for d in runs[hi]) - min(d.busy for d in runs[hi])
    per_sample = (med[hi][0] - med[1][0]) / (hi - 1) * INSTRUCTIONS_PER_TICK
    per_sample_medium = (med[hi][1] - med[1][1]) / (hi - 1) * INSTRUCTIONS_PER_TICK
    per_frame = med[1][0] * INSTRUCTIONS_PER_TICK - per_sample
    return (f"{nd:2d} drive x {ns:2d} sense: {per_sample:7.0f} instructions/sample "
            f"(core {per_sample - per_sample_medium:.0f}, medium link {per_sample_medium:.0f}); "
            f"{per_frame:.0f} per frame; slope over 1 and {hi} samples, "
            f"spread {spread * INSTRUCTIONS_PER_TICK} instr. at {hi}")


def measure_infer(elf: Path, repeats: int = 7, batch: int = 16) -> str:
    """Instructions per INFER sample of a vowels7-sized model on the QEMU board.

    Two views of the same frames, which must agree: the UART2 diagnostics give the
    instructions executed per frame (busy, waits excluded) and the part of them in
    the medium link; the slope between INFERs of 1 and `batch` samples is the
    per-sample cost. STATS gives infer_digital_us (the core's pipeline: encoding,
    affine maps, read-out) and infer_medium_us (drive/settle/sense, i.e. one
    MEASURE per block, INCLUDING the wait for the medium server) per sample; the
    port's micros() counts TIMER0's 25 MHz ticks, so under -icount shift=0 one
    microsecond of it is 1,000 instructions. The medium time is not an instruction
    count (it is mostly the host answering), so it is printed in microseconds.
    """
    with tempfile.TemporaryDirectory() as tmp:
        diag = Path(tmp) / "uart2.log"
        with QemuBoard(VOWELS7_MEDIUM, elf=elf, icount=True, diag=diag) as qb, \
                Board.open(qb.url, timeout=10.0) as board:
            caps = board.caps
            if not caps.features & wire.Feature.INFER:
                return "the image has no on-device inference (no FEAT_INFER)"
            image = random_model_image(caps, n_classes=VOWELS7_CLASSES,
                                       n_features=VOWELS7_FEATURES, hidden=20,
                                       name="vowels7-bench").pack()
            info = board.load_model(image)
            batch = min(batch, info.max_batch)
            time.sleep(0.3)  # the diagnostics of the load's replies
            seen = len(diag.read_text().split("\n")[:-1])
            rng = np.random.default_rng(0)
            runs: dict[int, list[Diag]] = {1: [], batch: []}
            digital_us = medium_us = samples = 0
            for _ in range(repeats):
                for n in (1, batch):
                    x = rng.integers(-20000, 20000, size=(n, VOWELS7_FEATURES), dtype=np.int16)
                    before = wire.Stats.unpack(board.link.request(Cmd.STATS))
                    _, seen = _read_diag(diag, seen)
                    payload = wire.InferHead(n, VOWELS7_FEATURES, 0).pack() + \
                        wire.pack_samples(x)
                    board.link.request(Cmd.INFER, payload, timeout=30.0)
                    d, seen = _read_diag(diag, seen)
                    runs[n].append(d)
                    after = wire.Stats.unpack(board.link.request(Cmd.STATS))
                    _, seen = _read_diag(diag, seen)
                    digital_us += after.infer_digital_us - before.infer_digital_us
                    medium_us += after.infer_medium_us - before.infer_medium_us
                    samples += after.infer_samples - before.infer_samples
            board.erase_model()
    med = {n: (statistics.median(d.busy for d in ds), statistics.median(d.medium for d in ds))
           for n, ds in runs.items()}
    per_sample = (med[batch][0] - med[1][0]) / (batch - 1) * INSTRUCTIONS_PER_TICK
    per_sample_link = (med[batch][1] - med[1][1]) / (batch - 1) * INSTRUCTIONS_PER_TICK
    stats_digital = digital_us / samples * INSTRUCTIONS_PER_US
    return (f"model {len(image)} B ({info.n_blocks} blocks, {info.n_features} features, "
            f"{info.n_classes} classes, {info.trace_values} sensed values/sample)\n"
            f"  per INFER sample: {per_sample:7.0f} instructions executed "
            f"(digital pipeline and frame {per_sample - per_sample_link:.0f}, "
            f"medium link {per_sample_link:.0f}; slope over 1 and {batch} samples)\n"
            f"  STATS per sample: digital {stats_digital:.0f} instructions "
            f"({digital_us / samples:.1f} us), medium {medium_us / samples:.0f} us of virtual "
            f"time (the medium link and the wait for the medium server)")


NOMINAL_HZ = 25_000_000  # the mps2-an385 board's clock (TIMER0's rate)
REFIT_SAMPLES_PER_CLASS = 10


def measure_learn(elf: Path, repeats: int = 5, batch: int = 16) -> str:
    """Instructions per LEARN sample and per REFIT of a vowels7-sized read-out on the
    QEMU board (UART2 diagnostics, waits excluded; see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        diag = Path(tmp) / "uart2.log"
        with QemuBoard(VOWELS7_MEDIUM, elf=elf, icount=True, diag=diag) as qb, \
                Board.open(qb.url, timeout=10.0) as board:
            if not board.can_learn:
                return "the image cannot learn on the device (no FEAT_LEARN)"
            image = random_model_image(board.caps, n_classes=VOWELS7_CLASSES,
                                       n_features=VOWELS7_FEATURES, hidden=20,
                                       name="vowels7-learn").pack()
            info = board.load_model(image)
            time.sleep(0.3)
            seen = len(diag.read_text().split("\n")[:-1])
            rng = np.random.default_rng(1)
            runs: dict[int, list[Diag]] = {1: [], batch: []}
            refits: list[Diag] = []
            conditioning = 0
            n_refit = REFIT_SAMPLES_PER_CLASS * VOWELS7_CLASSES
            for _ in range(repeats):
                for n in (1, batch):
                    x = rng.integers(-20000, 20000, size=(n, VOWELS7_FEATURES), dtype=np.int16)
                    board.link.request(Cmd.LEARN, wire.pack_learn_request(
                        x, np.arange(n) % VOWELS7_CLASSES), timeout=30.0)
                    d, seen = _read_diag(diag, seen)
                    runs[n].append(d)
                board.link.request(Cmd.FORGET)
                _, seen = _read_diag(diag, seen)
                x = rng.integers(-20000, 20000, size=(n_refit, VOWELS7_FEATURES), dtype=np.int16)
                labels = np.arange(n_refit) % VOWELS7_CLASSES
                for start in range(0, n_refit, batch):
                    board.link.request(Cmd.LEARN, wire.pack_learn_request(
                        x[start:start + batch], labels[start:start + batch]), timeout=30.0)
                    _, seen = _read_diag(diag, seen)
                reply = wire.RefitReply.unpack(board.link.request(
                    Cmd.REFIT, (10).to_bytes(2, "little"), timeout=60.0))
                conditioning = reply.conditioning
                d, seen = _read_diag(diag, seen)
                refits.append(d)
            board.erase_model()
    med = {n: statistics.median(d.busy for d in ds) for n, ds in runs.items()}
    link = {n: statistics.median(d.medium for d in ds) for n, ds in runs.items()}
    per_sample = (med[batch] - med[1]) / (batch - 1) * INSTRUCTIONS_PER_TICK
    per_sample_link = (link[batch] - link[1]) / (batch - 1) * INSTRUCTIONS_PER_TICK
    refit = statistics.median(d.busy for d in refits) * INSTRUCTIONS_PER_TICK
    spread = (max(d.busy for d in refits) - min(d.busy for d in refits)) * INSTRUCTIONS_PER_TICK
    ms = [refit * cpi / NOMINAL_HZ * 1e3 for cpi in (1.0, 1.3)]
    return (f"read-out of {20 * info.n_blocks} features (20 outputs per block), "
            f"{info.n_classes} classes\n"
            f"  per LEARN sample: {per_sample:7.0f} instructions executed "
            f"(digital pipeline, statistics and frame {per_sample - per_sample_link:.0f}, "
            f"medium link {per_sample_link:.0f}; slope over 1 and {batch} samples)\n"
            f"  per REFIT of {n_refit} samples: {refit:,.0f} instructions (spread {spread}, "
            f"conditioning 2^{conditioning}): {ms[0]:.0f}-{ms[1]:.0f} ms at the board's "
            f"nominal {NOMINAL_HZ / 1e6:.0f} MHz")


def benchmark_image(what: str, unavailable: Callable[[], str | None],
                    ensure: Callable[[], Path]) -> Path | None:
    """The image to benchmark (ensure() builds it if needed), or None after printing
    why the `what` benchmark is skipped (unavailable(): the emulator or toolchain
    missing, with how to install it)."""
    reason = unavailable()
    if reason:
        print(f"{what} benchmark skipped: {reason}")
        return None
    return ensure()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", nargs="*", default=list(MEDIA),
                        help="emu:// URLs of the simulated media to measure with")
    args = parser.parse_args(argv)
    elf = benchmark_image("firmware", qemu_unavailable, ensure_firmware)
    if elf is None:
        return 1
    print(f"== size of {elf}")
    ok = report_size(elf)
    print("== QUERY cost on the Cortex-M3 (QEMU -icount shift=0: instructions executed)")
    for url in args.media:
        print(f"{url:45s} {measure_cycles(url, elf)}")
    print("== INFER cost on the Cortex-M3, a vowels7-sized model "
          f"({VOWELS7_MEDIUM}, QEMU -icount shift=0)")
    print(measure_infer(elf))
    print("== LEARN and REFIT cost on the Cortex-M3, the same model (wire.h W-N1-N8)")
    print(measure_learn(elf))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
