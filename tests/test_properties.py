"""Property tests: phyff.protocol.fixed, wire and the on-device model against the exact reference.

The reference is shared/vectors/generate.py (Python integers and fractions
only, written from the contracts in fixed.h, wire.h and model.h), loaded by
path. The decoder is also fed random bytes and damaged frames: it must never
crash, and it must agree with the reference on the status or on the decoded
frame. Damaged model images go through the compiled phyff_model_check and
the reference's M-V1-V6 alike: same status, same refused offset; random
models, features and sensed values through model.c's pipeline and the
reference's M-P1-P7 alike: same drives, scores, class and saturation.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from phyff._native import ffi, lib
from phyff.protocol import fixed, model_image, wire


def _load_reference() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "shared" / "vectors" / "generate.py"
    spec = importlib.util.spec_from_file_location("phyff_vectors_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

PROPS = settings(max_examples=300, deadline=None)
FEW = settings(max_examples=100, deadline=None)

Q15_MIN, Q15_MAX = -(2**15), 2**15 - 1
Q31_MIN, Q31_MAX = -(2**31), 2**31 - 1

q15s = st.one_of(st.sampled_from(ref.Q15_CORNERS), st.integers(Q15_MIN, Q15_MAX))
q31s = st.one_of(st.sampled_from(ref.Q31_CORNERS), st.integers(Q31_MIN, Q31_MAX))


def _tie_pair(bits: int, hi: int) -> st.SearchStrategy[tuple[int, int]]:
    """Operands whose exact product is odd * 2^(bits-1): a rounding tie after >> bits."""

    def build(k: int, oa: int, ob: int, sa: bool, sb: bool) -> tuple[int, int]:
        # odd << k, reduced mod 2^bits: dropping high bits keeps the form odd' << k
        a = ((2 * oa + 1) << k) % (hi + 1)
        b = ((2 * ob + 1) << (bits - 1 - k)) % (hi + 1)
        return (-a if sa else a, -b if sb else b)

    return st.builds(build, st.integers(0, bits - 1), st.integers(0, hi), st.integers(0, hi),
                     st.booleans(), st.booleans())


# ---- fixed-point scalars ------------------------------------------------------------


@PROPS
@given(q15s, q15s)
def test_q15_scalar_ops(a: int, b: int) -> None:
    assert fixed.q15_add(a, b) == ref.q15_add(a, b)
    assert fixed.q15_sub(a, b) == ref.q15_sub(a, b)
    assert fixed.q15_mul(a, b) == ref.q15_mul(a, b)


@PROPS
@given(_tie_pair(15, Q15_MAX))
def test_q15_mul_ties(ab: tuple[int, int]) -> None:
    a, b = ab
    assert fixed.q15_mul(a, b) == ref.q15_mul(a, b)


@PROPS
@given(q31s, q31s)
def test_q31_scalar_ops(a: int, b: int) -> None:
    assert fixed.q31_add(a, b) == ref.q31_add(a, b)
    assert fixed.q31_sub(a, b) == ref.q31_sub(a, b)
    assert fixed.q31_mul(a, b) == ref.q31_mul(a, b)
    assert fixed.q31_to_q15(a) == ref.q31_to_q15(a)


@PROPS
@given(_tie_pair(31, Q31_MAX))
def test_q31_mul_ties(ab: tuple[int, int]) -> None:
    a, b = ab
    assert fixed.q31_mul(a, b) == ref.q31_mul(a, b)


@PROPS
@given(st.integers(Q15_MIN, Q15_MAX), st.sampled_from([-1, 0, 1]))
def test_q31_to_q15_near_ties(k: int, step: int) -> None:
    v = k * 65536 + 32768 + step
    if Q31_MIN <= v <= Q31_MAX:
        assert fixed.q31_to_q15(v) == ref.q31_to_q15(v)


@PROPS
@given(q15s)
def test_q15_conversions_round_trip(v: int) -> None:
    assert fixed.q15_to_q31(v) == ref.q15_to_q31(v)
    assert fixed.q31_to_q15(fixed.q15_to_q31(v)) == v
    x = fixed.q15_to_float(v)
    assert x == ref.q15_to_float(v)
    assert fixed.q15_from_float(x) == v


def _near_tie(k: int, step: int, negative: bool) -> float:
    t = (k + 0.5) / 32768.0  # exactly half-way between two Q15 codes
    if step:
        t = math.nextafter(t, math.inf if step > 0 else 0.0)
    return -t if negative else t


floats_any = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
floats_near_ties = st.builds(_near_tie, st.integers(0, 32767), st.sampled_from([-1, 0, 1]),
                             st.booleans())
floats_small = st.floats(min_value=-(2.0**-13), max_value=2.0**-13)


@PROPS
@given(st.one_of(floats_any, floats_near_ties, floats_small))
def test_q15_from_float(x: float) -> None:
    want = ref.q15_from_float(x)
    assert fixed.q15_from_float(x) == want
    assert fixed.from_float(np.array([x])).tolist() == [want]


@PROPS
@given(st.one_of(st.integers(0, 2**32 - 1),
                 st.integers(0, 2**16 - 1).flatmap(
                     lambda k: st.sampled_from([k * k, max(k * k - 1, 0), min(k * k + 1,
                                                                              2**32 - 1)]))))
def test_isqrt_u32(x: int) -> None:
    assert fixed.isqrt_u32(x) == ref.isqrt(x)


@PROPS
@given(st.one_of(st.integers(0, 2**64 - 1),
                 st.integers(0, 2**32 - 1).flatmap(
                     lambda k: st.sampled_from([k * k, max(k * k - 1, 0), min(k * k + 1,
                                                                              2**64 - 1)]))))
def test_isqrt_u64(x: int) -> None:
    assert fixed.isqrt_u64(x) == ref.isqrt(x)


# ---- fixed-point kernels --------------------------------------------------------------

pairs_of_vectors = st.integers(0, 48).flatmap(
    lambda n: st.tuples(st.lists(q15s, min_size=n, max_size=n),
                        st.lists(q15s, min_size=n, max_size=n)))


@PROPS
@given(pairs_of_vectors)
def test_dot_products(ab: tuple[list[int], list[int]]) -> None:
    a, b = ab
    x, y = np.array(a, dtype=np.int16), np.array(b, dtype=np.int16)
    assert fixed.dot_q15_acc64(x, y) == ref.dot_acc64(a, b)
    assert fixed.dot_q15_acc32(x, y) == ref.dot_acc32(a, b)
    assert fixed.dot_q15(x, y) == ref.dot_q15(a, b)


q15_elements = st.one_of(st.sampled_from(ref.Q15_CORNERS), st.integers(Q15_MIN, Q15_MAX))


@st.composite
def matmul_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    rows, cols, batch = draw(st.integers(0, 9)), draw(st.integers(0, 9)), draw(st.integers(0, 5))
    w = draw(arrays(np.int16, (rows, cols), elements=q15_elements))
    xs = draw(arrays(np.int16, (batch, cols), elements=q15_elements))
    return w, xs


@FEW
@given(matmul_inputs())
def test_matvec_and_matmul(wx: tuple[np.ndarray, np.ndarray]) -> None:
    w, xs = wx
    rows, cols = w.shape
    flat = w.reshape(-1).tolist()
    for x in xs:
        xl = x.tolist()
        assert fixed.matvec_q15(w, x).tolist() == ref.matvec_q15(flat, rows, cols, xl)
        assert fixed.matvec_q15_acc64(w, x).tolist() == ref.matvec_acc64(flat, rows, cols, xl)
    want = ref.matmul_q15(flat, rows, cols, xs.reshape(-1).tolist(), xs.shape[0])
    got = fixed.matmul_q15(w, xs)
    assert got.shape == (xs.shape[0], rows)
    assert got.reshape(-1).tolist() == want


# ---- wire: CRC and COBS -------------------------------------------------------------

payloads = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=1200).map(lambda b: b.replace(b"\x00", b"\x01")),  # full 254 blocks
    st.lists(st.sampled_from([0, 0, 1, 255]), max_size=600).map(bytes),  # many zeros
    st.integers(0, 800).map(lambda n: bytes((i % 255) + 1 for i in range(n))),
)


@PROPS
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_crc16(a: bytes, b: bytes) -> None:
    assert wire.crc16(a + b) == ref.crc16(a + b)
    assert wire.crc16(b, wire.crc16(a)) == wire.crc16(a + b)


@PROPS
@given(payloads)
def test_cobs_round_trip(data: bytes) -> None:
    enc = wire.cobs_encode(data)
    assert 0 not in enc
    assert enc == ref.cobs_encode(data)
    assert len(enc) <= ref.cobs_max_encoded(len(data))
    assert wire.cobs_decode(enc) == data


@PROPS
@given(st.one_of(st.binary(max_size=600), payloads.map(ref.cobs_encode)))
def test_cobs_decode_matches_reference(data: bytes) -> None:
    try:
        want: bytes | str = ref.cobs_decode(data)
    except ref.RefWireError as e:
        want = e.status
    try:
        got: bytes | str = wire.cobs_decode(data)
    except wire.WireError as e:
        assert isinstance(e.status, wire.Status)
        got = e.status.name
    assert got == want


# ---- wire: frames ---------------------------------------------------------------------

headers = st.builds(
    wire.Header,
    cmd=st.integers(0, 255),
    seq=st.integers(0, 255),
    flags=st.integers(0, 255),
    level=st.one_of(st.just(wire.PROTOCOL_LEVEL), st.integers(0, 255)),
    aux=st.integers(0, 65535),
)


def _ref_header(h: wire.Header, length: int) -> dict[str, int]:
    return {"level": h.level, "seq": h.seq, "cmd": h.cmd, "flags": h.flags, "length": length,
            "aux": h.aux}


@PROPS
@given(headers, payloads)
def test_frame_round_trip(h: wire.Header, payload: bytes) -> None:
    frame = wire.encode_frame(h, payload)
    assert frame[-1] == 0 and 0 not in frame[:-1]
    assert len(frame) <= wire.max_frame_size(len(payload))
    assert frame == ref.frame_encode(_ref_header(h, 0), payload)
    assert wire.decode_frame(frame[:-1]) == (h, payload)


def _decode_agrees_with_reference(body: bytes, max_payload: int) -> None:
    """The decoder's answer equals the reference's; an accepted frame re-encodes consistently."""
    try:
        want_h, want_p = ref.frame_decode(body, max_payload)
        want_err = None
    except ref.RefWireError as e:
        want_err = e.status
    try:
        h, payload = wire.decode_frame(body, max_payload)
    except wire.WireError as e:
        assert isinstance(e.status, wire.Status), f"status {e.status!r} is not a Status"
        assert want_err is not None, f"rejected with {e.status.name}, the reference accepts"
        assert e.status.name == want_err, f"{e.status.name}, the reference says {want_err}"
        return
    assert want_err is None, f"accepted, the reference says {want_err}"
    assert payload == want_p
    assert dataclasses.asdict(h) | {"length": len(payload)} == want_h
    assert len(payload) <= max_payload
    again = wire.encode_frame(h, payload)
    assert wire.decode_frame(again[:-1]) == (h, payload)
    if ref.cobs_encode(ref.cobs_decode(body)) == body:  # canonical COBS: byte-identical
        assert again[:-1] == body


max_payloads = st.one_of(st.just(wire.MAX_PAYLOAD_LIMIT), st.integers(0, 70000))


@PROPS
@given(st.binary(max_size=300), max_payloads)
def test_decoder_on_random_bytes(body: bytes, max_payload: int) -> None:
    _decode_agrees_with_reference(body, max_payload)


@PROPS
@given(st.binary(min_size=10, max_size=300), max_payloads)
def test_decoder_on_random_cobs_frames(raw: bytes, max_payload: int) -> None:
    """Valid COBS of random bytes: exercises the checks after COBS (length, CRC)."""
    _decode_agrees_with_reference(ref.cobs_encode(raw), max_payload)


MUTATIONS = ["flip", "truncate", "insert", "delete", "overwrite"]


def _mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    b = bytearray(data)
    for op, pos, val in ops:
        at = pos % (len(b) + 1)
        if op == "flip" and b:
            b[at % len(b)] ^= 1 << (val % 8)
        elif op == "truncate":
            del b[at:]
        elif op == "insert":
            b.insert(at, val)
        elif op == "delete" and b:
            del b[at % len(b)]
        elif op == "overwrite" and b:
            b[at % len(b)] = val
    return bytes(b)


mutation_lists = st.lists(
    st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 2**20), st.integers(0, 255)),
    min_size=1, max_size=4,
)


@PROPS
@given(headers, payloads, mutation_lists, st.booleans(), max_payloads)
def test_decoder_on_damaged_frames(h: wire.Header, payload: bytes,
                                   ops: list[tuple[str, int, int]], inner: bool,
                                   max_payload: int) -> None:
    """Damage on the line (in the COBS body) or inside the frame (re-encoded COBS)."""
    frame = wire.encode_frame(h, payload)
    if inner:
        raw = _mutate(ref.frame_raw(_ref_header(h, 0), payload), ops)
        body = ref.cobs_encode(raw)
    else:
        body = _mutate(frame[:-1], ops)
    _decode_agrees_with_reference(body, max_payload)


# ---- wire: records and overhead ------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
i8 = st.integers(-128, 127)
names = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16)


def _builds(cls: type, fields: list[tuple[str, str]]) -> st.SearchStrategy[Any]:
    """Records of cls with every field drawn from its whole range (names: printable text)."""
    kinds = {"u8": u8, "i8": i8, "u16": u16, "u32": u32, "name": names}
    return st.builds(cls, **{n: kinds[k] for n, k in fields})


records = st.one_of(
    st.builds(wire.ErrorRecord, status=u16, arg=u16),
    st.builds(wire.Event, event=u16, arg=u16),
    st.builds(wire.QueryHead, n_samples=u16, n_channels=u16),
    st.builds(wire.Config, settle_us=u32, oversample=u16, n_drive_active=u16,
              n_sense_active=u16, reserved=u16),
    st.builds(wire.Stats, **{n: u32 for n, _ in ref.STATS_FIELDS}),
    _builds(wire.Caps, ref.CAPS_FIELDS),
    _builds(wire.ModelBegin, ref.MODEL_BEGIN_FIELDS),
    _builds(wire.ChunkHead, ref.CHUNK_HEAD_FIELDS),
    _builds(wire.InferHead, ref.INFER_HEAD_FIELDS),
    _builds(wire.ModelInfo, ref.MODEL_INFO_FIELDS),
    _builds(wire.LearnHead, ref.LEARN_HEAD_FIELDS),
    _builds(wire.RefitReply, ref.REFIT_REPLY_FIELDS),
    _builds(model_image.ModelHead, ref.MODEL_HEAD_FIELDS),
    _builds(model_image.BlockHead, ref.BLOCK_HEAD_FIELDS),
    _builds(model_image.ReadoutHead, ref.READOUT_HEAD_FIELDS),
    _builds(model_image.CodeHead, ref.CODE_HEAD_FIELDS),
    _builds(model_image.DescribeHead, ref.DESCRIBE_HEAD_FIELDS),
    _builds(wire.DescribeRequest, ref.DESCRIBE_REQUEST_FIELDS),
    _builds(wire.DescribeReply, ref.DESCRIBE_REPLY_FIELDS),
)
REF_FIELDS = {
    wire.ErrorRecord: ref.ERROR_FIELDS,
    wire.Event: ref.EVENT_FIELDS,
    wire.QueryHead: ref.QUERY_HEAD_FIELDS,
    wire.Config: ref.CONFIG_FIELDS,
    wire.Stats: ref.STATS_FIELDS,
    wire.Caps: ref.CAPS_FIELDS,
    wire.ModelBegin: ref.MODEL_BEGIN_FIELDS,
    wire.ChunkHead: ref.CHUNK_HEAD_FIELDS,
    wire.InferHead: ref.INFER_HEAD_FIELDS,
    wire.ModelInfo: ref.MODEL_INFO_FIELDS,
    wire.LearnHead: ref.LEARN_HEAD_FIELDS,
    wire.RefitReply: ref.REFIT_REPLY_FIELDS,
    model_image.ModelHead: ref.MODEL_HEAD_FIELDS,
    model_image.BlockHead: ref.BLOCK_HEAD_FIELDS,
    model_image.ReadoutHead: ref.READOUT_HEAD_FIELDS,
    model_image.CodeHead: ref.CODE_HEAD_FIELDS,
    model_image.DescribeHead: ref.DESCRIBE_HEAD_FIELDS,
    wire.DescribeRequest: ref.DESCRIBE_REQUEST_FIELDS,
    wire.DescribeReply: ref.DESCRIBE_REPLY_FIELDS,
}


def test_every_record_is_covered() -> None:
    """Each Record class of the wire and model modules is in the round-trip property."""
    classes = {c for mod in (wire, model_image) for c in vars(mod).values()
               if isinstance(c, type) and issubclass(c, wire.Record) and c is not wire.Record
               and c.__module__ == mod.__name__}
    assert classes == set(REF_FIELDS), sorted(c.__name__ for c in classes ^ set(REF_FIELDS))
    for cls, fields in REF_FIELDS.items():
        assert [n for n, _ in fields] == cls.c_members(), cls.__name__


@PROPS
@given(records)
def test_record_round_trip(rec: Any) -> None:
    cls = type(rec)
    packed = rec.pack()
    assert packed == ref.record_pack(REF_FIELDS[cls], dataclasses.asdict(rec))
    assert cls.unpack(packed) == rec


@FEW
@given(arrays(np.int16, (64, 20)), st.integers(0, 255))
def test_batch_frame_overhead(samples: np.ndarray, seq: int) -> None:
    """A 64-sample x 20-channel QUERY frame costs at most 2 % over its payload."""
    payload = wire.QueryHead(n_samples=64, n_channels=20).pack() + wire.pack_samples(samples)
    frame = wire.encode_frame(wire.Header(cmd=wire.Cmd.QUERY, seq=seq), payload)
    assert len(frame) / len(payload) <= 1.02
    header, back = wire.decode_frame(frame[:-1])
    assert back == payload and header.seq == seq


# ---- CRC-32 and the model checks ------------------------------------------------------


@PROPS
@given(st.binary(max_size=300), st.binary(max_size=300), u32)
def test_crc32(a: bytes, b: bytes, init: int) -> None:
    assert wire.crc32(a + b, init) == ref.crc32(a + b, init)
    assert wire.crc32(b, wire.crc32(a, init)) == wire.crc32(a + b, init)  # chaining
    assert wire.crc32(a) == zlib.crc32(a)


_IMAGES = [ref.image_pack(m)
           for m in ref.sample_models(ref.rng_for("model_images")).values()]


def _c_check(image: bytes, lim: dict[str, Any]) -> tuple[int, int]:
    buf = ffi.new("uint8_t[]", image or b"\0")
    limits = ffi.new("struct phyff_model_limits *")
    for k, v in lim.items():
        if k == "medium":
            ffi.memmove(limits.medium, v.encode().ljust(16, b"\0"), 16)
        else:
            setattr(limits, k, v)
    view = ffi.new("struct phyff_model_view *")
    bad = ffi.new("uint32_t *")
    return int(lib.phyff_model_check(buf, len(image), limits, view, bad)), int(bad[0])


def _ref_check(image: bytes, lim: dict[str, Any]) -> tuple[int, int]:
    try:
        ref.model_check(image, lim)
    except ref.ModelRefused as e:
        return ref.STATUS[e.status], e.offset
    return 0, 0


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(_IMAGES),
       st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), min_size=1, max_size=3),
       st.one_of(st.none(), st.integers(0, 600)),
       st.integers(0, 40))
def test_model_check_matches_reference(image: bytes, edits: list[tuple[int, int]],
                                       cut: int | None, work: int) -> None:
    """Images with bytes overwritten (headers mostly), cut short or checked against a
    small scratch: the C and the reference refuse the same field with the same status."""
    raw = bytearray(image)
    for at, value in edits:
        raw[at % min(len(raw), 130 if at < 400 else len(raw))] = value
    if cut is not None:
        raw = raw[: cut % (len(raw) + 1)]
    lim = dict(ref.LIMITS)
    if work:
        lim["work_values"] = work
    assert _c_check(bytes(raw), lim) == _ref_check(bytes(raw), lim)


def _with_description(m: dict[str, Any]) -> tuple[bytes, int]:
    """A sample model's image ending with a description section (model.h M-D1-D2), and
    where the section starts."""
    nf, nc = m["head"]["n_features"], m["head"]["n_classes"]
    image = ref.image_pack(m)
    section = ref.describe_pack({"scale": [1.0 + j for j in range(nf)], "clip": nf % 2 == 0,
                                 "limit": [0.5] * nf,
                                 "feature_names": [f"f{j}" for j in range(nf)],
                                 "class_names": [f"c\u00e9{c}" for c in range(nc)]})
    return image + section, len(image)


_DESCRIBED = [_with_description(m)
              for m in ref.sample_models(ref.rng_for("model_images")).values()]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_DESCRIBED),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=3),
       st.one_of(st.none(), st.integers(0, 10**6)))
def test_description_check_matches_reference(described: tuple[bytes, int],
                                             edits: list[tuple[int, int]],
                                             cut: int | None) -> None:
    """M-D1-D3: description sections with bytes overwritten or cut short: the C and the
    reference accept the same sections and refuse the same field."""
    image, at = described
    raw = bytearray(image)
    for pos, value in edits:
        raw[at + pos % (len(raw) - at)] = value
    if cut is not None:
        raw = raw[: at + cut % (len(raw) - at + 1)]
    assert _c_check(bytes(raw), ref.LIMITS) == _ref_check(bytes(raw), ref.LIMITS)


# ---- the model pipeline against the reference ----------------------------------------

PIPE_LIMITS = dict(ref.LIMITS, n_drive=64)


@st.composite
def _models(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid model: any inference kind, encoder, flag mix, shift and exponent."""
    nc, nf = draw(st.integers(2, 4)), draw(st.integers(1, 4))
    fo = nc + draw(st.integers(0, 2))
    blocks = []
    for _ in range(draw(st.integers(1, 3))):
        blocks.append({
            "encoder": draw(st.sampled_from(sorted(ref.ENCODER))),
            "flags": draw(st.sampled_from([1, 2, 3])), "d_out": draw(st.integers(1, 5)),
            "n_sense": draw(st.integers(1, 12)), "out_exp": draw(st.integers(-32, 32)),
            "shift_p": draw(st.integers(0, 16)), "shift_h": draw(st.integers(0, 16)),
            "shift_b": draw(st.integers(0, 40)), "shift_out": draw(st.integers(0, 62)),
            "readout_shift": draw(st.integers(0, 16)), "wr": draw(st.sampled_from([3, 300, 32767])),
        })
    rng = ref.random.Random(draw(st.integers(0, 2**32)))
    return ref.make_model(
        rng, inference=draw(st.sampled_from(["ONEPASS", "GOODNESS"])), n_features=nf,
        n_classes=nc, feature_offset=fo, width=fo + nf + draw(st.integers(0, 2)),
        input_exp=draw(st.integers(-32, 32)), score_exp=draw(st.integers(-32, 32)),
        readout_abs=draw(st.integers(0, 1)), blocks=blocks,
        readout={"shift_b": draw(st.integers(0, 40)), "shift_out": draw(st.integers(0, 62)),
                 "wr": draw(st.sampled_from([3, 3000, 32767]))})


