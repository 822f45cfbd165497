"""The emulated board, the link and the Board client, end to end.

Every test talks to the real firmware core (compiled into phyff._native)
through the same frames a dev board would receive.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import serial
from scripted import ScriptedTransport

from phyff.board.client import Board, DriveValueError, ProtocolMismatch
from phyff.board.link import BoardError, Link, LinkTimeout
from phyff.emulator import EmulatedDevice, parse_emu_url
from phyff.emulator.server import PtyServer, TcpServer
from phyff.emulator.transport import DirectTransport
from phyff.protocol import wire
from phyff.protocol.wire import Cmd, Status

QUIET = "emu://acoustic?seed=3&noise=0"


def open_emu(url: str = QUIET, **kw: object) -> tuple[Board, EmulatedDevice]:
    device = EmulatedDevice(url)
    board = Board(Link(DirectTransport(device), timeout=0.5, **kw), url=url)  # type: ignore[arg-type]
    return board, device


def drive_batch(n: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, width))


def test_handshake_reports_capabilities() -> None:
    board, _ = open_emu("emu://acoustic?seed=7")
    caps = board.caps
    assert caps.level == wire.PROTOCOL_LEVEL
    assert (caps.board, caps.medium, caps.unit_id) == ("emulator", "acoustic", 7)
    assert (caps.n_drive, caps.n_sense) == (20, 20)
    assert caps.features & wire.Feature.EMULATED
    assert caps.max_batch == wire.lib.phyff_core_max_batch(20, 20)
    assert board.config.oversample == 1 and board.config.n_drive_active == 20


def test_query_splits_batches_and_matches_single_frames() -> None:
    board, _ = open_emu()
    x = drive_batch(board.max_batch * 2 + 17, board.n_drive)
    big, sat = board.query_float(x)
    assert big.shape == (len(x), board.n_sense) and sat.shape == (len(x),)
    assert board.link.stats.requests >= 3 + 2  # hello, config, three query frames
    other, _ = open_emu()
    rows = np.vstack([other.query_float(x[i:i + 50])[0] for i in range(0, len(x), 50)])
    np.testing.assert_array_equal(big, rows)  # noiseless medium: split-invariant
    assert 0.0 <= big.min() and big.max() < 1.0


def test_batch_and_per_sample_core_paths_agree() -> None:
    """HOST-H2: the core's measure_batch path and its drive/sense path answer alike."""
    fast, _ = open_emu("emu://circuit?seed=2&noise=0.01")
    slow, _ = open_emu("emu://circuit?seed=2&noise=0.01&batch=0")
    for b in (fast, slow):
        b.configure(oversample=3)
    x = drive_batch(40, fast.n_drive, seed=5)
    a, sa = fast.query_float(x)
    b, sb = slow.query_float(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)


def test_configure_validates_locally_and_on_board() -> None:
    board, _ = open_emu()
    with pytest.raises(ValueError, match="oversample"):
        board.configure(oversample=0)
    with pytest.raises(ValueError, match="n_drive"):
        board.configure(n_drive=21)
    cfg = board.configure(n_drive=12, n_sense=8, oversample=4)
    assert (cfg.n_drive_active, cfg.n_sense_active, cfg.oversample) == (12, 8, 4)
    out, _ = board.query_float(drive_batch(5, 12))
    assert out.shape == (5, 8)
    # A raw CONFIGURE the host would have refused: the board refuses it too,
    # naming the field's offset.
    bad = wire.Config(settle_us=0, oversample=1, n_drive_active=20, n_sense_active=20,
                      reserved=1)
    with pytest.raises(BoardError) as err:
        board.link.request(Cmd.CONFIGURE, bad.pack())
    assert err.value.status == Status.BAD_CONFIG and err.value.arg == 10


