"""The Arduino Uno image in simavr: the exact firmware a user flashes, on a simulated ATmega328P.

The Uno build (``firmware/ports/arduino`` + the board core + the Arduino AVR
core, 16 MHz ATmega328P) runs under a small harness on libsimavr
(``firmware/sim/simavr/phyff_simavr.c``). The harness serves UART0 on TCP
and wires the board's pins to a
:class:`~phyff.emulator.medium_server.MediumServer`: it reads the four PWM
duty cycles from the timer registers and serves the medium's readings as
the six analog input voltages. For the same seed and drives, its replies are
byte-identical to the in-process emulator configured like the Uno
(:func:`uno_spec`: 4 drive, 6 sense channels, 8-bit PWM, 10-bit ADC).

- :func:`ensure_firmware` gives the Uno ELF: ``pio run -e uno_sim`` when
  PlatformIO works offline, else a direct avr-gcc build from the same
  definition (``platformio.ini``'s uno env and the local avr platform's
  board manifest), against Debian's arduino-core-avr.
- :class:`SimavrBoard` starts the medium server and the harness and gives
  the board's host link as ``socket://127.0.0.1:PORT``; the lifecycle is
  :class:`~phyff.emulator.process_board.ProcessBoard`'s, the build
  :class:`~phyff.emulator.image.FirmwareImage`'s.
- With ``bootloader=True`` the simulated Uno boots like a real one
  (harness rules SIM-B1-B8): optiboot (:func:`build_bootloader`) in the boot
  section with the Uno's fuses, the application below it, and, with
  ``reset_on_open``, a reset whenever a host connects (the Uno's DTR
  auto-reset). avrdude then uploads through the bootloader:
  ``avrdude -c arduino -p m328p -P net:127.0.0.1:PORT -b 115200 -U flash:w:HEX``
  (:func:`avrdude_port` turns the board's URL into that port).
- :func:`run_simavr_board` serves one for ``phyff emulate --simavr``.
- :func:`assemble_library` lays out the Arduino library (``library.properties``,
  ``src/``, ``examples/``); :func:`build_sketch` compiles a sketch against it
  the way arduino-cli does (with -Werror on the library), and
  :func:`build_with_arduino_builder` with the Arduino IDE's own builder when
  Debian's arduino-builder is installed, so CI proves an IDE user can build it.

``python -m phyff.emulator.simavr build|harness|bootloader|library|example|serve`` runs
these from a shell (the Makefile's ``uno`` and ``arduino-example`` targets).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from phyff.emulator.device import EmulatorSpec, parse_emu_url
from phyff.emulator.image import FirmwareImage, firmware_dir, is_fresh, pio_ready, repo_root
from phyff.emulator.process_board import ProcessBoard, serve_board

MCU = "atmega328p"
ENV = "uno_sim"  # platformio.ini environment of the offline Uno build
SOURCE_ENV = "uno"  # the official env whose sources and flags it shares
BOARD = "uno_sim"  # board manifest in firmware/platforms/avr/boards
AVR_GCC = "avr-gcc"
F_CPU = 16_000_000
BAUD = 115_200
FLASH_SIZE = 32 * 1024  # the ATmega328P's flash (the Uno's bootloader keeps 512 B of it)
RAM_SIZE = 2 * 1024

# What the Uno is wired for (ports/arduino/pins.h); the harness refuses any other medium.
UNO_CHANNELS = {"n_in": 4, "n_out": 6}
UNO_DAC_BITS = 8
UNO_ADC_BITS = 10

INSTALL_AVR = ("install the AVR toolchain and Arduino core (Debian/Ubuntu: apt-get install "
               "--no-install-recommends gcc-avr avr-libc arduino-core-avr)")
INSTALL_SIMAVR = ("install simavr's library (Debian/Ubuntu: apt-get install "
                  "--no-install-recommends libsimavr-dev simavr)")


BOOT_SECTION = 512  # bytes at the top of the flash (the Uno's fuses: BOOTSZ = 256 words)
# optiboot's own source (Arduino's, shipped with the AVR core) and the options of
# its Makefile's atmega328 target, with flags that keep avr-gcc 5.4's build
# within the 512-byte boot section (-mshort-calls is gone from newer GCCs; the
# Debian package's prebuilt optiboot_atmega328.hex is 532 bytes, too large:
# its last 20 bytes would lie past the end of the flash).
OPTIBOOT_FLAGS = ("-Os", "-fno-inline-small-functions", "-fno-split-wide-types", "-mrelax",
                  "-fno-tree-scev-cprop", "-fno-jump-tables", "-fno-move-loop-invariants",
                  "-DLED_START_FLASHES=3", "-DBAUD_RATE=115200", "-DF_CPU=16000000L")


class SimavrError(RuntimeError):
    """simavr, the toolchain or the firmware is missing or wrong; the message says what to do."""


# ---- where things are --------------------------------------------------------


def harness_path() -> Path:
    return repo_root() / "build" / "simavr" / "phyff-simavr"


def harness_source() -> Path:
    return firmware_dir() / "sim" / "simavr" / "phyff_simavr.c"


def board_manifest() -> dict[str, object]:
    path = firmware_dir() / "platforms" / "avr" / "boards" / f"{BOARD}.json"
    build = json.loads(path.read_text())["build"]
    assert isinstance(build, dict)
    return build


def arduino_avr_dir() -> Path:
    """Debian's Arduino AVR core (or $PHYFF_ARDUINO_AVR), as the avr platform uses it."""
    env = os.environ.get("PHYFF_ARDUINO_AVR")
    return Path(env) if env else Path(str(board_manifest()["arduino_avr"]))


