"""Golden vectors (shared/vectors/learn.json) through the board program's learning code.

Run under the MicroPython unix port from anywhere:

    micropython firmware/micropython/tests/learn_vectors_mp.py shared/vectors/learn.json

Every group goes through ``phyffmp.learn`` as learn.c's callers use it:
statistics in a bytearray area of ``area_size`` bytes, samples added one by
one, and the refit run on an image checked by ``model.model_check`` into a
view, writing the new read-out into that image. Prints one line per group,
the first failures, and "N passed, M failed"; exit status 1 when a case fails.
"""

import sys

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")
sys.path.insert(0, _here)

import vectorkit  # noqa: E402
from phyffmp import learn, model, wire  # noqa: E402

STATUS = ("OK", "FULL", "BAD_LABEL", "TOO_FEW", "TOO_WIDE", "BAD_LAMBDA", "SINGULAR",
          "OVERFLOW", "NO_READOUT")


def c_constants(case: dict) -> "str | None":
    got = getattr(learn, case["in"], None)
    return None if got == case["out"] else f"{case['in']} = {got}, want {case['out']}"


def c_area_size(case: dict) -> "str | None":
    got = learn.area_size(case["in"]["width"], case["in"]["n_classes"])
    return None if got == case["out"] else f"{got}"


def c_feature(case: dict) -> "str | None":
    got = learn.feature(case["in"]["y"], bool(case["in"]["abs"]))
    return None if got == case["out"] else f"{got}"


def learn_samples(inp: dict, width: int, n_classes: int) -> tuple:
    area = bytearray(learn.area_size(width, n_classes))
    statuses = []
    labels = inp["labels"]
    for k, f in enumerate(inp["features"]):
        statuses.append(STATUS[learn.add(area, width, n_classes, f, labels[k])])
    return area, statuses


def c_learn_add(case: dict) -> "str | None":
    inp, out = case["in"], case["out"]
    area, statuses = learn_samples(inp, inp["width"], inp["n_classes"])
    if statuses != out["statuses"]:
        return "statuses differ"
    if bytes(area) != bytes.fromhex(out["area"]):
        return "area differs"
    if learn.samples(area, inp["width"]) != out["samples"]:
        return "sample count differs"
    return None


def c_refit(case: dict) -> "str | None":
    inp, out = case["in"], case["out"]
    lim = inp["limits"]
    medium = bytearray(wire.NAME_SIZE)
    raw = lim["medium"].encode()
    medium[:len(raw)] = raw
    limits = model.Limits(lim["unit_id"], medium, lim["n_drive"], lim["n_sense"],
                          lim["max_oversample"], lim["max_settle_us"], lim["max_classes"],
                          lim["work_values"])
    image = bytearray(bytes.fromhex(inp["image"]))
    view = model.View(max(lim["work_values"], lim["max_classes"]))
    if model.model_check(image, len(image), limits, view) != wire.OK:
        return "image refused"
    area, _ = learn_samples(inp, view.readout_width, view.n_classes)
    st, cond = learn.refit(area, view, image, inp["lambda_shift"])
    if STATUS[st] != out["status"]:
        return f"{inp['why']}: status {STATUS[st]}, want {out['status']}"
    if bytes(image) != bytes.fromhex(out["image"]) or cond != out["cond_bits"]:
        return f"{inp['why']}: image or conditioning figure differ"
    early = STATUS[st] in ("TOO_FEW", "BAD_LAMBDA", "TOO_WIDE", "NO_READOUT")
    if not early and any(area):
        return f"{inp['why']}: statistics not cleared (RF-E1)"
    return None


CHECKERS = {
    "constants": c_constants,
    "area_size": c_area_size,
    "feature": c_feature,
    "learn_add": c_learn_add,
    "refit": c_refit,
}


sys.exit(vectorkit.main("learn.json", CHECKERS, ()))
