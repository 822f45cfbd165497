"""`phyff sweep`: grid or random search over training settings x seeds x boards.

Why: people tuning a physical network try many learning rates, epoch
budgets and boards; each try is an independent run, so the sweep is a bag of
`phyff.compare.distributed` jobs (every core, a cluster, a pool of boards),
written as they complete and resumable.

Rules:

1. A sweep is scored on a validation split carved from each dataset's
   training set (`validation`, default 0.2, stratified, seeded by
   `split_seed`); the test set is never loaded into a run's scores.
2. Fields of the sweep file are checked before anything runs: unknown keys
   (top level or training settings), empty value lists, empty or reversed
   ranges and settings the trainer rejects are errors that name the key.
3. `seed` is not a sweep field: `seeds` lists the seeds of every
   configuration (mean and spread over seeds pick the best).
4. Random search draws `samples` configurations from a generator seeded by
   `random_seed`: the same file always gives the same configurations.
5. The best configuration of a dataset is the one with the highest mean
   validation accuracy over seeds (ties: the first in the file's order).
6. The default method, ``train``, runs every configuration exactly as
   `phyff train` would with the same settings; another method (``phyll``,
   the paper's schedule, or an ablation) changes the settings as the
   benchmark does, and best.json's ``train_config`` is the configuration
   that ran, those changes included.
7. The output files are replaced atomically (phyff._fileio): a full disk
   leaves the previous ones, never a truncated best.json.
8. The runs are counted before any is expanded: configurations x datasets
   x boards x seeds may be at most MAX_RUNS (100,000).

The file (TOML, or the same structure as JSON)::

    datasets = ["digits"]
    boards = ["emu://optical?seed=1&n_in=80&n_out=40"]  # or "pool://optical"
    seeds = [0, 1]                 # or a count: seeds = 2
    preset = "optical"             # TrainConfig preset the settings start from
    method = "train"               # what `phyff train` runs (default), or a benchmark
                                   # variant: phyll (the paper's schedule), phyll-frugal, ...
    validation = 0.2

    [base]                         # fixed training settings
    epochs = 10

    [grid]                         # every combination
    lr = [1e-3, 2e-3, 5e-3]

    [random]                       # `samples` draws, combined with every grid point
    samples = 4
    inner_steps = { int = [5, 20] }
    batch_size = { choice = [64, 128] }
    lr = { log = [1e-4, 1e-2] }    # or { uniform = [a, b] }
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phyff._fileio import atomic_output, loads_json, write_atomic
from phyff.compare.distributed import Job

TOP_KEYS = ("datasets", "boards", "seeds", "preset", "method", "validation", "split_seed",
            "base", "grid", "random", "random_seed", "data_dir")
RANGE_KINDS = ("uniform", "log", "int", "choice")


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see the module docstring for the file it comes from)."""

    datasets: tuple[str, ...]
    boards: tuple[str, ...]
    seeds: tuple[int, ...]
    preset: str | None = None
    method: str = "train"
    validation: float = 0.2
    split_seed: int = 0
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    random: dict[str, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)
    samples: int = 0
    random_seed: int = 0
    data_dir: str | None = None

    @property
    def swept(self) -> tuple[str, ...]:
        """The training settings that vary (grid first, then random)."""
        return (*self.grid, *self.random)


def _train_fields() -> set[str]:
    from phyff.training.config import TrainConfig

    return (set(TrainConfig().flat()) | {"n_blocks", "encoder"}) - {"n_classes", "n_features"}


def _check_fields(where: str, names: Sequence[str]) -> None:
    known = _train_fields()
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"{where}: unknown training settings {unknown}; known: "
                         f"{', '.join(sorted(known))}")
    if "seed" in names:
        raise ValueError(f"{where}: `seed` is not a sweep setting; list the seeds with "
                         "`seeds = [0, 1, ...]` (or a count)")


