"""Golden vectors (shared/vectors/model.json) through the board program's model code.

Run under the MicroPython unix port from anywhere:

    micropython -X heapsize=8M firmware/micropython/tests/model_vectors_mp.py \
        shared/vectors/model.json

(the parsed vectors outgrow the unix port's default heap of 2 MB).

Every group goes through ``phyffmp.model`` as the board uses it: images are
checked by ``model_check`` against ``Limits`` built from the vector (the
board builds its own from its caps), the pipeline runs on int16 arrays sized
to what the view says, and ``infer_sample`` composes the functions the way
``Core._infer_pass`` and ``Core._cmd_infer`` do, with the vector's sensed
values standing in for the medium. The board never packs a model record, it
only reads them out of an image (``View.head_unpack``, ``block_unpack``,
``readout_unpack``), so the ``*_pack`` groups check that reading: the
vector's bytes must unpack to the vector's fields.

Output and exit status are vectorkit.run's, as for every vector runner.
"""

import gc
import sys
from array import array

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")
sys.path.insert(0, _here)

import vectorkit  # noqa: E402
from phyffmp import model, wire  # noqa: E402

STATUS = {"OK": wire.OK, "BAD_MODEL": wire.ERR_BAD_MODEL, "WRONG_BOARD": wire.ERR_WRONG_BOARD}

ENUM_PREFIX = {"Inference": "INFERENCE_", "Encoder": "ENC_", "BlockFlag": "BLOCK_",
               "DescribeFlag": "DESCRIBE_"}

HEAD_NAMES = (("name", 24), ("train_board", 40), ("train_medium", 56))


def unhex(s: str) -> bytearray:
    return bytearray(bytes.fromhex(s))


def name_bytes(text: str) -> bytearray:
    """A name field as the board holds it: NAME_SIZE bytes, NUL-padded."""
    out = bytearray(wire.NAME_SIZE)
    raw = text.encode()
    out[:len(raw)] = raw
    return out


def i16(values: list) -> array:
    """An int16 array as the board's scratch (never empty: the board's never is)."""
    return array("h", values if values else [0])


def i16_le(values: list) -> bytearray:
    """Features as they sit in an INFER frame: little-endian int16."""
    out = bytearray(2 * len(values))
    for j, x in enumerate(values):
        wire.put_u16(out, 2 * j, x & 0xFFFF)
    return out


def diff(got: list, want: list, what: str) -> "str | None":
    return None if got == want else f"{what} {got}, want {want}"


# Views by row count, reused from case to case as Core reuses its staging view
# (COMMIT after COMMIT): whatever a check leaves behind must not leak into the next.
_VIEWS: dict = {}


def view_for(rows: int) -> "model.View":
    v = _VIEWS.get(rows)
    if v is None:
        gc.collect()  # a large view wants one contiguous block of the heap
        v = model.View(rows)
        _VIEWS[rows] = v
    return v


class Checked:
    """A vector's image checked by model_check as COMMIT checks it, and its view."""

    def __init__(self, inp: dict) -> None:
        lim = inp["limits"]
        self.limits = model.Limits(lim["unit_id"], name_bytes(lim["medium"]), lim["n_drive"],
                                   lim["n_sense"], lim["max_oversample"],
                                   lim["max_settle_us"], lim["max_classes"],
                                   lim["work_values"])
        self.image = unhex(inp["image"])
        # rows as Core sizes them: d_out <= work values (M-V3), n_classes <= max_classes
        self.view = view_for(max(lim["work_values"], lim["max_classes"]))
        self.status = model.model_check(self.image, len(self.image), self.limits, self.view)

    def refused(self) -> "str | None":
        if self.status != wire.OK:
            return f"vector image refused: status {self.status} at {self.view.bad}"
        return None


# ---- checkers: return None when the case passes, else a message ---------------------


def c_constants(case: dict) -> "str | None":
    got = getattr(model, case["in"])
    return None if got == case["out"] else f"{case['in']} = {got}"


def c_enums(case: dict) -> "str | None":
    kind, name = case["in"]
    got = getattr(model, ENUM_PREFIX[kind] + name)
    return None if got == case["out"] else f"{kind}.{name} = {got}"


def c_model_head(case: dict) -> "str | None":
    raw = unhex(case["out"])
    if len(raw) != model.MODEL_HEAD_SIZE:
        return f"{len(raw)} bytes, MODEL_HEAD_SIZE is {model.MODEL_HEAD_SIZE}"
    v = model.View()
    v.head_unpack(raw)
    h = case["in"]
    for key in ("magic", "version", "n_blocks", "inference", "n_features", "n_classes",
                "width", "feature_offset", "train_unit_id", "input_exp", "score_exp",
                "overlay", "readout_abs"):
        if getattr(v, key) != h[key]:
            return f"{key} = {getattr(v, key)}, want {h[key]}"
    # the names stay in the image; model_check compares train_medium there (M-V6)
    for key, at in HEAD_NAMES:
        if raw[at:at + wire.NAME_SIZE] != name_bytes(h[key]):
            return f"{key} is not at offset {at}"
    return None


