"""A firmware image run in an emulator subprocess as a board: the lifecycle, written once.

:class:`~phyff.emulator.qemu.QemuBoard` and
:class:`~phyff.emulator.simavr.SimavrBoard` are the same thing with a
different emulator: a :class:`~phyff.emulator.medium_server.MediumServer`
serving the simulated medium, and an emulator process running the firmware
with the board's host link on a local TCP port. :class:`ProcessBoard` is that
thing; a subclass supplies only what differs (the command line, how the
emulator says it listens, what to check and build first).

Rules:

1. ``start()`` (or entering the context manager) prepares (:meth:`ProcessBoard.prepare`:
   tools present, image built and right), starts the medium server, then
   the emulator; it returns once the emulator listens on its host link, whose
   URL is ``.url`` (``socket://127.0.0.1:PORT``).
2. Any failure in start, and ``close()`` or leaving the context (normally,
   by an exception or Ctrl-C), stops the emulator (SIGTERM, then SIGKILL
   after 5 s), then the medium server. ``close()`` is safe to call twice.
3. The emulator runs in its own session, so a Ctrl-C in the terminal reaches
   this process only, which shuts the emulator down in order. On Linux it is
   also told to exit when the thread that started it ends, so a killed
   Python process leaves no emulator behind: create boards in a long-lived
   thread.
4. Everything the emulator writes to stderr is kept (``.stderr``) for the
   error messages.
5. Errors are the subclass's ``error`` class, with what to do.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import ClassVar, TypeVar

from phyff.emulator.device import EmulatorSpec, parse_emu_url
from phyff.emulator.medium_server import MediumServer, MediumService

B = TypeVar("B", bound="ProcessBoard")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (someone may take it before it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """In the emulator child: get SIGTERM if the thread that started it ends (this
    Python process killed or crashed without cleaning up), so no emulator outlives
    it. Linux only; elsewhere a no-op."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class ProcessBoard:
    """A firmware image in an emulator subprocess, its medium from a medium server.

    Subclasses set ``name`` (the emulator in messages: "QEMU"), ``process``
    (what failed to start: "the simavr harness"), ``error`` (their error
    class) and ``launch_attempts`` (how many free ports to try when the
    emulator exits at start, e.g. because another process took the port), and
    implement :meth:`prepare`, :meth:`command`, :meth:`listening_port` and
    :meth:`banner`.
    """

    name: ClassVar[str]
    process: ClassVar[str]
    error: ClassVar[type[Exception]]
    launch_attempts: ClassVar[int] = 1

    def __init__(self, spec: EmulatorSpec | str, *, port: int = 0, elf: Path | None = None,
                 diag: Path | None = None, start_timeout: float = 10.0) -> None:
        self.spec = parse_emu_url(spec) if isinstance(spec, str) else spec
        self.requested_port = port
        self.elf = Path(elf) if elf is not None else None
        self.diag = diag
        self.start_timeout = start_timeout
        self.port = 0
        self.medium: MediumServer | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr = bytearray()
        self._listening = threading.Event()
        self._listening_on = 0
        self._reader: threading.Thread | None = None

    # ---- the hooks -----------------------------------------------------------

    def prepare(self) -> None:
        """Before anything starts: check the tools, build or check the image (self.elf)."""
        raise NotImplementedError

    def command(self, port: int) -> list[str]:
        """The emulator's command line, its host link on `port` (see :meth:`pick_port`);
        self.medium.address is the medium server to connect to."""
        raise NotImplementedError

    def listening_port(self, line: bytes, port: int) -> int | None:
        """Given a line of the emulator's stderr: the port it now listens on for the
        host link, or None while it does not yet. port is the one it was given."""
        raise NotImplementedError

    def banner(self) -> str:
        """What ``phyff emulate`` prints about the running board."""
        raise NotImplementedError

    def pick_port(self) -> int:
        """The host-link port to give the emulator when the caller asked for none."""
        return free_port()

    def start_hint(self) -> str:
        """Appended to the message when the emulator exits at start (e.g. what to install)."""
        return ""

    # ---- the lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        if not self.port:
            raise self.error(f"the {self.name} board is not started (use it as a context "
                             f"manager)")
        return f"socket://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self._stderr.decode(errors="replace")

    def start(self: B) -> B:
        self.prepare()
        try:
            self.medium = MediumServer(MediumService(self.spec)).start()
            # A port chosen here may be taken by someone else before the emulator
            # binds it: then try another (unless the caller asked for this one).
            for _ in range(self.launch_attempts):
                port = self.requested_port or self.pick_port()
                if self._launch(port):
                    self.port = self._listening_on
                    return self
                if self.requested_port:
                    break
            raise self.error(f"{self.process} did not start: "
                             f"{self.stderr.strip() or 'no message'}{self.start_hint()}")
        except BaseException:
            self.close()
            raise

    def _launch(self, port: int) -> bool:
        """Start the emulator; True once it listens, False if it exited first."""
        self._stderr.clear()
        self._listening.clear()
        self.proc = subprocess.Popen(
            self.command(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._reader = threading.Thread(target=self._read_stderr, args=(self.proc, port),
                                        name=f"phyff-{self.name.lower()}-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._listening.wait(0.02):
                return True
            if self.proc.poll() is not None:
                self._stop_process()
                return False
        raise self.error(f"{self.process} did not open its host link within "
                         f"{self.start_timeout:.0f} s: {self.stderr.strip() or 'no message'}")

    def _read_stderr(self, proc: subprocess.Popen[bytes], port: int) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr += line
            listening = self.listening_port(line, port)
            if listening:
                self._listening_on = listening
                self._listening.set()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _stop_process(self) -> None:
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
        """Stop the emulator, then the medium server. Safe to call twice."""
        self._stop_process()
        if self.medium is not None:
            self.medium.close()
            self.medium = None

    def __enter__(self: B) -> B:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def serve_exit_code(serve: Callable[[], int], error: type[Exception]) -> int:
    """serve()'s exit code, with the ``phyff emulate`` conventions for how serving
    ends otherwise: 130 on Ctrl-C, 1 (the error printed) when error is raised."""
    try:
        return serve()
    except KeyboardInterrupt:
        return 130
    except error as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return 1


def serve_board(make: Callable[[], ProcessBoard], error: type[Exception],
                stop: threading.Event, verbose: bool) -> int:
    """``phyff emulate --qemu/--simavr``: start the board make() gives (building its
    image first if needed), print its URL on stdout and what it is on stderr, serve
    until stop is set or Ctrl-C. 0 when stopped, 1 when the emulator stopped by
    itself or could not start (error, printed), 130 on Ctrl-C."""
    def serve() -> int:
        with make() as board:
            print(board.url, flush=True)
            print(f"# {board.banner()}; Ctrl-C to stop", file=sys.stderr, flush=True)
            while not stop.wait(0.2):
                if not board.running():
                    print(f"{board.name} stopped: {board.stderr.strip()}", file=sys.stderr)
                    return 1
            if verbose and board.medium is not None:
                svc = board.medium.service
                print(f"# medium server: {svc.requests} requests, {svc.samples} samples",
                      file=sys.stderr)
        return 0

    return serve_exit_code(serve, error)


__all__ = ["ProcessBoard", "die_with_parent", "free_port", "serve_board", "serve_exit_code"]
