"""On-device read-out learning (learn.h): the numpy reference and the board's C, bit for bit.

What is checked: the statistics (RF-A1-A4) and their area size (RF-M1);
the fixed-point ridge solve (RF-S1-S5) and its quantisation into the
read-out record (RF-Q1-Q5) against a float ridge fit of the same samples
(the host's `fit_ridge`, whose centred formulation RF-S2's unpenalised bias
reproduces); every refusal (RF-E1); and the C library (shared/src/learn.c,
through the cffi module) against the reference on random problems.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phyff._native import ffi, lib
from phyff.emulator.micropython import MICROPYTHON_HINT, find_micropython
from phyff.ondevice import refit as rf
from phyff.ondevice.random_images import REFIT_CLASSES as N_CLASSES
from phyff.ondevice.random_images import REFIT_WIDTHS as WIDTHS
from phyff.ondevice.random_images import onepass_image
from phyff.perf.learn_qemu import bench
from phyff.phyll.readout import fit_ridge
from phyff.protocol.model_image import (
    ModelImage,
)


def clustered_features(rng: np.random.Generator, n: int, width: int = sum(WIDTHS),
                       n_classes: int = N_CLASSES, noise: float = 0.3
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Block-output-like features: |mixtures of class centres| scaled to ~2/3 of Q15."""
    labels = np.arange(n) % n_classes
    centres = rng.normal(0, 1, (n_classes, 8))
    mix = rng.normal(0, 1, (8, width))
    y = np.abs((centres[labels] + noise * rng.normal(0, 1, (n, 8))) @ mix)
    y = y / y.max() * 20000
    return np.clip(np.round(y), 0, 32767).astype(np.int64), labels


def board_scores(image: ModelImage, f: np.ndarray) -> np.ndarray:
    """The read-out of model.h M-P6 on features f, as reals (score * 2^(score_exp - 31))."""
    return rf.readout_scores(image, f) * 2.0 ** (image.head.score_exp - 31)


def real_features(image: ModelImage, f: np.ndarray) -> np.ndarray:
    exps = np.concatenate([[blk.head.out_exp] * blk.head.d_out for blk in image.blocks])
    return f * 2.0 ** (exps - 15)


def test_statistics_are_exact_sums_of_the_reduced_features() -> None:
    """RF-A1-A3: Gram of [g, 1], class sums and counts; RF-A2 rounds half up."""
    rng = np.random.default_rng(1)
    f = rng.integers(-32768, 32768, (50, 6))
    labels = rng.integers(0, 3, 50)
    stats = rf.Statistics.empty(6, 3)
    stats.add(f, labels)
    g = np.floor((f + 8) / 16).astype(np.int64)
    aug = np.concatenate([g, np.ones((50, 1), np.int64)], axis=1)
    assert (stats.gram == aug.T @ aug).all()
    for c in range(3):
        assert (stats.sums[c] == g[labels == c].sum(axis=0)).all()
    assert stats.counts.tolist() == np.bincount(labels, minlength=3).tolist()
    assert stats.samples == 50
    assert np.abs(g).max() <= 2048
    assert rf.reduce_features(np.array([7, 8, -8, -9, 32767])).tolist() == [0, 1, 0, -1, 2048]
    # RF-A1: |y| with |-32768| -> 32767 for a readout_abs model
    image = onepass_image((2,), (0,), n_classes=3)
    assert rf.readout_features(image, [np.array([[-32768, -5]])]).tolist() == [[32767, 5]]


def test_the_cap_bounds_every_sum_and_a_refused_batch_changes_nothing() -> None:
    """RF-A4: 511 samples of the largest features stay in int32 / 3 bytes; RF-E1."""
    stats = rf.Statistics.empty(3, 2)
    f = np.full((rf.MAX_SAMPLES, 3), -32768)
    f[::2] = 32767
    stats.add(f, np.zeros(rf.MAX_SAMPLES, np.int64))
    assert np.abs(stats.gram).max() < 2**31
    assert np.abs(stats.sums).max() < 2**23
    before = (stats.gram.copy(), stats.sums.copy(), stats.counts.copy())
    with pytest.raises(rf.RefitRefused) as full:
        stats.add(f[:1], np.zeros(1, np.int64))
    assert full.value.reason == "FULL"
    with pytest.raises(rf.RefitRefused) as bad:
        rf.Statistics.empty(3, 2).add(f[:2], np.array([0, 2]))
    assert bad.value.reason == "BAD_LABEL"
    assert all((a == b).all() for a, b in zip(before, (stats.gram, stats.sums, stats.counts),
                                              strict=True))