BLOCK_FIELDS = ("encoder", "flags", "d_in", "n_drive", "n_sense", "d_out", "in_exp", "out_exp",
                "shift_p", "shift_h", "shift_b", "shift_out", "settle_us", "oversample",
                "readout_shift", "rows")
VIEW_NAME = {"rows": "n_rows"}  # View.rows is the size of its row-sum scratch


def c_block_head(case: dict) -> "str | None":
    raw = unhex(case["out"])
    if len(raw) != model.BLOCK_HEAD_SIZE:
        return f"{len(raw)} bytes, BLOCK_HEAD_SIZE is {model.BLOCK_HEAD_SIZE}"
    # read where a last block would sit, into the last slot: offsets and slots both count
    at = model.MODEL_HEAD_SIZE + 5
    k = model.MODEL_MAX_BLOCKS - 1
    img = bytearray(at) + raw
    v = model.View()
    v.block_unpack(img, at, k)
    for key in BLOCK_FIELDS:
        got = getattr(v, VIEW_NAME.get(key, key))[k]
        if got != case["in"][key]:
            return f"{key} = {got}, want {case['in'][key]}"
    return None


def c_readout_head(case: dict) -> "str | None":
    raw = unhex(case["out"])
    if len(raw) != model.READOUT_HEAD_SIZE:
        return f"{len(raw)} bytes, READOUT_HEAD_SIZE is {model.READOUT_HEAD_SIZE}"
    at = 3
    v = model.View()
    v.readout_unpack(bytearray(at) + raw, at)
    r = case["in"]
    got = (v.r_n_in, v.r_n_classes, v.r_shift_b, v.r_shift_out, v.r_refit_samples)
    want = (r["n_in"], r["n_classes"], r["shift_b"], r["shift_out"], r["refit_samples"])
    return None if got == want else f"(n_in, n_classes, shift_b, shift_out, refit_samples) {got}"


def c_code_head(case: dict) -> "str | None":
    raw = unhex(case["out"])
    if len(raw) != model.CODE_HEAD_SIZE:
        return f"{len(raw)} bytes, CODE_HEAD_SIZE is {model.CODE_HEAD_SIZE}"
    v = model.View()
    v.code_unpack(bytearray(5) + raw, 5)
    got = (v.code_gain, v.code_reserved)
    want = (case["in"]["gain_q8"], case["in"]["reserved"])
    return None if got == want else f"(gain_q8, reserved) {got}"


def c_describe_head(case: dict) -> "str | None":
    """The description head (M-D2) as model_check reads it: fields at their offsets."""
    raw = unhex(case["out"])
    if len(raw) != model.DESCRIBE_HEAD_SIZE:
        return f"{len(raw)} bytes, DESCRIBE_HEAD_SIZE is {model.DESCRIBE_HEAD_SIZE}"
    c = case["in"]
    got = (wire.get_u32(raw, 0), wire.get_u32(raw, 4), wire.get_u16(raw, 8),
           wire.get_u16(raw, 10), raw[12], raw[13], wire.get_u16(raw, 14))
    want = (c["magic"], c["length"], c["n_features"], c["n_classes"], c["flags"],
            c["reserved"], c["range_q8"])
    return None if got == want else f"fields {got}, want {want}"


def c_model_check(case: dict) -> "str | None":
    inp = case["in"]
    out = case["out"]
    c = Checked(inp)
    v = c.view
    want = STATUS[out["status"]]
    if (c.status, v.bad) != (want, out["bad_offset"]):
        return f"{inp['why']}: status {c.status} at {v.bad}, want {want} at {out['bad_offset']}"
    if c.status != wire.OK:
        return None
    got = {"trace_values": v.trace_values, "readout_width": v.readout_width,
           "work_values": model.model_work_values(v), "block_at": list(v.block_at[:v.n_blocks]),
           "readout_at": v.readout_at,  # 0 for goodness images, as after the C's memset
           "describe_at": v.describe_at, "describe_size": v.describe_size}
    for key, value in got.items():
        if value != out[key]:
            return f"{inp['why']}: {key} {value}, want {out[key]}"
    if v.image is not c.image or v.size != len(c.image):
        return f"{inp['why']}: the view does not point at the checked image"
    return None


def c_infer_layout(case: dict) -> "str | None":
    c = Checked(case["in"])
    if c.refused():
        return c.refused()
    v = c.view
    h = array("h", [0x5A5A] * model.model_work_values(v))  # stale values must be cleared
    sat = model.infer_layout(v, i16_le(case["in"]["x"]), 0, case["in"]["label"], h)
    return diff(list(h[:v.width]), case["out"]["h"], "h") \
        or diff([bool(sat)], [case["out"]["sat"]], "sat")


