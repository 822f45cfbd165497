"""`phyff sweep`: tune training settings on every core, a Dask cluster or a pool of boards.

The search itself lives in `phyff.compare.sweep`; this module reads the file
or the flags, runs the jobs and prints the best configuration per dataset.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from phyff._fileio import write_atomic
from phyff._text import plural
from phyff.cli.bench import add_execution_flags, execution_from_args, progress_printer
from phyff.cli.common import DATA_HELP, EXIT_FAILED, EXIT_OK, AddCommand, print_json

EXAMPLE = """\
example sweep.toml:
  datasets = ["digits"]
  boards = ["emu://optical?seed=1&n_in=80&n_out=40"]
  preset = "optical"
  seeds = 2
  [base]
  epochs = 5
  [grid]
  lr = [1e-3, 2e-3, 5e-3]
"""


def add_commands(add: AddCommand) -> None:
    """Register `phyff sweep`."""
    p = add("sweep", cmd_sweep, "grid or random search over training settings x seeds x "
            "boards, scored on a validation split of the training data (never the test set)")
    p.add_argument("file", nargs="?", type=Path,
                   help="sweep file (TOML, or JSON with a .json suffix); or give the sweep "
                        "with the flags below")
    p.add_argument("--dataset", action="append", help="dataset (repeatable)")
    p.add_argument("--board", action="append",
                   help="board URL (repeatable); pool:// or pool://MEDIUM takes a board "
                        "from the workers' pool")
    p.add_argument("--preset", help="training preset the settings start from")
    p.add_argument("--method",
                   help="train (default: each configuration exactly as `phyff train` runs "
                        "it), or a benchmark variant that changes the settings: phyll (the "
                        "paper's schedule), phyll-frugal, phyll-noskip, ...")
    p.add_argument("--seeds", type=int, help="seeds per configuration (default 1)")
    p.add_argument("--validation", type=float,
                   help="fraction of the training data held out for scoring (default 0.2)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="fixed training setting (repeatable), e.g. --set epochs=5")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="swept training setting (repeatable), e.g. --grid lr=1e-3,2e-3")
    p.add_argument("--data", type=Path, help=DATA_HELP)
    p.add_argument("--out", type=Path,
                   help="directory for results.jsonl (written run by run), sweep.csv, "
                        "best.json, sweep.png (default runs/sweep-<time>)")
    add_execution_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or lines")
    p.epilog = EXAMPLE + (p.epilog or "")


def _value(text: str) -> Any:
    """A flag value as JSON when it parses (numbers, true/false, lists), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{flag} wants FIELD=VALUE, got {item!r}")
        out.append((name.strip(), value.strip()))
    return out


def raw_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep file's content, with the flags given on top (flags win)."""
    raw: dict[str, Any] = {}
    if args.file is not None:
        from phyff.compare.sweep import parse_spec, read_spec_file

        raw = read_spec_file(args.file)
        parse_spec(raw, args.file.name)  # validates the file alone, naming it in errors
    elif not (args.dataset and args.board):
        raise ValueError("give a sweep file, or at least --dataset and --board (and --grid "
                         "FIELD=V1,V2 to sweep something); see `phyff sweep --help`")
    for key, value in (("datasets", args.dataset), ("boards", args.board),
                       ("preset", args.preset), ("method", args.method),
                       ("seeds", args.seeds), ("validation", args.validation),
                       ("data_dir", str(args.data.resolve()) if args.data else None)):
        if value is not None:
            raw[key] = value
    if args.set:
        raw["base"] = {**raw.get("base", {}),
                       **{k: _value(v) for k, v in _pairs(args.set, "--set")}}
    if args.grid:
        raw["grid"] = {**raw.get("grid", {}),
                       **{k: [_value(x) for x in v.split(",") if x.strip()]
                          for k, v in _pairs(args.grid, "--grid")}}
    return raw


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep, write its files, print the best configuration per dataset."""
    from phyff.compare.rawio import ResultStore
    from phyff.compare.runner import IncompleteRun, run_jobs_stored
    from phyff.compare.sweep import (
        best_per_dataset,
        parse_spec,
        score,
        sweep_jobs,
        ties_with_best,
        write_outputs,
    )

    spec = parse_spec(raw_from_args(args), str(args.file.name) if args.file else "flags")
    if args.resume and not args.out:
        raise ValueError("--resume continues a sweep directory: give it with --out DIR")
    execution = execution_from_args(args)
    out = args.out or Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    quiet = args.quiet or args.json
    progress = progress_printer(quiet)
    jobs = sweep_jobs(spec)
    store = ResultStore(out, resume=args.resume)
    write_atomic(out / "sweep.json", json.dumps({
        "datasets": spec.datasets, "boards": spec.boards, "seeds": spec.seeds,
        "preset": spec.preset, "method": spec.method, "validation": spec.validation,
        "split_seed": spec.split_seed, "base": spec.base, "grid": spec.grid,
        "random": spec.random, "samples": spec.samples, "random_seed": spec.random_seed},
        indent=2, default=list))
    t0 = time.perf_counter()
    failed: IncompleteRun | None = None
    try:
        done = run_jobs_stored(jobs, execution, store, progress, bar=not quiet, desc="sweep")
    except IncompleteRun as exc:
        failed = exc
        done = dict(store.done)
    scores = score(jobs, done)
    paths = write_outputs(spec, scores, out) if scores else {}
    best = best_per_dataset(scores)
    ties = ties_with_best(scores)
    seconds = time.perf_counter() - t0
    if args.json:
        print_json({
            "seconds": round(seconds, 2), "runs": len(jobs), "completed": len(
                [j for j in jobs if j.key in done]),
            "failed": [{"run": f.label, "error": f.error} for f in failed.failures]
            if failed else [],
            "files": {k: str(v) for k, v in {**paths, "results": store.path}.items()},
            "configurations": [s.as_row() for s in scores],
            "results": {j.key: done[j.key] for j in jobs if j.key in done},
            "best": {d: {"board": s.board, "params": s.params, "val_acc_mean": s.mean,
                         "val_acc_std": s.std,
                         "tied_with": [{"board": t.board, "params": t.params}
                                       for t in ties[d]]} for d, s in best.items()},
        })
    else:
        for dataset, s in best.items():
            print(f"{dataset}: best {100 * s.mean:.1f} ± {100 * s.std:.1f} % validation "
                  f"accuracy ({plural(len(s.accs), 'seed')}, {spec.validation:.0%} of the "
                  f"training data) with {s.params or 'the base settings'} on {s.board}")
            if ties[dataset]:
                print(f"  tied with {plural(len(ties[dataset]), 'other configuration')} "
                      f"(the first in the sweep's order is reported): " + "; ".join(
                          f"{t.params or 'the base settings'} on {t.board}"
                          for t in ties[dataset][:5]) + (" ..." if len(ties[dataset]) > 5
                                                         else ""))
        if paths:
            print(f"{plural(len(scores), 'configuration')} in {paths['csv']}; plot "
                  f"{paths['plot']}; "
                  f"settings of the best in {paths['best']}")
    if failed is not None:
        print(f"phyff: {failed}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
