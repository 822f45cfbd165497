"""Golden vectors (shared/vectors/*.json) through the Python wrappers.

One test per operation group, not per case, so the report stays readable; a
failing group lists its first failing cases with their index in the file.
Groups whose operation the Python API does not expose are checked by the C
test program (tests/c/test_vectors.c) only and are listed in C_ONLY. The
model.h pipeline has no Python wrapper of its own (the host's numpy
reference is a separate implementation), so its groups call the compiled C
through phyff._native: that proves the module the host ships is the code the
vectors pin, with its records packed by the same Record classes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from phyff._native import ffi, lib
from phyff.protocol import fixed, model_image, wire

VECTORS = Path(__file__).resolve().parents[1] / "shared" / "vectors"
FORMAT = 1


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("phyff_vectors_generate",
                                                  VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _load(name: str) -> dict[str, Any]:
    doc = json.loads((VECTORS / name).read_text(encoding="ascii"))
    assert doc["format"] == FORMAT, f"{name}: unsupported vector format {doc['format']}"
    return doc


DOCS = {"fixed": _load("fixed.json"), "wire": _load("wire.json"), "model": _load("model.json")}
META = {"format", "generator", "seed"}

# Operations with no Python wrapper: the C test program covers them.
C_ONLY = {
    "fixed": {"sat_q15", "sat_q31", "round_shift_s64"},
    "wire": {"cobs_max_encoded", "check_level", "u16_le", "u32_le"},
    "model": set(),
}

Case = dict[str, Any]
Checker = Callable[[Case], None]


def i16(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int16)


def fbits(x: float) -> str:
    """A double's exact identity (sign of zero and NaN included)."""
    return float.hex(x) if not math.isnan(x) else ("-nan" if math.copysign(1, x) < 0 else "nan")


def status(name: str) -> wire.Status:
    return wire.Status[name]


# ---- fixed ------------------------------------------------------------------------


def scalar(fn: Callable[..., int]) -> Checker:
    def check(case: Case) -> None:
        got = fn(*case["in"])
        assert got == case["out"], f"{fn.__name__}{tuple(case['in'])} = {got}, want {case['out']}"

    return check


def check_from_double(case: Case) -> None:
    x = float.fromhex(case["in"][0])
    got = fixed.q15_from_float(x)
    assert got == case["out"], f"q15_from_float({case['in'][0]}) = {got}, want {case['out']}"
    arr = fixed.from_float(np.array([x, x], dtype=np.float64))
    assert arr.dtype == np.int16 and arr.tolist() == [case["out"]] * 2, (
        f"from_float([{case['in'][0]}]) = {arr.tolist()}, want {case['out']}"
    )


def check_to_double(case: Case) -> None:
    v = case["in"][0]
    want = float.fromhex(case["out"])
    got = fixed.q15_to_float(v)
    assert fbits(got) == fbits(want), f"q15_to_float({v}) = {got!r}, want {want!r}"
    arr = fixed.to_float(i16([v]))
    assert arr.dtype == np.float64 and fbits(float(arr[0])) == fbits(want)


def dot(fn: Callable[[np.ndarray, np.ndarray], int]) -> Checker:
    def check(case: Case) -> None:
        a, b = case["in"]
        got = fn(i16(a), i16(b))
        assert got == case["out"], f"{fn.__name__}(n={len(a)}) = {got}, want {case['out']}"

    return check


def check_matvec(case: Case) -> None:
    rows, cols, w, x = case["in"]
    got = fixed.matvec_q15(i16(w).reshape(rows, cols), i16(x))
    assert got.dtype == np.int16 and got.tolist() == case["out"], f"{rows}x{cols}: {got}"


def check_matvec_acc64(case: Case) -> None:
    rows, cols, w, x = case["in"]
    got = fixed.matvec_q15_acc64(i16(w).reshape(rows, cols), i16(x))
    assert got.dtype == np.int64 and got.tolist() == case["out"], f"{rows}x{cols}: {got}"


