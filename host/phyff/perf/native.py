"""Figures for the shared C through cffi: Q15 kernels and the frame codec.

Run: ``python -m phyff.perf.native``. Each figure is the best of a few
repeats in one run, with numpy's own integer matmul measured on the same data
right beside it, so the ratio is meaningful even on a noisy machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from phyff.protocol import fixed, wire


def best_time(fn: Callable[[], object], repeats: int = 7, min_time: float = 0.05) -> float:
    """Best per-call time over `repeats` rounds of enough calls to last `min_time`."""
    fn()
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            break
        calls *= 2
    best = dt / calls
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def bench_matvec(n: int, rng: np.random.Generator) -> None:
    w = rng.integers(-32768, 32768, size=(n, n), dtype=np.int16)
    x = rng.integers(-32768, 32768, size=n, dtype=np.int16)
    w32 = w.astype(np.int32)
    x32 = x.astype(np.int32)
    w64 = w.astype(np.int64)
    x64 = x.astype(np.int64)
    assert np.array_equal(fixed.matvec_q15_acc64(w, x), w64 @ x64)
    macs = n * n
    t_c = best_time(lambda: fixed.matvec_q15(w, x))
    t_c64 = best_time(lambda: fixed.matvec_q15_acc64(w, x))
    t_np32 = best_time(lambda: w32 @ x32)
    t_np64 = best_time(lambda: w64 @ x64)
    print(f"matvec {n}x{n}:  cffi Q15 {macs / t_c / 1e6:9.1f} MMAC/s | "
          f"cffi acc64 {macs / t_c64 / 1e6:9.1f} | numpy int32 {macs / t_np32 / 1e6:9.1f} | "
          f"numpy int64 {macs / t_np64 / 1e6:9.1f} | ratio cffi/numpy-int32 "
          f"{t_np32 / t_c:5.2f}x")


def bench_dot(n: int, rng: np.random.Generator) -> None:
    a = rng.integers(-32768, 32768, size=n, dtype=np.int16)
    b = rng.integers(-32768, 32768, size=n, dtype=np.int16)
    a32, b32 = a.astype(np.int32), b.astype(np.int32)
    t_c = best_time(lambda: fixed.dot_q15(a, b))
    t_np = best_time(lambda: a32 @ b32)
    print(f"dot {n}:          cffi Q15 {n / t_c / 1e6:9.1f} MMAC/s | numpy int32 "
          f"{n / t_np / 1e6:9.1f} | ratio {t_np / t_c:5.2f}x")


def bench_frames(n_samples: int, n_channels: int, rng: np.random.Generator) -> None:
    values = rng.integers(0, 32768, size=(n_samples, n_channels), dtype=np.int16)
    payload = wire.QueryHead(n_samples, n_channels).pack() + wire.pack_samples(values)
    header = wire.Header(cmd=wire.Cmd.QUERY, seq=1)
    frame = wire.encode_frame(header, payload)

    def roundtrip() -> None:
        f = wire.encode_frame(header, payload)
        wire.decode_frame(f[:-1])

    t = best_time(roundtrip)
    print(f"frame {n_samples}x{n_channels}: payload {len(payload)} B, wire {len(frame)} B, "
          f"overhead {len(frame) / len(payload):.4f}, encode+decode "
          f"{len(payload) / t / 1e6:7.1f} MB/s ({t * 1e6:.1f} us)")


def main() -> None:
    rng = np.random.default_rng(0)
    print("phyff shared C through cffi (one run; ratios compare within this run)")
    for n in (64, 1024):
        bench_matvec(n, rng)
    bench_dot(4096, rng)
    for n in (1, 32, 64):
        bench_frames(n, 20, rng)


if __name__ == "__main__":
    main()
