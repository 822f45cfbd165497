"""On-device learning on the board under test (wire.h W-N1-N8, learn.h).

Every test here needs FEAT_LEARN and skips, saying so, on a board without it
(the simulated Uno: no model memory for the statistics). The exactness test
opens its own board on a noise-free medium, so the values LEARN measures
are those an INFER trace of the same samples recorded: from that trace the
host's numpy reference (phyff.ondevice.reference, then phyff.ondevice.refit)
predicts the refitted image, and the board's REFIT must answer its CRC-32
and conditioning figure, then score like it bit for bit. The refusals are
provoked on the session's board and must leave the read-out in force.
"""

from __future__ import annotations

import numpy as np
import pytest
from modelkit import c_pipeline, features, load_raw, small_image
from rawlink import RawLink
from targets import Target

from phyff.board.client import Board
from phyff.board.link import BoardError
from phyff.emulator import EmulatorSpec, parse_emu_url
from phyff.ondevice import reference
from phyff.ondevice import refit as rf
from phyff.protocol import wire
from phyff.protocol.model_image import INFERENCE_GOODNESS
from phyff.protocol.wire import Caps, Cmd, ErrorRecord, Feature, LearnHead, ModelInfo, Status

QUIET_SPEC = "emu://acoustic?seed=21&n_in=6&n_out=4&noise=0&drift=0"
LAMBDA_SHIFT = 10


def require_learn(caps: Caps) -> None:
    if not caps.features & Feature.LEARN:
        pytest.skip(f"{caps.board} cannot learn on the device (no FEAT_LEARN in its HELLO "
                    f"record: its firmware has no model memory for the statistics)")


@pytest.fixture
def lcaps(caps: Caps) -> Caps:
    require_learn(caps)
    return caps


def learn_payload(x: np.ndarray, labels: np.ndarray) -> bytes:
    return wire.pack_learn_request(x, labels)


def learn_ok(raw: RawLink, x: np.ndarray, labels: np.ndarray, n_classes: int,
             seq: int | None = None) -> wire.LearnReply:
    header, body = raw.request(Cmd.LEARN, learn_payload(x, labels), seq=seq, timeout=10.0)
    assert not header.is_error, f"LEARN refused: {ErrorRecord.unpack(body)}"
    return wire.LearnReply.unpack(body, n_classes)


def info(raw: RawLink) -> ModelInfo:
    header, body = raw.request(Cmd.MODEL_INFO)
    assert not header.is_error, f"MODEL_INFO refused: {ErrorRecord.unpack(body)}"
    return ModelInfo.unpack(body)


def test_refit_is_the_numpy_references_bit_for_bit(target: Target) -> None:
    """W-N2, W-N4, W-N6: LEARN measures as INFER does; REFIT writes refit.py's image."""
    if not target.emulated:
        pytest.skip("a real board's medium is noisy: its LEARN measurements are not an "
                    "earlier INFER's")
    spec: EmulatorSpec = target.fit(parse_emu_url(QUIET_SPEC))
    with target.open(spec) as url, Board.open(url, timeout=10.0) as board:
        require_learn(board.caps)
        image = small_image(board.caps, seed=11)
        model = board.load_model(image.pack())
        assert (model.readout_origin, model.readout_samples) == (0, 0)
        n = 4 * model.n_classes
        x = features(n, model.n_features, seed=11)
        labels = np.arange(n) % model.n_classes
        traced = board.infer(x, trace=True, info=model)
        assert traced.trace is not None
        run = reference.run(image, x, reference.replay(image, traced.trace),
                            reference.sense_top(board.caps.adc_bits))
        stats = rf.Statistics.empty(sum(b.head.d_out for b in image.blocks), model.n_classes)
        stats.add(rf.readout_features(image, run.outputs[0]), labels)
        want = rf.refit(image, stats, LAMBDA_SHIFT)
        learnt = board.learn(x, labels, info=model)
        assert learnt.samples_total == n
        assert learnt.class_counts.tolist() == np.bincount(labels).tolist()
        reply = board.refit(LAMBDA_SHIFT)
        new_image = want.image.pack()
        assert reply == wire.RefitReply(wire.crc32(new_image), n, want.cond_bits)
        assert board.caps.model_crc == wire.crc32(new_image)
        after = board.model_info()
        assert after is not None and after.refitted and after.readout_samples == n
        assert after.crc32 == wire.crc32(new_image)
        assert (after.n_features, after.n_classes, after.n_blocks, after.image_size,
                after.score_exp) == (model.n_features, model.n_classes, model.n_blocks,
                                     model.image_size, want.image.head.score_exp)  # W-N7
        assert board.learn(x[:0], labels[:0], info=after).samples_total == 0  # consumed
        result = board.infer(x, trace=True, info=after)
        assert result.trace is not None
        expected = c_pipeline(new_image, board.caps, x, result.trace)
        np.testing.assert_array_equal(result.scores, expected.scores)
        board.erase_model()


