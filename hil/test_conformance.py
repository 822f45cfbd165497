"""Protocol conformance: every command, and every error the protocol defines that a
host can provoke, checked on the wire (raw frames, so nothing is retried or hidden).

The rules are those of shared/include/phyff/wire.h (C1-C4, L4, the command
table); each test names the rule it checks. The expectations come from the
board's own HELLO record, so a real board with other limits is held to the
same rules.
"""

from __future__ import annotations

import numpy as np
from rawlink import RawLink

from phyff.protocol import wire
from phyff.protocol.wire import Caps, Cmd, Config, Feature, Flag, QueryHead, Stats, Status


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


def stats(raw: RawLink) -> Stats:
    return Stats.unpack(raw.request(Cmd.STATS)[1])


# ---- commands ----------------------------------------------------------------


def test_hello_reports_a_consistent_capability_record(raw: RawLink) -> None:
    header, payload = raw.request(Cmd.HELLO, seq=42)
    assert (header.seq, header.cmd, header.flags) == (42, Cmd.HELLO, Flag.REPLY)  # C1
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
    assert after.frames_ok == before.frames_ok + 2  # QUERY and STATS; an unknown command
    # is not dispatched, it counts as a bad command
    assert after.samples_served == before.samples_served + 3
    assert after.bad_commands == before.bad_commands + 1
    assert after.error_replies == before.error_replies + 1


def test_reset_restores_defaults_and_clears_counters(raw: RawLink, caps: Caps) -> None:
    raw.request(Cmd.CONFIGURE, Config(0, caps.max_oversample, caps.n_drive, caps.n_sense).pack())
    raw.request(Cmd.QUERY, query_payload(2, caps.n_drive))
    header, payload = raw.request(Cmd.RESET)
    assert header.is_reply and not header.is_error and payload == b""
    assert Config.unpack(raw.request(Cmd.CONFIGURE)[1]).oversample == 1
    s = stats(raw)
    assert s.samples_served == 0 and s.frames_ok == 2  # CONFIGURE and STATS since RESET


def test_sequence_numbers_are_echoed(raw: RawLink) -> None:
    for seq in (1, 2, 127, 255, 0):
        header, _ = raw.request(Cmd.STATS, seq=seq)
        assert header.seq == seq and header.cmd == Cmd.STATS


# ---- errors ------------------------------------------------------------------


def test_bad_level_is_refused_except_for_hello(raw: RawLink) -> None:
    header, err = raw.error(Cmd.STATS, level=wire.PROTOCOL_LEVEL + 1, seq=9)
    assert (header.seq, header.cmd) == (9, Cmd.STATS)
    assert (err.status, err.arg) == (Status.BAD_LEVEL, wire.PROTOCOL_LEVEL)  # L4
    header, payload = raw.request(Cmd.HELLO, level=wire.PROTOCOL_LEVEL + 7)
    assert not header.is_error and payload[0] == wire.PROTOCOL_LEVEL  # L3, L4


def test_unknown_and_reserved_commands(raw: RawLink) -> None:
    for cmd in (0x00, 0x06, 0x10, 0x1F, 0x40, 0xFF):
        header, err = raw.error(cmd, seq=cmd or 1)
        assert header.cmd == cmd and err.status == Status.UNKNOWN_COMMAND


def test_oversized_batch_reports_the_limit(raw: RawLink, caps: Caps) -> None:
    head = QueryHead(caps.max_batch + 1, caps.n_drive).pack()
    _, err = raw.error(Cmd.QUERY, head)
    assert (err.status, err.arg) == (Status.BATCH_TOO_LARGE, caps.max_batch)


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
    assert err.status == Status.BAD_CRC  # C2
    raw.send(b"\x05\x01\x02\x00")  # COBS code pointing past the end
    header, payload = raw.reply()
    assert header.seq == 0 and wire.ErrorRecord.unpack(payload).status == Status.BAD_COBS
    raw.send(b"\x04\x01\x02\x03\x00")  # decodes to 3 bytes: shorter than a header
    header, payload = raw.reply()
    assert header.seq == 0 and wire.ErrorRecord.unpack(payload).status == Status.TRUNCATED
    after = stats(raw)
    assert after.crc_errors == before.crc_errors + 1
    assert after.framing_errors == before.framing_errors + 2


def test_over_long_frame_is_too_long_with_the_limit(raw: RawLink, caps: Caps) -> None:
    # longer than any receive buffer for max_payload could be (K2)
    raw.send(b"\x07" * (wire.max_frame_size(caps.max_payload) + 16) + b"\x00")
    header, payload = raw.reply()
    err = wire.ErrorRecord.unpack(payload)
    assert header.seq == 0 and (err.status, err.arg) == (Status.TOO_LONG, caps.max_payload)  # K2
    assert raw.request(Cmd.HELLO)[0].cmd == Cmd.HELLO  # and the board is in sync again


def test_replies_and_events_sent_to_the_board_are_refused(raw: RawLink) -> None:
    for flags in (Flag.REPLY, Flag.EVENT, Flag.REPLY | Flag.ERROR):
        header, err = raw.error(Cmd.HELLO, flags=int(flags), seq=5)
        assert header.seq == 5 and err.status == Status.NOT_A_REQUEST
    _, err = raw.error(Cmd.EVENT, flags=int(Flag.EVENT))
    assert err.status == Status.NOT_A_REQUEST


def test_empty_frames_are_ignored(raw: RawLink) -> None:
    before = stats(raw)
    raw.send(b"\x00\x00\x00")
    assert raw.frames(wait=0.3) == []  # C2a: no reply at all
    raw.send(b"\x00" + wire.encode_frame(wire.Header(cmd=Cmd.HELLO, seq=3)))
    header, _ = raw.reply()
    assert header.seq == 3 and raw.frames(wait=0.2) == []
    after = stats(raw)
    assert after.framing_errors == before.framing_errors
    assert after.frames_ok == before.frames_ok + 2  # HELLO and this STATS


def test_a_split_frame_is_reassembled(raw: RawLink) -> None:
    frame = wire.encode_frame(wire.Header(cmd=Cmd.HELLO, seq=11))
    for i in range(len(frame)):
        raw.send(frame[i:i + 1])
    header, _ = raw.reply()
    assert header.seq == 11 and not header.is_error
