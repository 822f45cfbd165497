"""How a board URL becomes a byte transport.

A URL's scheme picks the transport. Schemes other than pyserial's own are
plugins: a package declares an entry point in the group ``phyff.transports``
whose name is the scheme and whose value is a callable
``open(url, *, baudrate, timeout) -> Transport``. phyff's emulator declares
``emu`` this way, so this module (and the whole board layer) never imports
the emulator: the arrow points from the emulator to the board, not back.
Everything else (serial ports, ``socket://``, ``rfc2217://``, ``loop://``)
goes to pyserial.

Every transport opened here has deadlines on reads and writes (pyserial's
``timeout`` and ``write_timeout``; the :class:`~phyff.board.link.Link` sets
them per request). Rules for what a URL may say:

1. the timeout is a finite number of seconds above 0 (``check_timeout``);
2. ``socket://HOST:PORT`` and ``rfc2217://HOST:PORT`` need a host and a
   port in 1..65535, checked here so the message says what to write;
3. a device path (``/dev/ttyACM0``, a pty) is opened exclusively (an
   advisory lock), so a second host on the same port is told the board is
   busy instead of both reading each other's replies.
"""

from __future__ import annotations

import errno
import urllib.parse
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from phyff.board.link import BoardBusy, LinkError, Transport, check_timeout

ENTRY_POINT_GROUP = "phyff.transports"

Opener = Callable[..., Transport]


@cache
def _openers() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def registered_schemes() -> list[str]:
    """The URL schemes that installed plugins provide (besides pyserial's)."""
    return sorted(_openers())


def open_transport(url: str, *, baudrate: int = 115200, timeout: float = 2.0) -> Transport:
    """A transport for a URL: a plugin's scheme in process, anything else via pyserial.

    Raises ValueError for a URL or timeout that cannot be right (exit code 2
    in the CLI), BoardBusy when another host holds the port, LinkError when
    nothing answers at that address.
    """
    timeout = check_timeout(timeout)
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the board URL is empty: give a serial port, socket://HOST:PORT or "
                         "emu://MEDIUM?seed=N")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    plugin = _openers().get(scheme)
    if plugin is not None:
        opener: Opener = plugin.load()
        return opener(url, baudrate=baudrate, timeout=timeout)
    if scheme in ("socket", "rfc2217"):
        _check_host_port(url, scheme)
    import serial

    extra: dict[str, Any] = {"exclusive": True} if not scheme else {}
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout,
                                     write_timeout=timeout, **extra)
    except (serial.SerialException, ValueError) as exc:
        if getattr(exc, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise BoardBusy(
                f"board busy: another host is attached to {url} (it holds the port's lock); "
                f"stop the other program first"
            ) from exc
        raise LinkError(
            f"cannot open {url!r}: {exc}. Use a serial port (/dev/ttyACM0, COM3), "
            f"socket://HOST:PORT, or emu://MEDIUM?seed=N for the emulated board "
            f"(`phyff ports` lists what is connected)"
        ) from exc
    if hasattr(port, "setsockopt_nodelay"):
        port.setsockopt_nodelay()
    return port


def _check_host_port(url: str, scheme: str) -> None:
    """ValueError unless the URL names a host and a TCP port in 1..65535."""
    form = f"{scheme}://HOST:PORT, e.g. {scheme}://127.0.0.1:5000"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number, or out of range
        raise ValueError(f"board URL {url!r}: the port must be a number in 1..65535 ({form})"
                         ) from exc
    if not parts.hostname:
        raise ValueError(f"board URL {url!r} names no host: use {form}")
    if port is None or not 1 <= port <= 65535:
        raise ValueError(f"board URL {url!r} needs a port in 1..65535: use {form}")
