"""Client of the medium link (shared/include/phyff/medium_link.h), for the unix port.

The board program on a host has no DAC or ADC: its drives and readings go
to a medium server (phyff.emulator.medium_server.MediumServer) over TCP,
framed exactly like the host protocol (phyffmp.wire). DESCRIBE once at
start-up, then MEASURE: a whole batch of DAC codes in one request, the
averaged ADC codes back (each the round-half-up mean of ``oversample``
reads, computed by the server's front end as the C emulator does).
"""

import select
import socket

import micropython
from phyffmp.wire import (
    CRC_SIZE,
    FLAG_ERROR,
    FLAG_REPLY,
    HEADER_SIZE,
    MAX_PAYLOAD_LIMIT,
    MEASURE_HEAD_SIZE,
    MEDIUM_DESC_SIZE,
    MEDIUM_DESCRIBE,
    MEDIUM_MEASURE,
    NAME_SIZE,
    PROTOCOL_LEVEL,
    frame_decode,
    frame_encode,
    get_u16,
    get_u32,
    put_u16,
    wire_max_frame,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Viper's pointer types: a ptr8/ptr16/ptr32 argument takes any buffer.
    from array import array
    from typing import Any

    ptr8 = bytearray | memoryview
    ptr16 = array | memoryview
    ptr32 = array | memoryview


class MediumError(OSError):
    pass


@micropython.viper
def pack_u16(src: ptr16, count: int, dst: ptr8, off: int) -> int:
    """src[0:count] (native uint16) -> little-endian bytes at dst[off:] (W-W3)."""
    i = 0
    while i < count:
        v = src[i]
        dst[off + 2 * i] = v & 0xFF
        dst[off + 2 * i + 1] = v >> 8
        i += 1
    return count


@micropython.viper
def unpack_u16(src: ptr8, off: int, dst: ptr16, count: int) -> int:
    """Little-endian bytes at src[off:] -> dst[0:count] (native uint16)."""
    i = 0
    while i < count:
        dst[i] = src[off + 2 * i] | (src[off + 2 * i + 1] << 8)
        i += 1
    return count


def parse_address(text: str) -> "tuple[str, int]":
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


class MediumLink:
    """One TCP connection to a medium server; requests are strictly one at a time."""

    def __init__(self, address: str, max_payload: int) -> None:
        host, port = parse_address(address)
        sock = socket.socket()
        sock.connect(socket.getaddrinfo(host, port)[0][-1])
        try:
            sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: one small frame per request
        except OSError:
            pass
        sock.setblocking(False)
        self.sock: Any = sock
        self.poll = select.poll()
        self.poll.register(sock, select.POLLIN)
        self.seq = 0
        room = min(max_payload + MEASURE_HEAD_SIZE, MAX_PAYLOAD_LIMIT)
        self.raw = bytearray(HEADER_SIZE + room + CRC_SIZE)
        self.tx = bytearray(wire_max_frame(room))
        self.rx = bytearray(wire_max_frame(room))
        self.rx_len = 0
        self.timeout_ms = 30000
        self.last_error = ""
        self.describe()

    def describe(self) -> None:
        n = self.request(MEDIUM_DESCRIBE, 0)
        if n < MEDIUM_DESC_SIZE:
            raise MediumError("medium server: bad DESCRIBE reply")
        rx = self.rx
        self.n_drive = get_u16(rx, HEADER_SIZE)
        self.n_sense = get_u16(rx, HEADER_SIZE + 2)
        self.dac_bits = rx[HEADER_SIZE + 4]
        self.adc_bits = rx[HEADER_SIZE + 5]
        self.unit_id = get_u32(rx, HEADER_SIZE + 8)
        name = bytes(rx[HEADER_SIZE + 12:HEADER_SIZE + 12 + NAME_SIZE])
        end = name.find(b"\x00")
        self.medium = (name if end < 0 else name[:end]).decode()

    def measure(self, dac: "Any", n: int, nd: int, adc: "Any", ns: int, k: int) -> int:
        """MEASURE n samples of nd DAC codes; adc gets n x ns codes. 0, or -1 on a fault.

        One MEASURE for the whole batch, as the C emulator's measure_batch. Only
        a batch whose codes cannot fit one frame (more than 65527 bytes, possible
        when the board's max_payload is 65535) is split by rows: the media are
        batch-split invariant, so the codes are the same.
        """
        rows = (MAX_PAYLOAD_LIMIT - MEASURE_HEAD_SIZE) // (2 * nd)
        if n <= rows:
            return self._measure(dac, 0, n, nd, adc, ns, k)
        done = 0
        while done < n:
            take = rows if n - done > rows else n - done
            if self._measure(dac, done, take, nd, adc, ns, k) != 0:
                return -1
            done += take
        return 0

    def _measure(self, dac: "Any", first: int, n: int, nd: int, adc: "Any", ns: int,
                 k: int) -> int:
        raw = self.raw
        p = HEADER_SIZE
        put_u16(raw, p, n)
        put_u16(raw, p + 2, nd)
        put_u16(raw, p + 4, ns)
        put_u16(raw, p + 6, k)
        src = dac if first == 0 else memoryview(dac)[first * nd:]
        pack_u16(src, n * nd, raw, p + MEASURE_HEAD_SIZE)
        try:
            got = self.request(MEDIUM_MEASURE, MEASURE_HEAD_SIZE + 2 * n * nd)
        except MediumError as exc:
            self.last_error = str(exc)
            return -1
        if got != 2 * n * ns:
            self.last_error = f"MEASURE reply of {got} bytes, expected {2 * n * ns}"
            return -1
        out = adc if first == 0 else memoryview(adc)[first * ns:]
        unpack_u16(self.rx, HEADER_SIZE, out, n * ns)
        return 0

    def request(self, cmd: int, plen: int) -> int:
        """Send raw[8:8+plen] as a request; the reply payload is left at rx[8:]."""
        self.seq = self.seq % 255 + 1
        n = frame_encode(self.raw, plen, PROTOCOL_LEVEL, self.seq, cmd, 0, 0, self.tx)
        if n < 0:
            raise MediumError("medium request too large")
        self._send(n)
        body = self._read_frame()
        length = frame_decode(self.rx, body, len(self.rx))
        if length < 0:
            raise MediumError(f"damaged reply from the medium server (status {-length})")
        rx = self.rx
        if rx[1] != self.seq or rx[2] != cmd or not rx[3] & FLAG_REPLY:
            raise MediumError("unexpected reply from the medium server")
        if rx[3] & FLAG_ERROR:
            status, arg = get_u16(rx, HEADER_SIZE), get_u16(rx, HEADER_SIZE + 2)
            raise MediumError(f"medium server refused: status {status}, arg {arg}")
        return length

    def _send(self, n: int) -> None:
        off = 0
        tx = self.tx
        while off < n:
            done = self.sock.write(tx, off, n - off)
            if done is None:
                continue
            off += done

    def _read_frame(self) -> int:
        """Read up to a delimiter into rx; returns the body length."""
        rx = self.rx
        mv = memoryview(rx)
        have = 0
        while True:
            if not self.poll.poll(self.timeout_ms):
                raise MediumError("the medium server did not answer")
            got = self.sock.readinto(mv[have:])
            if got is None:
                continue
            if got == 0:
                raise MediumError("the medium server closed the link")
            end = have + got
            while have < end:
                if rx[have] == 0:
                    return have  # one request, one reply: nothing follows it
                have += 1
            if have >= len(rx):
                raise MediumError("reply from the medium server too long")
