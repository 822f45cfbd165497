"""The on-device commands of ``phyff``: deploy a trained model, classify on the board.

``phyff eval RUN --on-device`` lives with eval (cli/train.py) and uses the
same module underneath (phyff.ondevice.deploy).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

from phyff.cli.common import (
    DATA_HELP,
    EXIT_OK,
    AddCommand,
    model_file,
    positive_int,
    print_json,
    resolve_board,
)


def add_commands(add: AddCommand) -> None:
    p = add("deploy", cmd_deploy,
            "put a trained model on its board: quantise to the board's fixed point, load it, "
            "prove the board's answers bit for bit", board=True)
    p.add_argument("model", type=Path, help="run directory (or its model.npz)")
    p.add_argument("--board", default="auto", help="board URL (default: the one connected)")
    p.add_argument("--dataset",
                   help="data to calibrate the fixed-point scales on (its training split; "
                        "default: the dataset the model was trained on)")
    p.add_argument("--data", type=Path, help=DATA_HELP)
    p.add_argument("--calibration", type=positive_int, default=256,
                   help="training samples measured to choose the scales (default 256; "
                        "at least 1, better a few hundred)")
    p.add_argument("--check", type=_count, default=64,
                   help="samples the board classifies after loading, each checked bit for bit "
                        "against the host's integer reference (default 64; 0 skips)")
    p.add_argument("--max-error", type=_positive_fraction, default=0.05,
                   help="refuse when a layer's outputs change by more than this fraction "
                        "(RMS) in fixed point (default 0.05)")
    p.add_argument("--force", action="store_true",
                   help="deploy even when the board's identity differs from the training "
                        "board's (the board itself still refuses another unit or medium)")

    p = add("classify", cmd_classify,
            "classify feature vectors on the board with its deployed model (CSV in, "
            "classes out)", board=True)
    p.add_argument("input", nargs="?", default="-",
                   help="CSV file of feature rows, in the model's input scale (default: stdin)")
    p.add_argument("--board", default="auto", help="board URL (default: the one connected)")
    p.add_argument("--scores", action="store_true", help="print the class scores too")
    p.add_argument("--skip-header", action="store_true",
                   help="the first line names the columns")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


def _positive_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must lie in (0, 1], e.g. 0.05 for 5 %")
    return value


def cmd_deploy(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.datasets import load_dataset
    from phyff.ondevice.deploy import deploy, model_name, save_deployment
    from phyff.ondevice.quantise import check_deployable
    from phyff.phyll.model import load_model
    from phyff.protocol.wire import Feature
    from phyff.training.identity import refuse_other_board, trained_identity

    path = model_file(args.model)
    model = load_model(path)
    check_deployable(model)  # before touching the board or the data
    meta = model.metadata or {}
    recorded = meta.get("dataset")
    dataset = args.dataset or (recorded.get("name") if isinstance(recorded, dict) else None)
    if not dataset:
        raise ValueError("the model does not record its dataset: pass --dataset NAME to "
                         "calibrate on")
    data = load_dataset(dataset, data_dir=args.data, seed=0)
    if data.n_features != model.config.n_features:
        raise ValueError(f"{data.name} has {data.n_features} features; the model takes "
                         f"{model.config.n_features}: pass the dataset it was trained on")
    url = resolve_board(args.board)
    with Board.open(url, baudrate=args.baud, timeout=args.timeout) as board:
        board.require_infer()
        refuse_other_board(meta, board.identity(), force=args.force,
                           advice="Deploy to the original board, or retrain on this one.")
        board.configure_like(trained_identity(meta))
        result = deploy(model, board, data.x_train, data.y_train, name=model_name(path),
                        calibration=args.calibration, check=args.check,
                        max_error=args.max_error)
        capacity = board.caps.model_capacity
        persistent = bool(board.caps.features & Feature.MODEL_PERSIST)
    image_path, report_path = save_deployment(path.parent, result, url)
    out = {**result.as_dict(), "board": url, "capacity": capacity, "persistent": persistent,
           "image_file": str(image_path), "report_file": str(report_path)}
    if args.json:
        print_json(out)
        return EXIT_OK
    info = result.info
    print(f"deployed {info.name!r} to {url}: {len(result.image):,} of {capacity:,} bytes, "
          f"CRC 0x{info.crc32:08x}, {info.n_features} features -> {info.n_classes} classes "
          f"({info.as_dict()['inference']}, {info.n_blocks} blocks)"
          + ("" if persistent else "; the board keeps it until it is powered off"))
    print(f"{'layer':10} {'weights 2^e':>16} {'out 2^e':>8} {'error':>9} {'saturated':>10}")
    for r in result.quantised.layers:
        exps = ",".join(str(v) for v in r.weight_exps.values()) or "-"
        print(f"{r.name:10} {exps:>16} {r.out_exp:>8} {100 * r.relative_error:>8.3f}% "
              f"{100 * r.saturated:>9.2f}%")
    agree = result.quantised.agreement
    if agree == agree:  # not NaN
        print(f"integer vs float classes on {result.quantised.calibration_rows} calibration "
              f"rows: {100 * agree:.1f} % equal")
    print(f"calibration: {result.calibration_queries:,} device queries; check: "
          f"{result.check_samples} samples classified on the board, "
          f"{100 * result.check_agreement:.0f} % bit-exact with the host reference")
    print(f"saved {image_path} and {report_path}")
    return EXIT_OK


def _read_rows(source: str, skip_header: bool) -> np.ndarray:
    """Feature rows from a CSV file or stdin; a clear error for anything else."""
    if source == "-":
        text = sys.stdin.read()
        where = "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {source}; give a CSV of feature rows "
                                    f"(or - for stdin)")
        text = path.read_text(errors="replace")
        where = source
    rows: list[list[float]] = []
    reader = csv.reader(io.StringIO(text))
    for line, row in enumerate(reader, start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or cells[0].startswith("#"):
            continue
        if skip_header and not rows and line == 1:
            continue
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise ValueError(f"{where} line {line}: {','.join(cells)[:80]!r} is not a row of "
                             f"numbers (use --skip-header for a header line)") from None
        if len(rows[-1]) != len(rows[0]):
            raise ValueError(f"{where} line {line} has {len(rows[-1])} values; the first row "
                             f"has {len(rows[0])}: every row needs the same features")
    if not rows:
        raise ValueError(f"{where} holds no feature rows")
    return np.asarray(rows, dtype=np.float64)


def cmd_classify(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.ondevice.deploy import features_q15

    x = _read_rows(args.input, args.skip_header)
    with Board.open(resolve_board(args.board), baudrate=args.baud,
                    timeout=args.timeout) as board:
        board.require_infer()
        info = board.model_info()
        if info is None:
            raise ValueError("the board holds no model: run phyff deploy RUN --board URL "
                             "first")
        if x.shape[1] != info.n_features:
            raise ValueError(f"the rows have {x.shape[1]} features; the board's model "
                             f"{info.name!r} takes {info.n_features}")
        result = board.infer(features_q15(x, info.input_exp), info=info)
    scale = 2.0 ** (info.score_exp - 31)
    if args.json:
        print_json({"model": info.name, "classes": result.classes.tolist(),
                    "scores": (result.scores * scale).tolist(),
                    "saturated": result.saturated.tolist()})
        return EXIT_OK
    for k, c in enumerate(result.classes):
        line = str(int(c))
        if args.scores:
            line += "," + ",".join(f"{v * scale:.6g}" for v in result.scores[k])
        print(line)
    return EXIT_OK