def check_matmul(case: Case) -> None:
    rows, cols, batch, w, xs = case["in"]
    got = fixed.matmul_q15(i16(w).reshape(rows, cols), i16(xs).reshape(batch, cols))
    want = np.array(case["out"], dtype=np.int16).reshape(batch, rows)
    assert got.shape == (batch, rows) and np.array_equal(got, want), (
        f"rows={rows} cols={cols} batch={batch}: {got.tolist()} != {want.tolist()}"
    )


FIXED_CHECKERS: dict[str, Checker] = {
    "q15_add": scalar(fixed.q15_add),
    "q15_sub": scalar(fixed.q15_sub),
    "q15_mul": scalar(fixed.q15_mul),
    "q31_add": scalar(fixed.q31_add),
    "q31_sub": scalar(fixed.q31_sub),
    "q31_mul": scalar(fixed.q31_mul),
    "q15_to_q31": scalar(fixed.q15_to_q31),
    "q31_to_q15": scalar(fixed.q31_to_q15),
    "isqrt_u32": scalar(fixed.isqrt_u32),
    "isqrt_u64": scalar(fixed.isqrt_u64),
    "q15_from_double": check_from_double,
    "q15_to_double": check_to_double,
    "dot_q15": dot(fixed.dot_q15),
    "dot_q15_acc32": dot(fixed.dot_q15_acc32),
    "dot_q15_acc64": dot(fixed.dot_q15_acc64),
    "matvec_q15": check_matvec,
    "matvec_q15_acc64": check_matvec_acc64,
    "matmul_q15": check_matmul,
}

# ---- wire -------------------------------------------------------------------------

ENUMS = {"Cmd": wire.Cmd, "Flag": wire.Flag, "EventId": wire.EventId, "Status": wire.Status,
         "Feature": wire.Feature}


def _lib_members(prefix: str, exclude: tuple[str, ...] = ()) -> dict[str, int]:
    """The compiled module's constants with this prefix (sizes and longer prefixes out)."""
    return {k[len(prefix):]: int(getattr(lib, k)) for k in dir(lib)
            if k.startswith(prefix) and not k.endswith("_SIZE")
            and not any(k.startswith(e) for e in exclude)}


# Enums the Python API keeps as module constants, not IntEnums: read from the
# compiled module by prefix, so a member added to a header shows up here.
LIB_ENUMS = {
    "wire": {"InferFlag": _lib_members("PHYFF_INFER_", ("PHYFF_INFERENCE_",))},
    "model": {"Inference": _lib_members("PHYFF_INFERENCE_"),
              "Encoder": _lib_members("PHYFF_ENC_"),
              "BlockFlag": _lib_members("PHYFF_BLOCK_"),
              "DescribeFlag": _lib_members("PHYFF_DESCRIBE_", ("PHYFF_DESCRIBE_MAGIC",
                                                                "PHYFF_DESCRIBE_RANGE_",
                                                                "PHYFF_DESCRIBE_REQUEST_",
                                                                "PHYFF_DESCRIBE_REPLY_"))},
}


# Record sizes the wire module gives through its Record classes only.
RECORD_SIZES = {"MODEL_BEGIN_SIZE": wire.ModelBegin, "MODEL_INFO_SIZE": wire.ModelInfo,
                "INFER_HEAD_SIZE": wire.InferHead, "CHUNK_HEAD_SIZE": wire.ChunkHead,
                "CAPS_SIZE": wire.Caps, "STATS_SIZE": wire.Stats, "CONFIG_SIZE": wire.Config,
                "QUERY_HEAD_SIZE": wire.QueryHead, "ERROR_SIZE": wire.ErrorRecord,
                "EVENT_SIZE": wire.Event, "DESCRIBE_REQUEST_SIZE": wire.DescribeRequest,
                "DESCRIBE_REPLY_SIZE": wire.DescribeReply, "REFIT_REPLY_SIZE": wire.RefitReply}


