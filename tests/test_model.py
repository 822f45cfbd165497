"""Tests of the PhyLL model: encoders, overlay, loss gradients, counting, save/load."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phyff.phyll.config import ModelConfig
from phyff.phyll.encoders import get_encoder
from phyff.phyll.goodness import GoodnessSpec, LocalLoss, goodness
from phyff.phyll.goodness_reference import local_loss
from phyff.phyll.layout import hybrid_negatives, lay_out, overlay, resolve_offset, wrong_labels
from phyff.phyll.model import Model, load_model, save_model
from phyff.phyll.optim import Adam
from phyff.phyll.readout import fit_ridge, readout_scores
from phyff.phyll.standin import StandInLayer


class Counting:
    """Wraps a physical layer and records every measure() call."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.n_in, self.n_out, self.identity = layer.n_in, layer.n_out, layer.identity
        self.calls: list[int] = []

    def measure(self, drive: np.ndarray) -> np.ndarray:
        self.calls.append(len(drive))
        return self.layer.measure(drive)


def small_model(**overrides: Any) -> tuple[Model, list[Any]]:
    settings: dict[str, Any] = {"n_classes": 4, "n_features": 5, "encoders": ("amplitude",) * 2,
                                "inference": "goodness"}
    settings.update(overrides)
    config = ModelConfig(**settings)
    layers = [Counting(StandInLayer(10, 8, seed=k)) for k in range(config.n_blocks)]
    return Model.build(config, layers), layers


# ---------------------------------------------------------------------------- encoders
def test_amplitude_encoder_has_unit_norm_and_nonnegative_drive() -> None:
    h = np.array([[3.0, -4.0, 0.0], [-1.0, -1.0, -1.0]])
    e, macs = get_encoder("amplitude").encode(h)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(e[0], [0.6, 0.8, 0.0], atol=1e-6)
    assert (e >= 0).all() and macs == 2 * 2 * 3


def test_binary2_writes_two_bits_per_entry_msb_first() -> None:
    # min-max scaled: 0, 0.2, 0.5, 1.0 -> levels 0 (00), 1 (01), 2 (10), 3 (11)
    h = np.array([[1.0, 2.0, 3.5, 6.0]])
    e, _ = get_encoder("binary2").encode(h)
    assert e.shape == (1, 8) and get_encoder("binary2").drive_width(4) == 8
    assert e.tolist() == [[0, 0, 0, 1, 1, 0, 1, 1]]
    # the reference's thresholds: 0.25 is still level 1, 0.75 still level 2
    e, _ = get_encoder("binary2").encode(np.array([[0.0, 0.25, 0.75, 1.0]]))
    assert e.tolist() == [[0, 0, 0, 1, 1, 0, 1, 1]]
    e, _ = get_encoder("binary2_uniform").encode(np.array([[0.0, 0.3, 0.6, 1.0]]))
    assert e.tolist() == [[0, 0, 0, 1, 1, 0, 1, 1]]
    assert get_encoder("binary2").input_width(40) == 20
    with pytest.raises(ValueError, match="even"):
        get_encoder("binary2").input_width(39)


def test_phase_and_clip_encoders_map_into_unit_range() -> None:
    h = np.array([[-2.0, 0.0, 2.0], [5.0, 5.0, 5.0]])
    e, _ = get_encoder("phase").encode(h)
    np.testing.assert_allclose(e, [[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]])
    e, macs = get_encoder("clip").encode(h)
    assert e.tolist() == [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]] and macs == 0
    with pytest.raises(ValueError, match="unknown encoder"):
        get_encoder("bogus").encode(h)


# ----------------------------------------------------------------- layout and overlay
def test_layout_places_features_after_label_slots() -> None:
    assert resolve_offset(20, 12, 7, None) == 8  # the paper's [8 zeros, 12 features]
    x = lay_out(np.arange(1.0, 4.0)[None, :], 8, 4)
    assert x.tolist() == [[0, 0, 0, 0, 1, 2, 3, 0]]
    with pytest.raises(ValueError, match="21 inputs, but the first block takes 20"):
        resolve_offset(20, 14, 7, None)
    with pytest.raises(ValueError, match=r"feature_offset=10 does not fit.*from 7 to 8"):
        resolve_offset(20, 12, 7, 10)


