"""On-device inference on the board under test (wire.h "On-device inference", model.h).

Every test here needs FEAT_INFER and skips, saying so, on a board without it
(the simulated Uno: its 2 KiB of RAM hold no model slot; its compiled-in
models are tested by test_compiled_model.py). A model image is built
from the board's own HELLO record (its unit id, medium and channel counts
are the "trained on" fields), loaded, and run with the trace on; the
classes and scores the board answers are recomputed on the host by the C
pipeline (shared/src/model.c through phyff._native) and by the numpy
reference (phyff.ondevice.reference) from the sensed values the board
traced. Each refusal the protocol defines for a load or an INFER is provoked
and must leave the previous model in force.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from modelkit import c_pipeline, features, load_raw, small_image
from rawlink import RawLink
from targets import Target

from phyff.board.client import Board
from phyff.board.layer import board_layers
from phyff.emulator import EmulatorSpec, parse_emu_url
from phyff.ondevice import reference
from phyff.perf.firmware import (
    VOWELS7_CLASSES,
    VOWELS7_FEATURES,
    VOWELS7_MEDIUM,
    random_model_image,
)
from phyff.protocol import wire
from phyff.protocol.model_image import (
    INFERENCE_GOODNESS,
    INFERENCE_ONEPASS,
    Description,
    ModelImage,
)
from phyff.protocol.wire import (
    Caps,
    ChunkHead,
    Cmd,
    Feature,
    InferHead,
    ModelBegin,
    ModelInfo,
    Status,
)


def require_infer(caps: Caps) -> None:
    if not caps.features & Feature.INFER:
        pytest.skip(f"{caps.board} has no on-device inference (no FEAT_INFER in its HELLO "
                    f"record: its firmware has no model memory and no model compiled in)")


@pytest.fixture
def icaps(caps: Caps) -> Caps:
    require_infer(caps)
    return caps


def info(raw: RawLink) -> ModelInfo:
    header, body = raw.request(Cmd.MODEL_INFO)
    assert not header.is_error, f"MODEL_INFO refused: {wire.ErrorRecord.unpack(body)}"
    return ModelInfo.unpack(body)


def infer_raw(raw: RawLink, x: np.ndarray, flags: int = wire.INFER_TRACE):
    """INFER with the trace; (classes, scores, trace, saturated) as arrays."""
    n, f = x.shape
    header, body = raw.request(Cmd.INFER, InferHead(n, f, flags).pack() + wire.pack_samples(x),
                               timeout=10.0)
    assert not header.is_error, f"INFER refused: {wire.ErrorRecord.unpack(body)}"
    head = InferHead.unpack(body)
    model = info(raw)
    c, t = model.n_classes, model.trace_values if flags & wire.INFER_TRACE else 0
    assert (head.n_samples, head.n_values, head.flags) == (n, c, flags)
    assert len(body) == wire.INFER_HEAD_SIZE + n * (2 + 4 * c + 2 * t) + (n + 7) // 8
    at = wire.INFER_HEAD_SIZE
    classes = np.frombuffer(body, "<u2", n, at).astype(np.int64)
    at += 2 * n
    scores = np.frombuffer(body, "<i4", n * c, at).reshape(n, c).astype(np.int64)
    at += 4 * n * c
    trace = np.frombuffer(body, "<i2", n * t, at).reshape(n, t)
    at += 2 * n * t
    bits = np.unpackbits(np.frombuffer(body, np.uint8, (n + 7) // 8, at), bitorder="little")
    return classes, scores, trace, bits[:n].astype(bool)


def check_against_pipeline(image: bytes, caps: Caps, x: np.ndarray, classes: np.ndarray,
                           scores: np.ndarray, trace: np.ndarray, saturated: np.ndarray) -> None:
    want = c_pipeline(image, caps, x, trace)
    np.testing.assert_array_equal(scores, want.scores)
    np.testing.assert_array_equal(classes, want.classes)
    top = ((1 << caps.adc_bits) - 1) << (15 - caps.adc_bits)
    clipped = (trace == top).any(axis=1) if trace.size else np.zeros(len(x), bool)
    np.testing.assert_array_equal(saturated, want.saturated | clipped)
    # and the independent numpy reference (written from model.h, no code shared with C)
    parsed = ModelImage.unpack(image)
    numpy_ref = reference.run(parsed, x, reference.replay(parsed, trace),
                              reference.sense_top(caps.adc_bits))
    np.testing.assert_array_equal(scores, numpy_ref.scores)
    np.testing.assert_array_equal(classes, numpy_ref.classes)
    np.testing.assert_array_equal(saturated, numpy_ref.saturated)


@pytest.fixture
def erased(raw: RawLink, icaps: Caps) -> Iterator[RawLink]:
    """The board with no model, and none left behind for the next test's target."""
    raw.request(Cmd.MODEL_ERASE)
    yield raw
    raw.request(Cmd.MODEL_ERASE)


