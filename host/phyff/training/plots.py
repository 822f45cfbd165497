"""PNG plots of a finished (or running) training run.

Three figures answer the usual questions about a run: is it still learning
(loss, goodness separation and accuracies per epoch), which classes does it
confuse (test confusion matrix), and how clearly does goodness tell right from
wrong (distributions of the summed goodness of positives and negatives on the
test set). Figures are drawn with matplotlib's object API on the Agg canvas,
so no display and no global backend switch are needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from phyff._text import plural
from phyff.training.goodnessfile import read_goodness_file
from phyff.training.runfiles import GOODNESS_FILE, METRICS_FILE, read_metrics

CURVES_PNG = "curves.png"
CONFUSION_PNG = "confusion.png"
GOODNESS_PNG = "goodness.png"


def make_report(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the PNGs of a run directory next to its files; returns their paths.

    The learning curves need only metrics.jsonl, so a running or interrupted
    run can be plotted; the confusion and goodness figures appear once the
    run has finished and written goodness.npz.
    """
    run = Path(run_dir)
    records = read_metrics(run / METRICS_FILE)
    if not records:
        raise ValueError(
            f"{run} is not a phyff run directory (no {METRICS_FILE} with a completed epoch); "
            "pass the directory given to training, after at least one epoch"
        )
    paths = [_curves(run / CURVES_PNG, records)]
    if (run / GOODNESS_FILE).is_file():
        header, arrays = read_goodness_file(run / GOODNESS_FILE)
        # files written before the header named it predicted by goodness argmax
        inference = str(header.get("inference", "goodness"))
        paths.append(_confusion(run / CONFUSION_PNG, arrays["confusion"], inference))
        paths.append(_goodness(run / GOODNESS_PNG, header, arrays))
    return paths


def _curves(path: Path, records: list[dict[str, Any]]) -> Path:
    epochs = np.array([r["epoch"] for r in records])
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["loss"] for r in records], label="loss (mean over blocks)")
    ax_loss.plot(epochs, [r["separation"] for r in records], label="goodness separation")
    ax_loss.set_xlabel("epoch")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    evaluated = [r for r in records if r.get("train_acc") is not None]
    if evaluated:
        ep = [r["epoch"] for r in evaluated]
        ax_acc.plot(ep, [100 * r["train_acc"] for r in evaluated], "o-", ms=4, label="train")
        ax_acc.plot(ep, [100 * r["test_acc"] for r in evaluated], "o-", ms=4, label="test")
    for key, label in (("cached_train_acc", "train (from the cache, no query)"),
                       ("subset_acc", "test subset")):
        points = [r for r in records if r.get(key) is not None]
        if points:
            ax_acc.plot([r["epoch"] for r in points], [100 * r[key] for r in points], lw=1,
                        alpha=0.8, label=label)
    if evaluated or any(r.get("cached_train_acc") is not None for r in records):
        ax_acc.legend()
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    return path


# Above this many classes the confusion matrix is drawn as an image only: per-cell
# numbers and ticks would cost time and memory growing with the square of the classes
# and could not be read anyway.
ANNOTATE_MAX_CLASSES = 30
FIGURE_MAX_INCHES = 12.0


INFERENCE_NAMES = {"onepass": "one-pass inference", "goodness": "goodness-argmax inference"}


def confusion_title(confusion: np.ndarray, inference: str) -> str:
    """The confusion figure's title: accuracy and the inference that predicted."""
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    how = INFERENCE_NAMES.get(inference, f"{inference} inference")
    return f"test confusion, {how} (accuracy {100 * accuracy:.1f} %)"


def _confusion(path: Path, confusion: np.ndarray, inference: str) -> Path:
    c = confusion.shape[0]
    side = min(FIGURE_MAX_INCHES, 1.2 + 0.6 * c)
    fig = Figure(figsize=(side, side - 0.2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(confusion, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8)
    if c <= ANNOTATE_MAX_CLASSES:
        high = confusion.max() / 2 if confusion.size else 0
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center",
                        color="white" if confusion[i, j] > high else "black", fontsize=8)
        ax.set_xticks(range(c))
        ax.set_yticks(range(c))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(confusion_title(confusion, inference), fontsize=10)
    fig.savefig(path, dpi=120)
    return path


def _goodness(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    unsupervised = header.get("kind") == "unsupervised"
    series = [("real sample" if unsupervised else "true label", arrays["pos"]),
              ("hybrid negative" if unsupervised else "random wrong label", arrays["neg"])]
    if "neg_best" in arrays:
        series.append(("best wrong label", arrays["neg_best"]))
    values = np.concatenate([v for _, v in series])
    bins = np.linspace(values.min(), values.max() + 1e-12, 30)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for label, v in series:
        ax.hist(v, bins=bins, alpha=0.5, label=label)
    blocks = header.get("n_blocks")
    ax.set_xlabel(f"goodness summed over {plural(int(blocks), 'block') if blocks else 'blocks'} "
                  f"({header.get('goodness', '?')})")
    ax.set_ylabel("test samples")
    ax.legend()
    fig.savefig(path, dpi=120)
    return path
