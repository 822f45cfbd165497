"""PhyLL and its ablations as benchmark methods.

The benchmark measures the product: a PhyLL run is `phyff.training.session.train` with
the task's `TrainConfig`, in a throw-away run directory, evaluated once at the
end. The ablations change one field of that configuration:

- ``phyll-nophys``: physical=False, the digital blocks alone (no board queries);
- ``phyll-noskip``: skip=False, z = [p] instead of [p, h];
- ``phyll-ffv1``: goodness="ff_v1", Hinton's sum-of-squares goodness (the
  paper's first version) instead of the cosine goodness;
- ``phyll-frugal``: the query-frugal PhyLL, the layer-wise cached schedule with
  one-pass inference. Cached epochs cost no device query, so each block gets
  the epochs the paper schedule gives the whole network (K times the epochs);
- ``phyll-frugal-r10``: the same, re-measuring the current block's cache every
  10 epochs (for drifting media);
- ``phyll-frugal-nophys``, ``phyll-frugal-noskip``: the query-frugal PhyLL with
  the physical layers removed / without the skip path: the same schedule,
  epochs, cached negatives and inference as ``phyll-frugal``, so its physics
  margin compares like with like.

``phyll`` and its ablations ``phyll-nophys``, ``phyll-noskip``, ``phyll-ffv1``
run the paper's schedule (fresh measurements every batch, goodness-argmax
inference), whatever the trainer's defaults.

``train`` (`AS_CONFIGURED`) changes nothing: the configuration exactly as
`phyff train` would run it with the same settings (the trainer's defaults:
layer-wise cached schedule, one-pass inference, the epochs shared among the
blocks). It is `phyff sweep`'s default, so a sweep tunes what `phyff train`
runs; the benchmark's tables list the named variants instead.

Scenarios that act between epochs (a perturbation part-way through training,
a per-epoch test curve that must not also evaluate the training set) drive
the same loop, `phyff.training.loop.EpochLoop`, with their own hooks and
without its files (`epoch_loop`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

from phyff.phyll.model import PhysicalLayer
from phyff.training.config import TrainConfig
from phyff.training.loop import EpochLoop, new_model, prepare
from phyff.training.session import train

PAPER: dict[str, Any] = {"schedule": "simultaneous", "inference": "goodness"}
FRUGAL: dict[str, Any] = {"schedule": "layerwise", "inference": "onepass"}

AS_CONFIGURED = "train"

VARIANTS: dict[str, dict[str, Any]] = {
    AS_CONFIGURED: {},
    "phyll": PAPER,
    "phyll-frugal": FRUGAL,
    "phyll-frugal-r10": {**FRUGAL, "remeasure": 10},
    "phyll-frugal-nophys": {**FRUGAL, "physical": False},
    "phyll-frugal-noskip": {**FRUGAL, "skip": False},
    "phyll-nophys": {**PAPER, "physical": False},
    "phyll-noskip": {**PAPER, "skip": False},
    "phyll-ffv1": {**PAPER, "goodness": "ff_v1"},
}


def variant_config(base: TrainConfig, variant: str, seed: int) -> TrainConfig:
    """The task's PhyLL configuration with one ablation applied, for one seed."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown PhyLL variant {variant!r}; expected one of {list(VARIANTS)}")
    changes = dict(VARIANTS[variant])
    if changes.get("schedule") == "layerwise":
        changes["epochs"] = base.epochs * base.n_blocks
    return base.with_changes(seed=seed, **changes)


def train_once(config: TrainConfig, layers: Sequence[PhysicalLayer], data: Any,
               eval_every: int | None = None) -> Any:
    """phyff.training.session.train in a temporary run directory; returns its TrainResult.

    eval_every None: evaluate only after the last epoch (what the table needs).
    """
    cfg = config.with_changes(eval_every=eval_every or config.epochs, eval_subset=0)
    with tempfile.TemporaryDirectory(prefix="phyff-bench-") as run:
        return train(cfg, layers, data, run, progress=False)


def epoch_loop(config: TrainConfig, layers: Sequence[PhysicalLayer], data: Any) -> EpochLoop:
    """`phyff train`'s loop for this configuration, evaluating nothing (hooks do)."""
    model, rng = new_model(config, layers, data)
    return EpochLoop(config, model, layers, prepare(model, layers, data), rng, evaluate=False)
