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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from phyff._text import plural
from phyff.compare.baselines.common import RunResult
from phyff.compare.baselines.methods import METHODS, TASK_ONLY, Task
from phyff.compare.distributed import Execution, Failure, Job, run_jobs
from phyff.compare.fieldadapt import FIELD_TASK, METHOD, FieldSettings, from_results
from phyff.compare.rawio import ResultStore, run_from_dict
from phyff.compare.summary import (
    BenchOptions,
    BenchOutcome,
    Progress,
    summarise,
)
from phyff.compare.tasks import resolve_tasks


def matrix_jobs(tasks: Sequence[Task], methods: Sequence[str], seeds: Iterable[int],
                data_dir: str | None = None,
                sizes: dict[str, int] | None = None) -> list[Job]:
    """Every method on every task for every seed, as independent jobs (in report order).

    `sizes` (dataset -> training samples) only weights the jobs' expected cost
    so the longest start first; it never changes a result.
    """
    from phyff.compare.rawio import task_to_dict

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    seeds = list(seeds)
    jobs = []
    for task in tasks:
        settings = task_to_dict(task)
        n = (sizes or {}).get(task.dataset, 1000)
        for method in methods:
            for seed in seeds:
                jobs.append(Job("run", method, settings, task.dataset, seed, data_dir,
                                cost=_cost(task, method, n)))
    return jobs


def _cost(task: Task, method: str, n_train: int) -> float:
    """Rough relative run time (sample-epochs, PAT's twin fit counted): a priority only."""
    if method in ("elm", "logreg", "digital-elm", "ridge-lsq"):
        return n_train / 100
    if method == "mlp":
        return n_train / 10
    if method in ("pat", "backprop"):
        twin = task.twin.n_pairs * task.twin.epochs / 10 if method == "pat" else 0
        return (task.backprop.epochs * n_train + twin) / 10
    steps = task.phyll.model.inner_steps / (2 if method.endswith("-nophys") else 1)
    return task.phyll.epochs * n_train * steps / 100


def run_matrix(tasks: Sequence[Task], methods: Sequence[str], seeds: Iterable[int],
               load: Callable[[str], Any] | None = None, progress: Progress | None = None,
               execution: Execution | None = None, data_dir: str | None = None,
               store: ResultStore | None = None) -> list[RunResult]:
    """Every method on every task for every seed, in that order, whatever ran them.

    `load` is kept for callers of the serial API: the jobs load their dataset
    where they run (by name and `data_dir`). Raises `IncompleteRun` after
    every job has finished if some failed (the completed ones are in `store`).
    """
    del load
    jobs = matrix_jobs(tasks, methods, seeds, data_dir)
    done = run_jobs_stored(jobs, execution or Execution(workers=1), store, progress)
    return [run_from_dict(done[job.key]) for job in jobs]


class IncompleteRun(RuntimeError):
    """Some jobs failed; the others completed and were kept. Rerun with --resume."""

    def __init__(self, failures: Sequence[Failure], directory: Path | None) -> None:
        self.failures = list(failures)
        lines = "\n".join(f"  {f.label}: {f.error}" for f in self.failures[:20])
        more = f"\n  ... and {len(self.failures) - 20} more" if len(self.failures) > 20 else ""
        where = (f"; completed runs are kept in {directory}: fix the cause and rerun with "
                 f"--resume --out {directory}") if directory is not None else ""
        super().__init__(f"{len(self.failures)} run(s) failed{where}:\n{lines}{more}")


