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

Each encoder is one small object: `encode` (forward), `vjp` (the gradient of
<g, encode(h)> with respect to h, for the backpropagation baselines; binary
drives pass it straight through) and the widths it maps between. A new
encoder is one class and one entry in `ENCODERS`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

_AMPLITUDE_EPS = 1e-6


class Encoder:
    """Maps rows of h (M, d) to drive patterns (M, bits * d) in [0, 1]."""

    name: ClassVar[str] = ""
    bits: ClassVar[int] = 1  # drive values per input entry

    def drive_width(self, width: int) -> int:
        """Number of drive values produced from an input vector of `width` entries."""
        return self.bits * width

    def input_width(self, n_drive: int) -> int:
        """Input-vector width that yields `n_drive` drive values (inverse of drive_width)."""
        if n_drive % self.bits:
            need = "an even number of" if self.bits == 2 else f"a multiple of {self.bits}"
            raise ValueError(
                f"encoder {self.name!r} writes {self.bits} bits per input entry, so the physical "
                f"layer needs {need} drive channels; it has {n_drive}. Use a layer with "
                "another n_in or another encoder."
            )
        return n_drive // self.bits

    def encode(self, h: np.ndarray) -> tuple[np.ndarray, int]:
        """(drive, MACs) for rows of h."""
        raise NotImplementedError

    def vjp(self, h: np.ndarray, grad_drive: np.ndarray) -> tuple[np.ndarray, int]:
        """(d<grad_drive, encode(h)>/dh, MACs)."""
        raise NotImplementedError


class Amplitude(Encoder):
    """e = |h| / (||h||_2 + eps): relative source amplitudes (acoustic)."""

    name = "amplitude"

    def encode(self, h: np.ndarray) -> tuple[np.ndarray, int]:
        m, d = h.shape
        e = np.abs(h)
        norm = np.sqrt(np.einsum("ij,ij->i", e, e))  # m*d
        norm += _AMPLITUDE_EPS
        e /= norm[:, None]  # m*d
        return e, 2 * m * d

    def vjp(self, h: np.ndarray, grad_drive: np.ndarray) -> tuple[np.ndarray, int]:
        g = grad_drive
        m, d = h.shape
        a = np.abs(h)
        norm = np.sqrt(np.einsum("ij,ij->i", a, a))  # m*d
        den = norm + _AMPLITUDE_EPS
        inv = 1.0 / den  # m
        dot = np.einsum("ij,ij->i", a, g)  # m*d
        coef = np.divide(dot * inv * inv, norm, out=np.zeros(m), where=norm > 0)  # 3m
        g_a = g * inv[:, None] - a * coef[:, None]  # 2*m*d
        return np.sign(h) * g_a, 5 * m * d + 4 * m  # sign: m*d


class Phase(Encoder):
    """Per-sample min-max scale to [0, 1] (a phase modulator's levels, optical)."""

    name = "phase"

    def encode(self, h: np.ndarray) -> tuple[np.ndarray, int]:
        m, d = h.shape
        lo = h.min(axis=1)
        span = h.max(axis=1) - lo
        inv = np.zeros(m)
        np.divide(1.0, span, out=inv, where=span > 0)  # m
        s = h - lo[:, None]
        s *= inv[:, None]  # m*d
        np.clip(s, 0.0, 1.0, out=s)  # guards rounding just outside [0, 1]
        return s, m + m * d

    def vjp(self, h: np.ndarray, grad_drive: np.ndarray) -> tuple[np.ndarray, int]:
        g = grad_drive
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


class Binary2(Phase):
    """Min-max scale, 4 levels, 2 bits per entry, MSB first (the reference's thresholds)."""

    name = "binary2"
    bits = 2
    uniform = False

    def encode(self, h: np.ndarray) -> tuple[np.ndarray, int]:
        s, macs = super().encode(h)
        m, d = s.shape
        if self.uniform:
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

    def vjp(self, h: np.ndarray, grad_drive: np.ndarray) -> tuple[np.ndarray, int]:
        # Straight-through: both bits of an entry pass their gradient to the entry.
        return super().vjp(h, grad_drive[:, 0::2] + grad_drive[:, 1::2])


class Binary2Uniform(Binary2):
    """As binary2 with four equal-width bins (q = min(floor(4 s), 3))."""

    name = "binary2_uniform"
    uniform = True


class Clip(Encoder):
    """Clip to [0, 1], for media that take h directly."""

    name = "clip"

    def encode(self, h: np.ndarray) -> tuple[np.ndarray, int]:
        return np.clip(h, 0.0, 1.0), 0

    def vjp(self, h: np.ndarray, grad_drive: np.ndarray) -> tuple[np.ndarray, int]:
        inside = (h > 0.0) & (h < 1.0)
        return np.where(inside, grad_drive, 0.0), 0


ENCODERS: dict[str, Encoder] = {
    e.name: e for e in (Amplitude(), Binary2(), Binary2Uniform(), Phase(), Clip())
}


def get_encoder(name: str) -> Encoder:
    """The encoder called `name`; unknown names are refused with the list of valid ones."""
    try:
        return ENCODERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown encoder {name!r}; expected one of {', '.join(ENCODERS)}"
        ) from None


def check_encoder(name: str) -> None:
    """Reject unknown encoder names with the list of valid ones."""
    get_encoder(name)
