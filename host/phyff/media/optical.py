r"""Phase-only spatial light modulator, a scattering medium, and a camera.

Physical picture: a laser beam is shaped by a phase-only SLM of n_in pixels,
crosses a complex scattering medium (a diffuser, a multimode fibre) described by
its transmission matrix T, and lands on a camera of n_cam pixels, which are
average-pooled into n_out readings (a binned region of interest).

Model:

    phase_s   = 2 pi r d_s (1 + delta_0)               (d = drive in [0, 1])
    E_c       = sum_s T_cs exp(i phase_s)              T_cs ~ CN(0, 1 / n_in), seeded
    camera    = |E_c|**2   (detect="intensity")   or   |E_c|   (detect="amplitude")
    reading_j = gain * mean of camera pixels j*g .. (j+1)*g - 1,   g = n_cam / n_out

r = phase_range (in turns, default 0.5: the drive spans 0..pi). With r = 1
the full-scale drive would wrap to the same phase as 0 and a label slot at
full scale would vanish from the pattern, so a modulator is driven over half
its range by default. The map is nonlinear in the drive twice over: through
the phase encoding and through the square-law detection.

Drift (two channels): delta_0 is a relative drift of the SLM's phase response
(the liquid crystal's calibration moves with temperature); delta_1 rotates the
transmission matrix towards an independent one, T = cos(10 delta_1) T0 +
sin(10 delta_1) T1 (the scattering medium slowly decorrelates; a relative drift
of 0.01 gives a speckle correlation of about 0.995).

Perturbation "step": part of the medium changes: a random fraction
min(1, strength / 4) of the camera rows of T (at least one) is re-drawn.

Implementation: the field exp(i phase) is computed with basic operations
(`numerics.det_cos_sin_turns`) and put on a 2**-22 grid, so the propagation
through T is an exact matrix product (`numerics.ExactMatmul`): every row is
bit-identical whatever batch it is measured in.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from phyff.media.base import BaseMedium
from phyff.media.numerics import (
    ExactMatmul,
    complex_block,
    det_cos_sin_turns,
    ordered_sum,
    quantize,
)

_FIELD_BITS = 22
_DECORRELATION = 10.0
DETECTORS = ("intensity", "amplitude")


class OpticalMedium(BaseMedium):
    """SLM -> random transmission matrix -> camera.

    Options (besides seed/noise/drift/gain, see `BaseMedium`): n_in (SLM pixels,
    default 64; e.g. 80 for 8x8 images plus label rows), n_out (pooled readings,
    default 16), n_cam (camera pixels, default 4 n_out, a multiple of n_out),
    detect ("intensity" or "amplitude"), phase_range (turns of phase at full
    drive, default 0.5).
    """

    name = "optical"
    size_limits: ClassVar[dict[str, tuple[int, int]]] = {
        **BaseMedium.size_limits, "n_cam": (1, 4096)}
    training_preset = "optical"
    drift_channels = 2

    def __init__(
        self,
        seed: int = 0,
        *,
        n_in: int = 64,
        n_out: int = 16,
        n_cam: int | None = None,
        detect: str = "intensity",
        phase_range: float = 0.5,
        noise: float = 0.002,
        drift: float = 0.0,
        gain: float | None = None,
    ) -> None:
        if detect not in DETECTORS:
            raise ValueError(f"detect must be one of {', '.join(DETECTORS)}, got {detect!r}")
        self._check_sizes(n_in=n_in, n_out=n_out, n_cam=n_cam)
        cam = 4 * int(n_out) if n_cam is None else int(n_cam)
        if int(n_out) < 1 or cam < 1 or cam % int(n_out):
            raise ValueError(f"n_cam ({cam}) must be a positive multiple of n_out ({n_out})")
        if not 0.0 < float(phase_range) <= 1.0:
            raise ValueError(f"phase_range must be in (0, 1] turns, got {phase_range}")
        self.n_cam = cam
        self.detect = detect
        # A power of two keeps drive * range exact (batch-split invariance).
        self.phase_range = float(phase_range)
        super().__init__(n_in, n_out, seed=seed, noise=noise, drift=drift, gain=gain)

    def _draw(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        z = rng.standard_normal((rows, self.n_in, 2))
        return (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0 * self.n_in)

    def _build(self, rng: np.random.Generator) -> None:
        self.t0 = self._draw(rng, self.n_cam)
        self.t1 = self._draw(rng, self.n_cam)
        self._assemble()

    def _assemble(self) -> None:
        blocks = [complex_block(self.t0.T)]
        if self.drift > 0:
            blocks.append(complex_block(self.t1.T))
        w = np.concatenate(blocks, axis=1)  # (2 n_in, 2 n_cam [x2])
        self._propagate = ExactMatmul(w, _FIELD_BITS, 0)

    def _physics(self, drive: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        turns = drive * self.phase_range
        if delta is not None:
            turns = turns * (1.0 + delta[:, 0:1])
        cos, sin = det_cos_sin_turns(turns)
        x = quantize(np.concatenate([cos, sin], axis=1), _FIELD_BITS)
        y = self._propagate(x)
        c = self.n_cam
        e_re, e_im = y[:, :c], y[:, c : 2 * c]
        if self.drift > 0 and delta is not None:
            ct, st = det_cos_sin_turns(_DECORRELATION * delta[:, 1:2] / (2.0 * np.pi))
            e_re = ct * e_re + st * y[:, 2 * c : 3 * c]
            e_im = ct * e_im + st * y[:, 3 * c :]
        camera = e_re * e_re + e_im * e_im
        if self.detect == "amplitude":
            camera = np.sqrt(camera)
        group = self.n_cam // self.n_out
        return ordered_sum(camera.reshape(-1, self.n_out, group), axis=-1) / group

    def jacobian(self, drive: np.ndarray) -> np.ndarray:
        """Analytic d reading / d drive (M, n_out, n_in) of the noiseless medium.

        For the backprop baseline (an oracle no real board offers):
        d|E_c|^2/dd_s = 2 Re(conj(E_c) T_cs i 2 pi r e^{i phi_s}), pooled like the camera.
        """
        r = self.phase_range
        phase = 2.0 * np.pi * r * np.clip(drive, 0.0, 1.0)
        e = np.exp(1j * phase)  # (M, S)
        field = e @ self.t0.T  # (M, C)
        # d|E_c|^2 / d d_s = 2 Re(conj(E_c) T_cs i e_s) 2 pi r = -4 pi r Im(conj(E_c) T_cs e_s)
        m_cs = np.conj(field)[:, :, None] * self.t0[None, :, :] * e[:, None, :]
        d_cam = -4.0 * np.pi * r * m_cs.imag  # (M, C, S)
        if self.detect == "amplitude":
            amp = np.maximum(np.abs(field), 1e-12)
            d_cam = d_cam / (2.0 * amp[:, :, None])
        group = self.n_cam // self.n_out
        pooled = d_cam.reshape(len(drive), self.n_out, group, -1).mean(axis=2)
        return pooled * self.gain

    def _perturb_step(self, rng: np.random.Generator, strength: float) -> None:
        """Re-draw a random fraction min(1, strength/4) of the camera rows of T."""
        count = max(1, round(min(1.0, strength / 4.0) * self.n_cam))
        rows = rng.permutation(self.n_cam)[:count]
        self.t0[rows] = self._draw(rng, count)
        self.t1[rows] = self._draw(rng, count)
        self._assemble()
