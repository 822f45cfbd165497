"""A phyff board, whatever it is: real, in a QEMU, or emulated in process.

:class:`Board` is what the trainer talks to: it performs the handshake
(HELLO first; a protocol-level mismatch is refused with the action to take,
and so is a capability record no phyff board could send, see
:func:`check_caps`), holds the capability record, configures, and turns ``query(batch)`` into as
many QUERY frames as the board's batch limit requires, returning numpy
arrays. It never sees a medium: the URL decides what is on the other end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from phyff._version import __version__
from phyff.board.link import (
    MAX_TIMEOUT,
    BoardError,
    BoardResetDetected,
    Link,
    LinkError,
    check_timeout,
)
from phyff.board.transports import open_transport
from phyff.protocol import fixed, wire
from phyff.protocol.wire import (
    Caps,
    ChunkHead,
    Cmd,
    Config,
    Feature,
    InferHead,
    ModelBegin,
    ModelInfo,
    QueryHead,
    Stats,
)

FLASH_HINT = (
    "flash the firmware that ships with this phyff (cd firmware && pio run -e <board> -t upload), "
    "or install the phyff release that speaks the board's level"
)


class ProtocolMismatch(LinkError):
    """The board speaks another protocol level than this host."""


class BadCaps(ProtocolMismatch):
    """The board's HELLO reply describes a board that cannot exist."""


