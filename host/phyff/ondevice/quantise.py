"""From a trained float model to the board's fixed-point image (model.h).

What is quantised, and how (why each choice):

* every vector kind gets a power-of-two scale (an exponent), so rescaling on
  the board is a shift, never a multiply: the input features, each block's
  output, the scores;
* weights are Q15 with one exponent per segment (the columns acting on the
  sensed values, those acting on the block input, the read-out's block
  segments), chosen as the smallest power of two that holds the segment's
  largest |weight|, so no weight saturates and each keeps 15 bits against
  its segment's largest;
* products are summed exactly in int64 at the finest unit of the segments;
  a segment more than 16 bits coarser than the finest is brought closer by
  coarsening the finer one's weights (its products are then below the
  others' resolution anyway), which bounds every accumulator (model.h M-V3);
* output exponents come from calibration data measured through the board:
  the largest |y| seen, with a 1.5x margin for inputs the calibration did
  not see (test samples), so outputs rarely saturate;
* the error each layer's quantisation adds is measured on the same
  calibration rows (relative RMS of the layer's outputs, integer vs float,
  on the same inputs) and reported; a model whose error is beyond a bound
  is refused with the numbers, as it would not classify as trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phyff.ondevice import reference as ref
from phyff.phyll.layout import wrong_labels
from phyff.phyll.model import Model, PhysicalLayer
from phyff.protocol import model_image
from phyff.protocol.model_image import (
    Block,
    BlockHead,
    CodeHead,
    CodeOverlay,
    ModelHead,
    ModelImage,
    Readout,
    ReadoutHead,
)

EXP_LIMIT = 32  # model.h M-V2/M-V3
CODE_GAIN_MAX = 1024  # model.h M-L1
SEGMENT_SPREAD = 16  # largest shift between segments (model.h M-V3)
SHIFT_BIAS_MAX = 40
SHIFT_OUT_MAX = 62
OUTPUT_MARGIN = 1.5
SCORE_MARGIN = 2.0
DEFAULT_MAX_ERROR = 0.05


class NotDeployable(ValueError):
    """The model cannot be expressed in the board's fixed-point formats."""


@dataclass
class LayerReport:
    """Quantisation of one layer, measured on the calibration rows."""

    name: str
    weight_exps: dict[str, int]
    out_exp: int
    relative_error: float  # worst unit's RMS(int - float) / RMS(float) (_rel_error)
    saturated: float  # fraction of outputs that saturated
    weight_error: float  # largest |q - w| / max|w| of the weights

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.name, "weight_exps": self.weight_exps, "out_exp": self.out_exp,
                "relative_error": self.relative_error, "saturated": self.saturated,
                "weight_error": self.weight_error}


@dataclass
class Quantised:
    """The image, its bytes, and what quantising cost."""

    image: ModelImage
    layers: list[LayerReport] = field(default_factory=list)
    calibration_rows: int = 0
    agreement: float = 1.0  # classes of the integer pipeline = float ones, calibration rows

    @property
    def data(self) -> bytes:
        return self.image.pack()


def exponent_for(magnitude: float, margin: float = 1.0) -> int:
    """Smallest e with magnitude * margin <= 2^e (0 for an all-zero vector)."""
    m = float(magnitude) * margin
    if not math.isfinite(m):
        raise NotDeployable(f"a value of magnitude {magnitude} cannot be represented")
    if m <= 0.0:
        return 0
    return math.ceil(math.log2(m))