def run_jobs_stored(jobs: Sequence[Job], execution: Execution, store: ResultStore | None,
                    progress: Progress | None = None, *, bar: bool = False,
                    desc: str = "runs") -> dict[str, dict[str, Any]]:
    """Run the jobs `store` has not completed; every result by key (JSON round-tripped,
    so a result read back from disk and one just computed are the same values)."""
    import json

    from phyff.compare.rawio import _json_default

    done: dict[str, dict[str, Any]] = dict(store.done) if store is not None else {}
    unique = {j.key: j for j in jobs}  # the same configuration twice runs once
    todo = [j for k, j in unique.items() if k not in done]
    if progress is not None and len(todo) < len(jobs):
        progress(f"resuming: {len(jobs) - len(todo)} of {plural(len(jobs), 'run')} already "
                 f"done, {len(todo)} to run {execution.describe()}")
    elif progress is not None and todo:
        progress(f"{plural(len(todo), 'run')} {execution.describe()}")

    def on_result(job: Job, result: dict[str, Any], seconds: float) -> None:
        result = json.loads(json.dumps(result, default=_json_default))
        done[job.key] = result
        if store is not None:
            store.add(job.key, job.label, result, seconds)
        if progress is not None and not bar and job.kind == "run":
            r = result
            split, acc = ("validation", r["val_acc"]) if "val_acc" in r else ("test",
                                                                              r["test_acc"])
            progress(f"{job.label:44s}: {split} {100 * acc:5.1f} %, "
                     f"{r['train_queries'] + r['twin_queries']:>9,} queries, "
                     f"{r['train_macs']:.3g} MACs, {r['wall_s']:.1f} s")

    def on_failure(job: Job, failure: Failure) -> None:
        if store is not None:
            store.add_failure(job.key, job.label, failure.error)
        if progress is not None:
            progress(f"FAILED {job.label}: {failure.error}")

    failures = run_jobs(todo, execution, on_result, on_failure, bar=bar, desc=desc)
    if failures:
        raise IncompleteRun(failures, store.directory if store is not None else None)
    return done