def test_drive_values_are_checked_on_the_host() -> None:
    board, _ = open_emu()
    x = drive_batch(3, board.n_drive)
    x[1, 4] = np.nan
    with pytest.raises(DriveValueError, match="row 1, column 4"):
        board.query_float(x)
    with pytest.raises(DriveValueError, match=r"\[0, 1\]"):
        board.query_float(drive_batch(2, board.n_drive) + 1.0)
    with pytest.raises(DriveValueError, match=r"shape \(N, 20\)"):
        board.query_float(drive_batch(2, 19))
    with pytest.raises(DriveValueError, match="int16"):
        board.query(np.zeros((2, 20), dtype=np.float32))


def test_board_errors_carry_status_and_limit() -> None:
    board, _ = open_emu()
    n = board.max_batch + 1
    payload = wire.QueryHead(n, 20).pack() + bytes(2 * n * 20)
    with pytest.raises(BoardError, match=f"at most {board.max_batch} samples") as err:
        board.link.request(Cmd.QUERY, payload)
    assert err.value.status == Status.BATCH_TOO_LARGE and err.value.arg == board.max_batch
    with pytest.raises(BoardError) as err:
        board.link.request(Cmd.QUERY, wire.QueryHead(1, 19).pack() + bytes(38))
    assert err.value.status == Status.BAD_CHANNELS and err.value.arg == 20
    with pytest.raises(BoardError) as err:
        board.link.request(0x33)
    assert err.value.status == Status.UNKNOWN_COMMAND
    with pytest.raises(BoardError) as err:
        board.link.request(Cmd.STATS, level=wire.PROTOCOL_LEVEL + 1)
    assert err.value.status == Status.BAD_LEVEL and err.value.arg == wire.PROTOCOL_LEVEL


class LevelTwoBoard(ScriptedTransport):
    """A transport answering HELLO like a board of a future protocol level."""

    def __init__(self) -> None:
        super().__init__()

    def write(self, data: bytes) -> int:
        for body in wire.Deframer().feed(data):
            header, _ = wire.decode_frame(body)
            caps = wire.Caps(level=wire.PROTOCOL_LEVEL + 1, features=0, firmware_version=0x20000,
                             unit_id=0, max_batch=1, max_payload=64, n_drive=1, n_sense=1,
                             dac_bits=8, adc_bits=8, max_oversample=1, board="future",
                             medium="x").pack()
            self._out += wire.encode_frame(
                wire.Header(cmd=header.cmd, seq=header.seq, flags=wire.Flag.REPLY,
                            level=wire.PROTOCOL_LEVEL + 1), caps)
        return len(data)


def test_protocol_mismatch_is_refused_with_an_action() -> None:
    with pytest.raises(ProtocolMismatch,
                       match=rf"level {wire.PROTOCOL_LEVEL}.*pio run -e <board> -t upload"):
        Board(Link(LevelTwoBoard(), timeout=0.2))  # type: ignore[arg-type]


class Silent(DirectTransport):
    def write(self, data: bytes) -> int:
        return len(data)


def test_timeout_after_retries() -> None:
    device = EmulatedDevice(QUIET + "&announce=0")
    link = Link(Silent(device), timeout=0.05, retries=2)
    t0 = time.monotonic()
    with pytest.raises(LinkTimeout, match="after 3 tries"):
        link.request(Cmd.HELLO)
    assert time.monotonic() - t0 < 2.0
    assert link.stats.retries == 2 and link.stats.timeouts == 3