def test_a_vowels7_area_fits_the_qemu_model_slot() -> None:
    """RF-M1: 40 features + bias, 7 classes -> 4,298 B, inside a 4,352 B model slot."""
    assert rf.area_size(40, 7) == 3444 + 840 + 14 == 4298
    assert rf.area_size(40, 7) <= 4352


@pytest.mark.parametrize("n,lambda_shift", [(14, 6), (70, 10), (70, 0), (300, 10), (300, 30)])
def test_the_fixed_point_refit_scores_like_a_float_ridge_fit(n: int, lambda_shift: int) -> None:
    """RF-S1-Q5 against numpy: the board's scores within 1 % of the float ridge's range.

    Why 1 %: RF-A2's 12-bit features alone move scores by about 0.1-0.5 % of
    their range on these problems, and Q15 weights with one exponent per
    segment add up to 2^-15 of the largest weight per product; the solve's
    own rounding (Q = 24 bits) is far below both.
    """
    rng = np.random.default_rng(n + lambda_shift)
    image = onepass_image()
    f, labels = clustered_features(rng, n)
    stats = rf.Statistics.empty(sum(WIDTHS), N_CLASSES)
    stats.add(f, labels)
    result = rf.refit(image, stats, lambda_shift)
    real = real_features(image, f)
    w, _ = fit_ridge(real, labels, N_CLASSES, 2.0**-lambda_shift)
    expected = real @ w[:-1] + w[-1]
    got = board_scores(result.image, f)
    span = np.abs(expected).max()
    assert np.abs(got - expected).max() <= 0.01 * span
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.98
    assert 0 <= result.cond_bits <= 2 * rf.Q
    assert result.samples == n
    assert stats.samples == 0 and not stats.sums.any()  # RF-A5: the refit consumed them
    # RF-Q5: only the read-out fields change; the image still packs and unpacks
    new = result.image
    assert new.head.n_classes == image.head.n_classes and new.blocks[0].weights is not None
    assert ModelImage.unpack(new.pack()).pack() == new.pack()
    assert all(0 <= b.head.readout_shift <= 16 for b in new.blocks)
    assert new.readout is not None and new.readout.head.shift_b <= 40


def test_refusals_say_why() -> None:
    """RF-S1 (too few, a class without samples, lambda), RF-S2/S4 (singular), RF-E1."""
    image = onepass_image()
    rng = np.random.default_rng(5)
    f, labels = clustered_features(rng, 14)
    stats = rf.Statistics.empty(sum(WIDTHS), N_CLASSES)
    with pytest.raises(rf.RefitRefused) as none:
        rf.refit(image, stats, 10)
    assert none.value.reason == "TOO_FEW"
    stats.add(f[labels != 3], labels[labels != 3])
    with pytest.raises(rf.RefitRefused) as missing:
        rf.refit(image, stats, 10)
    assert missing.value.reason == "TOO_FEW" and "[3]" in str(missing.value)
    stats.add(f[labels == 3], labels[labels == 3])
    with pytest.raises(rf.RefitRefused) as lam:
        rf.refit(image, stats, 61)
    assert lam.value.reason == "BAD_LAMBDA"
    assert stats.samples == 14  # RF-E1: an RF-S1 refusal changes nothing
    # 14 samples, 41 unknowns and almost no penalty: singular at Q = 24 bits
    with pytest.raises(rf.RefitRefused) as singular:
        rf.refit(image, stats, 40)
    assert singular.value.reason == "SINGULAR"
    assert stats.samples == 0  # RF-E1: refused after RF-S3, the statistics are gone
    # a feature that is always 0 with lambda too small to register (p_k < 0)
    zero = rf.Statistics.empty(2, 2)
    zero.add(np.array([[0, 100], [0, 300], [0, 50]]), np.array([0, 1, 1]))
    with pytest.raises(rf.RefitRefused) as dead:
        rf.refit(onepass_image((2,), (20,), n_classes=2), zero, 60)
    assert dead.value.reason == "SINGULAR"


