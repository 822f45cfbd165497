"""The public Python API: `phyff.PhyLLClassifier` as a scikit-learn estimator.

Everything runs on emulated boards with small synthetic data and few epochs.
The scikit-learn conformance suite runs twice: on a noise-free emulated board,
where every applicable check must pass, and on the default (noisy) one, where
the checks listed in NOISY_BOARD_FAILS fail for a physical reason.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import phyff
from phyff.api import FeatureScaler, PhyLLClassifier
from phyff.board.client import Board
from phyff.ondevice.deploy import features_q15
from phyff.phyll.model import save_model

BOARD = "emu://acoustic?seed=1"
QUIET_BOARD = "emu://acoustic?seed=1&noise=0"
# The paper's schedule and inference, which most checks below describe.
PAPER: dict[str, str] = {"schedule": "simultaneous", "inference": "goodness"}


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three separable classes, 6 features; 90 training and 30 held-out samples."""
    x, y = make_blobs(n_samples=120, centers=3, n_features=6, cluster_std=1.5, random_state=0)
    return x[:90], y[:90], x[90:], y[90:]


@pytest.fixture(scope="module")
def fitted(blobs) -> PhyLLClassifier:
    x, y, _, _ = blobs
    return PhyLLClassifier(BOARD, **PAPER, epochs=8, eval_every=4).fit(x, y)


# ------------------------------------------------------------------ basics
def test_public_names() -> None:
    assert phyff.PhyLLClassifier is PhyLLClassifier
    with phyff.open_board(BOARD) as board:
        assert board.n_drive == 20


def test_fit_predict_score(blobs, fitted: PhyLLClassifier) -> None:
    _, _, x_te, y_te = blobs
    assert fitted.classes_.tolist() == [0, 1, 2]
    assert fitted.n_features_in_ == 6
    assert fitted.score(x_te, y_te) >= 0.9
    pred = fitted.predict(x_te)
    assert pred.shape == (30,) and set(pred.tolist()) <= {0, 1, 2}
    assert fitted.config_.preset == "acoustic"  # the board's medium names the preset


def test_metrics_after_fit(fitted: PhyLLClassifier) -> None:
    h = fitted.history_
    assert [r["epoch"] for r in h] == list(range(1, 9)) and fitted.n_epochs_ == 8
    # evaluated every 4th epoch (and the last); no eval_set, so no test accuracy
    assert [r["train_acc"] is not None for r in h] == [False, False, False, True] * 2
    assert all(r["test_acc"] is None for r in h)
    queries = sum(r["queries"] + r["eval_queries"] for r in h)
    assert fitted.n_device_queries_ == queries == h[-1]["total_queries"]
    # full batch, 2N rows (positives + negatives) per block and epoch; 2 blocks
    assert h[0]["queries"] == 2 * 90 * 2
    # an evaluation: C overlays of every training sample through each block
    assert h[3]["eval_queries"] == 3 * 90 * 2
    assert fitted.n_digital_macs_ == h[-1]["total_macs"] > 0


def test_eval_set_records_validation_accuracy(blobs) -> None:
    x, y, x_te, y_te = blobs
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=2, eval_every=1).fit(x, y, eval_set=(x_te, y_te))
    assert all(r["test_acc"] is not None for r in clf.history_)
    with pytest.raises(ValueError, match="not in the training labels"):
        PhyLLClassifier(BOARD, **PAPER, epochs=1).fit(x, y, eval_set=(x_te, y_te + 5))


def test_predict_proba_is_softmax_of_scaled_goodness(blobs, fitted: PhyLLClassifier) -> None:
    _, _, x_te, _ = blobs
    proba = fitted.predict_proba(x_te)
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert (proba > 0).all()
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(x_te))
    # the documented choice: softmax over classes of theta * goodness summed over blocks
    with phyff.open_board(BOARD) as board:
        layers = phyff.board.board_layers(board, fitted.model_.n_blocks)
        table = fitted.model_.goodness_table(layers, fitted.scaler_.transform(x_te))
    logits = fitted.config_.model.theta * table.sum(axis=0)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, rtol=1e-12)


