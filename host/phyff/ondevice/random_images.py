"""Model images with random (or blank) weights, for checks and benchmarks.

The firmware does not care what the weights mean, so the speed benchmark, the
hardware-in-the-loop suite and the bit-exactness tests build images of the
shape they need here rather than from a training run. One module, so the image
record's field order is spelled out once for all of them.
"""

from __future__ import annotations

import numpy as np

from phyff.protocol.model_image import (
    BLOCK_PHYSICAL,
    BLOCK_SKIP,
    ENCODERS,
    INFERENCE_GOODNESS,
    INFERENCE_ONEPASS,
    MAGIC,
    VERSION,
    Block,
    BlockHead,
    ModelHead,
    ModelImage,
    Readout,
    ReadoutHead,
)
from phyff.protocol.wire import Caps

REFIT_CLASSES = 7
REFIT_WIDTHS = (20, 20)  # vowels7: two blocks of 20 outputs


def random_model_image(caps: Caps, *, n_classes: int, n_features: int, hidden: int,
                       n_blocks: int = 2, inference: int = INFERENCE_ONEPASS,
                       seed: int = 0, name: str = "random",
                       sense: list[int] | None = None) -> ModelImage:
    """A model image of the given shape for the board whose HELLO record is caps, with
    random int16 weights: the same bytes and work as a trained model of that shape.

    The board's firmware does not care what the weights mean, so the benchmark
    (instructions per INFER sample) and the HIL suite (the board's scores against
    the C pipeline on the host) use this rather than a training run. Every block
    is physical with a skip connection and the amplitude encoder; the first
    block's input is as wide as the board's drive channels, with the label slots
    first and the features after them. The shifts keep the block outputs mostly
    inside int16 (some saturate, which the saturation flags must then report).
    sense: the sense channels each block reads (default: all the board's).
    Raises ValueError when the shape does not fit the board.
    """
    width = caps.n_drive
    if n_classes + n_features > width or hidden > caps.n_drive:
        raise ValueError(f"{n_classes} label slots + {n_features} features and {hidden} "
                         f"hidden units need {max(n_classes + n_features, hidden)} drive "
                         f"channels; the board has {caps.n_drive}")
    rng = np.random.default_rng(seed)
    head = ModelHead(MAGIC, VERSION, n_blocks, inference, n_features, n_classes, width,
                     n_classes, caps.unit_id, 0, 16 if inference == INFERENCE_GOODNESS else 4,
                     0, 1, name, caps.board, caps.medium)
    image = ModelImage(head)
    d_in = width
    for k in range(n_blocks):
        n_sense = sense[k] if sense is not None else caps.n_sense
        bh = BlockHead(ENCODERS["amplitude"], BLOCK_PHYSICAL | BLOCK_SKIP, d_in, d_in, n_sense,
                       hidden, 0, 0, 0, 0, 12, 16, 0, 1, 0)
        w = rng.integers(-1500, 1500, size=(hidden, n_sense + d_in), dtype=np.int16)
        b = rng.integers(-2000, 2000, size=hidden, dtype=np.int16)
        xi = rng.integers(-32768, 32767, size=hidden, dtype=np.int16)
        image.blocks.append(Block(bh, w, b, xi))
        d_in = hidden
    if inference == INFERENCE_ONEPASS:
        n_in = hidden * n_blocks
        image.readout = Readout(ReadoutHead(n_in, n_classes, 12, 8),
                                rng.integers(-3000, 3000, size=(n_classes, n_in),
                                             dtype=np.int16),
                                rng.integers(-3000, 3000, size=n_classes, dtype=np.int16))
    return image


def random_image(rng: np.random.Generator, caps: Caps, *, encoder: str, inference: int,
                 n_features: int = 6, n_classes: int = 4, blocks: int = 2,
                 scale: int = 12000) -> ModelImage:
    """A valid image with random weights for the board described by caps."""
    bits = 2 if encoder.startswith("binary2") else 1
    width = caps.n_drive // bits
    if width < n_features + n_classes:
        raise ValueError(f"{n_features} features + {n_classes} classes do not fit "
                         f"{width} inputs of the {encoder} encoder")
    input_exp = int(rng.integers(-1, 2))
    head = ModelHead(MAGIC, VERSION, blocks, inference, n_features, n_classes, width,
                     width - n_features, caps.unit_id, input_exp,
                     16 if inference == INFERENCE_GOODNESS else 3, 0, int(rng.integers(0, 2)),
                     "random", caps.board, caps.medium)
    out: list[Block] = []
    d_in, in_exp = width, input_exp
    for k in range(blocks):
        skip = k == 0 or bool(rng.integers(0, 2))
        d_out = width
        z = caps.n_sense + (d_in if skip else 0)
        bh = BlockHead(ENCODERS[encoder], BLOCK_PHYSICAL | (BLOCK_SKIP if skip else 0), d_in,
                       bits * d_in, caps.n_sense, d_out, in_exp, int(rng.integers(-2, 2)),
                       int(rng.integers(0, 3)), int(rng.integers(0, 3)), int(rng.integers(0, 4)),
                       int(rng.integers(14, 18)), 0, 1, int(rng.integers(0, 3)))
        out.append(Block(bh, rng.integers(-scale, scale, (d_out, z)).astype(np.int16),
                         rng.integers(-3000, 3000, d_out).astype(np.int16),
                         rng.integers(-20000, 20000, d_out).astype(np.int16)))
        d_in, in_exp = d_out, bh.out_exp
    readout = None
    if inference == INFERENCE_ONEPASS:
        n_in = blocks * width
        readout = Readout(ReadoutHead(n_in, n_classes, int(rng.integers(0, 3)),
                                      int(rng.integers(0, 6))),
                          rng.integers(-scale, scale, (n_classes, n_in)).astype(np.int16),
                          rng.integers(-3000, 3000, n_classes).astype(np.int16))
    return ModelImage(head, out, readout)


def onepass_image(widths: tuple[int, ...] = REFIT_WIDTHS, out_exps: tuple[int, ...] = (1, 2),
                  n_classes: int = REFIT_CLASSES, readout_abs: int = 1, score_exp: int = 2
                  ) -> ModelImage:
    """A one-pass image whose read-out is to be refitted (block weights do not matter here)."""
    n_features = 12
    width = n_features + n_classes
    head = ModelHead(MAGIC, VERSION, len(widths), INFERENCE_ONEPASS, n_features, n_classes,
                     width, n_classes, 1, 0, score_exp, 0, readout_abs, "refit", "b", "m")
    blocks = []
    d_in, in_exp = width, 0
    for d_out, e in zip(widths, out_exps, strict=True):
        bh = BlockHead(0, BLOCK_PHYSICAL | BLOCK_SKIP, d_in, d_in, 4, d_out, in_exp, e, 0, 0, 0,
                       15, 0, 1, 0)
        blocks.append(Block(bh, np.zeros((d_out, 4 + d_in), np.int16), np.zeros(d_out, np.int16),
                            np.zeros(d_out, np.int16)))
        d_in, in_exp = d_out, e
    n_in = sum(widths)
    readout = Readout(ReadoutHead(n_in, n_classes, 0, 0), np.ones((n_classes, n_in), np.int16),
                      np.ones(n_classes, np.int16))
    return ModelImage(head, blocks, readout)
