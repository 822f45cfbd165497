"""On-device inference helpers for the HIL suite: model images, raw loads, and the
C pipeline run on the host.

The board's INFER reply is checked against ``shared/src/model.c`` itself,
compiled into ``phyff._native``: the host runs the same layout, affine maps,
read-out or goodness (model.h M-P1-P2, M-P5-P7) on the sensed values the board
traced, so any difference is the board's (its transport, its arithmetic on
its CPU, its bookkeeping), never a second implementation's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rawlink import RawLink

from phyff._native import ffi, lib
from phyff.ondevice.random_images import random_model_image
from phyff.protocol import wire
from phyff.protocol.model_image import INFERENCE_ONEPASS, ModelImage
from phyff.protocol.wire import Caps, ChunkHead, Cmd, ErrorRecord, Header, ModelBegin


def small_image(caps: Caps, *, seed: int = 0, inference: int = INFERENCE_ONEPASS,
                name: str = "hil") -> ModelImage:
    """A two-block model as large as the board's channels allow (at least 2 classes and
    1 feature, so boards with 3 drive channels or more can run one). Its second block
    drives one channel fewer and reads one fewer than the board has (where it has
    two or more), so INFER's own channel counts are exercised, not just the wired ones."""
    n_classes = 3 if caps.n_drive >= 5 else 2
    hidden = min(caps.n_drive - 1 if caps.n_drive > n_classes + 1 else caps.n_drive, 8)
    sense = [caps.n_sense, max(caps.n_sense - 1, 1)]
    return random_model_image(caps, n_classes=n_classes, n_features=caps.n_drive - n_classes,
                              hidden=hidden, inference=inference, seed=seed, name=name,
                              sense=sense)


def features(n: int, n_features: int, seed: int = 0) -> NDArray[np.int16]:
    return np.random.default_rng(seed).integers(-30000, 30000, size=(n, n_features),
                                                dtype=np.int16)


def load_raw(raw: RawLink, image: bytes, *, crc: int | None = None, size: int | None = None,
             send: int | None = None, step: int = 200) -> tuple[Header, bytes]:
    """MODEL_BEGIN (size and crc default to the image's), MODEL_CHUNKs of `step` bytes
    carrying the first `send` bytes (default all), then MODEL_COMMIT; the COMMIT's reply.
    Every BEGIN and CHUNK must be accepted."""
    size = len(image) if size is None else size
    crc = wire.crc32(image) if crc is None else crc
    send = len(image) if send is None else send
    header, body = raw.request(Cmd.MODEL_BEGIN, ModelBegin(size, crc).pack())
    assert not header.is_error, f"MODEL_BEGIN refused: {ErrorRecord.unpack(body)}"
    assert ModelBegin.unpack(body) == ModelBegin(size, crc)  # the same record back
    for at in range(0, send, step):
        chunk = image[at:min(at + step, send)]
        header, body = raw.request(Cmd.MODEL_CHUNK, ChunkHead(at).pack() + chunk)
        assert not header.is_error, f"MODEL_CHUNK at {at} refused: {ErrorRecord.unpack(body)}"
        assert ChunkHead.unpack(body).offset == at + len(chunk)
    return raw.request(Cmd.MODEL_COMMIT)


def limits_for(caps: Caps, work_values: int = 16384) -> object:
    """model.h limits of a board with these caps (the pipeline's own checks need them)."""
    lim = ffi.new("struct phyff_model_limits *")
    lim.unit_id = caps.unit_id
    lim.medium = caps.medium.encode()
    lim.n_drive = caps.n_drive
    lim.n_sense = caps.n_sense
    lim.max_oversample = caps.max_oversample
    lim.max_settle_us = caps.max_settle_us
    lim.max_classes = 255
    lim.work_values = work_values
    return lim


@dataclass
class Expected:
    classes: NDArray[np.int64]
    scores: NDArray[np.int64]
    saturated: NDArray[np.bool_]  # saturations of the arithmetic (not of the ADC)


def c_pipeline(image: bytes, caps: Caps, x: NDArray[np.int16],
               trace: NDArray[np.int16]) -> Expected:
    """model.c's pipeline on the host, each block fed with the board's traced sensed
    values: the classes and scores the board must have answered."""
    buf = ffi.from_buffer(image)
    view = ffi.new("struct phyff_model_view *")
    bad = ffi.new("uint32_t *")
    status = lib.phyff_model_check(buf, len(image), limits_for(caps), view, bad)
    assert status == lib.PHYFF_OK, f"the host's model.c refuses the image (field {bad[0]})"
    head = view.head
    c = head.n_classes
    n = len(x)
    classes = np.empty(n, np.int64)
    scores = np.empty((n, c), np.int64)
    saturated = np.zeros(n, bool)
    onepass = head.inference == INFERENCE_ONEPASS
    for s in range(n):
        xs = ffi.new("int16_t[]", [int(v) for v in x[s]])
        at = 0
        out = ffi.new("int32_t[]", c)
        acc = ffi.new("int64_t[]", c)
        for label in ([-1] if onepass else range(c)):
            h = ffi.new("int16_t[]", head.width)
            sat = bool(lib.phyff_infer_layout(view, xs, label, h))
            good = 0
            for k in range(head.n_blocks):
                blk = view.blocks[k]
                p = ffi.new("int16_t[]", max(blk.n_sense, 1))
                if blk.flags & lib.PHYFF_BLOCK_PHYSICAL:
                    for j in range(blk.n_sense):
                        p[j] = int(trace[s, at + j])
                    at += blk.n_sense
                y = ffi.new("int16_t[]", blk.d_out)
                sat |= bool(lib.phyff_infer_affine(view, k, p, h, y))
                if onepass:
                    lib.phyff_infer_readout_add(view, k, y, acc)
                else:
                    good += lib.phyff_infer_goodness(view, k, y)
                h = y
            if not onepass:
                out[label] = good
            saturated[s] |= sat
        if onepass:
            saturated[s] |= bool(lib.phyff_infer_readout_finish(view, acc, out))
        classes[s] = lib.phyff_argmax_s32(out, c)
        scores[s] = [out[j] for j in range(c)]
        assert at == view.trace_values
    return Expected(classes, scores, saturated)
