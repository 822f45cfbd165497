"""The training loop: epochs, evaluation, metrics, checkpoints and resume.

The loop is deliberately dull: shuffle, draw fresh negatives, train each batch
(one device query per row per block), evaluate, write one metrics line, write
a checkpoint. All randomness comes from one seeded generator whose state is
checkpointed, so an interrupted and resumed run ends with exactly the weights
of an uninterrupted one (given a deterministic physical layer).

Each line of metrics.jsonl describes one completed epoch:
  epoch, loss (mean over blocks of each block's local loss, averaged over inner
  steps and batches), loss_blocks, separation (mean G+ - G-, likewise),
  separation_blocks, train_acc / test_acc (None when not evaluated),
  macs / queries / measure_calls (training), digital_s / physical_s (training
  time outside / inside measure()), eval_s, eval_physical_s, eval_macs,
  eval_queries, wall_s (training + evaluation), total_macs / total_queries
  (cumulative, training + evaluation).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

import phyff
from phyff.phyll.layout import wrong_labels
from phyff.phyll.model import Model, PhysicalLayer, save_model
from phyff.training.checkpoint import load_checkpoint, save_checkpoint
from phyff.training.config import PRESETS, TrainConfig
from phyff.training.goodnessfile import write_goodness_file
from phyff.training.runfiles import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    GOODNESS_FILE,
    METRICS_FILE,
    MODEL_FILE,
    append_metrics,
    defer_interrupt,
    truncate_metrics,
    write_text_atomic,
)

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "TrainingInterrupted", "train"]

# Fields that may change between a run and its resumption without changing the weights.
_RESUMABLE_CHANGES = frozenset({"epochs", "eval_every", "preset"})


class Dataset(Protocol):
    """What train() reads from a dataset object."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the run directory holds the last completed epoch."""

    def __init__(self, epoch: int, run_dir: Path) -> None:
        super().__init__(f"stopped at epoch {epoch}; resume with --resume")
        self.epoch = epoch
        self.run_dir = run_dir


@dataclass
class TrainResult:
    """Outcome of train(): the model, final accuracies, per-epoch history, totals."""

    run_dir: Path
    model: Model
    epochs: int
    train_acc: float
    test_acc: float
    history: list[dict[str, Any]] = field(default_factory=list)
    model_path: Path | None = None


