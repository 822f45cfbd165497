"""What a training run will ask of the board, known before it starts.

On a narrow board a sample costs several device rows per block, and on a
real one every row waits for the drive to settle: a user should see the rows
per sample, the device queries and the projected time before the first
query. This module counts them from the model's shapes and the schedule's
rules (phyff.phyll.schedule), without touching the board.

Rules:

1. training queries: the paper's schedule measures 2 x N samples through
   every block's rows each epoch; the layer-wise schedule measures block k's
   rows once when its share of the epochs starts and, with a re-measure
   interval, blocks 0..k again at every interval (its rule 2);
2. evaluation queries: every full evaluation (each `eval_every` epoch and
   the last) classifies the test set (C label overlays per sample with
   goodness inference, one with one-pass), and the training set too unless
   the layer-wise caches give its accuracy (goodness over all labels) or
   its read-out features (one-pass) for free;
3. counts are rows (one device query each); a resumed or stopped run, the
   per-epoch test subset and `repeats` > 1 re-measurements of a resumed
   cache are not counted, so the count is what a clean run makes.
"""

from __future__ import annotations

from dataclasses import dataclass

from phyff.phyll.model import Model
from phyff.phyll.schedule import LayerWise, make_schedule
from phyff.training.config import TrainConfig


@dataclass(frozen=True)
class RunPlan:
    """Rows per sample and block, and the device queries of a clean run."""

    rows: tuple[int, ...]
    n_sense: int
    train_queries: int
    eval_queries: int

    @property
    def queries(self) -> int:
        return self.train_queries + self.eval_queries


def plan_run(config: TrainConfig, model: Model, n_train: int, n_test: int) -> RunPlan:
    """The queries a clean run of `config` on `model` makes (rules 1-3)."""
    rows = model.block_rows
    per_sample = sum(rows)
    physical = model.config.physical
    schedule = make_schedule(config.schedule_options())
    train = 0
    free_train_eval = False
    if physical and isinstance(schedule, LayerWise):
        per_row = schedule.repeats * schedule.overlays(model) * n_train
        for epoch in range(1, config.epochs + 1):
            k = schedule.block_of(epoch, model.n_blocks)
            if epoch == schedule.first_epoch(k, model.n_blocks):
                train += per_row * rows[k]
            elif schedule.measures_at(epoch, model.n_blocks):
                train += per_row * sum(rows[: k + 1])
        free_train_eval = model.uses_readout or not schedule.subset(model)
    elif physical:
        train = config.epochs * 2 * n_train * per_sample
    evaluations = 1
    if config.eval_every:
        evaluations = len({*range(config.eval_every, config.epochs + 1, config.eval_every),
                           config.epochs})
    overlays = 1 if model.uses_readout else model.config.n_classes
    evaluated = n_test + (0 if free_train_eval else n_train)
    evals = evaluations * evaluated * overlays * per_sample if physical else 0
    return RunPlan(tuple(rows), model.specs[0].n_sense, int(train), int(evals))
