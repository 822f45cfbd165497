"""The one training loop: epochs over a PhyLL model, writing no files.

`EpochLoop` owns the model, the seeded generator and the prepared data; each
epoch it asks the schedule to train, evaluates when due, builds the epoch's
metrics record and calls the hooks ``hook(epoch, model, record)``. Everything
around it (checkpoints, metrics.jsonl, progress bar, model file) is the
session's business (`phyff.training.session`), and the benchmark drives the
very same loop with its own hooks, so there is one loop to trust.

A hook may raise `StopTraining` to end the run cleanly after the current
epoch (its record is complete and passed to every hook first).

Evaluation never dominates the device queries: the full evaluation (train and
test accuracy with the model's inference) runs at every `eval_every`-th epoch
and at the end; between them an epoch only records what is free (the
layer-wise schedule's cached train accuracy) and, when `eval_subset` is set,
the accuracy on a fixed subset of the test samples. The training accuracy of
a full evaluation also comes from the cache when the schedule holds every
block's cache; training and evaluation queries are counted apart.

Each record holds: epoch, block (the block trained, layer-wise schedule),
loss (mean over the blocks trained this epoch of their local loss),
loss_blocks, separation (mean G+ - G-), separation_blocks (None for blocks
not trained this epoch), train_acc / test_acc (None when not evaluated),
cached_train_acc (None without a complete cache), subset_acc (None without
eval_subset), macs / queries / measure_calls (training), digital_s /
physical_s (training time outside / inside measure()), eval_s,
eval_physical_s, eval_macs, eval_queries, wall_s (training + evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from phyff.phyll.model import Model, PhysicalLayer
from phyff.phyll.schedule import Schedule, make_schedule
from phyff.training.config import TrainConfig

Hook = Callable[[int, Model, dict[str, Any]], None]


class StopTraining(Exception):
    """Raised by a hook to end training after the current epoch; the message says why."""


class TrainingDiverged(Exception):
    """The weights became NaN or infinite: nothing of that epoch is kept."""

    def __init__(self, epoch: int, where: str) -> None:
        self.epoch = epoch
        super().__init__(
            f"training diverged at epoch {epoch}: {where} hold NaN or infinite values. "
            f"Lower the learning rate (--lr) and train again; no final model was saved "
            f"(the checkpoint of epoch {epoch - 1} is kept)" if epoch > 1 else
            f"training diverged at epoch {epoch}: {where} hold NaN or infinite values. "
            f"Lower the learning rate (--lr) and train again; no model was saved")


def non_finite_part(model: Model) -> str | None:
    """Which learned arrays of `model` hold a NaN or an infinity (None: all finite)."""
    for k, (param, xi) in enumerate(zip(model.params, model.xis, strict=True)):
        if not (np.isfinite(param).all() and np.isfinite(xi).all()):
            return f"the weights of block {k}"
    if model.readout is not None and not np.isfinite(model.readout).all():
        return "the read-out weights"
    return None


class Dataset(Protocol):
    """What the loop reads from a dataset object (read-only: it never writes them)."""

    @property
    def x_train(self) -> np.ndarray: ...

    @property
    def y_train(self) -> np.ndarray: ...

    @property
    def x_test(self) -> np.ndarray: ...

    @property
    def y_test(self) -> np.ndarray: ...

    @property
    def n_classes(self) -> int: ...


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
        self.schedule = schedule or make_schedule(config.schedule_options())
        self.evaluate = evaluate
        self.stop_reason: str | None = None
        n_sub = min(config.eval_subset, len(data.x_test))
        pick = np.random.default_rng([config.seed, 3]).permutation(len(data.x_test))[:n_sub]
        self.subset = np.sort(pick)

    def eval_due(self, epoch: int) -> bool:
        """Evaluation epochs: every eval_every-th and the last (when evaluating at all)."""
        c = self.config
        every = c.eval_every
        return self.evaluate and ((every is not None and epoch % every == 0)
                                  or epoch == c.epochs)

    def epoch_queries(self, epoch: int) -> int:
        """Device queries the training part of `epoch` will make (see the schedule)."""
        return int(self.schedule.epoch_queries(self.model, len(self.data.xl), epoch))

    def run(self, start: int = 0, hooks: Iterable[Hook] = ()) -> int:
        """Epochs start+1 .. config.epochs; returns the last completed epoch."""
        hooks = list(hooks)
        done = start
        for epoch in range(start + 1, self.config.epochs + 1):
            record = self.epoch(epoch)
            bad = non_finite_part(self.model)
            if bad is not None:  # before any hook saves the epoch
                raise TrainingDiverged(epoch, bad)
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
        trained = ~np.isnan(stats.loss)
        record: dict[str, Any] = {
            "epoch": epoch,
            "block": self.schedule.block,
            "loss": float(stats.loss[trained].mean()),
            "loss_blocks": [float(v) if ok else None for v, ok in zip(stats.loss, trained,
                                                                        strict=True)],
            "separation": float(stats.separation[trained].mean()),
            "separation_blocks": [float(v) if ok else None
                                  for v, ok in zip(stats.separation, trained, strict=True)],
            "train_acc": None,
            "test_acc": None,
            "cached_train_acc": None,
            "subset_acc": None,
            "macs": cost.macs,
            "queries": cost.queries,
            "measure_calls": cost.measure_calls,
            "digital_s": train_s - cost.physical_s,
            "physical_s": cost.physical_s,
        }
        eval_cost = model.meter.copy()
        eval_start = time.perf_counter()
        if self.evaluate:
            cached = self.cached_train_predictions()
            if cached is not None:
                record["cached_train_acc"] = float(np.mean(cached == d.y_train))
        if self.eval_due(epoch):
            record["train_acc"], record["test_acc"] = self.accuracies()
        elif self.evaluate and len(self.subset):
            pred = self.predict(d.x_test[self.subset])
            record["subset_acc"] = float(np.mean(pred == d.y_test[self.subset]))
        spent = model.meter.since(eval_cost)
        record.update(
            eval_s=time.perf_counter() - eval_start,
            eval_physical_s=spent.physical_s,
            eval_macs=spent.macs,
            eval_queries=spent.queries,
            wall_s=time.perf_counter() - start,
        )
        return record

    def cached_train_predictions(self) -> np.ndarray | None:
        """Training-set predictions from the schedule's caches (no query), if it has them.

        For a read-out model the read-out is refit on the cached neutral-overlay
        outputs; for goodness inference the cached label overlays are scored.
        """
        model, d = self.model, self.data
        if model.uses_readout:
            feats = self.schedule.readout_features(model)
            return None if feats is None else model.fit_readout_on(feats, d.y_train)
        return self.schedule.train_predictions(model)

    def fit_readout(self) -> np.ndarray:
        """Refit the read-out (from the caches when possible); predictions on the train set."""
        cached = self.cached_train_predictions()
        if cached is not None:
            return cached
        return self.model.fit_readout(self.layers, self.data.x_train, self.data.y_train)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predictions of the current model with its own inference."""
        if self.model.uses_readout and self.model.readout is None:
            self.fit_readout()
        return self.model.predict(self.layers, features)

    def accuracies(self) -> tuple[float, float]:
        """Train and test accuracy of the current model (a read-out is refit first).

        The training accuracy comes from the schedule's caches when they cover
        every block (no query); otherwise the training set is measured.
        """
        model, d = self.model, self.data
        if model.uses_readout:
            pred_tr = self.fit_readout()
        else:
            cached = self.cached_train_predictions()
            pred_tr = cached if cached is not None else model.predict(self.layers, d.x_train)
        pred_te = model.predict(self.layers, d.x_test)
        return float(np.mean(pred_tr == d.y_train)), float(np.mean(pred_te == d.y_test))

