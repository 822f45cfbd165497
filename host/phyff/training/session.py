"""A training session: the epoch loop plus everything a run leaves on disk.

`train()` wraps `phyff.training.loop.EpochLoop` (which writes nothing) with
the run directory: config.json, one metrics.jsonl line and an atomic
checkpoint per epoch, a progress bar, and at the end model.npz and the
goodness file. All randomness comes from one seeded generator whose state is
checkpointed, so an interrupted and resumed run ends with exactly the weights
of an uninterrupted one (given a deterministic physical layer).

Each metrics line is the loop's epoch record (see `phyff.training.loop`)
plus total_macs / total_queries (cumulative, training + evaluation) and
total_train_queries / total_eval_queries (cumulative, apart).

The layer-wise schedule's caches are kept in cache.npz next to the
checkpoint (written before it, at every epoch that measured), so a resumed
run reuses them instead of measuring again.

`max_queries` is a budget of device queries: before an epoch whose training
would take the total past it, the run stops cleanly (the last epoch is
checkpointed, the model saved and evaluated; `TrainResult.stop_reason` says
why). The budget's state is the cumulative count in metrics.jsonl, so a
resumed run with a larger budget continues where it stopped. The final
evaluation after a stop is not charged to the budget (it is counted apart).
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from phyff._version import __version__
from phyff.phyll.model import Model, PhysicalLayer, save_model
from phyff.phyll.npzio import read_npz, write_npz_atomic
from phyff.phyll.transform import METADATA_KEY, InputTransform
from phyff.training.checkpoint import load_checkpoint, save_checkpoint
from phyff.training.config import PRESETS, TrainConfig
from phyff.training.goodnessfile import write_goodness_file
from phyff.training.identity import board_mismatches, layer_identity
from phyff.training.loop import (
    Dataset,
    EpochLoop,
    Hook,
    StopTraining,
    TrainingDiverged,
    check_data,
    new_model,
    non_finite_part,
    prepare,
)
from phyff.training.runfiles import (
    CACHE_FILE,
    CHECKPOINT_FILE,
    CONFIG_FILE,
    GOODNESS_FILE,
    METRICS_FILE,
    MODEL_FILE,
    append_metrics,
    check_run_path,
    defer_interrupt,
    existing_run_files,
    remove_run_files,
    remove_stale_temporaries,
    run_lock,
    truncate_metrics,
    write_text_atomic,
)

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "TrainingInterrupted", "train"]

# Fields that may change between a run and its resumption without changing the weights.
_RESUMABLE_CHANGES = frozenset({"epochs", "eval_every", "preset", "max_queries",
                                "eval_subset"})


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
    stop_reason: str | None = None  # why training ended before config.epochs (budget, hook)
    train_queries: int = 0  # device queries of training (all epochs, resumed ones included)
    eval_queries: int = 0  # device queries of evaluation (per-epoch and final)


def train(
    config: TrainConfig,
    layers: Sequence[PhysicalLayer],
    data: Dataset,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    hooks: Sequence[Hook] = (),
) -> TrainResult:
    """Train a PhyLL model on `data` through `layers` (one per block), writing to run_dir.

    The run directory is locked while training (a second writer gets RunInUse).
    Raises TrainingInterrupted on Ctrl-C (after the last completed epoch is safely
    on disk); ValueError if run_dir already holds run files and neither resume nor
    overwrite is set, or if resuming with other settings, data or board;
    FileNotFoundError if resume is set but run_dir holds no checkpoint. `hooks`
    run after the session's own per-epoch saving (see `phyff.training.loop`).
    """
    run = Path(run_dir)
    check_run_path(run)
    if resume and overwrite:
        raise ValueError("--resume continues a run and --overwrite deletes it: choose one")
    x_tr, y_tr, x_te, y_te, _ = check_data(data)
    fingerprint = _dataset_fingerprint(data, (x_tr, y_tr, x_te, y_te))
    with ExitStack() as held:
        if resume:
            if not (run / CHECKPOINT_FILE).is_file():
                raise FileNotFoundError(
                    f"nothing to resume: {run / CHECKPOINT_FILE} does not exist; start the run "
                    "without --resume"
                )
            held.enter_context(run_lock(run))
            model, rng, start = _resume(run, config, fingerprint, layers)
        else:
            _refuse_existing(run, overwrite)
            model, rng = new_model(config, layers, data)
            start = 0
        prepared = prepare(model, layers, data)  # the data are checked here first
        model.metadata = _metadata(config, layers, data, fingerprint)
        loop = EpochLoop(config, model, layers, prepared, rng)
        if resume:
            _restore_caches(run, loop, start)
        if config.max_queries is not None and start < config.epochs:
            need = loop.epoch_queries(start + 1)
            if need > config.max_queries:
                raise ValueError(
                    f"--max-queries {config.max_queries} is below what one epoch needs ({need} "
                    f"device queries for epoch {start + 1} with the {config.schedule} "
                    f"schedule); raise the budget to at least {need}")
        # Everything is validated: only now touch the run directory.
        if not resume:
            run.mkdir(parents=True, exist_ok=True)
            held.enter_context(run_lock(run))
            _refuse_existing(run, overwrite)  # again, now that no one else can write
            if overwrite:
                remove_run_files(run)
        remove_stale_temporaries(run)
        return _run_epochs(loop, config, run, start, resume, fingerprint, progress,
                           [*hooks] if on_epoch is None else
                           [*hooks, lambda epoch, model, record: on_epoch(record)])
    raise AssertionError("unreachable")  # pragma: no cover  (ExitStack does not swallow)


def _run_epochs(loop: EpochLoop, config: TrainConfig, run: Path, start: int, resume: bool,
                fingerprint: str, progress: bool, extra_hooks: list[Hook]) -> TrainResult:
    """The epochs of a validated, locked run: save each, then the model and goodness files."""
    model, rng = loop.model, loop.rng
    history = truncate_metrics(run / METRICS_FILE, start) if resume else []
    write_text_atomic(run / CONFIG_FILE, config.to_json() + "\n")
    done = [start]
    bar = tqdm(total=config.epochs, initial=start, disable=not progress, unit="epoch")

    def save_epoch(epoch: int, model: Model, record: dict[str, Any]) -> None:
        _add_totals(record, history[-1] if history else None)
        with defer_interrupt():
            append_metrics(run / METRICS_FILE, record)
            if record["queries"]:
                _save_caches(run, loop, epoch)
            save_checkpoint(run / CHECKPOINT_FILE, model, epoch=epoch, rng=rng,
                            train_config=config.to_dict(), extra={"fingerprint": fingerprint})
            history.append(record)
            done[0] = epoch
        bar.update(1)
        bar.set_postfix(_postfix(record), refresh=False)

    hooks: list[Hook] = [save_epoch, *extra_hooks]
    if config.max_queries is not None:
        hooks.append(budget_hook(loop, config.max_queries))
    if config.max_queries is not None and history and start < config.epochs:
        spent, need = int(history[-1]["total_queries"]), loop.epoch_queries(start + 1)
        if spent + need > config.max_queries:
            loop.stop_reason = _budget_message(config.max_queries, spent, start + 1, need)
    try:
        if loop.stop_reason is None:
            loop.run(start, hooks)
        bar.close()
        last = history[-1] if history else {}
        final_cost = model.meter.copy()
        train_acc, test_acc = _final_accuracies(loop, last)
        final_queries = model.meter.since(final_cost).queries
        train_queries = int(last.get("total_train_queries", 0))
        eval_queries = int(last.get("total_eval_queries", 0)) + final_queries
        model.metadata["queries"] = {"training": train_queries, "evaluation": eval_queries,
                                     "max_queries": config.max_queries,
                                     "stopped": loop.stop_reason}
        bad = non_finite_part(model)  # e.g. a read-out fitted on overflowing outputs
        if bad is not None:
            raise TrainingDiverged(done[0], bad)
        model_path = save_model(run / MODEL_FILE, model, model.metadata)
        write_goodness_file(run / GOODNESS_FILE, model, loop.layers, loop.data.x_test,
                            loop.data.y_test)
    except KeyboardInterrupt:
        raise TrainingInterrupted(done[0], run) from None
    finally:
        bar.close()
    return TrainResult(run, model, done[0], train_acc, test_acc, history, model_path,
                       loop.stop_reason, train_queries, eval_queries)


CACHE_FORMAT = "phyff-cache"


def _save_caches(run: Path, loop: EpochLoop, epoch: int) -> None:
    """The schedule's measurement caches, if it keeps any, as of `epoch`."""
    state = loop.schedule.state()
    if state is not None:
        write_npz_atomic(run / CACHE_FILE, state,
                         {"format": CACHE_FORMAT, "format_version": 1, "epoch": epoch,
                          "schedule": loop.config.schedule})


