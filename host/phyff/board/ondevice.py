"""The on-device model methods of a Board: load, inspect, erase a model; INFER;
LEARN, REFIT and FORGET.

wire.h's "On-device inference" and "On-device learning" sections, from the
host's side. These are the
`Board` methods a deployed model needs (`Board` inherits them from
`OnDeviceInference`), kept apart from the handshake, configuration and QUERY
they build on; a board without model memory refuses each with
`NoOnDeviceInference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from phyff.board.errors import (
    DriveValueError,
    ModelTooLarge,
    NoOnDeviceInference,
    NoOnDeviceLearning,
    sample_rows,
    too_short,
    unpack_reply,
)
from phyff.board.link import ADC_READ_SECONDS, MAX_TIMEOUT, BoardError, Link, LinkError
from phyff.protocol import wire
from phyff.protocol.model_image import INFERENCE_GOODNESS, Description
from phyff.protocol.wire import (
    Caps,
    ChunkHead,
    Cmd,
    Config,
    DescribeReply,
    DescribeRequest,
    Feature,
    InferHead,
    LearnReply,
    ModelBegin,
    ModelInfo,
    RefitReply,
)

# MODEL_INFO does not say how many ADC reads a block's pass makes (its oversample
# is in the image's block heads): an INFER deadline allows this many per pass.
INFER_READS_PER_PASS = 64
# REFIT's solve runs on the board's CPU (about 50 ms for a 40-feature, 7-class read-out on
# a 25 MHz Cortex-M3; seconds in MicroPython): its deadline adds this to the link's.
REFIT_SECONDS = 120.0


@dataclass
class InferResult:
    """What INFER answered: classes (N,), int32 scores (N, C), the trace (N, T) when
    asked for, and per-sample saturation flags."""

    classes: NDArray[np.int64]
    scores: NDArray[np.int64]
    trace: NDArray[np.int16] | None
    saturated: NDArray[np.bool_]


class OnDeviceInference:
    """Model memory and INFER, for a Board that has shaken hands and can request."""

    link: Link
    url: str
    caps: Caps
    config: Config

    def _request(self, cmd: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        raise NotImplementedError  # the Board's, which survives a board's restart

    def hello(self) -> Caps:
        raise NotImplementedError  # the Board's handshake

    @property
    def can_infer(self) -> bool:
        """True when the board runs models itself (FEAT_INFER)."""
        return bool(self.caps.features & Feature.INFER)

    def require_infer(self) -> None:
        if not self.can_infer:
            raise NoOnDeviceInference(
                f"the board at {self.url or 'this port'} ({self.caps.board}) has no model memory "
                f"(its firmware was built without on-device inference, e.g. the Uno's 2 KiB of "
                f"RAM cannot hold a model): evaluate on the host instead (phyff eval without "
                f"--on-device)")

    def load_model(self, image: bytes) -> ModelInfo:
        """Load and commit a model image (MODEL_BEGIN, MODEL_CHUNK..., MODEL_COMMIT).

        The model in force changes only if the commit succeeds; a load the link
        drops leaves it as it was (the board keeps the image in a second slot).
        """
        self.require_infer()
        if len(image) > self.caps.model_capacity:
            raise ModelTooLarge(
                f"the model image is {len(image):,} bytes; the board's model memory "
                f"(caps.model_capacity) holds {self.caps.model_capacity:,}: use a smaller "
                f"model (fewer blocks or hidden units) or a board with more memory")
        self._request(Cmd.MODEL_BEGIN, ModelBegin(len(image), wire.crc32(image)).pack())
        step = self.caps.max_payload - wire.CHUNK_HEAD_SIZE
        for at in range(0, len(image), step):
            chunk = image[at:at + step]
            reply = unpack_reply(ChunkHead, self._request(Cmd.MODEL_CHUNK,
                                                          ChunkHead(at).pack() + chunk),
                                 "MODEL_CHUNK")
            if reply.offset != at + len(chunk):
                raise LinkError(f"MODEL_CHUNK: the board has {reply.offset} bytes of the image, "
                                f"expected {at + len(chunk)}; load it again")
        info = unpack_reply(ModelInfo, self._request(Cmd.MODEL_COMMIT), "MODEL_COMMIT")
        self.caps = self.hello()
        return info

    def model_info(self) -> ModelInfo | None:
        """The model in force, or None when the board holds none."""
        self.require_infer()
        try:
            return unpack_reply(ModelInfo, self._request(Cmd.MODEL_INFO), "MODEL_INFO")
        except BoardError as exc:
            if exc.status == wire.Status.NO_MODEL:
                return None
            raise

    def describe(self) -> Description | None:
        """The model's description (model.h M-D1-D5), read with MODEL_DESCRIBE in pieces.

        How raw values become the model's int16 inputs (scale, clipping, the
        training range) and what its features and classes are called: all a
        host needs to send raw values (model.h M-D4). None when the
        model's image carries no description (an image built before protocol
        level 5, or from a model file that records no input scaling); raises
        BoardError NO_MODEL when the board holds no model.
        """
        self.require_infer()
        data = b""
        size = None
        while size is None or len(data) < size:
            reply = self._request(Cmd.MODEL_DESCRIBE,
                                  DescribeRequest(len(data), 0xFFFF).pack())
            head = unpack_reply(DescribeReply, reply, "MODEL_DESCRIBE")
            piece = reply[wire.DESCRIBE_REPLY_SIZE:]
            if head.offset != len(data) or (size is not None and head.section_size != size):
                raise LinkError(f"MODEL_DESCRIBE answered offset {head.offset} of a "
                                f"{head.section_size}-byte section, asked for {len(data)}: "
                                f"the board's model changed while it was read; read it again")
            size = head.section_size
            if size and not piece and len(data) < size:
                raise LinkError("MODEL_DESCRIBE sent no bytes of the section it has: the "
                                "board's firmware disagrees with wire.h; flash the firmware "
                                "that ships with this phyff")
            data += piece
        if not size:
            return None
        try:
            return Description.unpack(data)
        except ValueError as exc:
            raise LinkError(f"the board's model description is unusable ({exc}): deploy the "
                            f"model again") from None

    def erase_model(self) -> None:
        """Remove the model in force (and its stored copy)."""
        self.require_infer()
        self._request(Cmd.MODEL_ERASE)
        self.caps = self.hello()

    def infer(self, features: ArrayLike, *, trace: bool = False,
              info: ModelInfo | None = None) -> InferResult:
        """Classify feature vectors (N, n_features) of int16 (Q15 scaled by 2^input_exp).

        As many INFER frames as the model's batch limit requires. With
        ``trace`` the reply also carries every sensed value, so a host can
        recompute the board's scores bit for bit (phyff.ondevice.reference).
        """
        info = info if info is not None else self.model_info()
        if info is None:
            raise BoardError(Cmd.INFER, wire.Status.NO_MODEL, 0)
        arr = sample_rows(features, info.n_features,
                          f"the board's model takes {info.n_features} features per sample")
        if arr.dtype != np.int16:
            raise DriveValueError(f"infer() takes int16 features (Q15 scaled by "
                                  f"2^{info.input_exp}), got {arr.dtype}")
        n, c, t = len(arr), info.n_classes, info.trace_values if trace else 0
        step = info.max_batch_trace if trace else info.max_batch
        if step < 1:
            raise ModelTooLarge(f"one traced sample of this model ({t} sensed values) does not "
                                f"fit the board's {self.caps.max_payload}-byte frames; "
                                f"infer without the trace")
        classes = np.empty(n, np.int64)
        scores = np.empty((n, c), np.int64)
        traced = np.empty((n, t), np.int16)
        saturated = np.zeros(n, bool)
        flags = wire.INFER_TRACE if trace else 0
        for start in range(0, n, step):
            chunk = np.ascontiguousarray(arr[start:start + step])
            m = len(chunk)
            payload = InferHead(m, info.n_features, flags).pack() + wire.pack_samples(chunk)
            reply = self._request(Cmd.INFER, payload, timeout=self._infer_timeout(m, info))
            try:
                part = wire.InferReply.unpack(reply, m, c, t)
            except wire.WireError as exc:
                raise too_short("InferHead", reply, "INFER") from exc
            except wire.ReplyMismatch as exc:
                raise LinkError(f"{exc}: the board's model changed behind this host") from exc
            sl = slice(start, start + m)
            classes[sl], scores[sl], traced[sl], saturated[sl] = (
                part.classes, part.scores, part.trace, part.saturated)
        return InferResult(classes, scores, traced if trace else None, saturated)

    def _infer_timeout(self, n: int, info: ModelInfo) -> float:
        """The link deadline plus n samples' passes through every block on the board."""
        passes = info.n_classes if info.inference == INFERENCE_GOODNESS else 1
        # device rows measured per sample: a block of several rows (model.h M-R1) measures
        # each, and the trace counts their sensed values
        per_row_sensed = max(1, self.config.n_sense_active)
        rows = max(passes * info.n_blocks, -(-info.trace_values // per_row_sensed))
        per_row = self.config.settle_us * 1e-6 + INFER_READS_PER_PASS * ADC_READ_SECONDS
        return min(self.link.timeout + n * rows * per_row, MAX_TIMEOUT)

    # ---- on-device learning (wire.h W-N1-N8, level 5) ----------------------------------

    @property
    def can_learn(self) -> bool:
        """True when the board refits a read-out itself (FEAT_LEARN)."""
        return bool(self.caps.features & Feature.LEARN)

    def require_learn(self) -> None:
        if not self.can_learn:
            raise NoOnDeviceLearning(
                f"the board at {self.url or 'this port'} ({self.caps.board}, protocol level "
                f"{self.caps.level}) cannot learn on the device: its firmware has no model "
                f"memory for the statistics (e.g. the Uno) or predates protocol level 5; "
                f"refit the read-out on the host and deploy again instead")

    def learn(self, features: ArrayLike, labels: ArrayLike, *,
              info: ModelInfo | None = None) -> LearnReply:
        """Add labelled samples to the board's read-out statistics (LEARN).

        features: (N, n_features) int16, Q15 scaled by 2^input_exp exactly as
        `infer` takes them; labels: (N,) class indices. The board measures
        each sample through its model's physical blocks as INFER does and adds
        its read-out features (learn.h RF-A1-A4). As many LEARN frames as the
        board's batch limit requires; N = 0 reads the counts. Returns the
        samples in the statistics and their count per class.
        """
        self.require_learn()
        info = info if info is not None else self._model_in_force(Cmd.LEARN)
        arr = sample_rows(features, info.n_features,
                          f"the board's model takes {info.n_features} features per sample")
        if arr.dtype != np.int16:
            raise DriveValueError(f"learn() takes int16 features (Q15 scaled by "
                                  f"2^{info.input_exp}), got {arr.dtype}")
        y = np.asarray(labels).reshape(-1)
        if len(y) != len(arr):
            raise ValueError(f"learn() got {len(arr)} samples and {len(y)} labels")
        if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0
                       or y.max() >= info.n_classes):
            raise ValueError(f"labels must be class indices 0..{info.n_classes - 1} "
                             f"(the model has {info.n_classes} classes)")
        if len(y) > wire.LEARN_MAX_SAMPLES:
            raise ValueError(f"{len(y)} samples: the board's statistics hold at most "
                             f"{wire.LEARN_MAX_SAMPLES} (learn.h RF-A4); learn fewer")
        step = max(1, min(wire.LEARN_MAX_SAMPLES,
                          (self.caps.max_payload - wire.LEARN_HEAD_SIZE)
                          // (2 * info.n_features + 2)))
        reply = None
        for start in range(0, max(len(y), 1), step):
            chunk = np.ascontiguousarray(arr[start:start + step])
            payload = wire.pack_learn_request(chunk, y[start:start + step])
            raw = self._request(Cmd.LEARN, payload, timeout=self._infer_timeout(len(chunk), info))
            try:
                reply = LearnReply.unpack(raw, info.n_classes)
            except wire.WireError as exc:
                raise too_short("LearnHead", raw, "LEARN") from exc
            except wire.ReplyMismatch as exc:
                raise LinkError(f"{exc}: the board's model changed behind this host") from exc
        assert reply is not None
        return reply

    def refit(self, lambda_shift: int) -> RefitReply:
        """Solve the board's statistics for a new read-out (REFIT), ridge penalty
        2^-lambda_shift (learn.h). The board replaces its read-out only when the
        whole solve succeeds (BoardError otherwise, the read-out untouched) and
        stores it where it stores its model; the statistics are consumed."""
        self.require_learn()
        if not 0 <= lambda_shift <= 0xFFFF:
            raise ValueError(f"lambda_shift {lambda_shift} is not a uint16")
        raw = self._request(Cmd.REFIT, int(lambda_shift).to_bytes(2, "little"),
                            timeout=min(self.link.timeout + REFIT_SECONDS, MAX_TIMEOUT))
        reply = unpack_reply(RefitReply, raw, "REFIT")
        self.caps = self.hello()  # caps.model_crc changed
        return reply

    def forget(self) -> None:
        """Clear the board's read-out statistics (FORGET)."""
        self.require_learn()
        self._request(Cmd.FORGET)

    def _model_in_force(self, cmd: int) -> ModelInfo:
        info = self.model_info()
        if info is None:
            raise BoardError(cmd, wire.Status.NO_MODEL, 0)
        return info
