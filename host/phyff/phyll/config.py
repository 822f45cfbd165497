"""Hyperparameters of a PhyLL model and the shapes of its blocks.

Everything that determines what a trained model computes lives in
`ModelConfig` and is saved with the model, so a loaded model reproduces its
predictions without the training configuration. Defaults are the paper's
acoustic-vowel settings; every deviation from the paper is an option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from phyff.phyll.encoders import ENCODERS, check_encoder
from phyff.phyll.goodness import FF_REDUCE, GOODNESS_KINDS, GoodnessSpec
from phyff.phyll.layout import LABEL_MODES, OVERLAY_MODES
from phyff.phyll.rows import MAX_ROWS, ROW_LAYOUTS

READOUT_FEATURES: tuple[str, ...] = ("abs", "raw")
# How a supervised model classifies: goodness argmax over the C label overlays
# (C x K physical passes per sample) or one pass with the neutral overlay and a
# linear read-out on the block outputs (K passes per sample).
INFERENCE_KINDS: tuple[str, ...] = ("goodness", "onepass")
DTYPES: tuple[str, ...] = ("float64", "float32")


def setting(default: Any, help: str, *, flag: str | None = None,
            choices: Sequence[str] | None = None, cli: bool = True) -> Any:
    """A dataclass field that also describes its command-line flag.

    Every hyperparameter is declared once, here (and training-only ones in
    `phyff.training.config`): the `phyff train` flags, config.json and the
    saved model all derive from the fields and this metadata, so a new
    hyperparameter is one new field.
    """
    meta = {"help": help, "flag": flag, "choices": tuple(choices) if choices else None,
            "cli": cli}
    if isinstance(default, list | dict | set):
        raise TypeError("settings must have immutable defaults")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ModelConfig:
    """What a model computes and how its blocks are trained.

    `n_classes` and `n_features` come from the data (0 until a dataset sizes
    the configuration, see `sized`); every other field is a hyperparameter
    whose help text is its documentation.
    """

    n_classes: int = setting(0, "number of classes C (from the data)", cli=False)
    n_features: int = setting(0, "raw features per sample (from the data)", cli=False)
    encoders: tuple[str, ...] = setting(
        ("amplitude", "amplitude"),
        f"drive encoder, one name for every block or comma-separated one per block "
        f"({', '.join(ENCODERS)}); --blocks sets how many blocks", flag="encoder")
    goodness: str = setting("cosine", "goodness: cosine (paper) or ff_v1 (Hinton's)",
                            choices=GOODNESS_KINDS)
    theta: float = setting(4.0, "loss scale of the goodness difference (paper: 4)")
    ff_threshold: float = setting(2.0, "threshold of the ff_v1 goodness")
    ff_reduce: str = setting("mean", "reduction of the ff_v1 goodness", choices=FF_REDUCE)
    overlay: str = setting("sample", "label overlay value: per-sample max or batch max",
                           choices=OVERLAY_MODES)
    labels: str = setting(
        "auto", "how the label enters the input: slots (the paper's: C drive entries of their "
        "own), add (a fixed per-class code added to the features: no drive entries) or auto "
        "(slots when the problem fits one device row, else add)", choices=LABEL_MODES)
    label_gain: float = setting(1.0, "labels=add: size of the class code relative to the "
                                     "overlay value (max|x|)")
    rows: int | None = setting(
        None, "device rows per sample and block: a block input wider than the board's drive "
              "channels is driven as R rows of them, R x S readings concatenated (default: "
              "one row when the problem fits, else the fewest that fit)")
    row_layout: str = setting(
        "permute", "which input goes to which (row, channel): permute (fixed random "
        "permutations, fresh for every pass over the inputs) or split (in order)",
        choices=ROW_LAYOUTS)
    skip: bool = setting(True, "skip path z = [p, h] (--no-skip: z = [p])")
    physical: bool = setting(True, "use the physical layers (--no-physical: digital-only "
                                   "ablation; the board is still opened)")
    feature_offset: int | None = setting(None, "input slot where the features start "
                                               "(default: at the end)")
    hidden: int | None = setting(None, "output width of the last block (default: its input)")
    inner_steps: int = setting(10, "Adam steps per physical measurement (T, paper: 10)")
    lr: float = setting(5e-4, "Adam learning rate (paper: 5e-4)")
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam betas, comma-separated")
    adam_eps: float = setting(1e-8, "Adam epsilon")
    unsupervised: bool = setting(False, "label-free negatives (hybrids), then a linear read-out")
    readout_features: str = setting("abs", "block outputs fed to the read-out: |y| or y",
                                    choices=READOUT_FEATURES)
    ridge: float = setting(1e-3, "ridge penalty of the read-out")
    inference: str = setting(
        "onepass", "how the model classifies: onepass (neutral label overlay once through "
        "the blocks + ridge read-out: K device queries per sample) or goodness (argmax of "
        "the summed goodness over the C label overlays: C x K queries per sample)",
        choices=INFERENCE_KINDS)
    hybrid_blur: int = setting(3, "blur passes of the hybrid-negative mask")
    seed: int = setting(0, "seeds weights, goodness directions, shuffling and negatives")
    dtype: str = setting("float64", "float type of the digital maps (float32 about halves "
                                    "their cost)", choices=DTYPES)

    def __post_init__(self) -> None:
        encoders = (self.encoders,) if isinstance(self.encoders, str) else self.encoders
        object.__setattr__(self, "encoders", tuple(encoders))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.n_classes < 0 or self.n_classes == 1:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.n_features < 0:
            raise ValueError(f"n_features must be at least 1, got {self.n_features}")
        if not self.encoders:
            raise ValueError("a model needs at least one block (one encoder per block)")
        for name in self.encoders:
            check_encoder(name)
        self.goodness_spec()  # validates goodness, theta, ff_reduce
        if self.overlay not in OVERLAY_MODES:
            raise ValueError(f"overlay must be 'sample' or 'batch', got {self.overlay!r}")
        if self.labels not in LABEL_MODES:
            raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}, "
                             f"got {self.labels!r}")
        if not (self.label_gain > 0 and np.isfinite(self.label_gain)):
            raise ValueError(f"label_gain must be a positive number, got {self.label_gain}")
        if self.rows is not None and (isinstance(self.rows, bool) or not isinstance(self.rows, int)
                                      or not 1 <= self.rows <= MAX_ROWS):
            raise ValueError(f"rows must be a whole number of device rows from 1 to {MAX_ROWS} "
                             f"(or unset: the fewest that fit), got {self.rows!r}")
        if self.row_layout not in ROW_LAYOUTS:
            raise ValueError(f"row_layout must be one of {', '.join(ROW_LAYOUTS)}, "
                             f"got {self.row_layout!r}")
        if self.inner_steps < 1:
            raise ValueError(f"inner_steps must be >= 1, got {self.inner_steps}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.readout_features not in READOUT_FEATURES:
            raise ValueError(
                f"readout_features must be 'abs' or 'raw', not {self.readout_features!r}"
            )
        if self.inference not in INFERENCE_KINDS:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_KINDS)}, "
                             f"got {self.inference!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if self.hidden is not None and self.hidden < 1:
            raise ValueError(f"hidden must be a positive width or None, got {self.hidden}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")

    @property
    def n_blocks(self) -> int:
        """Number of blocks (one per encoder entry)."""
        return len(self.encoders)

    @property
    def is_sized(self) -> bool:
        """True once a dataset has set n_classes and n_features."""
        return self.n_classes >= 2 and self.n_features >= 1

    def sized(self, n_classes: int, n_features: int) -> ModelConfig:
        """This configuration for a dataset with these dimensions."""
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if n_features < 1:
            raise ValueError(f"n_features must be at least 1, got {n_features}")
        return replace(self, n_classes=int(n_classes), n_features=int(n_features))

    def with_blocks(self, n_blocks: int) -> ModelConfig:
        """The same encoder choice for another number of blocks."""
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        if len(set(self.encoders)) > 1 and n_blocks != self.n_blocks:
            raise ValueError(
                f"{self.n_blocks} different encoders are set ({', '.join(self.encoders)}); "
                f"give one encoder per block for {n_blocks} blocks"
            )
        return replace(self, encoders=(self.encoders[0],) * n_blocks)

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
    """Shapes of one block: h (d_in) -> drive -> `rows` device rows of n_drive values ->
    p (rows x n_sense) -> y (d_out). n_drive and n_sense are the board's channels."""

    encoder: str
    d_in: int
    n_drive: int
    n_sense: int
    d_out: int
    rows: int = 1

    @property
    def sensed(self) -> int:
        """Width of the block's physical output p: rows x n_sense readings."""
        return self.rows * self.n_sense

    def z_width(self, physical: bool, skip: bool) -> int:
        """Width of z, the input of the digital map (before the bias column)."""
        if not physical:
            return self.d_in
        return self.sensed + (self.d_in if skip else 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)
