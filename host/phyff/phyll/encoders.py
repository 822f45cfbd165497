"""Encoders: turn a block's real input vector into a drive pattern in [0, 1].

A physical layer only accepts what its hardware can produce (source amplitudes,
binary metasurface states, phase-modulator levels), so each block first maps its
input h (any real vector) onto the drive range [0, 1]. The choice is per block
and mirrors the three media of the paper:

- ``amplitude`` (acoustic): e = |h| / (||h||_2 + 1e-6); the drive has unit norm,
  as the reference feeds relative source amplitudes.
- ``binary2`` (microwave): per-sample min-max scale to [0, 1], quantise each
  entry to 4 levels and write each level as 2 bits (most significant first),
  so a 20-vector drives 40 binary elements. The level thresholds are the
  reference's: s == 0 -> 00, s <= 1/4 -> 01, s <= 3/4 -> 10, else 11.
- ``binary2_uniform``: as ``binary2`` but with four equal-width bins
  (q = min(floor(4 s), 3)), the textbook quantiser.
- ``phase`` (optical): per-sample min-max scale to [0, 1]; the adapter maps
  [0, 1] onto the modulator's phase range.
- ``clip``: clip to [0, 1], for media that take h directly.

A constant row (max == min) has no contrast to scale and encodes as all zeros.
Every encoder returns its digital cost in MACs (see `phyff.phyll.accounting`).
"""

from __future__ import annotations

import numpy as np

ENCODERS: tuple[str, ...] = ("amplitude", "binary2", "binary2_uniform", "phase", "clip")
_AMPLITUDE_EPS = 1e-6


def drive_width(encoder: str, width: int) -> int:
    """Number of drive values produced from an input vector of `width` entries."""
    check_encoder(encoder)
    return 2 * width if encoder.startswith("binary2") else width


def input_width(encoder: str, n_drive: int) -> int:
    """Input-vector width that yields `n_drive` drive values (inverse of drive_width)."""
    check_encoder(encoder)
    if encoder.startswith("binary2"):
        if n_drive % 2:
            raise ValueError(
                f"encoder {encoder!r} writes 2 bits per input entry, so the physical layer "
                f"needs an even number of drive channels; it has {n_drive}. Use a layer with "
                "an even n_in or another encoder."
            )
        return n_drive // 2
    return n_drive


def check_encoder(encoder: str) -> None:
    """Reject unknown encoder names with the list of valid ones."""
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; expected one of {', '.join(ENCODERS)}")


def encode(encoder: str, h: np.ndarray) -> tuple[np.ndarray, int]:
    """Encode rows of `h` (M, d) into drive patterns; returns (drive, MACs)."""
    if encoder == "amplitude":
        return _amplitude(h)
    if encoder == "phase":
        return _minmax(h)
    if encoder == "binary2":
        return _binary2(h, uniform=False)
    if encoder == "binary2_uniform":
        return _binary2(h, uniform=True)
    if encoder == "clip":
        return np.clip(h, 0.0, 1.0), 0
    check_encoder(encoder)
    raise AssertionError("unreachable")


def _amplitude(h: np.ndarray) -> tuple[np.ndarray, int]:
    m, d = h.shape
    e = np.abs(h)
    norm = np.sqrt(np.einsum("ij,ij->i", e, e))  # m*d
    norm += _AMPLITUDE_EPS
    e /= norm[:, None]  # m*d
    return e, 2 * m * d


def _minmax(h: np.ndarray) -> tuple[np.ndarray, int]:
    m, d = h.shape
    lo = h.min(axis=1)
    span = h.max(axis=1) - lo
    inv = np.zeros(m)
    np.divide(1.0, span, out=inv, where=span > 0)  # m
    s = h - lo[:, None]
    s *= inv[:, None]  # m*d
    np.clip(s, 0.0, 1.0, out=s)  # guards rounding just outside [0, 1]
    return s, m + m * d


def _binary2(h: np.ndarray, *, uniform: bool) -> tuple[np.ndarray, int]:
    s, macs = _minmax(h)
    m, d = s.shape
    if uniform:
        level = np.minimum(np.floor(s * 4.0), 3.0)  # m*d
        macs += m * d
        msb = level >= 2.0
        lsb = (level == 1.0) | (level == 3.0)
    else:
        msb = s > 0.25
        lsb = ((s > 0.0) & (s <= 0.25)) | (s > 0.75)
    drive = np.empty((m, 2 * d))
    drive[:, 0::2] = msb
    drive[:, 1::2] = lsb
    return drive, macs