def check_constant(case: Case) -> None:
    name = case["in"]
    got = getattr(wire, name, None)
    if got is None:
        got = RECORD_SIZES[name].size()
    assert got == case["out"], f"wire.{name} = {got}, want {case['out']}"
    assert int(getattr(lib, f"PHYFF_{name}")) == case["out"], f"PHYFF_{name} differs"
    if name in RECORD_SIZES:
        assert RECORD_SIZES[name].size() == case["out"]


def check_enum(case: Case) -> None:
    kind, name = case["in"]
    member = ENUMS[kind][name] if kind in ENUMS else LIB_ENUMS["wire"][kind][name]
    assert int(member) == case["out"], f"{kind}.{name} = {int(member)}, want {case['out']}"


def check_status_name_unknown(case: Case) -> None:
    assert wire.status_name(case["in"]) == case["out"]


def check_status_name(case: Case) -> None:
    got = wire.status_name(case["in"])
    assert got == case["out"], f"status_name({case['in']}) = {got!r}, want {case['out']!r}"


def check_crc32(case: Case) -> None:
    data = bytes.fromhex(case["in"]["data"])
    got = wire.crc32(data, case["in"]["crc"])
    assert got == case["out"], f"crc32({data[:16].hex()}...) = {got:#010x}, want {case['out']:#x}"
    if len(data) > 1:  # chaining: a finished CRC continues over the rest
        half = len(data) // 2
        assert wire.crc32(data[half:], wire.crc32(data[:half], case["in"]["crc"])) == case["out"]


def check_wire_max_frame(case: Case) -> None:
    assert wire.max_frame_size(case["in"]) == case["out"]


def check_crc(case: Case) -> None:
    data = bytes.fromhex(case["in"]["data"])
    got = wire.crc16(data, case["in"]["crc"])
    assert got == case["out"], f"crc16({data[:16].hex()}...) = {got:#06x}, want {case['out']:#06x}"


def expect_status(fn: Callable[[], object], name: str) -> None:
    with pytest.raises(wire.WireError) as err:
        fn()
    assert err.value.status == status(name), f"status {err.value.status!r}, want {name}"
    assert isinstance(err.value.status, wire.Status)


def reachable(case: Case) -> bool:
    """NO_SPACE needs a caller-chosen capacity, which the Python API never exposes."""
    return case["out"]["status"] != "NO_SPACE"


def check_cobs_encode(case: Case) -> None:
    if not reachable(case):
        return
    data = bytes.fromhex(case["in"]["data"])
    got = wire.cobs_encode(data)
    assert got.hex() == case["out"]["data"], f"cobs_encode({len(data)} bytes) differs"


def check_cobs_decode(case: Case) -> None:
    if not reachable(case):
        return
    data = bytes.fromhex(case["in"]["data"])
    if case["out"]["status"] != "OK":
        expect_status(lambda: wire.cobs_decode(data), case["out"]["status"])
        return
    assert wire.cobs_decode(data).hex() == case["out"]["data"]


def payload_of(inp: dict[str, Any]) -> bytes:
    pat = inp.get("payload_pattern")
    if pat is None:
        return bytes.fromhex(inp["payload"])
    return bytes((i * pat["mul"] + pat["add"]) & 0xFF for i in range(pat["len"]))


def header_of(h: dict[str, int]) -> wire.Header:
    return wire.Header(cmd=h["cmd"], seq=h["seq"], flags=h["flags"], level=h["level"],
                       aux=h["aux"])


