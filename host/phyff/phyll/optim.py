"""Adam in numpy, updating parameters in place.

The digital part of PhyLL is dominated by many tiny optimiser steps (T inner
steps per block per batch), so the update avoids per-step allocations (moments
and one scratch buffer live with the optimiser) and uses few array operations.
It is the usual bias-corrected Adam (as in PyTorch, weight decay 0), with the
algebra rearranged but mathematically unchanged:

    m <- m + (1 - b1) (g - m)            [= b1 m + (1 - b1) g]
    v <- v + (1 - b2) (g^2 - v)          [= b2 v + (1 - b2) g^2]
    p <- p - (lr sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2))
                                         [= p - lr/c1 * m / (sqrt(v)/sqrt(c2) + eps)]
with c1 = 1 - b1^t, c2 = 1 - b2^t.
"""

from __future__ import annotations

import math

import numpy as np


class Adam:
    """Adam state for one parameter array of a fixed shape and dtype."""

    def __init__(
        self,
        shape: tuple[int, ...],
        lr: float = 5e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Adam betas must lie in [0, 1), got {betas}")
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m = np.zeros(shape, dtype)
        self.v = np.zeros(shape, dtype)
        self.t = 0
        self._buf = np.empty(shape, dtype)

    def step(self, param: np.ndarray, grad: np.ndarray) -> int:
        """Apply one update to `param` in place; returns the MACs spent."""
        self.t += 1
        buf = self._buf
        np.subtract(grad, self.m, out=buf)
        buf *= 1.0 - self.beta1
        self.m += buf
        np.multiply(grad, grad, out=buf)
        buf -= self.v
        buf *= 1.0 - self.beta2
        self.v += buf
        root_c2 = math.sqrt(1.0 - self.beta2**self.t)
        np.sqrt(self.v, out=buf)
        buf += self.eps * root_c2
        np.divide(self.m, buf, out=buf)
        buf *= self.lr * root_c2 / (1.0 - self.beta1**self.t)
        param -= buf
        return 5 * param.size

    def state(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(m, v, t), for checkpoints."""
        return self.m, self.v, self.t

    def load_state(self, m: np.ndarray, v: np.ndarray, t: int) -> None:
        """Restore moments and step count saved by `state()`."""
        if m.shape != self.m.shape or v.shape != self.v.shape:
            raise ValueError(
                f"Adam state has shape {m.shape}/{v.shape}, expected {self.m.shape}; "
                "the checkpoint does not belong to this model"
            )
        self.m[...] = m
        self.v[...] = v
        self.t = int(t)