def _restore_caches(run: Path, loop: EpochLoop, start: int) -> None:
    """Give a resumed schedule back its caches when they belong to this checkpoint.

    Caches are written at every epoch that measured, before that epoch's
    checkpoint, so a cache file from epoch <= the checkpoint's is exactly the
    schedule's state at the checkpoint; a newer one (the run died in between)
    is ignored and the caches are measured again.
    """
    path = run / CACHE_FILE
    if not path.is_file():
        return
    header, arrays = read_npz(path, CACHE_FORMAT, 1)
    if header.get("schedule") == loop.config.schedule and int(header.get("epoch", -1)) <= start:
        loop.schedule.restore(arrays)


def _budget_message(budget: int, spent: int, epoch: int, need: int) -> str:
    return (f"query budget reached: {spent} of {budget} device queries spent, epoch {epoch} "
            f"would need {need} more; resume with a larger --max-queries to continue")


def budget_hook(loop: EpochLoop, budget: int) -> Hook:
    """A hook that stops training before an epoch would take the queries past `budget`.

    It reads the cumulative count the session adds to each record (so it must
    run after the session's own hook), which is what survives a resume.
    """
    def check(epoch: int, model: Model, record: dict[str, Any]) -> None:
        if epoch >= loop.config.epochs:
            return
        need = loop.epoch_queries(epoch + 1)
        if record["total_queries"] + need > budget:
            raise StopTraining(_budget_message(budget, record["total_queries"], epoch + 1,
                                               need))

    return check


