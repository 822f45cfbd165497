"""The training commands of ``phyff``: train, eval, report.

A module of its own (like every command group) so the board commands start
fast without importing the trainer, and these commands own its options.
Every option of :class:`~phyff.training.config.TrainConfig` that a user may
want is a flag; the rest come from the preset, which defaults to the board's
medium (acoustic, microwave, optical) when it has one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from phyff._text import plural
from phyff.cli.common import (
    DATA_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AddCommand,
    fraction,
    model_file,
    print_json,
    resolve_board,
)
from phyff.cli.settings import add_setting_flags, build_config
from phyff.training.identity import refuse_other_board, trained_identity
from phyff.training.runfiles import check_run_path


def add_commands(add: AddCommand) -> None:
    p = add("train", cmd_train, "train a physical network with forward-forward (PhyLL)",
            board=True)
    p.add_argument("--board", default="auto", help="board URL (default: the one connected)")
    _dataset_args(p)
    p.add_argument("--run", type=Path,
                   help="run directory (default runs/<dataset>-<medium>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run from its last completed epoch")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run files already in --run (config, metrics, checkpoint, "
                        "model, goodness); other files there are kept")
    add_setting_flags(p)
    p.add_argument("--oversample", type=int, help="board: ADC reads averaged per sample")
    p.add_argument("--settle-us", type=int, help="board: settle time after each drive")
    p.add_argument("--drive-channels", type=int, help="board: active drive channels")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = add("eval", cmd_eval, "evaluate a saved model on a board", board=True)
    p.add_argument("model", type=Path, help="model.npz (or a run directory)")
    p.add_argument("--board", default="auto", help="board URL (default: the one connected)")
    _dataset_args(p)
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.add_argument("--min-accuracy", type=fraction,
                   help="exit with status 1 when accuracy (0..1) is below this")
    p.add_argument("--force", action="store_true",
                   help="evaluate even on a board whose identity differs from the model's")
    p.add_argument("--inference", choices=["model", "goodness", "onepass", "both"],
                   default="model",
                   help="goodness: argmax over the C label overlays (C x K queries per "
                        "sample); onepass: neutral overlay + read-out (K per sample); both: "
                        "report the two; model (default): the one the model was trained for")
    p.add_argument("--on-device", action="store_true",
                   help="the board classifies with its deployed model (phyff deploy): "
                        "accuracy and confusion from the board's own answers, each score "
                        "checked bit for bit against the host's integer reference, next to "
                        "the host's float accuracy")
    p.add_argument("--no-host", action="store_true",
                   help="with --on-device: skip the host's float evaluation (saves its "
                        "device queries)")

    p = add("report", cmd_report, "plot a run: learning curves, confusion matrix, goodness")
    p.add_argument("run", type=Path, help="run directory")


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True,
                   help="vowels7, vowels7:speaker, hillenbrand12, digits, fashion-mnist[-14|-7]"
                        "[:N], csv:PATH, npz:PATH, idx:IMAGES,LABELS (phyff datasets lists them)")
    p.add_argument("--data", type=Path,
                   help=DATA_HELP)


def _load_dataset(args: argparse.Namespace) -> Any:
    from phyff.datasets import load_dataset

    return load_dataset(args.dataset, data_dir=args.data, seed=0)


def _open_board(args: argparse.Namespace) -> Any:
    from phyff.board.client import Board

    return Board.open(resolve_board(args.board), baudrate=args.baud, timeout=args.timeout)


# ---- train --------------------------------------------------------------------

def default_preset(medium: str) -> tuple[str, str | None]:
    """The preset a board's medium names and, when it names none, why acoustic was chosen.

    A medium names its preset with a `training_preset` attribute on its class or
    factory (built-in media and plugins alike); a real board's medium (`unknown`
    unless its sketch names one), an unknown name or a medium that declares none
    start from the acoustic preset, the paper's vowel settings, and the note says
    so and how to choose.
    """
    from phyff.media import factory_for
    from phyff.media.base import BaseMedium
    from phyff.training.config import PRESETS

    try:
        factory = factory_for(medium)
    except ValueError:
        factory = None
    owners = [k for k in getattr(factory, "__mro__", (factory,)) if k is not BaseMedium]
    named = next((getattr(k, "training_preset", None) for k in owners
                  if "training_preset" in vars(k)), None) if factory is not None else None
    if medium == "acoustic" or named in PRESETS:
        return str(named or "acoustic"), None
    return "acoustic", (
        f"the board's medium {medium!r} names no training preset, so training starts from "
        f"the acoustic preset (the paper's vowel settings); choose with --preset "
        f"{'|'.join(sorted(PRESETS))} (`phyff train --help` lists each preset's values)")


def cmd_train(args: argparse.Namespace) -> int:
    from phyff.board.layer import board_layers
    from phyff.board.link import LinkError
    from phyff.training.session import TrainingInterrupted, train

    data = _load_dataset(args)
    with _open_board(args) as board:
        if any(v is not None for v in (args.oversample, args.settle_us, args.drive_channels)):
            board.configure(oversample=args.oversample, settle_us=args.settle_us,
                            n_drive=args.drive_channels)
        preset, why = default_preset(board.caps.medium)
        config = build_config(args, preset)
        if why and not args.preset and not args.json:
            print(f"note: {why}", file=sys.stderr)
        if args.resume and args.run is None:
            raise ValueError("--resume needs --run DIR (the run to continue)")
        if args.run is not None:
            check_run_path(args.run)
        run = args.run or Path("runs") / (
            f"{data.name.replace(':', '_').replace('/', '_')}-{board.caps.medium}-"
            f"{time.strftime('%Y%m%d-%H%M%S')}")
        layers = board_layers(board, config.n_blocks)
        layer = layers[0]
        if not args.json:
            print(f"training on {board.caps.board} ({board.caps.medium}, {board.n_drive} -> "
                  f"{board.n_sense}) with {data.name}: {len(data.x_train)} train / "
                  f"{len(data.x_test)} test, preset {config.preset}, "
                  f"{plural(config.n_blocks, 'block')}, {plural(config.epochs, 'epoch')} -> "
                  f"{run}", file=sys.stderr)
            if not args.resume:
                line = _rows_line(board, args, config, layers, data)
                if line:
                    print(line, file=sys.stderr)
        t0 = time.perf_counter()
        try:
            result = train(config, layers, data, run, resume=args.resume, overwrite=args.overwrite,
                           progress=not (args.no_progress or args.json))
        except LinkError as lost:
            saved = (Path(run) / "checkpoint.npz").is_file()
            hint = (f"; the run is saved up to its last completed epoch: continue it with "
                    f"phyff train --resume --run {run} ... once the board is back") if saved else ""
            raise LinkError(f"{lost}{hint}") from lost
        except TrainingInterrupted as stop:
            print(f"phyff: {stop} (phyff train --resume --run {stop.run_dir} ...)",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        wall = time.perf_counter() - t0
        history = result.history
        cost = _cost_summary(board, args, result.train_queries, result.eval_queries,
                             result.model.meter.measure_calls)
        summary = {
            "run": str(result.run_dir),
            "model": str(result.model_path),
            "dataset": data.name,
            "board": board.caps.as_dict(),
            "preset": config.preset,
            "preset_note": None if args.preset else why,
            "epochs": result.epochs,
            "train_accuracy": result.train_acc,
            "test_accuracy": result.test_acc,
            "device_queries": result.train_queries + result.eval_queries,
            "train_queries": result.train_queries,
            "eval_queries": result.eval_queries,
            "stopped": result.stop_reason,
            "projected_seconds": cost,
            "digital_macs": history[-1].get("total_macs") if history else None,
            "wall_seconds": round(wall, 3),
            "board_seconds": round(layer.seconds, 3),
            "saturated_samples": layer.saturated,
        }
    if args.json:
        print_json(summary)
    else:
        if result.stop_reason:
            print(f"phyff: {result.stop_reason} (phyff train --resume --run {result.run_dir} "
                  "--max-queries N)", file=sys.stderr)
        print(f"test accuracy {100 * result.test_acc:.1f} % (train {100 * result.train_acc:.1f} %)"
              f" after {plural(result.epochs, 'epoch')} in {wall:.1f} s "
              f"({layer.seconds:.1f} s on the board); model: {result.model_path}")
        print(_cost_text(result.train_queries, result.eval_queries, cost))
        if layer.saturated:
            print(f"note: {layer.saturated} samples saturated the board's converters; consider "
                  f"a lower gain or fewer active channels", file=sys.stderr)
    return EXIT_OK


def _rows_line(board: Any, args: argparse.Namespace, config: Any, layers: Any,
               data: Any) -> str | None:
    """One line when the problem is laid over several device rows: rows, queries, time."""
    from phyff.board.cost import format_seconds
    from phyff.training.loop import new_model
    from phyff.training.plan import plan_run

    model, _ = new_model(config, layers, data)
    if max(model.block_rows) == 1 and model.label_mode == "slots":
        return None  # the paper's layout: nothing to say
    plan = plan_run(config, model, len(data.x_train), len(data.x_test))
    rows = plan.rows[0] if len(set(plan.rows)) == 1 else "/".join(map(str, plan.rows))
    label = ("a superposed class code" if model.label_mode == "add"
             else f"{model.config.n_classes} label slots")
    cost = _cost_summary(board, args, plan.train_queries, plan.eval_queries,
                         plan.queries // max(1, board.caps.max_batch))
    when = ", ".join(f"{format_seconds(t)} on a {name}" for name, t in cost.items())
    how = (f"--rows {model.config.rows}" if model.config.rows
           else "the fewest that fit; --rows sets more")
    return (f"layout: {model.config.n_features} features + {label} = {model.width} inputs over "
            f"{board.n_drive} drive channels: {rows} device rows per sample and block ({how}); "
            f"this run makes about {plan.queries:,} device queries "
            f"({plan.train_queries:,} training, {plan.eval_queries:,} evaluation)"
            + (f", projected {when}" if when else ""))


def _cost_summary(board: Any, args: argparse.Namespace, train_queries: int, eval_queries: int,
                  calls: int) -> dict[str, float]:
    """Projected wall time of these device queries on the board in use (and UART boards)."""
    from phyff.board.cost import BoardFacts, is_emulated, projections
    from phyff.emulator.device import shape_of_url

    total = train_queries + eval_queries
    found = projections(total, calls, BoardFacts.of(board), baud=getattr(args, "baud", None),
                        emulated=is_emulated(board), shape=shape_of_url(board.url))
    return {p.name: round(p.seconds, 3) for p in found}


def _cost_text(train_queries: int, eval_queries: int, cost: dict[str, float]) -> str:
    from phyff.board.cost import format_seconds

    text = (f"device queries: {train_queries + eval_queries:,} ({train_queries:,} training, "
            f"{eval_queries:,} evaluation)")
    if cost:
        text += "; projected wall time: " + ", ".join(
            f"{format_seconds(s)} on a {name}" for name, s in cost.items())
    return text


# ---- eval ---------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from phyff.board.layer import board_layers
    from phyff.phyll.config import INFERENCE_KINDS
    from phyff.phyll.model import load_model

    path = model_file(args.model)
    model = load_model(path)
    if args.on_device:
        return _eval_on_device(args, path, model)
    own = model.own_inference
    kinds: list[str | None] = (
        [own, *(k for k in INFERENCE_KINDS if k != own)] if args.inference == "both"
        else [None if args.inference == "model" else args.inference])
    for kind in kinds:
        model.check_inference(kind)  # refuse before touching the board
    data = _load_dataset(args)
    meta = model.metadata or {}
    recorded = meta.get("dataset")
    fp = recorded.get("fingerprint") if isinstance(recorded, dict) else None
    same_data = fp is None or fp == data.fingerprint()
    with _open_board(args) as board:
        refuse_other_board(meta, board.identity(), force=args.force,
                           advice="Evaluate on the original board, retrain, or pass --force "
                                  "to measure anyway.")
        board.configure_like(trained_identity(meta))
        layers = board_layers(board, model.n_blocks)
        x = data.x_test if args.split == "test" else data.x_train
        y = data.y_test if args.split == "test" else data.y_train
        others: dict[str, dict[str, Any]] = {}
        for kind in kinds[1:]:
            before = model.meter.copy()
            t0 = time.perf_counter()
            other = model.predict(layers, x, kind)
            others[str(kind)] = {
                "accuracy": float(np.mean(other == y)),
                "queries": model.meter.since(before).queries,
                "seconds": round(time.perf_counter() - t0, 3)}
        before = model.meter.copy()
        t0 = time.perf_counter()
        pred = model.predict(layers, x, kinds[0])
        seconds = time.perf_counter() - t0
        queries = model.meter.since(before).queries
    confusion, accuracy, per_class = _confusion(data, y, pred)
    result = {"model": str(args.model), "dataset": data.name, "split": args.split,
              "same_data_as_training": same_data, "accuracy": accuracy, "samples": len(y),
              "seconds": round(seconds, 3), "confusion": confusion.tolist(),
              "per_class": per_class, "inference": kinds[0] or model.config.inference,
              "device_queries": queries, "other_inference": others}
    if args.json:
        print_json(result)
    else:
        print(f"{data.name} {args.split}: accuracy {100 * accuracy:.2f} % on {len(y)} samples "
              f"with {result['inference']} inference ({queries:,} device queries, "
              f"{seconds:.1f} s)")
        for kind, r in others.items():
            print(f"{data.name} {args.split}: accuracy {100 * r['accuracy']:.2f} % with {kind} "
                  f"inference ({r['queries']:,} device queries, {r['seconds']:.1f} s)")
        if not same_data:
            print("note: the dataset differs from the one the model was trained on",
                  file=sys.stderr)
        _print_confusion(per_class, confusion)
    if args.min_accuracy is not None and accuracy < args.min_accuracy:
        return EXIT_FAILED
    return EXIT_OK


def _confusion(data: Any, y: np.ndarray, pred: np.ndarray
               ) -> tuple[np.ndarray, float, list[dict[str, Any]]]:
    """Confusion matrix, accuracy and per-class recall/precision."""
    n = data.n_classes
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    accuracy = float(np.trace(confusion) / max(1, confusion.sum()))
    per_class = []
    for c in range(n):
        support = int(confusion[c].sum())
        predicted = int(confusion[:, c].sum())
        tp = int(confusion[c, c])
        per_class.append({
            "class": data.class_names[c] if c < len(data.class_names) else str(c),
            "support": support,
            "recall": tp / support if support else None,
            "precision": tp / predicted if predicted else None,
        })
    return confusion, accuracy, per_class


def _print_confusion(per_class: list[dict[str, Any]], confusion: np.ndarray) -> None:
    width = max(5, *(len(r["class"]) for r in per_class))
    print(f"{'class':>{width}}  support  recall  precision")
    for r in per_class:
        rec = "-" if r["recall"] is None else f"{100 * r['recall']:.1f}"
        prec = "-" if r["precision"] is None else f"{100 * r['precision']:.1f}"
        print(f"{r['class']:>{width}}  {r['support']:7d}  {rec:>6}  {prec:>9}")
    print("confusion (rows: true, columns: predicted)")
    for row in confusion:
        print("  " + " ".join(f"{v:4d}" for v in row))


def _eval_on_device(args: argparse.Namespace, path: Path, model: Any) -> int:
    """eval --on-device: the board's own classifications of a split, checked and compared."""
    from phyff.board.layer import board_layers
    from phyff.ondevice.deploy import evaluate, load_deployment

    if args.inference != "model":
        raise ValueError("--on-device runs the inference the model was deployed with; "
                         "leave out --inference")
    image = load_deployment(path)
    data = _load_dataset(args)
    x = data.x_test if args.split == "test" else data.x_train
    y = data.y_test if args.split == "test" else data.y_train
    with _open_board(args) as board:
        board.require_infer()
        on_device = evaluate(board, image, x)
        stats = board.stats()
        host: dict[str, Any] | None = None
        if not args.no_host:
            meta = model.metadata or {}
            board.configure_like(trained_identity(meta))
            before = model.meter.copy()
            t0 = time.perf_counter()
            pred = model.predict(board_layers(board, model.n_blocks), x)
            seconds = time.perf_counter() - t0
            host = {"accuracy": float(np.mean(pred == y)), "seconds": round(seconds, 3),
                    "device_queries": model.meter.since(before).queries,
                    "samples_per_second": len(y) / seconds if seconds > 0 else None}
    confusion, accuracy, per_class = _confusion(data, y, on_device.predictions)
    per_sample_us = (1e6 * stats.infer_digital_us / stats.infer_samples
                     if stats.infer_samples else None)
    result = {"model": str(args.model), "dataset": data.name, "split": args.split,
              "samples": len(y), "on_device_accuracy": accuracy,
              "bit_exact": (None if on_device.refit_samples else on_device.bit_exact),
              "refit_samples": on_device.refit_samples,
              "saturated_samples": on_device.saturated,
              "on_device_seconds": round(on_device.seconds, 3),
              "on_device_samples_per_second": on_device.samples_per_second,
              "board_digital_us_per_sample": per_sample_us,
              "host_float": host, "confusion": confusion.tolist(), "per_class": per_class}
    if args.json:
        print_json(result)
    else:
        checked = (f"scores not checked: the board refitted the read-out itself from "
                   f"{on_device.refit_samples} samples (phyff adapt), which this run's image "
                   f"does not hold" if on_device.refit_samples else
                   f"scores bit-exact with the host's integer reference on "
                   f"{100 * on_device.bit_exact:.1f} % of samples")
        print(f"{data.name} {args.split}: on-device accuracy {100 * accuracy:.2f} % on "
              f"{len(y)} samples ({on_device.seconds:.2f} s, "
              f"{on_device.samples_per_second:,.0f} samples/s); {checked}")
        if host is not None:
            print(f"{data.name} {args.split}: host float accuracy "
                  f"{100 * host['accuracy']:.2f} % ({host['device_queries']:,} device "
                  f"queries, {host['seconds']:.2f} s"
                  + (", with the read-out trained on the host)" if on_device.refit_samples
                     else ")"))
        if on_device.saturated:
            print(f"note: {on_device.saturated} samples saturated somewhere on the board",
                  file=sys.stderr)
        _print_confusion(per_class, confusion)
    if on_device.bit_exact == on_device.bit_exact and on_device.bit_exact < 1.0:
        print("phyff: the board's scores differ from the host reference: flash the firmware "
              "that ships with this phyff", file=sys.stderr)
        return EXIT_FAILED
    if args.min_accuracy is not None and accuracy < args.min_accuracy:
        return EXIT_FAILED
    return EXIT_OK


# ---- report -------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from phyff.training.plots import make_report
    from phyff.training.runfiles import METRICS_FILE, read_metrics

    records = read_metrics(args.run / METRICS_FILE)  # complete lines only: a torn one is skipped
    paths = make_report(args.run)
    if args.json:
        print_json({"run": str(args.run), "figures": [str(p) for p in paths]})
        return EXIT_OK
    for p in paths:
        print(p)
    last = records[-1] if records else {}
    acc = last.get("test_acc")
    if isinstance(acc, int | float):
        print(f"last epoch {last.get('epoch')}: test accuracy {100 * acc:.1f} %")
    return EXIT_OK
