"""Instructions of on-device read-out learning on a Cortex-M3, and its refit bit for bit.

Run: ``python -m phyff.perf.learn_qemu RUN --board URL`` (RUN: a run directory
written by ``phyff train`` and ``phyff deploy``; URL: the emulated board it
was trained on), or without RUN for a synthetic vowels7-sized problem.

Builds firmware/bench/learn_qemu.c with the shared C (learn.c, model.c) for
QEMU's mps2-an385 with the QEMU port's startup code, flags and linker script
(the 32 KiB / 16 KiB budget), the image and ``--per-class`` labelled samples
compiled in; runs it under ``-icount shift=0`` (one instruction per virtual
nanosecond: TIMER0's 25 MHz tick is 40 instructions) and prints the
instructions per LEARN sample (the statistics' update, RF-A2-A4) and per
REFIT (RF-S1-Q5), the REFIT's time at the board's nominal 25 MHz (at about
1.3 cycles per instruction, as phyff.perf.firmware argues), the statistics'
size, and whether the image the Cortex-M3 wrote equals refit.py's.
The samples' read-out features come from the board, as in phyff.perf.learn.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from phyff.emulator.qemu import MACHINE, QEMU
from phyff.ondevice import refit as rf
from phyff.perf.learn import refit_arguments
from phyff.protocol.model_image import ModelImage

ROOT = Path(__file__).resolve().parents[3]
ARM_GCC = "arm-none-eabi-gcc"
INSTRUCTIONS_PER_TICK = 40
CYCLES_PER_INSTRUCTION = 1.3
CLOCK_HZ = 25e6


def data_header(image: ModelImage, f: NDArray[np.int64], y: NDArray[np.int64],
                lambda_shift: int) -> str:
    data = image.pack()
    rows = ",\n".join("{" + ",".join(str(int(v)) for v in row) + "}" for row in f)
    medium = image.head.train_medium
    return (f"#define LEARN_SAMPLES {len(f)}u\n"
            f"#define LEARN_LAMBDA_SHIFT {lambda_shift}u\n"
            f"#define LEARN_UNIT_ID {image.head.train_unit_id}u\n"
            f"#define LEARN_MEDIUM {json.dumps(medium)}\n"
            f"static const uint8_t LEARN_IMAGE[{len(data)}] = {{"
            + ",".join(str(b) for b in data) + "};\n"
            f"static const int16_t LEARN_FEATURES[{len(f)}][{f.shape[1]}] = {{\n{rows}}};\n"
            f"static const uint16_t LEARN_LABELS[{len(y)}] = {{"
            + ",".join(str(int(v)) for v in y) + "};\n")


def build(header: str, workdir: Path) -> Path:
    board = json.loads((ROOT / "firmware" / "platforms" / "qemu" / "boards" /
                        "mps2_an385.json").read_text())["build"]
    (workdir / "learn_data.h").write_text(header)
    qemu_port = ROOT / "firmware" / "ports" / "qemu"
    sources = [ROOT / "firmware" / "bench" / "learn_qemu.c", qemu_port / "startup.c",
               *(ROOT / "shared" / "src" / f"{name}.c" for name in
                 ("learn", "model", "wire", "fixed"))]
    elf = workdir / "learn_qemu.elf"
    cmd = [ARM_GCC, f"-mcpu={board['cpu']}", *board["ccflags"], *board["cflags"],
           "-Wall", "-Wextra", "-Werror", f"-I{workdir}", f"-I{qemu_port}",
           f"-I{ROOT / 'shared' / 'include'}", *map(str, sources),
           "-T", str(qemu_port / "mps2_an385.ld"), f"-mcpu={board['cpu']}",
           *board["linkflags"], "-o", str(elf)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return elf


def _run_until_end(elf: Path, timeout: float) -> dict[str, str]:
    proc = subprocess.Popen([QEMU, "-M", MACHINE, "-nographic", "-monitor", "none",
                             "-icount", "shift=0", "-kernel", str(elf), "-serial", "stdio"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    out: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "END":
                break
            key, _, value = line.strip().partition(" ")
            out[key] = value
    finally:
        proc.kill()
        proc.wait(timeout=timeout)
    return out


def samples_from_board(run_dir: Path, board_url: str, dataset: str, per_class: int
                       ) -> tuple[ModelImage, NDArray[np.int64], NDArray[np.int64]]:
    from phyff.board.client import Board
    from phyff.compare.fieldadapt import measure
    from phyff.datasets import load_dataset
    from phyff.ondevice.deploy import features_q15, load_deployment
    from phyff.perf.learn import pick

    image = load_deployment(run_dir)
    data = load_dataset(dataset, seed=0)
    y = np.asarray(data.y_train, np.int64)
    idx = pick(y, per_class, 0)
    with Board.open(board_url) as board:
        got = measure(board, image, features_q15(data.x_train[idx], image.head.input_exp))
    return image, got.features, y[idx]


@dataclass
class BenchResult:
    """What the Cortex-M3 did: instructions, status, and the image it wrote."""

    add_instructions: float  # per sample
    refit_instructions: int
    status: int
    cond_bits: int
    area_bytes: int
    image: bytes
    flash: int  # text + data of the bench image
    ram: int  # data + bss

    @property
    def refit_ms(self) -> float:
        return self.refit_instructions * CYCLES_PER_INSTRUCTION / CLOCK_HZ * 1e3


def bench(image: ModelImage, f: NDArray[np.int64], y: NDArray[np.int64], lambda_shift: int
          ) -> BenchResult:
    """Build, run under QEMU -icount, parse (raises RuntimeError when the program fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        elf = build(data_header(image, f, y, lambda_shift), Path(tmp))
        size = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True,
                              text=True, check=True).stdout.splitlines()[1].split()
        out = _run_until_end(elf, 300)
    if "image" not in out:
        raise RuntimeError(f"the benchmark program failed: {out}")
    return BenchResult(int(out["add_ticks"]) * INSTRUCTIONS_PER_TICK / len(f),
                       int(out["refit_ticks"]) * INSTRUCTIONS_PER_TICK, int(out["status"]),
                       int(out["cond_bits"]), int(out["area_bytes"]),
                       bytes.fromhex(out["image"]), int(size[0]) + int(size[1]),
                       int(size[1]) + int(size[2]))