class Unreliable(DirectTransport):
    """Drops, corrupts, duplicates and delays bytes in both directions."""

    def __init__(self, device: EmulatedDevice, seed: int, rate: float) -> None:
        super().__init__(device)
        self.rng = np.random.default_rng(seed)
        self.rate = rate
        self.late = b""

    def _mangle(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            r = self.rng.random()
            if r < self.rate:  # drop
                continue
            if r < 2 * self.rate:  # corrupt
                b ^= 1 << int(self.rng.integers(8))
            out.append(b)
            if self.rng.random() < self.rate:  # duplicate
                out.append(b)
        return bytes(out)

    def write(self, data: bytes) -> int:
        return self.device.write(self._mangle(data)) or len(data)

    def read(self, size: int = 1) -> bytes:
        fresh = self._mangle(self.device.read_all())
        data, self.late = self.late + fresh[: len(fresh) // 2], fresh[len(fresh) // 2:]  # delay
        self._buf += data
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unreliable_line_never_returns_wrong_data(seed: int) -> None:
    reference, _ = open_emu()
    device = EmulatedDevice(QUIET)
    ok = failed = 0
    board: Board | None = None
    for _attempt in range(20):
        try:
            board = Board(Link(Unreliable(device, seed, 5e-5), timeout=0.05, retries=6))
            break
        except Exception:
            continue
    assert board is not None, "handshake never succeeded on a 0.005 % error line"
    for i in range(30):
        x = drive_batch(40, 20, seed=100 + i)
        expected, _ = reference.query_float(x)
        try:
            got, _ = board.query_float(x)
        except (LinkTimeout, BoardError):
            failed += 1
            continue
        np.testing.assert_array_equal(got, expected)
        ok += 1
    assert ok >= 20, f"only {ok} of 30 queries got through ({failed} raised)"
    stats = board.link.stats
    assert stats.retries + stats.bad_frames + stats.damaged_requests > 0, "the line was clean"


def test_board_reset_is_detected_and_configuration_restored() -> None:
    board, device = open_emu()
    board.configure(n_drive=10, oversample=2)
    device.power_cycle()  # reboot: defaults back, reset event queued
    out, _ = board.query_float(drive_batch(4, 10))
    assert out.shape == (4, 20)
    assert board.config.n_drive_active == 10 and board.config.oversample == 2
    assert board.link.stats.resets_seen >= 2  # the one at open, the reboot


def test_stats_and_reset_command() -> None:
    board, _ = open_emu()
    board.query_float(drive_batch(25, 20))
    stats = board.stats()
    assert stats.samples_served == 25 and stats.frames_ok >= 3 and stats.crc_errors == 0
    board.configure(oversample=5)
    board.reset()
    assert board.config.oversample == 1
    assert board.stats().samples_served == 0


def test_pyserial_url_handler() -> None:
    port = serial.serial_for_url("emu://optical?seed=2&noise=0", timeout=0.5)
    try:
        board = Board(Link(port, timeout=0.5), url=port.portstr)
        assert board.caps.medium == "optical"
        out, _ = board.query_float(drive_batch(3, board.n_drive))
        ref, _ = open_emu("emu://optical?seed=2&noise=0")
        np.testing.assert_array_equal(out, ref.query_float(drive_batch(3, ref.n_drive))[0])
    finally:
        port.close()
    with pytest.raises(serial.SerialException, match="nosuchmedium"):
        serial.serial_for_url("emu://nosuchmedium?seed=1")


def test_emu_url_parsing() -> None:
    spec = parse_emu_url("emu://microwave?seed=4&noise=0.02&adc_bits=10&batch=0")
    assert (spec.medium, spec.seed, spec.adc_bits, spec.batch) == ("microwave", 4, 10, False)
    assert spec.options == {"noise": 0.02}
    assert parse_emu_url(spec.url()).options == spec.options
    with pytest.raises(ValueError, match="emu://"):
        parse_emu_url("socket://localhost:1")


def _serve_in_thread(server: PtyServer | TcpServer) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, kwargs={"should_stop": stop.is_set,
                                                           "poll": 0.05}, daemon=True)
    thread.start()
    return stop, thread


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pty")
def test_pty_server() -> None:
    server = PtyServer(EmulatedDevice(QUIET))
    stop, thread = _serve_in_thread(server)
    try:
        with Board.open(server.path, timeout=1.0) as board:
            out, _ = board.query_float(drive_batch(100, 20))
            ref, _ = open_emu()
            np.testing.assert_array_equal(out, ref.query_float(drive_batch(100, 20))[0])
    finally:
        stop.set()
        thread.join(2)
        server.close()


def test_tcp_server() -> None:
    server = TcpServer(EmulatedDevice(QUIET))
    stop, thread = _serve_in_thread(server)
    try:
        with Board.open(server.url, timeout=1.0) as board:
            assert board.caps.n_drive == 20
            out, _ = board.query_float(drive_batch(64, 20))
            assert out.shape == (64, 20)
    finally:
        stop.set()
        thread.join(2)
        server.close()


def test_tcp_server_starts_the_board_afresh_for_each_connection() -> None:
    """wire.h W-E3: each connection's first frame is the reset event, and the
    configuration the previous client left is gone."""
    import socket

    server = TcpServer(EmulatedDevice(QUIET))
    stop, thread = _serve_in_thread(server)
    try:
        for _ in range(2):
            with socket.create_connection((server.host, server.port), timeout=2.0) as sock:
                deframer = wire.Deframer()
                bodies: list[bytes] = []
                while not bodies:
                    bodies = deframer.feed(sock.recv(4096))
                header, payload = wire.decode_frame(bodies[0])
                assert header.is_event and wire.Event.unpack(payload).arg == wire.PROTOCOL_LEVEL
                want = wire.Config(0, 2, 20, 20)
                sock.sendall(wire.encode_frame(wire.Header(cmd=Cmd.CONFIGURE, seq=1)))
                while len(bodies) < 2:
                    bodies += deframer.feed(sock.recv(4096))
                assert wire.Config.unpack(wire.decode_frame(bodies[1])[1]).oversample == 1
                sock.sendall(wire.encode_frame(wire.Header(cmd=Cmd.CONFIGURE, seq=2),
                                               want.pack()))
                while len(bodies) < 3:
                    bodies += deframer.feed(sock.recv(4096))
                assert wire.Config.unpack(wire.decode_frame(bodies[2])[1]) == want
    finally:
        stop.set()
        thread.join(2)
        server.close()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pty")
def test_phyff_emulate_pty_subprocess() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "phyff.cli.main", "emulate", "--pty", "--medium", "circuit",
         "--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/"), path
        with Board.open(path, timeout=2.0) as board:
            assert board.caps.medium == "circuit"
            assert board.query_float(drive_batch(5, board.n_drive))[0].shape[0] == 5
    finally:
        proc.terminate()
        assert proc.wait(5) == 0