def check_frame_encode(case: Case) -> None:
    if not reachable(case):
        return
    inp, out = case["in"], case["out"]
    header, payload = header_of(inp["header"]), payload_of(inp)
    if out["status"] != "OK":
        expect_status(lambda: wire.encode_frame(header, payload), out["status"])
        return
    got = wire.encode_frame(header, payload)
    if "wire" in out:
        assert got.hex() == out["wire"], "encoded frame differs"
    else:
        assert len(got) == out["wire_len"]
        assert got[:32].hex() == out["wire_head"] and got[-32:].hex() == out["wire_tail"]
        assert hashlib.sha256(got).hexdigest() == out["wire_sha256"]
    raw = wire.cobs_decode(got[:-1])
    assert int.from_bytes(raw[-2:], "little") == out["crc"]
    assert wire.decode_frame(got[:-1]) == (header, payload)
    if payload:
        expect_status(lambda: wire.decode_frame(got[:-1], len(payload) - 1), "TOO_LONG")


def check_frame_decode(case: Case) -> None:
    inp, out = case["in"], case["out"]
    body = bytes.fromhex(inp["body"])
    if out["status"] != "OK":
        expect_status(lambda: wire.decode_frame(body, inp["max_payload"]), out["status"])
        return
    header, payload = wire.decode_frame(body, inp["max_payload"])
    assert header == header_of(out["header"])
    assert len(payload) == out["header"]["length"]
    assert payload.hex() == out["payload"]


def check_header_pack(case: Case) -> None:
    # Python has no header record; the header is the first 8 decoded bytes of a frame
    # whose payload length equals the vector's length field.
    h = case["in"]
    frame = wire.encode_frame(header_of(h), bytes(h["length"]))
    assert wire.cobs_decode(frame[:-1])[: wire.HEADER_SIZE].hex() == case["out"]


def record(cls: type) -> Checker:
    def check(case: Case) -> None:
        rec = cls(**case["in"])
        assert rec.pack().hex() == case["out"], f"{cls.__name__}.pack() differs"
        assert cls.unpack(bytes.fromhex(case["out"])) == rec, f"{cls.__name__}.unpack differs"

    return check


def check_samples(case: Case) -> None:
    values = i16(case["in"])
    assert wire.pack_samples(values).hex() == case["out"]
    back = wire.unpack_samples(bytes.fromhex(case["out"]), len(values), 1)
    assert back.reshape(-1).tolist() == case["in"]


WIRE_CHECKERS: dict[str, Checker] = {
    "constants": check_constant,
    "enums": check_enum,
    "status_name_unknown": check_status_name_unknown,
    "wire_max_frame": check_wire_max_frame,
    "crc16": check_crc,
    "cobs_encode": check_cobs_encode,
    "cobs_decode": check_cobs_decode,
    "frame_encode": check_frame_encode,
    "frame_decode": check_frame_decode,
    "header_pack": check_header_pack,
    "error_pack": record(wire.ErrorRecord),
    "event_pack": record(wire.Event),
    "query_head_pack": record(wire.QueryHead),
    "config_pack": record(wire.Config),
    "stats_pack": record(wire.Stats),
    "caps_pack": record(wire.Caps),
    "model_begin_pack": record(wire.ModelBegin),
    "chunk_head_pack": record(wire.ChunkHead),
    "infer_head_pack": record(wire.InferHead),
    "model_info_pack": record(wire.ModelInfo),
    "describe_request_pack": record(wire.DescribeRequest),
    "describe_reply_pack": record(wire.DescribeReply),
    "learn_head_pack": record(wire.LearnHead),  # W-N8
    "refit_reply_pack": record(wire.RefitReply),
    "status_name": check_status_name,
    "crc32": check_crc32,
    "samples_pack": check_samples,
}

# ---- model ------------------------------------------------------------------------

MODEL_CONSTANTS = {
    "MODEL_MAGIC": model_image.MAGIC, "MODEL_VERSION": model_image.VERSION,
    "MODEL_MAX_BLOCKS": model_image.MAX_BLOCKS, "MODEL_HEAD_SIZE": model_image.ModelHead.size(),
    "BLOCK_HEAD_SIZE": model_image.BlockHead.size(),
    "READOUT_HEAD_SIZE": model_image.ReadoutHead.size(),
    "DESCRIBE_MAGIC": model_image.DESCRIBE_MAGIC,
    "DESCRIBE_HEAD_SIZE": model_image.DescribeHead.size(),
    "DESCRIBE_RANGE_Q8": model_image.DESCRIBE_RANGE_Q8,
    "MODEL_MAX_REFIT_SAMPLES": model_image.MAX_REFIT_SAMPLES,
}


