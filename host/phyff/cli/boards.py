"""Commands about boards: info, ports, emulate, install-micropython.

Also the argparse types other commands share for board options:
:func:`tcp_address` (``HOST:PORT``); timeouts use `phyff.cli.common.positive_seconds`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from phyff.cli.common import (
    EXIT_BOARD,
    EXIT_OK,
    AddCommand,
    positive_seconds,
    print_json,
    resolve_board,
)

# ---- argument types -----------------------------------------------------------


def tcp_address(text: str) -> tuple[str, int]:
    """argparse type for ``HOST:PORT`` (port 0..65535, 0 = any free port); an IPv6
    host is written in brackets, as in URLs: ``[::1]:5000``."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host:
            raise argparse.ArgumentTypeError(f"{text!r}: empty IPv6 address in brackets")
        if "[" in host or "]" in host:
            raise argparse.ArgumentTypeError(
                f"{text!r}: one IPv6 address in one pair of brackets, as in [::1]:5000")
    elif ":" in host or "[" in host or "]" in host:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write an IPv6 address in brackets, as in [::1]:5000")
    try:
        number = int(port or 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the port must be a number, as in 127.0.0.1:5000") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r}: port {number} is outside 0..65535 (0 picks a free port)")
    return host or "127.0.0.1", number


# ---- info / ports / emulate ---------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.board.cost import measure_rate

    if args.board_url and args.board and args.board_url != args.board:
        raise ValueError(f"two boards given ({args.board_url!r} and --board {args.board!r}); "
                         "name one")
    url = args.board or args.board_url or "auto"
    with Board.open(resolve_board(url), baudrate=args.baud, timeout=args.timeout) as b:
        stats = b.stats()
        model = b.model_info() if b.can_infer else None
        described = b.describe() if model is not None else None
        info = {"url": b.url, "caps": b.caps.as_dict(), "config": b.identity()["config"],
                "stats": stats.as_dict(), "rate": measure_rate(b).as_dict(),
                "model": None if model is None else model.as_dict(),
                "description": None if described is None else described.as_dict()}
    if args.json:
        print_json(info)
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
    if not caps["model_capacity"]:
        print("model      no on-device inference (no model memory in this firmware)")
    elif info["model"] is None:
        kept = ", kept across power cycles" if "MODEL_PERSIST" in caps["feature_names"] else ""
        print(f"model      none loaded ({caps['model_capacity']:,} bytes of model memory"
              f"{kept})")
    else:
        m = info["model"]
        print(f"model      {m['name']!r}: {m['n_features']} features -> {m['n_classes']} "
              f"classes, {m['inference']}, {m['image_size']:,} of {caps['model_capacity']:,} "
              f"bytes, CRC 0x{m['crc32']:08x}, {m['origin']}")
        print("input      " + (described.summary() if described is not None else
                               "no description in the model's image: phyff classify needs "
                               "--model RUN (or --scaled rows); deploy it again to add one"))
    if caps.get("max_classes"):
        print(f"limits     models of up to {caps['max_classes']} classes and "
              f"{caps['infer_work']:,} int16 scratch values per sample")
    print("stats      " + ", ".join(f"{k} {v}" for k, v in info["stats"].items()))
    rate = info["rate"]
    print(f"speed      {rate['samples_per_s']:,.0f} samples/s in frames of {rate['batch']} "
          f"(measured: {1e3 * rate['turnaround_s']:.2f} ms per frame + "
          f"{1e6 * rate['sample_s']:.1f} us per sample)")
    return EXIT_OK


