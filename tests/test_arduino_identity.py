"""The Arduino library's identity and custom-converter API (phyff_arduino.h ARD-A5-A7),
built with the real Arduino core for the Uno and run in simavr where it can run.

Two Unos used to report unit id 0 and medium "unknown" alike; now the sketch or the
build names them. The custom-hardware example (MCP4728 DAC + ADS1115 ADC over I2C,
docs/custom-hardware.md) is compiled here and booted in simavr to measure its stack
(simavr has no I2C parts, so its QUERY ends in a medium fault once the DAC does not
answer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phyff.board import Board
from phyff.board.link import BoardError
from phyff.emulator import simavr

UNAVAILABLE = simavr.simavr_unavailable(need_image=False)
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"simavr board: {UNAVAILABLE}")

SPEC = "emu://acoustic?seed=13"
RAMEND = 0x8FF  # the ATmega328P's last RAM address
FLASH_LIMIT = 32256  # the Uno's flash less its bootloader
# Stack left beside the I2C example's static RAM for what the simavr run cannot
# reach: the ADS1115 read (Wire.requestFrom), as deep as the MCP4728 write it
# measures. The example has no compiled-in model, so INFER (the Uno's deepest
# path, phyff_config.h CFG-C6) is never served.
STACK_MARGIN = 64

NAMED = """\
#include <phyff_arduino.h>

void setup() {
  struct phyff_board_config config = {};
  config.medium = "lab-cavity";
  config.unit_id = 9;
  phyff_board_begin_with(&config);
}

void loop() {
  phyff_board_poll();
}
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simavr.assemble_library(tmp_path_factory.mktemp("arduino"))


def _caps(elf: Path) -> dict[str, object]:
    with simavr.SimavrBoard(SPEC, elf=elf) as uno, Board.open(uno.url) as board:
        return board.caps.as_dict()


def test_the_sketch_names_the_board(library: Path, tmp_path: Path) -> None:
    sketch = tmp_path / "named" / "named.ino"
    sketch.parent.mkdir()
    sketch.write_text(NAMED)
    caps = _caps(simavr.build_sketch(sketch, library, tmp_path / "build"))
    assert (caps["medium"], caps["unit_id"], caps["board"]) == ("lab-cavity", 9, "uno")


def test_build_flags_name_the_board(library: Path, tmp_path: Path) -> None:
    sketch = library / "examples" / "phyff_board" / "phyff_board.ino"
    elf = simavr.build_sketch(sketch, library, tmp_path / "build",
                              defines=["PHYFF_UNIT_ID=4", 'PHYFF_MEDIUM_NAME="rc-ladder"'])
    caps = _caps(elf)
    assert (caps["medium"], caps["unit_id"]) == ("rc-ladder", 4)
    plain = _caps(simavr.build_sketch(sketch, library, tmp_path / "plain"))
    assert (plain["medium"], plain["unit_id"]) == ("unknown", 0)


def test_the_i2c_dac_adc_example_compiles_for_the_uno(library: Path, tmp_path: Path) -> None:
    sketch = library / "examples" / "phyff_i2c_dac_adc" / "phyff_i2c_dac_adc.ino"
    elf = simavr.build_sketch(sketch, library, tmp_path / "build")  # -Werror on the sketch
    assert simavr.elf_device(elf) == "atmega328p"
    sizes = simavr.image_sizes(elf)
    assert sizes["flash"] <= FLASH_LIMIT
    diag = tmp_path / "diag.txt"
    with simavr.SimavrBoard(SPEC, elf=elf, diag=diag) as uno, \
            Board.open(uno.url) as board:
        caps = board.caps
        board.configure(settle_us=0, oversample=4, n_drive=caps.n_drive, n_sense=caps.n_sense)
        with pytest.raises(BoardError):  # the drive's I2C write: no DAC answers in simavr
            board.query(np.zeros((caps.max_batch, caps.n_drive), dtype=np.int64))
        board.stats()
    sp_min = min(int(line.split("sp_min=")[1]) for line in diag.read_text().splitlines())
    stack = RAMEND - sp_min
    assert sizes["ram"] + stack + STACK_MARGIN <= simavr.RAM_SIZE, (sizes, stack)
