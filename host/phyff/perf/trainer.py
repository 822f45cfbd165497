"""Benchmark of the trainer's digital cost: ``python -m phyff.perf.trainer``.

The reference PyTorch implementation spends about 42 ms of digital work per
epoch on acoustic vowels (2 blocks, T = 10, full batch of 206, 20-wide
blocks) on a 2-core CPU. This benchmark runs the same configuration through
`phyff.training.session.train` with a deterministic stand-in for the medium and random
data shaped like vowels7, and prints per-epoch digital, physical and
evaluation time, MACs and device queries. Accuracy on random data means
nothing, so it is not printed; when PHYFF_DATA_DIR is set and `phyff.datasets`
is available, test accuracy on the real vowels7 split over 5 seeds is added.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import numpy as np

from phyff.phyll.standin import StandInLayer, synthetic_vowels
from phyff.training.session import TrainConfig, train


def bench(epochs: int = 100, warmup: int = 5, dtype: str = "float64") -> dict[str, float]:
    """Per-epoch figures of the acoustic-vowels configuration (after warm-up).

    Times are medians over epochs; "_best" keys are the 10th percentile, a
    steadier figure on a shared machine.
    """
    config = TrainConfig.from_preset("acoustic", epochs=epochs + warmup, dtype=dtype)
    layers = [StandInLayer(seed=1), StandInLayer(seed=2)]
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(config, layers, synthetic_vowels(), run_dir, progress=False)
    rows = result.history[warmup:]
    out: dict[str, float] = {}
    for key in ("digital_s", "physical_s", "eval_s", "eval_physical_s", "wall_s"):
        values = np.array([float(r[key]) for r in rows]) * 1e3
        name = key.replace("_s", "_ms")
        out[name] = float(np.median(values))
        out[name + "_best"] = float(np.percentile(values, 10))
    for key in ("macs", "eval_macs", "queries", "eval_queries", "measure_calls"):
        out[key] = float(np.median([float(r[key]) for r in rows]))
    return out


def vowels_accuracy(seeds: int = 5) -> list[float] | None:
    """Test accuracy on vowels7 with the stand-in layer, or None if data are unavailable."""
    if not os.environ.get("PHYFF_DATA_DIR"):
        return None
    try:
        from phyff.datasets import load_dataset
    except ImportError:
        return None
    data = load_dataset("vowels7")
    accs = []
    for seed in range(seeds):
        config = TrainConfig.from_preset("acoustic", seed=seed, eval_every=1000)
        layers = [StandInLayer(seed=1), StandInLayer(seed=2)]
        with tempfile.TemporaryDirectory() as run_dir:
            accs.append(train(config, layers, data, run_dir, progress=False).test_acc)
    return accs


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="timed epochs (after warm-up)")
    args = parser.parse_args(argv)
    print("acoustic vowels7 shape: 2 blocks, T=10, full batch 206, 20-wide, stand-in layer")
    print("per epoch, median (10th percentile):")
    fig = {}
    for dtype in ("float64", "float32"):
        fig = bench(args.epochs, dtype=dtype)
        print(f"  [{dtype}] digital (training)    {_ms(fig, 'digital_ms')}   (reference ~42 ms)")
        print(f"  [{dtype}] physical (training)   {_ms(fig, 'physical_ms')}   (stand-in layer)")
        print(f"  [{dtype}] evaluation train+test {_ms(fig, 'eval_ms')}   "
              f"(physical {fig['eval_physical_ms']:.2f} ms)")
        print(f"  [{dtype}] wall incl. evaluation {_ms(fig, 'wall_ms')}")
    print(f"  digital MACs     {fig['macs']:12,.0f} training, {fig['eval_macs']:,.0f} evaluation")
    print(f"  device queries   {fig['queries']:12,.0f} training "
          f"({fig['measure_calls']:.0f} measure calls), {fig['eval_queries']:,.0f} evaluation")
    accs = vowels_accuracy()
    if accs is not None:
        pct = [100 * a for a in accs]
        print(f"vowels7 test accuracy, stand-in layer, 200 epochs, {len(pct)} seeds: "
              + ", ".join(f"{p:.1f}" for p in pct) + f"  (mean {statistics.mean(pct):.1f} %)")


def _ms(fig: dict[str, float], key: str) -> str:
    return f"{fig[key]:7.2f} ms ({fig[key + '_best']:5.2f})"


if __name__ == "__main__":
    main()
