"""Raw benchmark measurements on disk, so a report can be re-rendered without re-running.

A full benchmark takes tens of minutes; the document, the energy parameters or
the wording of a table should not. `save_raw` writes everything measured (every
run with its learning curve, the scenarios, the speed figures, the machine and
date) as JSON; `load_raw` rebuilds a `BenchOutcome` from it, with datasets
reduced to their sizes (all the report needs).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from phyff._fileio import append_line, loads_json, write_atomic
from phyff.compare.adapt import AdaptSettings, Scenario
from phyff.compare.baselines.backprop import BackpropSettings
from phyff.compare.baselines.common import RunResult
from phyff.compare.baselines.elm import ElmSettings
from phyff.compare.baselines.methods import Task
from phyff.compare.baselines.twin import TwinSettings
from phyff.compare.fieldadapt import FieldSettings, from_results
from phyff.compare.summary import BenchOptions, BenchOutcome, EnergyModel, summarise
from phyff.compare.tasks import resolve_tasks
from phyff.training.config import TrainConfig

RAW_FORMAT = "phyff-bench-raw"
RAW_VERSION = 1
_RUN_FIELDS = {f.name for f in fields(RunResult)}


@dataclass(frozen=True)
class DataInfo:
    """The sizes of a dataset, standing in for it when a report is re-rendered."""

    name: str
    n_train: int
    n_test: int
    n_classes: int


def data_info(name: str, data: Any) -> DataInfo:
    """Sizes of a loaded dataset (or of a DataInfo)."""
    if isinstance(data, DataInfo):
        return data
    return DataInfo(name, len(data.y_train), len(data.y_test), int(data.n_classes))


def _run(d: dict[str, Any]) -> RunResult:
    r = RunResult(**{k: v for k, v in d.items() if k in _RUN_FIELDS})
    r.curve = [(int(e), float(a)) for e, a in r.curve]
    return r


def task_to_dict(task: Task) -> dict[str, Any]:
    """JSON-able settings of a task (so a re-rendered report states what was run)."""
    return {
        "name": task.name, "url": task.url, "dataset": task.dataset,
        "phyll": task.phyll.to_dict(), "backprop": asdict(task.backprop),
        "twin": asdict(task.twin), "elm": asdict(task.elm), "ffv1_lr": task.ffv1_lr,
        "only": None if task.only is None else list(task.only),
        "frugal_negatives": task.frugal_negatives, "seeds": task.seeds,
    }


def task_from_dict(d: dict[str, Any]) -> Task:
    """Inverse of task_to_dict."""
    twin = dict(d["twin"], hidden=tuple(d["twin"]["hidden"]))
    elm = dict(d["elm"], alphas=tuple(d["elm"]["alphas"]))
    return Task(d["name"], d["url"], d["dataset"], TrainConfig.from_dict(d["phyll"]),
                BackpropSettings(**d["backprop"]), TwinSettings(**twin), ElmSettings(**elm),
                d.get("ffv1_lr"), None if d.get("only") is None else tuple(d["only"]),
                d.get("frugal_negatives"), d.get("seeds"))


def save_raw(outcome: BenchOutcome, path: Path) -> Path:
    """Write the outcome's measurements as JSON."""
    opts = asdict(outcome.options)
    opts["tasks"] = [t.name for t in outcome.tasks]
    payload = {
        "format": RAW_FORMAT,
        "version": RAW_VERSION,
        "options": opts,
        "task_settings": [task_to_dict(t) for t in outcome.tasks],
        "machine": outcome.machine,
        "seconds": outcome.seconds,
        "datasets": {k: asdict(data_info(k, v)) for k, v in outcome.datasets.items()},
        "results": [r.as_dict() for r in outcome.results],
        "scenarios": [{"kind": s.kind, "settings": asdict(s.settings),
                       "runs": {m: [r.as_dict() for r in runs] for m, runs in s.runs.items()}}
                      for s in outcome.scenarios],
        "speed": outcome.speed,
        "field": [{"settings": asdict(f.settings), "seeds": f.seeds}
                  for f in outcome.field_scenarios],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(payload, indent=1))
    return path


