"""Input layout, label overlay and negative data.

Forward-forward learning needs no output layer: the label is written into the
input itself, and the network learns to find labelled inputs "good" when the
label is right and "bad" when it is wrong. This module prepares those inputs.

Layout: the first block's input vector has `width` entries:
[C label slots, ..., features at `offset`, zeros up to width]. The paper's
vowels use [8 zeros, 12 features] = 20 with the first 7 slots for the label;
offset=None reproduces that by placing the features at the end.

Overlay: zero the C label slots, then write max|x| into slot [label], per
sample (default, so one sample's scale never depends on its batch) or over the
batch (the reference's choice).

Negatives: supervised, the same sample with a wrong label drawn uniformly from
the other classes. Unsupervised (Hinton's recipe), hybrids of two different
samples mixed through a smooth random binary mask, without any label.
"""

from __future__ import annotations

import numpy as np

OVERLAY_MODES: tuple[str, ...] = ("sample", "batch")


def resolve_offset(width: int, n_features: int, n_classes: int, offset: int | None) -> int:
    """Where the features start in the input vector; checks that the layout fits."""
    need = n_classes + n_features
    if need > width:
        raise ValueError(
            f"the data do not fit the board: {n_classes} label slots + {n_features} features "
            f"= {need} inputs, but the first block takes {width} (set by the board's active "
            f"drive channels and the encoder). Use a board (or emulated medium, e.g. "
            f"n_in={need}) with at least {need} drive channels, or fewer features "
            f"(e.g. a downsampled dataset)."
        )
    start = width - n_features if offset is None else offset
    if start < n_classes or start + n_features > width:
        raise ValueError(
            f"feature_offset={start} does not fit: the {n_features} features must start after "
            f"the {n_classes} label slots and end within the input width {width}; choose a "
            f"feature_offset from {n_classes} to {width - n_features}, or leave it unset."
        )
    return start


def lay_out(features: np.ndarray, width: int, offset: int) -> np.ndarray:
    """Place raw features (N, F) into zeroed input vectors (N, width) at `offset`."""
    n, f = features.shape
    x = np.zeros((n, width))
    x[:, offset : offset + f] = features
    return x


def overlay(
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    mode: str,
    out: np.ndarray | None = None,
    batch_max: float | None = None,
) -> np.ndarray:
    """Write `labels` into the label slots of x (N, width); returns `out` (or a copy).

    batch_max: in "batch" mode, the max|x| to use instead of this x's own (so a
    batch processed in chunks is overlaid as one batch).
    """
    if mode not in OVERLAY_MODES:
        raise ValueError(f"overlay must be 'sample' or 'batch', got {mode!r}")
    if out is None:
        out = np.array(x, copy=True)
    elif out is not x:
        out[...] = x
    out[:, :n_classes] = 0.0
    if mode == "sample":
        value = np.abs(out).max(axis=1)
    else:
        value = np.abs(out).max(initial=0.0) if batch_max is None else batch_max
    out[np.arange(len(out)), labels] = value
    return out


def wrong_labels(labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """One wrong label per sample, uniform over the other n_classes - 1 classes."""
    if n_classes < 2:
        raise ValueError("negatives need at least 2 classes")
    shift = rng.integers(1, n_classes, size=len(labels))
    return (labels + shift) % n_classes


def hybrid_negatives(
    x: np.ndarray, start: int, stop: int, rng: np.random.Generator, blur_passes: int = 3
) -> tuple[np.ndarray, int]:
    """Label-free negatives: mix each row with another row through a smooth mask.

    Only columns [start, stop) (the features) are mixed. The mask is random
    bits blurred `blur_passes` times with [1/4, 1/2, 1/4] and thresholded at
    1/2, so the hybrid keeps short-range structure of each parent but not the
    long-range correlations of a real sample. Returns (hybrids, MACs).
    """
    n = len(x)
    if n < 2:
        raise ValueError("hybrid negatives need a batch of at least 2 samples")
    f = stop - start
    mask = (rng.random((n, f)) < 0.5).astype(float)
    for _ in range(blur_passes):
        padded = np.concatenate([mask[:, :1], mask, mask[:, -1:]], axis=1)
        mask = 0.25 * padded[:, :-2] + 0.5 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
    mask = (mask > 0.5).astype(float)
    order = rng.permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[order] = np.roll(order, -1)  # a derangement: nobody mixes with itself
    out = np.array(x[partner], copy=True)
    a = x[:, start:stop]
    b = out[:, start:stop]
    b += mask * (a - b)  # n*f
    return out, 3 * n * f * blur_passes + n * f
