"""Baselines that PhyLL is measured against, on the same board, data and seeds.

Why a package of its own: "is forward-forward training worth it on my medium?"
can only be answered against the alternatives a user would otherwise pick,
run through the same hardware and counted the same way (`phyff.phyll.accounting`):

- `backprop`: end-to-end backpropagation through the physical layers, with
  the backward pass from a fitted digital twin (physics-aware training, `twin`)
  or from the emulator's exact medium (ideal backprop, `jacobian`);
- `elm`: fixed physical layers with a ridge read-out (and the read-out alone);
- `phyll`: the product's trainer and its ablations;
- `methods`: all of them by name, as `run_method(name, task, data, seed)`.
"""

from phyff.compare.baselines.common import BenchContext, RunResult
from phyff.compare.baselines.methods import DESCRIPTIONS, METHODS, Task, run_method

__all__ = ["DESCRIPTIONS", "METHODS", "BenchContext", "RunResult", "Task", "run_method"]
