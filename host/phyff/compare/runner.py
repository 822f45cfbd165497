"""`phyff bench`: is PhyLL worth it on this medium? Measured, not quoted.

Runs a matrix of methods x tasks (a task is a board and a dataset) x seeds
on the same board URL, data and seeds, and reports for each method test
accuracy (mean +- std over seeds), device queries (training, and for PAT the
twin's recorded data), digital multiply-adds counted by the code that performs
them (`phyff.phyll.accounting`), wall time split into board time and digital time,
and an energy estimate from per-operation costs (`EnergyModel`).

Module layout: this file runs the matrix; `summary` aggregates it; `tasks`
defines the tasks and their settings, `adapt` the perturbation
scenario, `rawio` the raw results file, `report` the Markdown, CSV and the generated
docs/benchmarks.md with its targets.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from phyff.compare.baselines.common import RunResult
from phyff.compare.baselines.methods import METHODS, TASK_ONLY, Task, run_method
from phyff.compare.summary import (
    BenchOptions,
    BenchOutcome,
    Progress,
    summarise,
)
from phyff.compare.tasks import resolve_tasks


def run_matrix(tasks: Sequence[Task], methods: Sequence[str], seeds: Iterable[int],
               load: Callable[[str], Any], progress: Progress | None = None) -> list[RunResult]:
    """Every method on every task for every seed; `load(name)` returns a dataset."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    seeds = list(seeds)
    results: list[RunResult] = []
    for task in tasks:
        data = load(task.dataset)
        for method in methods:
            for seed in seeds:
                result = run_method(method, task, data, seed)
                result.extra["task"] = task.name
                result.extra["n_test"] = len(data.y_test)
                results.append(result)
                if progress is not None:
                    progress(f"{task.name:24s} {method:13s} seed {seed}: test "
                             f"{100 * result.test_acc:5.1f} %, {result.queries:>9,} queries, "
                             f"{result.train_macs:.3g} MACs, {result.wall_s:.1f} s")
    return results










# ------------------------------------------------------------------ the trainer's speed
def trainer_speed(data: Any, url: str = "emu://acoustic?seed=1", epochs: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """The trainer issue's speed split: vowels7, paper preset, evaluation every epoch.

    Runs `phyff.training.session.train` exactly as `phyff train` does (in-process emulated
    board, checkpoints and metrics written every epoch) and reports the median
    per-epoch digital and board time of training and the evaluation time from
    its metrics.jsonl records, plus the wall time of the whole call.
    """
    import tempfile
    import time

    from phyff.board.client import Board
    from phyff.board.layer import BoardLayer
    from phyff.training.session import TrainConfig, train

    config = TrainConfig.from_preset("acoustic", epochs=epochs, eval_every=1, seed=seed,
                                     schedule="simultaneous", inference="goodness")
    with Board.open(url) as board, tempfile.TemporaryDirectory(prefix="phyff-speed-") as run:
        layers = [BoardLayer(board)] * config.n_blocks
        t0 = time.perf_counter()
        result = train(config, layers, data, run, progress=False)
        wall = time.perf_counter() - t0
    hist = result.history
    return {
        "digital_ms": 1e3 * statistics.median(r["digital_s"] for r in hist),
        "board_ms": 1e3 * statistics.median(r["physical_s"] for r in hist),
        "eval_ms": 1e3 * statistics.median(r["eval_s"] for r in hist),
        "epoch_ms": 1e3 * statistics.median(r["wall_s"] for r in hist),
        "wall_s": wall,
        "epochs": float(len(hist)),
        "test_acc": result.test_acc,
    }


# ------------------------------------------------------------------ the whole benchmark




def run_bench(options: BenchOptions, progress: Progress | None = None) -> BenchOutcome:
    """Run the matrix, the adaptability scenarios and the trainer's speed run."""
    import time

    from phyff.compare.adapt import AdaptSettings, run_drift, run_step
    from phyff.compare.report import machine
    from phyff.compare.tasks import HARD_TASKS
    from phyff.datasets import load_dataset

    t0 = time.perf_counter()
    started = machine()
    tasks = resolve_tasks(options)
    datasets: dict[str, Any] = {}

    def load(name: str) -> Any:
        if name not in datasets:
            datasets[name] = load_dataset(name, data_dir=options.data_dir, seed=0)
        return datasets[name]

    results: list[RunResult] = []
    for task in tasks:
        n = options.hard_seeds if task.name in HARD_TASKS and options.hard_seeds else options.seeds
        methods = [m for m in options.methods
                   if (m in task.only if task.only is not None else m not in TASK_ONLY)]
        results += run_matrix([task], methods, range(n), load, progress)
    summaries = summarise(results, options.energy)
    scenarios: list[Any] = []
    adapt_task = next((t for t in tasks if t.name == "vowels7/acoustic"), None)
    adapt_task = adapt_task or (tasks[0] if tasks else None)
    if options.adapt and adapt_task is not None:
        quick = options.preset == "quick"
        epochs = options.adapt_epochs or (10 if quick else 200)
        seeds = range(options.adapt_seeds)
        data = load(adapt_task.dataset)
        for strength in options.adapt_strengths:
            settings = AdaptSettings(epochs=epochs, change=epochs // 2, strength=strength,
                                     drift=options.adapt_drift)
            scenarios.append(run_step(adapt_task, data, seeds, settings, progress))
        if not quick and options.adapt_drift > 0:
            settings = AdaptSettings(epochs=epochs, change=epochs // 2, drift=options.adapt_drift)
            scenarios.append(run_drift(adapt_task, data, seeds, settings, progress))
    speed: dict[str, float] = {}
    if options.speed and any(t.dataset == "vowels7" for t in tasks):
        epochs = 200 if options.preset == "full" else 10
        speed = trainer_speed(load("vowels7"), epochs=epochs)
        if progress is not None:
            progress(f"trainer speed: {speed['digital_ms']:.1f} ms digital, "
                     f"{speed['board_ms']:.1f} ms board per epoch; {epochs} epochs with "
                     f"evaluation in {speed['wall_s']:.1f} s")
    return BenchOutcome(options, tasks, datasets, results, summaries, scenarios, speed,
                        time.perf_counter() - t0, started)
