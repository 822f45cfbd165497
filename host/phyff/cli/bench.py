"""`phyff bench`: measure PhyLL against the baselines on your board, in one command.

A module of its own (like every command group) so the board commands start
fast without importing the benchmark; `add_commands(add)` registers the
subcommand and `phyff.cli.main` wires every group in.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from phyff.cli.common import DATA_HELP, EXIT_FAILED, EXIT_OK, AddCommand, print_json

if TYPE_CHECKING:
    from phyff.compare.distributed import Execution
    from phyff.compare.summary import BenchOptions


DOC_COMMAND = "make benchmarks"


def add_commands(add: AddCommand) -> None:
    """Register `phyff bench`."""
    from phyff.compare.baselines.methods import METHODS

    p = add("bench", cmd_bench, "benchmark PhyLL against physics-aware training, ideal "
            "backprop, an extreme learning machine and ablations on the same board and data")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="the default: a check of about a minute (vowels7/acoustic and "
                           "digits/optical, a few epochs, 2 seeds); it checks the machinery, "
                           "not the numbers")
    size.add_argument("--full", action="store_true",
                      help="the full matrix of docs/benchmarks.md (about 20 min on two idle cores: "
                           "`make benchmarks`)")
    p.add_argument("--tasks", help="comma-separated task names of the preset (quick: "
                                   "vowels7/acoustic, digits/optical; full also "
                                   "vowels7/acoustic-short, vowels7/acoustic-noisy, "
                                   "hillenbrand12/acoustic, fashion7/optical), or datasets: "
                                   "csv:PATH, npz:PATH, digits, ... run every method on an "
                                   "emulated acoustic cavity sized to the data")
    p.add_argument("--methods", help=f"comma-separated methods (default: {','.join(METHODS)})")
    p.add_argument("--seeds", type=int, help="seeds per cell (default 5 full, 2 quick)")
    p.add_argument("--hard-seeds", type=int,
                   help="seeds for the harder tasks (default: --seeds)")
    p.add_argument("--twin-pairs", type=int, help="PAT: recorded pairs for the twin (10000)")
    p.add_argument("--twin-epochs", type=int, help="PAT: twin fitting epochs (100)")
    p.add_argument("--no-adapt", action="store_true", help="skip the perturbation scenario")
    p.add_argument("--adapt-seeds", type=int, help="seeds of the scenario (default 3; quick 1)")
    p.add_argument("--adapt-epochs", type=int, help="epochs of the scenario (default 200)")
    p.add_argument("--adapt-strength",
                   help="strengths of the step perturbation, comma-separated (default 1,3; "
                        "quick: 1)")
    p.add_argument("--adapt-drift", type=float, default=0.02,
                   help="medium drift rate per 10,000 samples in the drift scenario")
    p.add_argument("--no-field", action="store_true",
                   help="skip the on-device adaptation scenarios on vowels7/acoustic (the board "
                        "re-learns its read-out after the medium changes: LEARN + REFIT)")
    p.add_argument("--field-seeds", type=int,
                   help="seeds of each on-device adaptation scenario (default 10; quick 1)")
    p.add_argument("--no-speed", action="store_true", help="skip the trainer speed run")
    p.add_argument("--pj-per-mac", type=float, default=10.0,
                   help="energy per digital multiply-add in pJ (default 10)")
    p.add_argument("--j-per-query", type=float, default=1e-5,
                   help="energy per device query in J (default 1e-5)")
    p.add_argument("--board-watts", type=float, default=0.0,
                   help="board power while querying, W (default 0)")
    p.add_argument("--out", type=Path,
                   help="directory for bench.md, bench.csv, runs.csv, adaptability.png and "
                        "results.jsonl, written run by run (default runs/bench-<time>)")
    p.add_argument("--doc", type=Path,
                   help="also write the generated document here (docs/benchmarks.md), with "
                        "its CSVs and figure next to it")
    p.add_argument("--data", type=Path,
                   help=DATA_HELP)
    p.add_argument("--from-raw", type=Path, metavar="RAW_JSON",
                   help="do not run anything: re-render the report (and --doc) from the "
                        "raw.json a previous run wrote into its --out directory (the energy "
                        "flags apply)")
    add_execution_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or lines")


def add_execution_flags(p: argparse.ArgumentParser) -> None:
    """--workers/--scheduler/--resume, shared by `phyff bench` and `phyff sweep`."""
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes on this machine (default: one per core, on an "
                        "embedded Dask LocalCluster); 1 runs serially without Dask, with "
                        "identical results")
    p.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="run on an existing Dask cluster (`dask scheduler` + `dask worker`; "
                        "boards as worker resources, see docs/scaling.md)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: completed runs (results.jsonl) are "
                        "skipped, failed and missing ones run")


def execution_from_args(args: argparse.Namespace) -> Execution:
    """Execution from --workers/--scheduler (bad values are usage errors)."""
    from phyff.compare.distributed import Execution

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler and args.workers is not None:
        raise ValueError("--workers sizes the embedded cluster; with --scheduler the "
                         "cluster's own workers run the jobs: give one or the other")
    if args.scheduler and "://" not in args.scheduler:
        raise ValueError(f"--scheduler wants an address like tcp://HOST:8786, got "
                         f"{args.scheduler!r}")
    return Execution(workers=args.workers, scheduler=args.scheduler)


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr that do not break the progress bar."""

    def progress(line: str) -> None:
        if not quiet:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)

    return progress


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    """BenchOptions from the parsed flags."""
    from phyff.compare.baselines.methods import METHODS
    from phyff.compare.summary import BenchOptions, EnergyModel

    quick = not args.full
    methods = tuple(m.strip() for m in args.methods.split(",")) if args.methods else METHODS
    return BenchOptions(
        preset="quick" if quick else "full",
        tasks=[t.strip() for t in args.tasks.split(",")] if args.tasks else None,
        methods=methods,
        seeds=args.seeds or (2 if quick else 5),
        hard_seeds=args.hard_seeds,
        twin_pairs=args.twin_pairs,
        twin_epochs=args.twin_epochs,
        adapt=not args.no_adapt,
        adapt_seeds=args.adapt_seeds or (1 if quick else 3),
        adapt_epochs=args.adapt_epochs,
        adapt_strengths=tuple(float(v) for v in args.adapt_strength.split(","))
        if args.adapt_strength else ((1.0,) if quick else (1.0, 3.0)),
        adapt_drift=args.adapt_drift,
        field_adapt=not args.no_field,
        field_seeds=args.field_seeds or (1 if quick else 10),
        speed=not args.no_speed,
        energy=EnergyModel(args.pj_per_mac, args.j_per_query, args.board_watts),
        data_dir=str(args.data) if args.data else None,
    )


