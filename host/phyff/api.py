"""A scikit-learn estimator around the PhyLL trainer, for notebooks and pipelines.

`PhyLLClassifier` trains a physical network on a board (real or emulated) with
``fit(X, y)`` and classifies with ``predict`` / ``predict_proba`` / ``score``,
following scikit-learn's estimator rules, so ``clone``, ``GridSearchCV``,
``Pipeline`` and ``cross_val_score`` work with it:

1. The constructor only stores its arguments; everything is checked in `fit`.
2. Hyperparameters are the trainer's settings by their own names: the common
   ones are constructor arguments, any other field of `TrainConfig` /
   `ModelConfig` goes in ``settings``. ``None`` means "the preset's value".
3. The preset (the paper's settings for a medium) is ``preset``, else the one
   named like the board's medium (acoustic, microwave, optical), else acoustic.
4. Labels may be anything `numpy.unique` sorts (strings, ints); they are mapped
   to 0..C-1 through ``classes_``.
5. Features are scaled for the board by a per-feature scale fitted on the
   training rows only (see `FeatureScaler`); ``predict`` applies the same scale.
6. ``board`` is a URL (``emu://acoustic?seed=1``, a serial port, ``socket://``).
   The board is opened for each ``fit`` / ``predict`` / ``predict_proba`` call
   and closed after it, so the estimator stays picklable and clonable and an
   emulated board answers the same inputs with the same readings on every call.
7. A fitted classifier only predicts through a board like the one it was
   trained on (same kind, medium, unit, channel counts, converters and
   protocol level: `phyff.training.identity`, the rule `phyff eval` applies);
   another one is refused, since the learned weights are specific to that
   physical system.
8. Ctrl-C during ``fit`` (KeyboardInterrupt) still stops the program, but the
   classifier first takes the model of the last completed epoch (a notebook
   keeps what it trained); before the first epoch completes nothing is kept.

The estimator is a thin shell, so there is one trainer to trust: the training
itself is `phyff.training.loop.EpochLoop`, the very loop `phyff train` runs.
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from phyff._version import __version__
from phyff.board import Board, BoardLayer, board_layers
from phyff.ondevice.deploy import Deployment, calibrate, features_q15
from phyff.ondevice.deploy import deploy as deploy_model
from phyff.ondevice.export import write_arduino_sketch, write_c_header
from phyff.phyll.model import Model, load_model, save_model
from phyff.phyll.transform import METADATA_KEY as TRANSFORM_KEY
from phyff.phyll.transform import InputTransform
from phyff.phyll.transform import from_metadata as transform_from_metadata
from phyff.protocol.wire import LearnReply, ModelInfo, RefitReply
from phyff.training.config import PRESETS, TrainConfig
from phyff.training.identity import board_mismatches
from phyff.training.loop import EpochLoop, new_model, prepare

__all__ = ["FeatureScaler", "PhyLLClassifier"]

ESTIMATOR_FORMAT = "phyff-sklearn-estimator"
ESTIMATOR_FORMAT_VERSION = 1

SCALINGS: tuple[str, ...] = ("robust", "maxabs", "none")
ROBUST_QUANTILE = 99.0  # percent; the scale of a feature under scaling="robust"

# Settings the estimator owns or derives from the data, so they may not go in `settings`.
_DERIVED = {"n_classes", "n_features", "model"}


@dataclass(frozen=True)
class FeatureScaler:
    """Per-feature division by a scale fitted on training rows, then clipping.

    Why: a medium takes drive values in a fixed range and the label overlay is
    written at the sample's largest |feature|, so features must share one scale
    (the paper feeds values in [0, 1]). Three modes:

    1. ``robust`` (default): scale = the 99th percentile of |x| per feature, and
       scaled values are clipped to [-1, 1]. A few outliers neither shrink every
       other sample (as a max would) nor reach the board at extreme drive.
    2. ``maxabs``: scale = max |x| per feature, no clipping: what the datasets
       package does (``phyff.datasets``), so results match ``phyff train``.
    3. ``none``: the data are already scaled (e.g. arrays from phyff.datasets).

    A feature that is 0 on every training row keeps scale 1. Signs and zeros are
    kept (no centring): the amplitude encoder uses |h|, and a zero means "no drive".
    """

    mode: str
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray, mode: str) -> FeatureScaler:
        """Fit on training rows x (N, F)."""
        if mode not in SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got {mode!r}")
        a = np.abs(np.asarray(x, dtype=np.float64))
        if mode == "none":
            s = np.ones(a.shape[1])
        elif mode == "maxabs":
            s = a.max(axis=0)
        else:
            s = np.percentile(a, ROBUST_QUANTILE, axis=0)
            # a feature whose 99th percentile is 0 but which has outliers: use its max
            s = np.where(s > 0, s, a.max(axis=0))
        s = np.where(s > 0, s, 1.0)
        return cls(mode, tuple(float(v) for v in s))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled copy of x (N, F)."""
        out = np.asarray(x, dtype=np.float64) / np.asarray(self.scale)
        if self.mode == "robust":
            np.clip(out, -1.0, 1.0, out=out)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureScaler:
        return cls(str(data["mode"]), tuple(float(v) for v in data["scale"]))


