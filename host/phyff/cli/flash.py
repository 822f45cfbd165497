"""``phyff flash``: build the firmware a board needs with PlatformIO, upload it, check HELLO.

Which platformio.ini environment a board needs is told, in this order, by
``--env``; by the board itself (its HELLO names the board, e.g. ``uno``); by
its bootloader (an Arduino's optiboot answers STK500 with the chip's
signature: ATmega328P is the ``uno`` env); by its USB ids (an Arduino Uno's
VID:PID). A board none of these names is refused, with the envs to choose
from. Of the envs that build for one board (``uno`` with the official
PlatformIO platform, ``uno_sim`` with the local one, offline), the first whose
platform is installed is used.

The upload is ``pio run -e ENV -t upload --upload-port PORT``; a
``socket://HOST:PORT`` board (the simulated Uno, ``phyff emulate --simavr``)
is given to avrdude as ``net:HOST:PORT``. After the upload the board must
answer HELLO at this phyff's protocol level. Exit codes: 0 flashed and
answering; 1 the build failed; 2 bad usage (an env that does not exist, no
PlatformIO); 3 the upload failed (avrdude's verify included: the board's
application flash then differs from the image, its bootloader is intact) or
the flashed board does not answer.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from phyff.cli.common import EXIT_BOARD, EXIT_FAILED, EXIT_OK, EXIT_USAGE, AddCommand, print_json

#: USB VID:PID of boards phyff has envs for (Arduino's boards.txt, uno.vid/pid).
USB_IDS = {
    (0x2341, 0x0043): "uno", (0x2341, 0x0001): "uno", (0x2A03, 0x0043): "uno",
    (0x2341, 0x0243): "uno", (0x2341, 0x006A): "uno",
}

# avrdude's complaint that a TCP port has no DTR line to toggle: the simulated
# Uno resets on connect instead, so it is noise there.
_NO_DTR = re.compile(r"^avrdude OS error: ioctl\(\"TIOCM[GS]ET\"\).*$\n?", re.M)


class FlashError(Exception):
    """A step of flashing failed; ``code`` is the exit code, the message what to do."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _ini() -> configparser.ConfigParser:
    from phyff.emulator.image import firmware_dir

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(firmware_dir() / "platformio.ini")
    return cfg


def environments() -> dict[str, str]:
    """env name -> the board it builds for (PHYFF_BOARD_<NAME> in its flags, lower case;
    "" for envs of no phyff board, e.g. native), in platformio.ini's order."""
    cfg = _ini()
    out: dict[str, str] = {}
    for section in cfg.sections():
        if not section.startswith("env:"):
            continue
        name = section[4:]
        flags = cfg.get(section, "build_flags", fallback="")
        while (m := re.search(r"\$\{env:([^.}]+)\.build_flags\}", flags)) is not None:
            flags = flags.replace(m.group(0), cfg.get(f"env:{m.group(1)}", "build_flags",
                                                      fallback=""))
        board = re.search(r"-DPHYFF_BOARD_(\w+)", flags)
        out[name] = board.group(1).lower() if board else ""
    return out


def _platform_installed(env: str) -> bool:
    platform = _ini().get(f"env:{env}", "platform", fallback="")
    if platform.startswith(("symlink://", "file://")):
        return True
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    return (core / "platforms" / platform).is_dir()


def env_for_board(board: str) -> str | None:
    """The env to flash a board of this name with (an installed platform first)."""
    envs = [e for e, b in environments().items() if b == board.lower()]
    installed = [e for e in envs if _platform_installed(e)]
    choice = installed or envs
    return choice[0] if choice else None


def _usb_board(port: str) -> str | None:
    try:
        from serial.tools import list_ports
    except ImportError:
        return None
    for p in list_ports.comports():
        if p.device == port and p.vid is not None:
            return USB_IDS.get((p.vid, p.pid))
    return None


def tell_env(url: str, timeout: float) -> tuple[str | None, str]:
    """(env, how it was told), or (None, what was tried)."""
    from phyff.board.bootloader import BootloaderOnly, BootloaderReply, probe_stk500
    from phyff.board.client import Board
    from phyff.board.link import LinkError

    reply: BootloaderReply | None
    try:
        with Board.open(url, timeout=timeout, retries=1) as board:
            name = board.caps.board
        env = env_for_board(name)
        return env, f"the board says it is {name!r} (HELLO)"
    except BootloaderOnly as exc:
        reply = exc.reply
    except (LinkError, ValueError, OSError):
        reply = probe_stk500(url)
    if reply is not None and reply.env is not None:
        return env_for_board(reply.env), f"its bootloader reports an {reply.describe()}"
    usb = _usb_board(url)
    if usb is not None:
        return env_for_board(usb), f"its USB ids are an Arduino {usb}'s"
    tried = "it does not answer HELLO"
    tried += (f", its bootloader reports {reply.describe()}" if reply is not None
              else ", no bootloader answered")
    return None, tried + ", and its USB ids are no known board's"