def uno_spec(spec: EmulatorSpec | str) -> EmulatorSpec:
    """The spec with the Uno's channel counts and converters: what the simulated Uno
    serves, and what an in-process emulator needs to answer byte for byte alike."""
    spec = parse_emu_url(spec) if isinstance(spec, str) else spec
    return replace(spec, dac_bits=UNO_DAC_BITS, adc_bits=UNO_ADC_BITS,
                   options={**spec.options, **UNO_CHANNELS})


def _simavr_dev_present() -> bool:
    return any(Path(d, "simavr", "sim_avr.h").is_file()
               for d in ("/usr/include", "/usr/local/include"))


def simavr_unavailable(*, need_image: bool = True) -> str | None:
    """None when the harness and (if need_image) the Uno image are here or can be
    built, else why not."""
    if not harness_path().is_file() or not is_fresh(harness_path(), [harness_source()]):
        if not harness_source().is_file():
            return (f"no harness source at {harness_source()} (set PHYFF_REPO to a phyff "
                    f"checkout)")
        if shutil.which("gcc") is None:
            return "gcc not found to build the simavr harness: install gcc"
        if not _simavr_dev_present():
            return f"simavr's headers not found: {INSTALL_SIMAVR}"
    if not need_image or find_elf() is not None:
        return None
    if shutil.which(AVR_GCC) is None:
        return f"no Uno image built and {AVR_GCC} not found to build one: {INSTALL_AVR}"
    if not (arduino_avr_dir() / "cores" / "arduino" / "Arduino.h").is_file():
        return (f"no Arduino AVR core at {arduino_avr_dir()}: {INSTALL_AVR} "
                f"(or set PHYFF_ARDUINO_AVR)")
    return None


# ---- ELF checks --------------------------------------------------------------


def elf_device(elf: Path) -> str | None:
    """The MCU an AVR ELF was built for (avr-gcc's .note.gnu.avr.deviceinfo), if recorded.

    Raises SimavrError when the file is not a 32-bit little-endian AVR ELF.
    """
    data = Path(elf).read_bytes()
    if data[:4] != b"\x7fELF":
        raise SimavrError(f"{elf} is not an ELF file: build the Uno image (make uno)")
    machine = int.from_bytes(data[18:20], "little")
    if data[4] != 1 or data[5] != 1 or machine != 83:
        raise SimavrError(f"{elf} is not an AVR image (ELF machine {machine}): the simulated "
                          f"Uno runs ATmega328P firmware (make uno)")
    shoff = int.from_bytes(data[32:36], "little")
    shentsize = int.from_bytes(data[46:48], "little")
    shnum = int.from_bytes(data[48:50], "little")
    for i in range(shnum):
        sh = data[shoff + i * shentsize: shoff + (i + 1) * shentsize]
        if int.from_bytes(sh[4:8], "little") != 7:  # SHT_NOTE
            continue
        off, size = int.from_bytes(sh[16:20], "little"), int.from_bytes(sh[20:24], "little")
        note = data[off:off + size]
        namesz = int.from_bytes(note[0:4], "little")
        if note[12:12 + namesz].rstrip(b"\0") != b"AVR":
            continue
        desc = note[12 + ((namesz + 3) & ~3):]
        # flash, sram and eeprom start/size (6 x u32), the offset table (its size in
        # bytes, this u32 included, then offsets: the first is the device name's),
        # then the string table.
        table = int.from_bytes(desc[24:28], "little")
        name_at = int.from_bytes(desc[28:32], "little")
        strtab = desc[24 + table:]
        name = strtab[name_at:].split(b"\0", 1)[0]
        return name.decode(errors="replace") or None
    return None


