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

Superposed labels (``labels="add"``): on a narrow board label slots would
cost drive channels (rows) of their own, so the label can instead be a fixed
per-class code (random signs, one per feature, seeded and saved with the
model) added to the features: x + g * v * code[label], with v the same
overlay value (per-sample or batch max|x|) and g the gain. The neutral
overlay adds the mean code. The physics then sees label and data together
in every row, and the label costs no drive entry.

Negatives: supervised, the same sample with a wrong label drawn uniformly from
the other classes. Unsupervised (Hinton's recipe), hybrids of two different
samples mixed through a smooth random binary mask, without any label.
"""

from __future__ import annotations

import numpy as np

OVERLAY_MODES: tuple[str, ...] = ("sample", "batch")
LABEL_MODES: tuple[str, ...] = ("auto", "slots", "add")


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


def label_codes(n_classes: int, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """Fixed per-class codes (C, F) of random signs, no two classes alike when 2^F > C."""
    for _ in range(100):
        codes = np.where(rng.random((n_classes, n_features)) < 0.5, -1.0, 1.0)
        if len({c.tobytes() for c in codes}) == n_classes or 2**n_features < n_classes:
            return codes
    return codes


def overlay_value(x: np.ndarray, mode: str, batch_max: float | None) -> np.ndarray:
    """The overlay value per row: max|x| of the row ("sample") or of the batch."""
    if mode not in OVERLAY_MODES:
        raise ValueError(f"overlay must be 'sample' or 'batch', got {mode!r}")
    if mode == "sample":
        return np.abs(x).max(axis=1)
    return np.full(len(x), np.abs(x).max(initial=0.0) if batch_max is None else batch_max)


def superpose(x: np.ndarray, codes: np.ndarray | None, labels: np.ndarray | None,
              offset: int, mode: str, gain: float, out: np.ndarray | None = None,
              batch_max: float | None = None) -> np.ndarray:
    """x plus gain * value * code[label] on the feature columns; labels None: the mean code.

    Returns `out` (or a copy of x). codes: (C, F) from `label_codes`.
    """
    if codes is None:
        raise ValueError("superposed labels need the model's class codes")
    if out is None:
        out = np.array(x, copy=True)
    elif out is not x:
        out[...] = x
    value = gain * overlay_value(x, mode, batch_max)
    code = codes.mean(axis=0)[None, :] if labels is None else codes[labels]
    f = codes.shape[1]
    out[:, offset : offset + f] += value[:, None] * code
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
