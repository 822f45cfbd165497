"""Put a trained model on its board, and ask the board itself to classify.

``deploy`` measures a few training samples through the board with the float
model (calibration: the scales of every stage), quantises (quantise.py),
refuses what the board cannot hold (its capacity, its identity), loads the
image, then classifies some calibration samples on the board with a trace
and recomputes every score on the host (reference.py): a deployment ends
either with the board's answers proven bit for bit or with an error.

``evaluate`` does the same check on a whole split: the board classifies,
its scores are recomputed from its own sensed values, and accuracy and
confusion come from the board's answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phyff._fileio import write_atomic
from phyff.board.client import Board, InferResult, ModelTooLarge
from phyff.board.layer import BoardLayer
from phyff.board.link import BoardError, LinkError
from phyff.ondevice import reference as ref
from phyff.ondevice.limits import DoesNotFit, check_fits, explain_refusal
from phyff.ondevice.quantise import DEFAULT_MAX_ERROR, Quantised, quantise, to_q15
from phyff.phyll.model import Model
from phyff.phyll.transform import RANGE_FACTOR, InputTransform, from_metadata
from phyff.protocol.model_image import Description, ModelImage
from phyff.protocol.wire import ModelInfo, Status, crc32

IMAGE_FILE = "device-model.bin"
REPORT_FILE = "device-model.json"


class WrongModelOnBoard(ValueError):
    """The board holds another model than the one asked about."""


class BoardDisagrees(LinkError):
    """The board's scores differ from the host's integer reference: mismatched firmware."""


@dataclass
class Deployment:
    """What deploy did and measured."""

    quantised: Quantised
    info: ModelInfo
    image: bytes
    calibration_queries: int
    check_samples: int
    check_agreement: float  # share of checked samples whose scores match bit for bit
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "image_bytes": len(self.image), "crc32": f"0x{crc32(self.image):08x}",
            "model": self.info.as_dict(),
            "layers": [r.as_dict() for r in self.quantised.layers],
            "calibration_rows": self.quantised.calibration_rows,
            "calibration_queries": self.calibration_queries,
            "integer_float_agreement": self.quantised.agreement,
            "check_samples": self.check_samples,
            "described": self.quantised.image.description is not None,
            "check_bit_exact": self.check_agreement,
            "seconds": round(self.seconds, 3),
        }


MODEL_FILE = "model.npz"  # a run directory's model (training/runfiles.py)


def model_name(path: Path) -> str:
    """A model's name on the board (<= 16 ASCII characters): its run directory's name
    for a run's model.npz (or the directory itself), else the model file's own name."""
    path = Path(path)
    if path.is_dir() or path.name == MODEL_FILE:
        run = path if path.is_dir() else path.parent
        text = run.resolve().name
    else:
        text = path.stem
    return text.encode("ascii", "replace").decode("ascii")[:16] or "model"


def deployment_paths(model_path: Path) -> tuple[Path, Path]:
    """Where the device image and its report of a model go: beside the model file.

    A run's model.npz: ``device-model.bin`` / ``.json`` in the run directory; any
    other model file ``NAME.npz``: ``NAME.device-model.bin`` / ``.json`` next to it,
    so two models in one folder never share an image.
    """
    path = Path(model_path)
    if path.is_dir():
        path = path / MODEL_FILE
    if path.name == MODEL_FILE:
        return path.parent / IMAGE_FILE, path.parent / REPORT_FILE
    return (path.with_name(f"{path.stem}.{IMAGE_FILE}"),
            path.with_name(f"{path.stem}.{REPORT_FILE}"))


def features_q15(features: NDArray[np.float64], input_exp: int) -> NDArray[np.int16]:
    """Float features in the model's input scale -> the int16 an INFER request carries."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (samples, features), got shape "
                         f"{x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"feature {col} of sample {row} is {x[row, col]}: every feature "
                         f"must be a finite number")
    return to_q15(x, input_exp)


def check_against_reference(image: ModelImage, x_q: NDArray[np.int16], result: InferResult
                            ) -> NDArray[np.bool_]:
    """Per sample: do the board's scores equal the host reference's, from the board's trace?"""
    assert result.trace is not None
    expected = ref.run(image, x_q, ref.replay(image, result.trace))
    return ((expected.scores == result.scores).all(axis=1)
            & (expected.classes == result.classes))


@dataclass
class Calibrated:
    """A quantised image, the calibration rows it was fitted on and what it cost."""

    quantised: Quantised
    x_cal: NDArray[np.float64]
    queries: int