@pytest.fixture
def loaded(erased: RawLink, icaps: Caps) -> tuple[RawLink, bytes]:
    """Model A in force: the one every refusal must leave in place."""
    image = small_image(icaps, seed=1, name="model-a").pack()
    header, body = load_raw(erased, image)
    assert not header.is_error, f"MODEL_COMMIT refused: {wire.ErrorRecord.unpack(body)}"
    return erased, image


def assert_still_in_force(raw: RawLink, image: bytes, caps: Caps) -> None:
    model = info(raw)
    assert (model.crc32, model.image_size) == (wire.crc32(image), len(image))
    hello = Caps.unpack(raw.request(Cmd.HELLO)[1])
    assert (hello.model_loaded, hello.model_crc) == (1, wire.crc32(image))
    x = features(3, model.n_features, seed=7)
    check_against_pipeline(image, caps, x, *infer_raw(raw, x))


# ---- the pipeline ------------------------------------------------------------------


@pytest.mark.parametrize("inference", [INFERENCE_ONEPASS, INFERENCE_GOODNESS],
                         ids=["one-pass", "goodness"])
def test_infer_matches_the_c_pipeline_on_the_traced_values(erased: RawLink, icaps: Caps,
                                                           inference: int) -> None:
    image = small_image(icaps, seed=3, inference=inference).pack()
    header, body = load_raw(erased, image)
    assert not header.is_error, f"MODEL_COMMIT refused: {wire.ErrorRecord.unpack(body)}"
    model = ModelInfo.unpack(body)
    assert model == info(erased)  # COMMIT answers what MODEL_INFO then says
    x = features(min(9, model.max_batch_trace), model.n_features, seed=inference)
    check_against_pipeline(image, icaps, x, *infer_raw(erased, x))


def test_board_client_loads_and_infers(board: Board) -> None:
    require_infer(board.caps)
    image = small_image(board.caps, seed=4).pack()
    try:
        model = board.load_model(image)
        assert board.caps.model_loaded == 1 and board.caps.model_crc == wire.crc32(image)
        x = features(2 * model.max_batch_trace + 1, model.n_features, seed=4)  # 3 frames
        result = board.infer(x, trace=True, info=model)
        assert result.trace is not None
        check_against_pipeline(image, board.caps, x, result.classes, result.scores,
                               result.trace, result.saturated)
        plain = board.infer(x[:5], info=model)  # without the trace: the same layout minus it
        assert plain.trace is None and plain.scores.shape == (5, model.n_classes)
    finally:
        board.erase_model()
    assert board.model_info() is None and board.caps.model_loaded == 0