def main(argv: list[str] | None = None) -> int:
    ap = refit_arguments(__doc__)
    args = ap.parse_args(argv)
    if shutil.which(ARM_GCC) is None or shutil.which(QEMU) is None:
        print(f"needs {ARM_GCC} and {QEMU}")
        return 3
    image, f, y = samples_from_board(args.run, args.board, args.dataset, args.per_class)
    stats = rf.Statistics.empty(f.shape[1], image.head.n_classes)
    stats.add(f, y)
    want = rf.refit(image, stats, args.lambda_shift)
    got = bench(image, f, y, args.lambda_shift)
    exact = got.image == want.image.pack()
    print(f"{args.dataset}: {f.shape[1]} read-out features + bias, {image.head.n_classes} "
          f"classes, {len(f)} samples, lambda 2^-{args.lambda_shift}")
    print(f"statistics: {got.area_bytes:,} bytes (one model slot of the QEMU image: 4,352)")
    print(f"LEARN, statistics update: {got.add_instructions:,.0f} instructions per sample")
    print(f"REFIT: {got.refit_instructions:,} instructions, ~{got.refit_ms:.0f} ms at 25 MHz "
          f"({CYCLES_PER_INSTRUCTION} cycles per instruction); status {got.status}, "
          f"conditioning {got.cond_bits} bits")
    print(f"the Cortex-M3's refitted image equals refit.py's: {exact}")
    print(f"bench program: {got.flash:,} B flash, {got.ram:,} B RAM (two slot-sized buffers "
          f"for the image and the statistics)")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