def calibrate(model: Model, board: Board, features: NDArray[np.float64],
              labels: NDArray[np.int64], *, name: str, calibration: int = 256,
              max_error: float = DEFAULT_MAX_ERROR, seed: int = 0,
              transform: InputTransform | None = None) -> Calibrated:
    """Quantise `model` on calibration samples measured through `board` (QUERY only: a
    board without model memory can calibrate an image that is compiled in elsewhere).

    The image ends with the description of `transform` (default: the one the
    model's metadata records; model.h M-D1-D5), when there is one."""
    if calibration < 1 or len(features) == 0:
        raise ValueError("calibration needs at least one training sample to choose the "
                         "fixed-point scales from (a few hundred give margins that hold)")
    rng = np.random.default_rng(seed)
    n = len(features)
    pick = np.sort(rng.choice(n, size=min(calibration, n), replace=False))
    x_cal, y_cal = np.asarray(features)[pick], np.asarray(labels)[pick]
    identity = (model.metadata.get("layers") or [BoardLayer(board).identity])[0]
    layers = [BoardLayer(board)] * model.n_blocks
    before = model.meter.copy()
    quantised = quantise(model, layers, x_cal, y_cal, identity=identity, name=name,
                         max_error=max_error, seed=seed)
    quantised.image.description = description_of(model, transform)
    return Calibrated(quantised, x_cal, model.meter.since(before).queries)


NO_DESCRIPTION = ("the model file records no input scaling (it was written before phyff kept "
                  "one), so its device image carries no description: hosts must send values "
                  "already in the model's input scale (phyff classify --scaled), or train the "
                  "model again to get one")


def description_of(model: Model, transform: InputTransform | None = None
                   ) -> Description | None:
    """The image's description section (model.h M-D1-D5) from the model's input transform
    (or `transform`): what a host needs to send raw values; None when there is none."""
    if transform is None:
        transform = from_metadata(model.metadata)
    if transform is None:
        return None
    return Description.of(transform.scale, transform.limit, transform.clip,
                          transform.feature_names, transform.class_names, RANGE_FACTOR)


def transform_of(description: Description | None) -> InputTransform | None:
    """The InputTransform a board's description stands for (the inverse of
    description_of, with the image's float32 values); None for none."""
    if description is None:
        return None
    d = description
    return InputTransform(d.scale, d.clip, d.limit, d.feature_names, d.class_names,
                          d.range_factor)


def deploy(model: Model, board: Board, features: NDArray[np.float64], labels: NDArray[np.int64],
           *, name: str, calibration: int = 256, check: int = 64,
           max_error: float = DEFAULT_MAX_ERROR, seed: int = 0,
           transform: InputTransform | None = None) -> Deployment:
    """Quantise `model` on calibration samples measured through `board`, load it, prove it."""
    t0 = time.perf_counter()
    board.require_infer()
    caps = board.caps
    if caps.max_classes and model.config.n_classes > caps.max_classes:
        raise DoesNotFit(f"the model has {model.config.n_classes} classes; the board "
                         f"{caps.board!r} allows at most {caps.max_classes} (caps.max_classes): "
                         f"train with fewer classes or use a board with a larger limit")
    cal = calibrate(model, board, features, labels, name=name, calibration=calibration,
                    max_error=max_error, seed=seed, transform=transform)
    quantised, x_cal, queries = cal.quantised, cal.x_cal, cal.queries
    image = quantised.data
    check_fits(quantised.image, caps)  # the byte count gets its own message below
    capacity = board.caps.model_capacity
    if len(image) > capacity:
        described = quantised.image.description
        extra = (f", {len(described.pack()):,} of them its description (input scaling, "
                 f"feature and class names)" if described is not None else "")
        raise ModelTooLarge(
            f"the quantised model is {len(image):,} bytes ({model.n_blocks} blocks: "
            f"{', '.join(f'{b.head.d_out}x{b.head.z_width}' for b in quantised.image.blocks)} "
            f"weights{extra}) and the board's model memory holds {capacity:,}: use a smaller "
            f"model or a board with more memory")
    try:
        info = board.load_model(image)
    except BoardError as exc:
        why = (explain_refusal(quantised.image, caps, exc.arg)
               if exc.status == Status.BAD_MODEL else None)
        if why is None:
            raise
        raise DoesNotFit(f"the board refused the model: {why}") from None
    if info.crc32 != crc32(image):
        raise BoardDisagrees(f"the board committed an image with CRC 0x{info.crc32:08x}, "
                             f"this host sent 0x{crc32(image):08x}")
    m = min(check, len(x_cal))
    agreement = 1.0
    if m:
        x_q = features_q15(x_cal[:m], info.input_exp)
        result = board.infer(x_q, trace=True, info=info)
        same = check_against_reference(quantised.image, x_q, result)
        agreement = float(same.mean())
        if not same.all():
            raise BoardDisagrees(
                f"the board's scores differ from the host's integer reference on "
                f"{int((~same).sum())} of {m} samples (first: sample {int(np.argmin(same))}); "
                f"the firmware and this phyff disagree on model.h: flash the firmware that "
                f"ships with this phyff")
    return Deployment(quantised, info, image, queries, m, agreement, time.perf_counter() - t0)


