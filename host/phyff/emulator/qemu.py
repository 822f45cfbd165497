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
  the board's host link (``socket://127.0.0.1:PORT``).
- :func:`run_qemu_board` serves one for ``phyff emulate --qemu``.

QEMU is started with ``wait=on`` on the host link: the guest does not run
until the host connects, so nothing the board sends at start-up (its "board
reset" announcement) is lost; :class:`~phyff.board.client.Board`'s handshake expects
that announcement to come first.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from phyff.emulator.device import EmulatorSpec, parse_emu_url
from phyff.emulator.medium_server import MediumServer, MediumService

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


# ---- where things are --------------------------------------------------------


def repo_root() -> Path:
    """The checkout holding firmware/ (the package is installed editable from it).

    PHYFF_REPO overrides it, for a package installed elsewhere.
    """
    env = os.environ.get("PHYFF_REPO")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[3]


def firmware_dir() -> Path:
    return repo_root() / "firmware"


def pio_elf() -> Path:
    return firmware_dir() / ".pio" / "build" / ENV / "firmware.elf"


def gcc_elf() -> Path:
    return repo_root() / "build" / "qemu" / "firmware.elf"


def _source_files() -> list[Path]:
    root = repo_root()
    globs = ("firmware/src/**/*.[ch]", "firmware/ports/qemu/*", "shared/src/*.c",
             "shared/include/phyff/*.h", "firmware/platformio.ini",
             "firmware/platforms/qemu/**/*")
    return [p for g in globs for p in root.glob(g) if p.is_file()]


def _is_fresh(elf: Path) -> bool:
    if not elf.is_file():
        return False
    newest = max((p.stat().st_mtime for p in _source_files()), default=0.0)
    return elf.stat().st_mtime >= newest


def find_elf() -> Path | None:
    """An up-to-date firmware ELF if one was built (by pio or the fallback), else None."""
    fresh = [p for p in (pio_elf(), gcc_elf()) if _is_fresh(p)]
    return max(fresh, key=lambda p: p.stat().st_mtime) if fresh else None


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


# ---- building ---------------------------------------------------------------


def pio_ready() -> bool:
    """PlatformIO installed and able to build offline (tool-scons registered)."""
    if shutil.which("pio") is None:
        return False
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    return (core / "packages" / "tool-scons" / "package.json").is_file()


def build_firmware(*, use_pio: bool | None = None, verbose: bool = False) -> Path:
    """Build the QEMU image and return its ELF path.

    ``pio run -e qemu`` when PlatformIO is ready offline (or use_pio=True),
    falling back to a direct arm-none-eabi-gcc build from the same definition
    when pio is absent or fails for want of its registry.
    """
    if use_pio is None:
        use_pio = pio_ready()
    pio_log = ""
    if use_pio:
        proc = subprocess.run(["pio", "run", "-e", ENV, "-d", str(firmware_dir())],
                              capture_output=True, text=True, check=False)
        if verbose:
            sys.stderr.write(proc.stdout + proc.stderr)
        if proc.returncode == 0 and pio_elf().is_file():
            return pio_elf()
        pio_log = (proc.stdout + proc.stderr)[-2000:]
    try:
        return build_with_gcc(verbose=verbose)
    except QemuError as exc:
        if pio_log:
            raise QemuError(f"{exc}\n(pio run -e {ENV} failed too:\n{pio_log})") from exc
        raise


def _pio_config() -> dict[str, str]:
    """The qemu environment's options from platformio.ini, ${section.option} resolved."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(firmware_dir() / "platformio.ini")
    pattern = re.compile(r"\$\{([^.}]+)\.([^}]+)\}")

    def resolve(text: str, depth: int = 0) -> str:
        if depth > 10:
            raise QemuError("platformio.ini: ${...} references nest too deeply")

        def sub(m: re.Match[str]) -> str:
            return resolve(cfg.get(m.group(1), m.group(2), fallback=""), depth + 1)

        return pattern.sub(sub, text)

    env = f"env:{ENV}"
    out: dict[str, str] = {}
    for key in ("build_src_filter", "build_flags", "build_src_flags", "board",
                "board_build.ldscript"):
        value = cfg.get(env, key, fallback=None)
        if value is None:
            value = cfg.get("env", key, fallback="")
        out[key] = resolve(value)
    out["src_dir"] = cfg.get("platformio", "src_dir", fallback="src")
    return out


def _filter_sources(src_dir: Path, src_filter: str) -> list[Path]:
    """PlatformIO's +<...>/-<...> source filter, for the patterns platformio.ini uses."""
    chosen: list[Path] = []
    for sign, pattern in re.findall(r"([+-])<([^>]*)>", src_filter):
        if pattern in ("*", "*/", ""):
            matched = list(src_dir.rglob("*")) if sign == "+" else []
            if sign == "-":
                chosen = []
                continue
        elif pattern.endswith("/"):
            matched = list((src_dir / pattern).rglob("*"))
        else:
            matched = list(src_dir.glob(pattern))
        matched = [p.resolve() for p in matched if p.is_file() and p.suffix == ".c"]
        if sign == "+":
            chosen += [p for p in matched if p not in chosen]
        else:
            chosen = [p for p in chosen if p not in matched]
    return chosen


def build_with_gcc(*, verbose: bool = False) -> Path:
    """arm-none-eabi-gcc straight from platformio.ini's qemu environment (no PlatformIO)."""
    if shutil.which(ARM_GCC) is None:
        raise QemuError(f"{ARM_GCC} not found: {INSTALL_GCC}")
    fw = firmware_dir()
    opts = _pio_config()
    board = json.loads((fw / "platforms" / "qemu" / "boards" / f"{opts['board']}.json")
                       .read_text())["build"]
    sources = _filter_sources((fw / opts["src_dir"]).resolve(), opts["build_src_filter"])
    if not sources:
        raise QemuError(f"no sources matched build_src_filter of env:{ENV} in platformio.ini")
    out = gcc_elf()
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


def ensure_firmware(*, verbose: bool = False) -> Path:
    """The up-to-date ELF, built first if needed."""
    return find_elf() or build_firmware(verbose=verbose)


# ---- running -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the QEMU child: get SIGTERM if this Python process dies without cleaning up
    (killed, crashed), so no QEMU outlives it. Linux only; elsewhere a no-op."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class QemuBoard:
    """The firmware in QEMU with a simulated medium; ``.url`` is its host link.

    A context manager: on exit (normal, exception or Ctrl-C) QEMU and the
    medium server are stopped. QEMU runs in its own session, so a Ctrl-C in
    the terminal reaches this process, which then shuts QEMU down in order.
    Create it in a long-lived thread: QEMU is told to exit when the thread
    that started it ends (so a killed test run leaves no QEMU behind).

    icount=True runs QEMU with ``-icount shift=0``: every guest instruction
    advances virtual time by exactly 1 ns, making the firmware's timings
    deterministic instruction counts. diag, a path, receives the firmware's
    UART2 diagnostics (one line per reply, see ports/qemu/qemu_port.c).
    """

    def __init__(self, spec: EmulatorSpec | str, *, port: int = 0, icount: bool = False,
                 elf: Path | None = None, diag: Path | None = None,
                 start_timeout: float = 10.0) -> None:
        self.spec = parse_emu_url(spec) if isinstance(spec, str) else spec
        self.requested_port = port
        self.icount = icount
        self.elf = elf
        self.diag = diag
        self.start_timeout = start_timeout
        self.port = 0
        self.medium: MediumServer | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr = bytearray()
        self._listening = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        if not self.port:
            raise QemuError("the QEMU board is not started (use it as a context manager)")
        return f"socket://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self._stderr.decode(errors="replace")

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

    def start(self) -> QemuBoard:
        reason = qemu_unavailable()
        if reason:
            raise QemuError(f"cannot run the QEMU board: {reason}")
        if self.elf is None:
            self.elf = ensure_firmware()
        elif not Path(self.elf).is_file():
            raise QemuError(f"firmware ELF {self.elf} does not exist (build it: "
                            f"cd firmware && pio run -e {ENV})")
        try:
            self.medium = MediumServer(MediumService(self.spec)).start()
            # A port chosen here may be taken by someone else before QEMU binds it:
            # then try another (unless the caller asked for this one).
            for attempt in range(5):
                port = self.requested_port or _free_port()
                if self._launch(port):
                    self.port = port
                    return self
                if self.requested_port or attempt == 4:
                    break
            raise QemuError(f"QEMU did not start: {self.stderr.strip() or 'no message'}")
        except BaseException:
            self.close()
            raise

    def _launch(self, port: int) -> bool:
        """Start QEMU; True once it listens on `port`, False if it exited (port in use)."""
        self._stderr.clear()
        self._listening.clear()
        self.proc = subprocess.Popen(
            self.command(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._reader = threading.Thread(target=self._read_stderr, args=(self.proc,),
                                        name="phyff-qemu-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._listening.wait(0.02):
                return True
            if self.proc.poll() is not None:
                self._reader.join(timeout=1)
                self.proc = None
                return False
        self._stop_qemu()
        raise QemuError(f"QEMU did not open its host link within {self.start_timeout:.0f} s: "
                        f"{self.stderr.strip() or 'no message'}")

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr += line
            if b"waiting for connection" in line:
                self._listening.set()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _stop_qemu(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=2)
        if proc.stderr is not None:
            proc.stderr.close()

    def close(self) -> None:
        """Stop QEMU, then the medium server. Safe to call twice."""
        self._stop_qemu()
        if self.medium is not None:
            self.medium.close()
            self.medium = None

    def __enter__(self) -> QemuBoard:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def run_qemu_board(spec: EmulatorSpec | str, port: int, stop: threading.Event,
                   verbose: bool) -> int:
    """``phyff emulate --qemu``: print the board's URL, serve until stop or Ctrl-C."""
    spec = parse_emu_url(spec) if isinstance(spec, str) else spec
    try:
        elf = ensure_firmware(verbose=verbose)
        with QemuBoard(spec, port=port, elf=elf) as board:
            print(board.url, flush=True)
            print(f"# firmware {elf} in QEMU {MACHINE}, medium {spec.url()} "
                  f"(unit id {spec.seed}); Ctrl-C to stop", file=sys.stderr, flush=True)
            while not stop.wait(0.2):
                if not board.running():
                    print(f"QEMU stopped: {board.stderr.strip()}", file=sys.stderr)
                    return 1
            if verbose and board.medium is not None:
                svc = board.medium.service
                print(f"# medium server: {svc.requests} requests, {svc.samples} samples",
                      file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        return 130
    except QemuError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return 1


__all__ = ["QemuBoard", "QemuError", "build_firmware", "qemu_unavailable", "run_qemu_board"]
