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


def block_starts(records: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(epoch, block) where the layer-wise schedule moves to the next block."""
    starts, previous = [], None
    for r in records:
        block = r.get("block")
        if block is not None and previous is not None and block != previous:
            starts.append((int(r["epoch"]), int(block)))
        previous = block if block is not None else previous
    return starts


def accuracy_limits(values: list[float]) -> tuple[float, float]:
    """A y range (percent) that shows the differences between the curves: around the
    values with a margin, never below 0, and above 100 only by the margin so a line at
    100 % stays visible over the frame."""
    if not values:
        return 0.0, 100.0
    low, high = min(values), max(values)
    pad = max(1.0, 0.08 * (high - low))
    return max(0.0, low - pad), min(100.0 + pad / 2, high + pad)


def _curves(path: Path, records: list[dict[str, Any]]) -> Path:
    curves_figure(records).savefig(path, dpi=120)
    return path


def curves_figure(records: list[dict[str, Any]]) -> Figure:
    """Loss and goodness separation (left) and accuracies (right) per epoch, with the
    layer-wise schedule's block switches marked."""
    epochs = np.array([r["epoch"] for r in records])
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2, sharex=True)
    layerwise = any(r.get("block") is not None for r in records)
    ax_loss.plot(epochs, [r["loss"] for r in records],
                 label="loss (the block in training)" if layerwise else
                 "loss (mean over blocks)")
    ax_loss.plot(epochs, [r["separation"] for r in records], label="goodness separation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("local loss / goodness separation")
    ax_loss.grid(alpha=0.3)
    plotted: list[float] = []
    evaluated = [r for r in records if r.get("train_acc") is not None]
    for key, label, style, color in (
            ("cached_train_acc", "train, from the cache (no query)", "-", "tab:green"),
            ("subset_acc", "test subset", "-", "tab:purple")):
        points = [r for r in records if r.get(key) is not None]
        if points:
            ys = [100 * r[key] for r in points]
            ax_acc.plot([r["epoch"] for r in points], ys, style, lw=1.5, color=color,
                        label=label, zorder=3, clip_on=False)
            plotted += ys
    for key, label, color in (("train_acc", "train", "tab:blue"),
                              ("test_acc", "test", "tab:orange")):
        points = [r for r in evaluated if r.get(key) is not None]
        if not points:
            continue
        ys = [100 * r[key] for r in points]
        ax_acc.plot([r["epoch"] for r in points], ys, "o-" if len(points) > 1 else "o",
                    ms=5, color=color, label=f"{label} (full evaluation)", zorder=4,
                    clip_on=False)
        ax_acc.annotate(f"{ys[-1]:.1f} %", (points[-1]["epoch"], ys[-1]),
                        textcoords="offset points", xytext=(-6, 6 if key == "train_acc" else -12),
                        ha="right", fontsize=8, color=color)
        plotted += ys
    if len(evaluated) == 1:
        ax_acc.set_title("full evaluation only at the end (--eval-every N draws a curve)",
                         fontsize=9)
    low, high = accuracy_limits(plotted)
    ax_acc.set_ylim(low, high)
    ax_acc.set_yticks([t for t in ax_acc.get_yticks() if low <= t <= 100.0])
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.grid(alpha=0.3)
    for epoch, block in block_starts(records):
        for ax in (ax_loss, ax_acc):
            ax.axvline(epoch - 0.5, color="0.4", ls="--", lw=1)
        ax_loss.annotate(f"block {block + 1} starts", (epoch - 0.5, 1), xycoords=(
            "data", "axes fraction"), xytext=(3, -12), textcoords="offset points",
            fontsize=8, color="0.3")
    if len(epochs):
        ax_loss.set_xlim(min(epochs.min(), 1) - 0.5, epochs.max() + 0.5)
    for ax in (ax_loss, ax_acc):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8,
                      frameon=False)
    return fig


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
        ax.hist(v, bins=bins.tolist(), alpha=0.5, label=label)
    blocks = header.get("n_blocks")
    ax.set_xlabel(f"goodness summed over {plural(int(blocks), 'block') if blocks else 'blocks'} "
                  f"({header.get('goodness', '?')})")
    ax.set_ylabel("test samples")
    ax.legend()
    fig.savefig(path, dpi=120)
    return path
