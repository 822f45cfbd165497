"""The one training loop: epochs over a PhyLL model, writing no files.

`EpochLoop` owns the model, the seeded generator and the prepared data; each
epoch it asks the schedule to train, evaluates when due, builds the epoch's
metrics record and calls the hooks ``hook(epoch, model, record)``. Everything
around it (checkpoints, metrics.jsonl, progress bar, model file) is the
session's business (`phyff.training.session`), and the benchmark drives the
very same loop with its own hooks, so there is one loop to trust.

A hook may raise `StopTraining` to end the run cleanly after the current
epoch (its record is complete and passed to every hook first).

Each record holds: epoch, loss (mean over blocks of each block's local loss),
loss_blocks, separation (mean G+ - G-), separation_blocks, train_acc /
test_acc (None when not evaluated), macs / queries / measure_calls (training),
digital_s / physical_s (training time outside / inside measure()), eval_s,
eval_physical_s, eval_macs, eval_queries, wall_s (training + evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from phyff.phyll.model import Model, PhysicalLayer
from phyff.phyll.schedule import Schedule, Simultaneous
from phyff.training.config import TrainConfig

Hook = Callable[[int, Model, dict[str, Any]], None]


class StopTraining(Exception):
    """Raised by a hook to end training after the current epoch; the message says why."""


class Dataset(Protocol):
    """What the loop reads from a dataset object."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


@dataclass
class Prepared:
    """A dataset checked against a model: raw arrays plus laid-out training inputs."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    xl: np.ndarray


def check_data(data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Pull the arrays out of a dataset object, with clear errors for missing parts."""
    missing = [a for a in ("x_train", "y_train", "x_test", "y_test", "n_classes")
               if not hasattr(data, a)]
    if missing:
        raise ValueError(f"dataset object lacks {missing}; it needs x_train, y_train, "
                         "x_test, y_test and n_classes")
    x_tr = np.asarray(data.x_train, dtype=np.float64)
    x_te = np.asarray(data.x_test, dtype=np.float64)
    if x_tr.ndim != 2 or x_te.ndim != 2 or x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(
            f"x_train and x_test must be 2-D with the same number of features, got "
            f"{x_tr.shape} and {x_te.shape}"
        )
    if len(x_tr) < 2 or len(x_te) < 1:
        raise ValueError(
            f"need at least 2 training and 1 test samples, got {len(x_tr)}/{len(x_te)}"
        )
    return x_tr, np.asarray(data.y_train), x_te, np.asarray(data.y_test), int(data.n_classes)


def new_model(config: TrainConfig, layers: Sequence[PhysicalLayer], data: Dataset
              ) -> tuple[Model, np.random.Generator]:
    """A freshly initialised model for this data and the generator its training draws from."""
    x_tr, _, _, _, n_classes = check_data(data)
    model = Model.build(config.model.sized(n_classes, x_tr.shape[1]), layers)
    return model, np.random.default_rng([config.seed, 1])


def prepare(model: Model, layers: Sequence[PhysicalLayer], data: Dataset) -> Prepared:
    """Validate the data and layers against the model; lay out the training inputs."""
    x_tr, y_tr, x_te, y_te, _ = check_data(data)
    model.check_layers(layers)
    xl = model.prepare(x_tr)
    y_tr = model.check_labels(y_tr, len(x_tr))
    y_te = model.check_labels(y_te, len(x_te))
    model.prepare(x_te)
    return Prepared(x_tr, y_tr, x_te, y_te, xl)


class EpochLoop:
    """Train `model` epoch by epoch through `layers`; see the module docstring."""

    def __init__(self, config: TrainConfig, model: Model, layers: Sequence[PhysicalLayer],
                 data: Prepared, rng: np.random.Generator, *,
                 schedule: Schedule | None = None, evaluate: bool = True) -> None:
        self.config = config
        self.model = model
        self.layers = list(layers)
        self.data = data
        self.rng = rng
        self.schedule = schedule or Simultaneous()
        self.evaluate = evaluate
        self.stop_reason: str | None = None

    def eval_due(self, epoch: int) -> bool:
        """Evaluation epochs: every eval_every-th and the last (when evaluating at all)."""
        c = self.config
        return self.evaluate and (epoch % c.eval_every == 0 or epoch == c.epochs)

    def run(self, start: int = 0, hooks: Iterable[Hook] = ()) -> int:
        """Epochs start+1 .. config.epochs; returns the last completed epoch."""
        hooks = list(hooks)
        done = start
        for epoch in range(start + 1, self.config.epochs + 1):
            record = self.epoch(epoch)
            done = epoch
            try:
                for hook in hooks:
                    hook(epoch, self.model, record)
            except StopTraining as stop:
                self.stop_reason = str(stop)
                break
        return done

    def epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch of training (and evaluation when due); returns its metrics record."""
        model, d = self.model, self.data
        start = time.perf_counter()
        before = model.meter.copy()
        stats = self.schedule.train_epoch(model, self.layers, d.xl, d.y_train, self.rng,
                                          self.config.batch_size, epoch)
        train_s = time.perf_counter() - start
        cost = model.meter.since(before)
        record: dict[str, Any] = {
            "epoch": epoch,
            "loss": float(stats.loss.mean()),
            "loss_blocks": stats.loss.tolist(),
            "separation": float(stats.separation.mean()),
            "separation_blocks": stats.separation.tolist(),
            "train_acc": None,
            "test_acc": None,
            "macs": cost.macs,
            "queries": cost.queries,
            "measure_calls": cost.measure_calls,
            "digital_s": train_s - cost.physical_s,
            "physical_s": cost.physical_s,
        }
        eval_cost = model.meter.copy()
        eval_start = time.perf_counter()
        if self.eval_due(epoch):
            record["train_acc"], record["test_acc"] = self.accuracies()
        spent = model.meter.since(eval_cost)
        record.update(
            eval_s=time.perf_counter() - eval_start,
            eval_physical_s=spent.physical_s,
            eval_macs=spent.macs,
            eval_queries=spent.queries,
            wall_s=time.perf_counter() - start,
        )
        return record

    def accuracies(self) -> tuple[float, float]:
        """Train and test accuracy of the current model (the unsupervised read-out is refit)."""
        model, d = self.model, self.data
        if model.config.unsupervised:
            pred_tr = model.fit_readout(self.layers, d.x_train, d.y_train)
        else:
            pred_tr = model.predict(self.layers, d.x_train)
        pred_te = model.predict(self.layers, d.x_test)
        return float(np.mean(pred_tr == d.y_train)), float(np.mean(pred_te == d.y_test))
