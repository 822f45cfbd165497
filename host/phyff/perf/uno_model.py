"""A vowels7 network compiled into the Uno: flash, RAM, stack peak, accuracy and bit-exactness.

Run: ``python -m phyff.perf.uno_model`` (``make bench-uno-model``; needs simavr's
library, gcc-avr, avr-libc, arduino-core-avr and the vowel data: ``--data DIR``
or PHYFF_DATA_DIR). The HIL suite's ``hil/test_compiled_model.py`` runs the same
steps on ``--target simavr`` and asserts the budget.

The steps are a user's, on the cheapest board, in simulation:

1. train vowels7 through the simulated Uno (the stock image in simavr, the
   circuit medium behind its 4 PWM and 6 ADC pins: the emulator's ``shape=uno``)
   with the small-board settings of ``phyff bench``'s ``vowels7/uno`` task
   (3 device rows per block, the class code superposed on the 12 features, one
   cached wrong label per sample, 100 epochs per block);
2. ``phyff export RUN --arduino DIR``: the quantised image as a PROGMEM array
   and a sketch that boots with it (calibrated through the same board);
3. compile the sketch with the phyff Arduino library for the ATmega328P and
   boot it in simavr;
4. send every command the image serves once (the largest QUERY and INFER
   batches, traced and not, the refused model loads), so the harness's lowest
   stack pointer (rule SIM-S7) is the peak of every path a host can reach;
5. classify the test split on the board with a trace of every sensed value,
   recompute every score with the numpy reference (phyff.ondevice.reference)
   and compare the board's accuracy with the host's float model through the
   same board.

Flash is text + data of the sketch's image (32,256 B beside the bootloader),
static RAM data + bss, the stack peak RAMEND minus that lowest SP; the INFER
scratch (phyff_core.h CORE-K10) is what the board advertises (caps.max_classes
int64 sums and int32 scores, caps.infer_work + n_drive int16 values), inside
the transmit buffer of a max_payload frame.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import phyff
from phyff.board.client import Board, ModelTooLarge
from phyff.board.layer import BoardLayer
from phyff.board.link import BoardError
from phyff.datasets import load_dataset
from phyff.emulator.simavr import (
    FLASH_SIZE,
    RAM_SIZE,
    SimavrBoard,
    assemble_library,
    build_sketch,
    image_sizes,
    simavr_unavailable,
)
from phyff.ondevice.deploy import evaluate, features_q15
from phyff.ondevice.limits import block_work
from phyff.phyll.model import load_model
from phyff.protocol import wire
from phyff.protocol.enums import Cmd
from phyff.protocol.model_image import ModelImage
from phyff.protocol.wire import ChunkHead, ModelBegin, QueryHead
from phyff.training.runfiles import read_metrics

# The circuit behind the Uno's pins: what emu://circuit?seed=1&shape=uno emulates.
UNO_MEDIUM = "emu://circuit?seed=1"
RAMEND = 0x8FF  # the ATmega328P's last RAM address
BOOTLOADER = 512  # bytes of flash the Uno's optiboot keeps
USABLE_FLASH = FLASH_SIZE - BOOTLOADER
# phyff bench's vowels7/uno task (phyff.compare.tasks.small_board_tasks)
TRAIN_ARGS = ("--dataset", "vowels7", "--cache-negatives", "1", "--epochs", "100")


@dataclass(frozen=True)
class UnoModelFigures:
    """What the compiled-in vowels7 model costs the Uno and how it classifies."""

    image_bytes: int
    n_classes: int
    n_features: int
    block_rows: tuple[int, ...]
    flash: int
    ram_static: int
    stack_peak: int
    max_payload: int
    max_classes: int  # caps: the limits the build advertises
    infer_work: int
    scratch_bytes: int  # CORE-K10: INFER's scratch at those limits
    tx_bytes: int  # the transmit buffer it shares
    model_work: int  # int16 scratch values this model needs per sample
    n_test: int
    accuracy: float  # the board's own answers
    host_accuracy: float  # the host's float model through the same board
    run_accuracy: float  # the training run's own test figure
    bit_exact: float  # samples whose every score equals the numpy reference's

    @property
    def ram_total(self) -> int:
        return self.ram_static + self.stack_peak

    def lines(self) -> list[str]:
        """The figures as printed by ``make bench-uno-model``."""
        rows = "/".join(str(r) for r in self.block_rows)
        return [
            f"model: vowels7, {self.n_features} features -> {self.n_classes} classes, blocks of "
            f"{rows} device rows, image {self.image_bytes:,} B (compiled in, read from flash)",
            f"flash {self.flash:,} B of {USABLE_FLASH:,} beside the bootloader "
            f"({100 * self.flash / USABLE_FLASH:.1f} %)",
            f"RAM   static {self.ram_static:,} B + stack peak {self.stack_peak} B (simavr, every "
            f"command) = {self.ram_total:,} B of {RAM_SIZE:,} ({RAM_SIZE - self.ram_total} B "
            f"free)",
            f"INFER scratch {self.scratch_bytes} B for the advertised limits ({self.max_classes} "
            f"classes, {self.infer_work} values; this model needs {self.n_classes} and "
            f"{self.model_work}) inside the {self.tx_bytes}-byte transmit buffer of "
            f"{self.max_payload}-byte frames: "
            f"{max(0, self.scratch_bytes - self.tx_bytes)} B beyond it",
            f"accuracy on the {self.n_test} test samples: on the board "
            f"{100 * self.accuracy:.1f} %, host float through the same board "
            f"{100 * self.host_accuracy:.1f} % (difference "
            f"{100 * (self.accuracy - self.host_accuracy):+.1f} points; training run "
            f"{100 * self.run_accuracy:.1f} %)",
            f"bit-exact with the numpy reference: {100 * self.bit_exact:.1f} % of the test "
            f"samples (every score, from the board's trace)",
        ]


def _cli(*args: str, data_dir: str) -> str:
    """The phyff command of this checkout, as a user runs it; its stdout."""
    host = str(Path(phyff.__file__).resolve().parents[1])
    env = {**os.environ, "PHYFF_DATA_DIR": data_dir,
           "PYTHONPATH": host + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "phyff.cli.main", *args], capture_output=True,
                          text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"phyff {args[0]} failed (exit {done.returncode}): "
                           f"{done.stderr.strip()}")
    return done.stdout


def train_and_export(work: Path, data_dir: str) -> tuple[Path, Path]:
    """Steps 1-2: the run folder and the exported sketch's .ino."""
    run, sketch = work / "uno_vowels7_run", work / "uno_vowels7"
    with SimavrBoard(UNO_MEDIUM) as uno:
        _cli("train", "--board", uno.url, *TRAIN_ARGS, "--run", str(run), "--no-progress",
             data_dir=data_dir)
        _cli("export", str(run), "--board", uno.url, "--arduino", str(sketch), data_dir=data_dir)
    return run, sketch / f"{sketch.name}.ino"