def check_elf(elf: Path) -> None:
    """Refuse an image that is not for the ATmega328P, with what to do instead."""
    if not Path(elf).is_file():
        raise SimavrError(f"firmware ELF {elf} does not exist (build it: make uno, or "
                          f"cd firmware && pio run -e {ENV})")
    device = elf_device(elf)
    if device is not None and device.lower() != MCU:
        raise SimavrError(f"{elf} is built for {device}, but the simulated Uno is an "
                          f"ATmega328P: build with -mmcu={MCU} (make uno)")


# ---- building ----------------------------------------------------------------


def _object_fresh(obj: Path, src: Path, cwd: Path) -> bool:
    """An object is fresh when it is newer than its source and every header it included.

    The compiler's -MMD dependency file (obj with .d) lists those headers; without
    one, the object is rebuilt (a header change must never leave a stale object).
    """
    deps_file = obj.with_suffix(".d")
    if not obj.is_file() or not deps_file.is_file():
        return False
    text = deps_file.read_text(errors="replace").replace("\\\n", " ")
    deps = text.split(":", 1)[1].split() if ":" in text else []
    newest = src.stat().st_mtime
    for dep in deps:
        path = Path(dep) if Path(dep).is_absolute() else cwd / dep
        if not path.exists():
            return False
        newest = max(newest, path.stat().st_mtime)
    return obj.stat().st_mtime >= newest


class _AvrBuild:
    """avr-gcc with the avr platform's flags (board manifest): core archive, sources, link."""

    def __init__(self, out_dir: Path, verbose: bool = False) -> None:
        if shutil.which(AVR_GCC) is None:
            raise SimavrError(f"{AVR_GCC} not found: {INSTALL_AVR}")
        self.board = board_manifest()
        self.avr = arduino_avr_dir()
        self.core = self.avr / "cores" / str(self.board["core"])
        self.variant = self.avr / "variants" / str(self.board["variant"])
        if not (self.core / "Arduino.h").is_file():
            raise SimavrError(f"no Arduino AVR core at {self.avr}: {INSTALL_AVR} "
                              f"(or set PHYFF_ARDUINO_AVR)")
        self.out = out_dir
        self.verbose = verbose
        mcu = f"-mmcu={self.board['mcu']}"
        self.common = [mcu, *self._list("ccflags"), f"-DF_CPU={self.board['f_cpu']}",
                       f"-DARDUINO={self.board['arduino_version']}",
                       f"-DARDUINO_{self.board['board']}", "-DARDUINO_ARCH_AVR",
                       f"-I{self.core}", f"-I{self.variant}"]
        self.link = [mcu, *self._list("linkflags")]

    def _list(self, key: str) -> list[str]:
        value = self.board.get(key, [])
        assert isinstance(value, list)
        return [str(v) for v in value]

    def _compile_cmd(self, src: Path, obj: Path, extra: list[str]) -> list[str]:
        if src.suffix == ".c":
            return [AVR_GCC, *self.common, *self._list("cflags"), *extra, "-c", str(src),
                    "-o", str(obj)]
        if src.suffix == ".S":
            return [AVR_GCC, *self.common, *self._list("asflags"), *extra, "-c", str(src),
                    "-o", str(obj)]
        return ["avr-g++", *self.common, *self._list("cxxflags"), *extra, "-c", str(src),
                "-o", str(obj)]

    def compile_all(self, jobs: list[tuple[Path, Path, list[str]]], cwd: Path) -> None:
        def one(job: tuple[Path, Path, list[str]]) -> None:
            src, obj, extra = job
            if _object_fresh(obj, src, cwd):
                return
            obj.parent.mkdir(parents=True, exist_ok=True)
            cmd = [*self._compile_cmd(src, obj, extra), "-MMD"]
            if self.verbose:
                print(" ".join(cmd), file=sys.stderr)
            proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SimavrError(f"compiling {src} failed:\n{proc.stderr.strip()}")

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(one, jobs))

    def core_archive(self) -> Path:
        """The Arduino core as a library archive, warnings off as the IDE compiles it."""
        extra = [*self._list("framework_flags")]
        cxx_extra = extra + ["-D" + d for d in self._list("framework_cxx_defines")]
        jobs = []
        for src in sorted(self.core.iterdir()):
            if src.suffix in (".c", ".cpp", ".S"):
                jobs.append((src, self.out / "core" / (src.name + ".o"),
                             cxx_extra if src.suffix == ".cpp" else extra))
        self.compile_all(jobs, self.out)
        archive = self.out / "libFrameworkArduino.a"
        objs = [str(obj) for _, obj, _ in jobs]
        if not is_fresh(archive, [Path(o) for o in objs]):
            archive.unlink(missing_ok=True)
            subprocess.run(["avr-gcc-ar", "rcs", str(archive), *objs], check=True)
        return archive

    def program(self, sources: list[Path], flags: list[str], cwd: Path, elf: Path,
                other: Sequence[tuple[Path, list[str]]] = ()) -> Path:
        """Compile sources with flags (and each of `other` with its own flags), link
        with the core."""
        archive = self.core_archive()
        jobs = [(src, self.out / "src" / (re.sub(r"[^A-Za-z0-9_.]", "_",
                                                  str(src.relative_to(src.anchor))) + ".o"),
                 own) for src, own in [*((s, flags) for s in sources), *other]]
        self.compile_all(jobs, cwd)
        cmd = [AVR_GCC, *self.link, "-o", str(elf), *[str(o) for _, o, _ in jobs],
               str(archive), "-lm"]
        if self.verbose:
            print(" ".join(cmd), file=sys.stderr)
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SimavrError(f"linking {elf.name} failed:\n{proc.stderr.strip()}")
        subprocess.run(["avr-objcopy", "-O", "ihex", "-R", ".eeprom", str(elf),
                        str(elf.with_suffix(".hex"))], check=True)
        return elf


