"""The ``phyff`` command: one entry point, one subcommand per job.

Exit codes scripts can rely on:
  0 success; 1 the job ran but failed its purpose (e.g. eval below a
  threshold); 2 bad usage or bad input (a missing file, wrong shapes, NaN);
  3 board or link problem (no board, wrong firmware, timeouts);
  130 interrupted (Ctrl-C), after saving what could be saved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from phyff import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BOARD = 3
EXIT_INTERRUPTED = 130

EPILOG = """\
boards are named by URL:
  emu://acoustic?seed=1          emulated board, in process (media: acoustic,
                                 microwave, optical, circuit, or pkg.module:factory;
                                 extra keys such as noise=0.01 go to the medium)
  /dev/ttyACM0, COM3             a dev board running phyff firmware
  socket://127.0.0.1:5555        a board served over TCP (phyff emulate --tcp, QEMU)
  auto                           the one phyff board connected over USB

examples:
  phyff info 'emu://acoustic?seed=1'
  phyff train --board 'emu://optical?seed=1' --dataset digits --epochs 30
  phyff eval runs/demo/model.npz --board 'emu://optical?seed=1' --dataset digits
  phyff report runs/demo
  phyff emulate --pty --medium acoustic --seed 1
"""


def _print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# ---- info / ports / emulate ---------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    from phyff.board import Board

    with Board.open(_resolve_board(args.board), baudrate=args.baud, timeout=args.timeout) as b:
        stats = b.stats()
        info = {"url": b.url, "caps": b.caps.as_dict(), "config": b.identity()["config"],
                "stats": stats.as_dict()}
    if args.json:
        _print_json(info)
        return EXIT_OK
    caps = info["caps"]
    print(f"board      {caps['board']} at {info['url']}")
    print(f"firmware   {caps['firmware']} (protocol level {caps['level']}), "
          f"unit id {caps['unit_id']}")
    print(f"medium     {caps['medium']}: {caps['n_drive']} drive ({caps['dac_bits']}-bit DAC) "
          f"-> {caps['n_sense']} sense ({caps['adc_bits']}-bit ADC)")
    print(f"frames     up to {caps['max_batch']} samples / {caps['max_payload']} bytes per frame;"
          f" oversampling up to {caps['max_oversample']}, settle up to {caps['max_settle_us']} us")
    print(f"features   {', '.join(caps['feature_names']) or '-'}")
    cfg = info["config"]
    print(f"config     settle {cfg['settle_us']} us, oversample {cfg['oversample']}, "
          f"active {cfg['n_drive_active']} drive / {cfg['n_sense_active']} sense")
    print("stats      " + ", ".join(f"{k} {v}" for k, v in info["stats"].items()))
    return EXIT_OK


def cmd_ports(args: argparse.Namespace) -> int:
    from phyff.discovery import find_boards

    found = find_boards(timeout=args.timeout)
    if args.json:
        _print_json([c.__dict__ for c in found])
        return EXIT_OK
    if not found:
        print("no serial ports found. Without hardware, use --board 'emu://acoustic?seed=1'.")
        return EXIT_OK
    for c in found:
        mark = "phyff" if c.board else "     "
        extra = f"  ({c.problem})" if c.problem and not c.board else ""
        print(f"{mark}  {c.url:20s} {c.description}{extra}")
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace) -> int:
    import signal
    import threading

    from phyff.emulator import EmulatedDevice, EmulatorSpec, parse_emu_url

    if args.url:
        spec = parse_emu_url(args.url)
    else:
        spec = EmulatorSpec(medium=args.medium, seed=args.seed,
                            options=dict(_parse_options(args.option)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    if args.qemu:
        from phyff.qemu import run_qemu_board

        return run_qemu_board(spec, port=args.qemu_port, stop=stop, verbose=args.verbose)

    device = EmulatedDevice(spec)
    if args.tcp:
        from phyff.emulator.server import TcpServer

        host, _, port = args.tcp.rpartition(":")
        server: Any = TcpServer(device, host or "127.0.0.1", int(port or 0))
        print(server.url, flush=True)
    else:
        from phyff.emulator.server import PtyServer

        server = PtyServer(device)
        print(server.path, flush=True)
    print(f"# emulated {spec.medium} board (seed {spec.seed}); Ctrl-C to stop",
          file=sys.stderr, flush=True)
    try:
        server.serve(should_stop=stop.is_set)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


def _parse_options(items: Sequence[str] | None) -> list[tuple[str, Any]]:
    from phyff.emulator.device import _parse_value

    out = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--option takes KEY=VALUE, got {item!r}")
        out.append((key, _parse_value(value)))
    return out


def _resolve_board(url: str | None) -> str:
    if url in (None, "", "auto"):
        from phyff.discovery import auto_board_url

        return auto_board_url()
    return url


def cmd_install_micropython(args: argparse.Namespace) -> int:
    from phyff.micropython_deploy import DeployError, install_to_board

    try:
        install_to_board(args.port, args.board)
    except DeployError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return EXIT_BOARD
    print(f"installed the phyff MicroPython program on {args.port} ({args.board}); "
          f"check it with: phyff info {args.port}")
    return EXIT_OK


# ---- listing ------------------------------------------------------------------


def cmd_datasets(args: argparse.Namespace) -> int:
    from phyff.datasets import available_datasets

    rows = available_datasets()
    if args.json:
        _print_json([{"name": n, "description": d} for n, d in rows])
    else:
        for name, desc in rows:
            print(f"{name:22s} {desc}")
    return EXIT_OK


def cmd_media(args: argparse.Namespace) -> int:
    from phyff.media import MEDIA, make_medium

    rows = []
    for name in MEDIA:
        m = make_medium(name, seed=0)
        doc = (type(m).__doc__ or "").strip().splitlines()[0] if type(m).__doc__ else ""
        rows.append({"name": name, "n_in": m.n_in, "n_out": m.n_out, "description": doc})
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']:10s} {r['n_in']:4d} -> {r['n_out']:<4d} {r['description']}")
    return EXIT_OK


# ---- parser -------------------------------------------------------------------

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


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

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str,
            board: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if board:
            p.add_argument("--baud", type=int, default=115200,
                           help="serial baud rate for real boards (default 115200)")
            p.add_argument("--timeout", type=float, default=2.0,
                           help="seconds to wait for each reply before retrying (default 2)")
        COMMANDS[name] = fn
        return p

    p = add("info", cmd_info, "show a board's capabilities, configuration and statistics",
            board=True)
    p.add_argument("board", nargs="?", default="auto", help="board URL (default: auto)")

    p = add("ports", cmd_ports, "list serial ports and which of them are phyff boards")
    p.add_argument("--timeout", type=float, default=0.6, help="seconds to wait per port")

    p = add("emulate", cmd_emulate,
            "serve an emulated board on a pty, a TCP port, or as firmware in QEMU")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal "
                       "(default); prints its /dev/pts path")
    where.add_argument("--tcp", metavar="HOST:PORT",
                       help="serve on TCP; prints the socket:// URL")
    where.add_argument("--qemu", action="store_true",
                       help="run the real Cortex-M firmware in QEMU with this medium; "
                            "prints the socket:// URL")
    p.add_argument("--qemu-port", type=int, default=0, help="TCP port for QEMU's UART (0: any)")
    p.add_argument("--medium", default="acoustic", help="medium name or pkg.module:factory")
    p.add_argument("--seed", type=int, default=0, help="medium seed")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                   help="medium option, e.g. -o noise=0.01 (repeatable)")
    p.add_argument("--url", help="an emu:// URL instead of --medium/--seed/--option")
    p.add_argument("--verbose", "-v", action="store_true")

    p = add("install-micropython", cmd_install_micropython,
            "copy the MicroPython board program to a board running MicroPython (mpremote)")
    p.add_argument("port", help="the board's serial port, e.g. /dev/ttyACM0")
    p.add_argument("--board", required=True, choices=["pico", "esp32", "pyboard"],
                   help="which pin map to use (firmware/micropython/boardcfg.py)")

    add("datasets", cmd_datasets, "list the datasets phyff can load")
    add("media", cmd_media, "list the simulated media of the emulated board")

    from phyff import cli_bench, cli_train

    cli_train.add_commands(add)
    cli_bench.add_commands(add)
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


def run(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Map failures to exit codes and one clear message (no traceback)."""
    from phyff.link import LinkError

    try:
        return fn(args)
    except KeyboardInterrupt:
        print("phyff: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except LinkError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return EXIT_BOARD
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"phyff: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return EXIT_BOARD


if __name__ == "__main__":
    sys.exit(main())
