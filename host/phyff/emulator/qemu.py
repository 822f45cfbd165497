"""The real firmware in QEMU: the exact image a user would flash, tested without a board.

``firmware/ports/qemu`` builds the board core for QEMU's ``mps2-an385``
machine (a Cortex-M3). QEMU has no DAC/ADC model, so the firmware reaches its
medium through its second UART and the medium link (``medium_link.h``),
answered here by a :class:`~phyff.emulator.medium_server.MediumServer` running
the same simulated media as the in-process emulator. For the same seed and
drive batches, the QEMU board and the emulator answer byte for byte alike.

- :func:`build_firmware` builds the ELF: ``pio run -e qemu`` when PlatformIO
  works offline (``firmware/tools/pio-offline.sh``), else arm-none-eabi-gcc
  directly, with the flags and sources PlatformIO would use (read from
  ``firmware/platformio.ini`` and the local platform's board manifest, so the
  build is defined once).
- :class:`QemuBoard` starts the medium server and QEMU, and gives the URL of
  the board's host link (``socket://127.0.0.1:PORT``); the lifecycle is
  :class:`~phyff.emulator.process_board.ProcessBoard`'s, the build
  :class:`~phyff.emulator.image.FirmwareImage`'s.
- :func:`run_qemu_board` serves one for ``phyff emulate --qemu``.

QEMU is started with ``wait=on`` on the host link: the guest does not run
until the host connects, so nothing the board sends at start-up (its "board
reset" announcement) is lost; :class:`~phyff.board.client.Board`'s handshake expects
that announcement to come first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from phyff.emulator.device import EmulatorSpec
from phyff.emulator.image import FirmwareImage, firmware_dir, pio_ready, repo_root
from phyff.emulator.process_board import ProcessBoard, serve_board

QEMU = "qemu-system-arm"
MACHINE = "mps2-an385"
ARM_GCC = "arm-none-eabi-gcc"
ENV = "qemu"  # the platformio.ini environment of the QEMU port

INSTALL_QEMU = (
    "install QEMU's ARM system emulator (Debian/Ubuntu: "
    "apt-get install --no-install-recommends qemu-system-arm)"
)
INSTALL_GCC = (
    "install the ARM cross compiler (Debian/Ubuntu: apt-get install --no-install-recommends "
    "gcc-arm-none-eabi libnewlib-arm-none-eabi)"
)


class QemuError(RuntimeError):
    """QEMU or the firmware build is missing or failed; the message says what to do."""


# ---- building ---------------------------------------------------------------


def build_with_gcc(*, verbose: bool = False) -> Path:
    """arm-none-eabi-gcc straight from platformio.ini's qemu environment (no PlatformIO)."""
    if shutil.which(ARM_GCC) is None:
        raise QemuError(f"{ARM_GCC} not found: {INSTALL_GCC}")
    fw = firmware_dir()
    opts, sources = IMAGE.sources(ENV, (".c",))
    board = json.loads((fw / "platforms" / "qemu" / "boards" / f"{opts['board']}.json")
                       .read_text())["build"]
    out = IMAGE.gcc_elf()
    out.parent.mkdir(parents=True, exist_ok=True)
    cpu = [f"-mcpu={board['cpu']}"]
    cmd = [ARM_GCC, *cpu, *board["ccflags"], *board["cflags"], *opts["build_flags"].split(),
           *opts["build_src_flags"].split(), *[str(s) for s in sources],
           "-T", opts["board_build.ldscript"], *cpu, *board["linkflags"], "-o", str(out)]
    if verbose:
        print(" ".join(cmd), file=sys.stderr)
    # Relative include paths and the linker script are relative to firmware/, as for pio.
    proc = subprocess.run(cmd, cwd=fw, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise QemuError(f"building the QEMU firmware failed:\n{proc.stderr.strip()}")
    return out


# The image: pio's .pio/build/qemu/firmware.elf, or build/qemu/firmware.elf from the
# direct build; fresh when newer than ports/qemu, platforms/qemu and the shared sources.
IMAGE = FirmwareImage(env=ENV, build_dir="qemu", port="qemu", platform="qemu",
                      error=QemuError, direct=build_with_gcc)
pio_elf, find_elf = IMAGE.pio_elf, IMAGE.find_elf
build_firmware, ensure_firmware = IMAGE.build, IMAGE.ensure


def _have_newlib() -> bool:
    gcc = shutil.which(ARM_GCC)
    if gcc is None:
        return False
    out = subprocess.run([gcc, "-print-file-name=nano.specs"], capture_output=True, text=True,
                         check=False).stdout.strip()
    return os.path.isabs(out) and os.path.exists(out)


def qemu_unavailable() -> str | None:
    """None when QEMU and the firmware (or the means to build it) are here, else why not."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} not found: {INSTALL_QEMU}"
    if find_elf() is not None:
        return None
    if not (firmware_dir() / "ports" / "qemu").is_dir():
        return (f"no firmware sources at {firmware_dir()} to build the QEMU image from "
                f"(set PHYFF_REPO to a phyff checkout)")
    if shutil.which(ARM_GCC) is None:
        return f"no firmware ELF built and {ARM_GCC} not found to build one: {INSTALL_GCC}"
    if not _have_newlib():
        return f"{ARM_GCC} has no newlib (nano.specs): {INSTALL_GCC}"
    return None


# ---- running -----------------------------------------------------------------


class QemuBoard(ProcessBoard):
    """The firmware in QEMU with a simulated medium; ``.url`` is its host link.

    A context manager (see :class:`~phyff.emulator.process_board.ProcessBoard`
    for the lifecycle). QEMU is given a free port for the host link; when
    another process takes it first, QEMU exits and another port is tried.

    icount=True runs QEMU with ``-icount shift=0``: every guest instruction
    advances virtual time by exactly 1 ns, making the firmware's timings
    deterministic instruction counts. diag, a path, receives the firmware's
    UART2 diagnostics (one line per reply, see ports/qemu/qemu_port.c).
    """

    name = "QEMU"
    process = "QEMU"
    error = QemuError
    launch_attempts = 5

    def __init__(self, spec: EmulatorSpec | str, *, port: int = 0, icount: bool = False,
                 elf: Path | None = None, diag: Path | None = None,
                 start_timeout: float = 10.0) -> None:
        super().__init__(spec, port=port, elf=elf, diag=diag, start_timeout=start_timeout)
        self.icount = icount

    def prepare(self) -> None:
        reason = qemu_unavailable()
        if reason:
            raise QemuError(f"cannot run the QEMU board: {reason}")
        if self.elf is None:
            self.elf = ensure_firmware()
        elif not self.elf.is_file():
            raise QemuError(f"firmware ELF {self.elf} does not exist (build it: "
                            f"cd firmware && pio run -e {ENV})")

    def command(self, port: int) -> list[str]:
        """QEMU's command line for the host link on `port`."""
        assert self.elf is not None and self.medium is not None
        cmd = [
            QEMU, "-M", MACHINE, "-nographic", "-monitor", "none",
            "-kernel", str(self.elf),
            # UART0: the host link. wait=on: the guest starts only once the host
            # is connected, so its reset announcement is not lost.
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            # UART1: the medium link, to the medium server.
            "-serial", f"tcp:{self.medium.address},nodelay=on",
            # UART2: diagnostics.
            "-serial", f"file:{self.diag}" if self.diag else "null",
        ]
        if self.icount:
            cmd += ["-icount", "shift=0"]
        return cmd

    def listening_port(self, line: bytes, port: int) -> int | None:
        return port if b"waiting for connection" in line else None

    def banner(self) -> str:
        return (f"firmware {self.elf} in QEMU {MACHINE}, medium {self.spec.url()} "
                f"(unit id {self.spec.seed})")


def run_qemu_board(spec: EmulatorSpec | str, port: int, stop: threading.Event,
                   verbose: bool) -> int:
    """``phyff emulate --qemu``: print the board's URL, serve until stop or Ctrl-C."""
    return serve_board(lambda: QemuBoard(spec, port=port, elf=ensure_firmware(verbose=verbose)),
                       QemuError, stop, verbose)


__all__ = ["QemuBoard", "QemuError", "build_firmware", "build_with_gcc", "ensure_firmware",
           "find_elf", "firmware_dir", "pio_ready", "qemu_unavailable", "repo_root",
           "run_qemu_board"]