@dataclass
class _Data:
    """The dataset object the training loop reads (phyff.training.loop.Dataset)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str = "PhyLLClassifier.fit"


class _Loop(EpochLoop):
    """The training loop; without a validation set only the training accuracy is measured."""

    has_test: bool = True

    def accuracies(self) -> tuple[float, float]:
        if self.has_test:
            return super().accuracies()
        model, d = self.model, self.data
        if model.uses_readout:
            pred = self.fit_readout()
        else:
            pred = model.predict(self.layers, d.x_train)
        # test_acc None: the loop's records mark "not evaluated" that way
        return float(np.mean(pred == d.y_train)), None  # type: ignore[return-value]


class PhyLLClassifier(ClassifierMixin, BaseEstimator):
    """A physical neural network trained by PhyLL (forward-forward), as a classifier.

    Parameters (``None``: the preset's value; see `phyff train --help` for each):

    board: URL of the board the network runs on (rule 6 of the module docstring).
    preset: "acoustic", "microwave" or "optical"; None follows the board's medium.
    epochs, lr, inner_steps, batch_size, eval_every, n_blocks, encoder, skip,
    theta, goodness, schedule, inference: the trainer's settings of the same
    names (defaults as `phyff train`: the layer-wise cached schedule and one-pass
    inference; "simultaneous" and "goodness" are the paper's). ``batch_size``
    also takes "full" (the whole training set per step). Each evaluation
    (every ``eval_every`` epochs) measures C overlays of every sample per block,
    so raise ``eval_every`` to save board time.
    seed: seeds weights, goodness directions, shuffling and negatives.
    scaling: how features are scaled for the board (`FeatureScaler`).
    settings: any other `TrainConfig` / `ModelConfig` field by name, e.g.
        ``{"overlay": "batch", "dtype": "float32"}``.
    verbose: print one line per epoch.

    Attributes after fit: ``classes_``, ``n_features_in_`` (and
    ``feature_names_in_`` for DataFrames), ``model_`` (the `phyff.phyll.model.Model`),
    ``config_`` (the `TrainConfig` used), ``scaler_``, ``history_`` (one record
    per epoch, see `phyff.training.loop`; plus cumulative ``total_queries`` and
    ``total_macs``), ``n_epochs_``, ``n_device_queries_`` (board rows measured in
    training and its evaluations), ``n_digital_macs_``, ``board_identity_``.
    """

    def __init__(
        self,
        board: str = "emu://acoustic?seed=1",
        *,
        preset: str | None = None,
        epochs: int | None = None,
        lr: float | None = None,
        inner_steps: int | None = None,
        batch_size: int | str | None = None,
        eval_every: int | None = None,
        n_blocks: int | None = None,
        encoder: str | Sequence[str] | None = None,
        skip: bool | None = None,
        theta: float | None = None,
        goodness: str | None = None,
        schedule: str | None = None,
        inference: str | None = None,
        seed: int = 0,
        scaling: str = "robust",
        settings: dict[str, Any] | None = None,
        verbose: bool = False,
    ) -> None:
        self.board = board
        self.preset = preset
        self.epochs = epochs
        self.lr = lr
        self.inner_steps = inner_steps
        self.batch_size = batch_size
        self.eval_every = eval_every
        self.n_blocks = n_blocks
        self.encoder = encoder
        self.skip = skip
        self.theta = theta
        self.goodness = goodness
        self.schedule = schedule
        self.inference = inference
        self.seed = seed
        self.scaling = scaling
        self.settings = settings
        self.verbose = verbose

    # ------------------------------------------------------------ settings
    _EXPLICIT = ("epochs", "lr", "inner_steps", "batch_size", "eval_every", "n_blocks",
                 "encoder", "skip", "theta", "goodness", "schedule", "inference")

    def _overrides(self) -> dict[str, Any]:
        """The flat training settings this estimator asks for (before the preset)."""
        extra = {} if self.settings is None else self.settings
        if not isinstance(extra, Mapping):
            raise TypeError(
                f"settings must be a dict of training settings by name, got "
                f"{type(extra).__name__}"
            )
        given = {name: getattr(self, name) for name in self._EXPLICIT}
        given = {k: v for k, v in given.items() if v is not None}
        given["seed"] = self.seed
        clash = sorted(set(extra) & (set(given) | {"preset"}))
        if clash:
            raise ValueError(
                f"{clash} given both as constructor arguments and in settings; give each once"
            )
        derived = sorted(set(extra) & _DERIVED)
        if derived:
            raise ValueError(
                f"settings {derived} come from the data (n_classes, n_features) or the "
                "estimator itself; remove them from settings"
            )
        if given.get("batch_size") == "full":
            given["batch_size"] = None
        elif isinstance(given.get("batch_size"), str):
            raise ValueError(
                f"batch_size must be a positive int, 'full' or None, got {self.batch_size!r}"
            )
        # numpy scalars (as a parameter grid yields) become plain numbers for the config files
        return {k: v.item() if isinstance(v, np.generic) else v
                for k, v in {**given, **extra}.items()}

    def _config(self, board: Board) -> TrainConfig:
        """The TrainConfig for this board: preset (rule 3) plus the overrides."""
        preset = self.preset
        if preset is None:
            medium = board.caps.medium
            preset = medium if medium in PRESETS else "acoustic"
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
        return TrainConfig.from_preset(preset, **self._overrides())

    @contextmanager
    def _open(self) -> Iterator[Board]:
        if not isinstance(self.board, str) or not self.board:
            raise TypeError(
                f"board must be a board URL such as 'emu://acoustic?seed=1' or "
                f"'/dev/ttyACM0', got {self.board!r}"
            )
        board = Board.open(self.board)
        try:
            yield board
        finally:
            board.close()

    # ------------------------------------------------------------ training
    def fit(self, X: Any, y: Any, *, eval_set: tuple[Any, Any] | None = None) -> PhyLLClassifier:
        """Train on X (n_samples, n_features) and labels y through the board.

        eval_set: optional (X_val, y_val); its accuracy is recorded as
        ``test_acc`` in ``history_`` at evaluation epochs (else None).
        """
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got "
                             f"{self.scaling!r}")
        overrides = self._overrides()
        TrainConfig().with_changes(**overrides)  # unknown or invalid settings fail here
        X, y = validate_data(self, X, y, reset=True, dtype=np.float64)
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"PhyLLClassifier needs samples of at least 2 classes, got one class only "
                f"({classes[0]}); forward-forward training contrasts right and wrong labels"
            )
        if len(X) < 2:
            raise ValueError(f"need at least 2 training samples, got {len(X)}")
        scaler = FeatureScaler.fit(X, self.scaling)
        x_train = scaler.transform(X)
        x_val, y_val = x_train, y_enc
        if eval_set is not None:
            x_val, y_val = self._validation(eval_set, classes, scaler)
        data = _Data(x_train, y_enc.astype(np.int64), x_val, y_val, len(classes))
        names = getattr(self, "feature_names_in_", None)
        self.input_transform_: InputTransform | None = InputTransform.fit(
            scaler.scale, x_train, clip=scaler.mode == "robust",
            class_names=[str(c) for c in classes],
            feature_names=None if names is None else [str(n) for n in names])

        with self._open() as board:
            config = self._config(board)
            layers = board_layers(board, config.n_blocks)
            model, rng = new_model(config, layers, data)
            prepared = prepare(model, layers, data)
            loop = _Loop(config, model, layers, prepared, rng)
            loop.has_test = eval_set is not None
            history: list[dict[str, Any]] = []
            kept: dict[str, np.ndarray] = {}  # weights after the last completed epoch

            def record(epoch: int, model: Model, rec: dict[str, Any]) -> None:
                prev = history[-1] if history else {"total_queries": 0, "total_macs": 0}
                rec["total_queries"] = prev["total_queries"] + rec["queries"] + rec["eval_queries"]
                rec["total_macs"] = prev["total_macs"] + rec["macs"] + rec["eval_macs"]
                history.append(rec)
                kept.clear()
                kept.update({k: v.copy() for k, v in model.arrays().items()})
                if self.verbose:
                    print(_epoch_line(rec, config.epochs), flush=True)

            identity = board.identity()
            try:
                loop.run(0, [record])
                if model.uses_readout and model.readout is None:
                    loop.fit_readout()  # one-pass inference: the read-out on the final blocks
            except KeyboardInterrupt:
                # Rule 8: keep what the completed epochs learned, then stop as asked.
                if history:
                    self._keep_interrupted(Model.from_parts(model.header(), kept), layers,
                                           data, config, classes, scaler, history, identity)
                raise
        return self._set_fitted(model, config, classes, scaler, history, identity)

    def _keep_interrupted(self, model: Model, layers: list[BoardLayer], data: _Data,
                          config: TrainConfig, classes: np.ndarray, scaler: FeatureScaler,
                          history: list[dict[str, Any]], identity: dict[str, Any]) -> None:
        """Take the model of the last completed epoch after Ctrl-C (rule 8)."""
        done = f"training interrupted after epoch {len(history)} of {config.epochs}"
        if model.uses_readout:
            # its read-out must match these weights; the link may not survive the interrupt
            try:
                model.fit_readout(layers, data.x_train, data.y_train)
            except Exception as err:  # the KeyboardInterrupt is what the caller gets
                warnings.warn(f"{done}; the read-out could not be fitted ({err}), so "
                              "nothing was kept", stacklevel=3)
                return
        self._set_fitted(model, config, classes, scaler, history, identity)
        warnings.warn(f"{done}; the classifier holds the model of that epoch", stacklevel=3)

    def _set_fitted(self, model: Model, config: TrainConfig, classes: np.ndarray,
                    scaler: FeatureScaler, history: list[dict[str, Any]],
                    identity: dict[str, Any]) -> PhyLLClassifier:
        self.classes_ = classes
        self.model_ = model
        self.config_ = config
        self.scaler_ = scaler
        self.history_ = history
        self.n_epochs_ = len(history)
        self.n_device_queries_ = int(history[-1]["total_queries"]) if history else 0
        self.n_digital_macs_ = int(history[-1]["total_macs"]) if history else 0
        self.board_identity_ = identity
        return self

    def _validation(self, eval_set: Any, classes: np.ndarray, scaler: FeatureScaler
                    ) -> tuple[np.ndarray, np.ndarray]:
        try:
            x_val, y_val = eval_set
        except (TypeError, ValueError):
            raise ValueError("eval_set must be a pair (X_val, y_val)") from None
        x_val, y_val = validate_data(self, x_val, y_val, reset=False, dtype=np.float64)
        unknown = np.setdiff1d(np.unique(y_val), classes)
        if unknown.size:
            raise ValueError(
                f"eval_set has labels {unknown.tolist()} that are not in the training labels "
                f"{classes.tolist()}"
            )
        return scaler.transform(x_val), np.searchsorted(classes, y_val).astype(np.int64)

    # ----------------------------------------------------------- inference
    def _board_scores(self, X: Any) -> tuple[np.ndarray, float]:
        """The model's class scores (N, C) for X through the board, and their logit scale."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        x = self.scaler_.transform(X)
        model = self.model_
        with self._open() as board:
            self._check_board(board)
            scores = model.scores(board_layers(board, model.n_blocks), x)
        return scores, model.logit_scale()

    def _check_board(self, board: Board) -> None:
        """Rule 7: the board must be the one trained on, by the rule `phyff eval` applies."""
        diff = board_mismatches([self.board_identity_], [board.identity()])
        if diff:
            raise ValueError(
                f"the board at {self.board!r} differs from the one this classifier was trained "
                f"on ({'; '.join(diff)}); its weights only fit that physical system. "
                "Connect that board (set_params(board=...)) or fit again on this one."
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), rows summing to 1.

        The choice: a softmax over classes of the model's class scores
        (`Model.scores`) as logits. One-pass models (the default, and every
        unsupervised one) score with the ridge read-out, taken as it is. Goodness
        models score with the goodness summed over blocks, scaled by the loss's
        own logit scale: theta for the paper's cosine goodness, whose loss
        softplus(-theta (G+ - G-)) makes sigmoid(theta (G+ - G-)) the
        probability that a label is the right one; 1 for Hinton's ff_v1
        goodness (logit g - threshold). For two classes this is exactly that
        sigmoid. Not calibrated; use sklearn's CalibratedClassifierCV when
        calibrated probabilities matter.
        """
        scores, scale = self._board_scores(X)
        return _softmax(scores * scale)

    def predict(self, X: Any) -> np.ndarray:
        """Labels (in the training labels' type) by the model's own inference.

        One-pass models (the default): the class of largest read-out score;
        goodness models: the class whose label overlay gives the largest
        goodness summed over blocks (`Model.scores`).
        """
        scores, _ = self._board_scores(X)
        return self.classes_[np.argmax(scores, axis=1)]

    # ------------------------------------------------------- on the board
    def _calibration(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Calibration rows in this classifier's own input scale, labels as indices."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"{len(X)} calibration rows but {len(y)} labels")
        known = np.isin(y, self.classes_)
        if not known.all():
            raise ValueError(f"calibration label {y[~known][0]!r} is not one of the classes "
                             f"this classifier was fitted on ({list(self.classes_)})")
        return self.scaler_.transform(X), np.searchsorted(self.classes_, y).astype(np.int64)

    def deploy(self, X: Any, y: Any, board: str | Board | None = None, *,
               name: str = "PhyLLClassifier", calibration: int = 256,
               check: int = 64) -> Deployment:
        """Put the fitted model on the board (its model memory) and prove it bit for bit.

        X, y: a few hundred training rows (raw, as passed to fit) to choose the
        fixed-point scales from; they are scaled by this classifier's own scaler.
        board: an open Board or a URL (default: the one fitted on). Returns what
        was loaded and measured (phyff.ondevice.deploy.Deployment); the board
        then classifies by itself (``phyff classify``).
        """
        x, labels = self._calibration(X, y)
        with self._board(board) as b:
            self._check_board(b)
            return deploy_model(self.model_, b, x, labels, name=name[:16],
                                calibration=calibration, check=check,
                                transform=getattr(self, "input_transform_", None))

    def adapt(self, board: str | Board | None, X: Any, y: Any, *,
              lambda_shift: int = 10, keep: bool = False) -> Adaptation:
        """Refit the deployed model's read-out on the board from labelled rows (wire.h
        W-N1-N8): the board measures each row through its physical blocks, accumulates
        the read-out's statistics in exact integers and solves the ridge problem
        (penalty 2^-lambda_shift, learn.h) in fixed point; the new read-out replaces
        the old only if the solve succeeds.

        X, y: raw rows (as passed to fit) and their labels, at most 511 rows (the
        statistics' cap). keep: add to the statistics the board already holds
        instead of starting from none. The host's model_ is not changed (the board's
        read-out is now its own: predict through the board with ``phyff classify``
        or `Board.infer`). Returns what the board learnt and answered.
        """
        x, labels = self._calibration(X, y)
        with self._board(board) as b:
            b.require_learn()
            info = b.model_info()
            if info is None or (info.n_features, info.n_classes) != (
                    self.n_features_in_, len(self.classes_)):
                raise ValueError("the board does not hold this classifier's model: deploy it "
                                 "first (PhyLLClassifier.deploy)")
            x_q = features_q15(x, info.input_exp)
            if not keep:
                b.forget()
            learnt = b.learn(x_q, labels, info=info)
            refit = b.refit(lambda_shift)
            after = b.model_info()
            assert after is not None  # a successful REFIT leaves the model in force
        return Adaptation(learnt, refit, after)

    def export(self, path: str | os.PathLike[str], X: Any, y: Any,
               board: str | Board | None = None, *, name: str = "PhyLLClassifier",
               calibration: int = 256, arduino: bool = False) -> Path:
        """Write the fitted model as a device image compiled into firmware.

        The image is quantised on (X, y) measured through the board, like
        deploy, but not loaded: ``path`` becomes a C header (a const array,
        PROGMEM on AVR, plus the input scaling and class names), or with
        ``arduino`` a sketch folder that boots with the model
        (phyff.ondevice.export). Returns the header's or the folder's path.
        """
        x, labels = self._calibration(X, y)
        with self._board(board) as b:
            self._check_board(b)
            transform = getattr(self, "input_transform_", None)
            cal = calibrate(self.model_, b, x, labels, name=name[:16], calibration=calibration,
                            transform=transform)
            caps = b.caps
        if arduino:
            return write_arduino_sketch(Path(path), cal.quantised.data, caps, transform)
        return write_c_header(Path(path), cal.quantised.data, transform)

    @contextmanager
    def _board(self, board: str | Board | None) -> Iterator[Board]:
        if isinstance(board, Board):
            yield board
            return
        if board is not None:
            with Board.open(board) as opened:
                yield opened
            return
        with self._open() as opened:
            yield opened

    # --------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted classifier to one .npz model file (atomically); returns its path.

        The file is a phyff model file (weights, goodness directions,
        hyperparameters, board identity) whose metadata also holds this
        estimator's parameters, classes, feature scale and history.
        """
        check_is_fitted(self, "model_")
        params = self.get_params(deep=False)
        estimator = {
            "format": ESTIMATOR_FORMAT,
            "format_version": ESTIMATOR_FORMAT_VERSION,
            "params": _jsonable(params),
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str if self.classes_.dtype != object else "O",
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": (self.feature_names_in_.tolist()
                                 if hasattr(self, "feature_names_in_") else None),
            "scaler": self.scaler_.to_dict(),
            "history": self.history_,
            "n_epochs": self.n_epochs_,
        }
        transform = getattr(self, "input_transform_", None)
        metadata = {
            "estimator": estimator,
            TRANSFORM_KEY: None if transform is None else transform.to_dict(),
            "layers": [self.board_identity_] * self.model_.n_blocks,
            "train_config": self.config_.to_dict(),
            "versions": {"phyff": __version__, "numpy": np.__version__,
                         "python": platform.python_version()},
        }
        return save_model(path, self.model_, _jsonable(metadata))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PhyLLClassifier:
        """A fitted classifier from a file written by `save`."""
        model = load_model(path)
        est = model.metadata.get("estimator")
        if not isinstance(est, dict) or est.get("format") != ESTIMATOR_FORMAT:
            raise ValueError(
                f"{path} is a phyff model but was not saved by PhyLLClassifier.save (it has "
                "no classes or feature scale); evaluate it with `phyff eval`, or fit a "
                "PhyLLClassifier and save that"
            )
        if est.get("format_version") != ESTIMATOR_FORMAT_VERSION:
            raise ValueError(
                f"{path} holds estimator format version {est.get('format_version')}; this "
                f"phyff {__version__} reads version {ESTIMATOR_FORMAT_VERSION}. Use a "
                "matching phyff version or fit again."
            )
        params = dict(est["params"])
        known = set(cls._get_param_names())
        params = {k: v for k, v in params.items() if k in known}
        if isinstance(params.get("encoder"), list):
            params["encoder"] = tuple(params["encoder"])
        clf = cls(**params)
        dtype = est["classes_dtype"]
        clf.classes_ = np.asarray(est["classes"], dtype=object if dtype == "O" else dtype)
        clf.n_features_in_ = int(est["n_features_in"])
        if est.get("feature_names_in") is not None:
            clf.feature_names_in_ = np.asarray(est["feature_names_in"], dtype=object)
        clf.scaler_ = FeatureScaler.from_dict(est["scaler"])
        clf.model_ = model
        clf.config_ = TrainConfig.from_dict(model.metadata["train_config"])
        clf.history_ = list(est["history"])
        clf.n_epochs_ = int(est["n_epochs"])
        last = clf.history_[-1] if clf.history_ else {}
        clf.n_device_queries_ = int(last.get("total_queries", 0))
        clf.n_digital_macs_ = int(last.get("total_macs", 0))
        clf.board_identity_ = dict(model.metadata["layers"][0])
        clf.input_transform_ = transform_from_metadata(model.metadata)
        return clf


@dataclass(frozen=True)
class Adaptation:
    """What `PhyLLClassifier.adapt` did on the board: the samples learnt (per class),
    the refit's reply (new image CRC, samples, conditioning) and the model now in force."""

    learnt: LearnReply
    refit: RefitReply
    info: ModelInfo


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _jsonable(value: Any) -> Any:
    """Settings as JSON values (tuples become lists)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _epoch_line(rec: dict[str, Any], epochs: int) -> str:
    line = f"epoch {rec['epoch']}/{epochs}  loss {rec['loss']:.4f}  sep {rec['separation']:.4f}"
    if rec["train_acc"] is not None:
        line += f"  train {100 * rec['train_acc']:.1f}%"
    if rec["test_acc"] is not None:
        line += f"  val {100 * rec['test_acc']:.1f}%"
    return line + f"  queries {rec['total_queries']}"