# ---- the C library (shared/src/learn.c) against the reference ----------------

def area_words(width: int, n_classes: int) -> int:
    """learn.h RF-M1: the area is an int32 array of ceil(bytes / 4) words."""
    return (int(lib.phyff_learn_area_size(width, n_classes)) + 3) // 4


LEARN_STATUS = {0: "OK", 1: "FULL", 2: "BAD_LABEL", 3: "TOO_FEW", 4: "TOO_WIDE",
                5: "BAD_LAMBDA", 6: "SINGULAR", 7: "OVERFLOW", 8: "NO_READOUT"}


class NativeLearner:
    """The board's statistics and refit through the cffi module, on one image."""

    def __init__(self, image: ModelImage) -> None:
        self.ffi, self.lib = ffi, lib
        data = image.pack()
        self.size = len(data)
        self.image = ffi.new("uint8_t[]", data)
        limits = ffi.new("struct phyff_model_limits *")
        limits.unit_id = image.head.train_unit_id
        medium = image.head.train_medium.encode("ascii")
        ffi.memmove(limits.medium, medium.ljust(16, b"\0"), 16)
        limits.n_drive = limits.n_sense = 1024
        limits.max_oversample = 16
        limits.max_settle_us = 1_000_000
        limits.max_classes = 256
        limits.work_values = 16384
        self.limits = limits
        self.view = ffi.new("struct phyff_model_view *")
        self._check()
        assert image.readout is not None
        self.width, self.n_classes = image.readout.head.n_in, image.head.n_classes
        self.area = ffi.new("int32_t[]", area_words(self.width, self.n_classes))
        self.scratch = ffi.new("int32_t[]", 2 * (self.width + 1))

    def _check(self) -> None:
        bad = self.ffi.new("uint32_t *")
        status = self.lib.phyff_model_check(self.image, self.size, self.limits, self.view, bad)
        assert status == self.lib.PHYFF_OK, (status, bad[0])

    def add(self, f: np.ndarray, labels: np.ndarray) -> list[str]:
        out = []
        for row, label in zip(f, labels, strict=True):
            values = self.ffi.new("int16_t[]", [int(v) for v in row])
            out.append(LEARN_STATUS[int(self.lib.phyff_learn_add(
                self.area, self.width, self.n_classes, values, int(label)))])
        return out

    def area_bytes(self) -> bytes:
        return bytes(self.ffi.buffer(self.area))[:rf.area_size(self.width, self.n_classes)]

    def refit(self, lambda_shift: int) -> tuple[str, bytes, int]:
        cond = self.ffi.new("uint8_t *")
        status = int(self.lib.phyff_learn_refit(self.area, self.view, self.image, lambda_shift,
                                                self.scratch, cond))
        data = bytes(self.ffi.buffer(self.image, self.size))
        self._check()  # RF-Q5: the written image still passes model.h M-V1-V6
        return LEARN_STATUS[status], data, int(cond[0])


def _c_and_reference(image: ModelImage, f: np.ndarray, labels: np.ndarray, lambda_shift: int
                     ) -> tuple[tuple[str, bytes, int], tuple[str, bytes, int]]:
    native = NativeLearner(image)
    assert set(native.add(f, labels)) == {"OK"}
    stats = rf.Statistics.empty(native.width, native.n_classes)
    stats.add(f, labels)
    assert native.area_bytes() == stats.pack_area()  # RF-M1, RF-A3
    got = native.refit(lambda_shift)
    assert native.area_bytes() == bytes(len(native.area_bytes()))  # RF-A5: consumed
    try:
        result = rf.refit(image, stats, lambda_shift)
        want = ("OK", result.image.pack(), result.cond_bits)
    except rf.RefitRefused as refused:
        want = (refused.reason, image.pack(), got[2])
    return got, want


