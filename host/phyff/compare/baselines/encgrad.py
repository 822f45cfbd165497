"""Backward passes of the encoders, for the methods that backpropagate.

PhyLL never differentiates an encoder: its gradients stop at each block's
input. Backpropagation (physics-aware or through the exact medium) must carry
the error from a physical layer's drive back to the previous block's output,
through the encoder that produced the drive, so the encoders' own derivatives
are part of those baselines. Each function takes the encoder input h (M, d)
and the gradient with respect to the drive, and returns the gradient with
respect to h and the MACs spent (counted as in `phyff.phyll.accounting`).

- ``amplitude``: e = |h| / (||h|| + eps); the normalisation couples all entries.
- ``phase``: per-row min-max scaling; the row's min and max entries receive the
  gradient of the scale and offset.
- ``binary2`` / ``binary2_uniform``: the quantiser has zero derivative almost
  everywhere, so a straight-through estimator is used: each of an entry's two
  bits is treated as if it were the scaled entry itself (d bit / d s = 1), then
  the min-max scaling is differentiated exactly.
- ``clip``: the identity inside (0, 1), zero outside.
"""

from __future__ import annotations

import numpy as np

from phyff.phyll.encoders import check_encoder

_AMPLITUDE_EPS = 1e-6  # as phyff.phyll.encoders


def encoder_vjp(encoder: str, h: np.ndarray, grad_drive: np.ndarray) -> tuple[np.ndarray, int]:
    """Gradient with respect to h of <grad_drive, encode(h)>; returns (grad_h, MACs)."""
    if encoder == "amplitude":
        return _amplitude_vjp(h, grad_drive)
    if encoder == "phase":
        return _minmax_vjp(h, grad_drive)
    if encoder in ("binary2", "binary2_uniform"):
        # Straight-through: both bits of an entry pass their gradient to the entry.
        g_s = grad_drive[:, 0::2] + grad_drive[:, 1::2]
        return _minmax_vjp(h, g_s)
    if encoder == "clip":
        inside = (h > 0.0) & (h < 1.0)
        return np.where(inside, grad_drive, 0.0), 0
    check_encoder(encoder)
    raise AssertionError("unreachable")


def _amplitude_vjp(h: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, int]:
    m, d = h.shape
    a = np.abs(h)
    norm = np.sqrt(np.einsum("ij,ij->i", a, a))  # m*d
    den = norm + _AMPLITUDE_EPS
    inv = 1.0 / den  # m
    dot = np.einsum("ij,ij->i", a, g)  # m*d
    coef = np.divide(dot * inv * inv, norm, out=np.zeros(m), where=norm > 0)  # 3m
    g_a = g * inv[:, None] - a * coef[:, None]  # 2*m*d
    return np.sign(h) * g_a, 5 * m * d + 4 * m  # sign: m*d


def _minmax_vjp(h: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, int]:
    m, d = h.shape
    rows = np.arange(m)
    lo_idx, hi_idx = h.argmin(axis=1), h.argmax(axis=1)
    lo = h[rows, lo_idx]
    span = h[rows, hi_idx] - lo
    inv = np.zeros(m)
    np.divide(1.0, span, out=inv, where=span > 0)  # m
    s = (h - lo[:, None]) * inv[:, None]  # m*d
    out = g * inv[:, None]  # m*d
    c1 = g.sum(axis=1) * inv  # m
    c2 = np.einsum("ij,ij->i", g, s) * inv  # m*d + m
    np.add.at(out, (rows, lo_idx), c2 - c1)
    np.add.at(out, (rows, hi_idx), -c2)
    return out, 3 * m * d + 3 * m