def check_model_constant(case: Case) -> None:
    name = case["in"]
    assert MODEL_CONSTANTS[name] == case["out"], f"{name} = {MODEL_CONSTANTS[name]}"
    assert int(getattr(lib, f"PHYFF_{name}")) == case["out"]


def check_model_enum(case: Case) -> None:
    kind, name = case["in"]
    got = LIB_ENUMS["model"][kind][name]
    assert got == case["out"], f"{kind}.{name} = {got}, want {case['out']}"
    if kind == "Encoder":  # the names phyff deploy writes
        assert model_image.ENCODERS[name.lower()] == case["out"]


class View:
    """An image checked by the compiled phyff_model_check (the view points into it)."""

    def __init__(self, inp: dict[str, Any]) -> None:
        self.image = ffi.new("uint8_t[]", bytes.fromhex(inp["image"]) or b"\0")
        self.size = len(inp["image"]) // 2
        lim = inp["limits"]
        self.limits = ffi.new("struct phyff_model_limits *")
        for k, v in lim.items():
            if k == "medium":
                ffi.memmove(self.limits.medium, v.encode("ascii").ljust(wire.NAME_SIZE, b"\0"),
                            wire.NAME_SIZE)
            else:
                setattr(self.limits, k, v)
        self.view = ffi.new("struct phyff_model_view *")
        bad = ffi.new("uint32_t *")
        self.status = int(lib.phyff_model_check(self.image, self.size, self.limits, self.view,
                                                bad))
        self.bad_offset = int(bad[0])

    def checked(self) -> View:
        assert self.status == lib.PHYFF_OK, f"vector image refused: {self.status}"
        return self


def i16_in(values: list[int]) -> Any:
    return ffi.new("int16_t[]", values or [0])


def i16_out(n: int) -> Any:
    return ffi.new("int16_t[]", max(n, 1))


def check_model_check(case: Case) -> None:
    inp, out = case["in"], case["out"]
    v = View(inp)
    assert (wire.as_status(v.status), v.bad_offset) == (status(out["status"]),
                                                        out["bad_offset"]), inp["why"]
    if out["status"] == "OK":
        view = v.view
        assert view.trace_values == out["trace_values"], inp["why"]
        assert view.readout_width == out["readout_width"], inp["why"]
        assert lib.phyff_model_work_values(view) == out["work_values"], inp["why"]
        assert view.readout_at == out["readout_at"], inp["why"]
        assert list(view.block_at)[: view.head.n_blocks] == out["block_at"], inp["why"]
        assert (view.describe_at, lib.phyff_model_describe_size(view)) == (
            out["describe_at"], out["describe_size"]), inp["why"]
        # the Python image reader parses what the board accepts, and refuses a
        # description whose values a host must not use (model.h M-D5)
        if not out["host_accepts"]:
            with pytest.raises(ValueError):
                model_image.ModelImage.unpack(bytes.fromhex(inp["image"]))
            return
        image = model_image.ModelImage.unpack(bytes.fromhex(inp["image"]))
        assert image.pack().hex() == inp["image"]


def check_layout(case: Case) -> None:
    v = View(case["in"]).checked()
    h = i16_out(v.view.head.width)
    sat = lib.phyff_infer_layout(v.view, i16_in(case["in"]["x"]), case["in"]["label"], h)
    assert list(h)[: v.view.head.width] == case["out"]["h"]
    assert bool(sat) == case["out"]["sat"]