@pytest.mark.parametrize("seed", range(12))
def test_the_board_refits_bit_for_bit_like_the_reference(seed: int) -> None:
    """RF-A1-Q5 in C equal the reference: statistics area, status, image, conditioning."""
    rng = np.random.default_rng(100 + seed)
    widths = ((20, 20), (3,), (7, 5, 9), (33,))[seed % 4]
    out_exps = tuple(int(e) for e in rng.integers(-3, 4, len(widths)))
    n_classes = int(rng.integers(2, 9))
    image = onepass_image(widths, out_exps, n_classes=n_classes,
                          readout_abs=int(rng.integers(0, 2)),
                          score_exp=int(rng.integers(-2, 6)))
    n = int(rng.integers(n_classes, 200))
    f, labels = clustered_features(rng, n, sum(widths), n_classes, noise=float(rng.uniform(0.1, 1)))
    if not image.head.readout_abs:
        f = f * rng.choice([-1, 1], f.shape)
    got, want = _c_and_reference(image, f, labels, int(rng.integers(0, 24)))
    assert got == want


def test_the_board_refuses_like_the_reference() -> None:
    """RF-E1 in C: refusals before RF-S3 keep the statistics, later ones clear them."""
    image = onepass_image()
    rng = np.random.default_rng(7)
    f, labels = clustered_features(rng, 14)
    native = NativeLearner(image)
    assert native.add(f[:1], np.array([N_CLASSES])) == ["BAD_LABEL"]
    assert native.area_bytes() == bytes(len(native.area_bytes()))
    native.add(f[labels != 2], labels[labels != 2])
    before = native.area_bytes()
    status, data, _ = native.refit(10)
    assert status == "TOO_FEW" and data == image.pack() and native.area_bytes() == before
    assert native.refit(61)[0] == "TOO_FEW"
    native.add(f[labels == 2], labels[labels == 2])
    status, data, _ = native.refit(40)
    assert status == "SINGULAR" and data == image.pack()
    assert native.area_bytes() == bytes(len(before))
    full = NativeLearner(onepass_image((2,), (0,), n_classes=2))
    many = np.ones((rf.MAX_SAMPLES + 1, 2), np.int64)
    statuses = full.add(many, np.zeros(len(many), np.int64))
    assert statuses[-2:] == ["OK", "FULL"]
    lam = NativeLearner(onepass_image((2,), (-5,), n_classes=2))
    lam.add(np.array([[5, 100], [40, 3]]), np.array([0, 1]))
    assert lam.refit(0)[0] == "BAD_LAMBDA"


# ---- golden vectors (shared/vectors/learn.json, written by gen_learn.py) ------

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "shared" / "vectors" / "learn.json")
                     .read_text(encoding="ascii"))


def test_learn_vector_constants_are_the_headers() -> None:
    """learn.json's constants are learn.h's macros and the reference's numbers."""
    for case in VECTORS["constants"]:
        assert getattr(lib, "PHYFF_" + case["in"]) == case["out"]
        assert getattr(rf, case["in"].removeprefix("LEARN_")) == case["out"]
    for case in VECTORS["area_size"]:
        w, c = case["in"]["width"], case["in"]["n_classes"]
        assert lib.phyff_learn_area_size(w, c) == rf.area_size(w, c) == case["out"]
    for case in VECTORS["feature"]:
        y, a = case["in"]["y"], case["in"]["abs"]
        assert lib.phyff_learn_feature(y, bool(a)) == case["out"]


@pytest.mark.skipif(sys.byteorder != "little", reason="learn.json's areas are little-endian")
def test_learn_add_vectors_in_c_and_numpy() -> None:
    """RF-A2-A4: every status and the area after the run, C and reference."""
    for case in VECTORS["learn_add"]:
        inp, out = case["in"], case["out"]
        width, c = inp["width"], inp["n_classes"]
        area = ffi.new("int32_t[]", area_words(width, c))
        stats = rf.Statistics.empty(width, c)
        statuses, ref_statuses = [], []
        for f, label in zip(inp["features"], inp["labels"], strict=True):
            statuses.append(LEARN_STATUS[int(lib.phyff_learn_add(
                area, width, c, ffi.new("int16_t[]", f), label))])
            try:
                stats.add(np.array([f]), np.array([label]))
                ref_statuses.append("OK")
            except rf.RefitRefused as refused:
                ref_statuses.append(refused.reason)
        assert statuses == ref_statuses == out["statuses"]
        size = rf.area_size(width, c)
        assert bytes(ffi.buffer(area))[:size].hex() == stats.pack_area().hex() == out["area"]
        assert lib.phyff_learn_samples(area, width) == stats.samples == out["samples"]


