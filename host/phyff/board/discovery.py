"""Finding boards: which serial ports answer HELLO like phyff firmware."""

from __future__ import annotations

from dataclasses import dataclass

from phyff.board.client import Board, ProtocolMismatch
from phyff.board.link import LinkError


@dataclass
class Candidate:
    url: str
    description: str
    board: str | None = None  # board name from HELLO, None when it did not answer
    problem: str | None = None


def list_ports() -> list[tuple[str, str]]:
    """(device, description) of every serial port the OS reports."""
    from serial.tools import list_ports as lp

    return [(p.device, p.description or "") for p in sorted(lp.comports())]


def probe(url: str, timeout: float = 0.6) -> Candidate:
    """Ask one port for HELLO; never raises."""
    cand = Candidate(url=url, description="")
    try:
        with Board.open(url, timeout=timeout, retries=1) as board:
            cand.board = board.caps.board
            cand.description = (
                f"{board.caps.board} ({board.caps.medium}, {board.caps.n_drive} drive / "
                f"{board.caps.n_sense} sense, firmware {board.caps.firmware_version_str})"
            )
    except ProtocolMismatch as exc:
        cand.problem = str(exc)
    except (LinkError, OSError) as exc:
        cand.problem = str(exc).split(":")[0] or type(exc).__name__
    return cand


def find_boards(timeout: float = 0.6, extra: list[str] | None = None) -> list[Candidate]:
    """Every serial port, and every URL in extra (boards the OS lists as no serial
    port: socket://, a pty), probed; boards first."""
    found = []
    for device, description in [*list_ports(), *((u, "") for u in extra or [])]:
        cand = probe(device, timeout)
        if not cand.description:
            cand.description = description
        found.append(cand)
    return sorted(found, key=lambda c: c.board is None)


def auto_board_url(timeout: float = 0.6) -> str:
    """The one phyff board connected, or a LinkError that says what to do."""
    boards = [c for c in find_boards(timeout) if c.board is not None]
    if len(boards) == 1:
        return boards[0].url
    if not boards:
        raise LinkError(
            "no phyff board found on any serial port. Connect one and flash the firmware "
            "(cd firmware && pio run -e <board> -t upload), or use the emulated board: "
            "--board 'emu://acoustic?seed=1'"
        )
    names = ", ".join(c.url for c in boards)
    raise LinkError(f"several phyff boards found ({names}): choose one with --board")