def to_q15(values: NDArray[np.float64], exp: int) -> NDArray[np.int16]:
    """Reals -> Q15 scaled by 2^exp: round half away from zero, saturate (fixed.h FX-F6)."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0 ** (15 - exp)
    q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    return np.clip(q, -32768, 32767).astype(np.int16)


def from_q(values: NDArray[Any], exp: int, frac_bits: int = 15) -> NDArray[np.float64]:
    """int values scaled by 2^(exp - frac_bits) -> reals."""
    return np.asarray(values, dtype=np.float64) * 2.0 ** (exp - frac_bits)


def _check_exp(exp: int, what: str) -> int:
    if not -EXP_LIMIT <= exp <= EXP_LIMIT:
        raise NotDeployable(f"{what} needs the scale 2^{exp}, outside the board's 2^-{EXP_LIMIT}"
                            f"..2^{EXP_LIMIT}: its values are too large or too small for Q15")
    return exp


@dataclass
class _Segment:
    """Columns of a weight matrix acting on one input vector of a known exponent."""

    weights: NDArray[np.float64]
    in_exp: int
    name: str
    w_exp: int = 0
    shift: int = 0

    @property
    def unit(self) -> int:
        return self.w_exp + self.in_exp - 30


def _plan_segments(segments: list[_Segment], bias: NDArray[np.float64], what: str
                   ) -> tuple[int, int, int]:
    """Choose weight exponents and shifts; returns (unit, bias exponent, shift_b)."""
    for seg in segments:
        seg.w_exp = _check_exp(exponent_for(np.abs(seg.weights).max(initial=0.0)),
                               f"{what} ({seg.name} weights)")
    coarsest = max(seg.unit for seg in segments)
    for seg in segments:  # keep every segment within SEGMENT_SPREAD bits of the coarsest
        if coarsest - seg.unit > SEGMENT_SPREAD:
            seg.w_exp += coarsest - seg.unit - SEGMENT_SPREAD
    unit = min(seg.unit for seg in segments)
    for seg in segments:
        seg.shift = seg.unit - unit
    b_exp = max(exponent_for(np.abs(bias).max(initial=0.0)), unit + 15)
    shift_b = b_exp - 15 - unit
    if shift_b > SHIFT_BIAS_MAX:
        raise NotDeployable(
            f"{what}: its bias (largest |b| = {np.abs(bias).max():.4g}) is 2^{shift_b} times "
            f"the resolution of its weighted sums, more than the board's 2^{SHIFT_BIAS_MAX}: "
            f"the weights are too small next to the bias to survive Q15")
    return unit, _check_exp(b_exp, f"{what} (bias)"), shift_b


def _out_shift(unit: int, magnitude: float, frac_bits: int, margin: float, what: str
               ) -> tuple[int, int]:
    """(output exponent, shift_out) for outputs of this magnitude."""
    exp = exponent_for(magnitude, margin)
    shift = exp - frac_bits - unit
    if shift < 0:  # outputs finer than the sums' resolution: keep the resolution
        exp, shift = unit + frac_bits, 0
    if shift > SHIFT_OUT_MAX:
        raise NotDeployable(f"{what}: outputs need a shift of {shift} bits (> {SHIFT_OUT_MAX})")
    return _check_exp(exp, f"{what} (outputs)"), shift


def _rel_error(approx: NDArray[np.float64], exact: NDArray[np.float64]) -> float:
    """The worst output unit's RMS error relative to its own RMS.

    Per unit, not over the whole layer: one large unit must not hide the
    others losing their precision (with one output exponent per layer, a unit
    2^10 times quieter than the loudest keeps 5 bits). Units a million times
    quieter than the loudest are judged against that millionth, so a dead
    unit (weights about 0) does not count as a large error.
    """
    if exact.size == 0:
        return 0.0
    rms = np.sqrt(np.mean(exact * exact, axis=0))
    floor = 1e-6 * float(rms.max(initial=0.0))
    err = np.sqrt(np.mean((approx - exact) ** 2, axis=0))
    den = np.maximum(rms, floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(den > 0, err / np.where(den > 0, den, 1.0), err)
    return float(ratio.max(initial=0.0))


def check_deployable(model: Model) -> None:
    """Refuse, before any measurement, a model the board's pipeline cannot run."""
    cfg = model.config
    if cfg.unsupervised:
        raise NotDeployable(
            "this model was trained without labels (unsupervised); the on-device pipeline "
            "always writes a label overlay, so it runs supervised models only: train with "
            "labels to deploy")
    if cfg.overlay != "sample":
        raise NotDeployable(
            f"this model uses the {cfg.overlay!r} label overlay, whose value depends on the "
            f"whole batch; a board classifies one sample at a time: retrain with --overlay "
            f"sample to deploy")
    if max(model.block_rows) > model_image.MAX_ROWS:
        raise NotDeployable(f"the model drives a block as {max(model.block_rows)} device rows "
                            f"per sample; a board runs at most {model_image.MAX_ROWS}")
    if model.label_mode == "add" and not 0 < round(cfg.label_gain * 256) <= CODE_GAIN_MAX:
        raise NotDeployable(f"the class code's gain {cfg.label_gain} has no on-device form "
                            f"(1/256 .. {CODE_GAIN_MAX / 256:g}): retrain with another "
                            f"--label-gain")
    kind = model.check_inference()
    if kind == "goodness" and cfg.goodness != "cosine":
        raise NotDeployable(
            f"goodness inference on the board uses the cosine goodness; this model's is "
            f"{cfg.goodness!r}: retrain with --goodness cosine or use one-pass inference")
    if model.n_blocks > model_image.MAX_BLOCKS:
        raise NotDeployable(f"the model has {model.n_blocks} blocks; a board runs at most "
                            f"{model_image.MAX_BLOCKS}")
    for k, spec in enumerate(model.specs):
        if spec.encoder not in model_image.ENCODERS:
            raise NotDeployable(f"block {k}'s encoder {spec.encoder!r} has no integer form "
                                f"on the board ({', '.join(model_image.ENCODERS)} do)")
    for k in range(model.n_blocks):
        if not np.isfinite(model.params[k]).all():
            raise NotDeployable(f"block {k}'s weights contain NaN or inf: the training "
                                f"diverged; retrain (e.g. with a lower learning rate)")
    if model.readout is not None and not np.isfinite(model.readout).all():
        raise NotDeployable("the read-out contains NaN or inf; refit it")