def upload_port(url: str) -> str:
    from phyff.emulator.simavr import avrdude_port

    return avrdude_port(url)


def _pio(args: list[str]) -> subprocess.CompletedProcess[str]:
    from phyff.emulator.image import firmware_dir

    return subprocess.run(["pio", "run", "-d", str(firmware_dir()), *args],
                          capture_output=True, text=True, check=False)


def build(env: str) -> None:
    proc = _pio(["-e", env])
    if proc.returncode != 0:
        raise FlashError(f"building env {env} failed:\n{_tail(proc)}", EXIT_FAILED)


def upload(env: str, url: str) -> str:
    """Upload env's image to the board at url; returns the uploader's output."""
    proc = _pio(["-e", env, "-t", "upload", "--upload-port", upload_port(url)])
    out = _NO_DTR.sub("", proc.stdout + proc.stderr)
    if proc.returncode == 0:
        return out
    mismatch = re.search(r"device 0x(\w+) != input 0x(\w+) at addr (0x\w+)", out)
    if mismatch or "verification mismatch" in out:
        where = f" first at address {mismatch.group(3)}" if mismatch else ""
        raise FlashError(
            f"the upload to {url} failed its verify: the board's flash differs from the image"
            f"{where}. Its application is damaged (do not trust it, even if it answers), "
            f"its bootloader is intact: flash again (phyff flash --board {url} --env {env}); "
            f"if it fails again at the same place, the board's flash is worn", EXIT_BOARD)
    raise FlashError(f"uploading env {env} to {url} failed:\n{_tail(proc, out)}", EXIT_BOARD)


def _tail(proc: subprocess.CompletedProcess[str], text: str | None = None) -> str:
    lines = (text if text is not None else proc.stdout + proc.stderr).strip().splitlines()
    return "\n".join(lines[-15:])


def cmd_flash(args: argparse.Namespace) -> int:
    from phyff.board.client import Board

    if shutil.which("pio") is None:
        print("phyff: PlatformIO is not installed: pip install platformio (offline: then run "
              "firmware/tools/pio-offline.sh)", file=sys.stderr)
        return EXIT_USAGE
    envs = environments()
    flashable = ", ".join(e for e, b in envs.items() if b)
    if args.env is not None and args.env not in envs:
        print(f"phyff: no env {args.env!r} in firmware/platformio.ini: choose one of "
              f"{flashable}", file=sys.stderr)
        return EXIT_USAGE
    env, how = (args.env, "--env") if args.env else tell_env(args.board, args.timeout)
    if env is None:
        print(f"phyff: cannot tell which firmware the board at {args.board} needs: {how}. "
              f"Pass --env, one of: {flashable}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if not args.no_build:
            print(f"# building env {env} with PlatformIO", file=sys.stderr, flush=True)
            build(env)
        print(f"# uploading to {args.board} ({how})", file=sys.stderr, flush=True)
        upload(env, args.board)
    except FlashError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return exc.code
    with Board.open(args.board, timeout=args.timeout) as board:
        caps = board.caps
    result = {"board": args.board, "env": env, "env_from": how, "name": caps.board,
              "unit_id": caps.unit_id, "firmware": caps.firmware_version_str,
              "level": caps.level}
    if args.json:
        print_json(result)
    else:
        print(f"flashed env {env} ({how}) to {args.board}: it answers HELLO as {caps.board!r}, "
              f"firmware {caps.firmware_version_str}, protocol level {caps.level}, "
              f"unit id {caps.unit_id}")
    return EXIT_OK


def add_commands(add: AddCommand) -> None:
    """Register flash."""
    p = add("flash", cmd_flash, "build the board's firmware with PlatformIO, upload it, "
            "check it answers HELLO", board=True)
    p.add_argument("--board", required=True, metavar="PORT",
                   help="the board's port: /dev/ttyACM0, COM3, or socket://HOST:PORT "
                        "(the simulated Uno)")
    p.add_argument("--env", help="platformio.ini environment (default: told by the board)")
    p.add_argument("--no-build", action="store_true",
                   help="upload the image built last, without building")