def _final_accuracies(loop: EpochLoop, last: dict[str, Any]) -> tuple[float, float]:
    """Accuracies of the final model: from the last epoch's evaluation, else measured now.

    The last epoch is always evaluated, except when a run is resumed with epochs
    equal to a checkpoint that was not an evaluation epoch.
    """
    if last.get("train_acc") is not None:
        return float(last["train_acc"]), float(last["test_acc"])
    return loop.accuracies()


def _add_totals(record: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Cumulative MACs and queries (training + evaluation) up to this epoch."""
    prev = previous or {}
    record["total_macs"] = prev.get("total_macs", 0) + record["macs"] + record["eval_macs"]
    record["total_queries"] = (prev.get("total_queries", 0) + record["queries"]
                               + record["eval_queries"])
    record["total_train_queries"] = prev.get("total_train_queries", 0) + record["queries"]
    record["total_eval_queries"] = prev.get("total_eval_queries", 0) + record["eval_queries"]


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    out = {"loss": f"{record['loss']:.4f}"}
    if record["train_acc"] is not None:
        out["train"] = f"{100 * record['train_acc']:.1f}%"
        out["test"] = f"{100 * record['test_acc']:.1f}%"
    return out


def _refuse_existing(run: Path, overwrite: bool) -> None:
    """A fresh run must not overwrite what a previous run (or the user) left there."""
    found = existing_run_files(run) if run.is_dir() else []
    if found and not overwrite:
        raise ValueError(
            f"{run} already holds run files ({', '.join(found)}); continue that run with "
            "--resume, replace it with --overwrite, or choose a new --run"
        )


def _resume(
    run: Path, config: TrainConfig, fingerprint: str, layers: Sequence[PhysicalLayer]
) -> tuple[Model, np.random.Generator, int]:
    """Load the checkpoint of run_dir and check it belongs to this config, data and board."""
    ck = load_checkpoint(run / CHECKPOINT_FILE)
    if ck.epoch > config.epochs:
        raise ValueError(
            f"{run} is at epoch {ck.epoch}, beyond the requested epochs={config.epochs}; "
            "ask for at least as many epochs as already done"
        )
    saved = ck.train_config
    saved_flat = TrainConfig.from_dict(saved).flat()
    changed = sorted(
        key for key, value in config.flat().items()
        if key not in _RESUMABLE_CHANGES and saved_flat.get(key) != value
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
    trained = ck.model.metadata.get("layers") or []
    mismatch = board_mismatches(trained, [layer_identity(x) for x in layers])
    if mismatch:
        raise ValueError(
            f"cannot resume {run} on this board: it differs from the board the run was trained "
            f"on ({'; '.join(mismatch)}). Connect that board (same URL or unit) or start a new run."
        )
    return ck.model, ck.rng, ck.epoch


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


def input_transform(data: Dataset) -> InputTransform:
    """What turns raw rows into this data's features: the dataset's own record when it
    has one (``input_transform``, or phyff.datasets' ``input_scale``), else none (the
    caller's arrays are taken as the raw values)."""
    given = getattr(data, "input_transform", None)
    if isinstance(given, InputTransform):
        return given
    x_tr = np.asarray(data.x_train, dtype=np.float64)
    n_classes = int(data.n_classes)
    names = getattr(data, "class_names", None) or [str(c) for c in range(n_classes)]
    scale = getattr(data, "input_scale", None)
    return InputTransform.fit(1.0 if scale is None else scale, x_tr,
                              clip=bool(getattr(data, "input_clip", False)), class_names=names,
                              feature_names=getattr(data, "feature_names", None),
                              floor=float(getattr(data, "input_range", 0.0)))


def _metadata(
    config: TrainConfig, layers: Sequence[PhysicalLayer], data: Dataset, fingerprint: str
) -> dict[str, Any]:
    """What is saved next to the weights: device identities, data, versions, settings."""
    identities = [layer_identity(layer) for layer in layers]
    try:
        json.dumps(identities)
    except (TypeError, ValueError) as err:
        raise ValueError(f"a physical layer's identity is not JSON-able: {err}") from err
    return {
        "layers": identities,
        "dataset": {"name": getattr(data, "name", None), "fingerprint": fingerprint},
        METADATA_KEY: input_transform(data).to_dict(),
        "train_config": config.to_dict(),
        "versions": {
            "phyff": __version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
