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
from dataclasses import dataclass
from typing import Any

import numpy as np

from phyff.training.session import TrainConfig, train


class StandInLayer:
    """A seeded, deterministic nonlinear map standing in for a physical medium.

    readings = s / (1 + s) with s = gain * |drive @ A + b|^2 and complex Gaussian
    A, b: interference-like mixing (|.|^2, as a detector sees a wave) with mild
    saturation, so the map is nonlinear, unknown to the trainer and bounded in
    [0, 1). It checks its inputs like a strict device would and counts queries.
    """

    def __init__(self, n_in: int = 20, n_out: int = 20, seed: int = 0, gain: float = 1.0) -> None:
        rng = np.random.default_rng([seed, 7])
        self.n_in = n_in
        self.n_out = n_out
        self.gain = gain
        shape = (n_in, n_out)
        self.a = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
        self.b = 0.1 * (rng.standard_normal(n_out) + 1j * rng.standard_normal(n_out))
        self.identity: dict[str, Any] = {
            "board": "stand-in", "n_in": n_in, "n_out": n_out, "seed": seed, "gain": gain,
        }
        self.calls = 0
        self.rows = 0

    def measure(self, drive: np.ndarray) -> np.ndarray:
        """Readings (N, n_out) for drive patterns (N, n_in) in [0, 1]."""
        if drive.ndim != 2 or drive.shape[1] != self.n_in:
            raise ValueError(f"stand-in expects drive of shape (N, {self.n_in}), got {drive.shape}")
        if drive.size and (drive.min() < 0.0 or drive.max() > 1.0):
            raise ValueError("stand-in drive values must lie in [0, 1]")
        self.calls += 1
        self.rows += len(drive)
        u = drive @ self.a + self.b
        s = self.gain * (u.real**2 + u.imag**2)
        return s / (1.0 + s)


@dataclass
class SyntheticData:
    """Random class-structured data shaped like vowels7 (206/52 samples, 12 features)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str = "synthetic"


def synthetic_vowels(seed: int = 0, n_train: int = 206, n_test: int = 52, n_features: int = 12,
                     n_classes: int = 7, spread: float = 1.0) -> SyntheticData:
    """Gaussian clusters around random class centres, shifted to be non-negative."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features)) * 1.5
    y = rng.integers(0, n_classes, n_train + n_test)
    x = centres[y] + spread * rng.standard_normal((len(y), n_features))
    x -= x.min()
    return SyntheticData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_classes)


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