def check_encode(case: Case) -> None:
    v = View(case["in"]).checked()
    k = case["in"]["k"]
    n = lib.phyff_block_drive_width(ffi.addressof(v.view.blocks[k]))
    drive = i16_out(n)
    lib.phyff_infer_encode(v.view, k, i16_in(case["in"]["h"]), drive)
    assert list(drive)[:n] == case["out"], f"encoder {v.view.blocks[k].encoder}"


def check_affine(case: Case) -> None:
    v = View(case["in"]).checked()
    k = case["in"]["k"]
    n = v.view.blocks[k].d_out
    y = i16_out(n)
    sat = lib.phyff_infer_affine(v.view, k, i16_in(case["in"]["p"]), i16_in(case["in"]["h"]), y)
    assert list(y)[:n] == case["out"]["y"] and bool(sat) == case["out"]["sat"]


def check_readout(case: Case) -> None:
    v = View(case["in"]).checked()
    nc = v.view.head.n_classes
    acc = ffi.new("int64_t[]", nc)
    for k, y in enumerate(case["in"]["ys"]):
        lib.phyff_infer_readout_add(v.view, k, i16_in(y), acc)
    assert list(acc) == case["out"]["acc"]
    scores = ffi.new("int32_t[]", nc)
    sat = lib.phyff_infer_readout_finish(v.view, acc, scores)
    assert list(scores) == case["out"]["scores"] and bool(sat) == case["out"]["sat"]


def check_goodness(case: Case) -> None:
    v = View(case["in"]).checked()
    got = lib.phyff_infer_goodness(v.view, case["in"]["k"], i16_in(case["in"]["y"]))
    assert got == case["out"], f"goodness {got}, want {case['out']}"


def check_argmax(case: Case) -> None:
    scores = case["in"]
    got = lib.phyff_argmax_s32(ffi.new("int32_t[]", scores), len(scores))
    assert got == case["out"]
    assert int(np.argmax(np.array(scores, dtype=np.int64))) == case["out"]  # numpy agrees


def check_sample(case: Case) -> None:
    """M-P1-P7 composed from the C functions as the core composes them."""
    inp, out = case["in"], case["out"]
    v = View(inp).checked()
    hd = v.view.head
    onepass = hd.inference == model_image.INFERENCE_ONEPASS
    nc = hd.n_classes
    acc = ffi.new("int64_t[]", nc)
    scores = [0] * nc
    drives, sensed = [], iter(inp["sensed"])
    sat = False
    for label in ([-1] if onepass else range(nc)):
        h = i16_out(lib.phyff_model_work_values(v.view))
        sat |= bool(lib.phyff_infer_layout(v.view, i16_in(inp["x"]), label, h))
        good = 0
        for k in range(hd.n_blocks):
            b = v.view.blocks[k]
            p = i16_in([])
            if b.flags & model_image.BLOCK_PHYSICAL:  # the rows through the slot map (M-R1)
                drive = i16_out(lib.phyff_block_drive_width(ffi.addressof(b)))
                lib.phyff_infer_encode(v.view, k, h, drive)
                rows = lib.phyff_block_rows(ffi.addressof(b))
                drives.append([drive[lib.phyff_infer_slot(v.view, k, r, j)]
                               for r in range(rows) for j in range(b.n_drive)])
                p = i16_in(next(sensed))
            y = i16_out(b.d_out)
            sat |= bool(lib.phyff_infer_affine(v.view, k, p, h, y))
            if onepass:
                lib.phyff_infer_readout_add(v.view, k, y, acc)
            else:
                good += lib.phyff_infer_goodness(v.view, k, y)
            h = y
        if not onepass:
            scores[label] = good
    if onepass:
        out_scores = ffi.new("int32_t[]", nc)
        sat |= bool(lib.phyff_infer_readout_finish(v.view, acc, out_scores))
        scores = list(out_scores)
    assert drives == out["drives"]
    assert scores == out["scores"] and sat == out["sat"]
    assert lib.phyff_argmax_s32(ffi.new("int32_t[]", scores), nc) == out["class"]


