"""The custom-hardware example's I2C code, run on the host against simulated chips.

The sketch (firmware/arduino/examples/phyff_i2c_dac_adc) is compiled for the Uno in
tests/test_arduino_identity.py; simavr has no I2C parts, so here the same sketch is
compiled with g++ against stand-ins for Arduino.h, Wire and EEPROM
(tests/arduino_fake) whose bus simulates an MCP4728 (fast-write frames) and an
ADS1115 (config register, conversion-done bit, conversion register). The test checks
what reached the chips and what the sketch hands the board core.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKES = ROOT / "tests" / "arduino_fake"
SKETCH = ROOT / "firmware" / "arduino" / "examples" / "phyff_i2c_dac_adc" / "phyff_i2c_dac_adc.ino"
CXX = shutil.which("g++")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CXX is None:
        pytest.fail("g++ is needed to build the host harness of the I2C example")
    out = tmp_path_factory.mktemp("i2c")
    sketch_cpp = out / "sketch.cpp"
    sketch_cpp.write_text('#include <Arduino.h>\n#line 1 "phyff_i2c_dac_adc.ino"\n'
                          + SKETCH.read_text())
    exe = out / "harness"
    subprocess.run([CXX, "-std=gnu++11", "-Wall", "-Wextra", "-Werror", f"-I{FAKES}",
                    f"-I{ROOT / 'firmware' / 'ports' / 'arduino'}", str(sketch_cpp),
                    str(FAKES / "harness.cpp"), "-o", str(exe)], check=True)
    return exe


def run(exe: Path, *args: str) -> dict[str, object]:
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True,
                          timeout=30)
    return dict(json.loads(proc.stdout))


def test_the_example_names_its_board_and_converters(harness: Path) -> None:
    seen = run(harness)
    assert seen["begun"] == 1
    assert (seen["board"], seen["medium"], seen["unit_id"]) == ("uno-mcp4728", "rc-ladder", 0)
    assert (seen["n_drive"], seen["n_sense"], seen["dac_bits"], seen["adc_bits"]) == (4, 4, 12,
                                                                                       15)
    assert seen["clock_hz"] == 400_000
    assert run(harness, "7")["unit_id"] == 7  # stored in EEPROM bytes 0..3


def test_drive_and_sense_reach_the_chips(harness: Path) -> None:
    seen = run(harness)
    assert seen["drive_status"] == 0 and seen["dac"] == [0, 1, 2048, 4095]
    assert seen["dac_writes"] == 1  # all four channels in one fast write
    # single-ended codes 0..32767; a negative reading near 0 V is clipped to 0
    assert seen["sense_status"] == 0 and seen["adc"] == [0, 12345, 32767, 0]
    config = int(seen["last_config"])  # the last channel's conversion, as started
    assert (config >> 12) & 7 == 4 + 3  # MUX: AIN3 vs GND
    assert (config >> 9) & 7 == 1  # PGA +-4.096 V
    assert (config >> 8) & 1 == 1 and (config >> 5) & 7 == 7 and config & 3 == 3
    assert seen["missing_status"] != 0  # a chip that does not answer is a medium fault