def _str_list(value: Any, key: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ValueError(f"`{key}` must be a list of non-empty strings, got {value!r}")
    if not items:
        raise ValueError(f"`{key}` is empty: give at least one")
    return tuple(items)


def parse_spec(raw: dict[str, Any], where: str = "sweep") -> SweepSpec:
    """Validate a sweep file's content (rule 2) into a SweepSpec."""
    from phyff.compare.baselines.phyll import AS_CONFIGURED, VARIANTS

    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; a sweep file has: "
                         f"{', '.join(TOP_KEYS)}")
    for key in ("datasets", "boards"):
        if key not in raw:
            raise ValueError(f"{where}: `{key}` is missing (e.g. {key} = "
                             f"{['digits'] if key == 'datasets' else ['emu://optical?seed=1']})")
    seeds_raw = raw.get("seeds", 1)
    if isinstance(seeds_raw, bool) or not isinstance(seeds_raw, int | list):
        raise ValueError(f"{where}: `seeds` is a count or a list of seeds, got {seeds_raw!r}")
    if isinstance(seeds_raw, int) and seeds_raw > MAX_RUNS:
        raise ValueError(f"{where}: {seeds_raw:,} seeds; a sweep runs at most {MAX_RUNS:,} "
                         f"runs in all")
    seeds = tuple(range(seeds_raw)) if isinstance(seeds_raw, int) else tuple(seeds_raw)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                            for s in seeds):
        raise ValueError(f"{where}: `seeds` must hold at least one non-negative integer, "
                         f"got {seeds_raw!r}")
    method = raw.get("method", AS_CONFIGURED)
    if method not in VARIANTS:
        raise ValueError(f"{where}: method {method!r} is not tuned by training settings; "
                         f"choose one of {', '.join(VARIANTS)}")
    validation = raw.get("validation", 0.2)
    if not isinstance(validation, int | float) or not 0.0 < float(validation) < 1.0:
        raise ValueError(f"{where}: `validation` is the fraction of the training data held "
                         f"out for scoring, strictly between 0 and 1; got {validation!r}")
    base = raw.get("base", {})
    grid_raw = raw.get("grid", {})
    random_raw = dict(raw.get("random", {}))
    for key, value in (("base", base), ("grid", grid_raw), ("random", random_raw)):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: [{key}] must be a table of training settings")
    _check_fields(f"{where} [base]", list(base))
    _check_fields(f"{where} [grid]", list(grid_raw))
    samples = random_raw.pop("samples", 0)
    _check_fields(f"{where} [random]", list(random_raw))
    grid: dict[str, tuple[Any, ...]] = {}
    for name, values in grid_raw.items():
        if not isinstance(values, list):
            raise ValueError(f"{where} [grid] {name}: a list of values, got {values!r} "
                             f"(a fixed value goes in [base])")
        if not values:
            raise ValueError(f"{where} [grid] {name} is empty: give at least one value")
        grid[name] = tuple(values)
    rand: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for name, spec in random_raw.items():
        rand[name] = _parse_range(f"{where} [random] {name}", spec)
    if rand and (not isinstance(samples, int) or isinstance(samples, bool) or samples < 1):
        raise ValueError(f"{where} [random]: `samples` (how many configurations to draw) must "
                         f"be a positive integer, got {samples!r}")
    both = sorted(set(grid) & set(rand) | (set(base) & (set(grid) | set(rand))))
    if both:
        raise ValueError(f"{where}: {both} set in more than one of [base], [grid], [random]")
    _check_size(where, grid, int(samples) if rand else 1, raw, seeds)
    spec = SweepSpec(
        datasets=_str_list(raw["datasets"], "datasets"),
        boards=_str_list(raw["boards"], "boards"),
        seeds=seeds, preset=raw.get("preset"), method=method, validation=float(validation),
        split_seed=int(raw.get("split_seed", 0)), base=dict(base), grid=grid, random=rand,
        samples=int(samples) if rand else 0, random_seed=int(raw.get("random_seed", 0)),
        data_dir=raw.get("data_dir"),
    )
    for params in configurations(spec):  # the trainer's own checks, before anything runs
        train_config(spec, params)
    return spec


MAX_RUNS = 100_000  # runs of one sweep (configurations x datasets x boards x seeds)


def _check_size(where: str, grid: dict[str, tuple[Any, ...]], samples: int,
                raw: dict[str, Any], seeds: tuple[int, ...]) -> None:
    """Rule 7: count the runs before any is expanded; refuse more than MAX_RUNS."""
    configs = math.prod(len(v) for v in grid.values()) * samples
    lists = [raw.get(k) for k in ("datasets", "boards")]
    counts = [len(v) if isinstance(v, list) else 1 for v in lists]
    runs = configs * counts[0] * counts[1] * len(seeds)
    if runs > MAX_RUNS:
        raise ValueError(
            f"{where}: {configs:,} configurations x {counts[0]} datasets x {counts[1]} boards "
            f"x {len(seeds):,} seeds = {runs:,} runs; a sweep runs at most {MAX_RUNS:,}. "
            f"Sweep fewer values or seeds, or split it into several sweeps")


