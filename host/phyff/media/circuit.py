r"""A diode-resistor network a dev-board user can build on a breadboard.

Schematic (default 8 nodes; every value drawn from the E12 series, seeded):

                  R_s,k                  R_ring,k
    DAC k o-----/\/\/\-----+---- node k ----/\/\/\---- node k+1 -- ... -- (back to node 0)
    (0..3.3 V)   4.7k-10k  |       |    \            10k-47k
                           |       |     +--|>|-- node b     D_ab: 1N4148 between random
                        R_g,k     _|_                        node pairs, random direction
                      22k-100k    \ /  D_k: a string of 1-3 1N4148 in series,
                           |      ---       anode at node k
                          GND      |
                                  GND
    ADC j o------------- node j   (reads 0..3.3 V)

n = max(n_in, n_out) nodes; DAC k drives node k for k < n_in; ADC j reads node
j for j < n_out. Inter-node diodes: n of them between distinct random pairs.

Model: DC operating point of the network, by Kirchhoff's current law at every
node,

    F(V) = G V - g_s * V_dac + K^T I_d(V) = 0,
    I_d  = Is(T) (exp(V_d / (m_d N Vt(T))) - 1) + g_min V_d,

with G the conductance matrix of the resistors (including R_s to the DAC and
R_g to ground), K the diode incidence matrix (V_d = V_anode - V_cathode), m_d
the number of diodes in series (a string of m identical diodes is one diode of
ideality m N), and the 1N4148 parameters Is = 2.52 nA, N = 1.752 at T0 = 300 K,
g_min = 1e-12 S. Temperature T = T0 (1 + delta_0) (the drift) enters through
Vt = k T / q and the SPICE law Is(T) = Is (T/T0)**(3/N) exp((T/T0 - 1) Eg / (N Vt)),
Eg = 1.11 eV.

Solver: Newton iterations vectorised over the batch, from V = 0, with the
step scaled so that no node moves by more than 0.3 V per iteration (damping
against exponential overshoot), at most 100 iterations; a row stops (is
frozen) as soon as its own step falls below 1e-9 V, so a row's result does not
depend on the other rows of its batch. The Jacobian G + K^T diag(g_d) K is a
strictly diagonally dominant M-matrix (every node has a resistor to ground or
to its DAC), so Gaussian elimination without pivoting is stable; it is done in
basic float operations (no LAPACK), as is the exponential (`numerics.det_exp`).

Reading: node voltage / 3.3 V, times the gain (an amplifier stage in front of
the ADC; gain=1.0 reads the raw voltages).

Perturbation "step": one resistor (any of series, ground or ring, chosen at
random) changes value by a factor (1 + strength), up or down at random.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from phyff.media.base import BaseMedium
from phyff.media.numerics import det_exp, det_log1p, ordered_contract, ordered_sum

V_FULL_SCALE = 3.3
_E12 = np.array([1.0, 1.2, 1.5, 1.8, 2.2, 2.7, 3.3, 3.9, 4.7, 5.6, 6.8, 8.2])
_IS = 2.52e-9
_N = 1.752
_T0 = 300.0
_K_OVER_Q = 8.617333262e-5  # Boltzmann constant / electron charge, V/K
_EG = 1.11
_XTI = 3.0
_GMIN = 1e-12
_VSTEP = 0.3
_TOL = 1e-9
_MAX_ITER = 100
_EXP_LIMIT = 80.0  # beyond this exponent the diode law is continued linearly


def _e12(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """n resistor values drawn from the E12 series within [lo, hi] ohms (parts you can buy)."""
    values = np.concatenate([_E12 * 10.0**d for d in range(2, 7)])
    values = values[(values >= lo * (1 - 1e-9)) & (values <= hi * (1 + 1e-9))]
    return rng.choice(values, n)


class CircuitMedium(BaseMedium):
    """Resistor-diode network at DC; drive = DAC voltages, reading = node voltages.

    Options (besides seed/noise/drift/gain, see `BaseMedium`): n_in (DACs,
    default 8), n_out (ADC channels, default 8).
    """

    name = "circuit"
    # The network is solved densely by Newton's method: 64 nodes build in seconds,
    # 256 in ten minutes.
    size_limits: ClassVar[dict[str, tuple[int, int]]] = {"n_in": (1, 64), "n_out": (1, 64)}
    drift_channels = 1

    def __init__(
        self,
        seed: int = 0,
        *,
        n_in: int = 8,
        n_out: int = 8,
        noise: float = 0.002,
        drift: float = 0.0,
        gain: float | None = None,
    ) -> None:
        self.nonconverged_rows = 0
        super().__init__(n_in, n_out, seed=seed, noise=noise, drift=drift, gain=gain)

    # ---- structure ------------------------------------------------------------------

    def _build(self, rng: np.random.Generator) -> None:
        n = max(self.n_in, self.n_out)
        self.n_nodes = n
        # Resistors as (node a, node b, ohms); node -1 is ground, -2 - k is DAC k.
        res: list[tuple[int, int, float]] = []
        r_s = _e12(rng, 4.7e3, 10e3, self.n_in)
        res += [(k, -2 - k, float(r_s[k])) for k in range(self.n_in)]
        r_g = _e12(rng, 22e3, 100e3, n)
        res += [(i, -1, float(r_g[i])) for i in range(n)]
        ring = [(i, (i + 1) % n) for i in range(n)] if n > 2 else ([(0, 1)] if n == 2 else [])
        r_ring = _e12(rng, 10e3, 47e3, len(ring))
        res += [(a, b, float(r)) for (a, b), r in zip(ring, r_ring, strict=True)]
        self.resistors = res
        # Diodes as (anode, cathode, series count); cathode -1 is ground.
        diodes: list[tuple[int, int, int]] = []
        strings = rng.integers(1, 4, n)
        diodes += [(i, -1, int(strings[i])) for i in range(n)]
        if n >= 2:
            order = [(int(a), int(b)) for a, b in zip(*np.triu_indices(n, 1), strict=True)]
            pick = rng.permutation(len(order))[: min(n, len(order))]
            for p in pick:
                a, b = order[int(p)]
                if rng.random() < 0.5:
                    a, b = b, a
                diodes.append((a, b, 1))
        self.diodes = diodes
        self._assemble()

    def _assemble(self) -> None:
        n = self.n_nodes
        g = np.zeros((n, n))
        g_s = np.zeros(n)
        for a, b, r in self.resistors:
            c = 1.0 / r
            g[a, a] += c
            if b >= 0:
                g[b, b] += c
                g[a, b] -= c
                g[b, a] -= c
            elif b <= -2:
                g_s[-2 - b] += c
        self._g_t = g.T.copy()  # for x @ G^T in ordered_contract
        self._g_flat = g.ravel()
        self._g_s = g_s[: self.n_in]
        nd = len(self.diodes)
        anode = np.array([d[0] for d in self.diodes])
        cathode = np.array([d[1] for d in self.diodes])
        self._anode = anode
        self._cathode = np.where(cathode < 0, n, cathode)  # index n = ground (0 V)
        self._inv_m = 1.0 / np.array([float(d[2]) for d in self.diodes])
        # Sparse gather plans: which diodes (in index order) touch each KCL equation
        # and each Jacobian entry, with their signs; padded with a zero column.
        node_terms: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        jac_terms: list[list[tuple[int, float]]] = [[] for _ in range(n * n)]
        for d, (a, c) in enumerate(zip(anode, cathode, strict=True)):
            node_terms[a].append((d, 1.0))
            jac_terms[a * n + a].append((d, 1.0))
            if c >= 0:
                node_terms[c].append((d, -1.0))
                jac_terms[c * n + c].append((d, 1.0))
                jac_terms[a * n + c].append((d, -1.0))
                jac_terms[c * n + a].append((d, -1.0))
        self._node_plan = _gather_plan(node_terms, nd)
        self._jac_plan = _gather_plan(jac_terms, nd)

    # ---- physics ----------------------------------------------------------------------

    def _diode_params(self, delta: np.ndarray | None, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-row 1 / (N Vt) and Is, shape (rows, 1)."""
        if delta is None:
            ratio = np.ones((rows, 1))
            log_ratio = np.zeros((rows, 1))
        else:
            d = np.clip(delta[:, 0:1], -0.5, 0.5)
            ratio = 1.0 + d
            log_ratio = det_log1p(d)
        vt = _K_OVER_Q * _T0 * ratio
        inv_nvt = 1.0 / (_N * vt)
        i_s = _IS * det_exp((_XTI / _N) * log_ratio + (ratio - 1.0) * _EG * inv_nvt)
        return inv_nvt, i_s

    def solve(self, drive: np.ndarray, delta: np.ndarray | None = None) -> np.ndarray:
        """Node voltages (N, n_nodes) in volts for validated drives (no noise)."""
        n_rows, n = drive.shape[0], self.n_nodes
        inv_nvt, i_s = self._diode_params(delta, n_rows)
        b = np.zeros((n_rows, n))
        b[:, : self.n_in] = (drive * V_FULL_SCALE) * self._g_s
        v = np.zeros((n_rows, n))
        active = np.arange(n_rows)
        for _ in range(_MAX_ITER):
            if active.size == 0:
                break
            va = v[active]
            f, jac = self._residual(va, b[active], inv_nvt[active], i_s[active])
            step = _solve_dd(jac, -f)
            biggest = np.max(np.abs(step), axis=1, keepdims=True)
            scale = np.where(biggest > _VSTEP, _VSTEP / np.maximum(biggest, _VSTEP), 1.0)
            v[active] = va + step * scale
            active = active[biggest[:, 0] >= _TOL]
        self.nonconverged_rows += int(active.size)
        return v

    def _residual(
        self, v: np.ndarray, b: np.ndarray, inv_nvt: np.ndarray, i_s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """KCL residual F (N, n) and Jacobian (N, n, n)."""
        rows, n = v.shape
        vg = np.concatenate([v, np.zeros((rows, 1))], axis=1)
        vd = vg[:, self._anode] - vg[:, self._cathode]
        arg = vd * (inv_nvt * self._inv_m)
        e = det_exp(np.minimum(arg, _EXP_LIMIT))
        over = np.maximum(arg - _EXP_LIMIT, 0.0)
        current = i_s * (e * (1.0 + over) - 1.0) + _GMIN * vd
        cond = i_s * e * (inv_nvt * self._inv_m) + _GMIN
        f = _gather_add(ordered_contract(v, self._g_t) - b, current, self._node_plan)
        jac = _gather_add(np.broadcast_to(self._g_flat, (rows, n * n)), cond, self._jac_plan)
        return f, jac.reshape(rows, n, n)

    def _physics(self, drive: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        return self.solve(drive, delta)[:, : self.n_out] / V_FULL_SCALE

    # ---- perturbation -----------------------------------------------------------------

    def _perturb_step(self, rng: np.random.Generator, strength: float) -> None:
        """One resistor changes value by a factor (1 + strength), up or down."""
        i = int(rng.integers(len(self.resistors)))
        factor = (1.0 + strength) if rng.random() < 0.5 else 1.0 / (1.0 + strength)
        a, b, r = self.resistors[i]
        self.resistors[i] = (a, b, r * factor)
        self._assemble()


def _solve_dd(a: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a x = rhs for a stack of diagonally dominant matrices (no pivoting).

    Basic float operations only, each row of the stack independent of the others.
    """
    a = a.copy()
    x = rhs.copy()
    n = a.shape[-1]
    for k in range(n - 1):
        factor = a[:, k + 1 :, k] / a[:, k : k + 1, k]
        a[:, k + 1 :, k:] -= factor[:, :, None] * a[:, None, k, k:]
        x[:, k + 1 :] -= factor * x[:, k : k + 1]
    out = np.empty_like(x)
    for i in range(n - 1, -1, -1):
        known = ordered_sum(a[:, i, i + 1 :] * out[:, i + 1 :], axis=1)
        out[:, i] = (x[:, i] - known) / a[:, i, i]
    return out


def _gather_plan(
    terms: list[list[tuple[int, float]]], n_values: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plan for `_gather_add`: the slots that have terms, and (width, slots) index/sign.

    Index n_values points at a zero padding column.
    """
    slots = np.array([i for i, t in enumerate(terms) if t], dtype=np.int64)
    width = max(1, max((len(t) for t in terms), default=1))
    index = np.full((width, slots.size), n_values)
    sign = np.zeros((width, slots.size))
    for col, slot in enumerate(slots):
        for j, (i, sgn) in enumerate(terms[slot]):
            index[j, col], sign[j, col] = i, sgn
    return slots, index, sign


def _gather_add(
    base: np.ndarray, values: np.ndarray, plan: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """base[:, slot] + sum_j sign[j, slot] values[:, index[j, slot]], in a fixed order.

    A sparse, deterministic replacement for ``base + values @ K``: each slot sums
    only the few terms that touch it, always in the same order.
    """
    slots, index, sign = plan
    padded = np.concatenate([values, np.zeros((values.shape[0], 1))], axis=1)
    out = np.array(base, dtype=np.float64, copy=True)
    if slots.size:
        out[:, slots] = out[:, slots] + ordered_sum(padded[:, index] * sign, axis=1)
    return out
