"""Cost accounting: digital multiply-adds and physical device queries.

The point of PhyLL is that it is cheap in two currencies at once: few device
queries (the physical outputs of a batch are measured once and reused for all
inner optimiser steps) and little digital arithmetic (small linear maps, no
backpropagation through a model of the hardware). To back such claims with
numbers, every part of the trainer reports its cost into one `Meter`.

Counting rule (used everywhere in phyff): one MAC is one multiplication or
division of two floating-point numbers, together with the addition that may
accompany it. Additions, subtractions, comparisons, abs, sqrt, exp and log are
not counted, nor is scalar bookkeeping in Python (averaging a reported loss).
A matrix product (m, k) @ (k, n) therefore counts m*k*n. Each
module counts the arithmetic it actually performs, right next to the code that
performs it, from the shapes of the arrays involved.

A physical query is one row (one drive pattern) sent to a physical layer's
`measure()`; a measure call may carry many rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Meter:
    """Running totals of digital and physical cost.

    Attributes:
        macs: digital multiply-adds (see the module docstring for the rule).
        queries: rows sent to physical layers (one row = one physical pass).
        measure_calls: number of `measure()` calls (device round trips).
        physical_s: wall time spent inside `measure()`, in seconds.
    """

    macs: int = 0
    queries: int = 0
    measure_calls: int = 0
    physical_s: float = 0.0

    def copy(self) -> Meter:
        """A snapshot, so a caller can later ask what happened since."""
        return Meter(self.macs, self.queries, self.measure_calls, self.physical_s)

    def since(self, earlier: Meter) -> Meter:
        """The cost accumulated between `earlier` (a snapshot) and now."""
        return Meter(
            self.macs - earlier.macs,
            self.queries - earlier.queries,
            self.measure_calls - earlier.measure_calls,
            self.physical_s - earlier.physical_s,
        )

    def as_dict(self) -> dict[str, float | int]:
        """Plain-JSON form, for metrics files."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
