"""Training configuration with the paper's defaults and presets for its three tasks.

One flat dataclass, so a command line can expose every field directly and a
run directory can record exactly what was run (as JSON). The defaults are the
acoustic-vowel settings of the reference implementation; the presets change
only what the reference changes for the microwave and optical experiments.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from phyff.phyll.config import ModelConfig

PRESETS: dict[str, dict[str, Any]] = {
    # 2 blocks of [40 -> 20], T = 10, full batch of 206, 200 epochs, theta 4.
    "acoustic": {},
    # 3 blocks, binary metasurface drive, half the learning rate, 100 epochs.
    "microwave": {"n_blocks": 3, "encoder": "binary2", "lr": 2.5e-4, "epochs": 100},
    # phase modulator, no skip path, T = 20, theta 5, batches of 10,000 images.
    "optical": {
        "encoder": "phase",
        "skip": False,
        "lr": 5e-5,
        "inner_steps": 20,
        "theta": 5.0,
        "batch_size": 10_000,
        "epochs": 350,
        "eval_every": 10,
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (see ModelConfig for the model fields).

    Attributes beyond the model's:
        preset: name of the preset this configuration started from (informative).
        n_blocks: number of blocks (one physical layer each).
        encoder: one encoder for all blocks, or a list with one per block.
        beta1, beta2: Adam betas.
        epochs: passes over the training set.
        batch_size: samples per batch; None means the full training set (paper).
        eval_every: evaluate train/test accuracy every this many epochs (and at the end).
        seed: seeds weight init, xi, shuffling and negatives.
    """

    preset: str = "acoustic"
    n_blocks: int = 2
    encoder: str | tuple[str, ...] = "amplitude"
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
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8
    epochs: int = 200
    batch_size: int | None = None
    eval_every: int = 1
    seed: int = 0
    unsupervised: bool = False
    readout_features: str = "abs"
    ridge: float = 1e-3
    hybrid_blur: int = 3
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if not isinstance(self.encoder, str):
            object.__setattr__(self, "encoder", tuple(self.encoder))
        if self.n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {self.n_blocks}")
        self.encoders()  # length check
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None (full batch), got {self.batch_size}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}")

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The named preset ("acoustic", "microwave", "optical") with overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], "preset": name, **overrides})

    def encoders(self) -> tuple[str, ...]:
        """One encoder name per block."""
        if isinstance(self.encoder, str):
            return (self.encoder,) * self.n_blocks
        if len(self.encoder) != self.n_blocks:
            raise ValueError(
                f"{len(self.encoder)} encoders given for {self.n_blocks} blocks; give one "
                "encoder name for all blocks or exactly one per block"
            )
        return tuple(self.encoder)

    def model_config(self, n_classes: int, n_features: int) -> ModelConfig:
        """The model hyperparameters for a dataset with these dimensions."""
        return ModelConfig(
            n_classes=n_classes,
            n_features=n_features,
            encoders=self.encoders(),
            goodness=self.goodness,
            theta=self.theta,
            ff_threshold=self.ff_threshold,
            ff_reduce=self.ff_reduce,
            overlay=self.overlay,
            skip=self.skip,
            physical=self.physical,
            feature_offset=self.feature_offset,
            hidden=self.hidden,
            inner_steps=self.inner_steps,
            lr=self.lr,
            betas=(self.beta1, self.beta2),
            adam_eps=self.adam_eps,
            unsupervised=self.unsupervised,
            readout_features=self.readout_features,
            ridge=self.ridge,
            hybrid_blur=self.hybrid_blur,
            seed=self.seed,
            dtype=self.dtype,
        )

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = asdict(self)
        if not isinstance(self.encoder, str):
            out["encoder"] = list(self.encoder)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict; unknown keys are an error (they are usually typos)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        """Pretty JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse to_json() output."""
        return cls.from_dict(json.loads(text))
