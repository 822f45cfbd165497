"""Linear read-out for unsupervised training: ridge regression in closed form.

Unsupervised forward-forward training never sees a label, so it cannot classify
by goodness. Following Hinton's recipe, the trained blocks are treated as a
fixed feature extractor and a linear classifier is fitted on top of them. Ridge
regression onto one-hot targets has a closed form, needs no iterations and no
hyperparameter beyond the penalty, and is cheap for the small widths here.

The bias is not penalised (features and targets are centred first). MACs count
the products actually formed; the linear solve is counted as an LU
factorisation plus substitutions, f^3/3 + f^2 C.
"""

from __future__ import annotations

import numpy as np


def fit_ridge(
    features: np.ndarray, labels: np.ndarray, n_classes: int, alpha: float
) -> tuple[np.ndarray, int]:
    """Fit weights (F + 1, C) whose last row is the bias; returns (weights, MACs)."""
    features = np.asarray(features, dtype=np.float64)
    n, f = features.shape
    if alpha < 0:
        raise ValueError(f"ridge penalty must be >= 0, got {alpha}")
    targets = np.zeros((n, n_classes))
    targets[np.arange(n), labels] = 1.0
    mean_x = features.mean(axis=0)  # f
    mean_t = targets.mean(axis=0)  # C
    xc = features - mean_x
    gram = xc.T @ xc  # f*f*n
    gram[np.diag_indices(f)] += alpha
    rhs = xc.T @ (targets - mean_t)  # f*C*n
    weights = np.empty((f + 1, n_classes))
    weights[:f] = np.linalg.solve(gram, rhs)  # ~f^3/3 + f^2*C
    weights[f] = mean_t - mean_x @ weights[:f]  # f*C
    macs = f + n_classes + f * f * n + f * n_classes * n + f**3 // 3 + f * f * n_classes
    return weights, macs + f * n_classes


def readout_scores(weights: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, int]:
    """Class scores (N, C) of the fitted read-out; returns (scores, MACs)."""
    n, f = features.shape
    if weights.shape[0] != f + 1:
        raise ValueError(
            f"read-out expects {weights.shape[0] - 1} features, got {f}; "
            "it was fitted on a different model"
        )
    return features @ weights[:f] + weights[f], n * f * weights.shape[1]


def fit_ridge_held_out(features: np.ndarray, y: np.ndarray, n_classes: int,
                       alphas: tuple[float, ...] | list[float], holdout: float,
                       order: np.ndarray) -> tuple[np.ndarray, float, int]:
    """A ridge read-out whose penalty is picked on a held-out fraction, refitted on all rows.

    ``order`` is a permutation of the rows: its first ``round(holdout * N)``
    are the held-out ones (ties: the first penalty of ``alphas`` wins). With
    no held-out row or a single penalty, ``alphas[0]`` is used. Returns
    (weights, the penalty chosen, MACs of every fit and score on the way).
    """
    n_val = round(holdout * len(y))
    val, tr = order[:n_val], order[n_val:]
    best, best_acc, macs = alphas[0], -1.0, 0
    if n_val and len(alphas) > 1:
        for alpha in alphas:
            w, fit_macs = fit_ridge(features[tr], y[tr], n_classes, alpha)
            scores, score_macs = readout_scores(w, features[val])
            macs += fit_macs + score_macs
            acc = float(np.mean(scores.argmax(axis=1) == y[val]))
            if acc > best_acc:
                best, best_acc = alpha, acc
    weights, fit_macs = fit_ridge(features, y, n_classes, best)
    return weights, best, macs + fit_macs