MODEL_CHECKERS: dict[str, Checker] = {
    "constants": check_model_constant,
    "enums": check_model_enum,
    "model_head_pack": record(model_image.ModelHead),
    "block_head_pack": record(model_image.BlockHead),
    "readout_head_pack": record(model_image.ReadoutHead),
    "code_head_pack": record(model_image.CodeHead),
    "describe_head_pack": record(model_image.DescribeHead),
    "model_check": check_model_check,
    "infer_layout": check_layout,
    "infer_encode": check_encode,
    "infer_affine": check_affine,
    "infer_readout": check_readout,
    "infer_goodness": check_goodness,
    "argmax": check_argmax,
    "infer_sample": check_sample,
}

CHECKERS = {"fixed": FIXED_CHECKERS, "wire": WIRE_CHECKERS, "model": MODEL_CHECKERS}
GROUPS = [(f, g) for f, table in CHECKERS.items() for g in table]


@pytest.mark.parametrize(("file", "group"), GROUPS, ids=[f"{f}.{g}" for f, g in GROUPS])
def test_group(file: str, group: str) -> None:
    cases = DOCS[file].get(group)
    assert cases, f"{file}.json has no cases for {group}"
    check = CHECKERS[file][group]
    failures = []
    for i, case in enumerate(cases):
        try:
            check(case)
        except (AssertionError, wire.WireError, ValueError, TypeError) as e:
            failures.append(f"  [{i}] in={json.dumps(case['in'])[:160]}: {e}")
    assert not failures, (
        f"{file}.{group}: {len(failures)} of {len(cases)} cases failed\n"
        + "\n".join(failures[:10])
    )


@pytest.mark.parametrize("file", sorted(DOCS))
def test_every_group_is_checked(file: str) -> None:
    """A new group in the vector files must get a checker here or be listed as C-only."""
    groups = set(DOCS[file]) - META
    unchecked = groups - set(CHECKERS[file]) - C_ONLY[file]
    assert not unchecked, f"{file}.json groups with no checker: {sorted(unchecked)}"
    assert not (C_ONLY[file] - groups), "C_ONLY names groups the file lacks"


@pytest.mark.parametrize("file", ["wire", "model"])
def test_enums_have_vectors(file: str) -> None:
    """Every member the wrappers and the compiled module expose is pinned by a
    vector (protocol level, W-L1/W-L2), and every pinned member exists."""
    pinned = {tuple(c["in"]) for c in DOCS[file]["enums"]}
    exposed = {(kind, name) for kind, members in LIB_ENUMS[file].items() for name in members}
    if file == "wire":
        exposed |= {(kind, m.name) for kind, enum_cls in ENUMS.items() for m in enum_cls}
    assert exposed == pinned, (
        f"members that are not protocol values: {sorted(exposed - pinned)}; "
        f"protocol values missing: {sorted(pinned - exposed)}"
    )
    assert all(LIB_ENUMS[file].values()), "a prefix matched no constant of phyff._native"


def test_model_check_covers_every_rule() -> None:
    """model.json refuses at least one image per rule M-V1-V6 and checks valid ones."""
    whys = [c["in"]["why"] for c in DOCS["model"]["model_check"]]
    for rule in ("M-V1", "M-V2", "M-V3", "M-V4", "M-V5", "M-V6", "valid"):
        assert any(w.startswith(rule) for w in whys), f"no model_check vector for {rule}"
    statuses = {c["out"]["status"] for c in DOCS["model"]["model_check"]}
    assert statuses == {"OK", "BAD_MODEL", "WRONG_BOARD"}


def test_vector_files_are_fresh() -> None:
    """The JSON files are what the reference generates now (run `make vectors` after
    changing shared/vectors/generate.py), so no test checks stale expectations."""
    ref = _load_reference()
    stale = [path.name for path, text in ref.outputs().items()
             if path.read_text(encoding="ascii") != text]
    assert not stale, f"stale vector files {stale}: run `make vectors`"
