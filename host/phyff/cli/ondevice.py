"""The on-device commands of ``phyff``: deploy a trained model, classify on the board,
adapt its read-out on the board (LEARN + REFIT, wire.h W-N1-N8).

``phyff eval RUN --on-device`` lives with eval (cli/train.py) and uses the
same module underneath (phyff.ondevice.deploy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from phyff.cli.answers import Answers, Inputs, check_flags, model_inputs
from phyff.cli.common import (
    DATA_HELP,
    EXIT_OK,
    EXIT_USAGE,
    AddCommand,
    model_file,
    positive_int,
    print_json,
    resolve_board,
)
from phyff.cli.rows import read_labelled_rows, read_rows


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

    p = add("export", cmd_export,
            "write a trained model as firmware source: a C header (const array, PROGMEM on "
            "AVR) or an Arduino sketch that boots with it (calibrated through the board, not "
            "loaded)", board=True)
    p.add_argument("model", type=Path, help="run directory (or its model.npz)")
    p.add_argument("--board", default="auto",
                   help="the training board, measured to choose the fixed-point scales")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--arduino", type=Path, metavar="DIR",
                     help="write the sketch folder DIR (DIR/DIR.ino + DIR/phyff_model.h)")
    out.add_argument("--header", type=Path, metavar="FILE.h", help="write a plain C header")
    p.add_argument("--dataset", help="data to calibrate on (default: the model's own)")
    p.add_argument("--data", type=Path, help=DATA_HELP)
    p.add_argument("--calibration", type=positive_int, default=256,
                   help="training samples measured to choose the scales (default 256)")
    p.add_argument("--force", action="store_true",
                   help="export even when the board's identity differs from the training "
                        "board's")

    p = add("classify", cmd_classify,
            "classify raw feature rows on the board with its deployed model (CSV in, class "
            "names out, printed as each batch returns)", board=True)
    _row_options(p)
    p.add_argument("--model", type=Path,
                   help="the run (or model.npz) deployed on the board: its input scaling, "
                        "feature and class names (default: the description the board's "
                        "model carries, when it has one)")

    p = add("adapt", cmd_adapt,
            "refit the deployed model's read-out on the board from labelled rows (the board "
            "measures each row, accumulates the read-out's statistics and solves them in "
            "fixed point): prints the refit and the board's accuracy on the rows before and "
            "after", board=True)
    p.add_argument("input", nargs="?", default="-",
                   help="CSV of raw feature rows with the label last (a class name of the run "
                        "or a class index; default: stdin); a header line is matched to the "
                        "model's feature names")
    p.add_argument("--board", default="auto", help="board URL (default: the one connected)")
    p.add_argument("--model", type=Path,
                   help="the run (or model.npz) deployed on the board: its input scaling, "
                        "feature and class names (default: the description the board's "
                        "model carries, when it has one)")
    p.add_argument("--scaled", action="store_true",
                   help="the rows are already in the model's input scale (no scaling)")
    p.add_argument("--lambda-shift", type=_count, default=DEFAULT_LAMBDA_SHIFT,
                   help=f"ridge penalty 2^-N of the refit (learn.h; default "
                        f"{DEFAULT_LAMBDA_SHIFT}: larger N, weaker penalty)")
    p.add_argument("--keep", action="store_true",
                   help="add to the statistics the board already holds instead of starting "
                        "from none (FORGET)")
    p.add_argument("--skip-header", action="store_true",
                   help="the first line is a header even if it looks like numbers")

    p = add("predict", cmd_predict,
            "classify raw feature rows with a trained run through the board's medium "
            "(the host computes, the board measures: for boards without model memory)",
            board=True)
    p.add_argument("model", type=Path, help="run directory (or its model.npz)")
    _row_options(p)
    p.add_argument("--force", action="store_true",
                   help="measure even when the board's identity differs from the training "
                        "board's")
    _take_late_input(p)


def _take_late_input(parser: argparse.ArgumentParser) -> None:
    """Let the CSV come after the options: ``predict RUN --board URL rows.csv``.

    argparse fills positionals only where they first appear, so with RUN first
    the CSV after the options would be left over (an "unrecognized argument").
    One left-over plain argument (or ``-``) is taken as the input instead.
    """
    parse = parser.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> Any:
        ns, extra = parse(args, namespace)
        if extra and ns.input == "-" and (extra[0] == "-" or not extra[0].startswith("-")):
            ns.input = extra.pop(0)
        return ns, extra

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def _row_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", nargs="?", default="-",
                   help="CSV file of raw feature rows (default: stdin); a header line is "
                        "matched to the model's feature names")
    p.add_argument("--board", default="auto", help="board URL (default: the one connected)")
    p.add_argument("--scaled", action="store_true",
                   help="the rows are already in the model's input scale (no scaling)")
    p.add_argument("--indices", action="store_true",
                   help="print class numbers instead of class names")
    p.add_argument("--scores", action="store_true", help="print the class scores too")
    p.add_argument("--strict", action="store_true",
                   help="refuse rows outside the training range or saturating the input "
                        "(exit 2) instead of warning")
    p.add_argument("--skip-header", action="store_true",
                   help="the first line is a header even if it looks like numbers")


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


def cmd_export(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.ondevice.deploy import NO_DESCRIPTION, calibrate, model_name, save_image
    from phyff.ondevice.export import write_arduino_sketch, write_c_header
    from phyff.ondevice.quantise import check_deployable
    from phyff.phyll.model import load_model
    from phyff.phyll.transform import from_metadata
    from phyff.protocol.wire import crc32

    path = model_file(args.model)
    model = load_model(path)
    check_deployable(model)
    data = _calibration_data(args, model)
    url = resolve_board(args.board)
    with Board.open(url, baudrate=args.baud, timeout=args.timeout) as board:
        _use_training_board(model, board, args.force,
                            "Export from the original board, or retrain on this one.")
        cal = calibrate(model, board, calibration_rows(model, data), data.y_train,
                        name=model_name(path), calibration=args.calibration)
        caps = board.caps
    image = cal.quantised.data
    transform = from_metadata(model.metadata)
    written = (write_arduino_sketch(args.arduino, image, caps, transform)
               if args.arduino is not None else write_c_header(args.header, image, transform))
    report = {"written": str(written), "image_bytes": len(image),
              "crc32": f"0x{crc32(image):08x}", "board": url, "compiled_in": True,
              "calibration_queries": cal.queries,
              "described": cal.quantised.image.description is not None,
              "layers": [r.as_dict() for r in cal.quantised.layers]}
    image_path, _ = save_image(path, image, report)  # what classify --model checks against
    if args.json:
        print_json({**report, "image_file": str(image_path)})
    else:
        if cal.quantised.image.description is None:
            print(f"phyff: note: {NO_DESCRIPTION}", file=sys.stderr)
        print(f"wrote {written}: model {model_name(path)!r}, {len(image):,} bytes of image "
              f"({cal.queries:,} calibration queries); the image also in {image_path}")
    return EXIT_OK


def _calibration_data(args: argparse.Namespace, model: Any) -> Any:
    from phyff.datasets import load_dataset

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
    return data


def _use_training_board(model: Any, board: Any, force: bool, advice: str) -> None:
    """Refuse another board than the training one (its weights fit that one only), by
    the one identity rule (training.identity); measure with the training settings."""
    from phyff.training.identity import refuse_other_board, trained_identity

    meta = model.metadata or {}
    refuse_other_board(meta, board.identity(), force=force, advice=advice)
    board.configure_like(trained_identity(meta))


def cmd_deploy(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.ondevice.deploy import NO_DESCRIPTION, deploy, model_name, save_deployment
    from phyff.ondevice.quantise import check_deployable
    from phyff.phyll.model import load_model
    from phyff.protocol.wire import Feature

    path = model_file(args.model)
    model = load_model(path)
    check_deployable(model)  # before touching the board or the data
    data = _calibration_data(args, model)
    x_train = calibration_rows(model, data)
    url = resolve_board(args.board)
    with Board.open(url, baudrate=args.baud, timeout=args.timeout) as board:
        board.require_infer()
        _use_training_board(model, board, args.force,
                            "Deploy to the original board, or retrain on this one.")
        result = deploy(model, board, x_train, data.y_train, name=model_name(path),
                        calibration=args.calibration, check=args.check,
                        max_error=args.max_error)
        capacity = board.caps.model_capacity
        persistent = bool(board.caps.features & Feature.MODEL_PERSIST)
    image_path, report_path = save_deployment(path, result, url)
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
    if result.quantised.image.description is not None:
        print("the image describes its input (scaling, feature and class names): phyff "
              "classify --board URL takes raw rows without --model")
    else:
        print(f"phyff: note: {NO_DESCRIPTION}", file=sys.stderr)
    print(f"saved {image_path} and {report_path}")
    return EXIT_OK


def calibration_rows(model: Any, data: Any) -> np.ndarray:
    """The dataset's training rows in the model's own input scale.

    A model whose recorded scaling differs from the dataset's (e.g. one trained by
    PhyLLClassifier, which fits its own scaler) is calibrated on the dataset's raw
    values put through the model's transform, never on another scaler's values.
    """
    from phyff.phyll.transform import from_metadata

    transform = from_metadata(model.metadata)
    ours = getattr(data, "input_scale", None)
    if transform is None or ours is None or (
            np.allclose(transform.scale, ours) and transform.clip == data.input_clip):
        return np.asarray(data.x_train)
    return transform.apply(np.asarray(data.x_train) * np.asarray(ours))


def model_and_scaling(board: Any, model: Path | None, scaled: bool) -> tuple[Any, Any]:
    """The model in force on `board` (checked against the run `model` when given) and the
    input transform raw rows go through: the run's, else the description the board's
    image carries (model.h M-D1-D5); None only with `scaled` (rows already scaled)."""
    from phyff.ondevice.deploy import check_board_holds_run, load_deployment
    from phyff.phyll.model import load_model
    from phyff.phyll.transform import from_metadata

    transform = image = None
    if model is not None:
        path = model_file(model)
        transform = from_metadata(load_model(path).metadata)
        image = load_deployment(path)
    info = check_board_holds_run(board, image) if image is not None else board.model_info()
    if info is None:
        raise ValueError("the board holds no model: run phyff deploy RUN --board URL first")
    if transform is None:
        transform = board_transform(board)
    if transform is None and not scaled:
        raise ValueError("raw rows need the model's input scaling, and the board's model "
                         "carries no description of it (its image was built from a model "
                         "file that records none, or by an older phyff): pass --model RUN "
                         "(the run deployed on this board), --scaled for rows already in "
                         "the model's input scale, or deploy the model again with this "
                         "phyff")
    return info, transform


def cmd_classify(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.ondevice.deploy import features_q15

    with Board.open(resolve_board(args.board), baudrate=args.baud,
                    timeout=args.timeout) as board:
        board.require_infer()
        info, transform = model_and_scaling(board, args.model, args.scaled)
        rows = read_rows(args.input, n_features=info.n_features,
                         feature_names=None if transform is None else transform.feature_names,
                         skip_header=args.skip_header)
        inputs = model_inputs(rows, transform, scaled=args.scaled, input_exp=info.input_exp)
        check_flags(rows, inputs, transform, info.input_exp, strict=args.strict)
        x_q = features_q15(inputs.x, info.input_exp)
        answers = Answers(None if transform is None else transform.class_names, args.indices,
                          args.scores, args.json)
        scale = 2.0 ** (info.score_exp - 31)
        step = max(1, min(info.max_batch, ANSWER_BATCH))
        for start in range(0, len(x_q), step):
            result = board.infer(x_q[start:start + step], info=info)
            answers.batch(result.classes, np.asarray(result.scores * scale, dtype=np.float64),
                          result.saturated)
    return _finish(answers, inputs, info.name, args)


def board_transform(board: Any) -> Any:
    """The InputTransform the board's model describes (model.h M-D1-D5), or None."""
    from phyff.ondevice.deploy import transform_of

    return transform_of(board.describe())