def test_overlay_writes_max_abs_per_sample_or_per_batch() -> None:
    x = np.array([[9.0, 0.0, 0.0, 1.0, -3.0], [0.0, 0.0, 0.0, 0.5, 2.0]])
    labels = np.array([1, 2])
    per_sample = overlay(x, labels, 3, "sample")
    assert per_sample.tolist() == [[0, 3, 0, 1, -3], [0, 0, 2, 0.5, 2]]
    per_batch = overlay(x, labels, 3, "batch")
    assert per_batch.tolist() == [[0, 3, 0, 1, -3], [0, 0, 3, 0.5, 2]]
    assert x[0, 0] == 9.0  # the input is not modified


def test_wrong_labels_are_never_the_true_label_and_cover_all_others() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 400)
    wrong = wrong_labels(y, 5, rng)
    assert (wrong != y).all() and wrong.min() >= 0 and wrong.max() < 5
    counts = np.bincount(wrong[y == 2], minlength=5)
    assert counts[2] == 0 and (counts[[0, 1, 3, 4]] > 70).all()  # ~100 each
    assert not np.array_equal(wrong, wrong_labels(y, 5, rng))  # fresh draw


def test_hybrid_negatives_mix_two_different_samples() -> None:
    rng = np.random.default_rng(1)
    x = np.zeros((6, 12))
    x[:, 2:] = np.arange(6)[:, None] + 1.0  # sample i has value i + 1 everywhere
    neg, _ = hybrid_negatives(x, 2, 12, rng)
    assert (neg[:, :2] == 0).all()
    for i in range(6):
        values = set(neg[i, 2:].tolist())
        assert values <= {float(i + 1), *{float(v) for v in x[:, 2]}}
        assert values != {float(i + 1)}  # not a copy of itself


# --------------------------------------------------------------- loss and gradients
def finite_differences(value: Callable[[np.ndarray], float], param: np.ndarray) -> np.ndarray:
    """Central differences of value(param), one entry at a time."""
    grad = np.zeros_like(param)
    step = 1e-6
    for idx in np.ndindex(param.shape):
        up, down = param.copy(), param.copy()
        up[idx] += step
        down[idx] -= step
        grad[idx] = (value(up) - value(down)) / (2 * step)
    return grad


def numeric_gradient(loss: LocalLoss, za: np.ndarray, param: np.ndarray) -> np.ndarray:
    scratch = np.empty_like(param)

    def value(p: np.ndarray) -> float:
        loss(za, p, scratch)
        return loss.take_stats()[0]

    return finite_differences(value, param)


@pytest.mark.parametrize("kind,reduce", [("cosine", "mean"), ("ff_v1", "mean"), ("ff_v1", "sum")])
@pytest.mark.parametrize("skip", [True, False])
def test_fused_gradient_matches_finite_differences_and_the_plain_reference(
        kind: str, reduce: str, skip: bool) -> None:
    """Three oracles for LocalLoss: finite differences of it, the row-by-row reference
    (phyll/goodness_reference.py), and finite differences of that reference."""
    model, layers = small_model(goodness=kind, ff_reduce=reduce, skip=skip, ff_threshold=0.3)
    rng = np.random.default_rng(3)
    x = model.prepare(rng.random((6, 5)))
    h = np.concatenate([overlay(x, rng.integers(0, 4, 6), 4, "sample"),
                        overlay(x, rng.integers(0, 4, 6), 4, "sample")])
    za = model.block_input(0, layers, h)
    assert za.shape[1] == (8 + 10 if skip else 8) + 1
    param = model.params[0].copy()
    loss = model.losses[0]
    grad = np.empty_like(param)
    loss(za, param, grad)
    value, sep = loss.take_stats()
    np.testing.assert_allclose(grad, numeric_gradient(loss, za, param), rtol=1e-5, atol=1e-8)
    spec, xi = model.config.goodness_spec(), model.xis[0]
    ref_value, ref_sep, ref_grad = local_loss(spec, xi, za, param)
    assert value == pytest.approx(ref_value, rel=1e-12)
    assert sep == pytest.approx(ref_sep, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-14)
    numeric = finite_differences(lambda p: local_loss(spec, xi, za, p)[0], param)
    np.testing.assert_allclose(ref_grad, numeric, rtol=1e-5, atol=1e-8)