@dataclass
class _Calibration:
    """Float-path rows of every block: inputs h, sensed p, outputs y (per pass kind)."""

    h: list[NDArray[np.float64]]
    p: list[NDArray[np.float64] | None]
    y: list[NDArray[np.float64]]
    x0: NDArray[np.float64]
    features: NDArray[np.float64]  # the raw features of x0's rows (before any overlay)


def _calibrate(model: Model, layers: Sequence[PhysicalLayer] | None,
               features: NDArray[np.float64], labels: NDArray[np.int64],
               rng: np.random.Generator) -> _Calibration:
    """Run the float model on calibration inputs through the board, keeping every stage.

    One-pass models see the neutral overlay (what they classify with); goodness
    models see the right label and a wrong one (the range of all overlays).
    """
    x = model.prepare(features)
    if model.config.inference == "onepass":
        rows = model.neutral(x)
        raw = np.asarray(features, np.float64)
    else:
        c = model.config.n_classes
        rows = np.concatenate([model.overlay(x, labels),
                               model.overlay(x, wrong_labels(labels, c, rng))])
        raw = np.concatenate([features, features]).astype(np.float64)
    h = rows.astype(model.dtype)
    hs, ps, ys = [], [], []
    for k, spec in enumerate(model.specs):
        za = model.block_input(k, layers, h)
        hs.append(np.asarray(h, dtype=np.float64))
        ps.append(np.asarray(za[:, :spec.sensed], np.float64) if model.config.physical
                  else None)
        h = model.block_output(k, za)
        ys.append(np.asarray(h, dtype=np.float64))
    return _Calibration(hs, ps, ys, np.asarray(rows, dtype=np.float64), raw)


