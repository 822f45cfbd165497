"""Training schedules: in which order a PhyLL model's blocks meet the board.

A schedule trains a model for one epoch and says nothing about files,
evaluation or progress: `phyff.training.loop` calls it once per epoch. The
paper's schedule is `Simultaneous`: every batch is measured afresh through
every block (positives and negatives in one call per block) and that
measurement serves T inner optimiser steps; all blocks learn in the same
pass, block k+1 seeing block k's current output.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from phyff.phyll.layout import wrong_labels
from phyff.phyll.model import Model, PhysicalLayer


@dataclass
class EpochStats:
    """Per-block loss and goodness separation, averaged over the epoch's samples."""

    loss: np.ndarray
    separation: np.ndarray


class Schedule(Protocol):
    """Trains a model for one epoch on laid-out inputs `xl` with labels `y`."""

    name: str

    def train_epoch(self, model: Model, layers: Sequence[PhysicalLayer], xl: np.ndarray,
                    y: np.ndarray, rng: np.random.Generator, batch_size: int | None,
                    epoch: int) -> EpochStats: ...


def batches(order: np.ndarray, batch_size: int | None, min_size: int) -> list[np.ndarray]:
    """Split a permutation into batches; a too-small tail joins the previous batch."""
    size = len(order) if batch_size is None else batch_size
    cuts = [*range(0, len(order), size), len(order)]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < min_size:
        del cuts[-2]
    return [order[a:b] for a, b in itertools.pairwise(cuts)]


class Simultaneous:
    """The paper's schedule: shuffle, fresh wrong labels, every batch through every block."""

    name = "simultaneous"

    def train_epoch(self, model: Model, layers: Sequence[PhysicalLayer], xl: np.ndarray,
                    y: np.ndarray, rng: np.random.Generator, batch_size: int | None,
                    epoch: int) -> EpochStats:
        n, k = len(xl), model.n_blocks
        order = rng.permutation(n)
        unsupervised = model.config.unsupervised
        negatives = None if unsupervised else wrong_labels(y, model.config.n_classes, rng)
        loss, sep = np.zeros(k), np.zeros(k)
        for idx in batches(order, batch_size, min_size=2 if unsupervised else 1):
            if negatives is None:
                stats = model.train_batch_unsupervised(layers, xl[idx], rng)
            else:
                stats = model.train_batch(layers, xl[idx], y[idx], negatives[idx])
            loss += stats.loss * len(idx) / n
            sep += stats.separation * len(idx) / n
        return EpochStats(loss, sep)


SCHEDULES: dict[str, type] = {Simultaneous.name: Simultaneous}


def make_schedule(name: str) -> Schedule:
    """The schedule called `name` (see SCHEDULES)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
    schedule: Schedule = SCHEDULES[name]()
    return schedule