def test_cosine_loss_value_matches_definition() -> None:
    rng = np.random.default_rng(4)
    za = np.concatenate([rng.standard_normal((8, 5)), np.ones((8, 1))], axis=1)
    param = rng.standard_normal((3, 6))
    xi = rng.standard_normal(3)
    xi /= np.linalg.norm(xi)
    loss = LocalLoss(GoodnessSpec(theta=4.0), xi)
    loss(za, param, np.empty_like(param))
    value, sep = loss.take_stats()
    y = za @ param.T
    g = np.abs(y) @ xi / np.linalg.norm(y, axis=1)
    delta = g[:4] - g[4:]
    assert value == pytest.approx(np.mean(np.log1p(np.exp(-4.0 * delta))))
    assert sep == pytest.approx(delta.mean())
    np.testing.assert_allclose(goodness(GoodnessSpec(), y, xi)[0], g)


def test_adam_matches_the_textbook_update() -> None:
    rng = np.random.default_rng(5)
    p = rng.standard_normal((3, 4))
    ref = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    adam = Adam(p.shape, lr=1e-2)
    for t in range(1, 6):
        g = rng.standard_normal(p.shape)
        adam.step(p, g)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref -= 1e-2 / (1 - 0.9**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**t) + 1e-8)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------- device-query discipline
def test_one_measurement_per_block_per_batch_reused_for_all_inner_steps() -> None:
    model, layers = small_model(inner_steps=10)
    rng = np.random.default_rng(6)
    x = model.prepare(rng.random((9, 5)))
    y = rng.integers(0, 4, 9)
    model.train_batch(layers, x, y, wrong_labels(y, 4, rng))
    assert [layer.calls for layer in layers] == [[18], [18]]
    assert model.meter.queries == 2 * 9 * 2 and model.meter.measure_calls == 2
    model.predict(layers, rng.random((9, 5)))
    assert [layer.calls for layer in layers] == [[18, 36], [18, 36]]  # C*N rows, one call


def test_inference_is_argmax_of_goodness_summed_over_blocks() -> None:
    model, layers = small_model()
    rng = np.random.default_rng(7)
    features = rng.random((5, 5))
    x = model.prepare(features)
    table = model.goodness_table(layers, features)
    assert table.shape == (2, 5, 4)
    for label in range(4):  # the stacked batch equals one overlay at a time
        _, good = model.run_blocks(layers, overlay(x, np.full(5, label), 4, "sample"))
        np.testing.assert_allclose(table[:, :, label], good)
    np.testing.assert_array_equal(model.predict(layers, features), table.sum(0).argmax(1))


def test_training_separates_positives_from_negatives() -> None:
    model, layers = small_model(lr=1e-2)
    rng = np.random.default_rng(8)
    centres = rng.random((4, 5)) * 3
    y = np.repeat(np.arange(4), 10)
    x = model.prepare(centres[y] + 0.05 * rng.standard_normal((40, 5)))
    first = model.train_batch(layers, x, y, wrong_labels(y, 4, rng))
    for _ in range(60):
        last = model.train_batch(layers, x, y, wrong_labels(y, 4, rng))
    assert (last.loss < first.loss).all() and (last.separation > first.separation).all()
    assert np.mean(model.predict(layers, centres[y]) == y) > 0.9


def test_inference_in_chunks_matches_one_call(monkeypatch: Any) -> None:
    import phyff.phyll.model as model_module

    model, layers = small_model(overlay="batch")
    features = np.random.default_rng(12).random((10, 5))
    whole = model.goodness_table(layers, features)
    monkeypatch.setattr(model_module, "INFERENCE_ROWS", 12)  # 3 samples x 4 labels per call
    np.testing.assert_allclose(model.goodness_table(layers, features), whole)
    assert layers[0].calls[-4:] == [12, 12, 12, 4]


