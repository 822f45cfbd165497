"""PhyLL and its ablations as benchmark methods.

The benchmark measures the product: a PhyLL run is `phyff.training.session.train` with
the task's `TrainConfig`, in a throw-away run directory, evaluated once at the
end. The ablations change one field of that configuration:

- ``phyll-nophys``: physical=False, the digital blocks alone (no board queries);
- ``phyll-noskip``: skip=False, z = [p] instead of [p, h];
- ``phyll-ffv1``: goodness="ff_v1", Hinton's sum-of-squares goodness (the
  paper's first version) instead of the cosine goodness.

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

VARIANTS: dict[str, dict[str, Any]] = {
    "phyll": {},
    "phyll-nophys": {"physical": False},
    "phyll-noskip": {"skip": False},
    "phyll-ffv1": {"goodness": "ff_v1"},
}


def variant_config(base: TrainConfig, variant: str, seed: int) -> TrainConfig:
    """The task's PhyLL configuration with one ablation applied, for one seed."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown PhyLL variant {variant!r}; expected one of {list(VARIANTS)}")
    return base.with_changes(seed=seed, **VARIANTS[variant])


def train_once(config: TrainConfig, layers: Sequence[PhysicalLayer], data: Any,
               eval_every: int | None = None) -> Any:
    """phyff.training.session.train in a temporary run directory; returns its TrainResult.

    eval_every None: evaluate only after the last epoch (what the table needs).
    """
    cfg = config.with_changes(eval_every=eval_every or config.epochs)
    with tempfile.TemporaryDirectory(prefix="phyff-bench-") as run:
        return train(cfg, layers, data, run, progress=False)


def epoch_loop(config: TrainConfig, layers: Sequence[PhysicalLayer], data: Any) -> EpochLoop:
    """`phyff train`'s loop for this configuration, evaluating nothing (hooks do)."""
    model, rng = new_model(config, layers, data)
    return EpochLoop(config, model, layers, prepare(model, layers, data), rng, evaluate=False)
