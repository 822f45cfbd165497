"""Modal Green's function of a two-dimensional rectangular cavity.

Both the acoustic and the microwave media are reverberant rooms. Rather than
discretising walls into hundreds of scatterers, the room's own response is
written as a sum over its eigenmodes, which gives reverberation (many
overlapping, damped resonances) at a cost independent of the number of bounces:

    G(x, y; k) = sum_n  N_n psi_n(x) psi_n(y) / (k_n**2 - k**2 - i k k_n / Q)

for a room [0, Lx] x [0, Ly] with modes n = (a, b), k_n = pi sqrt((a/Lx)**2 + (b/Ly)**2),
and

- Neumann (rigid) walls, acoustic pressure: psi = cos(a pi x / Lx) cos(b pi y / Ly),
  a, b >= 0, N_n = eps_a eps_b / (Lx Ly) with eps_0 = 1, eps_{>0} = 2;
- Dirichlet (metal) walls, TM electric field: psi = sin(a pi x / Lx) sin(b pi y / Ly),
  a, b >= 1, N_n = 4 / (Lx Ly).

Q is the modal quality factor (wall absorption). Modes up to k_max are kept:
the truncated tail only adds a smooth, nearly frequency-independent background.
G is symmetric in x and y (reciprocity). Everything here runs at construction
or perturbation time only, never per measured sample.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from phyff.media.numerics import chunked_matmul


class RectCavity:
    """A 2-D rectangular room: modes, and the Green's function between point sets."""

    def __init__(
        self,
        lx: float,
        ly: float,
        k_max: float,
        q_factor: float,
        boundary: Literal["neumann", "dirichlet"],
    ) -> None:
        if boundary not in ("neumann", "dirichlet"):
            raise ValueError(f"boundary must be 'neumann' or 'dirichlet', got {boundary!r}")
        self.lx, self.ly, self.q_factor, self.boundary = float(lx), float(ly), q_factor, boundary
        first = 0 if boundary == "neumann" else 1
        a_max = int(np.ceil(k_max * lx / np.pi))
        b_max = int(np.ceil(k_max * ly / np.pi))
        grid_a, grid_b = np.meshgrid(
            np.arange(first, a_max + 1), np.arange(first, b_max + 1), indexing="ij"
        )
        a, b = grid_a.ravel(), grid_b.ravel()
        kn = np.pi * np.sqrt((a / lx) ** 2 + (b / ly) ** 2)
        keep = kn <= k_max
        self.a, self.b, self.kn = a[keep], b[keep], kn[keep]
        if boundary == "neumann":
            eps = np.where(self.a == 0, 1.0, 2.0) * np.where(self.b == 0, 1.0, 2.0)
            self.norm = eps / (lx * ly)
        else:
            self.norm = np.full(self.kn.shape, 4.0 / (lx * ly))

    @property
    def n_modes(self) -> int:
        return int(self.kn.size)

    def shapes(self, points: np.ndarray) -> np.ndarray:
        """Mode shapes psi_n at `points` (n, 2): array (n, n_modes)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        ax = np.pi * self.a[None, :] * p[:, 0:1] / self.lx
        by = np.pi * self.b[None, :] * p[:, 1:2] / self.ly
        if self.boundary == "neumann":
            return np.cos(ax) * np.cos(by)
        return np.sin(ax) * np.sin(by)

    def green(
        self, k: np.ndarray, pa: np.ndarray, pb: np.ndarray, derivative: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """G(pa, pb; k) and its wave-speed derivative, each (F, n_a, n_b) complex.

        The derivative is dG/d(delta) for k -> k / (1 + delta) (a relative change of
        the wave speed, e.g. temperature), i.e. -k dG/dk, used for first-order drift;
        None when `derivative` is False.
        """
        ks = np.atleast_1d(np.asarray(k, dtype=np.float64))
        sa, sb = self.shapes(pa), self.shapes(pb)
        kn = self.kn[None, :]
        kk = ks[:, None]
        den = kn**2 - kk**2 - 1j * kk * kn / self.q_factor  # (F, n_modes)
        w = self.norm[None, :] / den
        sbt = np.ascontiguousarray(sb.T)
        shape = (ks.size, sa.shape[0], sb.shape[0])

        def project(weights: np.ndarray) -> np.ndarray:
            # One real 2-D product per part: the mode shapes are real, and a single
            # large product is far faster than a stack of small complex ones.
            left = (sa[None, :, :] * weights[:, None, :]).reshape(-1, sa.shape[1])
            out = chunked_matmul(left.real, sbt) + 1j * chunked_matmul(left.imag, sbt)
            return out.reshape(shape)

        if not derivative:
            return project(w), None
        dw = -kk * self.norm[None, :] * (2.0 * kk + 1j * kn / self.q_factor) / den**2
        return project(w), project(dw)
