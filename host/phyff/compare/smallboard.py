"""Targets of the small-board tasks: accuracy, a real board's time, and what physics adds.

A problem wider than a dev board trains over several device rows per
sample; whether that is worth doing depends on three figures computed here
from the benchmark's summaries (never typed in):

1. the query-frugal PhyLL's mean test accuracy against the task's target;
2. the projected wall time of its training queries on the real board the
   emulated one is shaped like (its baud rate, frame limit and the settle
   time of every row, `phyff.board.cost`), against the task's limit;
3. the physics verdict: PhyLL's margin over the same trainer without the
   physical layers on the same schedule (``phyll-frugal-nophys``) and over
   the extreme learning machine on the same rows (``elm``), each against
   twice the larger seed spread,
   always beside the ridge read-out of the raw features (``ridge-lsq``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phyff.board.cost import BoardFacts, LinkModel, format_seconds, project
from phyff.compare.summary import Summary, find


@dataclass(frozen=True)
class SmallBoardTarget:
    """What one small-board task must reach."""

    accuracy: float
    board: str  # shape name of the real board (phyff.emulator.shapes)
    max_seconds: float | None = None  # projected real-board training time limit


# The real boards' facts (docs/boards.md; phyff.emulator.shapes holds the same).
REAL_BOARDS: dict[str, tuple[str, int, int, int, int, int]] = {
    # name: (title, n_drive, n_sense, max_payload, settle_us, baud)
    "uno": ("Arduino Uno", 4, 6, 256, 50_000, 115_200),
    "esp32": ("ESP32 DevKit", 2, 6, 1024, 0, 115_200),
}

TARGETS: dict[str, SmallBoardTarget] = {
    "vowels7/uno": SmallBoardTarget(0.93, "uno", 600.0),
    "digits/uno": SmallBoardTarget(0.90, "uno"),
    "vowels7/esp32": SmallBoardTarget(0.90, "esp32"),
}
PHYLL = "phyll-frugal"


def real_board_seconds(queries: float, board: str) -> tuple[float, str]:
    """Projected wall time of `queries` device rows on the named real board, and its name."""
    title, n_drive, n_sense, payload, settle, baud = REAL_BOARDS[board]
    facts = BoardFacts(n_drive, n_sense, 0xFFFF, payload, settle, 1)
    link = LinkModel(float(baud), name=title)
    return project(int(queries), 0, facts, link).seconds, title


def small_board_targets(summaries: Sequence[Summary], tasks: Sequence[str]
                        ) -> list[tuple[str, bool | None, str]]:
    """(name, met, detail) per small-board task that ran (rules 1-3)."""
    out: list[tuple[str, bool | None, str]] = []
    for task in tasks:
        target = TARGETS.get(task)
        ph = find(summaries, task, PHYLL)
        if target is None or ph is None:
            continue
        acc_ok = ph.acc_mean >= target.accuracy
        seconds, title = real_board_seconds(ph.train_queries, target.board)
        time_ok = target.max_seconds is None or seconds <= target.max_seconds
        limit = (f" (limit {format_seconds(target.max_seconds)})"
                 if target.max_seconds is not None else "")
        out.append((
            f"{task}: multi-row PhyLL >= {100 * target.accuracy:.0f} %"
            + (f", real {title} training <= {format_seconds(target.max_seconds)}"
               if target.max_seconds is not None else ""),
            acc_ok and time_ok,
            f"{100 * ph.acc_mean:.1f} ± {100 * ph.acc_std:.1f} % ({ph.seeds} seeds); "
            f"{ph.train_queries:,.0f} training rows: {format_seconds(seconds)} on a real "
            f"{title}{limit}"))
        out.append((f"{task}: physics on the small board",
                     *_physics_verdict(summaries, task, ph)))
    return out


def _physics_verdict(summaries: Sequence[Summary], task: str, ph: Summary
                     ) -> tuple[bool | None, str]:
    """Margins over phyll-frugal-nophys and elm against 2x the spread, beside ridge-lsq."""
    parts, met = [], []
    for other in ("phyll-frugal-nophys", "elm"):
        s = find(summaries, task, other)
        if s is None:
            continue
        margin = 100 * (ph.acc_mean - s.acc_mean)
        spread = 100 * max(ph.acc_std, s.acc_std)
        ok = margin > 2 * spread and ph.seeds > 1
        met.append(ok)
        parts.append(f"vs {other} {100 * s.acc_mean:.1f} %: margin {margin:+.1f} points vs "
                     f"2 x spread {2 * spread:.1f} ({'physics helps' if ok else 'not shown'})")
    lin = find(summaries, task, "ridge-lsq")
    if lin is not None:
        parts.append(f"ridge-lsq (ridge on the raw features) {100 * lin.acc_mean:.1f} %")
    for s in summaries:  # a logistic-regression baseline, whatever its method name
        if s.task == task and s.method.startswith("log"):
            parts.append(f"{s.method} {100 * s.acc_mean:.1f} %")
    return (all(met) if met else None), "; ".join(parts) or "not run"