def test_repeated_predictions_are_identical(blobs, fitted: PhyLLClassifier) -> None:
    """Each call opens the board afresh, so a seeded emulator repeats its readings."""
    _, _, x_te, _ = blobs
    np.testing.assert_array_equal(fitted.predict_proba(x_te), fitted.predict_proba(x_te))


# -------------------------------------------------------------- parameters
def test_get_set_params_and_clone() -> None:
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=3, lr=1e-3, settings={"overlay": "batch"})
    params = clf.get_params()
    for name in ("board", "preset", "epochs", "lr", "inner_steps", "batch_size", "eval_every",
                 "n_blocks", "encoder", "skip", "theta", "goodness", "seed", "scaling",
                 "settings", "verbose"):
        assert name in params
    assert params["epochs"] == 3 and params["settings"] == {"overlay": "batch"}
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == params
    assert twin.settings is not clf.settings  # clone copies, so the two never share state
    assert clf.set_params(epochs=5, seed=2) is clf
    assert (clf.epochs, clf.seed) == (5, 2)
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(not_a_setting=1)


def test_clone_of_fitted_is_unfitted(fitted: PhyLLClassifier) -> None:
    twin = clone(fitted)
    assert not hasattr(twin, "model_")
    with pytest.raises(NotFittedError, match="not fitted"):
        twin.predict(np.zeros((1, 6)))


def test_settings_reach_the_trainer(blobs) -> None:
    x, y, _, _ = blobs
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=1, n_blocks=1, inner_steps=3, batch_size=30,
                          settings={"overlay": "batch", "dtype": "float32"}).fit(x, y)
    cfg = clf.config_
    assert (cfg.n_blocks, cfg.model.inner_steps, cfg.batch_size) == (1, 3, 30)
    assert (cfg.model.overlay, cfg.model.dtype) == ("batch", "float32")
    assert cfg.model.lr == 5e-4  # unset: the preset's value
    full = PhyLLClassifier(BOARD, **PAPER, epochs=1, batch_size="full").fit(x, y)
    assert full.config_.batch_size is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"settings": {"no_such": 1}}, ValueError, r"unknown training settings \['no_such'\]"),
        ({"epochs": 2, "settings": {"epochs": 3}}, ValueError, "both as constructor"),
        ({"settings": {"n_classes": 3}}, ValueError, "come from the data"),
        ({"settings": [("lr", 1)]}, TypeError, "settings must be a dict"),
        ({"lr": -1.0}, ValueError, "lr must be a positive"),
        ({"batch_size": "all"}, ValueError, "'full' or None"),
        ({"scaling": "zscore"}, ValueError, "scaling must be one of"),
        ({"preset": "sonar"}, ValueError, "unknown preset 'sonar'"),
        ({"encoder": "laser"}, ValueError, "unknown encoder 'laser'"),
    ],
)
def test_bad_settings_fail_in_fit_with_a_clear_error(blobs, kwargs, error, match) -> None:
    x, y, _, _ = blobs
    clf = PhyLLClassifier(BOARD, **PAPER, **kwargs)  # the constructor accepts anything
    with pytest.raises(error, match=match):
        clf.fit(x, y)


def test_preset_follows_the_board_medium(blobs) -> None:
    x, y, _, _ = blobs
    clf = PhyLLClassifier("emu://optical?seed=1", **PAPER, epochs=1, eval_every=5)
    clf.fit(x[:30], y[:30])
    assert clf.config_.preset == "optical"
    assert clf.config_.model.encoders == ("phase", "phase") and not clf.config_.model.skip
    own = PhyLLClassifier("emu://optical?seed=1", **PAPER, preset="acoustic", epochs=1)
    own.fit(x[:30], y[:30])
    assert own.config_.preset == "acoustic" and own.config_.model.skip