def test_refit_vectors_in_c_and_numpy() -> None:
    """RF-S1-Q5 and RF-E1: status, image and conditioning figure, C and reference."""
    for case in VECTORS["refit"]:
        inp, out = case["in"], case["out"]
        image = ModelImage.unpack(bytes.fromhex(inp["image"]))
        f = np.array(inp["features"], np.int64)
        labels = np.array(inp["labels"], np.int64)
        if image.readout is None:
            with pytest.raises(ValueError, match="one-pass"):
                rf.refit(image, rf.Statistics.empty(f.shape[1], image.head.n_classes), 0)
            assert out["status"] == "NO_READOUT"
            continue
        native = NativeLearner(image)
        native.add(f, labels)
        assert native.refit(inp["lambda_shift"]) == (out["status"], bytes.fromhex(out["image"]),
                                                     out["cond_bits"]), inp["why"]
        stats = rf.Statistics.empty(native.width, native.n_classes)
        stats.add(f, labels)
        try:
            result = rf.refit(image, stats, inp["lambda_shift"])
            got = ("OK", result.image.pack().hex(), result.cond_bits)
        except rf.RefitRefused as refused:
            got = (refused.reason, inp["image"], 0)
        assert got == (out["status"], out["image"], out["cond_bits"]), inp["why"]


ROOT = Path(__file__).resolve().parents[1]
MPY = find_micropython()


@pytest.mark.skipif(MPY is None, reason=MICROPYTHON_HINT)
def test_learn_vectors_pass_under_micropython() -> None:
    """learn.json through phyffmp.learn: the MicroPython board learns as learn.c does."""
    assert MPY is not None
    path = ROOT / "shared" / "vectors" / "learn.json"
    done = subprocess.run([MPY, str(ROOT / "firmware" / "micropython" / "tests" /
                                    "learn_vectors_mp.py"), str(path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    groups = {g: len(cases) for g, cases in VECTORS.items() if isinstance(cases, list)}
    checked = {g: int(n) for g, n in re.findall(r"^group (\w+): (\d+) cases, 0 failed$",
                                                done.stdout, re.M)}
    assert checked == groups
    assert re.search(rf"^{sum(groups.values())} passed, 0 failed$", done.stdout, re.M)


def test_a_cortex_m3_refits_bit_for_bit_within_the_budget() -> None:
    """RF-A1-Q5 on the QEMU Cortex-M3 (firmware/bench/learn_qemu.c): the same image as
    refit.py, statistics of a vowels7-sized read-out in one 4,352 B model slot."""
    rng = np.random.default_rng(3)
    image = onepass_image()
    f, labels = clustered_features(rng, 70)
    stats = rf.Statistics.empty(sum(WIDTHS), N_CLASSES)
    stats.add(f, labels)
    want = rf.refit(image, stats, 10)
    got = bench(image, f, labels, 10)
    assert got.status == 0 and got.cond_bits == want.cond_bits
    assert got.image == want.image.pack()
    assert got.area_bytes == rf.area_size(40, 7) <= 4352
    assert got.refit_instructions > 0 and got.add_instructions > 0


@pytest.mark.parametrize("seed", range(8))
def test_ill_conditioned_problems_refit_or_refuse_alike(seed: int) -> None:
    """RF-S4-S5 near their limits (nearly collinear features, small penalties: RF-S5's
    rescaling, RF-S4's pivot refusal): C and reference agree on status and bytes."""
    rng = np.random.default_rng(500 + seed)
    base = rng.integers(1000, 20000, 4)
    t = rng.integers(-300, 301, 60)
    f = np.stack([base[0] + t, base[1] + t, base[2] - 2 * t, base[3] + 3 * t,
                  base[0] + 2 * t, np.full(60, 5000)], axis=1)
    f = f + rng.integers(-2, 3, f.shape)
    labels = np.arange(60) % 2
    image = onepass_image((6,), (0,), n_classes=2)
    for lambda_shift in (12, 16, 18, 20, 24):
        got, want = _c_and_reference(image, f, labels, lambda_shift)
        assert got == want, lambda_shift