# ---- reply decoding (protocol/wire.py, beside the records) --------------------------

def test_query_reply_decodes_samples_and_bitmap_and_refuses_another_shape() -> None:
    sense = np.array([[1, -2, 3], [4, 5, 32767]], np.int16)
    payload = wire.QueryHead(2, 3).pack() + wire.pack_samples(sense) + bytes([0b10])
    got, saturated = wire.unpack_query_reply(payload, 2, 3)
    np.testing.assert_array_equal(got, sense)
    assert saturated.tolist() == [False, True]
    with pytest.raises(wire.ReplyMismatch, match=r"2 x 3 in 17 bytes, expected 2 x 2"):
        wire.unpack_query_reply(payload, 2, 2)
    with pytest.raises(wire.WireError):
        wire.unpack_query_reply(payload[:3], 2, 3)


def test_infer_reply_decodes_classes_scores_trace_and_bitmap() -> None:
    classes = np.array([2, 0], "<u2")
    scores = np.array([[-5, 7, 1 << 30], [9, -1, 0]], "<i4")
    trace = np.array([[10, 11], [12, -13]], "<i2")
    payload = (wire.InferHead(2, 3, wire.INFER_TRACE).pack() + classes.tobytes()
               + scores.tobytes() + trace.tobytes() + bytes([0b01]))
    reply = wire.InferReply.unpack(payload, 2, 3, 2)
    assert reply.classes.tolist() == [2, 0] and reply.saturated.tolist() == [True, False]
    np.testing.assert_array_equal(reply.scores, scores)
    np.testing.assert_array_equal(reply.trace, trace)
    with pytest.raises(wire.ReplyMismatch, match="INFER reply does not match"):
        wire.InferReply.unpack(payload, 2, 3, 0)  # the trace was not asked for
