"""The local loss of one block and its gradient, written to be read, not to be fast.

`phyff.phyll.goodness.LocalLoss` computes these numbers fused: transposed
outputs, scratch buffers reused across steps, every operation in place. That
is what training needs and what makes it hard to check by eye. This module
computes the same loss one row at a time with nothing fused or reused, each
line one step of the maths in `phyff.phyll.goodness`'s docstring, so it can be
read first and held against the paper, and the tests use it as a second
oracle for the fused version (besides finite differences).

Block outputs: y = P za, P = [W | b], za = [z, 1]. The batch holds N positive
rows, then their N negatives in the same order.
"""

from __future__ import annotations

import math

import numpy as np

from phyff.phyll.goodness import COSINE_EPS, GoodnessSpec


def softplus(x: float) -> float:
    """log(1 + e^x), without overflow for large |x|."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), the derivative of softplus, without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def cosine_goodness(y: np.ndarray, xi: np.ndarray) -> float:
    """G = cos(|y|, xi) for a unit vector xi: (|y| . xi) / ||y||, the norm kept >= eps."""
    norm = max(math.sqrt(float(y @ y)), COSINE_EPS)
    return float(np.abs(y) @ xi) / norm


def cosine_goodness_grad(y: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """dG/dy = sign(y) xi / n - y G / n^2 with n = ||y|| (off the eps floor)."""
    norm = max(math.sqrt(float(y @ y)), COSINE_EPS)
    g = cosine_goodness(y, xi)
    return np.sign(y) * xi / norm - y * g / norm**2


def ff_goodness(y: np.ndarray, reduce: str) -> float:
    """Hinton's goodness: the sum of squares, or their mean over the units."""
    total = float(y @ y)
    return total / len(y) if reduce == "mean" else total


def ff_goodness_grad(y: np.ndarray, reduce: str) -> np.ndarray:
    """dg/dy = 2 y (sum) or 2 y / units (mean)."""
    return 2.0 * y / len(y) if reduce == "mean" else 2.0 * y


def local_loss(spec: GoodnessSpec, xi: np.ndarray, za: np.ndarray, param: np.ndarray
               ) -> tuple[float, float, np.ndarray]:
    """(loss, mean goodness separation G+ - G-, dL/dP) of one block on one batch.

    za: (2N, q) block inputs, positives then their negatives; param: P (o, q).
    """
    rows = len(za)
    if rows % 2:
        raise ValueError(f"expected positives and negatives in equal numbers, got {rows} rows")
    n = rows // 2
    ys = [param @ row for row in za]
    dl_dy = [np.zeros(len(y)) for y in ys]  # dL/dy of every row, filled below
    loss = 0.0
    separation = 0.0
    for i in range(n):
        pos, neg = ys[i], ys[n + i]
        if spec.kind == "cosine":
            # one term per pair: softplus(-theta (G+ - G-)), averaged over the N pairs
            delta = cosine_goodness(pos, xi) - cosine_goodness(neg, xi)
            x = -spec.theta * delta
            loss += softplus(x) / n
            dl_ddelta = -spec.theta * sigmoid(x) / n
            dl_dy[i] = dl_ddelta * cosine_goodness_grad(pos, xi)
            dl_dy[n + i] = -dl_ddelta * cosine_goodness_grad(neg, xi)
            separation += delta / n
        else:
            # one term per row: push g+ above the threshold and g- below it, averaged
            # over all 2N rows
            g_pos = ff_goodness(pos, spec.ff_reduce)
            g_neg = ff_goodness(neg, spec.ff_reduce)
            x_pos = spec.ff_threshold - g_pos
            x_neg = g_neg - spec.ff_threshold
            loss += (softplus(x_pos) + softplus(x_neg)) / rows
            dl_dy[i] = -sigmoid(x_pos) / rows * ff_goodness_grad(pos, spec.ff_reduce)
            dl_dy[n + i] = sigmoid(x_neg) / rows * ff_goodness_grad(neg, spec.ff_reduce)
            separation += (g_pos - g_neg) / n
    # y = P za, so each row adds dL/dy (outer) za to dL/dP
    grad = np.zeros(param.shape)
    for row, d in zip(za, dl_dy, strict=True):
        grad += np.outer(d, row)
    return loss, separation, grad