def _parse_range(where: str, spec: Any) -> tuple[str, tuple[Any, ...]]:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(f"{where}: one of {{ uniform = [lo, hi] }}, {{ log = [lo, hi] }}, "
                         f"{{ int = [lo, hi] }}, {{ choice = [a, b, ...] }}; got {spec!r}")
    kind, values = next(iter(spec.items()))
    if kind not in RANGE_KINDS:
        raise ValueError(f"{where}: unknown range kind {kind!r}; use {', '.join(RANGE_KINDS)}")
    if not isinstance(values, list) or not values:
        raise ValueError(f"{where}: {kind} range is empty: give its values")
    if kind == "choice":
        return kind, tuple(values)
    if len(values) != 2 or not all(isinstance(v, int | float) for v in values):
        raise ValueError(f"{where}: {kind} wants [low, high], got {values!r}")
    lo, hi = values
    if not lo < hi:
        raise ValueError(f"{where}: {kind} range [{lo}, {hi}] is empty: low must be below high")
    if kind == "log" and lo <= 0:
        raise ValueError(f"{where}: log range needs positive bounds, got [{lo}, {hi}]")
    if kind == "int" and not all(isinstance(v, int) for v in values):
        raise ValueError(f"{where}: int range wants integer bounds, got {values!r}")
    return kind, (lo, hi)


class TomlSyntaxError(ValueError):
    """The text is not valid TOML (the message is the parser's)."""


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as a dict: tomllib from Python 3.11 on, tomli (phyff[sweep]) on 3.10.

    Raises TomlSyntaxError for invalid TOML, ValueError when no parser is installed.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise ValueError("TOML sweep files on Python 3.10 need tomli: pip install "
                             "'phyff[sweep]' (or write the sweep as .json)") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlSyntaxError(str(exc)) from exc


def load_spec(path: Path) -> SweepSpec:
    """Read a TOML (or JSON) sweep file; errors name the file and the key."""
    path = Path(path)
    return parse_spec(read_spec_file(path), str(path.name))


def read_spec_file(path: Path) -> dict[str, Any]:
    """A sweep file's table of keys, not yet checked (errors name the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file {path} not found")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        raw = loads_json(text, str(path))
    else:
        try:
            raw = parse_toml(text)
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply to read") from None
        except TomlSyntaxError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc}); JSON files need a .json "
                             "suffix") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a sweep file is a table of keys")
    return raw


def configurations(spec: SweepSpec) -> list[dict[str, Any]]:
    """The swept settings of every configuration, in file order (rule 4 for random)."""
    import numpy as np

    grid = [dict(zip(spec.grid, combo, strict=True))
            for combo in itertools.product(*spec.grid.values())] if spec.grid else [{}]
    if not spec.random:
        return grid
    rng = np.random.default_rng(spec.random_seed)
    draws = []
    for _ in range(spec.samples):
        draw: dict[str, Any] = {}
        for name, (kind, values) in spec.random.items():
            if kind == "choice":
                draw[name] = values[int(rng.integers(len(values)))]
            elif kind == "int":
                draw[name] = int(rng.integers(values[0], values[1] + 1))
            elif kind == "log":
                draw[name] = float(math.exp(rng.uniform(math.log(values[0]),
                                                        math.log(values[1]))))
            else:
                draw[name] = float(rng.uniform(values[0], values[1]))
        draws.append(draw)
    return [{**g, **d} for g in grid for d in draws]


def train_config(spec: SweepSpec, params: dict[str, Any]) -> Any:
    """The full TrainConfig of one configuration (preset, then [base], then params)."""
    from phyff.training.config import TrainConfig

    start = TrainConfig.from_preset(spec.preset) if spec.preset else TrainConfig()
    try:
        return start.with_changes(**{**spec.base, **params})
    except (TypeError, ValueError) as exc:
        shown = {**spec.base, **params}
        raise ValueError(f"the trainer rejects the settings {shown}: {exc}") from exc


def ran_config(spec: SweepSpec, params: dict[str, Any]) -> Any:
    """The TrainConfig a configuration's runs trained with (rule 6): the sweep's
    method applied to `train_config`; the seed is each run's own."""
    from phyff.compare.baselines.phyll import variant_config

    config = train_config(spec, params)
    return variant_config(config, spec.method, config.seed)


