"""Training schedules: in which order a PhyLL model's blocks meet the board.

A schedule trains a model for one epoch and says nothing about files,
evaluation or progress: `phyff.training.loop` calls it once per epoch. The
paper's schedule is `Simultaneous`: every batch is measured afresh through
every block (positives and negatives in one call per block) and that
measurement serves T inner optimiser steps; all blocks learn in the same
pass, block k+1 seeing block k's current output.

`LayerWise` is the query-frugal schedule: blocks are trained one after
another, each for its share of the epochs. When block k starts, the physical
outputs of every training sample under each of the C label overlays (and the
neutral overlay when the model classifies in one pass) are measured once,
N x C rows in one measure() call (the board splits it into frames), and all
of block k's epochs draw their positives and negatives from that cache.
Block k+1's inputs are block k's trained outputs of those same rows, so
they cost no query; they are measured once in turn. Options for real media:
re-measure the current block's cache every R epochs, and measure each row M
times (averaged, or kept and drawn from at random as noise augmentation).
With `negatives` = W < C - 1, each sample's cache holds its true label and W
wrong labels drawn once (seeded) instead of all C labels: (W + 1 (+1)) / (C (+1))
of the queries, the negatives of every epoch drawn from those W.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from phyff.phyll.layout import wrong_labels
from phyff.phyll.model import Model, PhysicalLayer

REPEAT_MODES: tuple[str, ...] = ("mean", "augment")


@dataclass
class EpochStats:
    """Per-block loss and goodness separation, averaged over the epoch's samples."""

    loss: np.ndarray
    separation: np.ndarray


@dataclass(frozen=True)
class ScheduleOptions:
    """What a training configuration tells a schedule (`TrainConfig.schedule_options`)."""

    name: str
    epochs: int
    n_blocks: int
    unsupervised: bool = False
    remeasure: int | None = None
    repeats: int = 1
    repeat_mode: str = "mean"
    cache_negatives: int | None = None


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


# Measurements per cached row: the layer-wise cache holds repeats x rows x samples
# values, so 100,000 asked for 25 GiB; the paper's averaging gains little past a few.
MAX_REPEATS = 100


def check_options(options: ScheduleOptions) -> None:
    """Refuse schedule options no schedule can use, whichever schedule is chosen.

    The one place these rules live: a training configuration calls it when
    built (so a bad flag fails before a board is touched) and every
    `Schedule.from_config` calls it again through `Schedule.check`.
    """
    schedule_class(options.name)
    if options.remeasure is not None and not _positive_int(options.remeasure):
        raise ValueError(f"remeasure must be a positive integer number of epochs (or "
                         f"None: never re-measure), got {options.remeasure!r}")
    if not _positive_int(options.repeats) or options.repeats > MAX_REPEATS:
        raise ValueError(f"repeats must be an integer in 1..{MAX_REPEATS} (measurements per "
                         f"cached row; the cache grows with it), got {options.repeats!r}")
    if options.cache_negatives is not None and not _positive_int(options.cache_negatives):
        raise ValueError(f"cache_negatives must be a positive number of wrong labels per "
                         f"sample (or None: all), got {options.cache_negatives!r}")
    if options.repeat_mode not in REPEAT_MODES:
        raise ValueError(f"repeat_mode must be one of {', '.join(REPEAT_MODES)}, "
                         f"got {options.repeat_mode!r}")


