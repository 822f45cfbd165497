"""Throughput of the simulated media: samples per second of respond().

Run as ``python -m phyff.perf.media``. For each medium (default options, seed 0)
and each batch size: one warm-up call, then one timed run of consecutive calls
with fresh random drives, lasting at least MIN_SAMPLES samples and MIN_SECONDS
seconds (so a small batch is not dominated by timer resolution and a single
scheduling hiccup does not dominate a large one). Why it matters: the emulated
board answers a QUERY by calling respond(), so the medium bounds the board's
end-to-end sample rate (the acoustic medium must stay well above 100,000
samples/s at batch 1024).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from phyff.media import MEDIA, make_medium

DEFAULT_BATCHES = (1, 32, 1024)
MIN_SAMPLES = 1024
MIN_SECONDS = 0.3
_POOL = 8  # distinct drive batches cycled through during a run


def measure(name: str, batch: int, seed: int = 0) -> float:
    """Samples per second of respond() for medium `name` at batch size `batch`."""
    medium = make_medium(name, seed=seed)
    rng = np.random.default_rng(seed)
    pool = [rng.random((batch, medium.n_in)) for _ in range(_POOL)]
    medium.respond(pool[0])  # warm-up: first-call allocations, lazy imports
    calls = 0
    start = time.perf_counter()
    while True:
        medium.respond(pool[calls % _POOL])
        calls += 1
        elapsed = time.perf_counter() - start
        if calls * batch >= MIN_SAMPLES and elapsed >= MIN_SECONDS:
            return calls * batch / elapsed


def run(media: Sequence[str], batches: Sequence[int], seed: int = 0) -> dict[str, list[float]]:
    """Measure every (medium, batch) pair; returns samples/s per medium, in batch order."""
    return {name: [measure(name, b, seed) for b in batches] for name in media}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", nargs="+", default=list(MEDIA), choices=sorted(MEDIA))
    parser.add_argument("--batches", nargs="+", type=int, default=list(DEFAULT_BATCHES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if any(b < 1 for b in args.batches):
        parser.error("batch sizes must be >= 1")
    header = f"{'medium':<10} {'in->out':>8} " + " ".join(
        f"{'batch ' + str(b):>14}" for b in args.batches
    )
    print("respond() throughput, samples/s")
    print(header)
    for name in args.media:
        probe = make_medium(name, seed=args.seed)
        rates = [measure(name, b, args.seed) for b in args.batches]
        shape = f"{probe.n_in}->{probe.n_out}"
        print(f"{name:<10} {shape:>8} " + " ".join(f"{r:>14,.0f}" for r in rates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
