"""How a board URL becomes a byte transport.

A URL's scheme picks the transport. Schemes other than pyserial's own are
plugins: a package declares an entry point in the group ``phyff.transports``
whose name is the scheme and whose value is a callable
``open(url, *, baudrate, timeout) -> Transport``. phyff's emulator declares
``emu`` this way, so this module (and the whole board layer) never imports
the emulator: the arrow points from the emulator to the board, not back.
Everything else (serial ports, ``socket://``, ``rfc2217://``, ``loop://``)
goes to pyserial.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from phyff.board.link import LinkError, Transport

ENTRY_POINT_GROUP = "phyff.transports"

Opener = Callable[..., Transport]


@cache
def _openers() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def registered_schemes() -> list[str]:
    """The URL schemes that installed plugins provide (besides pyserial's)."""
    return sorted(_openers())


def open_transport(url: str, *, baudrate: int = 115200, timeout: float = 2.0) -> Transport:
    """A transport for a URL: a plugin's scheme in process, anything else via pyserial."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    plugin = _openers().get(scheme)
    if plugin is not None:
        opener: Opener = plugin.load()
        return opener(url, baudrate=baudrate, timeout=timeout)
    import serial

    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout)
    except (serial.SerialException, ValueError) as exc:
        raise LinkError(
            f"cannot open {url!r}: {exc}. Use a serial port (/dev/ttyACM0, COM3), "
            f"socket://HOST:PORT, or emu://MEDIUM?seed=N for the emulated board "
            f"(`phyff ports` lists what is connected)"
        ) from exc
    if hasattr(port, "setsockopt_nodelay"):
        port.setsockopt_nodelay()
    return port