def save_deployment(model_path: Path, deployment: Deployment, board_url: str
                    ) -> tuple[Path, Path]:
    """Keep the image and its report beside the model, so eval --on-device can check the board."""
    return save_image(model_path, deployment.image,
                      {**deployment.as_dict(), "board": board_url})


def save_image(model_path: Path, image: bytes, report: dict[str, Any]) -> tuple[Path, Path]:
    """The image a board holds (loaded or compiled in) and its report, beside the model:
    classify --model and eval --on-device check the board against it."""
    image_path, report_path = deployment_paths(model_path)
    for path, data in ((image_path, image),
                       (report_path, (json.dumps(report, indent=2) + "\n").encode())):
        write_atomic(path, data)
    return image_path, report_path


def load_deployment(model_path: Path) -> ModelImage:
    """The image `phyff deploy` wrote for this model (a run directory or a model file)."""
    path, _ = deployment_paths(model_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no deployed model beside {model_path} ({path.name} is missing): run "
            f"phyff deploy {model_path} --board URL first")
    try:
        return ModelImage.unpack(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"{path} is not a model image ({exc}): deploy the run again") from exc


def check_board_holds(board: Board, image: ModelImage) -> ModelInfo:
    """The board's model, refused unless it is exactly this image."""
    info = board.model_info()
    want = crc32(image.pack())
    if info is None:
        raise WrongModelOnBoard(
            f"the board holds no model: run phyff deploy RUN --board {board.url or 'URL'} "
            f"first")
    if info.crc32 != want:
        raise WrongModelOnBoard(
            f"the board holds model {info.name!r} (CRC 0x{info.crc32:08x}), not this run's "
            f"{image.head.name!r} (CRC 0x{want:08x}): run phyff deploy for this run first")
    return info


def check_board_holds_run(board: Board, image: ModelImage) -> ModelInfo:
    """The board's model: this image, or this image with a read-out the board refitted
    (wire.h W-N6: same name, size and shape; only the read-out and score scale differ).
    Enough for what uses the run's input scaling and class names (classify, adapt), not
    for a bit-exact check against the host's image (evaluate)."""
    info = board.model_info()
    if info is not None and info.refitted and (
            info.name, info.image_size, info.n_features, info.n_classes, info.n_blocks) == (
            image.head.name, len(image.pack()), image.head.n_features, image.head.n_classes,
            len(image.blocks)):
        return info
    return check_board_holds(board, image)


@dataclass
class OnDeviceEvaluation:
    """The board's own answers on a split, and how they check against the host."""

    predictions: NDArray[np.int64]
    scores: NDArray[np.int64]
    bit_exact: float  # NaN: not checked (see refit_samples)
    saturated: int
    seconds: float
    samples_per_second: float
    refit_samples: int = 0  # > 0: the board refitted the read-out from these samples


def evaluate(board: Board, image: ModelImage, features: NDArray[np.float64],
             *, check: bool = True) -> OnDeviceEvaluation:
    """Classify on the board; with `check`, recompute every score from the board's trace.

    A board that refitted this image's read-out itself (wire.h W-N6, `phyff adapt`)
    is evaluated too, but its scores cannot be checked: the host never saw the new
    read-out (`refit_samples` says so and `bit_exact` is NaN)."""
    info = check_board_holds_run(board, image)
    refitted = info.crc32 != crc32(image.pack())
    check = check and not refitted
    x_q = features_q15(features, info.input_exp)
    t0 = time.perf_counter()
    result = board.infer(x_q, trace=check, info=info)
    seconds = time.perf_counter() - t0
    exact = float(check_against_reference(image, x_q, result).mean()) if check else float("nan")
    n = len(x_q)
    return OnDeviceEvaluation(result.classes, result.scores, exact, int(result.saturated.sum()),
                              seconds, n / seconds if seconds > 0 else float("inf"),
                              int(info.readout_samples) if refitted else 0)