def quantise(model: Model, layers: Sequence[PhysicalLayer] | None,
             features: NDArray[np.float64], labels: NDArray[np.int64], *,
             identity: dict[str, Any], name: str,
             max_error: float = DEFAULT_MAX_ERROR, seed: int = 0) -> Quantised:
    """The board image of `model`, calibrated on (features, labels) measured through `layers`.

    identity: the training board's caps (unit_id, board, medium) and the
    measuring settings (config: settle_us, oversample) the model was trained with.
    Steps: calibrate (measure every stage in float), quantise each block on the
    exponent of its input, then the read-out (one-pass models), write the head,
    and refuse the image when a layer's error exceeds `max_error`.
    """
    check_deployable(model)
    caps = identity.get("caps") or {}
    cal = _calibrate(model, layers, features, labels, np.random.default_rng(seed))
    input_exp = _check_exp(exponent_for(np.abs(cal.x0).max(initial=0.0)), "the input")
    blocks: list[Block] = []
    reports: list[LayerReport] = []
    in_exp = input_exp
    for k in range(model.n_blocks):
        block, report = _quantise_block(model, k, cal, in_exp, identity.get("config") or {})
        blocks.append(block)
        reports.append(report)
        in_exp = block.head.out_exp
    readout: Readout | None = None
    readout_exps: dict[str, int] = {}
    score_exp = 16
    if model.config.inference == "onepass":
        readout, score_exp, readout_exps = _quantise_readout(model, blocks, cal)
    head = _model_head(model, caps, name, input_exp, score_exp)
    image = ModelImage(head, blocks, readout, _code_overlay(model))
    result = Quantised(image, reports, len(cal.x0))
    if readout is not None:
        result.layers.append(_readout_report(model, image, cal, score_exp, readout_exps))
    result.agreement = _agreement(model, image, cal)
    _refuse_large_errors(result, max_error)
    return result


def _quantise_block(model: Model, k: int, cal: _Calibration, in_exp: int,
                    board_cfg: dict[str, Any]) -> tuple[Block, LayerReport]:
    """Block k in fixed point (its input at 2^in_exp), with the error it adds."""
    cfg, spec, plan = model.config, model.specs[k], model.plans[k]
    w = np.asarray(model.weights(k), dtype=np.float64)
    b = np.asarray(model.bias(k), dtype=np.float64)
    segments: list[_Segment] = []
    col = 0
    if cfg.physical:
        segments.append(_Segment(w[:, :spec.sensed], 0, "sensed"))
        col = spec.sensed
    if cfg.skip or not cfg.physical:
        segments.append(_Segment(w[:, col:col + spec.d_in], in_exp, "input"))
    what = f"block {k}"
    unit, b_exp, shift_b = _plan_segments(segments, b, what)
    out_exp, shift_out = _out_shift(unit, np.abs(cal.y[k]).max(initial=0.0), 15,
                                    OUTPUT_MARGIN, what)
    q_w = np.concatenate([to_q15(s.weights, s.w_exp) for s in segments], axis=1)
    seg = {s.name: s for s in segments}
    flags = (model_image.BLOCK_PHYSICAL if cfg.physical else 0) | (
        model_image.BLOCK_SKIP if (cfg.skip or not cfg.physical) else 0)
    head = BlockHead(
        encoder=model_image.ENCODERS[spec.encoder], flags=flags, d_in=spec.d_in,
        n_drive=spec.n_drive, n_sense=spec.n_sense,
        d_out=spec.d_out, in_exp=in_exp, out_exp=out_exp,
        shift_p=seg["sensed"].shift if "sensed" in seg else 0,
        shift_h=seg["input"].shift if "input" in seg else 0,
        shift_b=shift_b, shift_out=shift_out,
        settle_us=int(board_cfg.get("settle_us", 0)),
        oversample=int(board_cfg.get("oversample", 1)), readout_shift=0,
        rows=0 if plan.is_plain else spec.rows)
    slots = (None if plan.is_plain
             else plan.slots.astype(np.uint16).reshape(spec.rows, spec.n_drive))
    block = Block(head, q_w, to_q15(b, b_exp), to_q15(np.asarray(model.xis[k], np.float64), 0),
                  slots)
    return block, _block_report(what, block, segments, cal, k)


