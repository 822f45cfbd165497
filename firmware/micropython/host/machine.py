"""A host-only ``machine`` module for the MicroPython unix port.

The unix port's own ``machine`` has no Pin, PWM, DAC or ADC. This one (found
first on the module path) gives the board program the same classes, backed
by a simulated medium behind a medium server (host/mediumlink.py):

- ``PWM(Pin(j)).duty_u16(d)`` and ``DAC(Pin(j)).write(code)`` stage drive
  channel j (a duty d is the code ``d >> (16 - dac_bits)``, the exact inverse
  of how a board turns a code into a duty);
- ``ADC(Pin(j)).read_u16()`` returns sense channel j, 16-bit scaled. Reading
  a channel whose last conversion was already taken starts a new one: a
  single-sample MEASURE of the staged drive for all channels (a scan), so
  reading channels 0..n-1 in order costs one round trip, like one ``sense``
  call of the C host port.

Call ``connect("HOST:PORT")`` before creating objects; ``medium()`` returns the
link, whose ``measure`` the host port uses for whole batches.
"""

from array import array

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_link: "Any" = None
_staged: "Any" = None
_scan: "Any" = None
_fresh: "Any" = None


def connect(address: str, max_payload: int = 16384) -> "Any":
    global _link, _staged, _scan, _fresh
    from mediumlink import MediumLink

    _link = MediumLink(address, max_payload)
    _staged = array("H", [0] * _link.n_drive)
    _scan = array("H", [0] * _link.n_sense)
    _fresh = bytearray(_link.n_sense)
    return _link


def medium() -> "Any":
    if _link is None:
        raise OSError("machine.connect(address) first: no medium server")
    return _link


def _stale() -> None:
    fresh = _fresh
    for j in range(len(fresh)):
        fresh[j] = 0


class Pin:
    IN = 0
    OUT = 1

    def __init__(self, id: int, mode: int = -1) -> None:
        self.id = id

    def __repr__(self) -> str:
        return f"Pin({self.id})"


def _channel(dest: "Any", count: int, what: str) -> int:
    ch = dest.id if isinstance(dest, Pin) else int(dest)
    if not 0 <= ch < count:
        raise ValueError(f"{what} channel {ch}: the medium has {count}")
    return ch


class PWM:
    def __init__(self, dest: "Any", *, freq: int = 1000, duty_u16: int = 0) -> None:
        self.ch = _channel(dest, medium().n_drive, "drive")
        self.shift = 16 - medium().dac_bits
        self._freq = freq
        self.duty_u16(duty_u16)

    def duty_u16(self, value: int) -> None:
        _staged[self.ch] = value >> self.shift
        _stale()

    def freq(self, value: int = -1) -> int:
        if value >= 0:
            self._freq = value
        return self._freq

    def deinit(self) -> None:
        self.duty_u16(0)


class DAC:
    def __init__(self, dest: "Any", bits: int = 0) -> None:
        self.ch = _channel(dest, medium().n_drive, "drive")

    def write(self, value: int) -> None:
        _staged[self.ch] = value
        _stale()


class ADC:
    def __init__(self, dest: "Any", atten: int = 0) -> None:
        self.ch = _channel(dest, medium().n_sense, "sense")
        self.shift = 16 - medium().adc_bits

    def read_u16(self) -> int:
        ch = self.ch
        if not _fresh[ch]:
            link = medium()
            if link.measure(_staged, 1, link.n_drive, _scan, link.n_sense, 1) != 0:
                raise OSError("medium fault: " + link.last_error)
            fresh = _fresh
            for j in range(len(fresh)):
                fresh[j] = 1
        _fresh[ch] = 0
        return _scan[ch] << self.shift


def unique_id() -> bytes:
    """The medium's unit id (its seed), big-endian, like a board's serial number."""
    u = medium().unit_id
    return bytes([(u >> 24) & 0xFF, (u >> 16) & 0xFF, (u >> 8) & 0xFF, u & 0xFF])


def idle() -> None:
    pass