DEFAULT_LAMBDA_SHIFT = 10  # learn.h's ridge penalty 2^-10 on the read-out's real features


def cmd_adapt(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.ondevice.deploy import features_q15
    from phyff.protocol.wire import LEARN_MAX_SAMPLES

    with Board.open(resolve_board(args.board), baudrate=args.baud,
                    timeout=args.timeout) as board:
        board.require_learn()
        info, transform = model_and_scaling(board, args.model, args.scaled)
        rows, labels = read_labelled_rows(
            args.input, n_features=info.n_features,
            class_names=None if transform is None else transform.class_names,
            feature_names=None if transform is None else transform.feature_names,
            skip_header=args.skip_header)
        if labels.max() >= info.n_classes:
            raise ValueError(f"{rows.where}: label {int(labels.max())} is not one of the "
                             f"model's {info.n_classes} classes")
        if len(labels) > LEARN_MAX_SAMPLES:
            raise ValueError(f"{rows.where} holds {len(labels)} rows; the board learns from at "
                             f"most {LEARN_MAX_SAMPLES} (learn.h RF-A4): give fewer")
        inputs = model_inputs(rows, transform, scaled=args.scaled, input_exp=info.input_exp)
        check_flags(rows, inputs, transform, info.input_exp, strict=False)
        x_q = features_q15(inputs.x, info.input_exp)
        before = _board_accuracy(board, x_q, labels, info)
        if not args.keep:
            board.forget()
        learnt = board.learn(x_q, labels, info=info)
        refit = board.refit(args.lambda_shift)
        after_info = board.model_info()
        assert after_info is not None  # a successful REFIT leaves the model in force
        after = _board_accuracy(board, x_q, labels, after_info)
    names = (None if transform is None else transform.class_names) or [
        str(c) for c in range(info.n_classes)]
    out = {"board": board.url, "model": info.name, "samples": int(learnt.samples_total),
           "per_class": {names[c]: int(n) for c, n in enumerate(learnt.class_counts)},
           "lambda_shift": args.lambda_shift, "crc32": f"0x{refit.crc32:08x}",
           "conditioning": refit.conditioning, "provenance": after_info.provenance(),
           "accuracy_before": before, "accuracy_after": after, "rows": len(labels)}
    if args.json:
        print_json(out)
        return EXIT_OK
    print(f"learnt {learnt.samples_total} samples on {board.url} ("
          + ", ".join(f"{k} {v}" for k, v in out["per_class"].items()) + ")")
    print(f"refit (ridge 2^-{args.lambda_shift}): read-out CRC 0x{refit.crc32:08x}, "
          f"conditioning 2^{refit.conditioning}, {after_info.provenance()}")
    print(f"the board's accuracy on these {len(labels)} rows: {100 * before:.1f} % before, "
          f"{100 * after:.1f} % after")
    return EXIT_OK


def _board_accuracy(board: Any, x_q: np.ndarray, labels: np.ndarray, info: Any) -> float:
    """The fraction of rows the board's model classifies as labelled (INFER)."""
    classes = board.infer(x_q, info=info).classes
    return float(np.mean(classes == labels))


def cmd_predict(args: argparse.Namespace) -> int:
    from phyff.board.client import Board
    from phyff.board.layer import board_layers
    from phyff.phyll.model import load_model
    from phyff.phyll.transform import from_metadata

    path = model_file(args.model)
    model = load_model(path)
    model.check_inference()
    transform = from_metadata(model.metadata)
    rows = read_rows(args.input, n_features=model.config.n_features,
                     feature_names=None if transform is None else transform.feature_names,
                     skip_header=args.skip_header)
    inputs = model_inputs(rows, transform, scaled=args.scaled, input_exp=None)
    check_flags(rows, inputs, transform, None, strict=args.strict)
    answers = Answers(None if transform is None else transform.class_names, args.indices,
                      args.scores, args.json)
    with Board.open(resolve_board(args.board), baudrate=args.baud,
                    timeout=args.timeout) as board:
        _use_training_board(model, board, args.force,
                            "Use the original board, retrain, or pass --force to measure "
                            "anyway.")
        layers = board_layers(board, model.n_blocks)
        step = ANSWER_BATCH
        for start in range(0, len(inputs.x), step):
            scores = model.scores(layers, inputs.x[start:start + step])
            classes = np.argmax(scores, axis=1)
            answers.batch(classes, scores, np.zeros(len(classes), bool))
    return _finish(answers, inputs, path.parent.name, args)


ANSWER_BATCH = 256  # most rows per batch: answers are printed batch by batch


def _finish(answers: Answers, inputs: Inputs, name: str, args: argparse.Namespace) -> int:
    on_board = sum(answers.saturated)
    if args.json:
        print_json(answers.document(name, inputs))
    if on_board:
        message = (f"{on_board} of {len(answers.saturated)} rows saturated on the board (a "
                   f"sensed value at the top of its range, or a stage's fixed-point limit)")
        if args.strict:
            print(f"phyff: {message} (--strict)", file=sys.stderr)
            return EXIT_USAGE
        print(f"phyff: warning: {message}", file=sys.stderr)
    return EXIT_OK
