"""The Arduino port's board selection and buffer limits (phyff_config.h, pins.h).

These rules live in the preprocessor, so the host's C compiler shows what
every Arduino toolchain sees: the macros phyff_config.h defines for each
board macro and build flag, the build an unknown board stops, and the limits
the C core sees inside the Arduino library.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from phyff.emulator import simavr

ROOT = Path(__file__).resolve().parents[1]
ARDUINO = ROOT / "firmware" / "ports" / "arduino"
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (apt-get install gcc)")

BOARDS = {  # the Arduino core's macro -> the board phyff_config.h selects
    "ARDUINO_AVR_UNO": "UNO",
    "ARDUINO_RASPBERRY_PI_PICO": "PICO",
    "ARDUINO_NUCLEO_L476RG": "NUCLEO_L476RG",
    "ARDUINO_ESP32_DEV": "ESP32DEV",
}


def macros(tmp_path: Path, source: str, *flags: str, include: Path = ARDUINO) -> dict[str, str]:
    """The PHYFF_ macros defined after preprocessing source with flags."""
    src = tmp_path / "probe.c"
    src.write_text(source)
    out = subprocess.run([str(CC), "-std=c11", "-E", "-dM", f"-I{include}", *flags, str(src)],
                         capture_output=True, text=True, check=True).stdout
    return {m.group(1): (m.group(2) or "").strip()
            for m in re.finditer(r"^#define (PHYFF_\w+)(?:[ \t]+(.*))?$", out, re.M)}


def selected(found: dict[str, str]) -> list[str]:
    return sorted(name for name in BOARDS.values() if f"PHYFF_BOARD_{name}" in found)


@pytest.mark.parametrize("macro", sorted(BOARDS))
def test_the_arduino_board_macro_selects_the_board(tmp_path: Path, macro: str) -> None:
    """CFG-C2: without a build flag, the Arduino core's board macro decides."""
    found = macros(tmp_path, '#include "phyff_config.h"\n', f"-D{macro}")
    assert selected(found) == [BOARDS[macro]]


def test_a_build_flag_wins_over_the_arduino_board_macro(tmp_path: Path) -> None:
    """CFG-C1: -DPHYFF_BOARD_<NAME> wins."""
    found = macros(tmp_path, '#include "phyff_config.h"\n', "-DPHYFF_BOARD_PICO",
                   "-DARDUINO_AVR_UNO")
    assert selected(found) == ["PICO"]
    assert "PHYFF_CORE_MAX_PAYLOAD" not in found  # not the Uno's limits


def test_an_unknown_board_stops_the_build_naming_the_supported_ones(tmp_path: Path) -> None:
    """CFG-C2 and ARD-A3: any other board selects none, and pins.h stops the build."""
    src = tmp_path / "sketch.c"
    src.write_text('#include "phyff_config.h"\n#include "pins.h"\n')
    proc = subprocess.run([str(CC), "-std=c11", "-fsyntax-only", f"-I{ARDUINO}",
                           "-DARDUINO_AVR_MEGA2560", str(src)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    for name in ("unsupported board", "Arduino Uno", "Raspberry Pi Pico", "Nucleo-L476RG",
                 "ESP32 Dev Module", "-DPHYFF_BOARD_<NAME>"):
        assert name in proc.stderr, proc.stderr


def test_the_uno_gets_its_ram_limits_and_a_flag_overrides_them(tmp_path: Path) -> None:
    """CFG-C3: 192-byte payloads and 8 channels on the Uno, a -D flag wins,
    the other boards keep the core's defaults."""
    uno = macros(tmp_path, '#include "phyff_config.h"\n', "-DARDUINO_AVR_UNO")
    assert (uno["PHYFF_CORE_MAX_PAYLOAD"], uno["PHYFF_CORE_MAX_CHANNELS"]) == ("192u", "8u")
    wider = macros(tmp_path, '#include "phyff_config.h"\n', "-DARDUINO_AVR_UNO",
                   "-DPHYFF_CORE_MAX_PAYLOAD=320u")
    assert (wider["PHYFF_CORE_MAX_PAYLOAD"], wider["PHYFF_CORE_MAX_CHANNELS"]) == ("320u", "8u")
    for macro in sorted(set(BOARDS) - {"ARDUINO_AVR_UNO"}):
        other = macros(tmp_path, '#include "phyff_config.h"\n', f"-D{macro}")
        assert "PHYFF_CORE_MAX_PAYLOAD" not in other and "PHYFF_CORE_MAX_CHANNELS" not in other


def test_model_memory_per_board(tmp_path: Path) -> None:
    """CFG-C5: two 16 KiB model slots on the Pico, Nucleo and ESP32, none on
    the Uno; a -D flag wins."""
    for macro, board in BOARDS.items():
        found = macros(tmp_path, '#include "phyff_config.h"\n', f"-D{macro}")
        if board == "UNO":
            assert "PHYFF_CORE_MODEL_BYTES" not in found
        else:
            assert found["PHYFF_CORE_MODEL_BYTES"] == "16384u", board
    found = macros(tmp_path, '#include "phyff_config.h"\n', "-DARDUINO_RASPBERRY_PI_PICO",
                   "-DPHYFF_CORE_MODEL_BYTES=0u")
    assert found["PHYFF_CORE_MODEL_BYTES"] == "0u"


def test_the_uno_serves_a_compiled_in_model_within_its_limits(tmp_path: Path) -> None:
    """CFG-C6: the Uno's core takes a compiled-in model (no model memory) with 8
    classes and 64 scratch values (a vowels7 network's 7 classes and 54 values fit);
    the other boards load models into RAM instead; a -D flag wins."""
    uno = macros(tmp_path, '#include "phyff_config.h"\n', "-DARDUINO_AVR_UNO")
    assert (uno["PHYFF_CORE_COMPILED_MODEL"], uno["PHYFF_CORE_MAX_CLASSES"],
            uno["PHYFF_CORE_INFER_WORK"]) == ("1", "8u", "64u")
    # phyff export checks a model for the stock Uno (which advertises no limits) by these
    from phyff.ondevice.export import COMPILED_LIMITS

    assert COMPILED_LIMITS["uno"] == (int(uno["PHYFF_CORE_MAX_CLASSES"].rstrip("u")),
                                      int(uno["PHYFF_CORE_INFER_WORK"].rstrip("u")))
    more = macros(tmp_path, '#include "phyff_config.h"\n', "-DARDUINO_AVR_UNO",
                  "-DPHYFF_CORE_MAX_CLASSES=3u")
    assert more["PHYFF_CORE_MAX_CLASSES"] == "3u"
    for macro in sorted(set(BOARDS) - {"ARDUINO_AVR_UNO"}):
        other = macros(tmp_path, '#include "phyff_config.h"\n', f"-D{macro}")
        assert "PHYFF_CORE_COMPILED_MODEL" not in other, macro


def test_the_core_in_the_arduino_library_sees_the_boards_limits(tmp_path: Path) -> None:
    """CFG-C4: phyff_config.h only defines macros, so the library's port.h
    includes it and the C core compiles with the board's limits."""
    src = simavr.assemble_library(tmp_path / "lib") / "src"
    found = macros(tmp_path, '#include "phyff_core.h"\n', "-DARDUINO_AVR_UNO", include=src)
    assert (found["PHYFF_CORE_MAX_PAYLOAD"], found["PHYFF_CORE_MAX_CHANNELS"]) == ("192u", "8u")
    proc = subprocess.run([str(CC), "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                           f"-I{src}", "-DARDUINO_AVR_UNO", str(src / "phyff_core.c")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