def test_infer_stats_count_samples_and_split_the_time(loaded: tuple[RawLink, bytes]) -> None:
    raw, _ = loaded
    model = info(raw)
    before = wire.Stats.unpack(raw.request(Cmd.STATS)[1])
    infer_raw(raw, features(4, model.n_features))
    raw.error(Cmd.INFER, InferHead(1, model.n_features + 1, 0).pack())  # refused: not counted
    after = wire.Stats.unpack(raw.request(Cmd.STATS)[1])
    assert after.infer_samples == before.infer_samples + 4  # W-T9
    assert after.samples_served == before.samples_served  # W-T6 counts QUERY only
    assert after.infer_medium_us >= before.infer_medium_us  # W-T10, W-T11: both advance with time
    assert after.infer_digital_us >= before.infer_digital_us


def test_a_vowels7_sized_model_fits_and_runs(target: Target) -> None:
    """The network the boards are sized for: 20 drive / 20 sense channels, two blocks
    of 20 outputs with skips, 7 classes (4,062 bytes)."""
    if not target.emulated:
        pytest.skip("a real board's medium is what it is wired to; this needs 20 x 20 channels")
    spec: EmulatorSpec = target.fit(parse_emu_url(VOWELS7_MEDIUM))
    with target.open(spec) as url, Board.open(url, timeout=5.0) as board:
        require_infer(board.caps)
        if board.caps.n_drive < 20:
            pytest.skip(f"{board.caps.board} serves {board.caps.n_drive} drive channels, "
                        f"fewer than vowels7's 20")
        image = random_model_image(board.caps, n_classes=VOWELS7_CLASSES,
                                   n_features=VOWELS7_FEATURES, hidden=20, seed=5,
                                   name="vowels7").pack()
        assert len(image) <= board.caps.model_capacity, (
            f"a vowels7 model ({len(image)} B) does not fit {board.caps.board}'s "
            f"{board.caps.model_capacity} B of model memory")
        model = board.load_model(image)
        x = features(12, VOWELS7_FEATURES, seed=5)
        result = board.infer(x, trace=True, info=model)
        assert result.trace is not None and result.trace.shape == (12, 40)
        check_against_pipeline(image, board.caps, x, result.classes, result.scores,
                               result.trace, result.saturated)
        board.erase_model()


# ---- refusals leave the model in force ---------------------------------------------


def test_wrong_feature_width_is_refused(loaded: tuple[RawLink, bytes], icaps: Caps) -> None:
    raw, image = loaded
    f = info(raw).n_features
    _, err = raw.error(Cmd.INFER, InferHead(1, f + 1, 0).pack() + bytes(2 * (f + 1)))
    assert (err.status, err.arg) == (Status.BAD_CHANNELS, f)
    assert_still_in_force(raw, image, icaps)


def test_no_model_is_refused(erased: RawLink, icaps: Caps) -> None:
    _, err = erased.error(Cmd.INFER, InferHead(1, 1, 0).pack() + bytes(2))
    assert (err.status, err.arg) == (Status.NO_MODEL, 0)
    _, err = erased.error(Cmd.MODEL_INFO)
    assert (err.status, err.arg) == (Status.NO_MODEL, 0)
    hello = Caps.unpack(erased.request(Cmd.HELLO)[1])
    assert (hello.model_loaded, hello.model_crc) == (0, 0)