def cmd_ports(args: argparse.Namespace) -> int:
    from phyff.board.discovery import find_boards

    found = find_boards(timeout=args.timeout, extra=args.url)
    if args.json:
        print_json([c.__dict__ for c in found])
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
    from phyff.media import BUILTIN, register_medium

    if ":" in args.medium and args.medium not in BUILTIN:
        # An import path is code named on the command line: allowed here, never in
        # a URL. Registered under its own path, so --url 'emu://pkg.mod:f?...' works too.
        register_medium(args.medium, args.medium)
    if args.url:
        spec = parse_emu_url(args.url)
    else:
        spec = EmulatorSpec(medium=args.medium, seed=args.seed,
                            options=dict(_parse_options(args.option)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    if args.qemu:
        from phyff.emulator.qemu import run_qemu_board

        return run_qemu_board(spec, port=args.qemu_port, stop=stop, verbose=args.verbose)
    if args.simavr:
        from phyff.emulator.simavr import run_simavr_board

        return run_simavr_board(spec, port=args.simavr_port, stop=stop, verbose=args.verbose,
                                bootloader=not args.no_bootloader,
                                reset_on_open=not args.no_reset_on_open)
    if args.micropython:
        from phyff.emulator.micropython import run_micropython_board

        return run_micropython_board(spec, stop=stop.is_set, verbose=args.verbose)

    device = EmulatedDevice(spec)

    def log(message: str) -> None:
        if args.verbose:
            print(f"# {message}", file=sys.stderr, flush=True)

    def fault(exc: Exception) -> None:
        # The host is told only "medium fault" (the wire carries a status): the cause
        # goes to this log, verbose or not.
        print(f"# medium fault: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    device.on_fault = fault

    if args.tcp:
        from phyff.emulator.server import TcpServer

        host, port = args.tcp
        from phyff.emulator.server import IDLE_TIMEOUT

        idle = IDLE_TIMEOUT if args.idle_timeout is None else args.idle_timeout
        server: Any = TcpServer(device, host, port, idle_timeout=idle, log=log)
        print(server.url, flush=True)
    else:
        from phyff.emulator.server import PtyServer

        server = PtyServer(device, log=log)
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


def cmd_install_micropython(args: argparse.Namespace) -> int:
    from phyff.emulator.micropython import DeployError, install_to_board

    try:
        install_to_board(args.port, args.board)
    except DeployError as exc:
        print(f"phyff: {exc}", file=sys.stderr)
        return EXIT_BOARD
    print(f"installed the phyff MicroPython program on {args.port} ({args.board}); "
          f"check it with: phyff info {args.port}")
    return EXIT_OK


def add_commands(add: AddCommand) -> None:
    """Register info, ports, emulate and install-micropython."""
    p = add("info", cmd_info, "show a board's capabilities, configuration and statistics",
            board=True)
    p.add_argument("board_url", nargs="?", metavar="BOARD",
                   help="board URL (default: auto, the one connected); --board URL works too")
    p.add_argument("--board", help="board URL, as for the other commands")

    p = add("ports", cmd_ports, "list serial ports and which of them are phyff boards")
    p.add_argument("url", nargs="*", help="also probe these (socket://HOST:PORT, a pty): "
                   "boards the OS does not list as serial ports, e.g. the simulated Uno")
    p.add_argument("--timeout", type=positive_seconds, default=0.6,
                   help="seconds to wait per port")

    p = add("emulate", cmd_emulate,
            "serve an emulated board on a pty or a TCP port, or run the real firmware "
            "(QEMU, simavr) or the MicroPython program with a simulated medium")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal "
                       "(default); prints its /dev/pts path")
    where.add_argument("--tcp", metavar="HOST:PORT", type=tcp_address,
                       help="serve on TCP (port 0: any free port); prints the socket:// URL. "
                            "One host at a time: a second one is told 'board busy'")
    where.add_argument("--qemu", action="store_true",
                       help="run the real Cortex-M firmware in QEMU with this medium; "
                            "prints the socket:// URL")
    where.add_argument("--simavr", action="store_true",
                       help="run the real Arduino Uno firmware in simavr (ATmega328P, booting "
                            "through optiboot) with this "
                            "medium at the Uno's channel counts; prints the socket:// URL")
    where.add_argument("--micropython", action="store_true",
                       help="run the MicroPython board program (firmware/micropython) under "
                            "the MicroPython unix port with this medium; prints the "
                            "socket:// URL")
    p.add_argument("--qemu-port", type=lambda t: tcp_address(f":{t}")[1], default=0,
                   help="TCP port for QEMU's UART (0: any)")
    p.add_argument("--simavr-port", type=lambda t: tcp_address(f":{t}")[1], default=0,
                   help="TCP port for the simulated Uno's UART (0: any)")
    p.add_argument("--no-reset-on-open", action="store_true",
                   help="simavr: do not reset the Uno when a host connects (a real Uno's "
                        "DTR auto-reset, on by default; avrdude needs it to upload)")
    p.add_argument("--no-bootloader", action="store_true",
                   help="simavr: run the image directly, without optiboot (no uploads)")
    p.add_argument("--medium", default="acoustic",
                   help="medium name, or an import path pkg.module:factory for a medium of "
                        "your own (only here: URLs name registered media only)")
    p.add_argument("--seed", type=int, default=0, help="medium seed")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                   help="medium option, e.g. -o noise=0.01 (repeatable)")
    p.add_argument("--url", help="an emu:// URL instead of --medium/--seed/--option")
    p.add_argument("--idle-timeout", type=positive_seconds, default=None, metavar="SECONDS",
                   help="with --tcp: a host that has sent nothing for this long gives the "
                        "board up to the next host that connects (default 30)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="log hosts attaching, turned away (busy) or dropped")

    p = add("install-micropython", cmd_install_micropython,
            "copy the MicroPython board program to a board running MicroPython (mpremote)")
    p.add_argument("port", help="the board's serial port, e.g. /dev/ttyACM0")
    p.add_argument("--board", required=True, choices=["pico", "esp32", "pyboard"],
                   help="which pin map to use (firmware/micropython/boardcfg.py)")