def build_with_avr_gcc(*, verbose: bool = False) -> Path:
    """The Uno image straight from platformio.ini's uno env and the avr board manifest."""
    opts, sources = IMAGE.sources(SOURCE_ENV, (".c", ".cpp", ".S"))
    out = IMAGE.gcc_elf()
    build = _AvrBuild(out.parent, verbose=verbose)
    flags = [*opts["build_flags"].split(), *opts["build_src_flags"].split()]
    return build.program(sources, flags, firmware_dir(), out)


# The Uno image: pio's uno_sim env (pio's ELF is touched after a build, as SCons
# does not relink for an edit that leaves the program alike), or the direct build's.
IMAGE = FirmwareImage(env=ENV, build_dir="uno", port="arduino", platform="avr",
                      error=SimavrError, direct=build_with_avr_gcc, touch_pio=True)
pio_elf, find_elf = IMAGE.pio_elf, IMAGE.find_elf
build_firmware, ensure_firmware = IMAGE.build, IMAGE.ensure


def bootloader_path() -> Path:
    return repo_root() / "build" / "simavr" / "optiboot_atmega328.hex"


def build_bootloader(*, verbose: bool = False) -> Path:
    """The Uno's optiboot as Intel HEX, built from the Arduino AVR core's optiboot.c.

    The boot section holds 512 bytes (0x7E00..0x7FFF); a build that does not
    fit is refused rather than loaded half.
    """
    out = bootloader_path()
    src_dir = arduino_avr_dir() / "bootloaders" / "optiboot"
    source = src_dir / "optiboot.c"
    if not source.is_file():
        raise SimavrError(f"no optiboot source at {source}: {INSTALL_AVR}")
    if is_fresh(out, [source, Path(__file__)]):
        return out
    if shutil.which(AVR_GCC) is None:
        raise SimavrError(f"{AVR_GCC} not found to build the bootloader: {INSTALL_AVR}")
    out.parent.mkdir(parents=True, exist_ok=True)
    elf = out.with_suffix(".elf")
    start = FLASH_SIZE - BOOT_SECTION
    cmd = [AVR_GCC, "-g", "-Wall", f"-mmcu={MCU}", *OPTIBOOT_FLAGS,
           f"-Wl,--section-start=.text=0x{start:x}", "-Wl,--section-start=.version=0x7ffe",
           "-Wl,--relax", "-Wl,--gc-sections", "-nostartfiles", "-nostdlib",
           "-o", str(elf), str(source)]
    if verbose:
        print(" ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SimavrError(f"building optiboot failed:\n{proc.stderr.strip()}")
    size = image_sizes(elf)["text"]
    if size > BOOT_SECTION - 2:  # the last word holds optiboot's version
        raise SimavrError(f"optiboot built to {size} bytes, more than the Uno's {BOOT_SECTION}-"
                          f"byte boot section holds")
    subprocess.run(["avr-objcopy", "-j", ".text", "-j", ".data", "-j", ".version",
                    "--set-section-flags", ".version=alloc,load", "-O", "ihex", str(elf),
                    str(out)], check=True)
    return out


def build_image_hex(out_dir: Path, defines: dict[str, str], *, verbose: bool = False) -> Path:
    """The Uno image built with extra -D definitions (e.g. PHYFF_UNIT_ID), as Intel HEX.

    Its own build folder per call site: objects do not record their flags.
    """
    opts, sources = IMAGE.sources(SOURCE_ENV, (".c", ".cpp", ".S"))
    build = _AvrBuild(Path(out_dir), verbose=verbose)
    flags = [*opts["build_flags"].split(), *opts["build_src_flags"].split(),
             *(f"-D{k}={v}" for k, v in sorted(defines.items()))]
    elf = build.program(sources, flags, firmware_dir(), Path(out_dir) / "firmware.elf")
    return elf.with_suffix(".hex")


def avrdude_port(url: str) -> str:
    """avrdude's -P for a board URL: ``net:HOST:PORT`` for ``socket://``, else the device."""
    if url.startswith("socket://"):
        return "net:" + url[len("socket://"):].rstrip("/")
    return url


def build_harness(*, verbose: bool = False) -> Path:
    """Compile the simavr harness with the host's gcc (warnings are errors)."""
    out = harness_path()
    root = repo_root()
    sources = [harness_source(), root / "shared" / "src" / "wire.c",
               *(root / "shared" / "include" / "phyff").glob("*.h")]
    if is_fresh(out, sources):
        return out
    if shutil.which("gcc") is None:
        raise SimavrError("gcc not found to build the simavr harness: install gcc")
    if not _simavr_dev_present():
        raise SimavrError(f"simavr's headers not found: {INSTALL_SIMAVR}")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wshadow",
           f"-I{root / 'shared' / 'include'}", str(sources[0]), str(sources[1]),
           "-o", str(out), "-lsimavr"]
    if verbose:
        print(" ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SimavrError(f"building the simavr harness failed:\n{proc.stderr.strip()}\n"
                          f"({INSTALL_SIMAVR})")
    return out


