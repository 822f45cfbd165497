"""`phyff bench`: is PhyLL worth it on this medium? Measured, not quoted.

Runs a matrix of methods x tasks (a task is a board and a dataset) x seeds
on the same board URL, data and seeds, and reports for each method test
accuracy (mean +- std over seeds), device queries (training, and for PAT the
twin's recorded data), digital multiply-adds counted by the code that performs
them (`phyff.accounting`), wall time split into board time and digital time,
and an energy estimate from per-operation costs (`EnergyModel`).

Module layout: this file runs the matrix and aggregates it; `bench_tasks`
defines the tasks and their settings, `bench_adapt` the perturbation
scenario, `bench_report` the Markdown, CSV and the generated
docs/benchmarks.md with its targets.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from phyff.baselines.common import RunResult
from phyff.baselines.methods import DESCRIPTIONS, METHODS, Task, run_method

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EnergyModel:
    """E = MACs * pj_per_mac * 1e-12 + queries * j_per_query + board_s * board_watts.

    Defaults (rough, and flags of `phyff bench`, because the answer depends on
    them more than on anything measured here):

    - pj_per_mac = 10 pJ: a 32-bit floating-point multiply and add cost about
      4.6 pJ in 45 nm logic (Horowitz, ISSCC 2014: 3.7 pJ + 0.9 pJ), plus about
      as much again to fetch an operand from a small SRAM. A general-purpose CPU
      spends several times more per MAC on instruction overhead, so this value
      favours the digitally heavy methods (PAT), not PhyLL.
    - j_per_query = 10 uJ: one drive-settle-sense cycle of a microcontroller
      board drawing ~0.1 W for ~100 us (DAC writes, ADC reads, frame I/O). A
      medium with slow actuators costs far more: a phase modulator refreshing
      at 1 kHz with a laser and camera (a few W) is ~5 mJ per query, a
      loudspeaker burst of 10 ms at 1 W ~10 mJ.
    - board_watts = 0: the emulated board's time is host CPU time, already in
      the digital estimate's spirit; set it for real hardware that draws power
      while idle.
    """

    pj_per_mac: float = 10.0
    j_per_query: float = 1e-5
    board_watts: float = 0.0

    def joules(self, macs: float, queries: float, board_s: float) -> float:
        """Energy of a run with these totals."""
        return macs * self.pj_per_mac * 1e-12 + queries * self.j_per_query \
            + board_s * self.board_watts

    def break_even(self, macs_a: float, queries_a: float, macs_b: float,
                   queries_b: float) -> float | None:
        """J per query at which methods a and b cost the same energy (None: never)."""
        dq = queries_a - queries_b
        if dq == 0:
            return None
        value = (macs_b - macs_a) * self.pj_per_mac * 1e-12 / dq
        return value if value > 0 else None


@dataclass
class Summary:
    """One (task, method) row: means over seeds (accuracy also as std)."""

    task: str
    method: str
    medium: str
    dataset: str
    seeds: int
    acc_mean: float
    acc_std: float
    train_queries: float
    twin_queries: float
    oracle_evals: float
    train_macs: float
    twin_macs: float
    digital_s: float
    board_s: float
    energy_j: float
    eval_queries_per_sample: float
    eval_macs_per_sample: float
    epochs: int

    @property
    def queries(self) -> float:
        """Device queries of training, twin data included."""
        return self.train_queries + self.twin_queries

    def as_row(self) -> dict[str, Any]:
        """Flat CSV row."""
        return {
            "task": self.task, "method": self.method, "medium": self.medium,
            "dataset": self.dataset, "seeds": self.seeds, "epochs": self.epochs,
            "test_acc_mean": round(self.acc_mean, 5), "test_acc_std": round(self.acc_std, 5),
            "train_queries": round(self.train_queries), "twin_queries": round(self.twin_queries),
            "oracle_evals": round(self.oracle_evals), "train_macs": round(self.train_macs),
            "twin_macs": round(self.twin_macs), "digital_s": round(self.digital_s, 3),
            "board_s": round(self.board_s, 3), "energy_j": f"{self.energy_j:.4g}",
            "eval_queries_per_sample": round(self.eval_queries_per_sample, 2),
            "eval_macs_per_sample": round(self.eval_macs_per_sample),
        }


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


def summarise(results: Sequence[RunResult], energy: EnergyModel) -> list[Summary]:
    """One Summary per (task, method), in the order first seen."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((str(r.extra.get("task", r.dataset)), r.method), []).append(r)
    out = []
    for (task, method), runs in groups.items():
        accs = [r.test_acc for r in runs]
        n_test = max(1, int(runs[0].extra.get("n_test", 1)))

        def mean(values: Iterable[float]) -> float:
            return statistics.fmean(values)

        out.append(Summary(
            task=task, method=method, medium=runs[0].medium, dataset=runs[0].dataset,
            seeds=len(runs), acc_mean=mean(accs),
            acc_std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
            train_queries=mean(r.train_queries for r in runs),
            twin_queries=mean(r.twin_queries for r in runs),
            oracle_evals=mean(r.oracle_evals for r in runs),
            train_macs=mean(r.train_macs for r in runs),
            twin_macs=mean(r.twin_macs for r in runs),
            digital_s=mean(r.digital_s for r in runs),
            board_s=mean(r.board_s for r in runs),
            energy_j=mean(energy.joules(r.train_macs, r.queries, r.board_s) for r in runs),
            eval_queries_per_sample=mean(r.eval_queries for r in runs) / n_test,
            eval_macs_per_sample=mean(r.eval_macs for r in runs) / n_test,
            epochs=runs[0].epochs,
        ))
    return out