def sweep_jobs(spec: SweepSpec) -> list[Job]:
    """Every configuration x dataset x board x seed, as jobs (dataset-major order)."""
    from phyff.compare.baselines.backprop import BackpropSettings
    from phyff.compare.baselines.methods import Task
    from phyff.compare.rawio import task_to_dict

    jobs = []
    configs = configurations(spec)
    for dataset in spec.datasets:
        for board in spec.boards:
            for index, params in enumerate(configs):
                config = train_config(spec, params)
                task = Task(f"{dataset}@{board}", board, dataset, config, BackpropSettings())
                settings = task_to_dict(task)
                for seed in spec.seeds:
                    jobs.append(Job("run", spec.method, settings, dataset, seed,
                                    spec.data_dir, validation=spec.validation,
                                    split_seed=spec.split_seed,
                                    meta={"config": index, "params": params},
                                    cost=config.epochs * config.model.inner_steps))
    return jobs


@dataclass
class ConfigScore:
    """One configuration on one dataset and board: validation accuracy over seeds."""

    dataset: str
    board: str
    index: int
    params: dict[str, Any]
    accs: list[float]
    train_accs: list[float]
    wall_s: float
    n_val: int = 0  # validation samples per run (one of them is 1 / n_val of accuracy)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accs)

    @property
    def std(self) -> float:
        return statistics.stdev(self.accs) if len(self.accs) > 1 else 0.0

    def as_row(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "board": self.board, "config": self.index,
                **{f"param_{k}": v for k, v in self.params.items()},
                "seeds": len(self.accs), "val_acc_mean": round(self.mean, 5),
                "val_acc_std": round(self.std, 5),
                "train_acc_mean": round(statistics.fmean(self.train_accs), 5)
                if self.train_accs else "", "wall_s": round(self.wall_s, 2)}


def score(jobs: Sequence[Job], done: dict[str, dict[str, Any]]) -> list[ConfigScore]:
    """Validation accuracy per (dataset, board, configuration), in job order."""
    groups: dict[tuple[str, str, int], ConfigScore] = {}
    for job in jobs:
        result = done.get(job.key)
        if result is None:
            continue
        k = (job.dataset, job.board_url, int(job.meta["config"]))
        s = groups.setdefault(k, ConfigScore(job.dataset, job.board_url, k[2],
                                             dict(job.meta["params"]), [], [], 0.0))
        # the validation split's accuracy (results of older versions called it test_acc)
        s.accs.append(float(result["val_acc"] if "val_acc" in result else result["test_acc"]))
        if result.get("train_acc") is not None:
            s.train_accs.append(float(result["train_acc"]))
        # the whole run where it ran (data, board, run files, evaluation), not only
        # the training epochs
        s.wall_s += float(result.get("extra", {}).get("job_s", result.get("wall_s", 0.0)))
        s.n_val = int(result.get("extra", {}).get("n_val", s.n_val))
    return list(groups.values())


def ties_with_best(scores: Sequence[ConfigScore]) -> dict[str, list[ConfigScore]]:
    """Per dataset, the other configurations whose mean equals the best's (rule 5 picked
    the first of them; a report says so rather than crown one in silence)."""
    best = best_per_dataset(scores)
    return {d: [s for s in scores if s.dataset == d and s is not b
                and math.isclose(s.mean, b.mean, rel_tol=0, abs_tol=1e-12)]
            for d, b in best.items()}


def best_per_dataset(scores: Sequence[ConfigScore]) -> dict[str, ConfigScore]:
    """Rule 5: highest mean validation accuracy per dataset; the first on ties."""
    best: dict[str, ConfigScore] = {}
    for s in scores:
        if s.dataset not in best or s.mean > best[s.dataset].mean:
            best[s.dataset] = s
    return best