class Schedule(ABC):
    """Trains a model for one epoch on laid-out inputs `xl` with labels `y`.

    A schedule is one subclass: it names itself (`name`), trains an epoch
    (`train_epoch`) and says what an epoch will cost (`epoch_queries`), the
    two members every schedule must write (abstract). The
    other members have defaults that mean "this schedule keeps no
    measurements": the loop and the session call every member unconditionally,
    so a schedule with caches overrides them and one without inherits them.
    Options come from a training configuration through `from_config`, which
    checks them all first (`check`), so a schedule object is always usable.
    """

    name: ClassVar[str] = ""
    block: int | None = None  # the block the last epoch trained; None: every block

    # ------------------------------------------------------------ building
    @classmethod
    def check(cls, options: ScheduleOptions) -> None:
        """Refuse options this schedule cannot train with (subclasses add their own rules)."""
        check_options(options)

    @classmethod
    def build(cls, options: ScheduleOptions) -> Schedule:
        """The schedule built from options `check` has accepted."""
        return cls()

    @classmethod
    def from_config(cls, options: ScheduleOptions) -> Schedule:
        """This schedule for a training configuration's options, every rule checked first."""
        cls.check(options)
        return cls.build(options)

    # ------------------------------------------------------------ training
    @abstractmethod
    def train_epoch(self, model: Model, layers: Sequence[PhysicalLayer], xl: np.ndarray,
                    y: np.ndarray, rng: np.random.Generator, batch_size: int | None,
                    epoch: int) -> EpochStats:
        """Train `model` for epoch `epoch` (1-based) through `layers`."""

    @abstractmethod
    def epoch_queries(self, model: Model, n: int, epoch: int) -> int:
        """Device queries epoch `epoch` will make on n training samples."""

    # ------------------------------------------------------------ what a cache offers
    def train_predictions(self, model: Model) -> np.ndarray | None:
        """Goodness-argmax predictions of the training set without a query, if known."""
        return None

    def readout_features(self, model: Model) -> np.ndarray | None:
        """Read-out features of the training set without a query, if known."""
        return None

    def state(self) -> dict[str, np.ndarray] | None:
        """Measurements worth keeping across a resume (None: nothing to keep)."""
        return None

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take back what `state` returned; a schedule without state has nothing to take."""
        return None


def batches(order: np.ndarray, batch_size: int | None, min_size: int) -> list[np.ndarray]:
    """Split a permutation into batches; a too-small tail joins the previous batch."""
    size = len(order) if batch_size is None else batch_size
    cuts = [*range(0, len(order), size), len(order)]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < min_size:
        del cuts[-2]
    return [order[a:b] for a, b in itertools.pairwise(cuts)]


class Simultaneous(Schedule):
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

    def epoch_queries(self, model: Model, n: int, epoch: int) -> int:
        """Device queries epoch `epoch` will make on n training samples (0 without physics)."""
        return 2 * n * sum(model.block_rows) if model.config.physical else 0


class LayerWise(Schedule):
    """Blocks one after another, each on a cache of measurements; see the module docstring.

    Rules:
    1. epochs 1..E are split evenly among the K blocks in order; block k owns
       the epochs e with (e - 1) * K // E == k (so E >= K is required);
    2. block k's cache is measured at its first epoch and, when `remeasure`
       is R, again at every R-th epoch of its share, together with the caches
       of blocks 0..k-1 (so block k's inputs and the read-out's features follow
       a drifting medium); a measurement is one measure() call of M x rows
       per block (M = `repeats`);
    3. the cache holds, for every training sample, the block input under each
       label overlay (rows 0..C-1) and, for one-pass models, the neutral overlay
       (row C); with `negatives` = W < C - 1, under its true label (row 0), W
       wrong labels drawn once per sample (rows 1..W, `labels` says which) and
       the neutral overlay (row W + 1); earlier blocks are frozen, so their
       outputs are exact inputs;
    4. `state()` / `restore()` carry the caches across a resume (the session
       keeps them in the run directory); without them, resuming in the middle
       of block k measures the caches of blocks 0..k again (counted).
    """

    name = "layerwise"

    def __init__(self, epochs: int, remeasure: int | None = None, repeats: int = 1,
                 repeat_mode: str = "mean", negatives: int | None = None) -> None:
        self.epochs = epochs
        self.negatives = negatives
        self.labels: np.ndarray | None = None  # (rows, N) label of each cached row, -1 neutral
        self.remeasure = remeasure
        self.repeats = repeats
        self.repeat_mode = repeat_mode
        self.block: int = -1  # block whose cache is held (-1: none yet)
        self.inputs: np.ndarray | None = None  # (R, N, width) inputs of that block
        self.cache: np.ndarray | None = None  # (M or 1, R, N, z width + 1)
        self.done_outputs: list[np.ndarray] = []  # frozen blocks' outputs (R, N, d_out)

    @classmethod
    def check(cls, options: ScheduleOptions) -> None:
        """The options, then what caching label overlays block by block needs (rule 1)."""
        super().check(options)
        if options.epochs < options.n_blocks:
            raise ValueError(f"the layer-wise schedule trains blocks one after another: it "
                             f"needs epochs >= blocks, got {options.epochs} epochs for "
                             f"{options.n_blocks} blocks (raise --epochs or use --schedule "
                             "simultaneous)")
        if options.unsupervised:
            raise ValueError("the layer-wise schedule caches label overlays; unsupervised "
                             "training needs --schedule simultaneous")

    @classmethod
    def build(cls, options: ScheduleOptions) -> Schedule:
        return cls(options.epochs, options.remeasure, options.repeats, options.repeat_mode,
                   options.cache_negatives)

    # ------------------------------------------------------------ the plan
    def block_of(self, epoch: int, n_blocks: int) -> int:
        """The block trained in `epoch` (rule 1)."""
        return (epoch - 1) * n_blocks // self.epochs

    def first_epoch(self, k: int, n_blocks: int) -> int:
        """The first epoch of block k's share."""
        return -(-k * self.epochs // n_blocks) + 1

    def measures_at(self, epoch: int, n_blocks: int) -> bool:
        """True when `epoch` measures its block's cache (rule 2), resumption aside."""
        k = self.block_of(epoch, n_blocks)
        into = epoch - self.first_epoch(k, n_blocks)
        return into == 0 or (self.remeasure is not None and into % self.remeasure == 0)

    def wrong_per_sample(self, model: Model) -> int:
        """Wrong labels cached per sample: W, or all C - 1."""
        c = model.config.n_classes
        return c - 1 if self.negatives is None else min(self.negatives, c - 1)

    def subset(self, model: Model) -> bool:
        """True when the cache holds a subset of the wrong labels (rule 3)."""
        return self.wrong_per_sample(model) < model.config.n_classes - 1

    def overlays(self, model: Model) -> int:
        """Cached rows per sample: the labels, plus the neutral overlay for one-pass models."""
        return 1 + self.wrong_per_sample(model) + (model.config.inference == "onepass")

    def epoch_queries(self, model: Model, n: int, epoch: int) -> int:
        """Device queries `epoch` will make (a resumed run may make more, rule 4)."""
        if not model.config.physical:
            return 0
        k = self.block_of(epoch, model.n_blocks)
        per_row = self.repeats * self.overlays(model) * n
        upto = per_row * sum(model.block_rows[: k + 1])  # blocks 0..k measured afresh
        if self.cache is not None and self.block == k:
            return upto if self.measures_at(epoch, model.n_blocks) else 0
        if self.cache is not None and self.block == k - 1:
            return per_row * model.block_rows[k]
        return upto

    # ------------------------------------------------------------ the cache
    def row_labels(self, model: Model, y: np.ndarray) -> np.ndarray:
        """Label of each cached row (rows, N); -1 marks the neutral overlay (rule 3).

        With a subset of wrong labels they are drawn once, from a generator seeded
        by the model's seed, so a resumed run and a re-measurement cache the same rows.
        """
        c, n = model.config.n_classes, len(y)
        if not self.subset(model):
            labels = np.repeat(np.arange(c)[:, None], n, axis=1)
        else:
            w = self.wrong_per_sample(model)
            rng = np.random.default_rng([model.config.seed, 7])
            shifts = np.argsort(rng.random((n, c - 1)), axis=1)[:, :w] + 1  # distinct, 1..C-1
            labels = np.concatenate([y[None, :], ((y[:, None] + shifts) % c).T])
        if model.config.inference == "onepass":
            labels = np.concatenate([labels, np.full((1, n), -1)])
        return labels.astype(np.int64)

    def _first_inputs(self, model: Model, xl: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Block 0's inputs: every sample under every cached label overlay (rule 3)."""
        mode = model.config.overlay
        n = len(xl)
        batch_max = float(np.abs(xl).max(initial=0.0)) if mode == "batch" else None
        self.labels = self.row_labels(model, y)
        rows = np.empty((len(self.labels), n, xl.shape[1]), model.dtype)
        for r, labels in enumerate(self.labels):
            if labels[0] < 0:
                rows[r] = model.neutral(xl, batch_max)
            else:
                model.overlay(xl, labels, rows[r], batch_max)
        return rows

    def _measure(self, model: Model, layers: Sequence[PhysicalLayer], k: int) -> None:
        """(Re)fill the cache of block k from its inputs: one measure() call of M x rows."""
        assert self.inputs is not None
        r, n, width = self.inputs.shape
        flat = self.inputs.reshape(r * n, width)
        za = model.block_input(k, layers, np.tile(flat, (self.repeats, 1)))
        cache = za.reshape(self.repeats, r, n, za.shape[1])
        if self.repeat_mode == "mean" and self.repeats > 1:
            cache = cache.mean(axis=0, keepdims=True)
        self.cache = cache

    def _advance(self, model: Model, layers: Sequence[PhysicalLayer], xl: np.ndarray,
                 y: np.ndarray, k: int) -> None:
        """Hold block k's cache: freeze finished blocks, measure what is missing."""
        if self.block > k or self.cache is None:
            self.block, self.inputs, self.done_outputs = -1, None, []
        while self.block < k:
            if self.block >= 0:
                out = self.outputs(model, self.block)
                self.done_outputs.append(out)
                self.inputs = out
            else:
                self.inputs = self._first_inputs(model, xl, y)
            self.block += 1
            self._measure(model, layers, self.block)

    def outputs(self, model: Model, k: int) -> np.ndarray:
        """Outputs (R, N, d_out) of block k on its cached rows (repeats averaged)."""
        if k < len(self.done_outputs):
            return self.done_outputs[k]
        if k != self.block or self.cache is None:
            raise ValueError(f"block {k} has no cached measurements")
        za = self.cache.mean(axis=0) if len(self.cache) > 1 else self.cache[0]
        r, n, w = za.shape
        return model.block_output(k, za.reshape(r * n, w)).reshape(r, n, -1)

    # ------------------------------------------------------------ resuming
    def state(self) -> dict[str, np.ndarray] | None:
        """The caches as arrays (None when nothing is cached yet), for `restore`."""
        if self.cache is None or self.inputs is None:
            return None
        out = {"block": np.array([self.block]), "inputs": self.inputs, "cache": self.cache}
        if self.labels is not None:
            out["labels"] = self.labels
        out.update({f"done{k}": o for k, o in enumerate(self.done_outputs)})
        return out

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take back the caches written by `state` (rule 4)."""
        try:
            block = int(np.asarray(arrays["block"]).reshape(-1)[0])
            done = [np.asarray(arrays[f"done{k}"]) for k in range(block)]
            inputs, cache = np.asarray(arrays["inputs"]), np.asarray(arrays["cache"])
        except KeyError as err:
            raise ValueError(f"the layer-wise cache file lacks {err}") from err
        if cache.ndim != 4 or inputs.shape[:2] != cache.shape[1:3]:
            raise ValueError(f"the layer-wise cache file is inconsistent: inputs "
                             f"{inputs.shape}, cache {cache.shape}")
        labels = arrays.get("labels")
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        if self.labels is not None and self.labels.shape != cache.shape[1:3]:
            raise ValueError(f"the layer-wise cache file is inconsistent: labels "
                             f"{self.labels.shape}, cache {cache.shape}")
        self.block, self.inputs, self.cache, self.done_outputs = block, inputs, cache, done

    # ------------------------------------------------------------ training
    def train_epoch(self, model: Model, layers: Sequence[PhysicalLayer], xl: np.ndarray,
                    y: np.ndarray, rng: np.random.Generator, batch_size: int | None,
                    epoch: int) -> EpochStats:
        n, big_k = len(xl), model.n_blocks
        k = self.block_of(epoch, big_k)
        if self.block != k or self.cache is None:
            self._advance(model, layers, xl, y, k)
        elif self.measures_at(epoch, big_k):
            self.cache = None  # rule 2: every block's cache again, from block 0
            self._advance(model, layers, xl, y, k)
        assert self.cache is not None
        c = model.config.n_classes
        order = rng.permutation(n)
        if self.subset(model):  # rows: 0 the true label, 1..W the cached wrong ones
            positives = np.zeros(n, dtype=np.int64)
            negatives = rng.integers(1, self.wrong_per_sample(model) + 1, size=n)
        else:  # rows: one per label
            positives, negatives = y, wrong_labels(y, c, rng)
        pick = (rng.integers(0, len(self.cache), size=n) if len(self.cache) > 1
                else np.zeros(n, dtype=np.int64))
        loss, sep = np.full(big_k, np.nan), np.full(big_k, np.nan)
        loss[k] = sep[k] = 0.0
        for idx in batches(order, batch_size, min_size=1):
            za = np.concatenate([self.cache[pick[idx], positives[idx], idx],
                                 self.cache[pick[idx], negatives[idx], idx]])
            bl, bs = model.train_block(k, za)
            loss[k] += bl * len(idx) / n
            sep[k] += bs * len(idx) / n
        return EpochStats(loss, sep)

    # ------------------------------------------------------------ free evaluation
    def complete(self, model: Model) -> bool:
        """True when every block's cache is held (the last block's share has begun)."""
        return self.cache is not None and self.block == model.n_blocks - 1

    def train_predictions(self, model: Model) -> np.ndarray | None:
        """Goodness-argmax predictions of the training set from the caches (no query).

        None until every block has a cache, or when the cache holds a subset of
        the wrong labels (no full argmax). Valid for a medium that does not
        change between the measurement and now.
        """
        if not self.complete(model) or self.subset(model):
            return None
        c = model.config.n_classes
        total: np.ndarray | float = 0.0
        for k in range(model.n_blocks):
            out = self.outputs(model, k)[:c]
            r, n, d = out.shape
            total = total + model.block_goodness(k, out.reshape(r * n, d)).reshape(r, n)
        return np.asarray(total).argmax(axis=0)

    def readout_features(self, model: Model) -> np.ndarray | None:
        """Read-out features of the training set under the neutral overlay (no query)."""
        if not self.complete(model) or model.config.inference != "onepass":
            return None
        outs = [self.outputs(model, k)[-1] for k in range(model.n_blocks)]
        return model.readout_input(np.concatenate(outs, axis=1))


SCHEDULES: dict[str, type[Schedule]] = {cls.name: cls for cls in (Simultaneous, LayerWise)}


def schedule_class(name: str) -> type[Schedule]:
    """The schedule class registered under `name` (see SCHEDULES)."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown schedule {name!r}; expected one of "
                         f"{', '.join(SCHEDULES)}") from None


def make_schedule(options: ScheduleOptions) -> Schedule:
    """The schedule a training configuration names, with its options, checked."""
    return schedule_class(options.name).from_config(options)
