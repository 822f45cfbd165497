"""The verdict a user needs per task: does the medium help?

Whether a physical layer is worth building is decided against the best model
that needs no medium, at no more digital work per prediction: a medium that
only matches a logistic regression buys nothing. For every task this compares

- PhyLL as the product runs it (``phyll-frugal``: layer-wise schedule,
  one-pass inference), or the paper's schedule (``phyll``) when only that ran,
- with the best *digital* method of the same task: any method whose training
  and evaluation made no device query at all (the scikit-learn baselines,
  the ridge classifier, PhyLL without physical layers), among those whose
  digital multiply-adds per prediction do not exceed PhyLL's.

The margin (difference of mean test accuracies over seeds) is judged against
twice the seed spread (the larger of the two standard deviations over seeds):
"helps" above it, "hurts" below its negative, "no clear difference" within.
Nothing here knows task or medium names beyond the PhyLL method names, so the
same verdict covers the built-in tasks, a user's CSV data and plugin media.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phyff.compare.baselines.common import RunResult
from phyff.compare.budget import mean_total
from phyff.compare.summary import Summary, find, fmt_count

# The PhyLL a user runs (the product's default first), as the verdict's subject.
PHYLL_ORDER: tuple[str, ...] = ("phyll-frugal", "phyll")
# The simplest use of a medium, judged the same way: fixed physical blocks, ridge read-out.
ELM_ORDER: tuple[str, ...] = ("elm",)
HELPS, HURTS, UNCLEAR, UNDECIDED = ("helps", "hurts", "no clear difference",
                                    "one seed: no spread to judge by")
# The bar for "physics helps": over this many seeds at least.
VERDICT_SEEDS = 10


@dataclass(frozen=True)
class Verdict:
    """One task's answer, with the numbers behind it."""

    task: str
    phyll: Summary
    best: Summary | None  # best digital method at <= PhyLL's MACs per prediction
    queries: float  # PhyLL's device queries in total (training + test evaluation)

    @property
    def margin(self) -> float:
        """PhyLL minus the best digital baseline, in accuracy (fraction)."""
        return float("nan") if self.best is None else self.phyll.acc_mean - self.best.acc_mean

    @property
    def spread(self) -> float:
        """The larger standard deviation over seeds of the two."""
        best_std = 0.0 if self.best is None else self.best.acc_std
        return max(self.phyll.acc_std, best_std)

    @property
    def seeds(self) -> int:
        return min(self.phyll.seeds, self.best.seeds if self.best else self.phyll.seeds)

    @property
    def answer(self) -> str:
        if self.best is None:
            return "no digital baseline run"
        if self.phyll.seeds < 2:
            return UNDECIDED
        if self.margin > 2 * self.spread:
            return HELPS
        if self.margin < -2 * self.spread:
            return HURTS
        return UNCLEAR


def is_digital(s: Summary) -> bool:
    """True when a method made no device query, neither training nor predicting."""
    return s.queries == 0 and s.eval_queries_per_sample == 0


def verdict_for(summaries: Sequence[Summary], results: Sequence[RunResult],
                task: str, subjects: Sequence[str] = PHYLL_ORDER) -> Verdict | None:
    """The verdict of one task for the first of `subjects` that ran on it with its medium
    (None when none did)."""
    phyll = next((s for m in subjects if (s := find(summaries, task, m)) is not None
                  and not is_digital(s)), None)
    if phyll is None:
        return None
    budget = phyll.eval_macs_per_sample
    digital = [s for s in summaries if s.task == task and is_digital(s)
               and s.eval_macs_per_sample <= budget]
    best = max(digital, key=lambda s: s.acc_mean, default=None)
    queries = mean_total(results, task, phyll.method) or 0.0
    return Verdict(task, phyll, best, queries)


def verdicts(summaries: Sequence[Summary], results: Sequence[RunResult],
             tasks: Sequence[str], subjects: Sequence[str] = PHYLL_ORDER) -> list[Verdict]:
    """The verdict of every task that ran one of `subjects` with its medium, in task order."""
    return [v for t in tasks
            if (v := verdict_for(summaries, results, t, subjects)) is not None]


def verdict_table(rows: Sequence[Verdict], subject: str = "PhyLL") -> str:
    """Markdown: one row per task."""
    lines = [f"| task | {subject} (%) | its MACs / prediction | its device queries | best digital "
             "model at <= those MACs (%) | its MACs / prediction | margin (points) "
             "| 2 x seed spread | seeds | does the medium help? |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for v in rows:
        p, b = v.phyll, v.best
        best = "-" if b is None else f"`{b.method}` {_acc(b)}"
        best_macs = "-" if b is None else fmt_count(b.eval_macs_per_sample)
        lines.append(
            f"| {v.task} | `{p.method}` {_acc(p)} | {fmt_count(p.eval_macs_per_sample)} "
            f"| {fmt_count(v.queries)} | {best} | {best_macs} | {100 * v.margin:+.1f} "
            f"| {200 * v.spread:.1f} | {v.seeds} | **{v.answer}** |")
    return "\n".join(lines)


def physics_helps_target(rows: Sequence[Verdict], subject: str = "PhyLL"
                         ) -> tuple[str, bool | None, str]:
    """(name, met, detail): `subject` beats the best digital model somewhere, by > 2x spread."""
    name = (f"{subject} beats the best digital model at no more digital MACs per prediction by "
            f"more than twice the seed spread, over >= {VERDICT_SEEDS} seeds, on at least "
            "one (task, medium)")
    if not rows:
        return name, None, "not run"
    wins = [v for v in rows if v.answer == HELPS and v.seeds >= VERDICT_SEEDS]
    detail = "; ".join(
        f"{v.task}: {v.answer} ({v.phyll.method} {_acc(v.phyll)} vs "
        + ("no digital baseline" if v.best is None else f"{v.best.method} {_acc(v.best)}")
        + f", {v.seeds} seeds)" for v in rows)
    return name, bool(wins), detail


def _acc(s: Summary) -> str:
    return f"{100 * s.acc_mean:.1f} +- {100 * s.acc_std:.1f}"


def plain_words(rows: Sequence[Verdict], subject: str = "PhyLL") -> str:
    """One paragraph saying what the verdicts show, for the top of the report."""
    if not rows:
        return f"No task ran {subject} with a physical medium and a digital baseline."
    groups: dict[str, list[str]] = {}
    for v in rows:
        groups.setdefault(v.answer, []).append(v.task)
    n = len(rows)
    parts = [f"In plain words: of the {n} task{'s' if n != 1 else ''} below,"]
    said = []
    for answer, text in ((HURTS, "a digital model that needs no device and no more digital "
                                 "work per prediction is more accurate than {s}"),
                         (UNCLEAR, "{s} and the best such digital model are level within "
                                   "twice the seed spread"),
                         (HELPS, "{s} is more accurate than every such digital model by "
                                 "more than twice the seed spread")):
        tasks = groups.get(answer, [])
        if tasks:
            said.append(f"on {len(tasks)} ({', '.join(tasks)}) " + text.format(s=subject))
    rest = [t for a, ts in groups.items() if a not in (HURTS, UNCLEAR, HELPS) for t in ts]
    if rest:
        said.append(f"on {len(rest)} ({', '.join(rest)}) there is no verdict (one seed, or "
                    "no digital baseline ran)")
    return " ".join(parts) + " " + "; ".join(said) + "."
