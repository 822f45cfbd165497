"""Derivatives of a physical layer for backpropagation: exact (emulator only) or a twin's.

Backpropagating through a physical layer needs d readings / d drive. Real
hardware does not offer it, which is the whole problem PhyLL sidesteps:
physics-aware training (PAT) borrows it from a fitted digital twin
(`phyff.compare.baselines.twin`), and ideal backpropagation, the upper bound, takes
it from the emulator's exact, noiseless medium model (`Medium.ideal`).

`ExactGradient` obtains that Jacobian in one of three ways:

- analytic, from the medium's own `jacobian(drive)` when it has one (the
  optical medium does: phase modulator -> transmission matrix -> camera);
- binary drives (the microwave metasurface): the derivative of a switch is
  the change its flip causes, J[:, s] = P(d with s on) - P(d with s off);
- otherwise central finite differences on `medium.ideal` with step 1e-3 of
  full scale (one-sided at the drive limits). The medium resolves drives to
  2**-20 of full scale, so the step is ~1000 grid units and the truncation
  error is O(1e-6) for these smooth media.

Counting: the exact Jacobian is an oracle. Its evaluations of the medium model
are reported as `evals` (rows through `ideal`), not as device queries (no
board can answer them) and not as digital MACs (they simulate the physics,
which a user of real hardware cannot do at any price); the product J^T g that
uses the Jacobian is counted as MACs. The reading scale is the board's: the
ADC turns the medium's fraction of full scale into the same fraction.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

FD_STEP = 1e-3


class LayerGradient(Protocol):
    """A source of vector-Jacobian products for a physical layer."""

    def vjp(
        self, drive: np.ndarray, readings: np.ndarray, grad: np.ndarray
    ) -> tuple[np.ndarray, int, int]:
        """(d<grad, P(drive)>/d drive, MACs, oracle evaluations) for rows of drive."""
        ...


class ExactGradient:
    """Vector-Jacobian products of the emulator's exact medium (`medium.ideal`)."""

    def __init__(self, medium: Any, *, binary: bool = False, step: float = FD_STEP) -> None:
        self.medium = medium
        self.binary = binary
        self.step = float(step)

    def jacobian(self, drive: np.ndarray) -> tuple[np.ndarray, int]:
        """J (M, n_out, n_in) at each drive row, and the medium rows evaluated."""
        d = np.asarray(drive, dtype=np.float64)
        analytic = getattr(self.medium, "jacobian", None)
        if callable(analytic) and not self.binary:
            return np.asarray(analytic(d), dtype=np.float64), 0
        m, n = d.shape
        eye = np.eye(n)
        if self.binary:
            hi = np.maximum(d[:, None, :], eye)  # element s switched on
            lo = np.minimum(d[:, None, :], 1.0 - eye)  # element s switched off
            width = np.ones((m, n))
        else:
            hi = np.minimum(d[:, None, :] + self.step * eye, 1.0)
            lo = np.maximum(d[:, None, :] - self.step * eye, 0.0)
            width = np.einsum("mss->ms", hi - lo)
        rows = np.concatenate([hi.reshape(-1, n), lo.reshape(-1, n)])
        out = self.medium.ideal(rows)
        half = m * n
        diff = (out[:half] - out[half:]).reshape(m, n, -1)
        jac = np.transpose(diff / width[:, :, None], (0, 2, 1))
        return jac, len(rows)

    def vjp(
        self, drive: np.ndarray, readings: np.ndarray, grad: np.ndarray
    ) -> tuple[np.ndarray, int, int]:
        jac, evals = self.jacobian(drive)
        m, o, n = jac.shape
        return np.einsum("mo,mon->mn", grad, jac), m * o * n, evals