# ---- the Arduino library -----------------------------------------------------

# Files of the library's src/ and where they come from (repository-relative).
LIBRARY_SOURCES = {
    "phyff_arduino.h": "firmware/ports/arduino/phyff_arduino.h",
    "phyff_config.h": "firmware/ports/arduino/phyff_config.h",
    "pins.h": "firmware/ports/arduino/pins.h",
    "arduino_port.cpp": "firmware/ports/arduino/arduino_port.cpp",
    "phyff_core.h": "firmware/src/core/phyff_core.h",
    "phyff_core.c": "firmware/src/core/phyff_core.c",
    "port.h": "firmware/src/port.h",
    "phyff_wire.c": "shared/src/wire.c",
    "phyff_model.c": "shared/src/model.c",
    "phyff_learn.c": "shared/src/learn.c",
    "phyff/wire.h": "shared/include/phyff/wire.h",
    "phyff/model.h": "shared/include/phyff/model.h",
    "phyff/learn.h": "shared/include/phyff/learn.h",
    "phyff/fixed.h": "shared/include/phyff/fixed.h",
}
PORT_H_PROLOGUE = (
    "/* Arduino library build: the board's buffer limits first, so the C core and\n"
    " * the port see the same struct phyff_core (phyff_config.h, CFG-C3-C4). */\n"
    '#include "phyff_config.h"\n\n'
)


def assemble_library(dest: Path) -> Path:
    """Lay out the Arduino library at dest/phyff and zip it next to it.

    The checked-in metadata (firmware/arduino: library.properties,
    library.json, examples/) plus src/ copied from the one set of sources
    the PlatformIO builds use. Copies, not symlinks: a ZIP the Arduino IDE
    installs (Sketch > Include Library > Add .ZIP Library) must hold real
    files. The only addition is port.h's include of phyff_config.h, which
    the PlatformIO builds get from -D flags instead.
    """
    root = repo_root()
    meta = firmware_dir() / "arduino"
    lib = Path(dest) / "phyff"
    if lib.exists():
        shutil.rmtree(lib)
    shutil.copytree(meta, lib, ignore=shutil.ignore_patterns("README*", "__pycache__"))
    for name, rel in LIBRARY_SOURCES.items():
        target = lib / "src" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        text = (root / rel).read_text()
        if name == "port.h":
            text = PORT_H_PROLOGUE + text
        target.write_text(text)
    archive = Path(dest) / "phyff-arduino.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(lib.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(lib.parent))
    return lib


