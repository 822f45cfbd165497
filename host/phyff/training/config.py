"""Training configuration: a ModelConfig plus what only the training session needs.

Every hyperparameter is declared once, as a field with its help text
(`phyff.phyll.config.setting`): the model's in `ModelConfig`, the session's
here. `phyff train`'s flags, config.json, checkpoints and the saved model all
derive from those fields, so a new hyperparameter is one new field.

Presets: the paper's settings for its three tasks. The acoustic-vowel
settings are the defaults; a medium declares the changes its experiment
needs (`training_preset` on the medium class, read by the CLI), and
`PRESETS` keeps the paper's three by name for code that has no medium at hand.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from phyff._fileio import loads_json
from phyff.phyll.config import ModelConfig, setting
from phyff.phyll.schedule import REPEAT_MODES, SCHEDULES, ScheduleOptions, check_options

SCHEDULE_NAMES: tuple[str, ...] = tuple(SCHEDULES)

PRESETS: dict[str, dict[str, Any]] = {
    # 2 blocks of [40 -> 20], T = 10, full batch of 206, 200 epochs, theta 4.
    "acoustic": {},
    # 3 blocks, binary metasurface drive, half the learning rate, 100 epochs.
    "microwave": {"encoders": ("binary2",) * 3, "lr": 2.5e-4, "epochs": 100},
    # phase modulator, no skip path, T = 20, theta 5, batches of 10,000 images.
    "optical": {
        "encoders": ("phase", "phase"),
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
    """Everything that defines a training run: the model's settings and the session's."""

    model: ModelConfig = field(default_factory=ModelConfig)
    preset: str = setting("acoustic", "paper settings to start from", cli=False)
    epochs: int = setting(200, "passes over the training set")
    batch_size: int | None = setting(None, "samples per batch (default: the full training set)")
    eval_every: int | None = setting(
        None, "full train/test evaluation every this many epochs (default: only at the end; "
              "each costs C x K or K device queries per sample)")
    eval_subset: int = setting(
        0, "test samples (a fixed subset) evaluated after every epoch between full "
           "evaluations; 0: none (the layer-wise schedule's cached train accuracy is free)")
    schedule: str = setting(
        "layerwise", "training schedule: layerwise (blocks one after another on measurements "
                     "cached once per block) or simultaneous (the paper's: every batch measured "
                     "afresh through every block)", choices=SCHEDULE_NAMES)
    remeasure: int | None = setting(
        None, "layer-wise schedule: re-measure the current block's cache every this many "
              "epochs (default: never; for drifting media)")
    repeats: int = setting(1, "layer-wise schedule: measurements per cached row")
    cache_negatives: int | None = setting(
        None, "layer-wise schedule: wrong labels cached per training sample, drawn once "
              "(default: all C - 1; W caches W + 1 label overlays per sample instead of C)")
    repeat_mode: str = setting("mean", "layer-wise schedule: average the repeated measurements "
                                       "or keep them as noise augmentation",
                               choices=REPEAT_MODES)
    max_queries: int | None = setting(
        None, "device-query budget (training and its evaluations): training stops cleanly, "
              "saved and resumable, before an epoch would exceed it")

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        for name in ("epochs", "batch_size", "eval_every", "eval_subset", "remeasure",
                     "repeats", "cache_negatives", "max_queries"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name}={value!r} must be a whole number")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None (full batch), got {self.batch_size}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1 or None (only at the end), "
                             f"got {self.eval_every}")
        if self.eval_subset < 0:
            raise ValueError(f"eval_subset must be >= 0 test samples, got {self.eval_subset}")
        # The schedule's options are checked by the schedule module, the one place
        # its rules live; what a schedule needs of the whole configuration (the
        # layer-wise one: a supervised model, epochs >= blocks) is checked when a
        # loop builds it (Schedule.from_config), so a base configuration may still
        # be turned into a paper-schedule one.
        check_options(self.schedule_options())
        if self.max_queries is not None and self.max_queries < 1:
            raise ValueError(f"max_queries must be a positive number of device queries, "
                             f"got {self.max_queries}")

    # ---- convenience views of the model's settings the session uses ----------

    @property
    def seed(self) -> int:
        return self.model.seed

    @property
    def n_blocks(self) -> int:
        return self.model.n_blocks

    def schedule_options(self) -> ScheduleOptions:
        """The settings the chosen schedule reads (phyff.phyll.schedule)."""
        return ScheduleOptions(self.schedule, self.epochs, self.n_blocks, self.model.unsupervised,
                               self.remeasure, self.repeats, self.repeat_mode,
                               self.cache_negatives)

    # ---- building and changing ------------------------------------------------

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The named paper preset with overrides (flat names: model or session fields)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
        return cls().with_changes(**{**PRESETS[name], "preset": name, **overrides})

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed; each name goes to the model or the session.

        ``n_blocks`` resizes the encoder list (one encoder for all blocks);
        ``encoder`` (a name or a sequence) is accepted for ``encoders``.
        """
        own = {f.name for f in fields(self)} - {"model"}
        model_names = {f.name for f in fields(ModelConfig)}
        session = {k: v for k, v in changes.items() if k in own}
        model_changes = {k: v for k, v in changes.items() if k in model_names}
        n_blocks = changes.get("n_blocks")
        if "encoder" in changes:
            enc = changes["encoder"]
            model_changes["encoders"] = (enc,) if isinstance(enc, str) else tuple(enc)
        unknown = sorted(set(changes) - own - model_names - {"n_blocks", "encoder", "model"})
        if unknown:
            known = sorted(own | model_names | {"n_blocks"})
            raise ValueError(f"unknown training settings {unknown}; known: {known}")
        model = changes.get("model", self.model)
        if model_changes:
            model = replace(model, **model_changes)
        if n_blocks is not None:
            model = model.with_blocks(int(n_blocks))
        return replace(self, model=model, **session)

    # ---- serialisation --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the session's fields and the model's under "model"."""
        out = asdict(self)
        out["model"] = self.model.to_dict()
        return out

    def flat(self) -> dict[str, Any]:
        """Every setting by its own name (model and session together), for comparisons."""
        out = self.to_dict()
        return {**out.pop("model"), **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict; also reads the older flat form. Unknown keys are an error.

        A dictionary without a schedule (or inference) was written before those
        settings existed, when runs used the paper's schedule and goodness inference.
        """
        data = dict(data)
        model = data.pop("model", None)
        # Files from before the query budget trained with the paper's schedule and
        # classified by goodness: read them as such, not with today's defaults.
        data.setdefault("schedule", "simultaneous")
        if isinstance(model, dict):
            base = cls(model=ModelConfig.from_dict({"inference": "goodness", **model}))
        else:
            data.setdefault("inference", "goodness")
            base = cls()
        if "beta1" in data or "beta2" in data:
            betas = base.model.betas
            data["betas"] = (data.pop("beta1", betas[0]), data.pop("beta2", betas[1]))
        return base.with_changes(**data)

    def to_json(self) -> str:
        """Pretty JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse to_json() output."""
        data = loads_json(text, "training configuration")
        if not isinstance(data, dict):
            raise ValueError("training configuration: not a JSON object")
        return cls.from_dict(data)
