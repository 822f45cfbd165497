"""What a benchmark run produces and how it is summarised: the energy model,
per-(task, method) summaries, the options of `phyff bench` and its outcome.

The lowest module of `phyff.compare`: the runner, the raw-file reader/writer
and the report all read these types, and none of them is imported here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from phyff.compare.baselines.common import RunResult
from phyff.compare.baselines.methods import DESCRIPTIONS, METHODS, Task

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
    field_adapt: bool = True  # on-device adaptation after a change (compare/fieldadapt.py)
    field_seeds: int = 10
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
    field_scenarios: list[Any] = field(default_factory=list)  # fieldadapt.FieldScenario