def check_caps(caps: Caps, where: str = "this port") -> None:
    """Refuse a capability record outside what the protocol allows (wire.h).

    Rules, each a reason the trainer would otherwise fail later, obscurely,
    or store nonsense in a model:

    1. n_drive and n_sense are at least 1;
    2. max_payload holds a CONFIGURE record and one QUERY sample, and
       max_batch (at least 1) samples fit one QUERY request in max_payload
       and their reply in the protocol's payload limit;
    3. dac_bits and adc_bits are 1..15 (values travel as Q15);
    4. max_oversample is at least 1 (oversample 1 means one read);
    5. features holds only bits defined at this protocol level (L2).
    """
    problems = []
    if caps.n_drive < 1:
        problems.append(f"n_drive={caps.n_drive} (at least 1)")
    if caps.n_sense < 1:
        problems.append(f"n_sense={caps.n_sense} (at least 1)")
    one_sample = wire.QUERY_HEAD_SIZE + 2 * max(caps.n_drive, 1)
    need = max(wire.CONFIG_SIZE, one_sample)
    if caps.max_payload < need:
        problems.append(f"max_payload={caps.max_payload} (at least {need}: a CONFIGURE record "
                        f"and one sample of {caps.n_drive} drive values)")
    if caps.max_batch < 1:
        problems.append(f"max_batch={caps.max_batch} (at least 1)")
    else:
        request = wire.QUERY_HEAD_SIZE + 2 * caps.max_batch * caps.n_drive
        reply = (wire.QUERY_HEAD_SIZE + 2 * caps.max_batch * caps.n_sense
                 + (caps.max_batch + 7) // 8)
        if caps.max_payload >= need and request > caps.max_payload:
            problems.append(f"max_batch={caps.max_batch} (its QUERY needs {request} bytes, more "
                            f"than max_payload={caps.max_payload})")
        if reply > wire.MAX_PAYLOAD_LIMIT:
            problems.append(f"max_batch={caps.max_batch} (its reply of {reply} bytes exceeds "
                            f"the protocol's {wire.MAX_PAYLOAD_LIMIT})")
    for name in ("dac_bits", "adc_bits"):
        bits = getattr(caps, name)
        if not 1 <= bits <= 15:
            problems.append(f"{name}={bits} (1..15)")
    if caps.max_oversample < 1:
        problems.append(f"max_oversample={caps.max_oversample} (at least 1)")
    known = 0
    for feature in Feature:
        known |= int(feature)
    if caps.features & ~known:
        problems.append(f"features=0x{caps.features:04x} (bits 0x{caps.features & ~known:04x} "
                        f"are not defined at protocol level {wire.PROTOCOL_LEVEL})")
    if problems:
        raise BadCaps(
            f"the board at {where} describes itself impossibly in its HELLO reply: "
            f"{', '.join(problems)}. Its firmware is damaged or not phyff's: {FLASH_HINT}"
        )


def _unpack(record: Any, payload: bytes, cmd: str) -> Any:
    """A reply record, or LinkError when the board sent too few bytes for it."""
    try:
        return record.unpack(payload)
    except wire.WireError as exc:
        raise ProtocolMismatch(
            f"the board's {cmd} reply is {len(payload)} bytes, too short for its "
            f"{record.__name__} record: this is not phyff firmware at protocol level "
            f"{wire.PROTOCOL_LEVEL}: {FLASH_HINT}"
        ) from exc


class DriveValueError(ValueError):
    """Drive values that no board can apply (NaN, out of range)."""


class NoOnDeviceInference(LinkError):
    """The board's firmware has no model memory (no FEAT_INFER)."""


class ModelTooLarge(ValueError):
    """A model image larger than the board's model memory or frames."""


@dataclass
class InferResult:
    """What INFER answered: classes (N,), int32 scores (N, C), the trace (N, T) when
    asked for, and per-sample saturation flags."""

    classes: NDArray[np.int64]
    scores: NDArray[np.int64]
    trace: NDArray[np.int16] | None
    saturated: NDArray[np.bool_]


@dataclass
class QueryResult:
    """Sensed values (Q15) and per-sample saturation flags of one query."""

    sense: NDArray[np.int16]
    saturated: NDArray[np.bool_]


class Board:
    """Handshake, configuration and batched queries over a :class:`Link`."""

    def __init__(self, link: Link, *, url: str = "") -> None:
        self.link = link
        self.url = url
        self.caps: Caps = self._handshake()
        self.config: Config = self.read_config()
        self._wanted: Config | None = None
        self.board_seconds = 0.0  # time spent waiting for QUERY replies
        self.samples = 0

    # ---- opening ----------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, timeout: float = 2.0,
             retries: int = 3) -> Board:
        """Open the transport a URL names and shake hands (ValueError for a bad
        URL or timeout, LinkError subclasses for every board or link problem)."""
        timeout = check_timeout(timeout)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise ValueError(f"retries must be an integer in 0..100, got {retries!r}")
        transport = open_transport(url, baudrate=baudrate, timeout=timeout)
        try:
            return cls(Link(transport, timeout=timeout, retries=retries), url=url)
        except BaseException:
            transport.close()
            raise

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handshake(self) -> Caps:
        for _ in range(3):
            try:
                payload = self.link.request(Cmd.HELLO)
                break
            except BoardResetDetected:
                continue  # a board announcing its start-up; nothing configured yet
        else:
            raise LinkError("the board keeps restarting during the handshake: check its power")
        if len(payload) < 1:
            raise ProtocolMismatch("the board's HELLO reply is empty: this is not phyff firmware")
        level = payload[0]  # offset 0 at every level (wire.h L3)
        if level != wire.PROTOCOL_LEVEL:
            raise ProtocolMismatch(
                f"the board at {self.url or 'this port'} speaks phyff protocol level {level}, "
                f"this phyff {__version__} speaks level {wire.PROTOCOL_LEVEL}: {FLASH_HINT}"
            )
        caps: Caps = _unpack(Caps, payload, "HELLO")
        check_caps(caps, self.url or "this port")
        return caps

    # ---- commands -----------------------------------------------------------

    def hello(self) -> Caps:
        self.caps = self._handshake()
        return self.caps

    def read_config(self) -> Config:
        return _unpack(Config, self._request(Cmd.CONFIGURE), "CONFIGURE")

    def configure(self, *, settle_us: int | None = None, oversample: int | None = None,
                  n_drive: int | None = None, n_sense: int | None = None) -> Config:
        """Change some settings; the others keep their current values."""
        cur = self.config
        want = Config(
            settle_us=cur.settle_us if settle_us is None else int(settle_us),
            oversample=cur.oversample if oversample is None else int(oversample),
            n_drive_active=cur.n_drive_active if n_drive is None else int(n_drive),
            n_sense_active=cur.n_sense_active if n_sense is None else int(n_sense),
        )
        self._check_config(want)
        self.config = _unpack(Config, self._request(Cmd.CONFIGURE, want.pack()), "CONFIGURE")
        self._wanted = self.config
        return self.config

    def _check_config(self, c: Config) -> None:
        caps = self.caps
        problems = []
        if not 0 <= c.settle_us <= caps.max_settle_us:
            problems.append(f"settle_us={c.settle_us} (0..{caps.max_settle_us})")
        if not 1 <= c.oversample <= caps.max_oversample:
            problems.append(f"oversample={c.oversample} (1..{caps.max_oversample})")
        if not 1 <= c.n_drive_active <= caps.n_drive:
            problems.append(f"n_drive={c.n_drive_active} (1..{caps.n_drive})")
        if not 1 <= c.n_sense_active <= caps.n_sense:
            problems.append(f"n_sense={c.n_sense_active} (1..{caps.n_sense})")
        if problems:
            raise ValueError("configuration outside this board's limits: " + ", ".join(problems))

    def stats(self) -> Stats:
        return _unpack(Stats, self._request(Cmd.STATS), "STATS")

    def reset(self) -> None:
        """Defaults back, counters cleared (the RESET command, not a reboot).

        The link consumes the reset event that follows RESET's reply (wire.h
        E1), so it is not mistaken for a reboot.
        """
        self._wanted = None
        self._request(Cmd.RESET)
        self.config = self.read_config()

    def _request(self, cmd: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        try:
            return self.link.request(cmd, payload, timeout=timeout)
        except BoardResetDetected:
            # The board rebooted under us: handshake again, restore the
            # configuration the caller asked for, then repeat the request.
            self.caps = self._handshake()
            if self._wanted is not None:
                self.config = _unpack(
                    Config, self.link.request(Cmd.CONFIGURE, self._wanted.pack()), "CONFIGURE")
            else:
                self.config = _unpack(Config, self.link.request(Cmd.CONFIGURE), "CONFIGURE")
            return self.link.request(cmd, payload, timeout=timeout)

    # ---- queries ------------------------------------------------------------

    @property
    def n_drive(self) -> int:
        return self.config.n_drive_active

    @property
    def n_sense(self) -> int:
        return self.config.n_sense_active

    @property
    def max_batch(self) -> int:
        return self.caps.max_batch

    def query(self, drive: ArrayLike) -> QueryResult:
        """Measure a batch of Q15 drive vectors (N, n_drive) -> sensed Q15 (N, n_sense)."""
        arr = np.asarray(drive)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.n_drive:
            raise DriveValueError(
                f"drive batch must have shape (N, {self.n_drive}) for this board "
                f"(configured drive channels), got {np.shape(drive)}"
            )
        if arr.dtype != np.int16:
            if arr.dtype.kind not in "iu":
                raise DriveValueError(
                    f"query() takes Q15 int16 codes, got {arr.dtype}; use query_float() for "
                    f"values in [0, 1]"
                )
            if arr.size and (arr.min() < 0 or arr.max() > fixed.Q15_MAX):
                raise DriveValueError("Q15 drive codes must lie in [0, 32767]")
            arr = arr.astype(np.int16)
        n = arr.shape[0]
        sense = np.empty((n, self.n_sense), dtype=np.int16)
        saturated = np.zeros(n, dtype=bool)
        step = self.max_batch
        t0 = time.perf_counter()
        for start in range(0, n, step):
            chunk = np.ascontiguousarray(arr[start:start + step])
            s, sat = self._query_frame(chunk)
            sense[start:start + len(chunk)] = s
            saturated[start:start + len(chunk)] = sat
        self.board_seconds += time.perf_counter() - t0
        self.samples += n
        return QueryResult(sense, saturated)

    def _query_frame(self, chunk: NDArray[np.int16]) -> tuple[np.ndarray, np.ndarray]:
        n = chunk.shape[0]
        payload = QueryHead(n, self.n_drive).pack() + wire.pack_samples(chunk)
        reply = self._request(Cmd.QUERY, payload, timeout=self._query_timeout(n))
        head = _unpack(QueryHead, reply, "QUERY")
        bitmap_len = (n + 7) // 8
        expect = wire.QUERY_HEAD_SIZE + 2 * n * self.n_sense + bitmap_len
        if head.n_samples != n or head.n_channels != self.n_sense or len(reply) != expect:
            raise LinkError(
                f"QUERY reply does not match the request ({head.n_samples} x {head.n_channels} "
                f"in {len(reply)} bytes, expected {n} x {self.n_sense} in {expect}): the "
                f"board's configuration changed behind this host"
            )
        sense = wire.unpack_samples(reply[wire.QUERY_HEAD_SIZE:], n, self.n_sense)
        bits = np.unpackbits(np.frombuffer(reply[-bitmap_len:], dtype=np.uint8),
                             bitorder="little")[:n] if n else np.zeros(0, np.uint8)
        return sense, bits.astype(bool)

    def _query_timeout(self, n: int) -> float:
        """The link deadline plus the board's own measuring time for n samples."""
        c = self.config
        return min(self.link.timeout + n * (c.settle_us * 1e-6 + c.oversample * 1e-4),
                   MAX_TIMEOUT)

    def query_float(self, drive: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Drive fractions in [0, 1] -> sensed fractions of full scale, saturation flags."""
        arr = np.asarray(drive, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise DriveValueError(
                f"drive values must be finite; found {arr[tuple(bad)]} at row {bad[0]}, "
                f"column {bad[1]}: check the encoder's input for NaN/inf"
            )
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise DriveValueError(
                f"drive values must lie in [0, 1] (fractions of DAC full scale); got range "
                f"[{arr.min():.4g}, {arr.max():.4g}]"
            )
        result = self.query(fixed.from_float(arr))
        return fixed.to_float(result.sense), result.saturated

    # ---- on-device inference (wire.h "On-device inference") ---------------------

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
            reply = _unpack(ChunkHead, self._request(Cmd.MODEL_CHUNK,
                                                     ChunkHead(at).pack() + chunk), "MODEL_CHUNK")
            if reply.offset != at + len(chunk):
                raise LinkError(f"MODEL_CHUNK: the board has {reply.offset} bytes of the image, "
                                f"expected {at + len(chunk)}; load it again")
        info = _unpack(ModelInfo, self._request(Cmd.MODEL_COMMIT), "MODEL_COMMIT")
        self.caps = self.hello()
        return info

    def model_info(self) -> ModelInfo | None:
        """The model in force, or None when the board holds none."""
        self.require_infer()
        try:
            return _unpack(ModelInfo, self._request(Cmd.MODEL_INFO), "MODEL_INFO")
        except BoardError as exc:
            if exc.status == wire.Status.NO_MODEL:
                return None
            raise

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
        arr = np.asarray(features)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != info.n_features:
            raise DriveValueError(
                f"the board's model takes {info.n_features} features per sample, got an array "
                f"of shape {np.shape(features)}")
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
            head = _unpack(InferHead, reply, "INFER")
            at = wire.INFER_HEAD_SIZE
            expect = at + m * (2 + 4 * c + 2 * t) + (m + 7) // 8
            if head.n_samples != m or head.n_values != c or len(reply) != expect:
                raise LinkError(f"INFER reply does not match the request ({head.n_samples} x "
                                f"{head.n_values} in {len(reply)} bytes, expected {m} x {c} in "
                                f"{expect}): the board's model changed behind this host")
            sl = slice(start, start + m)
            classes[sl] = np.frombuffer(reply, "<u2", m, at)
            at += 2 * m
            scores[sl] = np.frombuffer(reply, "<i4", m * c, at).reshape(m, c)
            at += 4 * m * c
            if t:
                traced[sl] = np.frombuffer(reply, "<i2", m * t, at).reshape(m, t)
                at += 2 * m * t
            bits = np.unpackbits(np.frombuffer(reply, np.uint8, (m + 7) // 8, at),
                                 bitorder="little")[:m]
            saturated[sl] = bits.astype(bool)
        return InferResult(classes, scores, traced if trace else None, saturated)

    def _infer_timeout(self, n: int, info: ModelInfo) -> float:
        passes = info.n_classes if info.inference == wire.lib.PHYFF_INFERENCE_GOODNESS else 1
        # device rows measured per sample: a block of several rows (model.h R1) measures
        # each, and the trace counts their sensed values
        rows = max(passes * info.n_blocks, -(-info.trace_values // max(1, self.n_sense)))
        per_sample = rows * (self.config.settle_us * 1e-6 + 64 * 1e-4)
        return min(self.link.timeout + n * per_sample, MAX_TIMEOUT)

    def oracle(self) -> Any:
        """The simulated medium behind this board, or None (always None for real boards).

        A transport of a simulated board may offer `oracle()`; baselines that need
        the physics itself (ideal backpropagation, perturbation scenarios) ask here
        instead of reaching into the transport.
        """
        offer = getattr(self.link.transport, "oracle", None)
        return offer() if callable(offer) else None

    def identity(self) -> dict[str, Any]:
        """What a saved model records about the board it was trained on."""
        return {
            "url": self.url,
            "caps": self.caps.as_dict(),
            "config": {
                "settle_us": self.config.settle_us,
                "oversample": self.config.oversample,
                "n_drive_active": self.config.n_drive_active,
                "n_sense_active": self.config.n_sense_active,
            },
        }


@contextmanager
def open_board(url: str, **kwargs: Any) -> Iterator[Board]:
    board = Board.open(url, **kwargs)
    try:
        yield board
    finally:
        board.close()