# ------------------------------------------------------------------ labels
def test_string_labels(blobs, tmp_path: Path) -> None:
    x, y, x_te, y_te = blobs
    names = np.array(["ah", "ee", "oo"])
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=8, eval_every=8).fit(x, names[y])
    assert clf.classes_.tolist() == ["ah", "ee", "oo"]
    pred = clf.predict(x_te)
    assert pred.dtype.kind == "U" and set(pred.tolist()) <= {"ah", "ee", "oo"}
    assert clf.score(x_te, names[y_te]) >= 0.9
    back = PhyLLClassifier.load(clf.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.predict(x_te), pred)
    assert back.classes_.dtype == clf.classes_.dtype


def test_labels_need_two_classes(blobs) -> None:
    x, _, _, _ = blobs
    with pytest.raises(ValueError, match="at least 2 classes"):
        PhyLLClassifier(BOARD, **PAPER, epochs=1).fit(x, np.zeros(len(x)))
    with pytest.raises(ValueError, match="Unknown label type"):
        PhyLLClassifier(BOARD, **PAPER, epochs=1).fit(x, np.linspace(0, 1, len(x)))


# ----------------------------------------------------------------- features
def test_bad_features_get_clear_errors(blobs, fitted: PhyLLClassifier) -> None:
    x, y, x_te, _ = blobs
    nan = x.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PhyLLClassifier(BOARD, **PAPER, epochs=1).fit(nan, y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        fitted.predict(x_te[0])
    with pytest.raises(ValueError, match="X has 5 features, but PhyLLClassifier is expecting 6"):
        fitted.predict(x_te[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(np.full((2, 6), np.nan))


def test_more_features_than_the_board_has_channels_still_train(blobs) -> None:
    x, y, x_te, _ = blobs
    wide = np.hstack([x, x, x])  # 18 features + 3 label slots > 20 drive channels
    fitted = PhyLLClassifier(BOARD, **PAPER, epochs=2).fit(wide, y)
    # the label is superposed on the 18 features, which fit one row of 20
    assert fitted.model_.label_mode == "add" and fitted.model_.block_rows == [1, 1]
    wider = np.hstack([x] * 5)  # 30 features: two device rows per block
    fitted = PhyLLClassifier(BOARD, **PAPER, epochs=2).fit(wider, y)
    assert fitted.model_.block_rows == [2, 2]
    assert fitted.predict(np.hstack([x_te] * 5)).shape == (len(x_te),)


def test_robust_scaler_ignores_outliers() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, size=(200, 3))
    x[0, 0] = 1e6  # one wild reading
    x[:, 2] = 0.0  # a feature that never moves keeps scale 1
    robust = FeatureScaler.fit(x, "robust")
    assert robust.scale[0] < 3.0 and robust.scale[2] == 1.0
    out = robust.transform(x)
    assert out.min() >= -1.0 and out.max() <= 1.0 and out[0, 0] == 1.0
    assert np.abs(out[1:, 0]).max() > 0.9  # the other samples keep their range
    maxabs = FeatureScaler.fit(x, "maxabs")
    assert maxabs.scale[0] == 1e6
    np.testing.assert_array_equal(FeatureScaler.fit(x, "none").transform(x), x)
    assert FeatureScaler.from_dict(robust.to_dict()) == robust


@pytest.mark.parametrize("settings", [None, {"unsupervised": True}])
def test_ctrl_c_keeps_the_last_completed_epoch(blobs, monkeypatch, settings) -> None:
    x, y, x_te, _ = blobs
    reference = PhyLLClassifier(BOARD, **PAPER, epochs=2, eval_every=5, settings=settings).fit(x, y)
    epoch = phyff.api._Loop.epoch

    def interrupted(self, n: int):
        if n == 3:
            raise KeyboardInterrupt
        return epoch(self, n)

    monkeypatch.setattr(phyff.api._Loop, "epoch", interrupted)
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=10, eval_every=5, settings=settings)
    with pytest.warns(UserWarning, match="interrupted after epoch 2 of 10"):
        with pytest.raises(KeyboardInterrupt):
            clf.fit(x, y)
    assert clf.n_epochs_ == 2 and len(clf.history_) == 2
    # the same weights as a 2-epoch run: training is seeded and the board deterministic
    for name, value in reference.model_.arrays().items():
        np.testing.assert_array_equal(clf.model_.arrays()[name], value)
    np.testing.assert_array_equal(clf.predict(x_te), reference.predict(x_te))


def test_ctrl_c_in_the_first_epoch_keeps_nothing(blobs, monkeypatch) -> None:
    x, y, _, _ = blobs

    def interrupted(self, n: int):
        raise KeyboardInterrupt

    monkeypatch.setattr(phyff.api._Loop, "epoch", interrupted)
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=10)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(x, y)
    assert not hasattr(clf, "model_")


