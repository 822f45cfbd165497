"""The model's input transform: raw measurements in, the values the network was trained on.

Why a model carries it: a network trained on features divided by a per-feature
scale (fitted on the training split) answers nonsense for raw sensor units, and
nothing else in a model file says what that scale was. So every model phyff
writes records, beside its weights, how raw values become its inputs, what the
features and classes are called, and how far the training values reached:

* ``scale`` (per feature): raw / scale is the model's input;
* ``clip``: the scaled values are then clipped to [-1, 1] (the robust scaler);
* ``limit`` (per feature): the largest |scaled value| of the training split (at
  least ``floor``, the known range of fixed-divisor data such as pixels / 255):
  a row whose |scaled value| exceeds ``range_factor`` (``RANGE_FACTOR``) x
  ``limit`` lies outside what the model has seen and is flagged;
* ``feature_names`` (the CSV header, or None) and ``class_names``.

It lives in the metadata of the model file under ``"input"``
(:func:`from_metadata`); a model written before it existed has none and is
reported so (:data:`ABSENT`). ``phyff deploy`` and ``phyff export`` also write
it into the device image (model.h's description section), so a board can tell
any host how to scale raw values (``Board.describe``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

METADATA_KEY = "input"
RANGE_FACTOR = 1.5
"""A scaled feature beyond this many times its training max |x| is out of range."""

ABSENT = ("the model file records no input scaling (it was written before phyff kept "
          "one): give values already in the model's input scale (--scaled), or train the "
          "model again to get raw-value input")


@dataclass(frozen=True)
class InputTransform:
    """How raw feature values become the model's inputs, and what the model has seen."""

    scale: tuple[float, ...]
    clip: bool
    limit: tuple[float, ...]
    feature_names: tuple[str, ...] | None
    class_names: tuple[str, ...]
    range_factor: float = RANGE_FACTOR  # a board's description may carry another (model.h M-D5)

    def __post_init__(self) -> None:
        n = len(self.scale)
        if n < 1 or len(self.limit) != n:
            raise ValueError(f"an input transform needs one scale and one limit per feature, "
                             f"got {n} and {len(self.limit)}")
        if not all(np.isfinite(s) and s > 0 for s in self.scale):
            raise ValueError("every feature scale must be a finite number above 0")
        if not all(np.isfinite(v) and v >= 0 for v in self.limit):
            raise ValueError("every training range must be a finite number >= 0")
        if self.feature_names is not None and len(self.feature_names) != n:
            raise ValueError(f"{len(self.feature_names)} feature names for {n} features")
        if len(self.class_names) < 2:
            raise ValueError("an input transform needs at least two class names")
        if not (np.isfinite(self.range_factor) and self.range_factor > 0):
            raise ValueError("the out-of-range factor must be a finite number above 0")

    @property
    def n_features(self) -> int:
        return len(self.scale)

    @classmethod
    def fit(cls, scale: ArrayLike1D, scaled_train: NDArray[np.float64], *, clip: bool,
            class_names: Sequence[str], feature_names: Sequence[str] | None = None,
            floor: float = 0.0) -> InputTransform:
        """From the per-feature divisor and the training split as the model saw it."""
        x = np.asarray(scaled_train, dtype=np.float64)
        s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (x.shape[1],))
        limit = np.maximum(np.max(np.abs(x), axis=0), floor)
        return cls(tuple(float(v) for v in s), bool(clip), tuple(float(v) for v in limit),
                   None if feature_names is None else tuple(str(f) for f in feature_names),
                   tuple(str(c) for c in class_names))

    def apply(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw rows (N, F) -> the model's inputs (clipped when the training data were)."""
        out = self.unclipped(raw)
        if self.clip:
            np.clip(out, -1.0, 1.0, out=out)
        return out

    def unclipped(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.asarray(raw, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"the model takes {self.n_features} features per row, got an "
                             f"array of shape {x.shape}")
        return x / np.asarray(self.scale)

    def out_of_range(self, scaled: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Per cell (N, F): beyond RANGE_FACTOR x the training max |x| of its feature.

        ``scaled``: the unclipped inputs (a clipped value would hide how far out it was).
        """
        return np.abs(scaled) > self.range_factor * np.asarray(self.limit)

    def name(self, j: int) -> str:
        return self.feature_names[j] if self.feature_names is not None else f"feature {j}"

    def to_dict(self) -> dict[str, Any]:
        return {"scale": list(self.scale), "clip": self.clip, "limit": list(self.limit),
                "range_factor": self.range_factor,
                "feature_names": None if self.feature_names is None else list(self.feature_names),
                "class_names": list(self.class_names)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputTransform:
        """The record of to_dict(); a clear ValueError for a damaged one."""
        try:
            names = data.get("feature_names")
            return cls(tuple(float(v) for v in data["scale"]), bool(data["clip"]),
                       tuple(float(v) for v in data["limit"]),
                       None if names is None else tuple(str(f) for f in names),
                       tuple(str(c) for c in data["class_names"]),
                       float(data.get("range_factor", RANGE_FACTOR)))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"the model's input transform is damaged ({type(exc).__name__}: "
                             f"{exc}): train or save the model again") from None


ArrayLike1D = Sequence[float] | NDArray[np.float64] | float


def from_metadata(metadata: Mapping[str, Any] | None) -> InputTransform | None:
    """The transform a model file records, or None for a file written before there was one."""
    record = (metadata or {}).get(METADATA_KEY)
    if record is None:
        return None
    if not isinstance(record, Mapping):
        raise ValueError(f"the model's input transform is a {type(record).__name__}, not a "
                         f"record: train or save the model again")
    return InputTransform.from_dict(record)