def test_learn_refusals_carry_the_numbers_and_change_nothing(raw: RawLink, lcaps: Caps) -> None:
    """W-N8's checks in order, W-N1 (what clears the statistics), W-N3 (a retry)."""
    raw.request(Cmd.MODEL_ERASE)
    _, err = raw.error(Cmd.LEARN, LearnHead(0, 1).pack())
    assert (err.status, err.arg) == (Status.NO_MODEL, 0)
    assert raw.error(Cmd.LEARN, b"\x00")[1] == ErrorRecord(Status.BAD_PAYLOAD, 4)
    assert raw.error(Cmd.REFIT, b"")[1] == ErrorRecord(Status.BAD_PAYLOAD, 2)
    assert raw.error(Cmd.FORGET, b"")[1] == ErrorRecord(Status.NO_MODEL, 0)
    image = small_image(lcaps, seed=12).pack()
    header, body = load_raw(raw, image)
    assert not header.is_error, f"MODEL_COMMIT refused: {ErrorRecord.unpack(body)}"
    model = ModelInfo.unpack(body)
    f, c = model.n_features, model.n_classes
    x = features(2 * c, f, seed=12)
    labels = np.arange(2 * c) % c
    try:
        assert raw.error(Cmd.LEARN, LearnHead(1, f + 1).pack())[1] == \
            ErrorRecord(Status.BAD_CHANNELS, f)
        assert raw.error(Cmd.LEARN, LearnHead(2, f).pack())[1] == \
            ErrorRecord(Status.BAD_PAYLOAD, 4 + 2 * (2 * f + 2))
        bad = labels.copy()
        bad[-1] = c
        assert raw.error(Cmd.LEARN, learn_payload(x, bad))[1] == ErrorRecord(Status.BAD_LABEL, c)
        # nothing was learnt by the refusals: a REFIT finds class 0 without samples
        assert raw.error(Cmd.REFIT, (LAMBDA_SHIFT).to_bytes(2, "little"))[1] == \
            ErrorRecord(Status.TOO_FEW, 0)
        # W-N3: the same LEARN repeated with its seq adds nothing
        first = learn_ok(raw, x, labels, c, seq=77)
        again = learn_ok(raw, x, labels, c, seq=77)
        assert first.samples_total == again.samples_total == 2 * c
        assert raw.error(Cmd.REFIT, (61).to_bytes(2, "little"))[1] == \
            ErrorRecord(Status.BAD_LAMBDA, 60)
        # FORGET clears them
        assert raw.request(Cmd.FORGET)[0].is_reply
        assert learn_ok(raw, x[:0], labels[:0], c).samples_total == 0
        # MODEL_BEGIN (its chunks take the statistics' slot) clears them, the model stays
        learn_ok(raw, x, labels, c)
        assert not raw.request(Cmd.MODEL_BEGIN, wire.ModelBegin(len(image), 0).pack())[0].is_error
        assert learn_ok(raw, x[:0], labels[:0], c).samples_total == 0
        # LEARN ended the load (CORE-K11): a chunk now has no load to go to
        assert raw.error(Cmd.MODEL_CHUNK, wire.ChunkHead(0).pack() + image[:8])[1].status == \
            Status.NO_LOAD
        assert info(raw).crc32 == wire.crc32(image) and not info(raw).refitted
        # a goodness model has no read-out
        goodness = small_image(lcaps, seed=13, inference=INFERENCE_GOODNESS).pack()
        assert not load_raw(raw, goodness)[0].is_error
        assert raw.error(Cmd.LEARN, learn_payload(x, labels))[1] == \
            ErrorRecord(Status.NO_READOUT, 0)
        assert raw.error(Cmd.REFIT, (LAMBDA_SHIFT).to_bytes(2, "little"))[1] == \
            ErrorRecord(Status.NO_READOUT, 0)
    finally:
        raw.request(Cmd.MODEL_ERASE)


def test_a_singular_system_is_refused_and_the_read_out_stays(target: Target) -> None:
    """W-N4, learn.h RF-E1: every class the same sample and no penalty: SINGULAR; the
    model in force is the one loaded, the statistics are consumed."""
    if not target.emulated:
        pytest.skip("needs a noise-free medium, so equal samples measure equal")
    spec: EmulatorSpec = target.fit(parse_emu_url(QUIET_SPEC))
    with target.open(spec) as url, Board.open(url, timeout=10.0) as board:
        require_learn(board.caps)
        image = small_image(board.caps, seed=14)
        model = board.load_model(image.pack())
        c = model.n_classes
        x = np.repeat(features(1, model.n_features, seed=14), c, axis=0)
        board.learn(x, np.arange(c), info=model)
        with pytest.raises(BoardError) as refused:
            board.refit(60)
        assert refused.value.status == Status.SINGULAR
        still = board.model_info()
        assert still is not None and still.crc32 == model.crc32 and not still.refitted
        assert board.learn(x[:0], np.arange(0), info=still).samples_total == 0
        board.erase_model()