def test_float32_option_trains_and_round_trips(tmp_path: Path) -> None:
    model, layers = small_model(dtype="float32", lr=1e-2)
    rng = np.random.default_rng(13)
    x = model.prepare(rng.random((8, 5)))
    y = rng.integers(0, 4, 8)
    for _ in range(5):
        stats = model.train_batch(layers, x, y, wrong_labels(y, 4, rng))
    assert model.params[0].dtype == np.float32 and np.isfinite(stats.loss).all()
    loaded = load_model(save_model(tmp_path / "m.npz", model))
    assert loaded.params[1].dtype == np.float32
    np.testing.assert_array_equal(loaded.params[1], model.params[1])


def test_digital_only_and_no_skip_paths() -> None:
    model, layers = small_model(physical=False)
    assert model.params[0].shape == (10, 10 + 1)  # z = h
    rng = np.random.default_rng(9)
    x = model.prepare(rng.random((4, 5)))
    y = np.arange(4)
    model.train_batch(None, x, y, wrong_labels(y, 4, rng))
    model.predict(None, rng.random((3, 5)))
    assert model.meter.queries == 0 and all(not layer.calls for layer in layers)
    model, layers = small_model(skip=False)
    assert model.params[0].shape == (10, 8 + 1)  # z = p
    za = model.block_input(0, layers, x)
    assert za.shape == (4, 9) and (za[:, -1] == 1).all()


def test_mac_count_of_a_tiny_configuration_by_hand() -> None:
    config = ModelConfig(n_classes=2, n_features=2, encoders=("amplitude", "amplitude"),
                         hidden=2, inner_steps=2)
    layers = [StandInLayer(4, 3, seed=0), StandInLayer(4, 3, seed=1)]
    model = Model.build(config, layers)
    x = model.prepare(np.array([[1.0, 2.0], [3.0, 1.0], [0.5, 0.5]]))
    y = np.array([0, 1, 0])
    model.train_batch(layers, x, y, 1 - y)
    # M = 6 rows (3 pos + 3 neg), n = 3 pairs.
    # block 0: d_in 4, z = [p(3), h(4)] + bias -> q = 8, o = 4 (next block's input).
    #   encode 2*M*d = 48; per step: forward+backward 2*M*o*q = 384,
    #   goodness/gradient 5*M*o + 6*M + n = 120 + 36 + 3 = 159, Adam 5*o*q = 160;
    #   2 steps -> 1406; output for block 1: M*o*q = 192.   total 1646
    # block 1: q = 8, o = 2 (hidden): encode 48; step 192 + (60 + 36 + 3) + 80 = 371;
    #   2 steps -> 742; last block: no output product.      total 790
    assert model.meter.macs == 1646 + 790
    model.meter.macs = 0
    model.goodness_table(layers, np.array([[1.0, 2.0]]))
    # R = C*N = 2 rows. block 0: encode 16, forward R*o*q = 64, goodness 2*R*o + R = 18
    # block 1: encode 16, forward 32, goodness 2*R*2 + R = 10
    assert model.meter.macs == (16 + 64 + 18) + (16 + 32 + 10)


def test_scores_are_the_one_inference_predict_and_the_estimator_use() -> None:
    model, layers = small_model(theta=3.0)
    rng = np.random.default_rng(8)
    features = rng.random((6, 5))
    model.fit_readout(layers, rng.random((12, 5)), np.arange(12) % 4)
    goodness_scores = model.scores(layers, features, "goodness")
    np.testing.assert_allclose(goodness_scores, model.goodness_table(layers, features).sum(0))
    assert model.logit_scale("goodness") == 3.0 and model.logit_scale("onepass") == 1.0
    before = model.meter.copy()
    onepass = model.scores(layers, features, "onepass")
    spent = model.meter.since(before)
    assert onepass.shape == (6, 4) and spent.queries == 6 * 2  # the neutral overlay, K blocks
    start = model.meter.copy()
    feats = model.embed(layers, features)
    embed_macs = model.meter.since(start).macs
    expected, read_macs = readout_scores(model.readout, feats)
    np.testing.assert_allclose(onepass, expected)
    assert spent.macs == embed_macs + read_macs  # the read-out's products counted too
    for kind in ("goodness", "onepass"):
        np.testing.assert_array_equal(model.predict(layers, features, kind),
                                      model.scores(layers, features, kind).argmax(1))