def _block_report(what: str, block: Block, segments: list[_Segment], cal: _Calibration,
                  k: int) -> LayerReport:
    """The block's own error: its integer affine map on the float path's inputs."""
    sensed = cal.p[k]
    p_q = np.rint(sensed * 32768.0).astype(np.int64) if sensed is not None else None
    h_q = to_q15(cal.h[k], block.head.in_exp).astype(np.int64)
    y_q, clipped = ref.affine(block, p_q, h_q)
    y_int = from_q(y_q, block.head.out_exp)
    weight_err = max(float(np.abs(from_q(to_q15(s.weights, s.w_exp), s.w_exp)
                                  - s.weights).max(initial=0.0))
                     / max(float(np.abs(s.weights).max(initial=0.0)), 1e-300)
                     for s in segments)
    return LayerReport(what, {s.name: s.w_exp for s in segments}, block.head.out_exp,
                       _rel_error(y_int, cal.y[k]),
                       float(clipped.mean()) if clipped.size else 0.0, weight_err)


def _quantise_readout(model: Model, blocks: list[Block], cal: _Calibration
                      ) -> tuple[Readout, int, dict[str, int]]:
    """The one-pass read-out in fixed point: (record, score exponent, weight exponents).

    One weight segment per block (its outputs have the block's exponent); each
    block's head learns the shift of its segment (readout_shift).
    """
    assert model.readout is not None
    r = np.asarray(model.readout, dtype=np.float64)  # (F + 1, C), last row the bias
    feats = [model.readout_input(y) for y in cal.y]
    segments = []
    col = 0
    for k, blk in enumerate(blocks):
        d = blk.head.d_out
        segments.append(_Segment(r[col:col + d].T, blk.head.out_exp, f"block {k}"))
        col += d
    unit, b_exp, shift_b = _plan_segments(segments, r[-1], "the read-out")
    scores_float = np.concatenate(feats, axis=1) @ r[:-1] + r[-1]
    score_exp, shift_out = _out_shift(unit, np.abs(scores_float).max(initial=0.0), 31,
                                      SCORE_MARGIN, "the read-out")
    q_r = np.concatenate([to_q15(s.weights, s.w_exp) for s in segments], axis=1)
    readout = Readout(ReadoutHead(col, model.config.n_classes, shift_b, shift_out),
                      q_r, to_q15(r[-1], b_exp))
    for k, s in enumerate(segments):
        blocks[k].head = _with_readout_shift(blocks[k].head, s.shift)
    return readout, score_exp, {s.name: s.w_exp for s in segments}


def _model_head(model: Model, caps: dict[str, Any], name: str, input_exp: int,
                score_exp: int) -> ModelHead:
    """The image's head: what the model takes and answers, and its training board."""
    cfg = model.config
    onepass = cfg.inference == "onepass"
    return ModelHead(
        magic=model_image.MAGIC, version=model_image.VERSION, n_blocks=model.n_blocks,
        inference=model_image.INFERENCE_ONEPASS if onepass else model_image.INFERENCE_GOODNESS,
        n_features=cfg.n_features, n_classes=cfg.n_classes, width=model.width,
        feature_offset=model.offset, train_unit_id=int(caps.get("unit_id", 0)),
        input_exp=input_exp, score_exp=score_exp,
        overlay=model_image.OVERLAY_CODE if model.label_mode == "add"
        else model_image.OVERLAY_SLOTS,
        readout_abs=1 if cfg.readout_features == "abs" else 0, name=name[:16],
        train_board=str(caps.get("board", ""))[:16], train_medium=str(caps.get("medium", ""))[:16])


