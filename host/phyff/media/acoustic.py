r"""Acoustic cavity with nonlinear membrane scatterers (the paper's 20 -> 20 acoustic layer).

Physical picture: a reverberant room holds S loudspeakers, M thin membranes
(nonlinear resonant scatterers) and R microphones. Each loudspeaker plays the
same multi-tone signal (F tones) with an amplitude set by its drive value. The
microphones report spectral magnitudes |p| at (microphone, tone) pairs.

Propagation (per tone f, wavenumber k_f): the room's modal Green's function G_f
(see `phyff.media.cavity`, rigid walls, modal Q = 40) between the point sets.

1. Incident field at membrane m:     u_fm = sum_s G_f(x_m, x_s) e_s
2. Membrane re-radiation (explicit Duffing-like response, hardening with the
   membrane's total vibration energy over all tones):

       a_m**2 = kappa * sum_f |u_fm|**2 / U_m**2
       r_fm   = beta_m u_fm / (1 + i (nu_fm - a_m**2))

   nu_fm is the detuning (in half-linewidths) of the membrane's nearest mode
   from tone f; as the drive grows the resonance shifts, so r first grows, can
   pass through resonance, then falls: both the magnitude and the phase of the
   scattered field depend nonlinearly on the drive, and tones mix through a_m.
3. Second scattering order: the membranes also hear each other,

       u2_fm = u_fm + sum_{m' != m} G_f(x_m, x_m') r_fm'(u),   r2 = r(u2)

4. Microphone pressure and reading for output j = (microphone s_j, tone f_j):

       p_j = sum_s G_fj(x_sj, x_s) e_s + sum_m G_fj(x_sj, x_m) r2_fj,m
       reading_j = gain * |p_j|

Calibration at construction (seeded probe drives, deterministic): U_m is set
so that the mean of a_m**2 equals 2 for uniform random drives at
nonlinearity kappa = 1 (kappa = 0 makes the membranes linear), and beta is set
so the first-order scattered field at the microphones has 0.8 times the rms of
the direct field (a strongly scattering room).

Drift (two channels): delta_0 is a relative change of the speed of sound
(temperature), applied to first order, G -> G + delta_0 dG/d(delta) (valid for
|delta_0| << 1/(2Q) ~ 0.01); delta_1 is a relative change of the membranes'
tension, which detunes them by nu -> nu + Q_m delta_1 (Q_m ~ 5-15).

Perturbation "step": a rigid object is placed in the room at a random point o;
to first Born order every transfer gains a term G(x, o) sigma G(o, y), with
|sigma| chosen so that at strength 1 the change has half the rms of the room's
direct transfers (strength scales sigma).

Implementation: each of the three propagation steps (sources -> membranes and
microphones, membranes -> membranes, membranes -> microphones) is one exact
matrix product (`numerics.ExactMatmul`): the drive is on its 2**-20 grid, and
the membrane fields are clipped to rigorous bounds and rounded to 2**-27 of
those bounds (an absolute error near 1e-6 of full scale, far below one ADC
code). The membrane response uses basic operations only. So every row is
computed bit-identically whatever batch it arrives in, at BLAS speed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from phyff.media.base import BaseMedium
from phyff.media.cavity import RectCavity
from phyff.media.numerics import (
    DRIVE_GRID_BITS,
    ExactMatmul,
    bound_log2,
    complex_block,
    ordered_sum,
)

_BAND = (34.0, 46.0)  # wavenumbers of the tones, rad/m (about 1.9-2.5 kHz in a 1 m room)
_MODAL_Q = 40.0
_SCATTER_RATIO = 0.8
_MEAN_A2 = 2.0
_MARGIN = 0.05  # keep points this far (relative) from the walls


class AcousticMedium(BaseMedium):
    """Reverberant room + nonlinear membranes; drive = loudspeaker amplitudes.

    Options (besides the common seed/noise/drift/gain, see `BaseMedium`):
    n_in (loudspeakers, default 20), n_out (readings, default 20), n_freq (tones,
    default 4; microphones = ceil(n_out / n_freq)), n_membranes (default 6),
    nonlinearity (kappa, default 1.0; 0 gives linear scatterers).
    """

    name = "acoustic"
    size_limits: ClassVar[dict[str, tuple[int, int]]] = {
        **BaseMedium.size_limits, "n_freq": (1, 64), "n_membranes": (1, 256)}
    drift_channels = 2

    def __init__(
        self,
        seed: int = 0,
        *,
        n_in: int = 20,
        n_out: int = 20,
        n_freq: int = 4,
        n_membranes: int = 6,
        nonlinearity: float = 1.0,
        noise: float = 0.002,
        drift: float = 0.0,
        gain: float | None = None,
    ) -> None:
        self._check_sizes(n_in=n_in, n_out=n_out, n_freq=n_freq, n_membranes=n_membranes)
        if not (np.isfinite(nonlinearity) and nonlinearity >= 0):
            raise ValueError(f"nonlinearity must be >= 0, got {nonlinearity}")
        self.n_freq = int(n_freq)
        self.n_membranes = int(n_membranes)
        self.nonlinearity = float(nonlinearity)
        super().__init__(n_in, n_out, seed=seed, noise=noise, drift=drift, gain=gain)

    # ---- structure -------------------------------------------------------------------

    def _build(self, rng: np.random.Generator) -> None:
        f_count, m_count = self.n_freq, self.n_membranes
        self.n_mics = -(-self.n_out // f_count)
        lx, ly = 1.0, float(rng.uniform(0.6, 0.9))
        self.size = np.array([lx, ly])
        lo, hi = _BAND
        self.k = lo + (hi - lo) * (np.arange(f_count) + 0.5) / f_count
        self.cavity = RectCavity(lx, ly, 2.0 * hi, _MODAL_Q, "neumann")
        n_points = self.n_in + m_count + self.n_mics
        self.points = self.size * rng.uniform(_MARGIN, 1.0 - _MARGIN, (n_points, 2))
        self._src = np.arange(self.n_in)
        self._mem = self.n_in + np.arange(m_count)
        self._mic = self.n_in + m_count + np.arange(self.n_mics)
        self.nu = rng.uniform(-1.0, 2.5, (f_count, m_count))
        self.q_membrane = rng.uniform(5.0, 15.0, m_count)
        size_factor = rng.uniform(0.5, 1.5, m_count)
        self.out_mic = np.arange(self.n_out) // f_count
        self.out_freq = np.arange(self.n_out) % f_count

        g0, g1 = self.cavity.green(self.k, self.points, self.points)
        assert g1 is not None
        direct = g0[:, self._mic][:, :, self._src]
        self._g_scale = float(np.sqrt(np.mean(np.abs(direct) ** 2)))
        self.g0, self.g1 = g0 / self._g_scale, g1 / self._g_scale

        # Calibration with seeded probe drives: first the saturation scale U of each
        # membrane, then beta with the membranes at their nominal nonlinearity.
        self.beta = size_factor
        self.inv_u2 = np.zeros(m_count)
        self._assemble()
        probes = self.probe_drives(256)
        u_re, u_im, b_re, b_im = self._incident(probes, None)
        energy = ordered_sum(u_re**2 + u_im**2, axis=0)  # (M, N)
        mean_energy = np.mean(energy, axis=1)
        self.inv_u2 = np.where(mean_energy > 0, self.nonlinearity * _MEAN_A2 / mean_energy, 0.0)
        r_re, r_im = self._membranes(u_re, u_im, None)
        s_re, s_im = self._to_mics(r_re, r_im, None)
        scattered = np.sqrt(np.mean(s_re**2 + s_im**2))
        direct_rms = np.sqrt(np.mean(b_re**2 + b_im**2))
        self.beta = size_factor * (_SCATTER_RATIO * direct_rms / scattered)
        self._assemble()  # the stage bounds depend on beta

    def _assemble(self) -> None:
        """Slice the point-to-point Green's functions into exact per-stage weights.

        Stage 1 (drive -> membranes and direct field), stage 2 (membrane ->
        membrane, zero self-coupling) and stage 3 (membrane -> microphone) are
        each one `ExactMatmul`; the membrane fields entering stages 2 and 3 are
        clipped to rigorous bounds and put on a grid of 2**-27 of that bound.
        With drift on, each stage also carries the dG/d(delta) weights.
        """
        gs = (self.g0, self.g1) if self.drift > 0 else (self.g0,)
        f_count, m_count = self.n_freq, self.n_membranes
        a_parts, b_parts, d_parts, c_parts = [], [], [], []
        for g in gs:
            a = g[:, self._mem][:, :, self._src]  # (F, M, S)
            a_parts.append(a.transpose(2, 0, 1).reshape(self.n_in, f_count * m_count))
            b_parts.append(g[self.out_freq, self._mic[self.out_mic]][:, self._src].T)  # (S, n_out)
            d = g[:, self._mem][:, :, self._mem].copy()  # (F, M_to, M_from)
            d[:, np.arange(m_count), np.arange(m_count)] = 0.0
            d_parts.append(complex_block(d.transpose(0, 2, 1)))  # (F, 2M_from, 2M_to)
            c = g[:, self._mic][:, :, self._mem].transpose(0, 2, 1)  # (F, M, R)
            c_parts.append(complex_block(c))  # (F, 2M, 2R)
        cols = [a.real for a in a_parts] + [a.imag for a in a_parts]
        cols += [b.real for b in b_parts] + [b.imag for b in b_parts]
        self._stage1 = ExactMatmul(np.concatenate(cols, axis=1), DRIVE_GRID_BITS, 0)
        # Rigorous bounds of |u| and |r| <= beta |u| (drive <= 1, |delta_0| <= 0.1),
        # the same whether drift is on or off so both give the same bits at delta = 0.
        a0, a1 = (g[:, self._mem][:, :, self._src] for g in (self.g0, self.g1))
        u_max = np.abs(a0).sum(axis=2) + 0.1 * np.abs(a1).sum(axis=2)  # (F, M)
        r1_max = self.beta * u_max
        d_abs = np.abs(self.g0[:, self._mem][:, :, self._mem])
        d_abs = d_abs + 0.1 * np.abs(self.g1[:, self._mem][:, :, self._mem])
        r2_max = self.beta * (u_max + (d_abs @ r1_max[:, :, None])[:, :, 0])
        self._stage2 = _exact_stage(np.concatenate(d_parts, axis=-1), float(r1_max.max()))
        self._stage3 = _exact_stage(np.concatenate(c_parts, axis=-1), float(r2_max.max()))

    # ---- physics ----------------------------------------------------------------------
    # Arrays are kept batch-last, (F, M, N) and (n_out, N), so every elementwise
    # operation runs over long contiguous rows of the batch.

    def _incident(
        self, drive: np.ndarray, delta: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Field at the membranes (F, M, N) and direct field at the outputs (n_out, N)."""
        n = drive.shape[0]
        fm = self.n_freq * self.n_membranes
        y = self._stage1.left(drive.T)  # (Q, N)
        k = 2 if self.drift > 0 else 1
        u_parts = [y[i * fm : (i + 1) * fm] for i in range(2 * k)]
        off = 2 * k * fm
        b_parts = [y[off + i * self.n_out : off + (i + 1) * self.n_out] for i in range(2 * k)]
        if k == 2:
            d0 = delta[:, 0] if delta is not None else np.zeros(n)
            u_re, u_im = u_parts[0] + d0 * u_parts[1], u_parts[2] + d0 * u_parts[3]
            b_re, b_im = b_parts[0] + d0 * b_parts[1], b_parts[2] + d0 * b_parts[3]
        else:
            u_re, u_im = u_parts
            b_re, b_im = b_parts
        shape = (self.n_freq, self.n_membranes, n)
        return u_re.reshape(shape), u_im.reshape(shape), b_re, b_im

    def _membranes(
        self, u_re: np.ndarray, u_im: np.ndarray, delta: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Duffing-like re-radiation r = beta u / (1 + i (nu - a**2)), (F, M, N)."""
        a2 = ordered_sum(u_re * u_re + u_im * u_im, axis=0) * self.inv_u2[:, None]  # (M, N)
        nu = self.nu[:, :, None]
        if delta is not None:
            nu = nu + self.q_membrane[None, :, None] * delta[:, 1]
        w = nu - a2
        scale = self.beta[:, None] / (1.0 + w * w)
        return scale * (u_re + w * u_im), scale * (u_im - w * u_re)

    def _stage(
        self, stage: ExactMatmul, r_re: np.ndarray, r_im: np.ndarray, delta: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply a membrane stage to [r_re, r_im] (F, 2M, N): (re, im), each (F, K, N)."""
        x = stage.quantize_input(np.concatenate([r_re, r_im], axis=1))
        out = stage.left(x)  # (F, Q, N)
        k = out.shape[1] // (4 if self.drift > 0 else 2)
        re, im = out[:, :k], out[:, k : 2 * k]
        if self.drift > 0:
            d0 = delta[:, 0] if delta is not None else 0.0
            re, im = re + d0 * out[:, 2 * k : 3 * k], im + d0 * out[:, 3 * k :]
        return re, im

    def _couple(
        self, r_re: np.ndarray, r_im: np.ndarray, delta: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Field at each membrane radiated by the other membranes, (F, M, N)."""
        return self._stage(self._stage2, r_re, r_im, delta)

    def _to_mics(
        self, r_re: np.ndarray, r_im: np.ndarray, delta: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scattered pressure at each output pair (microphone, tone), (n_out, N)."""
        re, im = self._stage(self._stage3, r_re, r_im, delta)  # (F, R, N)
        return re[self.out_freq, self.out_mic], im[self.out_freq, self.out_mic]

    def field(self, drive: np.ndarray) -> np.ndarray:
        """Complex microphone pressure p (N, n_out) before |.| and gain (no noise, no drift).

        For analysis: shows that the medium is nonlinear in the field itself, not
        merely through the magnitude taken by the sensors. Counts no samples.
        """
        x = self.validate_drive(drive)
        re, im = self._pressure(x, None)
        return (re + 1j * im).T

    def _pressure(
        self, drive: np.ndarray, delta: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        u_re, u_im, b_re, b_im = self._incident(drive, delta)
        r_re, r_im = self._membranes(u_re, u_im, delta)
        c_re, c_im = self._couple(r_re, r_im, delta)
        r2_re, r2_im = self._membranes(u_re + c_re, u_im + c_im, delta)
        s_re, s_im = self._to_mics(r2_re, r2_im, delta)
        return b_re + s_re, b_im + s_im

    def _physics(self, drive: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        p_re, p_im = self._pressure(drive, delta)
        return np.ascontiguousarray(np.sqrt(p_re * p_re + p_im * p_im).T)

    # ---- perturbation -----------------------------------------------------------------

    def _perturb_step(self, rng: np.random.Generator, strength: float) -> None:
        """Place a rigid object at a random point (first Born order)."""
        o = self.size * rng.uniform(0.1, 0.9, 2)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        g0, g1 = self.cavity.green(self.k, self.points, o[None, :])
        assert g1 is not None
        g0, g1 = g0[:, :, 0] / self._g_scale, g1[:, :, 0] / self._g_scale  # (F, P)
        born = g0[:, :, None] * g0[:, None, :]
        born_rms = np.sqrt(np.mean(np.abs(born[:, self._mic][:, :, self._src]) ** 2))
        sigma = strength * 0.5 / born_rms * np.exp(1j * phase)
        self.g0 = self.g0 + sigma * born
        self.g1 = self.g1 + sigma * (
            g1[:, :, None] * g0[:, None, :] + g0[:, :, None] * g1[:, None, :]
        )
        self._assemble()


def _exact_stage(weights: np.ndarray, input_max: float) -> ExactMatmul:
    """An `ExactMatmul` for membrane fields bounded by `input_max` (a 2**-27 relative grid)."""
    b = bound_log2(input_max)
    return ExactMatmul(weights, 27 - b, b)
