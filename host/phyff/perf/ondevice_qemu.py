"""Speed of on-device inference on the QEMU board, against the host path.

Run: ``python -m phyff.perf.ondevice_qemu`` (needs qemu-system-arm and the
ARM toolchain; PHYFF_DATA_DIR for the vowels).

One vowels7 model (trained on the emulated cavity with the QEMU board's
medium seed, so the same physics) is deployed to the QEMU board. Then every
test sample is classified one at a time, end to end (features in, class
out), two ways through the same board in the same run:

- on the board: one INFER frame per sample;
- on the host: the trainer's one-pass inference, which sends one QUERY per
  block and computes encoders, affine maps and read-out in numpy.

Printed: the median time per sample each way and their ratio, the board's
own split of its INFER time (STATS: digital vs medium, from its timer), and
whether the two agree on the classes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from phyff.board.client import Board
from phyff.board.layer import board_layers
from phyff.datasets import load_dataset
from phyff.emulator.qemu import QemuBoard, qemu_unavailable
from phyff.ondevice.deploy import deploy, features_q15
from phyff.phyll.model import load_model
from phyff.training.config import TrainConfig
from phyff.training.session import train

MEDIUM = "emu://acoustic?seed=1"


def speed(repeats: int = 3) -> str:
    """The figures as text (see the module docstring)."""
    problem = qemu_unavailable()
    if problem:
        return f"QEMU speed: skipped ({problem})"
    data = load_dataset("vowels7", seed=0)
    with tempfile.TemporaryDirectory(prefix="phyff-ondevice-qemu-") as tmp:
        with Board.open(MEDIUM) as emu:
            layers = board_layers(emu, 2)
            train(TrainConfig.from_preset("acoustic"), layers, data, Path(tmp) / "run",
                  progress=False)
        model = load_model(Path(tmp) / "run" / "model.npz")
    with QemuBoard(MEDIUM) as qemu, Board.open(qemu.url, timeout=10.0) as board:
        if not board.can_infer:
            return "QEMU speed: skipped (the QEMU image has no model memory)"
        dep = deploy(model, board, data.x_train, data.y_train, name="speed", check=8)
        info = dep.info
        x = data.x_test
        x_q = features_q15(x, info.input_exp)
        layers = board_layers(board, model.n_blocks)
        on_board: list[float] = []
        on_host: list[float] = []
        board_classes = np.empty(len(x), np.int64)
        host_classes = np.empty(len(x), np.int64)
        before = board.stats()
        for _ in range(repeats):
            for i in range(len(x)):
                t0 = time.perf_counter()
                board_classes[i] = board.infer(x_q[i:i + 1], info=info).classes[0]
                on_board.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                host_classes[i] = model.predict(layers, x[i:i + 1])[0]
                on_host.append(time.perf_counter() - t0)
        after = board.stats()
    samples = after.infer_samples - before.infer_samples
    digital = (after.infer_digital_us - before.infer_digital_us) / max(samples, 1)
    medium = (after.infer_medium_us - before.infer_medium_us) / max(samples, 1)
    b, h = statistics.median(on_board), statistics.median(on_host)
    agree = float(np.mean(board_classes == host_classes))
    return "\n".join([
        f"QEMU board, vowels7 model ({len(dep.image):,} bytes), {len(x)} test samples x "
        f"{repeats}, one sample per request:",
        f"  on the board (one INFER):        {1e3 * b:7.2f} ms per sample (median)",
        f"  host path (one QUERY per block): {1e3 * h:7.2f} ms per sample (median)",
        f"  ratio host / board:              {h / b:7.2f}x",
        f"  the board's own clock per sample: digital {digital:.0f} us, medium {medium:.0f} us "
        f"(QEMU without -icount: host time, not a Cortex-M3's)",
        f"  classes equal on {100 * agree:.1f} % of samples (read noise differs per "
        f"measurement)",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phyff.perf.ondevice_qemu",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(speed(args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
