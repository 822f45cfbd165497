"""The medium server: simulated media for boards that have none.

A board running under QEMU or the MicroPython unix port reaches its medium
through a second serial line (the medium link, medium_link.h). This server
answers that link with the same media and DAC/ADC front end as the
in-process emulator, so every target answers byte for byte alike for the
same seed and the same drive batches.

It listens on TCP (QEMU connects its second UART with ``-serial
tcp:HOST:PORT``; the MicroPython host ``machine`` module opens a socket) and
serves one connection at a time, each on its own thread.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import numpy as np

from phyff.emulator.device import EmulatorSpec, check_spec, parse_emu_url
from phyff.emulator.server import pump_connection
from phyff.media import make_medium
from phyff.media.frontend import Frontend
from phyff.protocol import wire
from phyff.protocol.medium_link import MEASURE_HEAD_SIZE, MeasureHead, MediumCmd, MediumDesc
from phyff.protocol.wire import Deframer, ErrorRecord, Flag, Header, Status


class MediumService:
    """Request handling of the medium link, independent of the transport."""

    def __init__(self, spec: EmulatorSpec | str, medium: Any = None) -> None:
        self.spec = parse_emu_url(spec) if isinstance(spec, str) else spec
        check_spec(self.spec)
        self.medium = medium if medium is not None else make_medium(
            self.spec.medium, seed=self.spec.seed, **self.spec.options)
        self.frontend = Frontend(self.medium, dac_bits=self.spec.dac_bits,
                                 adc_bits=self.spec.adc_bits)
        self.lock = threading.Lock()
        self.requests = 0
        self.samples = 0

    def describe(self) -> MediumDesc:
        return MediumDesc(
            n_drive=int(self.medium.n_in), n_sense=int(self.medium.n_out),
            dac_bits=self.spec.dac_bits, adc_bits=self.spec.adc_bits,
            unit_id=self.spec.seed & 0xFFFFFFFF, medium=str(self.medium.name)[:16],
        )

    def handle(self, body: bytes) -> bytes:
        """One frame body in, one encoded reply frame out."""
        try:
            header, payload = wire.decode_frame(body)
        except wire.WireError as exc:
            return self._error(0, 0, int(exc.status))
        self.requests += 1
        try:
            if header.cmd == MediumCmd.DESCRIBE:
                return self._reply(header, self.describe().pack())
            if header.cmd == MediumCmd.MEASURE:
                return self._reply(header, self._measure(payload))
            return self._error(header.seq, header.cmd, Status.UNKNOWN_COMMAND)
        except _Refused as exc:
            return self._error(header.seq, header.cmd, exc.status, exc.arg)

    def _measure(self, payload: bytes) -> bytes:
        if len(payload) < MEASURE_HEAD_SIZE:
            raise _Refused(Status.BAD_PAYLOAD, MEASURE_HEAD_SIZE)
        head = MeasureHead.unpack(payload)
        n, nd, ns, k = head.n_samples, head.n_drive, head.n_sense, head.oversample
        if nd != self.medium.n_in or not 1 <= ns <= self.medium.n_out or k < 1:
            raise _Refused(Status.BAD_CHANNELS, int(self.medium.n_in))
        if len(payload) != MEASURE_HEAD_SIZE + 2 * n * nd:
            raise _Refused(Status.BAD_PAYLOAD, MEASURE_HEAD_SIZE + 2 * n * nd)
        codes = np.frombuffer(payload, dtype="<u2", offset=MEASURE_HEAD_SIZE,
                              count=n * nd).reshape(n, nd)
        with self.lock:
            try:
                adc = self.frontend.measure(codes.astype(np.uint16), k)
            except Exception as exc:
                raise _Refused(Status.MEDIUM, 0) from exc
            self.samples += n
        return np.ascontiguousarray(adc[:, :ns], dtype="<u2").tobytes()

    @staticmethod
    def _reply(req: Header, payload: bytes) -> bytes:
        return wire.encode_frame(Header(cmd=req.cmd, seq=req.seq, flags=Flag.REPLY), payload)

    @staticmethod
    def _error(seq: int, cmd: int, status: int, arg: int = 0) -> bytes:
        return wire.encode_frame(Header(cmd=cmd, seq=seq, flags=Flag.REPLY | Flag.ERROR),
                                 ErrorRecord(int(status), int(arg)).pack())


class _Refused(Exception):
    def __init__(self, status: int, arg: int) -> None:
        self.status = status
        self.arg = arg


class MediumServer:
    """TCP front of a MediumService; ``start()`` serves in a background thread."""

    def __init__(self, service: MediumService, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self.sock = socket.create_server((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> MediumServer:
        self._thread = threading.Thread(target=self.serve, name="phyff-medium", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        deframer = Deframer()

        def answer(data: bytes) -> None:
            for body in deframer.feed(data):
                conn.sendall(self.service.handle(body))

        with conn:
            pump_connection(conn, answer, self._stop.is_set)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