# -------------------------------------------------------------- persistence
def test_save_load_round_trip(blobs, fitted: PhyLLClassifier, tmp_path: Path) -> None:
    _, _, x_te, _ = blobs
    path = fitted.save(tmp_path / "clf.npz")
    back = PhyLLClassifier.load(path)
    np.testing.assert_array_equal(back.predict(x_te), fitted.predict(x_te))
    np.testing.assert_array_equal(back.predict_proba(x_te), fitted.predict_proba(x_te))
    assert back.get_params() == fitted.get_params()
    assert back.history_ == fitted.history_
    assert back.n_device_queries_ == fitted.n_device_queries_
    assert back.scaler_ == fitted.scaler_
    assert back.config_ == fitted.config_


def test_save_load_keeps_settings(blobs, tmp_path: Path) -> None:
    x, y, x_te, _ = blobs
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=1, encoder=("amplitude", "clip"),
                          settings={"betas": (0.8, 0.99)}).fit(x, y)
    back = PhyLLClassifier.load(clf.save(tmp_path / "s.npz"))
    assert back.encoder == ("amplitude", "clip")
    assert back.config_.model.betas == (0.8, 0.99)
    np.testing.assert_array_equal(back.predict(x_te), clf.predict(x_te))
    refit = clone(back).fit(x, y)  # a loaded estimator's params train the same network
    np.testing.assert_array_equal(refit.predict(x_te), clf.predict(x_te))


def test_unsupervised_model_and_numpy_params(blobs, tmp_path: Path) -> None:
    """Label-free training with a ridge read-out; numpy-typed params (as from a grid) save."""
    x, y, x_te, y_te = blobs
    clf = PhyLLClassifier(BOARD, **PAPER, epochs=np.int64(4), eval_every=4,
                          settings={"unsupervised": True}).fit(x, y)
    assert clf.model_.readout is not None
    assert clf.score(x_te, y_te) >= 0.9
    proba = clf.predict_proba(x_te)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    back = PhyLLClassifier.load(clf.save(tmp_path / "u.npz"))
    assert back.epochs == 4
    np.testing.assert_array_equal(back.predict_proba(x_te), proba)


def test_pickle_round_trip(blobs, fitted: PhyLLClassifier) -> None:
    _, _, x_te, _ = blobs
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict_proba(x_te), fitted.predict_proba(x_te))


def test_load_refuses_a_model_not_saved_by_the_estimator(fitted, tmp_path: Path) -> None:
    path = save_model(tmp_path / "plain.npz", fitted.model_, {"train_config": {}})
    with pytest.raises(ValueError, match=r"not saved by PhyLLClassifier\.save"):
        PhyLLClassifier.load(path)


def test_predict_refuses_another_board(blobs, fitted: PhyLLClassifier) -> None:
    _, _, x_te, _ = blobs
    other = clone(fitted).set_params(board="emu://acoustic?seed=2")
    for name in ("model_", "classes_", "scaler_", "board_identity_", "n_features_in_"):
        setattr(other, name, getattr(fitted, name))
    with pytest.raises(ValueError, match="differs from the one this classifier was trained on"):
        other.predict(x_te)


def test_predict_applies_the_same_identity_rule_as_phyff_eval(blobs,
                                                              fitted: PhyLLClassifier) -> None:
    _, _, x_te, _ = blobs
    other = clone(fitted)
    for name in ("model_", "classes_", "scaler_", "n_features_in_"):
        setattr(other, name, getattr(fitted, name))
    caps = {**fitted.board_identity_["caps"], "level": fitted.board_identity_["caps"]["level"] + 1}
    other.board_identity_ = {**fitted.board_identity_, "caps": caps}
    with pytest.raises(ValueError, match="level: model"):
        other.predict(x_te)


