"""Adaptability: the medium changes part-way through training; who keeps up?

PhyLL computes every loss on current measurements, so a changed medium is
just new data. Physics-aware training computes its forward pass on the board
too, but its backward pass comes from a twin fitted before the change; this
scenario measures what that stale twin costs. Both train for the same number
of epochs on the same board; the test accuracy is measured after every epoch
(not charged to training).

- step: after epoch `change`, `device.perturb("step", strength)` (an object
  enters the room, part of the scattering medium changes; see phyff.media).
  Recovery: `recovery_epochs` counts the epochs of training after the change
  until the mean test accuracy over a window of 5 epochs is back within
  `tol` (2 points) of the mean over the 5 epochs before the change.
- drift: the medium option ``drift`` (slow random wander of its parameters,
  clocked by samples measured: a method that queries more sees more drift).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from phyff.compare.baselines.common import BenchContext, RunResult
from phyff.compare.baselines.methods import Task, run_method

METHODS = ("phyll", "pat")
LABELS = {"phyll": "PhyLL", "pat": "PAT (twin fitted before the change)"}
WINDOW = 5


@dataclass(frozen=True)
class AdaptSettings:
    """The scenario: epochs, when and how hard the step comes, the drift rate."""

    epochs: int = 200
    change: int = 100
    strength: float = 1.0
    drift: float = 0.02
    tol: float = 0.02


@dataclass
class Scenario:
    """Runs of one scenario: per method, one RunResult (with its curve) per seed."""

    kind: str
    settings: AdaptSettings
    runs: dict[str, list[RunResult]] = field(default_factory=dict)


def _with_epochs(task: Task, epochs: int) -> Task:
    return replace(task, phyll=task.phyll.with_changes(epochs=epochs),
                   backprop=replace(task.backprop, epochs=epochs))


def run_step(task: Task, data: Any, seeds: Sequence[int], settings: AdaptSettings,
             progress: Callable[[str], None] | None = None) -> Scenario:
    """Step perturbation after epoch `settings.change`."""
    t = _with_epochs(task, settings.epochs)
    scenario = Scenario("step", settings)

    for method in METHODS:
        for seed in seeds:

            def hook(epoch: int, ctx: BenchContext) -> bool:
                if epoch != settings.change:
                    return False
                if ctx.device is None:
                    raise ValueError("the step scenario needs an emulated board (emu://)")
                ctx.device.perturb("step", settings.strength)
                return True

            run = run_method(method, t, data, seed, curve=True, hook=hook)
            scenario.runs.setdefault(method, []).append(run)
            if progress is not None:
                progress(f"adapt step  {method:6s} seed {seed}: " + _story(run, settings))
    return scenario


def run_drift(task: Task, data: Any, seeds: Sequence[int], settings: AdaptSettings,
              progress: Callable[[str], None] | None = None) -> Scenario:
    """Slow drift of the medium throughout training (medium option `drift`)."""
    sep = "&" if "?" in task.url else "?"
    t = replace(_with_epochs(task, settings.epochs), url=f"{task.url}{sep}drift={settings.drift}")
    scenario = Scenario("drift", settings)
    for method in METHODS:
        for seed in seeds:
            run = run_method(method, t, data, seed, curve=True)
            scenario.runs.setdefault(method, []).append(run)
            if progress is not None:
                accs = [a for _, a in run.curve]
                progress(f"adapt drift {method:6s} seed {seed}: best {100 * max(accs):.1f} %, "
                         f"final {100 * statistics.fmean(accs[-WINDOW:]):.1f} %")
    return scenario


def window_mean(curve: Sequence[tuple[int, float]], first: int, last: int) -> float:
    """Mean accuracy over epochs first..last (inclusive) of a curve."""
    values = [a for e, a in curve if first <= e <= last]
    return statistics.fmean(values) if values else float("nan")


def before_change(curve: Sequence[tuple[int, float]], change: int) -> float:
    """Mean test accuracy over the WINDOW epochs up to the change."""
    return window_mean(curve, change - WINDOW + 1, change)


def recovery_epochs(curve: Sequence[tuple[int, float]], change: int, tol: float) -> int | None:
    """Epochs after the change until a WINDOW-epoch mean is within tol of before; None: never."""
    pre = before_change(curve, change)
    last = max(e for e, _ in curve)
    for start in range(change + 1, last - WINDOW + 2):
        if window_mean(curve, start, start + WINDOW - 1) >= pre - tol:
            return start - change
    return None


def _story(run: RunResult, s: AdaptSettings) -> str:
    pre = before_change(run.curve, s.change)
    now = run.extra.get("acc_after_change", float("nan"))
    first = dict(run.curve).get(s.change + 1, float("nan"))
    end = window_mean(run.curve, s.epochs - WINDOW + 1, s.epochs)
    rec = recovery_epochs(run.curve, s.change, s.tol)
    rec_text = "not recovered" if rec is None else f"recovered in {rec} epochs"
    return (f"before {100 * pre:.1f} %, right after {100 * now:.1f} %, one epoch later "
            f"{100 * first:.1f} %, "
            f"end {100 * end:.1f} %, {rec_text}")


def scenario_rows(scenario: Scenario) -> list[dict[str, Any]]:
    """Per method: accuracies before/after/at the end and the recovery epochs (per seed)."""
    s = scenario.settings
    rows = []
    for method, runs in scenario.runs.items():
        pre = [before_change(r.curve, s.change) for r in runs]
        at_change = [r.extra.get("acc_after_change", float("nan")) for r in runs]
        first = [dict(r.curve).get(s.change + 1, float("nan")) for r in runs]
        low = [min(a for e, a in r.curve if e > s.change) for r in runs]
        mean_after = [window_mean(r.curve, s.change + 1, s.epochs) for r in runs]
        end = [window_mean(r.curve, s.epochs - WINDOW + 1, s.epochs) for r in runs]
        rec = [recovery_epochs(r.curve, s.change, s.tol) for r in runs]
        rows.append({
            "method": method, "seeds": len(runs), "before": statistics.fmean(pre),
            "at_change": statistics.fmean(at_change),
            "first_after": statistics.fmean(first), "lowest_after": statistics.fmean(low),
            "mean_after": statistics.fmean(mean_after),
            "end": statistics.fmean(end),
            "end_minus_before": statistics.fmean(e - p for e, p in zip(end, pre, strict=True)),
            "recovery": rec, "queries": statistics.fmean(r.queries for r in runs),
        })
    return rows


def plot(scenarios: Sequence[Scenario], path: Path) -> Path:
    """Test accuracy against epochs, mean over seeds with the seeds' range shaded."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(scenarios), 3.8), layout="constrained")
    axes = fig.subplots(1, len(scenarios), squeeze=False)[0]
    for ax, sc in zip(axes, scenarios, strict=True):
        for method, runs in sc.runs.items():
            epochs = np.array([e for e, _ in runs[0].curve])
            acc = 100 * np.array([[a for _, a in r.curve] for r in runs])
            line = ax.plot(epochs, acc.mean(axis=0), label=LABELS.get(method, method), lw=1.4)
            ax.fill_between(epochs, acc.min(axis=0), acc.max(axis=0), alpha=0.2,
                            color=line[0].get_color(), lw=0)
        if sc.kind == "step":
            ax.axvline(sc.settings.change + 0.5, color="k", ls="--", lw=0.8)
            for method, runs in sc.runs.items():
                now = [r.extra["acc_after_change"] for r in runs if "acc_after_change" in r.extra]
                if now:  # the model on the changed medium before any retraining
                    ax.plot([sc.settings.change + 0.5], [100 * statistics.fmean(now)], "v",
                            color="C0" if method == "phyll" else "C1", ms=6)
            ax.set_title(f"step perturbation (strength {sc.settings.strength:g}) "
                         f"after epoch {sc.settings.change}", fontsize=9)
        else:
            ax.set_title(f"slow drift (rate {sc.settings.drift:g} per 10,000 samples)",
                         fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