def train(
    config: TrainConfig,
    layers: Sequence[PhysicalLayer],
    data: Dataset,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a PhyLL model on `data` through `layers` (one per block), writing to run_dir.

    Raises TrainingInterrupted on Ctrl-C (after the last completed epoch is safely
    on disk), ValueError if run_dir already holds a run and resume is False, and
    FileNotFoundError if resume is True but run_dir holds no checkpoint.
    """
    run = Path(run_dir)
    x_tr, y_tr, x_te, y_te, n_classes = _check_data(data)
    fingerprint = _dataset_fingerprint(data, (x_tr, y_tr, x_te, y_te))
    if resume:
        model, rng, start = _resume(run, config, fingerprint)
    else:
        _refuse_existing(run)
        model = Model.build(config.model_config(n_classes, x_tr.shape[1]), layers)
        rng = np.random.default_rng([config.seed, 1])
        start = 0
    model.check_layers(layers)
    model.metadata = _metadata(config, layers, data, fingerprint)
    xl = model.prepare(x_tr)
    y_tr = model.check_labels(y_tr, len(x_tr))
    y_te = model.check_labels(y_te, len(x_te))
    model.prepare(x_te)
    # Everything is validated: only now touch the run directory.
    run.mkdir(parents=True, exist_ok=True)
    history = truncate_metrics(run / METRICS_FILE, start) if resume else []
    write_text_atomic(run / CONFIG_FILE, config.to_json() + "\n")
    done = start
    bar = tqdm(total=config.epochs, initial=start, disable=not progress, unit="epoch")
    try:
        for epoch in range(start + 1, config.epochs + 1):
            record = _epoch(model, config, layers, xl, y_tr, (x_tr, x_te, y_te), rng, epoch)
            _add_totals(record, history[-1] if history else None)
            with defer_interrupt():
                append_metrics(run / METRICS_FILE, record)
                save_checkpoint(run / CHECKPOINT_FILE, model, epoch=epoch, rng=rng,
                                train_config=config.to_dict(), extra={"fingerprint": fingerprint})
                history.append(record)
                done = epoch
            bar.update(1)
            bar.set_postfix(_postfix(record), refresh=False)
            if on_epoch is not None:
                on_epoch(record)
        bar.close()
        train_acc, test_acc = _final_accuracies(model, layers, history[-1], x_tr, y_tr, x_te, y_te)
        model_path = save_model(run / MODEL_FILE, model, model.metadata)
        write_goodness_file(run / GOODNESS_FILE, model, layers, x_te, y_te)
    except KeyboardInterrupt:
        raise TrainingInterrupted(done, run) from None
    finally:
        bar.close()
    return TrainResult(run, model, done, train_acc, test_acc, history, model_path)


def _final_accuracies(
    model: Model,
    layers: Sequence[PhysicalLayer],
    last: dict[str, Any],
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_te: np.ndarray,
    y_te: np.ndarray,
) -> tuple[float, float]:
    """Accuracies of the final model: from the last epoch's evaluation, else measured now.

    The last epoch is always evaluated, except when a run is resumed with epochs
    equal to a checkpoint that was not an evaluation epoch.
    """
    if last.get("train_acc") is not None:
        return float(last["train_acc"]), float(last["test_acc"])
    if model.config.unsupervised:
        pred = model.fit_readout(layers, x_tr, y_tr)
    else:
        pred = model.predict(layers, x_tr)
    return float(np.mean(pred == y_tr)), float(np.mean(model.predict(layers, x_te) == y_te))


def _epoch(
    model: Model,
    config: TrainConfig,
    layers: Sequence[PhysicalLayer],
    xl: np.ndarray,
    y_tr: np.ndarray,
    evaluation: tuple[np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
    epoch: int,
) -> dict[str, Any]:
    """One epoch of training (and evaluation when due); returns its metrics record."""
    start = time.perf_counter()
    before = model.meter.copy()
    n, k = len(xl), model.n_blocks
    order = rng.permutation(n)
    unsupervised = model.config.unsupervised
    negatives = None if unsupervised else wrong_labels(y_tr, model.config.n_classes, rng)
    loss, sep = np.zeros(k), np.zeros(k)
    for idx in _batches(order, config.batch_size, min_size=2 if unsupervised else 1):
        if negatives is None:
            stats = model.train_batch_unsupervised(layers, xl[idx], rng)
        else:
            stats = model.train_batch(layers, xl[idx], y_tr[idx], negatives[idx])
        loss += stats.loss * len(idx) / n
        sep += stats.separation * len(idx) / n
    train_s = time.perf_counter() - start
    cost = model.meter.since(before)
    record: dict[str, Any] = {
        "epoch": epoch,
        "loss": float(loss.mean()),
        "loss_blocks": loss.tolist(),
        "separation": float(sep.mean()),
        "separation_blocks": sep.tolist(),
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
    if epoch % config.eval_every == 0 or epoch == config.epochs:
        x_tr, x_te, y_te = evaluation
        if unsupervised:
            pred_tr = model.fit_readout(layers, x_tr, y_tr)
        else:
            pred_tr = model.predict(layers, x_tr)
        record["train_acc"] = float(np.mean(pred_tr == y_tr))
        record["test_acc"] = float(np.mean(model.predict(layers, x_te) == y_te))
    spent = model.meter.since(eval_cost)
    record.update(
        eval_s=time.perf_counter() - eval_start,
        eval_physical_s=spent.physical_s,
        eval_macs=spent.macs,
        eval_queries=spent.queries,
        wall_s=time.perf_counter() - start,
    )
    return record


def _batches(order: np.ndarray, batch_size: int | None, min_size: int) -> list[np.ndarray]:
    """Split a permutation into batches; a too-small tail joins the previous batch."""
    size = len(order) if batch_size is None else batch_size
    cuts = [*range(0, len(order), size), len(order)]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < min_size:
        del cuts[-2]
    return [order[a:b] for a, b in itertools.pairwise(cuts)]


def _add_totals(record: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Cumulative MACs and queries (training + evaluation) up to this epoch."""
    prev_macs = previous["total_macs"] if previous else 0
    prev_queries = previous["total_queries"] if previous else 0
    record["total_macs"] = prev_macs + record["macs"] + record["eval_macs"]
    record["total_queries"] = prev_queries + record["queries"] + record["eval_queries"]


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    out = {"loss": f"{record['loss']:.4f}"}
    if record["train_acc"] is not None:
        out["train"] = f"{100 * record['train_acc']:.1f}%"
        out["test"] = f"{100 * record['test_acc']:.1f}%"
    return out


def _refuse_existing(run: Path) -> None:
    """A fresh run must not overwrite an existing one."""
    if (run / CHECKPOINT_FILE).exists() or (run / METRICS_FILE).exists():
        raise ValueError(
            f"{run} already holds a training run; resume it (resume=True / --resume) or "
            "choose a new run directory"
        )


def _resume(
    run: Path, config: TrainConfig, fingerprint: str
) -> tuple[Model, np.random.Generator, int]:
    """Load the checkpoint of run_dir and check it belongs to this config and data."""
    path = run / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"nothing to resume: {path} does not exist; start the run without resume"
        )
    ck = load_checkpoint(path)
    if ck.epoch > config.epochs:
        raise ValueError(
            f"{run} is at epoch {ck.epoch}, beyond the requested epochs={config.epochs}; "
            "ask for at least as many epochs as already done"
        )
    saved = ck.train_config
    changed = sorted(
        key for key, value in config.to_dict().items()
        if key not in _RESUMABLE_CHANGES and saved.get(key) != value
    )
    if changed:
        raise ValueError(
            f"cannot resume {run} with a different configuration (changed: {changed}); "
            "only epochs and eval_every may change. Use the original settings or a new run."
        )
    if ck.extra.get("fingerprint") not in (None, fingerprint):
        raise ValueError(
            f"cannot resume {run}: the data differ from the data it was trained on "
            "(fingerprint mismatch). Load the same dataset or start a new run."
        )
    return ck.model, ck.rng, ck.epoch


def _check_data(data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
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


def _dataset_fingerprint(data: Dataset, arrays: tuple[np.ndarray, ...]) -> str:
    """The dataset's own fingerprint (attribute or method) or a hash of its arrays.

    Used to refuse resuming on different data, and saved with the model.
    """
    own = getattr(data, "fingerprint", None)
    if callable(own):
        own = own()
    if own:
        return str(own)
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str((a.shape, a.dtype.str)).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def _metadata(
    config: TrainConfig, layers: Sequence[PhysicalLayer], data: Dataset, fingerprint: str
) -> dict[str, Any]:
    """What is saved next to the weights: device identities, data, versions, settings."""
    identities = [dict(getattr(layer, "identity", {}) or {}) for layer in layers]
    try:
        json.dumps(identities)
    except (TypeError, ValueError) as err:
        raise ValueError(f"a physical layer's identity is not JSON-able: {err}") from err
    return {
        "layers": identities,
        "dataset": {"name": getattr(data, "name", None), "fingerprint": fingerprint},
        "train_config": config.to_dict(),
        "versions": {
            "phyff": phyff.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
