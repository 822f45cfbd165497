"""`phyff report`'s figures say what the run did: the model's own inference in the
confusion matrix, readable accuracy curves, the schedule's block switches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from phyff.phyll.model import load_model
from phyff.phyll.standin import StandInLayer, SyntheticData, synthetic_vowels
from phyff.training.goodnessfile import read_goodness_file
from phyff.training.plots import confusion_title, make_report
from phyff.training.session import TrainConfig, train


def hard_data() -> SyntheticData:
    """Overlapping clusters: one-pass and goodness inference disagree on some samples."""
    return synthetic_vowels(0, n_train=84, n_test=84, spread=0.9)


def layers() -> list[StandInLayer]:
    return [StandInLayer(20, 20, seed=k + 1) for k in range(2)]


def run(tmp_path: Path, **settings: Any) -> tuple[Any, dict[str, Any], dict[str, np.ndarray]]:
    config = TrainConfig.from_preset("acoustic", **{"epochs": 6, "lr": 5e-3, **settings})
    result = train(config, layers(), hard_data(), tmp_path, progress=False)
    header, arrays = read_goodness_file(tmp_path / "goodness.npz")
    return result, header, arrays


def test_confusion_uses_the_models_own_inference(tmp_path: Path) -> None:
    result, header, arrays = run(tmp_path / "onepass")  # the default: one-pass inference
    assert header["inference"] == "onepass"
    confusion = arrays["confusion"]
    assert np.trace(confusion) / confusion.sum() == result.test_acc
    model = load_model(tmp_path / "onepass" / "model.npz")
    assert (arrays["pred"] == model.predict(layers(), hard_data().x_test)).all()
    assert (arrays["pred"] != arrays["pred_goodness"]).any()  # the case that was wrong
    title = confusion_title(confusion, header["inference"])
    assert "one-pass inference" in title and f"{100 * result.test_acc:.1f} %" in title
    make_report(tmp_path / "onepass")

    result, header, arrays = run(tmp_path / "goodness", inference="goodness")
    assert header["inference"] == "goodness"
    assert (arrays["pred"] == arrays["pred_goodness"]).all()
    assert np.trace(arrays["confusion"]) / arrays["confusion"].sum() == result.test_acc
    assert "goodness-argmax" in confusion_title(arrays["confusion"], "goodness")


def test_curves_zoom_on_the_accuracies_and_mark_the_block_switch(tmp_path: Path) -> None:
    from phyff.training.plots import block_starts, curves_figure
    from phyff.training.runfiles import read_metrics

    result, _, _ = run(tmp_path / "run", epochs=8)  # layer-wise, evaluated at the end only
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert block_starts(records) == [(5, 1)]
    fig = curves_figure(records)
    ax_loss, ax_acc = fig.axes[:2]
    low, high = ax_acc.get_ylim()
    values = [100 * result.test_acc, 100 * result.train_acc] + [
        100 * r["cached_train_acc"] for r in records if r.get("cached_train_acc") is not None]
    assert low <= min(values) and high > max(values)  # nothing on or under the frame
    assert high - low < 60  # zoomed on the accuracies, not 0..100
    assert max(ax_acc.get_yticks()) <= 100
    for ax in (ax_loss, ax_acc):
        switches = [line.get_xdata()[0] for line in ax.get_lines()
                    if line.get_linestyle() == "--"]
        assert switches == [4.5]
    assert "only at the end" in ax_acc.get_title()
    fig.canvas.draw()
    for ax in (ax_loss, ax_acc):  # legends below the panels, off the data
        legend = ax.get_legend().get_window_extent()
        assert legend.y1 <= ax.get_window_extent().y0


def test_queries_plot_legend_is_off_the_data(tmp_path: Path,
                                             monkeypatch: Any) -> None:
    """docs/queries.png: one legend below the panels, none inside a panel."""
    from matplotlib.figure import Figure

    from phyff.compare.baselines.common import RunResult
    from phyff.compare.budget import plot_accuracy_vs_queries

    drawn: list[Figure] = []
    save = Figure.savefig

    def keep(self: Figure, *args: Any, **kwargs: Any) -> None:
        drawn.append(self)
        save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    results = [RunResult(m, "acoustic", "vowels7", seed, test_acc=0.9 + 0.01 * seed,
                         train_queries=q, extra={"task": task})
               for task in ("vowels7/acoustic", "digits/optical")
               for m, q in (("phyll-frugal", 2000), ("phyll", 168000), ("elm", 500))
               for seed in range(3)]
    assert plot_accuracy_vs_queries(results, tmp_path / "q.png") is not None
    fig = drawn[0]
    fig.canvas.draw()
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    box = legend.get_window_extent()
    assert all(box.y1 <= ax.get_tightbbox().y0 + 1 for ax in fig.axes)
    assert [t.get_text() for t in legend.get_texts()] == ["phyll-frugal", "phyll", "elm"]