# ------------------------------------------------------------------ the trainer's speed
def trainer_speed(data: Any, url: str = "emu://acoustic?seed=1", epochs: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """The trainer's speed split: vowels7, paper preset, evaluation every epoch.

    Runs `phyff.training.session.train` exactly as `phyff train` does (in-process emulated
    board, checkpoints and metrics written every epoch) and reports the median
    per-epoch digital and board time of training and the evaluation time from
    its metrics.jsonl records, plus the wall time of the whole call.
    """
    import tempfile
    import time

    from phyff.board.client import Board
    from phyff.board.layer import board_layers
    from phyff.training.session import TrainConfig, train

    config = TrainConfig.from_preset("acoustic", epochs=epochs, eval_every=1, seed=seed,
                                     schedule="simultaneous", inference="goodness")
    with Board.open(url) as board, tempfile.TemporaryDirectory(prefix="phyff-speed-") as run:
        layers = board_layers(board, config.n_blocks)
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


def check_data(options: BenchOptions) -> None:
    """Refuse before anything runs or is written: unknown tasks, and datasets that do not
    load (saying which tasks could run without them)."""
    from phyff.datasets import DatasetError, load_dataset

    tasks = resolve_tasks(options)
    for name in dict.fromkeys(t.dataset for t in tasks):
        try:
            load_dataset(name, data_dir=options.data_dir, seed=0)
        except DatasetError as exc:
            others = [t.name for t in tasks if t.dataset != name]
            hint = (f" Or leave out the tasks that need it: --tasks {','.join(others)}"
                    if others else "")
            raise DatasetError(f"{exc}{hint}") from exc



def run_bench(options: BenchOptions, progress: Progress | None = None,
              execution: Execution | None = None, store: ResultStore | None = None,
              bar: bool = False) -> BenchOutcome:
    """Run the matrix and the adaptability scenarios as jobs, then the trainer's speed run.

    Every matrix cell and every seed of every scenario is one job (see
    `phyff.compare.distributed`), run serially or on Dask by `execution`;
    results are assembled in the report's order, so the outcome does not
    depend on which worker ran what. The speed run is a timing: it runs alone,
    in this process, after the cluster is gone.
    """
    import time

    from phyff.compare.adapt import AdaptSettings, Scenario
    from phyff.compare.rawio import task_to_dict
    from phyff.compare.report import machine
    from phyff.compare.tasks import HARD_TASKS
    from phyff.datasets import load_dataset

    t0 = time.perf_counter()
    execution = execution or Execution(workers=1)
    started = machine()
    if execution.scheduler:
        started = {**started, "executor": "Dask cluster (--scheduler)"}
    elif not execution.serial:
        started = {**started, "executor": f"Dask LocalCluster, {execution.n_workers} workers"}
    tasks = resolve_tasks(options)
    datasets: dict[str, Any] = {}

    def load(name: str) -> Any:
        if name not in datasets:
            datasets[name] = load_dataset(name, data_dir=options.data_dir, seed=0)
        return datasets[name]

    jobs: list[Job] = []
    for task in tasks:
        n = options.hard_seeds if task.name in HARD_TASKS and options.hard_seeds else options.seeds
        n = task.seeds or n
        methods = [m for m in options.methods
                   if (m in task.only if task.only is not None else m not in TASK_ONLY)]
        size = {task.dataset: len(load(task.dataset).y_train)}
        jobs += matrix_jobs([task], methods, range(n), options.data_dir, size)
    scenario_jobs: list[tuple[str, AdaptSettings, list[Job]]] = []
    adapt_task = next((t for t in tasks if t.name == "vowels7/acoustic"), None)
    adapt_task = adapt_task or (tasks[0] if tasks else None)
    if options.adapt and adapt_task is not None:
        quick = options.preset == "quick"
        epochs = options.adapt_epochs or (10 if quick else 200)
        kinds = [("step", AdaptSettings(epochs=epochs, change=epochs // 2, strength=strength,
                                        drift=options.adapt_drift))
                 for strength in options.adapt_strengths]
        if not quick and options.adapt_drift > 0:
            kinds.append(("drift", AdaptSettings(epochs=epochs, change=epochs // 2,
                                                 drift=options.adapt_drift)))
        n_train = len(load(adapt_task.dataset).y_train)
        for kind, settings in kinds:
            cost = 2 * epochs * n_train * adapt_task.phyll.model.inner_steps / 100
            sj = [Job(kind, "", task_to_dict(adapt_task), adapt_task.dataset, seed,
                      options.data_dir, settings=asdict(settings), cost=cost)
                  for seed in range(options.adapt_seeds)]
            scenario_jobs.append((kind, settings, sj))
            jobs += sj
    field_jobs = field_scenario_jobs(options, adapt_task, load) if adapt_task else []
    for _, fj in field_jobs:
        jobs += fj
    keys = {j.key for j in jobs}
    reused = len(keys & set(store.done)) if store is not None else 0
    if reused:  # the report's run time is this invocation's alone: say so
        started = {**started, "resumed": f"{reused} of {len(keys)} runs"}
    done = run_jobs_stored(jobs, execution, store, progress, bar=bar, desc="bench")
    results = [run_from_dict(done[j.key]) for j in jobs if j.kind == "run"]
    summaries = summarise(results, options.energy)
    scenarios: list[Any] = []
    for kind, settings, sj in scenario_jobs:
        scenario = Scenario(kind, settings)
        for job in sj:  # seed order, as the serial scenario appends them
            for method, runs in done[job.key]["runs"].items():
                scenario.runs.setdefault(method, []).extend(run_from_dict(r) for r in runs)
        scenarios.append(scenario)
    field = [from_results(settings, [done[j.key] for j in fj]) for settings, fj in field_jobs]
    speed: dict[str, float] = {}
    if options.speed and any(t.dataset == "vowels7" for t in tasks):
        epochs = 200 if options.preset == "full" else 10
        speed = trainer_speed(load("vowels7"), epochs=epochs)
        if progress is not None:
            progress(f"trainer speed: {speed['digital_ms']:.1f} ms digital, "
                     f"{speed['board_ms']:.1f} ms board per epoch; {epochs} epochs with "
                     f"evaluation in {speed['wall_s']:.1f} s")
    return BenchOutcome(options, tasks, datasets, results, summaries, scenarios, speed,
                        time.perf_counter() - t0, started, field)


def field_scenario_jobs(options: BenchOptions, task: Task, load: Callable[[str], Any]
                        ) -> list[tuple[FieldSettings, list[Job]]]:
    """The on-device adaptation scenarios (compare/fieldadapt.py): step 1, step 3, drift.

    They need a board that learns (learn.h): the emulated board does; the
    quick preset runs one seed of the step of strength 1, without retraining.
    """
    from phyff.compare.rawio import task_to_dict

    if not options.field_adapt or task.name != FIELD_TASK or not task.url.startswith("emu://"):
        return []  # the scenario of docs/benchmarks.md (a read-out a board's slot can hold)
    quick = options.preset == "quick"
    kinds = ([FieldSettings("step", 1.0, retrain=False)] if quick else
             [FieldSettings("step", s) for s in options.adapt_strengths]
             + [FieldSettings("drift")])
    seeds = 1 if quick else options.field_seeds
    n_train = len(load(task.dataset).y_train)
    out = []
    for settings in kinds:
        cost = (2 if settings.retrain else 1) * task.phyll.epochs * n_train / 100
        out.append((settings, [Job("field", METHOD, task_to_dict(task), task.dataset, seed,
                                   options.data_dir, settings=asdict(settings), cost=cost)
                               for seed in range(seeds)]))
    return out