def core_libraries(sketch_text: str) -> list[Path]:
    """The Arduino core's own libraries (Wire, EEPROM, SPI, ...) a sketch includes, as
    arduino-cli discovers them from its #include lines."""
    found = []
    for name in re.findall(r"^\s*#include\s*<(\w+)\.h>", sketch_text, re.M):
        folder = arduino_avr_dir() / "libraries" / name / "src"
        if folder.is_dir():
            found.append(folder)
    return found


def build_sketch(sketch: Path, library: Path, out_dir: Path, *, verbose: bool = False,
                 defines: Sequence[str] = ()) -> Path:
    """Compile an .ino sketch with the library for the Uno, as arduino-cli would.

    arduino-cli turns the sketch into C++ (``#include <Arduino.h>`` first, a
    #line to keep messages pointing at the .ino; this sketch declares its
    functions before use, so no prototypes are generated), adds the
    library's src/ to the include path and compiles every source in it, the
    core into an archive, and links with the platform's flags. The library's
    own sources get -Wall -Wextra -Werror here (stricter than the IDE). The
    core's libraries the sketch includes (Wire, EEPROM, ...: `core_libraries`)
    are compiled too, with the core's own warnings. `defines` are -D flags
    for every source, as `--build-property` would pass them (e.g.
    ``PHYFF_UNIT_ID=2``).
    """
    sketch = Path(sketch)
    out_dir.mkdir(parents=True, exist_ok=True)
    cpp = out_dir / (sketch.name + ".cpp")
    text = f'#include <Arduino.h>\n#line 1 "{sketch.name}"\n' + sketch.read_text()
    if not cpp.is_file() or cpp.read_text() != text:
        cpp.write_text(text)
    src = Path(library) / "src"
    sources = [cpp, *sorted(p for p in src.rglob("*") if p.suffix in (".c", ".cpp", ".S"))]
    build = _AvrBuild(out_dir, verbose=verbose)
    extra = core_libraries(text)
    includes = [f"-I{d}" for d in extra]
    defs = [f"-D{d}" for d in defines]
    # the sketch's own folder too: an exported sketch includes its phyff_model.h
    flags = [f"-I{src}", f"-I{sketch.resolve().parent}", *includes, *defs,
             "-Wall", "-Wextra", "-Werror"]
    other = [(p, [*includes, *defs]) for d in extra
             for p in sorted(d.rglob("*")) if p.suffix in (".c", ".cpp")]
    return build.program(sources, flags, out_dir, out_dir / (sketch.stem + ".elf"), other)


ARDUINO_BUILDER = "arduino-builder"


def build_with_arduino_builder(sketch: Path, libraries: Path, out_dir: Path, *,
                               fqbn: str = "arduino:avr:uno") -> Path:
    """Compile a sketch with arduino-builder, the Arduino IDE's own sketch builder.

    Debian's arduino-builder with Debian's Arduino AVR core: the IDE's
    preprocessing (prototypes, library discovery from #include) and
    platform.txt recipes, all warnings on. The one addition,
    ``compiler.cpp.extra_flags=-DDECIMAL_DIG=9``, works around the core's
    WString.cpp not compiling with avr-gcc 5.4 (unrelated to phyff).
    Returns the ELF; raises SimavrError with the builder's messages.
    """
    builder = shutil.which(ARDUINO_BUILDER)
    if builder is None:
        raise SimavrError("arduino-builder not found (Debian/Ubuntu: apt-get install "
                          "--no-install-recommends arduino-builder)")
    hardware = arduino_avr_dir().parents[1]  # .../hardware (holding arduino/avr)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [builder, "-compile", "-hardware", str(hardware),
           "-hardware", "/usr/share/arduino-builder", "-tools", "/usr/bin",
           "-fqbn", fqbn, "-libraries", str(libraries), "-build-path", str(out_dir),
           "-warnings", "all", "-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=9", str(sketch)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elf = out_dir / (Path(sketch).name + ".elf")
    if proc.returncode != 0 or not elf.is_file():
        raise SimavrError(f"arduino-builder failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elf


# ---- sizes -------------------------------------------------------------------


def image_sizes(elf: Path) -> dict[str, int]:
    """flash (text + data) and static RAM (data + bss) of an AVR image, in bytes."""
    out = subprocess.run(["avr-size", "-A", "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sec = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\w+)\s+(\d+)", out, re.M)}
    text, data, bss = sec.get(".text", 0), sec.get(".data", 0), sec.get(".bss", 0)
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}


