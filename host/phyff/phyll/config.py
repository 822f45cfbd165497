"""Hyperparameters of a PhyLL model and the shapes of its blocks.

Everything that determines what a trained model computes lives in
`ModelConfig` and is saved with the model, so a loaded model reproduces its
predictions without the training configuration. Defaults are the paper's
acoustic-vowel settings; every deviation from the paper is an option.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from phyff.phyll.encoders import check_encoder
from phyff.phyll.goodness import GoodnessSpec
from phyff.phyll.layout import OVERLAY_MODES

READOUT_FEATURES: tuple[str, ...] = ("abs", "raw")
DTYPES: tuple[str, ...] = ("float64", "float32")


@dataclass(frozen=True)
class ModelConfig:
    """What a model computes and how its blocks are trained.

    Attributes:
        n_classes: number of classes C (also the number of label slots).
        n_features: raw features per sample, placed into the input layout.
        encoders: one encoder name per block (see `phyff.phyll.encoders`).
        goodness: "cosine" (paper) or "ff_v1" (Hinton's sum/mean of squares).
        theta: scale of the goodness difference in the cosine loss (paper: 4).
        ff_threshold, ff_reduce: threshold and reduction of the ff_v1 goodness.
        overlay: "sample" (max|x| per sample) or "batch" (the reference's).
        skip: concatenate the block input to the physical output (z = [p, h]).
        physical: use the physical layers; False gives digital-only blocks.
        feature_offset: where features start in the input (None: at the end).
        hidden: output width of the last block (None: its input width).
        inner_steps: optimiser steps per measured batch (T, paper: 10).
        lr, betas, adam_eps: Adam settings (paper: 5e-4, 0.9/0.999, 1e-8).
        unsupervised: label-free training with hybrid negatives + ridge read-out.
        readout_features: "abs" (|y|) or "raw" (y) of every block for the read-out.
        ridge: ridge penalty of the read-out.
        hybrid_blur: blur passes of the hybrid-negative mask.
        seed: seeds weight init and the goodness directions xi.
        dtype: "float64" or "float32" for the digital maps; float32 roughly halves
            the cost of the matrix products (the reference runs in float32).
    """

    n_classes: int
    n_features: int
    encoders: tuple[str, ...] = ("amplitude", "amplitude")
    goodness: str = "cosine"
    theta: float = 4.0
    ff_threshold: float = 2.0
    ff_reduce: str = "mean"
    overlay: str = "sample"
    skip: bool = True
    physical: bool = True
    feature_offset: int | None = None
    hidden: int | None = None
    inner_steps: int = 10
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    unsupervised: bool = False
    readout_features: str = "abs"
    ridge: float = 1e-3
    hybrid_blur: int = 3
    seed: int = 0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoders", tuple(self.encoders))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.n_features < 1:
            raise ValueError(f"n_features must be at least 1, got {self.n_features}")
        if not self.encoders:
            raise ValueError("a model needs at least one block (one encoder per block)")
        for name in self.encoders:
            check_encoder(name)
        self.goodness_spec()  # validates goodness, theta, ff_reduce
        if self.overlay not in OVERLAY_MODES:
            raise ValueError(f"overlay must be 'sample' or 'batch', got {self.overlay!r}")
        if self.inner_steps < 1:
            raise ValueError(f"inner_steps must be >= 1, got {self.inner_steps}")
        if self.readout_features not in READOUT_FEATURES:
            raise ValueError(
                f"readout_features must be 'abs' or 'raw', not {self.readout_features!r}"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if self.hidden is not None and self.hidden < 1:
            raise ValueError(f"hidden must be a positive width or None, got {self.hidden}")

    @property
    def n_blocks(self) -> int:
        """Number of blocks (one per encoder entry)."""
        return len(self.encoders)

    def goodness_spec(self) -> GoodnessSpec:
        """The goodness/loss constants shared by all blocks."""
        return GoodnessSpec(self.goodness, self.theta, self.ff_threshold, self.ff_reduce)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = asdict(self)
        out["encoders"] = list(self.encoders)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict; rejects unknown keys so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model settings {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class BlockSpec:
    """Shapes of one block: h (d_in) -> drive (n_drive) -> p (n_sense) -> y (d_out)."""

    encoder: str
    d_in: int
    n_drive: int
    n_sense: int
    d_out: int

    def z_width(self, physical: bool, skip: bool) -> int:
        """Width of z, the input of the digital map (before the bias column)."""
        if not physical:
            return self.d_in
        return self.n_sense + (self.d_in if skip else 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)