def test_in_a_pipeline(blobs) -> None:
    x, y, _, _ = blobs
    pipe = make_pipeline(StandardScaler(), PhyLLClassifier(BOARD, **PAPER, epochs=4, eval_every=4))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.min() >= 0.8


# ------------------------------------------------- scikit-learn conformance
# The conformance checks fit on small data (up to 10 features, up to 4 classes):
# they fit the 20 drive channels of the emulated acoustic board, so the checks
# that feed other feature counts (check_n_features_in_after_fitting,
# check_fit2d_1feature, check_dtype_object...) apply and pass. On a board with
# fewer drive channels than classes + features, fit refuses the data (see
# test_too_many_features_for_the_board) and those checks would not apply.
#
# Read noise is drawn per measured row, in the order rows reach the board (as on
# a real medium, where each measurement has its own noise), so on a noisy board a
# sample's prediction depends on the other rows measured in the same call before
# it. Two checks demand bit-identical outputs whatever the batch holds; they
# cannot hold on a noisy physical system and are expected to fail there. On the
# noise-free board they pass.
NOISY_BOARD_FAILS = {
    "check_methods_sample_order_invariance": (
        "read noise is drawn per measured row in order, so reordering the samples "
        "changes which noise each sample gets"
    ),
    "check_methods_subset_invariance": (
        "read noise is drawn per measured row in order, so a subset's samples are "
        "measured with other noise than in the full batch"
    ),
}


def _expected_failures(estimator: PhyLLClassifier) -> dict[str, str]:
    return {} if "noise=0" in estimator.board else NOISY_BOARD_FAILS


@parametrize_with_checks(
    [
        PhyLLClassifier(QUIET_BOARD, epochs=3, eval_every=100),
        PhyLLClassifier(BOARD, **PAPER, epochs=3, eval_every=100),
    ],
    expected_failed_checks=_expected_failures,
    xfail_strict=True,
)
def test_sklearn_conformance(estimator, check) -> None:
    check(estimator)


def test_defaults_are_the_query_frugal_ones(blobs, tmp_path: Path) -> None:
    """Without pins: layer-wise cached schedule and one-pass inference, as `phyff train`."""
    x, y, x_te, y_te = blobs
    clf = PhyLLClassifier(BOARD, epochs=6).fit(x, y)
    assert (clf.config_.schedule, clf.config_.model.inference) == ("layerwise", "onepass")
    assert clf.score(x_te, y_te) > 0.8
    proba = clf.predict_proba(x_te)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == np.searchsorted(clf.classes_, clf.predict(x_te))).all()
    clf.save(tmp_path / "m.npz")
    again = PhyLLClassifier.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict(x_te), clf.predict(x_te))


# ------------------------------------------------------- on-device adaptation (W-N1-N8)
def test_adapt_refits_the_deployed_read_out_on_the_board(blobs) -> None:
    x, y, x_test, y_test = blobs
    labels = np.array(["a", "b", "c"])[y]
    clf = PhyLLClassifier(QUIET_BOARD, epochs=6, eval_every=3, inference="onepass").fit(x, labels)
    with Board.open(QUIET_BOARD) as board:
        deployed = clf.deploy(x, labels, board)
        result = clf.adapt(board, x, labels, lambda_shift=8)
        assert result.learnt.samples_total == len(x) == result.refit.samples
        assert result.learnt.class_counts.tolist() == np.bincount(y).tolist()
        assert result.info.refitted and result.info.readout_samples == len(x)
        assert result.info.crc32 == result.refit.crc32 != deployed.info.crc32
        assert board.caps.model_crc == result.refit.crc32
        # the board's own read-out classifies the held-out rows
        x_q = features_q15(clf.scaler_.transform(x_test), result.info.input_exp)
        assert np.mean(board.infer(x_q, info=result.info).classes == y_test) >= 0.8
        with pytest.raises(ValueError, match="not one of the classes"):
            clf.adapt(board, x[:3], ["a", "b", "zebra"])
