"""The digital twin of physics-aware training: an MLP fitted to recorded board queries.

Physics-aware training (Wright et al., Nature 2022) needs the derivative of
the physical layer, which the hardware cannot give; it fits a differentiable
digital model (the "twin") to measured input/output pairs and uses the twin's
Jacobian in the backward pass while the real hardware does the forward pass.
Both the recording and the fitting cost something, and the benchmark counts
both: every recorded pair is a device query, every multiply of the fit is a
MAC (rule of `phyff.phyll.accounting`).

The twin is the reference's shape, n_in -> 100 -> 200 -> 100 -> n_out with
tanh hidden units (smooth, so its Jacobian is smooth too; a ReLU twin's
Jacobian is piecewise constant), inputs and outputs standardised with the
statistics of the recorded data, trained with Adam on the mean squared error.
A tenth of the recorded pairs is held out to report how good the twin is
(relative error: rms residual / rms deviation of the readings from their mean).

What is recorded: half the drives are encoded training inputs (what the first
block sends), half are encoded random Gaussian vectors of the block width
(what later blocks send while their inputs are still being learned); both
pass through the block's own encoder, so the twin sees the same kind of drive
patterns (unit-norm amplitudes, min-max phases, binary metasurfaces) it will
be asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phyff.phyll.encoders import get_encoder
from phyff.phyll.model import PhysicalLayer
from phyff.phyll.optim import Adam

HIDDEN: tuple[int, ...] = (100, 200, 100)


@dataclass(frozen=True)
class TwinSettings:
    """How a twin is recorded and fitted (reference: ~10,000 pairs, 300 epochs)."""

    n_pairs: int = 10_000
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    hidden: tuple[int, ...] = HIDDEN
    dtype: str = "float32"
    holdout: float = 0.1


class Twin:
    """An MLP model of one physical layer: drive (n_in) -> readings (n_out)."""

    def __init__(self, n_in: int, n_out: int, hidden: Sequence[int], seed: int,
                 dtype: str = "float32") -> None:
        self.sizes = [n_in, *hidden, n_out]
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng([seed, 11])
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            bound = np.sqrt(6.0 / (a + b))  # Glorot, suited to tanh
            self.weights.append(rng.uniform(-bound, bound, (a, b)).astype(self.dtype))
            self.biases.append(np.zeros(b, self.dtype))
        self.x_mean = np.zeros(n_in)
        self.x_scale = np.ones(n_in)
        self.y_mean = np.zeros(n_out)
        self.y_scale = np.ones(n_out)
        self.rel_error = float("nan")

    @property
    def n_params(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def forward_macs(self, rows: int) -> int:
        """MACs of one forward pass over `rows` standardised inputs (tanh not counted)."""
        return rows * sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    # ------------------------------------------------------------- evaluation
    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Activations of every layer for standardised inputs x (last: linear output)."""
        acts = [x]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = acts[-1] @ w + b
            acts.append(z if i == last else np.tanh(z))
        return acts

    def _standardise(self, drive: np.ndarray) -> tuple[np.ndarray, int]:
        x = ((drive - self.x_mean) / self.x_scale).astype(self.dtype)
        return x, drive.size

    def predict(self, drive: np.ndarray) -> tuple[np.ndarray, int]:
        """Predicted readings (M, n_out) and the MACs spent."""
        x, macs = self._standardise(np.asarray(drive, dtype=np.float64))
        out = self._forward(x)[-1].astype(np.float64)
        return out * self.y_scale + self.y_mean, macs + self.forward_macs(len(x)) + out.size

    def vjp(
        self, drive: np.ndarray, readings: np.ndarray, grad: np.ndarray
    ) -> tuple[np.ndarray, int, int]:
        """d<grad, twin(drive)>/d drive: the twin's backward pass at the drive actually sent.

        `readings` (the board's) are not needed: PAT evaluates the twin's
        Jacobian at the physical input. Returns (gradient, MACs, 0 oracle evals).
        """
        x, macs = self._standardise(np.asarray(drive, dtype=np.float64))
        acts = self._forward(x)
        macs += self.forward_macs(len(x))
        delta = (grad * self.y_scale).astype(self.dtype)
        macs += grad.size
        for i in range(len(self.weights) - 1, -1, -1):
            delta = delta @ self.weights[i].T
            macs += delta.shape[0] * self.weights[i].size
            if i > 0:
                a = acts[i]
                delta = delta * (1.0 - a * a)  # tanh' = 1 - tanh^2
                macs += 2 * a.size
        g = delta.astype(np.float64) / self.x_scale
        return g, macs + g.size, 0

    # ---------------------------------------------------------------- fitting
    def fit(self, drives: np.ndarray, readings: np.ndarray, settings: TwinSettings,
            rng: np.random.Generator) -> int:
        """Fit to recorded pairs (a held-out tenth measures the error); returns MACs."""
        n = len(drives)
        order = rng.permutation(n)
        n_val = round(settings.holdout * n) if n >= 20 else 0
        val, tr = order[:n_val], order[n_val:]
        self.x_mean = drives[tr].mean(axis=0)
        self.x_scale = np.maximum(drives[tr].std(axis=0), 1e-6)
        self.y_mean = readings[tr].mean(axis=0)
        self.y_scale = np.maximum(readings[tr].std(axis=0), 1e-6)
        x_all, macs = self._standardise(drives)
        y_all = ((readings - self.y_mean) / self.y_scale).astype(self.dtype)
        macs += readings.size
        params = [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]
        adams = [Adam(p.shape, settings.lr, dtype=self.dtype) for p in params]
        grads = [np.empty_like(p) for p in params]
        for _ in range(settings.epochs):
            perm = tr[rng.permutation(len(tr))]
            for start in range(0, len(perm), settings.batch_size):
                idx = perm[start : start + settings.batch_size]
                macs += self._gradient(x_all[idx], y_all[idx], grads)
                for p, g, adam in zip(params, grads, adams, strict=True):
                    macs += adam.step(p, g)
        if n_val:
            pred, pred_macs = self.predict(drives[val])
            macs += pred_macs
            resid = np.sqrt(np.mean((pred - readings[val]) ** 2))
            spread = np.sqrt(np.mean((readings[val] - readings[val].mean(axis=0)) ** 2))
            self.rel_error = float(resid / max(spread, 1e-12))
        return macs

    def _gradient(self, x: np.ndarray, y: np.ndarray, grads: list[np.ndarray]) -> int:
        """Gradient of the mean squared error into `grads` ([dW0, db0, dW1, ...])."""
        acts = self._forward(x)
        rows = len(x)
        macs = self.forward_macs(rows)
        delta = (acts[-1] - y) * (2.0 / y.size)
        macs += y.size
        for i in range(len(self.weights) - 1, -1, -1):
            np.matmul(acts[i].T, delta, out=grads[2 * i])
            grads[2 * i + 1][:] = delta.sum(axis=0)
            macs += rows * self.weights[i].size
            if i > 0:
                delta = delta @ self.weights[i].T
                a = acts[i]
                delta *= 1.0 - a * a
                macs += rows * self.weights[i].size + 2 * a.size
        return macs


def record_pairs(
    layer: PhysicalLayer, encoder: str, x_layout: np.ndarray, n_pairs: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Drive the board with n_pairs patterns; returns (drives, readings, MACs of encoding).

    Half are encoded training inputs (with a little Gaussian jitter, so repeats
    are not identical), half encoded standard-normal vectors of the same width;
    see the module docstring.
    """
    n_data = n_pairs // 2
    idx = rng.integers(0, len(x_layout), n_data)
    scale = float(np.abs(x_layout).max()) or 1.0
    h_data = x_layout[idx] + 0.05 * scale * rng.standard_normal((n_data, x_layout.shape[1]))
    h_rand = rng.standard_normal((n_pairs - n_data, x_layout.shape[1]))
    drives, macs = get_encoder(encoder).encode(np.concatenate([h_data, h_rand]))
    readings = np.asarray(layer.measure(np.ascontiguousarray(drives)), dtype=np.float64)
    return drives, readings, macs + n_data * x_layout.shape[1]
