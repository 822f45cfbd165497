"""What ``phyff classify`` and ``phyff predict`` share: input flags and streamed answers.

Flags, per row (module docstring of phyff.phyll.transform for the range):

* ``out_of_range``: a feature lies beyond RANGE_FACTOR x its training max |x|;
* ``saturated``: a feature does not fit the model's fixed-point input (Q15
  scaled by 2^input_exp on a board), or the board flagged the row.

Flagged rows get one warning on stderr (how many, the first few by line and
column) and a field in ``--json``; ``--strict`` refuses them (exit 2) before
anything is classified. Answers are printed as each batch returns, so a link
that fails half-way loses only what it had not answered.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phyff.cli.rows import Rows
from phyff.phyll.transform import ABSENT, RANGE_FACTOR, InputTransform


@dataclass
class Inputs:
    """Rows in the model's input scale, and what is wrong with them, cell by cell."""

    x: NDArray[np.float64]
    out_of_range: NDArray[np.bool_]
    saturating: NDArray[np.bool_]
    unclipped: NDArray[np.float64]


def model_inputs(rows: Rows, transform: InputTransform | None, *, scaled: bool,
                 input_exp: int | None) -> Inputs:
    """Raw rows -> model inputs (or pre-scaled rows as they are), with their flags."""
    if scaled:
        x = rows.values.copy()
        unclipped = x
    else:
        if transform is None:
            raise ValueError(ABSENT)
        unclipped = transform.unclipped(rows.values)
        x = transform.apply(rows.values)
    far = (transform.out_of_range(unclipped) if transform is not None
           else np.zeros(x.shape, bool))
    if input_exp is None:
        sat = np.zeros(x.shape, bool)
    else:
        q = np.floor(np.abs(x) * 2.0 ** (15 - input_exp) + 0.5)
        sat = np.where(x < 0, q > 32768, q > 32767)
    return Inputs(x, far, sat, unclipped)


def describe_flags(rows: Rows, inputs: Inputs, transform: InputTransform | None,
                   input_exp: int | None, limit: int = 3) -> str | None:
    """One sentence about the flagged rows (None when there are none)."""
    flagged = inputs.out_of_range | inputs.saturating
    bad_rows = np.flatnonzero(flagged.any(axis=1))
    if not bad_rows.size:
        return None
    shown = []
    for r in bad_rows[:limit]:
        j = int(np.flatnonzero(flagged[r])[0])
        name = transform.name(j) if transform is not None else f"feature {j}"
        value = rows.values[r, j]
        if inputs.out_of_range[r, j] and transform is not None:
            lim = transform.limit[j]
            times = abs(inputs.unclipped[r, j]) / lim if lim > 0 else float("inf")
            why = f"{times:.3g}x the training max |x|"
        else:
            why = (f"{abs(inputs.x[r, j]):.4g} in the model's scale saturates the board's "
                   f"fixed-point input, which holds |x| < {2.0 ** (input_exp or 0):g}")
        shown.append(f"line {int(rows.lines[r])} {name!r} = {value:g} ({why})")
    factor = transform.range_factor if transform is not None else RANGE_FACTOR
    return (f"{bad_rows.size} of {len(rows.values)} rows lie outside the training range "
            f"(beyond {factor:g}x a feature's training max |x|) or saturate the model's "
            f"input: {'; '.join(shown)}" + (" ..." if bad_rows.size > limit else "")
            + "; their classes are guesses")


def check_flags(rows: Rows, inputs: Inputs, transform: InputTransform | None,
                input_exp: int | None, *, strict: bool) -> None:
    """--strict: refuse flagged rows (exit 2); else one warning on stderr."""
    text = describe_flags(rows, inputs, transform, input_exp)
    if text is None:
        return
    if strict:
        raise ValueError(f"{rows.where}: {text} (--strict refuses them; leave out --strict to "
                         f"classify them anyway)")
    print(f"phyff: warning: {text}", file=sys.stderr)


@dataclass
class Answers:
    """Prints each batch's classes as it comes (text) or gathers them (JSON)."""

    class_names: tuple[str, ...] | None
    indices: bool
    with_scores: bool
    as_json: bool
    classes: list[int] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    saturated: list[bool] = field(default_factory=list)

    def label(self, c: int) -> str:
        if self.indices or self.class_names is None or c >= len(self.class_names):
            return str(c)
        return self.class_names[c]

    def batch(self, classes: NDArray[np.int64], scores: NDArray[np.float64],
              saturated: NDArray[np.bool_]) -> None:
        self.classes += [int(c) for c in classes]
        self.saturated += [bool(s) for s in saturated]
        if self.as_json:
            self.scores += scores.tolist()
            return
        out = []
        for k, c in enumerate(classes):
            line = self.label(int(c))
            if self.with_scores:
                line += "," + ",".join(f"{v:.6g}" for v in scores[k])
            out.append(line)
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()

    def document(self, model: str, inputs: Inputs) -> dict[str, Any]:
        flagged = (inputs.out_of_range | inputs.saturating).any(axis=1)
        return {"model": model, "classes": [self.label(c) for c in self.classes],
                "indices": self.classes, "scores": self.scores,
                "out_of_range": inputs.out_of_range.any(axis=1).tolist(),
                "saturated": [bool(s or inputs.saturating[k].any())
                              for k, s in enumerate(self.saturated)],
                "flagged": int(flagged.sum())}
