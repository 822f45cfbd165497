"""The query-budget figures of the benchmark: targets and accuracy against device queries.

A user with real hardware pays for every device query, so the benchmark
reports each method's queries in total, training and final test evaluation
together (PAT's twin data included), and checks the query-budget targets
from the measured runs:

- vowels7 on the acoustic medium: the query-frugal PhyLL reaches a mean test
  accuracy >= 95 % with <= 5,000 queries in total, >= 10x fewer than PAT;
- digits and fashion-mnist-7 on the optical medium: within 1 point of the
  paper-schedule PhyLL with at most half of PAT's queries;
- one-pass inference within 1 point of goodness-argmax inference (the same
  trained models, both inferences) on vowels7 and digits;
- the noisy, drifting cavity: the cached schedule with re-measurement within
  2 points of the paper schedule.

The QEMU figure (a vowels7 run through the real firmware image) is measured
by the HIL suite, not here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from phyff.compare.baselines.common import RunResult
from phyff.compare.baselines.methods import Task
from phyff.compare.summary import Summary, find, fmt_count

FRUGAL = "phyll-frugal"
PLOT_TASKS = ("vowels7/acoustic", "digits/optical")
PLOT_METHODS = ("phyll-frugal", "phyll", "pat", "backprop", "elm")


def total_queries(r: RunResult) -> int:
    """Device queries of one run: training, twin data and the final test evaluation."""
    return r.train_queries + r.twin_queries + r.eval_queries


def runs_of(results: Sequence[RunResult], task: str, method: str) -> list[RunResult]:
    """The runs of one (task, method) cell."""
    return [r for r in results if r.extra.get("task") == task and r.method == method]


def mean_total(results: Sequence[RunResult], task: str, method: str) -> float | None:
    """Mean total device queries of a cell, None when it was not run."""
    runs = runs_of(results, task, method)
    return statistics.fmean(total_queries(r) for r in runs) if runs else None


def budget_targets(summaries: Sequence[Summary], results: Sequence[RunResult]) -> list[tuple[
        str, bool | None, str]]:
    """(name, met or None when not run, measured detail) for each query-budget target."""
    out: list[tuple[str, bool | None, str]] = []
    task = "vowels7/acoustic"
    name = (f"{task}: query-frugal PhyLL mean test accuracy >= 95 % with <= 5,000 device "
            "queries in total (training + final evaluation), >= 10x fewer than PAT "
            "(twin data included)")
    fr, pat = find(summaries, task, FRUGAL), find(summaries, task, "pat")
    fr_q, pat_q = mean_total(results, task, FRUGAL), mean_total(results, task, "pat")
    if fr is None or fr_q is None:
        out.append((name, None, "not run"))
    else:
        acc_ok, q_ok = fr.acc_mean >= 0.95, fr_q <= 5000
        ratio = (pat_q / fr_q) if pat_q else None
        ratio_ok = ratio is not None and ratio >= 10
        out.append((name, (acc_ok and q_ok and ratio_ok) if pat_q is not None else None,
                    f"{100 * fr.acc_mean:.1f} +- {100 * fr.acc_std:.1f} % over {fr.seeds} "
                    f"seeds ({'ok' if acc_ok else 'NO'}); {fr_q:,.0f} queries "
                    f"({'ok' if q_ok else 'NO'}); PAT {fmt_count(pat_q or float('nan'))} = "
                    + (f"{ratio:.1f}x ({'ok' if ratio_ok else 'NO'})" if ratio else
                       "not run") + (f", PAT {100 * pat.acc_mean:.1f} %" if pat else "")))
    for task in ("digits/optical", "fashion7/optical"):
        name = (f"{task}: query-frugal PhyLL within 1 point of the paper-schedule PhyLL with "
                "at most half of PAT's queries (training + evaluation; twin included)")
        fr, ph = find(summaries, task, FRUGAL), find(summaries, task, "phyll")
        fr_q, pat_q = mean_total(results, task, FRUGAL), mean_total(results, task, "pat")
        if fr is None or ph is None or fr_q is None or pat_q is None:
            out.append((name, None, "not run"))
            continue
        gap = 100 * (fr.acc_mean - ph.acc_mean)
        acc_ok, q_ok = gap >= -1.0, fr_q <= 0.5 * pat_q
        out.append((name, acc_ok and q_ok,
                    f"{100 * fr.acc_mean:.1f} % vs {100 * ph.acc_mean:.1f} % ({gap:+.1f} points, "
                    f"{'ok' if acc_ok else 'NO'}); queries {fmt_count(fr_q)} vs PAT "
                    f"{fmt_count(pat_q)} = {fr_q / pat_q:.2f}x ({'ok' if q_ok else 'NO'})"))
    details, met, measured = [], True, False
    for task in ("vowels7/acoustic", "digits/optical"):
        runs = [r for r in runs_of(results, task, FRUGAL) if "acc_goodness" in r.extra]
        if not runs:
            continue
        measured = True
        one = statistics.fmean(r.test_acc for r in runs)
        good = statistics.fmean(float(r.extra["acc_goodness"]) for r in runs)
        gap = 100 * (one - good)
        ok = gap >= -1.0
        met &= ok
        per = statistics.fmean(r.eval_queries for r in runs) / max(
            1, int(runs[0].extra.get("n_test", 1)))
        details.append(f"{task}: one-pass {100 * one:.1f} % vs goodness {100 * good:.1f} % "
                       f"({gap:+.1f} points, {'ok' if ok else 'NO'}; {per:.0f} queries per "
                       "sample instead of C x that)")
    out.append(("one-pass inference within 1 point of goodness-argmax inference on vowels7 "
                "and digits (same models), K instead of C x K queries per sample",
                met if measured else None, "; ".join(details) or "not run"))
    task = "vowels7/acoustic-noisy"
    name = (f"{task} (noise and drift turned up): the cached schedule with re-measurement "
            "within 2 points of the paper schedule")
    r10, ph, fr = (find(summaries, task, m) for m in ("phyll-frugal-r10", "phyll", FRUGAL))
    if r10 is None or ph is None:
        out.append((name, None, "not run"))
    else:
        gap = 100 * (r10.acc_mean - ph.acc_mean)
        extra = f"; without re-measurement {100 * fr.acc_mean:.1f} %" if fr else ""
        q = {m: mean_total(results, task, m) for m in ("phyll-frugal-r10", "phyll")}
        out.append((name, gap >= -2.0,
                    f"re-measured every 10 epochs {100 * r10.acc_mean:.1f} % "
                    f"({fmt_count(q['phyll-frugal-r10'] or 0)} queries) vs paper schedule "
                    f"{100 * ph.acc_mean:.1f} % ({fmt_count(q['phyll'] or 0)} queries): "
                    f"{gap:+.1f} points{extra}"))
    out.append(("QEMU (the real firmware image): a vowels7 run to >= 93 % test accuracy, "
                "training plus evaluation, in <= 60 s wall", None,
                "measured by the HIL suite: `make hil HIL_TARGET=qemu` "
                "(hil/test_training.py::test_qemu_vowels7_budget_run)"))
    return out


def plot_accuracy_vs_queries(results: Sequence[RunResult], path: Path) -> Path | None:
    """Test accuracy against total device queries, one point per seed, per task."""
    tasks = [t for t in PLOT_TASKS if any(r.extra.get("task") == t for r in results)]
    if not tasks:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(tasks), 4.3), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=True):
        for i, method in enumerate(PLOT_METHODS):
            runs = runs_of(results, task, method)
            if not runs:
                continue
            q = [max(1, total_queries(r)) for r in runs]
            acc = [100 * r.test_acc for r in runs]
            ax.scatter(q, acc, s=14, alpha=0.6, color=f"C{i}", lw=0)
            ax.scatter([statistics.fmean(q)], [statistics.fmean(acc)], s=70, marker="D",
                       color=f"C{i}", edgecolor="k", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("device queries (training + twin data + test evaluation)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(task, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    # One legend below the panels: inside an axes it covers some task's points.
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8,
               title="diamond: mean over seeds; dots: one run each", title_fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def cost_table(tasks: Sequence[Task], results: Sequence[RunResult]) -> str:
    """Markdown: each method's mean total device queries and their wall time on UART boards.

    The projection (`phyff.board.cost`) uses the task's board (caps and
    configuration of the emulated board, so settle time 0 and full frames)
    at 115,200 and 921,600 baud; it counts full frames only (the runs' call
    counts are not kept), so it is a lower bound by at most one frame per call.
    """
    from phyff.board.client import Board
    from phyff.board.cost import REFERENCE_BAUDS, BoardFacts, LinkModel, format_seconds, project

    lines = ["| task | method | device queries (training + twin + test) | "
             + " | ".join(f"wall time at {b:,} baud" for b in REFERENCE_BAUDS) + " |",
             "|---|---|---|" + "---|" * len(REFERENCE_BAUDS)]
    for task in tasks:
        name, url = task.name, task.url
        methods = list(dict.fromkeys(r.method for r in results if r.extra.get("task") == name))
        if not methods:
            continue
        with Board.open(url) as board:
            facts = BoardFacts.of(board)
        for method in methods:
            q = mean_total(results, name, method) or 0.0
            times = [format_seconds(project(round(q), 0, facts, LinkModel.uart(b)).seconds)
                     for b in REFERENCE_BAUDS]
            lines.append(f"| {name} | {method} | {q:,.0f} | " + " | ".join(times) + " |")
    return "\n".join(lines)
