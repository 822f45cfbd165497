"""Protocol conformance: every command, and every error the protocol defines that a
host can provoke, checked on the wire (raw frames, so nothing is retried or hidden).

The rules are those of shared/include/phyff/wire.h and docs/protocol.md
(W-C1-C5, W-F1-F3, W-S1-S5, W-T1-T8, W-E1-E3, W-L4, the command table; the
inference counters W-T9-T11 in test_inference.py); each test names the rule it
checks. The expectations come from the board's own HELLO record,
so a real board with other limits is held to the same rules.

The commands of on-device inference (MODEL_BEGIN..MODEL_ERASE) are held to
their rules at the end, on boards with FEAT_INFER; what a loaded model
answers is checked in test_inference.py.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest
from modelkit import features, load_raw, small_image
from rawlink import RawLink
from targets import Target

from phyff.protocol import wire
from phyff.protocol.wire import (
    Caps,
    ChunkHead,
    Cmd,
    Config,
    EventId,
    Feature,
    Flag,
    Header,
    InferHead,
    ModelBegin,
    ModelInfo,
    QueryHead,
    Stats,
    Status,
)


def query_payload(n: int, n_drive: int, seed: int = 0) -> bytes:
    drive = np.random.default_rng(seed).integers(0, 32768, size=(n, n_drive), dtype=np.int16)
    return QueryHead(n, n_drive).pack() + wire.pack_samples(drive)


def expected_max_batch(max_payload: int, n_drive: int, n_sense: int) -> int:
    """Samples per QUERY that fit both the request and the reply (phyff_core_max_batch)."""
    room = max_payload - wire.QUERY_HEAD_SIZE
    by_request = room // (2 * n_drive)
    by_reply = room * 8 // (16 * n_sense + 1)
    while 2 * (by_reply + 1) * n_sense + (by_reply + 8) // 8 <= room:
        by_reply += 1
    while by_reply > 0 and 2 * by_reply * n_sense + (by_reply + 7) // 8 > room:
        by_reply -= 1
    return min(by_request, by_reply, 0xFFFF)


def _frame_with_length(length: int, payload: bytes, cmd: int = Cmd.STATS,
                       seq: int = 66) -> bytes:
    """A frame whose CRC is valid but whose length field says `length`."""
    body = bytearray(struct.pack("<BBBBHH", wire.PROTOCOL_LEVEL, seq, cmd, 0, length, 0)
                     + payload)
    body += wire.crc16(bytes(body)).to_bytes(2, "little")
    return wire.cobs_encode(bytes(body)) + wire.DELIMITER


def stats(raw: RawLink) -> Stats:
    return Stats.unpack(raw.request(Cmd.STATS)[1])


# ---- commands ----------------------------------------------------------------


def test_hello_reports_a_consistent_capability_record(raw: RawLink) -> None:
    header, payload = raw.request(Cmd.HELLO, seq=42)
    assert (header.seq, header.cmd, header.flags) == (42, Cmd.HELLO, Flag.REPLY)  # W-C1
    assert len(payload) == wire.CAPS_SIZE
    caps = Caps.unpack(payload)
    assert caps.level == wire.PROTOCOL_LEVEL
    assert caps.board and caps.medium
    assert caps.n_drive >= 1 and caps.n_sense >= 1 and caps.max_oversample >= 1
    assert 1 <= caps.dac_bits <= 15 and 1 <= caps.adc_bits <= 15
    assert caps.max_batch == expected_max_batch(caps.max_payload, caps.n_drive, caps.n_sense)
    assert caps.max_payload >= wire.CAPS_SIZE
    assert caps.features & Feature.SATURATION_FLAGS


def test_configure_reads_and_writes(raw: RawLink, caps: Caps) -> None:
    _, payload = raw.request(Cmd.CONFIGURE)
    assert Config.unpack(payload) == Config(0, 1, caps.n_drive, caps.n_sense)  # defaults
    want = Config(0, 2 if caps.max_oversample >= 2 else 1, caps.n_drive, caps.n_sense)
    _, payload = raw.request(Cmd.CONFIGURE, want.pack())
    assert Config.unpack(payload) == want
    _, payload = raw.request(Cmd.CONFIGURE)
    assert Config.unpack(payload) == want


def test_query_reply_layout(raw: RawLink, caps: Caps) -> None:
    for n in (0, 1, 9, caps.max_batch):
        header, payload = raw.request(Cmd.QUERY, query_payload(n, caps.n_drive, seed=n))
        assert not header.is_error, f"QUERY of {n} samples refused"
        head = QueryHead.unpack(payload)
        assert (head.n_samples, head.n_channels) == (n, caps.n_sense)
        assert len(payload) == wire.QUERY_HEAD_SIZE + 2 * n * caps.n_sense + (n + 7) // 8
        sense = wire.unpack_samples(payload[wire.QUERY_HEAD_SIZE:], n, caps.n_sense)
        assert (sense >= 0).all()  # Q15 in [0, 1)
        assert (sense & ((1 << (15 - caps.adc_bits)) - 1) == 0).all()  # code << (15 - bits)


def test_negative_drive_is_flagged_as_saturated(raw: RawLink, caps: Caps) -> None:
    drive = np.zeros((9, caps.n_drive), dtype=np.int16)
    drive[3, 0] = -5
    drive[8, -1] = -32768
    _, payload = raw.request(Cmd.QUERY, QueryHead(9, caps.n_drive).pack()
                             + wire.pack_samples(drive))
    bitmap = payload[-2:]
    assert bitmap[0] & (1 << 3) and bitmap[1] & 1


def test_stats_count_frames_and_samples(raw: RawLink, caps: Caps) -> None:
    before = stats(raw)
    raw.request(Cmd.QUERY, query_payload(3, caps.n_drive))
    raw.error(0x33)
    after = stats(raw)
    # W-T1: every intact frame, served or refused: QUERY, the unknown command, STATS
    assert after.frames_ok == before.frames_ok + 3
    assert after.samples_served == before.samples_served + 3  # W-T6
    assert after.bad_commands == before.bad_commands + 1  # W-T4
    assert after.error_replies == before.error_replies + 1  # W-T7


def test_every_refusal_of_an_intact_frame_is_a_bad_command(raw: RawLink, caps: Caps) -> None:
    """W-T1, W-T4, W-T7: W-S1-S4 refusals count in frames_ok and bad_commands alike."""
    before = stats(raw)
    raw.error(Cmd.HELLO, flags=int(Flag.REPLY))  # NOT_A_REQUEST
    raw.error(Cmd.STATS, level=wire.PROTOCOL_LEVEL + 1)  # BAD_LEVEL
    raw.error(0x40)  # UNKNOWN_COMMAND
    raw.error(Cmd.STATS, b"\x00")  # BAD_PAYLOAD
    raw.error(Cmd.QUERY, QueryHead(1, caps.n_drive + 1).pack())  # BAD_CHANNELS
    raw.error(Cmd.QUERY, QueryHead(caps.max_batch + 1, caps.n_drive).pack())  # BATCH_TOO_LARGE
    raw.error(Cmd.CONFIGURE, Config(0, 0, caps.n_drive, caps.n_sense).pack())  # BAD_CONFIG
    after = stats(raw)
    assert after.frames_ok == before.frames_ok + 8  # the seven and this STATS
    assert after.bad_commands == before.bad_commands + 7
    assert after.error_replies == before.error_replies + 7
    assert (after.crc_errors, after.framing_errors) == (before.crc_errors, before.framing_errors)


def test_uptime_follows_the_clock_not_the_traffic(raw: RawLink, target: Target) -> None:
    """W-T8: uptime advances while no frame arrives (by wall time, or by the simulated
    MCU's time on a simulator, which runs slower than real time when idle: SIM-S5)."""
    first = stats(raw).uptime_ms
    time.sleep(1.2)
    second = stats(raw).uptime_ms
    if target.simulated_clock:
        assert 0 < second - first <= 5000, (first, second)
    else:
        assert 1000 <= second - first <= 5000, (first, second)


def test_reset_restores_defaults_and_clears_counters(raw: RawLink, caps: Caps) -> None:
    raw.request(Cmd.CONFIGURE, Config(0, caps.max_oversample, caps.n_drive, caps.n_sense).pack())
    raw.request(Cmd.QUERY, query_payload(2, caps.n_drive))
    header, payload = raw.request(Cmd.RESET)
    assert header.is_reply and not header.is_error and payload == b""
    assert Config.unpack(raw.request(Cmd.CONFIGURE)[1]).oversample == 1
    s = stats(raw)
    assert s.samples_served == 0 and s.frames_ok == 2  # CONFIGURE and STATS since RESET


def test_reset_is_followed_by_the_reset_event(raw: RawLink) -> None:
    """W-E1: after RESET's reply, the event (seq 0, arg = level); none after other commands."""
    raw.frames(wait=0.2)
    raw.events.clear()
    raw.request(Cmd.STATS)
    assert raw.frames(wait=0.2) == [] and raw.events == []
    raw.request(Cmd.RESET)
    deadline = time.monotonic() + 3.0
    while not raw.events and time.monotonic() < deadline:
        raw.frames(wait=0.05)
    assert len(raw.events) == 1
    header, payload = raw.events[0]
    assert (header.seq, header.cmd, header.flags) == (0, Cmd.EVENT, Flag.EVENT)
    event = wire.Event.unpack(payload)
    assert (event.event, event.arg) == (EventId.RESET, wire.PROTOCOL_LEVEL)
    raw.error(Cmd.RESET, b"\x00")  # a refused RESET changes nothing and sends no event
    assert raw.frames(wait=0.2) == [] and len(raw.events) == 1


def test_a_new_connection_meets_a_board_just_started(board_url: str, target: Target,
                                                    caps: Caps, raw: RawLink) -> None:
    """W-E3: emulator servers start the board afresh for every connection; the event comes
    first (on a pty, just before the reply to the first request)."""
    if target.name not in ("emu", "pty"):
        pytest.skip(f"target {target.name}: a new connection reaches the running board (W-E3)")
    raw.request(Cmd.CONFIGURE, Config(0, caps.max_oversample, caps.n_drive, caps.n_sense).pack())
    raw.close()
    fresh = RawLink(board_url)
    try:
        fresh.send(wire.encode_frame(Header(cmd=Cmd.CONFIGURE, seq=1)))
        header, payload = fresh.reply()
        assert header.seq == 1 and Config.unpack(payload).oversample == 1  # defaults again
        assert len(fresh.events) == 1 and fresh.events[0][0].cmd == Cmd.EVENT
    finally:
        fresh.close()


def test_sequence_numbers_are_echoed(raw: RawLink) -> None:
    for seq in (1, 2, 127, 255, 0):
        header, _ = raw.request(Cmd.STATS, seq=seq)
        assert header.seq == seq and header.cmd == Cmd.STATS


# ---- errors ------------------------------------------------------------------


def test_bad_level_is_refused_except_for_hello(raw: RawLink) -> None:
    header, err = raw.error(Cmd.STATS, level=wire.PROTOCOL_LEVEL + 1, seq=9)
    assert (header.seq, header.cmd) == (9, Cmd.STATS)
    assert (err.status, err.arg) == (Status.BAD_LEVEL, wire.PROTOCOL_LEVEL)  # W-L4
    header, payload = raw.request(Cmd.HELLO, level=wire.PROTOCOL_LEVEL + 7)
    assert not header.is_error and payload[0] == wire.PROTOCOL_LEVEL  # W-L3, W-L4


def test_unknown_and_reserved_commands(raw: RawLink, caps: Caps) -> None:
    """W-S3: 0x10..0x16 are served only with FEAT_INFER, 0x17..0x19 only with FEAT_LEARN;
    0x1A..0x1F are reserved."""
    unknown = [0x00, 0x06, 0x1A, 0x1F, 0x40, 0xFF]
    if not caps.features & Feature.INFER:
        unknown += list(range(0x10, 0x17))
    if not caps.features & Feature.LEARN:
        unknown += list(range(0x17, 0x1A))
    for cmd in unknown:
        header, err = raw.error(cmd, seq=cmd or 1)
        assert header.cmd == cmd and (err.status, err.arg) == (Status.UNKNOWN_COMMAND, 0)  # W-S3


def test_order_of_request_checks(raw: RawLink, caps: Caps) -> None:
    """W-S1 before W-S2 before W-S3 before the command's own checks."""
    _, err = raw.error(0x40, level=wire.PROTOCOL_LEVEL + 1, flags=int(Flag.REPLY))
    assert err.status == Status.NOT_A_REQUEST
    _, err = raw.error(0x40, level=wire.PROTOCOL_LEVEL + 1)
    assert (err.status, err.arg) == (Status.BAD_LEVEL, wire.PROTOCOL_LEVEL)
    _, err = raw.error(Cmd.STATS, b"\x00", level=wire.PROTOCOL_LEVEL + 1)
    assert err.status == Status.BAD_LEVEL
    # QUERY: head, channels, batch limit, then length
    _, err = raw.error(Cmd.QUERY, QueryHead(caps.max_batch + 1, caps.n_drive + 1).pack())
    assert err.status == Status.BAD_CHANNELS


def test_oversized_batch_reports_the_limit(raw: RawLink, caps: Caps) -> None:
    # a head alone: the batch limit is checked before the payload length
    head = QueryHead(caps.max_batch + 1, caps.n_drive).pack()
    _, err = raw.error(Cmd.QUERY, head)
    assert (err.status, err.arg) == (Status.BATCH_TOO_LARGE, caps.max_batch)


def test_a_whole_query_one_sample_too_big(raw: RawLink, caps: Caps) -> None:
    """W-F2 and QUERY: max_batch + 1 full samples get TOO_LONG (seq 0, arg max_payload) when
    the payload exceeds max_payload, else BATCH_TOO_LARGE with the request's seq."""
    payload = query_payload(caps.max_batch + 1, caps.n_drive)
    before = stats(raw)
    if len(payload) <= wire.MAX_PAYLOAD_LIMIT:
        raw.send(wire.encode_frame(Header(cmd=Cmd.QUERY, seq=33), payload))
    else:  # more than the length field can say: the board's buffer overflows all the same
        raw.send(_frame_with_length(0xFFFF, payload, cmd=Cmd.QUERY, seq=33))
    header, body = raw.reply()
    err = wire.ErrorRecord.unpack(body)
    if len(payload) > caps.max_payload:
        assert (header.seq, header.cmd) == (0, Cmd.NONE)
        assert (err.status, err.arg) == (Status.TOO_LONG, caps.max_payload)
        after = stats(raw)
        assert after.framing_errors == before.framing_errors + 1
        assert after.overruns == before.overruns  # W-T5: an over-long frame is no overrun
    else:
        assert (header.seq, header.cmd) == (33, Cmd.QUERY)
        assert (err.status, err.arg) == (Status.BATCH_TOO_LARGE, caps.max_batch)
    # and max_batch samples always fit, both ways
    assert len(query_payload(caps.max_batch, caps.n_drive)) <= caps.max_payload
    assert (wire.QUERY_HEAD_SIZE + 2 * caps.max_batch * caps.n_sense
            + (caps.max_batch + 7) // 8) <= caps.max_payload


def test_hello_ignores_its_payload(raw: RawLink) -> None:
    header, payload = raw.request(Cmd.HELLO, b"\x02\x00future level payload")
    assert not header.is_error and len(payload) == wire.CAPS_SIZE


def test_a_query_of_zero_samples(raw: RawLink, caps: Caps) -> None:
    before = stats(raw)
    header, payload = raw.request(Cmd.QUERY, QueryHead(0, caps.n_drive).pack())
    assert not header.is_error and payload == QueryHead(0, caps.n_sense).pack()
    assert stats(raw).samples_served == before.samples_served


def test_aux_is_ignored_in_requests_and_zero_in_replies(raw: RawLink) -> None:
    raw.send(wire.encode_frame(Header(cmd=Cmd.STATS, seq=44, aux=0xBEEF)))
    header, payload = raw.reply()
    assert (header.seq, header.aux, header.is_error) == (44, 0, False)
    assert len(payload) == wire.STATS_SIZE


def test_settle_range_is_in_the_capability_record(raw: RawLink, caps: Caps) -> None:
    if caps.features & Feature.SETTLE:
        assert caps.max_settle_us == 1_000_000
    else:
        assert caps.max_settle_us == 0
    top = Config(caps.max_settle_us, 1, caps.n_drive, caps.n_sense)
    assert Config.unpack(raw.request(Cmd.CONFIGURE, top.pack())[1]) == top
    _, err = raw.error(Cmd.CONFIGURE, Config(caps.max_settle_us + 1, 1, caps.n_drive,
                                             caps.n_sense).pack())
    assert (err.status, err.arg) == (Status.BAD_CONFIG, 0)


def test_channel_select_keeps_the_first_channels_and_drives_the_rest_at_zero(
        raw: RawLink, caps: Caps) -> None:
    """QUERY: drive channels past n_drive_active get 0, sense channels 0..n_sense_active-1."""
    if not caps.features & Feature.CHANNEL_SELECT or caps.n_drive < 2 or caps.n_sense < 2:
        pytest.skip("the board has no channel select")
    nda, nsa, n = caps.n_drive // 2, caps.n_sense - 1, min(16, caps.max_batch)
    drive = np.random.default_rng(5).integers(8000, 32768, size=(n, caps.n_drive),
                                              dtype=np.int16)
    zeroed = drive.copy()
    zeroed[:, nda:] = 0

    def measure(rows: np.ndarray) -> np.ndarray:
        _, payload = raw.request(Cmd.QUERY, QueryHead(n, rows.shape[1]).pack()
                                 + wire.pack_samples(rows))
        head = QueryHead.unpack(payload)
        return wire.unpack_samples(payload[4:], n, head.n_channels).astype(float)

    full_zeroed = measure(zeroed)
    full_driven = measure(drive)
    raw.request(Cmd.CONFIGURE, Config(0, 1, nda, nsa).pack())
    selected = measure(np.ascontiguousarray(drive[:, :nda]))
    assert selected.shape == (n, nsa)
    near = np.abs(selected - full_zeroed[:, :nsa]).mean()
    far = np.abs(selected - full_driven[:, :nsa]).mean()
    assert near * 4 < far, (near, far)  # the same as zeros on the inactive channels


def test_error_arguments(raw: RawLink, caps: Caps) -> None:
    """The argument of every refusal (wire.h "Errors and their arguments")."""
    assert raw.error(0x22)[1].arg == 0
    assert raw.error(Cmd.HELLO, flags=int(Flag.EVENT))[1].arg == 0
    for cmd in (Cmd.STATS, Cmd.RESET):
        assert raw.error(cmd, b"\x00")[1].arg == 0
    assert raw.error(Cmd.CONFIGURE, b"\x00")[1].arg == wire.CONFIG_SIZE
    assert raw.error(Cmd.QUERY, b"")[1].arg == wire.QUERY_HEAD_SIZE


def test_wrong_channel_count_reports_the_expected_one(raw: RawLink, caps: Caps) -> None:
    _, err = raw.error(Cmd.QUERY, QueryHead(1, caps.n_drive + 1).pack() + b"\x01\x00" * 64)
    assert (err.status, err.arg) == (Status.BAD_CHANNELS, caps.n_drive)
    if caps.features & Feature.CHANNEL_SELECT and caps.n_drive > 1:
        raw.request(Cmd.CONFIGURE, Config(0, 1, caps.n_drive - 1, caps.n_sense).pack())
        _, err = raw.error(Cmd.QUERY, query_payload(1, caps.n_drive))
        assert (err.status, err.arg) == (Status.BAD_CHANNELS, caps.n_drive - 1)


def test_bad_payloads(raw: RawLink, caps: Caps) -> None:
    _, err = raw.error(Cmd.QUERY, b"\x01\x00")
    assert (err.status, err.arg) == (Status.BAD_PAYLOAD, wire.QUERY_HEAD_SIZE)
    short = query_payload(3, caps.n_drive)[:-2]  # one value missing
    _, err = raw.error(Cmd.QUERY, short)
    assert (err.status, err.arg) == (Status.BAD_PAYLOAD, len(short) + 2)
    _, err = raw.error(Cmd.CONFIGURE, b"\x00" * 5)
    assert (err.status, err.arg) == (Status.BAD_PAYLOAD, wire.CONFIG_SIZE)
    for cmd in (Cmd.STATS, Cmd.RESET):
        _, err = raw.error(cmd, b"\x00")
        assert err.status == Status.BAD_PAYLOAD


def test_bad_config_names_the_field_offset(raw: RawLink, caps: Caps) -> None:
    good = Config(0, 1, caps.n_drive, caps.n_sense)
    cases = [
        (Config(1_000_001, 1, caps.n_drive, caps.n_sense), 0),
        (Config(0, 0, caps.n_drive, caps.n_sense), 4),
        (Config(0, caps.max_oversample + 1, caps.n_drive, caps.n_sense), 4),
        (Config(0, 1, 0, caps.n_sense), 6),
        (Config(0, 1, caps.n_drive + 1, caps.n_sense), 6),
        (Config(0, 1, caps.n_drive, 0), 8),
        (Config(0, 1, caps.n_drive, caps.n_sense + 1), 8),
        (Config(0, 1, caps.n_drive, caps.n_sense, reserved=1), 10),
    ]
    for config, offset in cases:
        _, err = raw.error(Cmd.CONFIGURE, config.pack())
        assert (err.status, err.arg) == (Status.BAD_CONFIG, offset), config
    assert Config.unpack(raw.request(Cmd.CONFIGURE)[1]) == good  # nothing changed


def test_damaged_frames_get_a_seq_zero_error(raw: RawLink) -> None:
    before = stats(raw)
    body = bytearray(wire.cobs_decode(wire.encode_frame(wire.Header(cmd=Cmd.STATS, seq=77))[:-1]))
    body[1] ^= 0x04  # one bit of the seq flipped on the line: the CRC no longer matches
    raw.send(wire.cobs_encode(bytes(body)) + wire.DELIMITER)
    header, payload = raw.reply()
    err = wire.ErrorRecord.unpack(payload)
    assert (header.seq, header.cmd, header.flags) == (0, Cmd.NONE, Flag.REPLY | Flag.ERROR)
    assert err.status == Status.BAD_CRC  # W-C2
    raw.send(b"\x05\x01\x02\x00")  # COBS code pointing past the end
    header, payload = raw.reply()
    assert header.seq == 0 and wire.ErrorRecord.unpack(payload).status == Status.BAD_COBS
    raw.send(b"\x04\x01\x02\x03\x00")  # decodes to 3 bytes: shorter than a header
    header, payload = raw.reply()
    assert header.seq == 0 and wire.ErrorRecord.unpack(payload).status == Status.TRUNCATED
    after = stats(raw)
    assert after.crc_errors == before.crc_errors + 1  # W-T2
    assert after.framing_errors == before.framing_errors + 2  # W-T3
    assert after.frames_ok == before.frames_ok + 1  # only this STATS (W-T1)
    assert after.error_replies == before.error_replies + 3  # W-T7


def test_length_mismatch_with_a_valid_crc_gets_a_seq_zero_notice(raw: RawLink,
                                                                  caps: Caps) -> None:
    """W-F2: the length field is only believed once it agrees with the frame."""
    raw.send(_frame_with_length(5, b"\x01\x02"))
    header, payload = raw.reply()
    assert (header.seq, header.cmd) == (0, Cmd.NONE)
    assert wire.ErrorRecord.unpack(payload).status == Status.TRUNCATED
    raw.send(_frame_with_length(0, b"\x01\x02"))
    header, payload = raw.reply()
    err = wire.ErrorRecord.unpack(payload)
    assert header.seq == 0 and (err.status, err.arg) == (Status.TOO_LONG, caps.max_payload)


def test_a_flushed_half_frame_gets_a_notice_and_the_request_still_its_reply(
        raw: RawLink) -> None:
    """W-C5, W-F3: the notice for the fragment comes first, then the reply with its seq."""
    frame = wire.encode_frame(Header(cmd=Cmd.STATS, seq=90))
    raw.send(frame[: len(frame) // 2])  # interrupted mid-frame
    raw.send(wire.DELIMITER + wire.encode_frame(Header(cmd=Cmd.HELLO, seq=91)))
    notice, _ = raw.reply()
    assert (notice.seq, notice.cmd, notice.is_error) == (0, Cmd.NONE, True)
    reply, _ = raw.reply()
    assert (reply.seq, reply.cmd, reply.is_error) == (91, Cmd.HELLO, False)


def test_a_host_link_does_not_take_a_notice_for_its_reply(board_url: str) -> None:
    """W-F3 from the host side: phyff's Link waits on for its reply after a notice."""
    from phyff.board import Board

    with Board.open(board_url, timeout=3.0) as board:
        board.link.transport.write(b"\x05\x11\x22")  # a fragment left in the board's buffer
        board.link._need_flush = True  # the next request starts with 0x00, ending it
        assert board.stats().frames_ok >= 1
        assert board.link.stats.damaged_requests == 1
        assert board.link.stats.retries == 0


def test_over_long_frame_is_too_long_with_the_limit(raw: RawLink, caps: Caps) -> None:
    # longer than any receive buffer for max_payload could be (CORE-K2)
    before = stats(raw)
    raw.send(b"\x07" * (wire.max_frame_size(caps.max_payload) + 16) + b"\x00")
    header, payload = raw.reply()
    err = wire.ErrorRecord.unpack(payload)
    # CORE-K2: answered like any over-long frame
    assert header.seq == 0 and (err.status, err.arg) == (Status.TOO_LONG, caps.max_payload)
    after = stats(raw)
    assert after.framing_errors == before.framing_errors + 1  # W-T3
    assert after.overruns == before.overruns  # W-T5: not an overrun
    assert raw.request(Cmd.HELLO)[0].cmd == Cmd.HELLO  # and the board is in sync again


def test_replies_and_events_sent_to_the_board_are_refused(raw: RawLink) -> None:
    for flags in (Flag.REPLY, Flag.EVENT, Flag.REPLY | Flag.ERROR):
        header, err = raw.error(Cmd.HELLO, flags=int(flags), seq=5)
        assert header.seq == 5 and err.status == Status.NOT_A_REQUEST
    _, err = raw.error(Cmd.EVENT, flags=int(Flag.EVENT))
    assert err.status == Status.NOT_A_REQUEST


def test_other_flag_bits_of_a_request_are_ignored(raw: RawLink, caps: Caps) -> None:
    """W-S1: ERROR and the undefined flag bits neither refuse a request nor change it."""
    plain = raw.request(Cmd.HELLO)[1]
    for flags in (int(Flag.ERROR), 0x08, 0x80, 0xF8 | int(Flag.ERROR)):
        header, body = raw.request(Cmd.HELLO, flags=flags)
        assert not header.is_error and header.flags == int(Flag.REPLY), hex(flags)
        assert body == plain
    header, _ = raw.request(Cmd.QUERY, QueryHead(0, caps.n_drive).pack(), flags=0x40)
    assert not header.is_error


def test_empty_frames_are_ignored(raw: RawLink) -> None:
    before = stats(raw)
    raw.send(b"\x00\x00\x00")
    assert raw.frames(wait=0.3) == []  # W-C5: no reply at all
    raw.send(b"\x00" + wire.encode_frame(wire.Header(cmd=Cmd.HELLO, seq=3)))
    header, _ = raw.reply()
    assert header.seq == 3 and raw.frames(wait=0.2) == []
    after = stats(raw)
    assert after.framing_errors == before.framing_errors  # W-C5: empty frames count nowhere
    assert after.crc_errors == before.crc_errors and after.overruns == before.overruns
    assert after.frames_ok == before.frames_ok + 2  # HELLO and this STATS


def test_a_split_frame_is_reassembled(raw: RawLink) -> None:
    frame = wire.encode_frame(wire.Header(cmd=Cmd.HELLO, seq=11))
    for i in range(len(frame)):
        raw.send(frame[i:i + 1])
    header, _ = raw.reply()
    assert header.seq == 11 and not header.is_error


# ---- on-device inference commands (wire.h "On-device inference") ------------------


def test_capability_record_describes_the_model_memory(caps: Caps) -> None:
    if caps.features & Feature.INFER:
        assert caps.model_capacity > 0
    else:
        assert caps.model_capacity == 0 and not caps.features & Feature.MODEL_PERSIST
    assert caps.model_loaded in (0, 1)
    if not caps.model_loaded:
        assert caps.model_crc == 0
    assert (caps.reserved0, caps.reserved1, caps.reserved2) == (0, 0, 0)


@pytest.fixture
def infer_raw(raw: RawLink, caps: Caps) -> Iterator[RawLink]:
    """A FEAT_INFER board with no model, none left behind."""
    if not caps.features & Feature.INFER:
        pytest.skip(f"{caps.board} has no on-device inference (no FEAT_INFER)")
    raw.request(Cmd.MODEL_ERASE)
    yield raw
    raw.request(Cmd.MODEL_ERASE)


@pytest.fixture
def model(infer_raw: RawLink, caps: Caps) -> tuple[RawLink, bytes, ModelInfo]:
    image = small_image(caps, seed=11).pack()
    header, body = load_raw(infer_raw, image)
    assert not header.is_error, f"MODEL_COMMIT refused: {wire.ErrorRecord.unpack(body)}"
    return infer_raw, image, ModelInfo.unpack(body)


def test_model_commands_check_their_payload_first(infer_raw: RawLink) -> None:
    """Each command's length check comes before any state check (NO_LOAD, NO_MODEL)."""
    raw = infer_raw
    cases = [(Cmd.MODEL_BEGIN, b"\0" * 7, ModelBegin.size()),
             (Cmd.MODEL_BEGIN, b"\0" * 9, ModelBegin.size()),
             (Cmd.MODEL_CHUNK, b"\0" * 4, wire.CHUNK_HEAD_SIZE + 1),
             (Cmd.MODEL_COMMIT, b"\0", 0), (Cmd.MODEL_INFO, b"\0", 0),
             (Cmd.MODEL_ERASE, b"\0", 0), (Cmd.INFER, b"\0" * 7, wire.INFER_HEAD_SIZE)]
    for cmd, payload, arg in cases:
        _, err = raw.error(cmd, payload)
        assert (err.status, err.arg) == (Status.BAD_PAYLOAD, arg), Cmd(cmd).name
    for cmd, payload in ((Cmd.MODEL_CHUNK, ChunkHead(0).pack() + b"x"),
                         (Cmd.MODEL_COMMIT, b"")):
        _, err = raw.error(cmd, payload)
        assert (err.status, err.arg) == (Status.NO_LOAD, 0), Cmd(cmd).name
    for cmd, payload in ((Cmd.MODEL_INFO, b""), (Cmd.INFER, InferHead(1, 999, 9).pack())):
        _, err = raw.error(cmd, payload)  # no model comes before every INFER field check
        assert (err.status, err.arg) == (Status.NO_MODEL, 0), Cmd(cmd).name
    header, body = raw.request(Cmd.MODEL_ERASE)  # erasing nothing is served
    assert not header.is_error and body == b""


def test_model_refusals_are_bad_commands(infer_raw: RawLink) -> None:
    """W-T1, W-T4, W-T7 for the new statuses."""
    raw = infer_raw
    before = stats(raw)
    raw.error(Cmd.MODEL_INFO)  # NO_MODEL
    raw.error(Cmd.MODEL_COMMIT)  # NO_LOAD
    raw.error(Cmd.MODEL_BEGIN, ModelBegin(0, 0).pack())  # MODEL_TOO_LARGE
    after = stats(raw)
    assert after.frames_ok == before.frames_ok + 4
    assert after.bad_commands == before.bad_commands + 3
    assert after.error_replies == before.error_replies + 3


def test_chunks_come_in_order_and_may_repeat(infer_raw: RawLink, caps: Caps) -> None:
    raw = infer_raw
    image = small_image(caps, seed=12).pack()
    raw.request(Cmd.MODEL_BEGIN, ModelBegin(len(image), wire.crc32(image)).pack())
    _, body = raw.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + image[:40])
    assert ChunkHead.unpack(body).offset == 40
    _, err = raw.error(Cmd.MODEL_CHUNK, ChunkHead(41).pack() + image[41:60])  # a gap
    assert (err.status, err.arg) == (Status.LOAD_RANGE, 40)
    _, body = raw.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + image[:40])  # a retry (W-C3)
    assert ChunkHead.unpack(body).offset == 40
    _, body = raw.request(Cmd.MODEL_CHUNK, ChunkHead(20).pack() + image[20:80])  # overlap
    assert ChunkHead.unpack(body).offset == 80
    _, err = raw.error(Cmd.MODEL_CHUNK, ChunkHead(80).pack() + image[80:] + b"x")  # past end
    assert (err.status, err.arg) == (Status.LOAD_RANGE, 80)
    _, body = raw.request(Cmd.MODEL_CHUNK, ChunkHead(80).pack() + image[80:])
    assert ChunkHead.unpack(body).offset == len(image)
    header, body = raw.request(Cmd.MODEL_COMMIT)
    assert not header.is_error and ModelInfo.unpack(body).crc32 == wire.crc32(image)


def test_a_retried_commit_answers_the_same_record(model: tuple[RawLink, bytes, ModelInfo]
                                                  ) -> None:
    raw, _, info = model
    for _ in range(2):
        header, body = raw.request(Cmd.MODEL_COMMIT)  # W-C3: the reply to a retry
        assert not header.is_error and ModelInfo.unpack(body) == info


def test_model_info_and_hello_describe_the_model(model: tuple[RawLink, bytes, ModelInfo],
                                                 caps: Caps) -> None:
    raw, image, info = model
    assert ModelInfo.unpack(raw.request(Cmd.MODEL_INFO)[1]) == info
    assert (info.crc32, info.image_size) == (wire.crc32(image), len(image))
    assert (info.train_unit_id, info.train_board, info.train_medium) == (
        caps.unit_id, caps.board, caps.medium)
    hello = Caps.unpack(raw.request(Cmd.HELLO)[1])
    assert (hello.model_loaded, hello.model_crc) == (1, info.crc32)
    # the batch limits are the largest whose request and reply fit max_payload
    room = caps.max_payload - wire.INFER_HEAD_SIZE
    for limit, t in ((info.max_batch, 0), (info.max_batch_trace, info.trace_values)):
        def fits(n: int, t: int = t) -> bool:
            return (2 * n * info.n_features <= room
                    and n * (2 + 4 * info.n_classes + 2 * t) + (n + 7) // 8 <= room)
        assert limit >= 1 and fits(limit) and (limit == 0xFFFF or not fits(limit + 1))


def test_order_of_infer_checks(model: tuple[RawLink, bytes, ModelInfo]) -> None:
    """Width, then flags, then reserved, then the batch limit, then the length."""
    raw, _, info = model
    f, big = info.n_features, info.max_batch + 1
    _, err = raw.error(Cmd.INFER, InferHead(big, f + 1, 0x8000, 1).pack())
    assert (err.status, err.arg) == (Status.BAD_CHANNELS, f)
    _, err = raw.error(Cmd.INFER, InferHead(big, f, 0x8000, 1).pack())
    assert (err.status, err.arg) == (Status.BAD_CONFIG, 4)
    _, err = raw.error(Cmd.INFER, InferHead(big, f, 0, 1).pack())
    assert (err.status, err.arg) == (Status.BAD_CONFIG, 6)
    _, err = raw.error(Cmd.INFER, InferHead(big, f, 0).pack())
    assert (err.status, err.arg) == (Status.BATCH_TOO_LARGE, info.max_batch)
    _, err = raw.error(Cmd.INFER, InferHead(info.max_batch_trace + 1, f, wire.INFER_TRACE)
                       .pack())
    assert (err.status, err.arg) == (Status.BATCH_TOO_LARGE, info.max_batch_trace)
    payload = InferHead(2, f, 0).pack() + wire.pack_samples(features(2, f))
    _, err = raw.error(Cmd.INFER, payload[:-2])
    assert (err.status, err.arg) == (Status.BAD_PAYLOAD, len(payload))


def test_an_infer_of_zero_samples_is_the_head_alone(model: tuple[RawLink, bytes, ModelInfo]
                                                    ) -> None:
    raw, _, info = model
    for flags in (0, wire.INFER_TRACE):
        header, body = raw.request(Cmd.INFER, InferHead(0, info.n_features, flags).pack())
        assert not header.is_error
        assert body == InferHead(0, info.n_classes, flags).pack()


def test_infer_leaves_the_configuration_alone(model: tuple[RawLink, bytes, ModelInfo],
                                              caps: Caps) -> None:
    raw, _, info = model
    want = Config(0, 2 if caps.max_oversample >= 2 else 1, caps.n_drive, caps.n_sense)
    raw.request(Cmd.CONFIGURE, want.pack())
    raw.request(Cmd.INFER, InferHead(3, info.n_features, 0).pack()
                + wire.pack_samples(features(3, info.n_features)))
    assert Config.unpack(raw.request(Cmd.CONFIGURE)[1]) == want


def test_reset_keeps_the_model_and_drops_a_load(model: tuple[RawLink, bytes, ModelInfo],
                                                caps: Caps) -> None:
    raw, _, info = model
    other = small_image(caps, seed=13).pack()
    raw.request(Cmd.MODEL_BEGIN, ModelBegin(len(other), wire.crc32(other)).pack())
    raw.request(Cmd.MODEL_CHUNK, ChunkHead(0).pack() + other[:32])
    raw.request(Cmd.RESET)
    _, err = raw.error(Cmd.MODEL_CHUNK, ChunkHead(32).pack() + other[32:64])
    assert err.status == Status.NO_LOAD
    assert ModelInfo.unpack(raw.request(Cmd.MODEL_INFO)[1]) == info
    assert stats(raw).infer_samples == 0  # counters cleared (W-E1), W-T9 with them


def test_erase_removes_the_model(model: tuple[RawLink, bytes, ModelInfo]) -> None:
    raw, _, _ = model
    header, body = raw.request(Cmd.MODEL_ERASE)
    assert not header.is_error and body == b""
    assert raw.error(Cmd.MODEL_INFO)[1].status == Status.NO_MODEL
    hello = Caps.unpack(raw.request(Cmd.HELLO)[1])
    assert (hello.model_loaded, hello.model_crc) == (0, 0)
    _, err = raw.error(Cmd.MODEL_COMMIT)  # the committed load is over too
    assert err.status == Status.NO_LOAD