def write_outputs(spec: SweepSpec, scores: Sequence[ConfigScore], out: Path) -> dict[str, Path]:
    """sweep.csv (every configuration), best.json (full settings of each winner), sweep.png."""
    import csv

    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "sweep.csv", "best": out / "best.json", "plot": out / "sweep.png"}
    rows = [s.as_row() for s in scores]
    names = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_output(paths["csv"], text=True, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    best = best_per_dataset(scores)
    ties = ties_with_best(scores)
    write_atomic(paths["best"], json.dumps({
        d: {"board": s.board, "params": s.params, "val_acc_mean": s.mean, "val_acc_std": s.std,
            "tied_with": [{"board": t.board, "params": t.params} for t in ties[d]],
            "seeds": len(s.accs), "validation": spec.validation, "method": spec.method,
            "train_config": ran_config(spec, s.params).to_dict()}
        for d, s in best.items()}, indent=2, default=str))
    plot(scores, paths["plot"], spec.swept)
    return paths


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items()) or "(base)"


def plot(scores: Sequence[ConfigScore], path: Path, swept: Sequence[str]) -> Path:
    """sweep.png: `sweep_figure` at 110 dpi."""
    sweep_figure(scores, swept).savefig(path, dpi=110)
    return path


def sweep_figure(scores: Sequence[ConfigScore], swept: Sequence[str]) -> Any:
    """Validation accuracy of every configuration, per dataset: against the swept value
    when one numeric setting varies (log axis for ranges over decades), else ranked bars
    from 0 with their values written; ties with the best and the size of one validation
    sample are said in the title."""
    from matplotlib.figure import Figure

    datasets = list(dict.fromkeys(s.dataset for s in scores))
    fig = Figure(figsize=(8, 3.2 * max(1, len(datasets))))
    axes = fig.subplots(len(datasets), 1, squeeze=False)
    one = swept[0] if len(swept) == 1 else None
    for ax, dataset in zip(axes[:, 0], datasets, strict=True):
        mine = [s for s in scores if s.dataset == dataset]
        numeric = one is not None and all(isinstance(s.params.get(one), int | float)
                                          and not isinstance(s.params.get(one), bool)
                                          for s in mine)
        if numeric:
            assert one is not None
            for board in dict.fromkeys(s.board for s in mine):
                pts = sorted((s.params[one], s.mean, s.std) for s in mine if s.board == board)
                xs, ys, es = zip(*pts, strict=True)
                ax.errorbar(xs, [100 * y for y in ys], yerr=[100 * e for e in es],
                            marker="o", capsize=3, label=board)
            xs_all = [s.params[one] for s in mine]
            if min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20:
                ax.set_xscale("log")
            ax.set_xlabel(one)
            ax.legend(fontsize=7)
        else:
            # Bars start at 0 so their lengths compare honestly; the value is written at
            # each bar, and the axis leaves room for every error bar (none is clipped).
            ranked = sorted(mine, key=lambda s: -s.mean)[:25]
            top = ranked[0].mean
            bar_rows = list(range(len(ranked)))
            colors = ["tab:orange" if math.isclose(s.mean, top, abs_tol=1e-12) else "tab:blue"
                      for s in ranked]
            ax.barh(bar_rows, [100 * s.mean for s in ranked], xerr=[100 * s.std for s in ranked],
                    color=colors, alpha=0.85, capsize=2)
            right = max(100.0, max(100 * (s.mean + s.std) for s in ranked))
            for y, s in zip(bar_rows, ranked, strict=True):
                ax.text(100 * (s.mean + s.std) + 0.01 * right, y,
                        f"{100 * s.mean:.1f} ± {100 * s.std:.1f}", va="center", fontsize=7)
            ax.set_yticks(bar_rows)
            ax.set_yticklabels([_label(s.params) + ("" if len({x.board for x in mine}) == 1
                                                    else f" @ {s.board}") for s in ranked],
                               fontsize=7)
            ax.invert_yaxis()
            ax.set_xlim(0, 1.18 * right)
            ax.set_xlabel("validation accuracy (%)")
        n_best = sum(math.isclose(s.mean, max(x.mean for x in mine), abs_tol=1e-12)
                     for s in mine)
        step = max((s.n_val for s in mine), default=0)
        notes = [f"one validation sample = {100 / step:.2g} points" if step else "",
                 f"{n_best} configurations tie for the best{'' if numeric else ' (orange)'}; "
                 f"best.json reports the first" if n_best > 1 else ""]
        note = "; ".join(n for n in notes if n)
        ax.set_title(f"{dataset}: validation accuracy, mean ± std over seeds"
                     + (f"\n{note}" if note else ""), fontsize=9)
        if numeric:
            ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