def _refused(board: Board, cmd: int, payload: bytes = b"") -> None:
    try:
        board.link.request(cmd, payload)
    except BoardError:
        return
    raise RuntimeError(f"the Uno served command 0x{cmd:02x}, which it must refuse")


def exercise(board: Board, info: wire.ModelInfo, x_q: np.ndarray) -> None:
    """Step 4: every command the image serves, at its largest, once."""
    caps = board.caps
    board.link.request(Cmd.HELLO)
    board.link.request(Cmd.CONFIGURE)
    board.link.request(Cmd.STATS)
    drive = np.full((caps.max_batch, caps.n_drive), 16384, dtype=np.int16)
    board.link.request(Cmd.QUERY, QueryHead(caps.max_batch, caps.n_drive).pack()
                       + wire.pack_samples(drive))
    board.model_info()
    rows = np.resize(x_q, (info.max_batch, x_q.shape[1])).astype(np.int16)
    board.infer(rows, trace=False, info=info)
    board.infer(rows[:info.max_batch_trace], trace=True, info=info)
    _refused(board, Cmd.MODEL_BEGIN, ModelBegin(64, 0).pack())
    _refused(board, Cmd.MODEL_CHUNK, ChunkHead(0).pack() + bytes(8))
    _refused(board, Cmd.MODEL_COMMIT)
    board.describe()  # MODEL_DESCRIBE: the section in the largest pieces a frame carries
    for cmd in (Cmd.LEARN, Cmd.REFIT, Cmd.FORGET):  # compiled out on the Uno (CORE-K11)
        _refused(board, cmd)
    _refused(board, 0x7E)  # an unknown command
    board.erase_model()  # the compiled-in model stays in force (CORE-K9)


