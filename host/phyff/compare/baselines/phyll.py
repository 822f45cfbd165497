"""PhyLL and its ablations as benchmark methods.

The benchmark measures the product: a PhyLL run is `phyff.training.session.train` with
the task's `TrainConfig`, in a throw-away run directory, evaluated once at the
end. The ablations change one field of that configuration:

- ``phyll-nophys``: physical=False, the digital blocks alone (no board queries);
- ``phyll-noskip``: skip=False, z = [p] instead of [p, h];
- ``phyll-ffv1``: goodness="ff_v1", Hinton's sum-of-squares goodness (the
  paper's first version) instead of the cosine goodness.

Scenarios that act between epochs (a perturbation part-way through training,
a per-epoch test curve that must not also evaluate the training set) use
`PhyllLoop`, which performs the same steps in the same order with the same
random stream as `phyff.training.session.train` (tests check the weights are identical)
without its files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from phyff.phyll.layout import wrong_labels
from phyff.phyll.model import Model, PhysicalLayer
from phyff.training.session import TrainConfig, train

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


class PhyllLoop:
    """The training session's epoch loop without files, for scenarios acting between epochs."""

    def __init__(self, config: TrainConfig, layers: Sequence[PhysicalLayer], data: Any) -> None:
        x_tr = np.asarray(data.x_train, dtype=np.float64)
        self.config = config
        self.layers = list(layers)
        self.model = Model.build(config.model_config(int(data.n_classes), x_tr.shape[1]),
                                 self.layers)
        self.rng = np.random.default_rng([config.seed, 1])
        self.xl = self.model.prepare(x_tr)
        self.y = self.model.check_labels(np.asarray(data.y_train), len(x_tr))

    def epoch(self) -> None:
        """One epoch: shuffle, fresh wrong labels, train every batch."""
        n = len(self.xl)
        order = self.rng.permutation(n)
        negatives = wrong_labels(self.y, self.model.config.n_classes, self.rng)
        size = n if self.config.batch_size is None else self.config.batch_size
        for start in range(0, n, size):
            idx = order[start : start + size]
            self.model.train_batch(self.layers, self.xl[idx], self.y[idx], negatives[idx])

    def run(self, epochs: int, on_epoch: Callable[[int], None] | None = None) -> None:
        """Train `epochs` epochs, calling on_epoch(epoch) after each."""
        for epoch in range(1, epochs + 1):
            self.epoch()
            if on_epoch is not None:
                on_epoch(epoch)
