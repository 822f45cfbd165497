"""Strong digital baselines: the models a data scientist would try before building a medium.

Why they are here: "does the medium help?" has no answer without the best
model that needs no medium at all. These run on the task's data with no
device query (the board is opened only to read its layer widths), and report
the same currencies as every other method:

- ``logreg``: scikit-learn's LogisticRegression (L-BFGS, default penalty) on
  standardised features: the first model anyone tries;
- ``mlp``: scikit-learn's MLPClassifier (one ReLU hidden layer, Adam, its
  defaults otherwise, up to 1,000 epochs: at the default 200 it stops before
  converging on the small sets; early stopping on a tenth of vowels7's 210
  samples stopped at 55 %) on standardised features, its hidden width chosen so
  that its digital multiply-adds per inference do not exceed those of the
  product's PhyLL (layer-wise schedule, one-pass inference) on the same task
  and board, as counted by PhyLL's own meter (`phyll_inference_macs`);
- ``digital-elm``: a digital extreme learning machine: as many fixed random
  tanh features of the standardised input as the physical layers give
  readings (K blocks x the board's outputs), plus the input itself, and a
  ridge read-out with the penalty chosen on a held-out fifth, exactly as the
  physical ``elm`` (`phyff.compare.baselines.elm`); the digital twin of the
  question "is a random physical layer better than a random digital one?";
- ``ridge-lsq``: the least-squares ridge classifier on the raw features (one-hot
  targets, closed form) that `elm` uses as its read-out: a weak linear model,
  kept to show what a least-squares read-out alone does.

MAC accounting (`phyff.phyll.accounting`'s rule: one multiply with its add):
inference counts the products of the deployed model, with the standardisation
folded into the first weights (a deployed model would fold it): logreg d x C,
mlp d x H + H x C, digital-elm d x F + (F + d) x C. Training MACs of the
scikit-learn models are counted from the iterations their solvers report:
logreg one forward and one gradient pass over the training set per L-BFGS
iteration (2 n d C; line-search re-evaluations are not seen, so a lower
bound), mlp a forward and a backward pass per sample and epoch (3 n P for P
weights) plus Adam's 5 per weight per step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from phyff.phyll.accounting import Meter
from phyff.phyll.model import PhysicalLayer
from phyff.phyll.readout import fit_ridge_held_out

DIGITAL_METHODS: tuple[str, ...] = ("logreg", "mlp", "digital-elm", "ridge-lsq")
ALPHAS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MLP_BATCH = 200  # scikit-learn's default minibatch: min(200, n)
MLP_MAX_ITER = 1000


@dataclass
class Standardiser:
    """Feature means and scales of the training set (test data never seen)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        return cls(x.mean(axis=0), np.maximum(x.std(axis=0), 1e-12))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale


