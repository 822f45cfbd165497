r"""Reverberant microwave cavity with a binary programmable metasurface (coupled dipoles).

Physical picture, in the spirit of PhysFad (Faqiri et al., IEEE TWC 2022): a
quasi-2-D metallic cavity holds two antennas (transmit, receive), a
programmable metasurface of E elements (two rows along one wall; each element's
PIN diode selects one of two resonance frequencies) and a few fixed
environment scatterers. Every one of these is a resonant dipole; all dipoles
interact through the cavity, so the transfer between the antennas depends
nonlinearly on the metasurface configuration (multiple scattering).

Model (per frequency, wavenumber k; n dipoles at points x_i):

    inverse polarizability  1/alpha_i(k) = (k_i**2 - k**2 - i k k_i / Q_i) / chi_i
    coupling                G_ij = G_cav(x_i, x_j; k)  (i != j),  G_ii = i Im G_cav(x_i, x_i; k)
    interaction matrix      W = (Lambda^{-1} - G)^{-1},  Lambda = diag(alpha_i)
    output                  |S21(k)| ~ |W[rx, tx]|,   reading = gain * |W[rx, tx]|

G_cav is the modal Green's function of the cavity with metal (Dirichlet) walls
and modal Q = 150 (`phyff.media.cavity`): it carries the reverberation that
PhysFad builds from hundreds of wall dipoles, so only ~50 dipoles are needed.
The real part of G_ii is left out (it only renormalises the resonances); its
imaginary part is the dipole's radiation into the cavity. Element j is in state
1 (resonance k_j^on -> 1.15 k_j^on, out of band) when its drive is >= 0.5.

Solving: only the element block of Lambda^{-1} depends on the configuration.
With F = antennas + environment (fixed) and M = elements, A = Lambda^{-1} - G,
P = A_FF^{-1} and the Schur complement S = A_MM - A_MF P A_FM (whose diagonal
carries the element states),

    W[rx, tx] = P[rx, tx] + (P A_FM)[rx, :] S^{-1} (A_MF P)[:, tx],

so each (configuration, frequency) costs one E x E complex solve with one
right-hand side; the fixed parts are precomputed. Every system is solved on
its own by the same LAPACK routine, so a row's result does not depend on the
batch it came in.

Drift (two channels): delta_0 shifts every element resonance by 5 delta_0
(relative; bias drift of the diodes with temperature); delta_1 is a relative
drift of the receive chain gain, |S21| -> (1 + delta_1) |S21|.

Perturbation "step": a new scatterer dipole (an object) appears at a random
point, with an in-band resonance; strength scales its polarizability.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from phyff.media.base import BaseMedium
from phyff.media.cavity import RectCavity
from phyff.media.numerics import ordered_sum

_BAND = (40.0, 46.0)
_MODAL_Q = 150.0
_OFF_SHIFT = 1.15
_DRIFT_RESONANCE = 5.0
_CHUNK_SYSTEMS = 512  # (configuration, frequency) systems per linear-algebra call


class MicrowaveMedium(BaseMedium):
    """Metasurface-programmed cavity; drive >= 0.5 switches an element; output |S21(f)|.

    Options (besides seed/noise/drift/gain, see `BaseMedium`): n_in (metasurface
    elements, default 40), n_out (frequencies, default 20), n_env (fixed
    environment scatterers, default 8).
    """

    name = "microwave"
    # Each sample solves the cavity per frequency with every element: 64 channels
    # build in seconds, 256 in minutes.
    size_limits: ClassVar[dict[str, tuple[int, int]]] = {
        "n_in": (1, 128), "n_out": (1, 128), "n_env": (0, 256)}
    training_preset = "microwave"
    drift_channels = 2
    calibration_probes = 256  # x 20 frequencies: plenty for a 99th percentile, half the solves

    def __init__(
        self,
        seed: int = 0,
        *,
        n_in: int = 40,
        n_out: int = 20,
        n_env: int = 8,
        noise: float = 0.002,
        drift: float = 0.0,
        gain: float | None = None,
    ) -> None:
        self._check_sizes(n_in=n_in, n_out=n_out, n_env=n_env)
        self.n_env = int(n_env)
        super().__init__(n_in, n_out, seed=seed, noise=noise, drift=drift, gain=gain)

    # ---- structure ------------------------------------------------------------------

    def _build(self, rng: np.random.Generator) -> None:
        lx, ly = 1.0, float(rng.uniform(0.7, 0.9))
        self.size = np.array([lx, ly])
        lo, hi = _BAND
        self.k = np.linspace(lo, hi, self.n_out) if self.n_out > 1 else np.array([0.5 * (lo + hi)])
        self.cavity = RectCavity(lx, ly, 2.0 * hi, _MODAL_Q, "dirichlet")
        k_c = 0.5 * (lo + hi)
        # Fixed dipoles: antennas (tx, rx) then environment scatterers.
        antennas = self.size * rng.uniform(0.15, 0.85, (2, 2))
        env = self.size * rng.uniform(0.05, 0.95, (self.n_env, 2))
        self.fixed_points = np.concatenate([antennas, env])
        self.fixed_kr = np.concatenate([np.full(2, k_c), rng.uniform(0.5, 1.5, self.n_env) * k_c])
        self.fixed_q = np.concatenate([np.full(2, 3.0), rng.uniform(5.0, 30.0, self.n_env)])
        coupling = np.concatenate([np.full(2, 1.0), np.full(self.n_env, 0.6)])
        # Metasurface: two rows along the bottom wall.
        per_row = -(-self.n_in // 2)
        xs = np.linspace(0.1, 0.9, per_row) * lx
        grid = [(x, y) for y in (0.05 * ly, 0.1 * ly) for x in xs]
        self.element_points = np.array(grid[: self.n_in]) + rng.normal(0, 0.003, (self.n_in, 2))
        self.element_kr = k_c * rng.uniform(0.97, 1.03, self.n_in)
        self.element_q = np.full(self.n_in, 20.0)
        # Coupling strengths: peak |alpha| * rms|G| = coupling.
        pts = np.concatenate([self.fixed_points, self.element_points])
        g, _ = self.cavity.green(np.array([k_c]), pts, pts, derivative=False)
        off = ~np.eye(len(pts), dtype=bool)
        self._g_rms = float(np.sqrt(np.mean(np.abs(g[0][off]) ** 2)))
        self.fixed_chi = coupling * self.fixed_kr**2 / (self.fixed_q * self._g_rms)
        self.element_chi = 0.6 * self.element_kr**2 / (self.element_q * self._g_rms)
        self._precompute()

    def _precompute(self) -> None:
        """Per-frequency fixed parts of the Schur-complement solve."""
        nf = len(self.fixed_points)
        pts = np.concatenate([self.fixed_points, self.element_points])
        g, _ = self.cavity.green(self.k, pts, pts, derivative=False)  # (F, n, n)
        idx = np.arange(len(pts))
        g[:, idx, idx] = 1j * g[:, idx, idx].imag
        k = self.k[:, None]
        lam_f = (self.fixed_kr**2 - k**2 - 1j * k * self.fixed_kr / self.fixed_q) / self.fixed_chi
        a_ff = -g[:, :nf, :nf]
        a_ff[:, np.arange(nf), np.arange(nf)] += lam_f
        a_fm, a_mf, a_mm = -g[:, :nf, nf:], -g[:, nf:, :nf], -g[:, nf:, nf:]
        p = np.linalg.inv(a_ff)
        self._p_rt = p[:, 1, 0]  # W[rx, tx] without the metasurface
        pa = p @ a_fm  # (F, nf, M)
        ap = a_mf @ p  # (F, M, nf)
        self._u = pa[:, 1, :]  # row of rx
        self._v = ap[:, :, 0]  # column of tx
        self._s0 = a_mm - a_mf @ pa  # (F, M, M), diagonal without the element term
        self._lam_table = np.stack([self._element_lambda(s, None) for s in (0, 1)])  # (2, F, M)

    def _element_lambda(self, state: int, shift: np.ndarray | None) -> np.ndarray:
        """Inverse polarizabilities of the elements, (F, M) or (N, F, M) with drift."""
        kr = self.element_kr * (_OFF_SHIFT if state else 1.0)
        if shift is not None:
            kr = kr[None, None, :] * (1.0 + _DRIFT_RESONANCE * shift[:, None, None])
        k = self.k[:, None]
        return (kr**2 - k**2 - 1j * k * kr / self.element_q) / self.element_chi

    # ---- physics ----------------------------------------------------------------------

    def transfer(self, drive: np.ndarray) -> np.ndarray:
        """Complex W[rx, tx] (N, n_out) before |.| and gain (no noise, no drift).

        For analysis: shows the multiple scattering, e.g. the effects of switching
        two elements do not add up in the complex transfer. Counts no samples.
        """
        x = self.validate_drive(drive)
        re, im = self._transfer(x, None)
        return re + 1j * im

    def _transfer(
        self, drive: np.ndarray, delta: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        n, f_count, m = drive.shape[0], self.n_out, self.n_in
        state = drive >= 0.5
        if delta is None:
            lam = np.where(state[:, None, :], self._lam_table[1][None], self._lam_table[0][None])
        else:
            lam = np.where(
                state[:, None, :],
                self._element_lambda(1, delta[:, 0]),
                self._element_lambda(0, delta[:, 0]),
            )
        out_re = np.empty((n, f_count))
        out_im = np.empty((n, f_count))
        rows = max(1, _CHUNK_SYSTEMS // f_count)
        diag = np.arange(m)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            s = np.repeat(self._s0[None], stop - start, axis=0)  # (c, F, M, M)
            s[:, :, diag, diag] += lam[start:stop]
            rhs = np.broadcast_to(self._v[None, :, :, None], (stop - start, f_count, m, 1))
            x = np.linalg.solve(s, rhs)[..., 0]  # (c, F, M)
            x_re, x_im = x.real, x.imag
            u_re, u_im = self._u.real[None], self._u.imag[None]
            dot_re = ordered_sum(x_re * u_re - x_im * u_im, axis=-1)
            dot_im = ordered_sum(x_re * u_im + x_im * u_re, axis=-1)
            out_re[start:stop] = self._p_rt.real[None] + dot_re
            out_im[start:stop] = self._p_rt.imag[None] + dot_im
        return out_re, out_im

    def _physics(self, drive: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        re, im = self._transfer(drive, delta)
        mag = np.sqrt(re * re + im * im)
        if delta is not None:
            mag = mag * (1.0 + delta[:, 1:2])
        return mag

    # ---- perturbation -----------------------------------------------------------------

    def _perturb_step(self, rng: np.random.Generator, strength: float) -> None:
        """A new scatterer dipole appears (an object is put into the cavity)."""
        point = self.size * rng.uniform(0.1, 0.9, 2)
        k_c = 0.5 * sum(_BAND)
        kr = k_c * rng.uniform(0.9, 1.1)
        q = rng.uniform(5.0, 20.0)
        chi = strength * 0.8 * kr**2 / (q * self._g_rms)
        self.fixed_points = np.concatenate([self.fixed_points, point[None]])
        self.fixed_kr = np.append(self.fixed_kr, kr)
        self.fixed_q = np.append(self.fixed_q, q)
        self.fixed_chi = np.append(self.fixed_chi, chi)
        self._precompute()
