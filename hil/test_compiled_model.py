"""A model compiled into the firmware: the Uno boots with it and classifies by itself.

The whole path a user takes on the cheapest board, in simavr: train through the
simulated Uno (its identity: board "uno", unit 0, medium "unknown"), export the
run as an Arduino sketch (``phyff export RUN --arduino DIR``: the image as a
PROGMEM array, every byte read from flash, model.h M-C1), compile the sketch
with the phyff Arduino library for the ATmega328P, boot it
(phyff_board_begin_with_model, phyff_arduino.h ARD-A8), and check that

* the board serves the model read-only (MODEL_INFO origin COMPILED, no model
  memory: every load is refused) and MODEL_ERASE leaves it in force, within
  the Uno's inference limits (phyff_config.h CFG-C6: 8 classes, 64 scratch
  values with the DAC row);
* it describes its input from flash (MODEL_DESCRIBE, model.h M-D1-D5), so raw
  values are classified without the run (``phyff classify --board URL``);
* its classes equal the host's float model's within 1 point of accuracy, and
  every score is bit-exact with the numpy reference (phyff.ondevice.reference)
  recomputed from the sensed values the board traced;
* RAM (static + the stack peak the harness measured) fits 2 KiB and the image
  fits the flash beside the bootloader;
* an image for another board identity is refused at boot (model.h M-C2:
  MODEL_INFO says WRONG_BOARD at the field) and is not served.

The first model fits the single-row layout on 4 drive channels: 2 features and 2
label slots, from a CSV file in raw units. The second is the real task: vowels7
(12 features, 7 classes) trained through the simulated Uno over 3 device rows
per block with a class code (phyff.perf.uno_model, the steps of ``make
bench-uno-model``), within 1 point of the host's accuracy, every score of every
test sample bit-exact, flash and RAM (static + the stack peak over every
command) within the ATmega328P's. Runs only against ``--target simavr`` (it
builds its own images).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from targets import Target

import phyff
from phyff.board.client import Board, ModelTooLarge
from phyff.board.layer import BoardLayer
from phyff.board.link import BoardError
from phyff.datasets import load_dataset
from phyff.emulator.simavr import (
    RAM_SIZE,
    SimavrBoard,
    assemble_library,
    build_sketch,
    image_sizes,
)
from phyff.ondevice.deploy import evaluate
from phyff.ondevice.export import c_header
from phyff.perf.uno_model import USABLE_FLASH, measure, stack_peak, vowel_data_dir
from phyff.phyll.model import load_model
from phyff.phyll.transform import from_metadata
from phyff.protocol import wire
from phyff.protocol.model_image import ModelImage

SPEC = "emu://acoustic?seed=1"


@pytest.fixture(scope="module")
def uno_only(target: Target) -> None:
    if target.name != "simavr":
        pytest.skip("builds and runs its own Uno image: run with --target simavr")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The phyff command of this checkout (not whichever phyff is installed)."""
    host = str(Path(phyff.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": host + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "phyff.cli.main", *args], capture_output=True,
                          text=True, check=False, env=env)


def _two_class_csv(path: Path) -> Path:
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 150)
    x = (np.array([[0.8, 0.2], [0.2, 0.8]])[y] + 0.12 * rng.standard_normal((300, 2)))
    x *= np.array([5.0, 120.0])  # volts, degrees: raw units
    lines = ["volts,degC,label"] + [f"{a:.5f},{b:.4f},{'off' if c == 0 else 'on'}"
                                    for (a, b), c in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _image_of(header: Path) -> bytes:
    body = header.read_text().split("PHYFF_MODEL_ROM = {")[1].split("};")[0]
    return bytes(int(b, 16) for b in body.replace(",", " ").split())


@pytest.fixture(scope="module")
def exported(uno_only: None, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Path, str, Path, Path]]:
    root = tmp_path_factory.mktemp("compiled")
    data = f"csv:{_two_class_csv(root / 'two.csv')}"
    run = root / "unorun"
    sketch = root / "uno_model"
    with SimavrBoard(SPEC) as uno:
        done = _cli("train", "--board", uno.url, "--dataset", data, "--run", str(run),
                    "--epochs", "6", "--no-progress")
        assert done.returncode == 0, done.stderr
        done = _cli("export", str(run), "--board", uno.url, "--arduino", str(sketch))
        assert done.returncode == 0, done.stderr
    library = assemble_library(root / "arduino")
    elf = build_sketch(sketch / "uno_model.ino", library, root / "build")
    yield run, data, sketch, elf