class ShapeLayer:
    """A stand-in for a physical layer that has only its widths (readings all 0.5).

    Used to count PhyLL's digital MACs per inference without a device query:
    the count depends on the widths, never on the readings.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.identity: dict[str, Any] = {"board": "shape only", "n_in": self.n_in,
                                         "n_out": self.n_out}

    def measure(self, drive: np.ndarray) -> np.ndarray:
        return np.full((len(drive), self.n_out), 0.5)


def phyll_inference_macs(config: Any, n_in: int, n_out: int, data: Any) -> float:
    """Digital MACs per sample of one-pass inference of a PhyLL model of `config`.

    Built and run with `ShapeLayer`s of the board's widths, and counted by the
    model's own meter, so the figure is the one a benchmark run of that
    configuration reports (`RunResult.eval_macs` / test samples).
    """
    from phyff.training.loop import new_model

    config = config.with_changes(inference="onepass")
    layers: list[PhysicalLayer] = [ShapeLayer(n_in, n_out)] * config.n_blocks
    model, _ = new_model(config, layers, data)
    x = np.asarray(data.x_train[:8], dtype=np.float64)
    model.fit_readout_on(model.embed(layers, x), np.arange(len(x)) % model.config.n_classes)
    before = model.meter.copy()
    model.predict(layers, x)
    return model.meter.since(before).macs / len(x)


def mlp_width(budget_macs: float, n_features: int, n_classes: int) -> int:
    """Widest single hidden layer with d x H + H x C <= budget (at least 1)."""
    return max(1, math.floor(budget_macs / (n_features + n_classes)))


class DigitalModel:
    """One of the digital baselines: fit on training data, predict, count MACs."""

    def __init__(self, method: str, n_classes: int, seed: int, *, hidden: int = 0,
                 width: int = 0, alphas: Sequence[float] = ALPHAS,
                 holdout: float = 0.2) -> None:
        if method not in DIGITAL_METHODS:
            raise ValueError(f"unknown digital baseline {method!r}; expected one of "
                             f"{', '.join(DIGITAL_METHODS)}")
        self.method, self.n_classes, self.seed = method, n_classes, seed
        self.hidden, self.width = hidden, width
        self.alphas, self.holdout = tuple(alphas), holdout
        self.meter = Meter()
        self.extra: dict[str, float] = {}
        self._std: Standardiser | None = None
        self._model: Any = None
        self._proj: np.ndarray | None = None
        self._readout: np.ndarray | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        n, d = x.shape
        c = self.n_classes
        if self.method == "ridge-lsq":
            self._readout = self._ridge(x, y)
            return
        self._std = Standardiser.fit(x)
        xs = self._std(x)
        self.meter.macs += 2 * x.size
        if self.method == "logreg":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(max_iter=5000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(xs, y)
            iters = int(np.max(model.n_iter_))
            self.meter.macs += iters * 2 * n * d * c
            self.extra["iterations"] = float(iters)
            self._model = model
        elif self.method == "mlp":
            from sklearn.neural_network import MLPClassifier

            model = MLPClassifier(hidden_layer_sizes=(self.hidden,), max_iter=MLP_MAX_ITER,
                                  random_state=self.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(xs, y)
            weights = d * self.hidden + self.hidden * c
            params = weights + self.hidden + c
            epochs = int(model.n_iter_)
            steps = epochs * math.ceil(n / min(MLP_BATCH, n))
            self.meter.macs += epochs * 3 * n * weights + steps * 5 * params
            self.extra["epochs"] = float(epochs)
            self.extra["hidden"] = float(self.hidden)
            self._model = model
        else:  # digital-elm
            rng = np.random.default_rng([self.seed, 0])
            self._proj = np.vstack([rng.standard_normal((d, self.width)) / np.sqrt(d),
                                    rng.uniform(-1.0, 1.0, (1, self.width))])
            self.extra["width"] = float(self.width)
            self._readout = self._ridge(self._features(xs), y, rng)

    def _features(self, xs: np.ndarray) -> np.ndarray:
        """[tanh(W x + b), x] of standardised inputs (digital-elm)."""
        assert self._proj is not None
        d = xs.shape[1]
        h = np.tanh(xs @ self._proj[:d] + self._proj[d])
        self.meter.macs += xs.shape[0] * d * self.width
        return np.concatenate([h, xs], axis=1)

    def _ridge(self, feats: np.ndarray, y: np.ndarray,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Ridge read-out, penalty picked on a held-out fraction, refitted on all rows."""
        rng = rng or np.random.default_rng([self.seed, 1])
        w, best, macs = fit_ridge_held_out(feats, y, self.n_classes, self.alphas,
                                           self.holdout, rng.permutation(len(y)))
        self.meter.macs += macs
        self.extra["ridge"] = best
        return w

    # ---------------------------------------------------------------- inference
    def inference_macs(self, n_features: int) -> int:
        """MACs of one prediction of the deployed model (standardisation folded in)."""
        d, c = n_features, self.n_classes
        return {"logreg": d * c, "mlp": d * self.hidden + self.hidden * c,
                "digital-elm": d * self.width + (self.width + d) * c,
                "ridge-lsq": d * c}[self.method]

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        self.meter.macs += len(x) * self.inference_macs(x.shape[1])
        if self.method == "ridge-lsq":
            assert self._readout is not None
            return (x @ self._readout[:-1] + self._readout[-1]).argmax(axis=1)
        assert self._std is not None
        xs = self._std(x)
        if self.method == "digital-elm":
            assert self._readout is not None
            before = self.meter.macs
            feats = self._features(xs)
            self.meter.macs = before  # already counted by inference_macs
            return (feats @ self._readout[:-1] + self._readout[-1]).argmax(axis=1)
        return np.asarray(self._model.predict(xs), dtype=np.int64)
