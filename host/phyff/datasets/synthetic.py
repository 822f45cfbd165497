"""A nonlinear synthetic task with known structure, generated in code (no download).

``interference[:N]``
    N samples (default 2,500; a fifth held out, stratified) of 16 features
    uniform in [0, 1] and 4 classes. The label is the brightest of 4 speckle
    spots of a fixed random scatterer lit by a phase pattern:
    ``argmax_c |sum_s A_cs exp(i pi x_s)|**2`` with complex Gaussian ``A``
    (seeded, the same for every N). The classes are not linearly separable
    (each score is a sum of cosines of pairwise feature differences), and the
    structure is the one a phase modulator, a scattering medium and a camera
    compute: the benchmark uses it to ask whether a medium whose physics
    matches the task beats digital models of the same digital cost.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from phyff.datasets.base import Dataset, DatasetError, frozen_dataset, stratified_test_mask
from phyff.datasets.registry import DatasetRequest, register

__all__ = ["load_interference"]

FEATURES: Final = 16
CLASSES: Final = 4
DEFAULT_SAMPLES: Final = 2500
STRUCTURE_SEED: Final = 2023  # the scatterer A: fixed, so every N shares one task
MAX_SAMPLES: Final = 1_000_000


def load_interference(n: int = DEFAULT_SAMPLES, seed: int = 0) -> Dataset:
    """The interference task with n samples; `seed` draws the samples and the split."""
    if not 10 * CLASSES <= n <= MAX_SAMPLES:
        raise DatasetError(f"interference: N must be between {10 * CLASSES} and "
                           f"{MAX_SAMPLES:,} samples, got {n}")
    a = np.random.default_rng(STRUCTURE_SEED).standard_normal((CLASSES, FEATURES, 2))
    scatterer = (a[..., 0] + 1j * a[..., 1]) / np.sqrt(2 * FEATURES)
    rng = np.random.default_rng([seed, 31])
    x = rng.uniform(0.0, 1.0, (n, FEATURES))
    spots = np.abs(np.exp(1j * np.pi * x) @ scatterer.T) ** 2
    y = spots.argmax(axis=1).astype(np.int64)
    test = stratified_test_mask(y, n // 5, rng)
    return frozen_dataset(
        "interference" if n == DEFAULT_SAMPLES else f"interference:{n}",
        x[~test], y[~test], x[test], y[test],
        class_names=tuple(f"spot {c}" for c in range(CLASSES)),
        feature_names=tuple(f"phase {s}" for s in range(FEATURES)),
        source=f"synthetic: brightest of {CLASSES} speckle spots of a fixed random scatterer "
               f"(seed {STRUCTURE_SEED}) lit by {FEATURES} phases pi x; samples seed {seed}",
    )


def _load(request: DatasetRequest) -> Dataset:
    digits = request.match.groupdict().get("n")
    n = DEFAULT_SAMPLES if digits is None else (int(digits) if len(digits) <= 9 else 10**9)
    return load_interference(n, request.seed)


register(
    "interference[:N]",
    "synthetic: which of 4 speckle spots a 16-pixel phase pattern lights most (2,500 samples "
    "or N), nonlinear with known structure",
    _load,
    pattern=r"interference(?::(?P<n>[0-9]+))?",
)