def _code_overlay(model: Model) -> CodeOverlay | None:
    """The class-code section (model.h M-L1) of a model whose label is a superposed code."""
    if model.label_mode != "add":
        return None
    assert model.codes is not None
    return CodeOverlay(CodeHead(round(model.config.label_gain * 256)),
                       np.where(model.codes < 0, -1, 1).astype(np.int8))


def _refuse_large_errors(result: Quantised, max_error: float) -> None:
    """NotDeployable, with every layer's numbers, when one layer's error exceeds max_error."""
    worst = max(result.layers, key=lambda r: r.relative_error)
    if worst.relative_error > max_error:
        table = "; ".join(f"{r.name} {100 * r.relative_error:.2f} % "
                          f"({100 * r.saturated:.1f} % saturated)" for r in result.layers)
        raise NotDeployable(
            f"quantising to Q15 changes {worst.name}'s outputs by {100 * worst.relative_error:.2f}"
            f" % (RMS of its worst unit, on {result.calibration_rows} calibration rows), more "
            f"than the allowed {100 * max_error:.2f} %: {table}. Its weights or outputs span too "
            f"many orders of magnitude for 16 bits; retrain (e.g. with weight decay or fewer "
            f"epochs) or pass a larger --max-error to deploy anyway")


def _with_readout_shift(head: BlockHead, shift: int) -> BlockHead:
    values = {f: getattr(head, f) for f in head.__dataclass_fields__}
    values["readout_shift"] = shift
    return BlockHead(**values)


def _readout_report(model: Model, image: ModelImage, cal: _Calibration, score_exp: int,
                    exps: dict[str, int]) -> LayerReport:
    """The read-out's error on float block outputs quantised to their exponents."""
    assert image.readout is not None and model.readout is not None
    r = np.asarray(model.readout, np.float64)
    feats = np.concatenate([model.readout_input(y) for y in cal.y], axis=1)
    exact = feats @ r[:-1] + r[-1]
    acc = np.zeros(exact.shape, np.int64)
    col = 0
    for blk, y in zip(image.blocks, cal.y, strict=True):
        d = blk.head.d_out
        f = ref.readout_features(image, to_q15(y, blk.head.out_exp).astype(np.int64))
        part = f @ image.readout.weights[:, col:col + d].astype(np.int64).T
        acc += part * (np.int64(1) << np.int64(blk.head.readout_shift))
        col += d
    rh = image.readout.head
    acc += image.readout.bias.astype(np.int64) * (np.int64(1) << np.int64(rh.shift_b))
    q, clipped = ref.sat(ref.round_shift(acc, rh.shift_out), 32)
    return LayerReport("read-out", exps, score_exp, _rel_error(from_q(q, score_exp, 31), exact),
                       float(clipped.mean()) if clipped.size else 0.0, 0.0)


def _agreement(model: Model, image: ModelImage, cal: _Calibration) -> float:
    """Share of calibration rows whose integer class equals the float one.

    The integer pipeline is fed the sensed values the float path measured
    (its own drives differ by rounding, so the board would measure slightly
    other values: this isolates the digital arithmetic).
    """
    n = len(cal.x0)
    if image.head.inference != model_image.INFERENCE_ONEPASS:
        return float("nan")  # the calibration rows carry labels: no class to compare
    x_q = to_q15(cal.features, image.head.input_exp)
    sensed = {k: np.rint(p * 32768.0).astype(np.int16) for k, p in enumerate(cal.p)
              if p is not None}
    result = ref.run(image, x_q, lambda _i, k, _d: sensed[k])
    assert model.readout is not None
    r = np.asarray(model.readout, np.float64)
    feats = np.concatenate([model.readout_input(y) for y in cal.y], axis=1)
    float_classes = (feats @ r[:-1] + r[-1]).argmax(axis=1)
    return float(np.mean(result.classes == float_classes)) if n else 1.0
