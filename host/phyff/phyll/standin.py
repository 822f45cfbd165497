"""Stand-ins for a physical medium and for data, for runs that need neither a board nor files.

The trainer's benchmark (`phyff.perf.trainer`) times the digital work of
training, so it needs a medium that costs nothing and answers the same on
every machine, and data shaped like vowels7 without the data files; the
tests need the same to check the algorithm apart from any board. Both use
these, so what the benchmark measures is what the tests hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


class StandInLayer:
    """A seeded, deterministic nonlinear map standing in for a physical medium.

    readings = s / (1 + s) with s = gain * |drive @ A + b|^2 and complex Gaussian
    A, b: interference-like mixing (|.|^2, as a detector sees a wave) with mild
    saturation, so the map is nonlinear, unknown to the trainer and bounded in
    [0, 1). It checks its inputs like a strict device would and counts queries.
    """

    def __init__(self, n_in: int = 20, n_out: int = 20, seed: int = 0, gain: float = 1.0) -> None:
        rng = np.random.default_rng([seed, 7])
        self.n_in = n_in
        self.n_out = n_out
        self.gain = gain
        shape = (n_in, n_out)
        self.a = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
        self.b = 0.1 * (rng.standard_normal(n_out) + 1j * rng.standard_normal(n_out))
        self.identity: dict[str, Any] = {
            "board": "stand-in", "n_in": n_in, "n_out": n_out, "seed": seed, "gain": gain,
        }
        self.calls = 0
        self.rows = 0

    def measure(self, drive: np.ndarray) -> np.ndarray:
        """Readings (N, n_out) for drive patterns (N, n_in) in [0, 1]."""
        if drive.ndim != 2 or drive.shape[1] != self.n_in:
            raise ValueError(f"stand-in expects drive of shape (N, {self.n_in}), got {drive.shape}")
        if drive.size and (drive.min() < 0.0 or drive.max() > 1.0):
            raise ValueError("stand-in drive values must lie in [0, 1]")
        self.calls += 1
        self.rows += len(drive)
        u = drive @ self.a + self.b
        s = self.gain * (u.real**2 + u.imag**2)
        return s / (1.0 + s)


@dataclass
class SyntheticData:
    """Random class-structured data shaped like vowels7 (206/52 samples, 12 features)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str = "synthetic"


def synthetic_vowels(seed: int = 0, n_train: int = 206, n_test: int = 52, n_features: int = 12,
                     n_classes: int = 7, spread: float = 1.0) -> SyntheticData:
    """Gaussian clusters around random class centres, shifted to be non-negative."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features)) * 1.5
    y = rng.integers(0, n_classes, n_train + n_test)
    x = centres[y] + spread * rng.standard_normal((len(y), n_features))
    x -= x.min()
    return SyntheticData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_classes)
