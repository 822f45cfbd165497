"""The ``phyff`` command: one entry point, one subcommand per job.

Exit codes scripts can rely on:
  0 success; 1 the job ran but failed its purpose (e.g. eval below a
  threshold); 2 bad usage or bad input (a missing file, wrong shapes, NaN);
  3 board or link problem (no board, wrong firmware, timeouts);
  130 interrupted (Ctrl-C), after saving what could be saved.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from phyff._version import __version__
from phyff.cli import bench as cli_bench
from phyff.cli import boards as cli_boards
from phyff.cli import flash as cli_flash
from phyff.cli import listing as cli_listing
from phyff.cli import ondevice as cli_ondevice
from phyff.cli import sweep as cli_sweep
from phyff.cli import train as cli_train
from phyff.cli.common import EXIT_USAGE, Command, positive_int, positive_seconds, run

BOARD_URLS = """\
boards are named by URL:
  emu://acoustic?seed=1          emulated board, in process (media: acoustic,
                                 microwave, optical, circuit, or a registered plugin
                                 (entry points phyff.media); extra keys such as
                                 noise=0.01 go to the medium)
  /dev/ttyACM0, COM3             a dev board running phyff firmware
  socket://127.0.0.1:5555        a board served over TCP (phyff emulate --tcp, QEMU)
  auto                           the one phyff board connected over USB
"""

EXAMPLES = """\
examples:
  phyff info --board 'emu://acoustic?seed=1'
  phyff train --board 'emu://optical?seed=1&n_in=80&n_out=40' --dataset digits --epochs 30
  phyff eval runs/demo/model.npz --board 'emu://optical?seed=1&n_in=80&n_out=40' \\
      --dataset digits
  phyff report runs/demo
  phyff emulate --pty --medium acoustic --seed 1
"""

EPILOG = BOARD_URLS + "\n" + EXAMPLES


def command_epilog(name: str, board: bool) -> str:
    """A subcommand's epilog: the board URLs where it takes a board, and its own examples."""
    lines, keep = [], False
    for line in EXAMPLES.splitlines()[1:]:
        text = line.strip()
        if text.startswith("phyff "):
            keep = text.split()[1] == name
        if keep:
            lines.append(line)
    examples = "examples:\n" + "\n".join(lines) + "\n" if lines else ""
    return "\n".join(part for part in (BOARD_URLS if board else "", examples) if part)


# ---- parser -------------------------------------------------------------------

COMMANDS: dict[str, Command] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phyff",
        description="Train physical neural networks without backpropagation "
                    "(model-free forward-forward / PhyLL) on a real or emulated board.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"phyff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, fn: Command, help_: str,
            board: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_,
                           epilog=command_epilog(name, board) or None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--debug", action="store_true",
                       help="show the traceback of a failure (also PHYFF_DEBUG=1)")
        if board:
            p.add_argument("--baud", type=positive_int, default=115200,
                           help="serial baud rate for real boards (default 115200)")
            p.add_argument("--timeout", type=positive_seconds, default=2.0,
                           help="seconds to wait for each reply before retrying (default 2)")
        COMMANDS[name] = fn
        return p

    cli_boards.add_commands(add)
    cli_listing.add_commands(add)
    cli_train.add_commands(add)
    cli_ondevice.add_commands(add)
    cli_bench.add_commands(add)
    cli_sweep.add_commands(add)
    cli_flash.add_commands(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The trainer's matrices are small: one BLAS thread is faster and steadier
    # than several fighting over two cores (set before numpy loads BLAS).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    return run(COMMANDS[args.command], args)


if __name__ == "__main__":
    raise SystemExit(main())
