"""Recognising a board that runs only its bootloader (STK500 version 1, as optiboot speaks).

An Arduino Uno resets when its port is opened (DTR) and its bootloader,
optiboot, listens for an upload for about a second before it starts the
application. A Uno whose application flash is empty or damaged (an upload
that failed its verify, or was cut off) answers nothing after that: to the
phyff handshake it looks like a dead link. :func:`probe_stk500` tells the
two apart the way avrdude finds the bootloader: open the port (which resets
the board), send GET_SYNC until the bootloader answers INSYNC OK, read the
chip's signature, then tell the bootloader to start the application.

Rules:

1. Only URLs that name a real line are probed (a serial device, ``socket://``,
   ``rfc2217://``): an in-process board (``emu://``) has no bootloader.
2. The probe never raises: None when nothing answered like a bootloader
   within ``window`` seconds (the board may simply be unplugged).
3. What the probe sends is harmless to phyff firmware: bytes without a
   frame delimiter, dropped at its next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from phyff.board.link import LinkError
from phyff.board.transports import open_transport

STK_GET_SYNC = 0x30
STK_READ_SIGN = 0x75
STK_LEAVE_PROGMODE = 0x51
CRC_EOP = 0x20
STK_INSYNC = 0x14
STK_OK = 0x10
INSYNC_OK = bytes([STK_INSYNC, STK_OK])

#: Device signatures (avrdude's part list) of the AVRs phyff has envs for.
SIGNATURES = {
    bytes.fromhex("1e950f"): "ATmega328P",
    bytes.fromhex("1e9514"): "ATmega328",
    bytes.fromhex("1e9406"): "ATmega168",
    bytes.fromhex("1e9801"): "ATmega2560",
}
#: Which platformio.ini environment builds phyff for an MCU (None: no env for it).
ENV_FOR_MCU = {"ATmega328P": "uno", "ATmega328": "uno"}

PROBED_SCHEMES = ("", "socket", "rfc2217")


@dataclass(frozen=True)
class BootloaderReply:
    """A bootloader answered: the chip's signature and what it is, if known."""

    signature: bytes

    @property
    def mcu(self) -> str | None:
        return SIGNATURES.get(self.signature)

    @property
    def env(self) -> str | None:
        return ENV_FOR_MCU.get(self.mcu or "")

    def describe(self) -> str:
        what = self.mcu or "an unknown chip"
        return f"{what}, signature {self.signature.hex()}"


class BootloaderOnly(LinkError):
    """No phyff firmware answers, but the board's bootloader does (``reply``)."""

    def __init__(self, message: str, reply: BootloaderReply) -> None:
        super().__init__(message)
        self.reply = reply


def probeable(url: str) -> bool:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme in PROBED_SCHEMES


def probe_stk500(url: str, *, window: float = 1.2,
                 baudrate: int = 115200) -> BootloaderReply | None:
    """Open ``url`` (resetting a Uno) and ask for its bootloader; None if none answers."""
    if not probeable(url):
        return None
    try:
        transport = open_transport(url, baudrate=baudrate, timeout=0.1)
    except (LinkError, ValueError, OSError):
        return None
    try:
        seen = b""
        deadline = time.monotonic() + window
        while INSYNC_OK not in seen:
            if time.monotonic() >= deadline:
                return None
            transport.write(bytes([STK_GET_SYNC, CRC_EOP]))
            seen += transport.read(64)
        _drain(transport)
        transport.write(bytes([STK_READ_SIGN, CRC_EOP]))
        reply = _read(transport, 5, 0.5)
        transport.write(bytes([STK_LEAVE_PROGMODE, CRC_EOP]))  # optiboot: start the application
        _read(transport, 2, 0.2)
        if len(reply) == 5 and reply[0] == STK_INSYNC and reply[4] == STK_OK:
            return BootloaderReply(reply[1:4])
        return BootloaderReply(b"")
    except (OSError, LinkError):
        return None
    finally:
        transport.close()


def _read(transport: object, n: int, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += transport.read(n - len(out))  # type: ignore[attr-defined]
    return out


def _drain(transport: object) -> None:
    """Read until the line has been quiet for 50 ms (answers to repeated GET_SYNCs)."""
    transport.timeout = 0.05  # type: ignore[attr-defined]
    while transport.read(256):  # type: ignore[attr-defined]
        pass
    transport.timeout = 0.1  # type: ignore[attr-defined]


def explain_silence(url: str, cause: LinkError, baudrate: int = 115200) -> LinkError:
    """The error to report when nothing phyff answered at ``url``.

    A :class:`BootloaderOnly` that says what is on the board and how to
    flash it when its bootloader answers; else ``cause`` unchanged.
    """
    reply = probe_stk500(url, baudrate=baudrate)
    if reply is None:
        return cause
    env = reply.env
    flash = (f"phyff flash --board {url} --env {env}" if env
             else f"phyff flash --board {url} --env ENV")
    return BootloaderOnly(
        f"no phyff firmware answers at {url}, but the board's bootloader does (STK500, "
        f"{reply.describe()}): its application flash is empty or damaged, as a failed or "
        f"interrupted upload leaves it. Flash the firmware: {flash}", reply)


__all__ = ["BootloaderOnly", "BootloaderReply", "explain_silence", "probe_stk500",
           "probeable"]