def test_the_uno_serves_its_compiled_model_bit_exact(
        exported: tuple[Path, str, Path, Path], tmp_path: Path) -> None:
    run, data, sketch, elf = exported
    image = ModelImage.unpack(_image_of(sketch / "phyff_model.h"))
    ds = load_dataset(data, seed=0)
    model = load_model(run / "model.npz")
    diag = tmp_path / "diag.txt"
    with SimavrBoard(SPEC, elf=elf, diag=diag) as uno, Board.open(uno.url) as board:
        caps = board.caps
        assert caps.features & wire.Feature.INFER and caps.model_capacity == 0
        assert caps.max_classes == 8 and caps.infer_work == 64 - caps.n_drive  # CFG-C6
        info = board.model_info()
        assert info is not None and info.origin == wire.lib.PHYFF_MODEL_COMPILED
        assert info.crc32 == wire.crc32(image.pack()) and info.name == "unorun"
        on_device = evaluate(board, image, ds.x_test)  # traced: checked bit for bit
        with pytest.raises(ModelTooLarge):  # no model memory: read-only
            board.load_model(image.pack())
        board.erase_model()
        again = board.model_info()
        assert again is not None and again.origin == wire.lib.PHYFF_MODEL_COMPILED
        # MODEL_DESCRIBE from flash (model.h M-C1, M-D1-D5): the exported description
        described = board.describe()
        assert described is not None and described == image.description
        assert described.feature_names == ("volts", "degC")
        assert described.class_names == ("off", "on")
        host = model.predict([BoardLayer(board)] * model.n_blocks, ds.x_test)
    # raw sensor units in, class names out, from the compiled-in model
    raw = tmp_path / "raw.csv"
    scale = np.asarray(ds.input_scale)
    raw.write_text("volts,degC\n" + "".join(f"{float(a)!r},{float(b)!r}\n"
                                              for a, b in ds.x_test * scale))
    with SimavrBoard(SPEC, elf=elf) as uno:
        done = _cli("classify", str(raw), "--board", uno.url, "--model", str(run))
        # without --model: the board's own description scales the raw values
        alone = _cli("classify", str(raw), "--board", uno.url)
    assert done.returncode == 0, done.stderr
    assert alone.returncode == 0, alone.stderr
    names = np.array(ds.class_names)
    assert done.stdout.split() == names[on_device.predictions].tolist()
    assert alone.stdout.split() == done.stdout.split()
    accuracy = float(np.mean(on_device.predictions == ds.y_test))
    host_accuracy = float(np.mean(host == ds.y_test))
    assert on_device.bit_exact == 1.0
    assert abs(accuracy - host_accuracy) <= 0.01
    sizes = image_sizes(elf)
    stack = stack_peak(diag)
    print(f"\ncompiled-in model on the Uno: on-device {100 * accuracy:.1f} %, host "
          f"{100 * host_accuracy:.1f} %, bit-exact {100 * on_device.bit_exact:.0f} %; flash "
          f"{sizes['flash']} B, RAM static {sizes['ram']} B + stack peak {stack} B = "
          f"{sizes['ram'] + stack} B of {RAM_SIZE}")
    assert sizes["flash"] <= USABLE_FLASH
    assert sizes["ram"] + stack <= RAM_SIZE


def test_an_image_for_another_board_is_refused_at_boot(
        exported: tuple[Path, str, Path, Path], tmp_path: Path) -> None:
    run, _, sketch, _ = exported
    raw = bytearray(_image_of(sketch / "phyff_model.h"))
    raw[16:20] = (7).to_bytes(4, "little")  # train_unit_id: another unit
    other = tmp_path / "other_board"
    other.mkdir()
    transform = from_metadata(load_model(run / "model.npz").metadata)
    (other / "phyff_model.h").write_text(c_header(bytes(raw), transform))
    (other / "other_board.ino").write_text((sketch / "uno_model.ino").read_text())
    library = assemble_library(tmp_path / "arduino")
    elf = build_sketch(other / "other_board.ino", library, tmp_path / "build")
    with SimavrBoard(SPEC, elf=elf) as uno, Board.open(uno.url) as board:
        with pytest.raises(BoardError) as refused:
            board.model_info()
        assert board.caps.model_loaded == 0
    # refused at boot, not served, and the board says where: train_unit_id
    assert (refused.value.status, refused.value.arg) == (wire.Status.WRONG_BOARD, 16)


def test_a_vowels7_network_compiled_into_the_uno(uno_only: None, tmp_path: Path) -> None:
    """vowels7 on the Uno's 4 drive pins, compiled in: trained through the simulated Uno
    with the small-board settings, exported, built and booted (phyff.perf.uno_model)."""
    data_dir = vowel_data_dir(None)
    if data_dir is None:
        pytest.skip("vowels7 data: set PHYFF_DATA_DIR to the folder holding vowels7/")
    figures = measure(tmp_path, data_dir)
    print("\n" + "\n".join(figures.lines()))
    assert (figures.n_features, figures.n_classes, figures.block_rows) == (12, 7, (3, 3))
    assert (figures.max_classes, figures.infer_work) == (8, 60)  # CFG-C6
    assert figures.model_work <= figures.infer_work
    assert figures.bit_exact == 1.0
    assert abs(figures.accuracy - figures.host_accuracy) <= 0.01
    assert figures.flash <= USABLE_FLASH
    assert figures.ram_static + figures.stack_peak <= RAM_SIZE