def load_raw(path: Path, energy: EnergyModel | None = None) -> BenchOutcome:
    """Rebuild an outcome from save_raw's JSON; `energy` replaces the stored energy model."""
    payload = loads_json(Path(path).read_text(), str(path))
    if not isinstance(payload, dict) or payload.get("format") != RAW_FORMAT \
            or payload.get("version") != RAW_VERSION:
        raise ValueError(f"{path} is not a phyff bench raw file (format {RAW_FORMAT} "
                         f"v{RAW_VERSION}); write one with `phyff bench --out DIR`")
    opts = dict(payload["options"])
    opts["energy"] = EnergyModel(**opts["energy"])
    opts["methods"] = tuple(opts["methods"])
    opts["adapt_strengths"] = tuple(opts["adapt_strengths"])
    options = BenchOptions(**opts)
    if energy is not None:
        options = replace(options, energy=energy)
    results = [_run(d) for d in payload["results"]]
    scenarios = [Scenario(s["kind"], AdaptSettings(**s["settings"]),
                          {m: [_run(d) for d in runs] for m, runs in s["runs"].items()})
                 for s in payload["scenarios"]]
    datasets = {k: DataInfo(**v) for k, v in payload["datasets"].items()}
    stored = payload.get("task_settings")
    tasks = [task_from_dict(t) for t in stored] if stored else resolve_tasks(options)
    field = [from_results(FieldSettings(**f["settings"]), f["seeds"])
             for f in payload.get("field", [])]  # absent before on-device learning
    return BenchOutcome(options, tasks, datasets, results,
                        summarise(results, options.energy), scenarios, payload["speed"],
                        float(payload["seconds"]), payload["machine"], field)


# ------------------------------------------------------------------ results as they complete
RESULTS_FILE = "results.jsonl"
FAILURES_FILE = "failures.jsonl"


class ResultStore:
    """Every finished run on disk the moment it completes, so nothing is lost and a rerun
    continues where the last one stopped.

    Rules:

    1. `results.jsonl` in the run directory holds one JSON line per completed
       job: {"key", "label", "result", "seconds"}; a line is written whole and flushed
       (and fsynced) before the next job's result is taken.
    2. A rerun reads it back and skips those keys (a job's key is a hash of
       its configuration and seed, so a changed configuration is a new job).
    3. A line cut short by a crash is ignored (that job runs again). A line
       that parses but is not a result phyff wrote (not an object, nested too
       deeply, an accuracy that is not a number in [0, 1]) is refused, naming
       the file and line: it was edited or damaged, and scoring it would
       report nonsense (test_acc 5.0 shown as 500 %).
    4. `failures.jsonl` lists this invocation's failed jobs with their errors;
       an invocation removes the previous one's and writes it only when a job
       fails (no failures: no file); it is never read for skipping, so failed
       jobs run again on the next invocation.
    """

    def __init__(self, directory: Path, *, resume: bool) -> None:
        self.directory = Path(directory)
        self.path = self.directory / RESULTS_FILE
        self.failures_path = self.directory / FAILURES_FILE
        if self.path.exists() and self.path.stat().st_size > 0 and not resume:
            raise ValueError(f"{self.directory} already holds results of an earlier run; pass "
                             "--resume to continue it (completed runs are skipped) or choose "
                             "another --out directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, dict[str, Any]] = self._read() if resume else {}
        self.failures_path.unlink(missing_ok=True)

    def _read(self) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return done
        text = self.path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{self.path} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # rule 3: cut short by a crash
            except RecursionError:
                raise ValueError(f"{where}: the JSON is nested too deeply to read; "
                                 f"{_EDITED}") from None
            key, result = _checked_record(record, where)
            done[key] = result
        return done

    def add(self, key: str, label: str, result: dict[str, Any],
            seconds: float | None = None) -> None:
        """Append one completed job (rule 1); `seconds`: its wall time where it ran."""
        record: dict[str, Any] = {"key": key, "label": label, "result": result}
        if seconds is not None:
            record["seconds"] = round(seconds, 3)
        self._append(self.path, record)
        self.done[key] = result

    def add_failure(self, key: str, label: str, error: str) -> None:
        """Record one failed job (rule 4)."""
        self._append(self.failures_path, {"key": key, "label": label, "error": error})

    @staticmethod
    def _append(path: Path, record: dict[str, Any]) -> None:
        append_line(path, json.dumps(record, default=_json_default))


_EDITED = ("the file was edited or damaged: fix or delete that line (its run then runs "
           "again), then rerun with --resume")
ACCURACY_KEYS = ("test_acc", "train_acc")


def _checked_record(record: Any, where: str) -> tuple[str, dict[str, Any]]:
    """(key, result) of one results.jsonl line, refused unless phyff could have written it."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a JSON {type(record).__name__}, not an object; {_EDITED}")
    key, result = record.get("key"), record.get("result")
    if not isinstance(key, str) or not isinstance(result, dict):
        raise ValueError(f"{where}: a result needs a text `key` and an object `result`; "
                         f"{_EDITED}")
    for name in ACCURACY_KEYS:
        value = result.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not 0.0 <= value <= 1.0:  # NaN fails this too
            raise ValueError(f"{where}: {name} {value!r} is not an accuracy in [0, 1]; "
                             f"{_EDITED}")
    return key, result


def _json_default(value: Any) -> Any:
    """numpy scalars and other number-likes in run records."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def run_from_dict(d: dict[str, Any]) -> RunResult:
    """A RunResult from its as_dict() form (one line of results.jsonl)."""
    return _run(d)