def stack_peak(diag: Path) -> int:
    """RAMEND minus the lowest SP the harness saw (SIM-S7)."""
    lines = diag.read_text().splitlines()
    return RAMEND - min(int(line.split("sp_min=")[1]) for line in lines)


def measure(work: Path, data_dir: str) -> UnoModelFigures:
    """Steps 1-5 in `work`; the figures."""
    run, ino = train_and_export(work, data_dir)
    image = ModelImage.unpack((run / "device-model.bin").read_bytes())
    elf = build_sketch(ino, assemble_library(work / "arduino"), work / "build")
    sizes = image_sizes(elf)
    data = load_dataset("vowels7", data_dir=data_dir, seed=0)
    model = load_model(run / "model.npz")
    diag = work / "diag.txt"
    with SimavrBoard(UNO_MEDIUM, elf=elf, diag=diag) as uno, Board.open(uno.url) as board:
        caps = board.caps
        info = board.model_info()
        if info is None or info.origin != wire.lib.PHYFF_MODEL_COMPILED:
            raise RuntimeError("the Uno does not serve its compiled-in model")
        try:
            board.load_model(image.pack())
            raise RuntimeError("the Uno took a model load: it has no model memory")
        except ModelTooLarge:
            pass
        exercise(board, info, features_q15(data.x_test, info.input_exp))
        on_device = evaluate(board, image, data.x_test)  # traced: every score checked
        host = model.predict([BoardLayer(board)] * model.n_blocks, data.x_test)
    scratch = 12 * caps.max_classes + 2 * (caps.infer_work + caps.n_drive)
    work_values = max(block_work(image, k) for k in range(len(image.blocks)))
    return UnoModelFigures(
        image_bytes=len(image.pack()), n_classes=image.head.n_classes,
        n_features=image.head.n_features,
        block_rows=tuple(max(b.head.rows, 1) for b in image.blocks),
        flash=sizes["flash"], ram_static=sizes["ram"], stack_peak=stack_peak(diag),
        max_payload=caps.max_payload, max_classes=caps.max_classes,
        infer_work=caps.infer_work, scratch_bytes=scratch,
        tx_bytes=wire.max_frame_size(caps.max_payload), model_work=work_values,
        n_test=len(data.y_test),
        accuracy=float(np.mean(on_device.predictions == data.y_test)),
        host_accuracy=float(np.mean(host == data.y_test)),
        run_accuracy=_run_test_accuracy(run),
        bit_exact=on_device.bit_exact)


def _run_test_accuracy(run: Path) -> float:
    """The training run's last evaluated test accuracy (its metrics.jsonl)."""
    scored = [r["test_acc"] for r in read_metrics(run / "metrics.jsonl")
              if r.get("test_acc") is not None]
    return float(scored[-1]) if scored else float("nan")


def vowel_data_dir(given: str | None) -> str | None:
    """The folder holding vowels7/ (--data, else PHYFF_DATA_DIR), or None."""
    folder = given or os.environ.get("PHYFF_DATA_DIR", "").strip()
    return folder if folder and (Path(folder) / "vowels7").is_dir() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", help="folder holding vowels7/ (default: PHYFF_DATA_DIR)")
    parser.add_argument("--keep", type=Path,
                        help="work in this folder and keep it (run, sketch, image, diagnostics)")
    args = parser.parse_args(argv)
    reason = simavr_unavailable()
    data_dir = vowel_data_dir(args.data)
    if reason or data_dir is None:
        print("Uno compiled-model benchmark skipped: "
              + (reason or "no vowel data: pass --data DIR or set PHYFF_DATA_DIR to the "
                           "folder holding vowels7/"))
        return 1
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = measure(args.keep, data_dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure(Path(tmp), data_dir)
    print("== a vowels7 network compiled into the Uno image, in simavr")
    print("\n".join(figures.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