# ---- running -----------------------------------------------------------------


class SimavrBoard(ProcessBoard):
    """The Uno image in simavr with a simulated medium; ``.url`` is its host link.

    A context manager (see :class:`~phyff.emulator.process_board.ProcessBoard`
    for the lifecycle). The spec is fitted to the Uno (:func:`uno_spec`);
    ``.spec`` is what is actually served, so ``board.spec.url()`` is the
    in-process emulator that answers alike. One host at a time: a second
    connection while one is attached gets a "board busy" line and is closed
    (the first keeps working).

    port 0 lets the harness choose a free port (no race: it reports the one
    it bound). diag, a path, receives one line per reply with its simulated
    cycle stamps (see the harness's rule SIM-S7). echo=True copies the harness's
    messages (e.g. "refused a second host: board busy") to this process's
    stderr as they come.

    bootloader=True boots like a real Uno (harness rules SIM-B1-B8): optiboot
    in the boot section, the application (elf, or app: an ELF or Intel HEX
    file; erased=True for none, a chip with only its bootloader) below it;
    reset_on_open resets the MCU whenever a host connects (the DTR
    auto-reset; on by default with the bootloader). flash_fault (a byte
    address) makes page writes from there on fail, for tests of broken
    uploads. Without the bootloader the ELF runs directly, as before.
    """

    name = "simavr"
    process = "the simavr harness"
    error = SimavrError

    def __init__(self, spec: EmulatorSpec | str, *, port: int = 0, elf: Path | None = None,
                 diag: Path | None = None, start_timeout: float = 10.0,
                 echo: bool = False, bootloader: bool = False,
                 reset_on_open: bool | None = None, app: Path | None = None,
                 erased: bool = False, flash_fault: int | None = None) -> None:
        super().__init__(uno_spec(spec), port=port, elf=elf, diag=diag,
                         start_timeout=start_timeout)
        self.echo = echo
        self.harness: Path | None = None
        self.bootloader = bootloader
        self.reset_on_open = bootloader if reset_on_open is None else reset_on_open
        self.app = Path(app) if app is not None else None
        self.erased = erased
        self.flash_fault = flash_fault
        self.boot_hex: Path | None = None
        if not bootloader and (self.reset_on_open or erased or app is not None
                               or flash_fault is not None):
            raise SimavrError("reset_on_open, app, erased and flash_fault need bootloader=True")

    def prepare(self) -> None:
        own_image = self.elf is not None or self.app is not None or self.erased
        reason = simavr_unavailable(need_image=not own_image)
        if reason:
            raise SimavrError(f"cannot run the simavr board: {reason}")
        if self.app is not None:
            if not self.app.is_file():
                raise SimavrError(f"application image {self.app} does not exist")
        elif not self.erased:
            if self.elf is None:
                self.elf = ensure_firmware()
            check_elf(self.elf)
        if self.bootloader:
            self.boot_hex = build_bootloader()
        self.harness = build_harness()

    def pick_port(self) -> int:
        """0: the harness binds a free port itself and reports it (no race)."""
        return 0

    def command(self, port: int) -> list[str]:
        assert self.harness is not None and self.medium is not None
        cmd = [str(self.harness), "--medium", self.medium.address, "--port", str(port)]
        if self.app is not None:
            cmd += ["--app", str(self.app)]
        elif not self.erased:
            cmd += ["--elf", str(self.elf)]
        if self.boot_hex is not None:
            cmd += ["--boot", str(self.boot_hex)]
        if self.reset_on_open:
            cmd += ["--reset-on-open"]
        if self.flash_fault is not None:
            cmd += ["--flash-fault", str(self.flash_fault)]
        if self.diag is not None:
            cmd += ["--diag", str(self.diag)]
        return cmd

    def listening_port(self, line: bytes, port: int) -> int | None:
        if self.echo and line.startswith(b"phyff-simavr:"):
            sys.stderr.write(line.decode(errors="replace"))
            sys.stderr.flush()
        m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
        return int(m.group(1)) if m else None

    def start_hint(self) -> str:
        return f" ({INSTALL_SIMAVR})" if "libsimavr" in self.stderr else ""

    def banner(self) -> str:
        image = self.app or ("an erased flash" if self.erased else self.elf)
        boot = ""
        if self.bootloader:
            boot = (", booting through optiboot"
                    + (", reset when a host connects (upload: avrdude -c arduino -p m328p "
                       f"-P {avrdude_port(self.url)} -b {BAUD} -U flash:w:FILE.hex)"
                       if self.reset_on_open else ""))
        return (f"Uno image {image} in simavr ({MCU} at {F_CPU // 1_000_000} MHz){boot}, "
                f"medium {self.spec.url()}")


