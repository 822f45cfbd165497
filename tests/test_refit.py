"""On-device read-out learning (learn.h): the numpy reference and the board's C, bit for bit.

What is checked: the statistics (RF-A1-A4) and their area size (RF-M1);
the fixed-point ridge solve (RF-S1-S5) and its quantisation into the
read-out record (RF-Q1-Q5) against a float ridge fit of the same samples
(the host's `fit_ridge`, whose centred formulation RF-S2's unpenalised bias
reproduces); every refusal (RF-E1); and the C library (shared/src/learn.c,
through the cffi module) against the reference on random problems.
"""

from __future__ import annotations

import numpy as np
import pytest

from phyff.ondevice import refit as rf
from phyff.phyll.readout import fit_ridge
from phyff.protocol.model_image import (
    BLOCK_PHYSICAL,
    BLOCK_SKIP,
    INFERENCE_ONEPASS,
    MAGIC,
    VERSION,
    Block,
    BlockHead,
    ModelHead,
    ModelImage,
    Readout,
    ReadoutHead,
)

N_CLASSES = 7
WIDTHS = (20, 20)  # vowels7: two blocks of 20 outputs


def onepass_image(widths: tuple[int, ...] = WIDTHS, out_exps: tuple[int, ...] = (1, 2),
                  n_classes: int = N_CLASSES, readout_abs: int = 1, score_exp: int = 2
                  ) -> ModelImage:
    """A one-pass image whose read-out is to be refitted (block weights do not matter here)."""
    n_features = 12
    width = n_features + n_classes
    head = ModelHead(MAGIC, VERSION, len(widths), INFERENCE_ONEPASS, n_features, n_classes,
                     width, n_classes, 1, 0, score_exp, 0, readout_abs, "refit", "b", "m")
    blocks = []
    d_in, in_exp = width, 0
    for d_out, e in zip(widths, out_exps, strict=True):
        bh = BlockHead(0, BLOCK_PHYSICAL | BLOCK_SKIP, d_in, d_in, 4, d_out, in_exp, e, 0, 0, 0,
                       15, 0, 1, 0)
        blocks.append(Block(bh, np.zeros((d_out, 4 + d_in), np.int16), np.zeros(d_out, np.int16),
                            np.zeros(d_out, np.int16)))
        d_in, in_exp = d_out, e
    n_in = sum(widths)
    readout = Readout(ReadoutHead(n_in, n_classes, 0, 0), np.ones((n_classes, n_in), np.int16),
                      np.ones(n_classes, np.int16))
    return ModelImage(head, blocks, readout)


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
    ro = image.readout
    assert ro is not None
    acc = np.zeros((len(f), image.head.n_classes), np.int64)
    col = 0
    for blk in image.blocks:
        d = blk.head.d_out
        part = f[:, col:col + d] @ ro.weights[:, col:col + d].astype(np.int64).T
        acc += part << blk.head.readout_shift
        col += d
    acc += ro.bias.astype(np.int64) << ro.head.shift_b
    s = ro.head.shift_out
    scores = (acc + ((1 << (s - 1)) if s else 0)) >> s
    return scores * 2.0 ** (image.head.score_exp - 31)


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