def find(summaries: Sequence[Summary], task: str, method: str) -> Summary | None:
    """The summary of (task, method), if it was run."""
    return next((s for s in summaries if s.task == task and s.method == method), None)


def describe(method: str) -> str:
    """One-line description of a method."""
    return DESCRIPTIONS.get(method, method)


def fmt_count(x: float) -> str:
    """Compact engineering notation for counts (1.2e9 -> '1.2 G')."""
    if not math.isfinite(x):
        return "-"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.0f}"


# ------------------------------------------------------------------ the trainer's speed
def trainer_speed(data: Any, url: str = "emu://acoustic?seed=1", epochs: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """The trainer issue's speed split: vowels7, paper preset, evaluation every epoch.

    Runs `phyff.train.train` exactly as `phyff train` does (in-process emulated
    board, checkpoints and metrics written every epoch) and reports the median
    per-epoch digital and board time of training and the evaluation time from
    its metrics.jsonl records, plus the wall time of the whole call.
    """
    import tempfile
    import time

    from phyff.board import Board
    from phyff.physical import BoardLayer
    from phyff.train import TrainConfig, train

    config = TrainConfig.from_preset("acoustic", epochs=epochs, eval_every=1, seed=seed)
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
@dataclass
class BenchOptions:
    """What `phyff bench` runs (see cli_bench for the flags)."""

    preset: str = "full"
    tasks: Sequence[str] | None = None
    methods: Sequence[str] = METHODS
    seeds: int = 5
    hard_seeds: int | None = None
    twin_pairs: int | None = None
    twin_epochs: int | None = None
    adapt: bool = True
    adapt_seeds: int = 3
    adapt_epochs: int | None = None
    adapt_strengths: tuple[float, ...] = (1.0, 3.0)
    adapt_drift: float = 0.02
    speed: bool = True
    energy: EnergyModel = EnergyModel()
    data_dir: str | None = None


@dataclass
class BenchOutcome:
    """Everything measured by one `phyff bench` invocation."""

    options: BenchOptions
    tasks: list[Task]
    datasets: dict[str, Any]
    results: list[RunResult]
    summaries: list[Summary]
    scenarios: list[Any]
    speed: dict[str, float]
    seconds: float
    machine: dict[str, str]


def resolve_tasks(options: BenchOptions) -> list[Task]:
    """The preset's tasks, filtered by name and with the size flags applied."""
    from dataclasses import replace

    from phyff.bench_tasks import PRESETS

    if options.preset not in PRESETS:
        raise ValueError(f"unknown preset {options.preset!r}; expected {', '.join(PRESETS)}")
    table = PRESETS[options.preset]()
    names = list(options.tasks) if options.tasks else list(table)
    missing = [n for n in names if n not in table]
    if missing:
        raise ValueError(f"unknown tasks {missing}; this preset has: {', '.join(table)}")
    tasks = []
    for name in names:
        task = table[name]
        twin = task.twin
        if options.twin_pairs is not None:
            twin = replace(twin, n_pairs=options.twin_pairs)
        if options.twin_epochs is not None:
            twin = replace(twin, epochs=options.twin_epochs)
        tasks.append(replace(task, twin=twin))
    return tasks


def run_bench(options: BenchOptions, progress: Progress | None = None) -> BenchOutcome:
    """Run the matrix, the adaptability scenarios and the trainer's speed run."""
    import time

    from phyff.bench_adapt import AdaptSettings, run_drift, run_step
    from phyff.bench_report import machine
    from phyff.bench_tasks import HARD_TASKS
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
        methods = [m for m in options.methods if task.only is None or m in task.only]
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