def run_simavr_board(spec: EmulatorSpec | str, port: int, stop: threading.Event,
                     verbose: bool, *, bootloader: bool = True,
                     reset_on_open: bool = True) -> int:
    """``phyff emulate --simavr``: print the board's URL, serve until stop or Ctrl-C.

    By default the board boots like a real Uno and resets when a host
    connects (so avrdude can upload to it); bootloader=False runs the ELF
    directly."""
    return serve_board(lambda: SimavrBoard(spec, port=port, elf=ensure_firmware(verbose=verbose),
                                           echo=True, bootloader=bootloader,
                                           reset_on_open=bootloader and reset_on_open),
                       SimavrError, stop, verbose)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phyff.emulator.simavr",
                                     description="The Arduino Uno image: build, simulate, "
                                                 "package as an Arduino library.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the Uno image (pio, else avr-gcc directly)")
    b.add_argument("--direct", action="store_true", help="avr-gcc directly, not pio")
    sub.add_parser("harness", help="build the simavr harness")
    sub.add_parser("bootloader", help="build the Uno's optiboot (Intel HEX)")
    lib = sub.add_parser("library", help="lay out the Arduino library and its ZIP")
    lib.add_argument("--out", type=Path, default=repo_root() / "build" / "arduino")
    ex = sub.add_parser("example", help="compile the library's example sketch for the Uno")
    ex.add_argument("--out", type=Path, default=repo_root() / "build" / "arduino")
    s = sub.add_parser("serve", help="run the Uno image in simavr; print its URL")
    s.add_argument("url", nargs="?", default="emu://acoustic?seed=1")
    s.add_argument("--port", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build":
            elf = (build_with_avr_gcc(verbose=args.verbose) if args.direct
                   else build_firmware(verbose=args.verbose))
            s_ = image_sizes(elf)
            print(f"{elf}: flash {s_['flash']} B of {FLASH_SIZE}, RAM {s_['ram']} B of "
                  f"{RAM_SIZE} (static; the rest is stack)")
        elif args.cmd == "harness":
            print(build_harness(verbose=args.verbose))
        elif args.cmd == "bootloader":
            print(build_bootloader(verbose=args.verbose))
        elif args.cmd == "library":
            print(assemble_library(args.out))
        elif args.cmd == "example":
            libdir = assemble_library(args.out)
            sketch = libdir / "examples" / "phyff_board" / "phyff_board.ino"
            elfs = [build_sketch(sketch, libdir, args.out / "example-uno", verbose=args.verbose)]
            for other in sorted((libdir / "examples").glob("*/*.ino")):
                if other != sketch:  # the other examples (custom hardware), for the Uno
                    elfs.append(build_sketch(other, libdir, args.out / f"{other.stem}-uno",
                                             verbose=args.verbose))
            if shutil.which(ARDUINO_BUILDER):
                elfs.append(build_with_arduino_builder(sketch, libdir.parent,
                                                       args.out / "example-uno-ide"))
            else:
                print("arduino-builder not installed: the IDE's own build was not tried")
            for elf in elfs:
                s_ = image_sizes(elf)
                print(f"{elf}: flash {s_['flash']} B of {FLASH_SIZE}, RAM {s_['ram']} B of "
                      f"{RAM_SIZE}")
        else:
            stop = threading.Event()
            return run_simavr_board(args.url, args.port, stop, args.verbose)
    except SimavrError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["SimavrBoard", "SimavrError", "assemble_library", "avrdude_port", "build_bootloader",
           "build_firmware", "build_harness", "build_image_hex",
           "build_sketch", "build_with_arduino_builder", "build_with_avr_gcc", "ensure_firmware",
           "find_elf", "firmware_dir", "pio_ready", "repo_root", "run_simavr_board",
           "simavr_unavailable", "uno_spec"]

if __name__ == "__main__":
    sys.exit(main())
