"""On-device inference figures: accuracy on the board vs the host, and speed.

Run: ``python -m phyff.perf.ondevice`` (``make bench-ondevice``).

accuracy: for each task and seed, the product's own commands: ``phyff
train``, ``phyff deploy``, ``phyff eval --on-device`` on an emulated board
whose medium seed follows the seed. Printed per task: the board's accuracy
(fixed point, its own answers) next to the host's float accuracy for the same
model and board, their mean difference, and the share of samples whose scores
the host's integer reference reproduced bit for bit.

speed (``--qemu``): one vowels7 model on the QEMU board; the time to classify
one test sample end to end (features in, class out) on the board, against the
host path through the same board (the host encodes, sends one QUERY per block
and computes the digital maps), in one run so the ratio compares like with
like; and the board's own split of its time (STATS: digital vs medium).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASKS = {  # dataset, board, training flags (digits: the demo's settings, make demo)
    "vowels7/acoustic": ("vowels7", "emu://acoustic?seed={seed}", []),
    "digits/optical": ("digits", "emu://optical?seed={seed}&n_in=80&n_out=40",
                       ["--preset", "optical", "--skip", "--lr", "2e-3", "--batch-size", "128",
                        "--epochs", "12"]),
}


def _phyff(argv: list[str]) -> str:
    """Run a phyff command as a user would (its own process); its standard output."""
    done = subprocess.run([sys.executable, "-m", "phyff.cli", *argv], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"phyff {' '.join(argv)} exited with {done.returncode}: "
                           f"{done.stderr.strip()}")
    return done.stdout


def _phyff_json(argv: list[str]) -> dict[str, Any]:
    """Run a phyff command and parse its --json output."""
    return json.loads(_phyff([*argv, "--json"]))


@dataclass
class SeedResult:
    seed: int
    host: float
    board: float
    bit_exact: float
    image_bytes: int


def run_seed(task: str, seed: int, workdir: Path) -> SeedResult:
    dataset, url_t, flags = TASKS[task]
    url = url_t.format(seed=seed + 1)
    run = workdir / f"{task.replace('/', '-')}-{seed}"
    board = f"{url}&model_file={run}.board"
    _phyff(["train", "--board", url, "--dataset", dataset, "--run", str(run),
            "--seed", str(seed), "--no-progress", "--overwrite", *flags])
    deployed = _phyff_json(["deploy", str(run), "--board", board, "--dataset", dataset])
    ev = _phyff_json(["eval", str(run), "--board", board, "--dataset", dataset,
                      "--on-device"])
    return SeedResult(seed, ev["host_float"]["accuracy"], ev["on_device_accuracy"],
                      ev["bit_exact"], deployed["image_bytes"])


def accuracy(tasks: list[str], seeds: int) -> dict[str, list[SeedResult]]:
    results: dict[str, list[SeedResult]] = {}
    with tempfile.TemporaryDirectory(prefix="phyff-ondevice-") as tmp:
        for task in tasks:
            results[task] = []
            for seed in range(seeds):
                t0 = time.perf_counter()
                r = run_seed(task, seed, Path(tmp))
                results[task].append(r)
                print(f"  {task} seed {seed}: board {100 * r.board:.2f} %, host "
                      f"{100 * r.host:.2f} %, bit-exact {100 * r.bit_exact:.0f} % "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return results


def accuracy_table(results: dict[str, list[SeedResult]]) -> str:
    lines = ["| task | seeds | on-device accuracy | host float accuracy | mean difference "
             "| worst seed | bit-exact scores | image |",
             "|---|---|---|---|---|---|---|---|"]
    for task, rs in results.items():
        board = [100 * r.board for r in rs]
        host = [100 * r.host for r in rs]
        diff = [b - h for b, h in zip(board, host, strict=True)]
        sd = statistics.stdev if len(rs) > 1 else (lambda _v: 0.0)
        lines.append(
            f"| {task} | {len(rs)} | {statistics.mean(board):.2f} +- {sd(board):.2f} % | "
            f"{statistics.mean(host):.2f} +- {sd(host):.2f} % | {statistics.mean(diff):+.2f} "
            f"points | {max(diff, key=abs):+.2f} | "
            f"{100 * statistics.mean(r.bit_exact for r in rs):.1f} % | "
            f"{rs[0].image_bytes:,} B |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phyff.perf.ondevice",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--task", action="append", choices=sorted(TASKS),
                        help="a task to run (default: all)")
    parser.add_argument("--qemu", action="store_true", help="also the QEMU speed figures")
    args = parser.parse_args(argv)
    if not os.environ.get("PHYFF_DATA_DIR") and "vowels7/acoustic" in (args.task or TASKS):
        print("vowels7 needs PHYFF_DATA_DIR (the vowel measurements)", file=sys.stderr)
        return 2
    results = accuracy(args.task or list(TASKS), args.seeds)
    print(accuracy_table(results))
    if args.qemu:
        from phyff.perf.ondevice_qemu import speed

        print(speed())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