def _command_line(argv: list[str]) -> str:
    """The bench command as run, without the options that name local paths."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--out", "--doc", "--data", "--from-raw"):
            skip = True
        elif not arg.startswith(("--out=", "--doc=", "--data=", "--from-raw=")):
            out.append(arg)
    return "phyff " + " ".join(out)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark and write its report."""
    from phyff.compare.report import all_targets, write_doc, write_outputs
    from phyff.compare.runner import IncompleteRun, run_bench

    options = options_from_args(args)
    quiet = args.quiet or args.json
    progress = progress_printer(quiet)
    if not (args.quick or args.full or args.from_raw or quiet):
        progress("the quick check (about a minute; it checks the machinery, not the numbers); "
                 "--full runs the matrix of docs/benchmarks.md (about 20 min on two idle cores)")
    if args.resume and not args.out:
        raise ValueError("--resume continues a run directory: give it with --out DIR")
    out = args.out or Path("runs") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.from_raw:
        from phyff.compare.rawio import load_raw

        outcome = load_raw(args.from_raw, energy=options.energy)
    else:
        from phyff.compare.rawio import ResultStore
        from phyff.compare.runner import check_data

        execution = execution_from_args(args)
        check_data(options)  # unknown tasks and missing data are refused before any file
        store = ResultStore(out, resume=args.resume)
        try:
            outcome = run_bench(options, progress, execution, store, bar=not quiet)
        except IncompleteRun as exc:
            print(f"phyff: {exc}", file=sys.stderr)
            return EXIT_FAILED
    paths = write_outputs(outcome, out)
    if args.doc:
        custom = any(getattr(args, a, None) for a in ("tasks", "methods", "seeds", "hard_seeds",
                                                      "no_adapt", "no_field", "no_speed"))
        command = (_command_line(sys.argv[1:]) if custom else DOC_COMMAND if args.full
                   else "phyff bench --quick --doc ...")
        paths.update({f"doc_{k}": v for k, v in write_doc(outcome, args.doc, command).items()})
    targets = all_targets(outcome)
    if args.json:
        print_json({
            "seconds": round(outcome.seconds, 1),
            "files": {k: str(v) for k, v in paths.items()},
            "summary": [s.as_row() for s in outcome.summaries],
            "targets": [{"target": t.name, "met": t.met, "measured": t.detail}
                        for t in targets],
            "speed": outcome.speed,
        })
        return EXIT_OK
    from phyff.compare.budget import cost_table
    from phyff.compare.report import markdown_table

    for task in outcome.tasks:
        print(f"\n{task.name}\n")
        print(markdown_table(outcome.summaries, task.name))
    print("\ndevice queries and projected wall time on UART boards\n")
    print(cost_table(outcome.tasks, outcome.results))
    print()
    for t in targets:
        verdict = "not run" if t.met is None else ("MET" if t.met else "NOT MET")
        print(f"[{verdict}] {t.name}: {t.detail}")
    print(f"\n{outcome.seconds:.0f} s; report: {paths['md']}")
    return EXIT_OK