def c_infer_encode(case: dict) -> "str | None":
    c = Checked(case["in"])
    if c.refused():
        return c.refused()
    v = c.view
    k = case["in"]["k"]
    drive = array("h", [0x5A5A] * model.block_drive_width(v, k))
    model.infer_encode(v, k, i16(case["in"]["h"]), drive)
    return diff(list(drive), case["out"], f"block {k} (encoder {v.encoder[k]}) drive")


def c_infer_affine(case: dict) -> "str | None":
    c = Checked(case["in"])
    if c.refused():
        return c.refused()
    v = c.view
    k = case["in"]["k"]
    y = array("h", [0x5A5A] * v.d_out[k])
    sat = model.infer_affine(v, k, i16(case["in"]["p"]), i16(case["in"]["h"]), y)
    return diff(list(y), case["out"]["y"], "y") \
        or diff([bool(sat)], [case["out"]["sat"]], "sat")


def c_infer_readout(case: dict) -> "str | None":
    c = Checked(case["in"])
    if c.refused():
        return c.refused()
    v = c.view
    nc = v.n_classes
    acc = [0] * nc  # Core.class_acc: Python ints, exact like the C int64
    for k, y in enumerate(case["in"]["ys"]):
        model.infer_readout_add(v, k, i16(y), acc)
    scores = array("i", [0] * nc)  # Core.scores
    sat = model.infer_readout_finish(v, acc, scores)
    return diff(acc, case["out"]["acc"], "acc") \
        or diff(list(scores), case["out"]["scores"], "scores") \
        or diff([bool(sat)], [case["out"]["sat"]], "sat")


def c_infer_goodness(case: dict) -> "str | None":
    c = Checked(case["in"])
    if c.refused():
        return c.refused()
    got = model.infer_goodness(c.view, case["in"]["k"], i16(case["in"]["y"]))
    return None if got == case["out"] else f"goodness {got}, want {case['out']}"


def c_argmax(case: dict) -> "str | None":
    scores = array("i", case["in"])  # Core.scores
    got = model.argmax_s32(scores, len(scores))
    return None if got == case["out"] else f"class {got}"


def c_infer_sample(case: dict) -> "str | None":
    """M-P1-P7 composed as Core._infer_pass/_cmd_infer compose them; sensed values for M-P4."""
    inp = case["in"]
    out = case["out"]
    c = Checked(inp)
    if c.refused():
        return c.refused()
    v = c.view
    nc = v.n_classes
    onepass = v.inference == model.INFERENCE_ONEPASS
    work = model.model_work_values(v)
    h = array("h", [0] * work)
    y = array("h", [0] * work)
    drive = array("h", [0] * work)
    p = array("h", [0] * work)  # rows x n_sense (M-R3)
    x = i16_le(inp["x"])
    acc = [0] * nc
    scores = array("i", [0] * nc)
    drives = []
    sensed = inp["sensed"]
    used = 0
    sat = False
    for label in ([-1] if onepass else range(nc)):
        sat = model.infer_layout(v, x, 0, label, h) or sat
        goodness = 0
        for k in range(v.n_blocks):
            if v.flags[k] & model.BLOCK_PHYSICAL:
                model.infer_encode(v, k, h, drive)  # then row after row (M-R1-R2)
                drives.append([drive[model.infer_slot(v, k, r, j)]
                               for r in range(model.block_rows(v, k))
                               for j in range(v.n_drive[k])])
                if used == len(sensed):
                    return "more physical passes than sensed vectors"
                for j, q in enumerate(sensed[used]):
                    p[j] = q
                used += 1
            if model.infer_affine(v, k, p, h, y):
                sat = True
            if onepass:
                model.infer_readout_add(v, k, y, acc)
            else:
                goodness += model.infer_goodness(v, k, y)
            for j in range(v.d_out[k]):  # y is the next block's h
                h[j] = y[j]
        if not onepass:
            scores[label] = goodness
    if onepass and model.infer_readout_finish(v, acc, scores):
        sat = True
    if used != len(sensed):
        return f"{len(sensed) - used} sensed vectors left over"
    return diff(drives, out["drives"], "drives") \
        or diff(list(scores), out["scores"], "scores") \
        or diff([sat], [out["sat"]], "sat") \
        or diff([model.argmax_s32(scores, nc)], [out["class"]], "class")


CHECKERS = {
    "constants": c_constants,
    "enums": c_enums,
    "model_head_pack": c_model_head,
    "block_head_pack": c_block_head,
    "readout_head_pack": c_readout_head,
    "code_head_pack": c_code_head,
    "describe_head_pack": c_describe_head,
    "model_check": c_model_check,
    "infer_layout": c_infer_layout,
    "infer_encode": c_infer_encode,
    "infer_affine": c_infer_affine,
    "infer_readout": c_infer_readout,
    "infer_goodness": c_infer_goodness,
    "argmax": c_argmax,
    "infer_sample": c_infer_sample,
}


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else _here + "/../../../shared/vectors/model.json"
    return vectorkit.run(path, CHECKERS, ())


sys.exit(main())
