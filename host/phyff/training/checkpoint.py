"""Training checkpoints: everything needed to continue a run bit for bit.

A resumed run must end with exactly the weights of an uninterrupted one, so the
checkpoint holds the model, the Adam moments and step counts, the training
random generator's full state (as JSON), the last completed epoch and the
training configuration. It is written atomically after every epoch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phyff.phyll.model import MODEL_ARRAYS, Model
from phyff.phyll.npzio import read_npz, write_npz_atomic

CHECKPOINT_FORMAT = "phyff-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint: model with optimiser state, generator, epoch, extras."""

    model: Model
    epoch: int
    rng: np.random.Generator
    train_config: dict[str, Any]
    extra: dict[str, Any]


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Model,
    *,
    epoch: int,
    rng: np.random.Generator,
    train_config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint after `epoch` completed epochs."""
    arrays = model.arrays()
    steps = []
    for k, adam in enumerate(model.adams):
        m, v, t = adam.state()
        arrays[f"adam_m{k}"] = m
        arrays[f"adam_v{k}"] = v
        steps.append(t)
    header = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model": model.header(),
        "metadata": model.metadata,
        "adam_t": steps,
        "epoch": epoch,
        "rng_state": rng.bit_generator.state,
        "train_config": train_config,
        "extra": extra or {},
    }
    return write_npz_atomic(path, arrays, header)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint."""
    header, arrays = read_npz(path, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION,
                              members=rf"{MODEL_ARRAYS}|adam_[mv]\d{{1,3}}")
    try:
        model = Model.from_parts(header.get("model"), arrays)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    model.metadata = header.get("metadata", {})
    try:
        for k, adam in enumerate(model.adams):
            adam.load_state(arrays[f"adam_m{k}"], arrays[f"adam_v{k}"], header["adam_t"][k])
        rng = np.random.default_rng()
        rng.bit_generator.state = header["rng_state"]
        epoch = int(header["epoch"])
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is an incomplete checkpoint: {err}") from err
    return Checkpoint(model, epoch, rng, header["train_config"], header.get("extra", {}))