# --------------------------------------------------------------------- read-out
def test_ridge_readout_fits_linearly_separable_classes() -> None:
    rng = np.random.default_rng(10)
    y = np.repeat(np.arange(3), 20)
    feats = np.eye(3)[y] * 2 + 0.1 * rng.standard_normal((60, 3))
    weights, macs = fit_ridge(feats, y, 3, 1e-3)
    scores, _ = readout_scores(weights, feats)
    assert (scores.argmax(1) == y).all() and macs > 0
    with pytest.raises(ValueError, match="fitted on a different model"):
        readout_scores(weights, feats[:, :2])


# ------------------------------------------------------------------ save and load
def test_save_load_round_trip(tmp_path: Path) -> None:
    model, layers = small_model(goodness="cosine", overlay="batch", theta=5.0)
    rng = np.random.default_rng(11)
    x = model.prepare(rng.random((6, 5)))
    y = rng.integers(0, 4, 6)
    model.train_batch(layers, x, y, wrong_labels(y, 4, rng))
    meta = {"board": {"name": "stand-in", "caps": [1, 2]}, "dataset": "toy"}
    path = save_model(tmp_path / "m.npz", model, meta)
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]  # no temporary files left behind
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.metadata == meta
    for k in range(model.n_blocks):
        np.testing.assert_array_equal(loaded.weights(k), model.weights(k))
        np.testing.assert_array_equal(loaded.bias(k), model.bias(k))
        np.testing.assert_array_equal(loaded.xis[k], model.xis[k])
    features = rng.random((7, 5))
    np.testing.assert_array_equal(loaded.goodness_table(layers, features),
                                  model.goodness_table(layers, features))


def test_load_reports_missing_corrupt_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no phyff-model file"):
        load_model(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(bad)
    model, _ = small_model()
    path = save_model(tmp_path / "m.npz", model)
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt"):
        load_model(truncated)
    from phyff.phyll.npzio import write_npz_atomic

    write_npz_atomic(tmp_path / "new.npz", {}, {"format": "phyff-model", "format_version": 99})
    with pytest.raises(ValueError, match="version 99"):
        load_model(tmp_path / "new.npz")


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch: Any) -> None:
    model, _ = small_model()
    path = save_model(tmp_path / "m.npz", model, {"n": 1})
    before = path.read_bytes()

    def explode(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, model, {"n": 2})
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.npz"]


# --------------------------------------------------------------------- validation
def test_validation_errors_say_what_is_wrong() -> None:
    model, layers = small_model()
    with pytest.raises(ValueError, match="NaN or inf"):
        model.prepare(np.array([[0.0, np.nan, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \(samples, 5\)"):
        model.prepare(np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        model.check_labels(np.array([0, 4]), 2)
    with pytest.raises(ValueError, match="integer labels"):
        model.check_labels(np.array([0.5, 1.0]), 2)

    class Broken:
        n_in, n_out, identity = 10, 8, {}

        def __init__(self, result: np.ndarray) -> None:
            self.result = result

        def measure(self, drive: np.ndarray) -> np.ndarray:
            return self.result

    x = model.prepare(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"returned shape \(2, 7\), expected \(2, 8\)"):
        model.block_input(0, [Broken(np.zeros((2, 7)))], x)
    with pytest.raises(ValueError, match="NaN or inf readings"):
        model.block_input(0, [Broken(np.full((2, 8), np.nan))], x)
    with pytest.raises(ValueError, match="10 drive / 9 sense channels; block 0 was built for"):
        model.check_layers([StandInLayer(10, 9), StandInLayer(10, 8)])
    with pytest.raises(ValueError, match="2 physical layers for 3 blocks"):
        Model.build(ModelConfig(4, 5, encoders=("amplitude",) * 3), layers)
    with pytest.raises(ValueError, match="unknown goodness"):
        ModelConfig(4, 5, goodness="energy")
