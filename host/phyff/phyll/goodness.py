"""Goodness, the local loss of one block, and its analytic gradient.

Each block k owns y = P z with P = [W | b] and za = [z, 1], so the bias rides in
the same matrix product as the weights (one product forward, one backward, one
Adam update). The block is trained only through its own loss; nothing here ever
differentiates through a physical layer, which is the whole point of PhyLL.

Goodness ``cosine`` (the paper's): G = cos(|y|, xi) with xi a fixed unit vector.
With a = |y|, n = max(||y||, eps) and s = sign(y):

    dG/dy = s * (xi - G a / n) / n  =  s*xi * (1/n) - y * (G / n^2)

(using s * a = y). Loss over N positive/negative pairs:
L = mean_i softplus(-theta (G+_i - G-_i)), so dL/dG+_i = -theta sigma(x_i) / N
and dL/dG-_i = +theta sigma(x_i) / N with x_i = -theta (G+_i - G-_i).

Goodness ``ff_v1`` (Hinton 2022, the paper's first version): g = mean(y^2)
over units (``ff_reduce="mean"``, as common FF implementations do; "sum" gives
Hinton's sum of squares), compared with a threshold:
L = mean over all 2N rows of softplus(thr - g+) and softplus(g- - thr);
theta is not used by this loss. dg/dy = 2 y / o (mean) or 2 y (sum).

The loss value returned is the one at the weights *before* the step, as the
reference reports it. MAC counts follow `phyff.phyll.accounting`.
`phyff.phyll.goodness_reference` computes the same loss and gradient row by
row, unfused: read it first; the tests hold this fused version to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GOODNESS_KINDS: tuple[str, ...] = ("cosine", "ff_v1")
FF_REDUCE: tuple[str, ...] = ("mean", "sum")
COSINE_EPS = 1e-6  # the reference's cosine-similarity eps


@dataclass(frozen=True)
class GoodnessSpec:
    """Which goodness a block uses and the constants of its loss."""

    kind: str = "cosine"
    theta: float = 4.0
    ff_threshold: float = 2.0
    ff_reduce: str = "mean"

    def __post_init__(self) -> None:
        if self.kind not in GOODNESS_KINDS:
            raise ValueError(
                f"unknown goodness {self.kind!r}; expected one of {', '.join(GOODNESS_KINDS)}"
            )
        if self.ff_reduce not in FF_REDUCE:
            raise ValueError(f"ff_reduce must be 'mean' or 'sum', got {self.ff_reduce!r}")
        if not self.theta > 0:
            raise ValueError(f"theta must be positive, got {self.theta}")


def goodness(spec: GoodnessSpec, y: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, int]:
    """Goodness of each row of y (M, o); returns (G (M,), MACs). Used at inference."""
    m, o = y.shape
    sq = np.einsum("ij,ij->i", y, y)  # m*o
    if spec.kind == "cosine":
        s = np.abs(y) @ xi  # m*o
        norm = np.sqrt(sq)
        np.maximum(norm, COSINE_EPS, out=norm)
        s /= norm  # m
        return s, 2 * m * o + m
    if spec.ff_reduce == "mean":
        sq *= 1.0 / o  # m
        return sq, m * o + m
    return sq, m * o


class LocalLoss:
    """Loss and gradient of one block, with scratch buffers reused across steps.

    The inner loop runs T optimiser steps on the same measured batch, so the
    buffers are allocated once per batch shape and every step writes in place;
    the loss and the goodness separation are accumulated as vectors and reduced
    only when asked for (`take_stats`). Block outputs are held transposed,
    (o, M): with o ~ 20 units and M ~ 400 rows, per-row scalings then broadcast
    along long contiguous rows, several times faster in numpy than (M, o).
    """

    def __init__(self, spec: GoodnessSpec, xi: np.ndarray) -> None:
        self.spec = spec
        self.xi = xi
        self._key: tuple[int, int, np.dtype] | None = None
        self._calls = 0

    def _buffers(self, o: int, m: int, dtype: np.dtype) -> None:
        if self._key == (o, m, dtype):
            return
        if m % 2:
            raise ValueError(f"expected positives and negatives in equal numbers, got {m} rows")
        self._key = (o, m, dtype)
        n = m // 2
        self.yt = np.empty((o, m), dtype)
        self.ay = np.empty((o, m), dtype)
        self.gyt = np.empty((o, m), dtype)
        self.tmp = np.empty((o, m), dtype)
        self.g, self.inv, self.u, self.w = np.empty((4, m), dtype)
        self.x, self.r = np.empty((2, n), dtype)
        self.xi_row = self.xi.astype(dtype)
        self.xi_col = self.xi_row[:, None].copy()
        c = self.spec.theta / n
        self.plus_minus = np.concatenate([np.full(n, -c), np.full(n, c)]).astype(dtype)
        self.loss_acc = np.zeros(m if self.spec.kind == "ff_v1" else n)
        self.sep_acc = np.zeros(n)
        self._calls = 0

    def __call__(self, za: np.ndarray, param: np.ndarray, grad: np.ndarray) -> int:
        """Write dL/dparam into `grad`; return the MACs spent.

        za: (M, q) block inputs with a trailing column of ones, positives in
        rows [0, M/2) and their negatives (same order) in rows [M/2, M).
        param: (o, q) = [W | b]; grad: (o, q).
        """
        m, q = za.shape
        o = param.shape[0]
        self._buffers(o, m, param.dtype)
        np.matmul(param, za.T, out=self.yt)  # o*q*m
        macs = self._cosine_dy() if self.spec.kind == "cosine" else self._ff_dy()
        np.matmul(self.gyt, za, out=grad)  # o*m*q
        self._calls += 1
        return macs + 2 * m * o * q

    def take_stats(self) -> tuple[float, float]:
        """(loss, mean G+ - G-) averaged over the calls since the last take."""
        calls = max(self._calls, 1)
        loss = float(self.loss_acc.sum()) / (len(self.loss_acc) * calls)
        sep = float(self.sep_acc.sum()) / (len(self.sep_acc) * calls)
        self.loss_acc[:] = 0.0
        self.sep_acc[:] = 0.0
        self._calls = 0
        return loss, sep

    def _cosine_dy(self) -> int:
        yt, ay, gyt, tmp = self.yt, self.ay, self.gyt, self.tmp
        g, inv, u, w, x, r = self.g, self.inv, self.u, self.w, self.x, self.r
        o, m = yt.shape
        n = m // 2
        np.abs(yt, out=ay)
        np.matmul(self.xi_row, ay, out=g)  # o*m: |y|.xi
        np.einsum("ij,ij->j", yt, yt, out=inv)  # o*m: ||y||^2
        np.maximum(inv, COSINE_EPS**2, out=inv)
        np.sqrt(inv, out=inv)
        np.divide(1.0, inv, out=inv)  # m: 1/||y||
        g *= inv  # m: G
        np.subtract(g[:n], g[n:], out=x)
        self.sep_acc += x
        x *= -self.spec.theta  # n: x = -theta * delta
        sp = np.logaddexp(0.0, x)
        self.loss_acc += sp
        np.subtract(x, sp, out=r)
        np.exp(r, out=r)  # sigma(x)
        np.multiply(inv.reshape(2, n), r, out=u.reshape(2, n))  # m
        u *= self.plus_minus  # m: dL/dG / ||y||
        np.multiply(u, g, out=w)  # m
        w *= inv  # m: dL/dG * G / ||y||^2
        np.sign(yt, out=gyt)
        gyt *= self.xi_col  # o*m
        gyt *= u  # o*m
        np.multiply(yt, w, out=tmp)  # o*m
        gyt -= tmp
        return 5 * m * o + 6 * m + n

    def _ff_dy(self) -> int:
        yt, gyt, g, x = self.yt, self.gyt, self.g, self.u
        o, m = yt.shape
        n = m // 2
        np.einsum("ij,ij->j", yt, yt, out=g)  # o*m
        macs = m * o
        scale = 2.0
        if self.spec.ff_reduce == "mean":
            g *= 1.0 / o  # m
            macs += m
            scale = 2.0 / o
        self.sep_acc += g[:n]
        self.sep_acc -= g[n:]
        thr = self.spec.ff_threshold
        np.subtract(thr, g[:n], out=x[:n])
        np.subtract(g[n:], thr, out=x[n:])
        sp = np.logaddexp(0.0, x)
        self.loss_acc += sp
        np.subtract(x, sp, out=x)
        np.exp(x, out=x)  # sigma(x) = m * dL/dx
        x *= scale / m  # m: dL/dg * dg/dy / y
        np.negative(x[:n], out=x[:n])  # positives: dx/dg = -1
        np.multiply(yt, x, out=gyt)  # o*m
        return macs + m * o + m
