"""`phyff sweep` tunes what `phyff train` runs, and its files say what ran.

A sweep whose default quietly ran another schedule than the trainer (and
whose best.json then named the trainer's) picked a winner for a run nobody
would make; these tests hold the default, the recorded configuration, the
names and the timing of the sweep's files to what actually happened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phyff.cli.main import build_parser, main
from phyff.cli.settings import build_config

pytest.importorskip("distributed")

BOARD = "emu://acoustic?seed=1"


def _sweep(tiny: str, out: Path, *extra: str) -> dict[str, Any]:
    code = main(["sweep", "--dataset", tiny, "--board", BOARD, "--preset", "acoustic",
                 "--set", "epochs=4", "--grid", "lr=1e-3,5e-3", "--workers", "1",
                 "--out", str(out), "--quiet", *extra])
    assert code == 0
    return dict(json.loads((out / "best.json").read_text())[tiny])


def _train_config(*flags: str) -> dict[str, Any]:
    """The configuration `phyff train` builds from these flags."""
    args = build_parser().parse_args(["train", "--dataset", "digits", *flags])
    return dict(build_config(args, "acoustic").to_dict())


def test_default_sweep_runs_and_records_what_phyff_train_runs(tiny: str,
                                                              tmp_path: Path) -> None:
    best = _sweep(tiny, tmp_path / "default")
    assert best["method"] == "train"
    lr = best["params"]["lr"]
    ran = best["train_config"]
    assert ran == _train_config("--preset", "acoustic", "--epochs", "4", "--lr", str(lr))
    assert (ran["schedule"], ran["model"]["inference"]) == ("layerwise", "onepass")
    lines = [json.loads(x) for x in (tmp_path / "default" / "results.jsonl").read_text()
             .splitlines()]
    assert {r["result"]["epochs"] for r in lines} == {4}  # not multiplied per block


def test_paper_method_records_the_paper_schedule(tiny: str, tmp_path: Path) -> None:
    best = _sweep(tiny, tmp_path / "paper", "--method", "phyll")
    ran = best["train_config"]
    assert (ran["schedule"], ran["model"]["inference"]) == ("simultaneous", "goodness")


def test_results_name_the_validation_accuracy_and_time_the_whole_run(
        tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    out = tmp_path / "timing"
    code = main(["sweep", "--dataset", tiny, "--board", BOARD, "--preset", "acoustic",
                 "--set", "epochs=2", "--grid", "lr=1e-3", "--seeds", "1", "--workers", "1",
                 "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "(1 seed," in printed and "1 configuration in" in printed, printed
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert records and all("val_acc" in r["result"] and "test_acc" not in r["result"]
                           for r in records)
    assert all("n_val" in r["result"]["extra"] for r in records)
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    job_seconds = sum(r["seconds"] for r in records)
    epochs_only = sum(r["result"]["wall_s"] for r in records)
    # the run's wall time, not only its training epochs: within the job's own
    # measurement (which adds only the thread-pool setup around it)
    assert float(rows[0]["wall_s"]) > epochs_only
    assert float(rows[0]["wall_s"]) >= 0.9 * job_seconds - 0.01


def test_sweep_plot_bars_start_at_zero_show_every_error_bar_and_say_ties() -> None:
    from phyff.compare.sweep import ConfigScore, sweep_figure, ties_with_best

    def config(i: int, accs: list[float]) -> ConfigScore:
        return ConfigScore("d", BOARD, i, {"lr": 0.001 * (i + 1), "inner_steps": 5}, accs,
                           [], 1.0, n_val=24)

    scores = [config(0, [0.9583, 1.0]), config(1, [1.0, 0.9583]), config(2, [0.9167, 0.9583])]
    assert [t.index for t in ties_with_best(scores)["d"]] == [1]
    fig = sweep_figure(scores, ["lr", "inner_steps"])
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert low == 0 and high > 100 * max(s.mean + s.std for s in scores)
    title = ax.get_title()
    assert "2 configurations tie for the best" in title and "best.json" in title
    assert "one validation sample = 4.2 points" in title


def test_ties_are_reported(tiny: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    # the same settings twice under two spellings of one value: a certain tie
    out = tmp_path / "tie"
    code = main(["sweep", "--dataset", tiny, "--board", BOARD, "--preset", "acoustic",
                 "--set", "epochs=2", "--grid", "lr=0.001,1e-3", "--seeds", "1",
                 "--workers", "1", "--out", str(out), "--quiet"])
    assert code == 0
    assert "tied with 1 other configuration" in capsys.readouterr().out
    best = json.loads((out / "best.json").read_text())[tiny]
    assert len(best["tied_with"]) == 1