def _c_sample(image: bytes, x: list[int], sensed: list[list[int]]) -> dict[str, Any]:
    """M-P1-P7 composed from the compiled model.c functions, as the core composes them."""
    buf = ffi.new("uint8_t[]", image)
    limits = ffi.new("struct phyff_model_limits *")
    for k, v in PIPE_LIMITS.items():
        if k == "medium":
            ffi.memmove(limits.medium, v.encode().ljust(16, b"\0"), 16)
        else:
            setattr(limits, k, v)
    view = ffi.new("struct phyff_model_view *")
    bad = ffi.new("uint32_t *")
    assert lib.phyff_model_check(buf, len(image), limits, view, bad) == 0, int(bad[0])
    hd = view.head
    onepass = hd.inference == model_image.INFERENCE_ONEPASS
    nc, work = hd.n_classes, lib.phyff_model_work_values(view)
    acc = ffi.new("int64_t[]", nc)
    scores = ffi.new("int32_t[]", nc)
    drives: list[list[int]] = []
    feed = iter(sensed)
    sat = False
    for label in ([-1] if onepass else range(nc)):
        h = ffi.new("int16_t[]", work)
        sat |= bool(lib.phyff_infer_layout(view, ffi.new("int16_t[]", x), label, h))
        good = 0
        for k in range(hd.n_blocks):
            b = view.blocks[k]
            p = ffi.new("int16_t[]", 1)
            if b.flags & model_image.BLOCK_PHYSICAL:
                drive = ffi.new("int16_t[]", b.n_drive)
                lib.phyff_infer_encode(view, k, h, drive)
                drives.append(list(drive))
                p = ffi.new("int16_t[]", next(feed))
            y = ffi.new("int16_t[]", b.d_out)
            sat |= bool(lib.phyff_infer_affine(view, k, p, h, y))
            if onepass:
                lib.phyff_infer_readout_add(view, k, y, acc)
            else:
                good += lib.phyff_infer_goodness(view, k, y)
            h = y
        if not onepass:
            scores[label] = good
    if onepass:
        sat |= bool(lib.phyff_infer_readout_finish(view, acc, scores))
    return {"drives": drives, "scores": list(scores), "sat": sat,
            "class": int(lib.phyff_argmax_s32(scores, nc))}


@settings(max_examples=300, deadline=None)
@given(_models(), st.data())
def test_pipeline_matches_reference(model: dict[str, Any], data: st.DataObject) -> None:
    """Random models, features and sensed values: model.c computes what model.h's
    prose (the reference) says, drive patterns, scores, class and saturation alike."""
    image = ref.image_pack(model)
    view = ref.model_check(image, PIPE_LIMITS)
    x = data.draw(st.lists(q15s, min_size=view["head"]["n_features"],
                           max_size=view["head"]["n_features"]))
    passes = 1 if view["readout"] is not None else view["head"]["n_classes"]
    sensed = [data.draw(st.lists(st.integers(0, Q15_MAX), min_size=b["n_sense"],
                                 max_size=b["n_sense"]))
              for _ in range(passes) for b in view["blocks"] if b["flags"] & 1]
    assert _c_sample(image, x, sensed) == ref.infer_sample(view, x, sensed)