def test_corrupted_crc_is_refused(loaded: tuple[RawLink, bytes], icaps: Caps) -> None:
    raw, image = loaded
    other = small_image(icaps, seed=2, name="model-b").pack()
    _, body = load_raw(raw, other, crc=wire.crc32(other) ^ 1)
    err = wire.ErrorRecord.unpack(body)
    assert (err.status, err.arg) == (Status.MODEL_CRC, 0)
    damaged = bytearray(other)
    damaged[len(other) // 2] ^= 0x40  # a byte hit on the way: the CRC-32 of the BEGIN catches it
    _, body = load_raw(raw, bytes(damaged), crc=wire.crc32(other))
    assert wire.ErrorRecord.unpack(body).status == Status.MODEL_CRC
    assert_still_in_force(raw, image, icaps)


def test_truncated_load_is_refused(loaded: tuple[RawLink, bytes], icaps: Caps) -> None:
    raw, image = loaded
    other = small_image(icaps, seed=2).pack()
    _, body = load_raw(raw, other, send=len(other) - 10)
    err = wire.ErrorRecord.unpack(body)
    assert (err.status, err.arg) == (Status.LOAD_RANGE, len(other) - 10)
    _, err = raw.error(Cmd.MODEL_COMMIT)  # the failed COMMIT ended the load
    assert err.status == Status.NO_LOAD
    assert_still_in_force(raw, image, icaps)


def test_a_commit_with_a_payload_leaves_the_load_going(loaded: tuple[RawLink, bytes],
                                                       icaps: Caps) -> None:
    """MODEL_COMMIT check 1: BAD_PAYLOAD ends nothing (wire.h and docs/protocol.md agree:
    only the checks from LOAD_RANGE on end the load)."""
    raw, image = loaded
    other = small_image(icaps, seed=3, name="model-d").pack()
    raw.request(Cmd.MODEL_BEGIN, ModelBegin(len(other), wire.crc32(other)).pack())
    for at in range(0, len(other), 200):
        header, _ = raw.request(Cmd.MODEL_CHUNK, ChunkHead(at).pack() + other[at:at + 200])
        assert not header.is_error
    _, err = raw.error(Cmd.MODEL_COMMIT, b"\x00")
    assert (err.status, err.arg) == (Status.BAD_PAYLOAD, 0)
    assert_still_in_force(raw, image, icaps)
    header, body = raw.request(Cmd.MODEL_COMMIT)  # the same load, committed now
    assert not header.is_error and ModelInfo.unpack(body).name == "model-d"
    assert_still_in_force(raw, other, icaps)


def test_too_large_is_refused(loaded: tuple[RawLink, bytes], icaps: Caps) -> None:
    raw, image = loaded
    for size in (icaps.model_capacity + 1, 0):
        _, err = raw.error(Cmd.MODEL_BEGIN, ModelBegin(size, 0).pack())
        assert (err.status, err.arg) == (Status.MODEL_TOO_LARGE, min(icaps.model_capacity,
                                                                      0xFFFF))
    _, err = raw.error(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + b"x")  # the refusal began none
    assert err.status == Status.NO_LOAD
    assert_still_in_force(raw, image, icaps)


def test_a_model_of_another_board_is_refused(loaded: tuple[RawLink, bytes],
                                             icaps: Caps) -> None:
    raw, image = loaded
    base = small_image(icaps, seed=2)
    for field, offset, value in (("train_unit_id", 16, icaps.unit_id ^ 1),
                                 ("train_medium", 56, icaps.medium + "x")):
        other = dataclasses.replace(base, head=dataclasses.replace(base.head,
                                                                   **{field: value})).pack()
        _, body = load_raw(raw, other)
        err = wire.ErrorRecord.unpack(body)
        assert (err.status, err.arg) == (Status.WRONG_BOARD, offset), field  # M-V6
    assert_still_in_force(raw, image, icaps)


def test_a_broken_image_is_refused_with_the_field_offset(loaded: tuple[RawLink, bytes],
                                                         icaps: Caps) -> None:
    raw, image = loaded
    other = bytearray(small_image(icaps, seed=2).pack())
    other[0] ^= 0xFF  # M-V1: magic
    _, body = load_raw(raw, bytes(other))
    assert (wire.ErrorRecord.unpack(body).status, wire.ErrorRecord.unpack(body).arg) == (
        Status.BAD_MODEL, 0)
    _, body = load_raw(raw, image + b"\0\0")  # M-V5: two bytes past the layout
    err = wire.ErrorRecord.unpack(body)
    assert err.status == Status.BAD_MODEL
    assert_still_in_force(raw, image, icaps)


def _described(icaps: Caps, seed: int) -> tuple[bytes, bytes]:
    """A small image with a description section (model.h M-D1-D2): (image, section)."""
    image = small_image(icaps, seed=seed, name="described")
    h = image.head
    image.description = Description.of(
        [0.5 + j for j in range(h.n_features)], [1.0] * h.n_features, True,
        [f"feature {j}" for j in range(h.n_features)], [f"class {c}" for c in range(h.n_classes)])
    packed = image.pack()
    return packed, image.description.pack()


def test_model_describe_serves_the_description_in_pieces(erased: RawLink,
                                                         icaps: Caps) -> None:
    """wire.h MODEL_DESCRIBE (level 5) and model.h M-D1-D3 on the board itself."""
    raw = erased
    request = wire.DescribeRequest
    _, err = raw.error(Cmd.MODEL_DESCRIBE, request(0, 64).pack())
    assert (err.status, err.arg) == (Status.NO_MODEL, 0)
    plain = small_image(icaps, seed=3).pack()
    assert not load_raw(raw, plain)[0].is_error
    header, body = raw.request(Cmd.MODEL_DESCRIBE, request(0, 64).pack())
    assert not header.is_error and body == bytes(8)  # no description: size 0
    image, section = _described(icaps, seed=3)
    header, body = load_raw(raw, image)
    assert not header.is_error, wire.ErrorRecord.unpack(body)
    for step in (65535, 16, 1):
        got = b""
        while len(got) < len(section):
            header, body = raw.request(Cmd.MODEL_DESCRIBE, request(len(got), step).pack())
            reply = wire.DescribeReply.unpack(body[:8])
            assert (reply.section_size, reply.offset) == (len(section), len(got))
            assert 0 < len(body) - 8 <= min(step, icaps.max_payload - 8)
            got += body[8:]
        assert got == section
    for payload, refusal in ((request(0, 8, 1).pack(), (Status.BAD_CONFIG, 6)),
                             (request(len(section) + 1, 8).pack(), (Status.BAD_CONFIG, 0)),
                             (bytes(7), (Status.BAD_PAYLOAD, 8))):
        _, err = raw.error(Cmd.MODEL_DESCRIBE, payload)
        assert (err.status, err.arg) == refusal
    # a damaged section is refused at COMMIT with the field's offset; the model stays
    at = len(image) - len(section)
    bad = bytearray(image)
    bad[at + 8] ^= 1  # n_features
    _, body = load_raw(raw, bytes(bad))
    err = wire.ErrorRecord.unpack(body)
    assert (err.status, err.arg) == (Status.BAD_MODEL, min(at + 8, 65535))
    _, body = load_raw(raw, image[:-1] + b"!")  # the last class name without its 0x00
    err = wire.ErrorRecord.unpack(body)
    assert err.status == Status.BAD_MODEL
    assert_still_in_force(raw, image, icaps)


def test_a_new_model_replaces_the_old_one_only_on_commit(loaded: tuple[RawLink, bytes],
                                                         icaps: Caps) -> None:
    raw, image = loaded
    other = small_image(icaps, seed=9, name="model-c").pack()
    raw.request(Cmd.MODEL_BEGIN, ModelBegin(len(other), wire.crc32(other)).pack())
    raw.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + other[:len(other) // 2])
    assert_still_in_force(raw, image, icaps)  # half a load changes nothing
    header, body = load_raw(raw, other)  # a new BEGIN drops the half load
    assert not header.is_error
    assert ModelInfo.unpack(body).name == "model-c"
    assert_still_in_force(raw, other, icaps)


# ---- a trained network, deployed with the product's own deploy ----------------------


def test_a_trained_vowels7_model_classifies_on_the_board(target: Target,
                                                         tmp_path: Path) -> None:
    """`phyff deploy`'s path on this board: a vowels7 network trained on the emulated
    cavity with this board's medium seed (the same physics), quantised on calibration
    samples measured through this board, loaded, proven bit for bit; then the board
    classifies the test split by itself, every score checked against the host."""
    import os

    from phyff.datasets import load_dataset
    from phyff.ondevice.deploy import deploy, evaluate
    from phyff.training.session import TrainConfig, train

    data_dir = os.environ.get("PHYFF_DATA_DIR")
    if not data_dir or not (Path(data_dir) / "vowels7").is_dir():
        pytest.skip("vowels7 data: set PHYFF_DATA_DIR to the folder holding vowels7/")
    data = load_dataset("vowels7", data_dir=data_dir, seed=0)
    spec = parse_emu_url(VOWELS7_MEDIUM)
    with Board.open(spec.url()) as emulated:
        layers = board_layers(emulated, 2)
        trained = train(TrainConfig.from_preset("acoustic"), layers, data,
                        tmp_path / "run", progress=False)
    with target.open(spec) as url, Board.open(url, timeout=10.0) as board:
        require_infer(board.caps)
        if board.n_drive < 19 or board.caps.model_capacity < 4062:
            pytest.skip(f"{target.name} cannot hold a vowels7 model")
        done = deploy(trained.model, board, data.x_train, data.y_train, name="vowels7")
        assert done.check_agreement == 1.0
        result = evaluate(board, done.quantised.image, data.x_test)
        board.erase_model()
    accuracy = float(np.mean(result.predictions == data.y_test))
    print(f"\n[{target.name}] trained vowels7 model on the board: {100 * accuracy:.1f} % "
          f"(host float {100 * trained.test_acc:.1f} %), {len(done.image):,} bytes, "
          f"{result.samples_per_second:,.0f} samples/s, bit-exact {100 * result.bit_exact:.0f} %")
    assert result.bit_exact == 1.0
    assert accuracy >= trained.test_acc - 0.05  # read noise: 49 test samples, 2 points each


def test_a_multi_row_vowels7_model_classifies_on_the_board(target: Target,
                                                           tmp_path: Path) -> None:
    """A problem wider than the board (model.h M-R1-R3, M-L1-L2): vowels7 trained on 4 active
    drive / 6 sense channels of the emulated cavity (3 device rows per block, the label a
    class code), deployed with `phyff deploy`'s path; every INFER sample measures its rows
    on the board, and the board's accuracy stays within a point of the host's."""
    import os

    from phyff.datasets import load_dataset
    from phyff.ondevice.deploy import deploy, evaluate
    from phyff.training.session import TrainConfig, train

    data_dir = os.environ.get("PHYFF_DATA_DIR")
    if not data_dir or not (Path(data_dir) / "vowels7").is_dir():
        pytest.skip("vowels7 data: set PHYFF_DATA_DIR to the folder holding vowels7/")
    data = load_dataset("vowels7", data_dir=data_dir, seed=0)
    spec = parse_emu_url(VOWELS7_MEDIUM)
    config = TrainConfig.from_preset("acoustic", cache_negatives=1)
    with Board.open(spec.url()) as emulated:
        emulated.configure(n_drive=4, n_sense=6)
        layers = board_layers(emulated, 2)
        trained = train(config, layers, data, tmp_path / "run", progress=False)
    assert trained.model.block_rows == [3, 3] and trained.model.label_mode == "add"
    with target.open(spec) as url, Board.open(url, timeout=10.0) as board:
        require_infer(board.caps)
        board.configure(n_drive=4, n_sense=6)
        done = deploy(trained.model, board, data.x_train, data.y_train, name="vowels7-rows")
        assert done.check_agreement == 1.0
        result = evaluate(board, done.quantised.image, data.x_test)
        host = trained.model.predict(board_layers(board, 2), data.x_test)
        board.erase_model()
    accuracy = float(np.mean(result.predictions == data.y_test))
    host_accuracy = float(np.mean(host == data.y_test))
    print(f"\n[{target.name}] multi-row vowels7 model on the board: {100 * accuracy:.1f} % "
          f"(host float on the same board {100 * host_accuracy:.1f} %), {len(done.image):,} "
          f"bytes, bit-exact {100 * result.bit_exact:.0f} %")
    assert result.bit_exact == 1.0
    assert accuracy >= host_accuracy - 0.0205  # within a sample (2.04 points) of the host
