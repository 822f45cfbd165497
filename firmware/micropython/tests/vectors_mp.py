"""Golden vectors (shared/vectors/wire.json) through the MicroPython codec.

Run under the MicroPython unix port from anywhere:

    micropython firmware/micropython/tests/vectors_mp.py shared/vectors/wire.json

Prints one line per group ("group <name>: <n> cases, <f> failed"), the first
failures, and a last line "N passed, M failed" (N, M counted in cases).
Exit status 1 when a case fails.
"""

import sys
from array import array

_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")
sys.path.insert(0, _here)

import vectorkit  # noqa: E402
from phyffmp import wire  # noqa: E402

# Groups the board program has no use for: status names are host-side text.
NOT_ON_BOARD = ("status_name_unknown", "status_name")

STATUS = {
    "OK": wire.OK, "BAD_CRC": wire.ERR_BAD_CRC, "TRUNCATED": wire.ERR_TRUNCATED,
    "TOO_LONG": wire.ERR_TOO_LONG, "BAD_COBS": wire.ERR_BAD_COBS,
    "BAD_LEVEL": wire.ERR_BAD_LEVEL, "NO_SPACE": wire.ERR_NO_SPACE, "EMPTY": wire.ERR_EMPTY,
}


def hexb(b: "bytes | bytearray") -> str:
    return "".join(f"{x:02x}" for x in b)


def unhex(s: str) -> bytearray:
    return bytearray(bytes.fromhex(s))


def payload_of(inp: dict) -> bytearray:
    pat = inp.get("payload_pattern")
    if pat is None:
        return unhex(inp["payload"])
    out = bytearray(pat["len"])
    mul = pat["mul"]
    add = pat["add"]
    for i in range(pat["len"]):
        out[i] = (i * mul + add) & 0xFF
    return out


def enum_value(kind: str, name: str) -> int:
    prefix = {"Cmd": "CMD_", "Flag": "FLAG_", "EventId": "EVENT_", "Feature": "FEAT_",
              "Status": "ERR_", "InferFlag": "INFER_"}[kind]
    if kind == "Status" and name == "OK":
        return wire.OK
    return getattr(wire, prefix + name)


# ---- checkers: return None when the case passes, else a message ---------------------


def c_constants(case: dict) -> "str | None":
    got = getattr(wire, case["in"])
    return None if got == case["out"] else f"{case['in']} = {got}"


def c_enums(case: dict) -> "str | None":
    got = enum_value(case["in"][0], case["in"][1])
    return None if got == case["out"] else f"{case['in']} = {got}"


def c_crc16(case: dict) -> "str | None":
    data = unhex(case["in"]["data"])
    got = wire.crc16(data, 0, len(data), case["in"]["crc"])
    return None if got == case["out"] else f"crc {got:04x}"


def c_cobs_max_encoded(case: dict) -> "str | None":
    got = wire.cobs_max_encoded(case["in"])
    return None if got == case["out"] else str(got)


def c_wire_max_frame(case: dict) -> "str | None":
    got = wire.wire_max_frame(case["in"])
    return None if got == case["out"] else str(got)


def c_cobs_encode(case: dict) -> "str | None":
    data = unhex(case["in"]["data"])
    need = wire.cobs_max_encoded(len(data))
    cap = case["in"].get("cap", need)
    if cap < need:  # the C encoder refuses a too-small buffer up front
        got_status = "NO_SPACE"
        return None if case["out"]["status"] == got_status else "status " + got_status
    dst = bytearray(need)
    n = wire.cobs_encode(data, len(data), dst)
    if case["out"]["status"] != "OK":
        return "encoded, expected " + case["out"]["status"]
    return None if hexb(dst[:n]) == case["out"]["data"] else "encoding differs"


def c_cobs_decode(case: dict) -> "str | None":
    data = unhex(case["in"]["data"])
    cap = case["in"].get("cap", max(len(data), 1))
    dst = bytearray(max(cap, 1))
    n = wire.cobs_decode(data, len(data), dst, cap)
    want = STATUS[case["out"]["status"]]
    if n < 0:
        return None if -n == want else f"status {-n}, want {want}"
    if want != wire.OK:
        return f"decoded, want status {want}"
    return None if hexb(dst[:n]) == case["out"]["data"] else "decoding differs"


def header_args(h: dict) -> tuple:
    return h["level"], h["seq"], h["cmd"], h["flags"], h["aux"]


def c_frame_encode(case: dict) -> "str | None":
    inp = case["in"]
    out = case["out"]
    payload = payload_of(inp)
    plen = len(payload)
    raw = bytearray(wire.HEADER_SIZE + plen + wire.CRC_SIZE)
    wire.copy(raw, wire.HEADER_SIZE, payload, plen)
    cap = inp.get("cap", wire.wire_max_frame(plen))
    dst = bytearray(cap)
    level, seq, cmd, flags, aux = header_args(inp["header"])
    n = wire.frame_encode(raw, plen, level, seq, cmd, flags, aux, dst)
    want = STATUS[out["status"]]
    if n < 0:
        return None if -n == want else f"status {-n}, want {want}"
    if want != wire.OK:
        return f"encoded, want status {want}"
    got = dst[:n]
    if "wire" in out:
        if hexb(got) != out["wire"]:
            return "wire bytes differ"
    else:
        if n != out["wire_len"] or hexb(got[:32]) != out["wire_head"] \
                or hexb(got[n - 32:]) != out["wire_tail"]:
            return "wire length/head/tail differ"
    # the frame decodes back, in place, to the same header and payload
    back = bytearray(got[:n - 1])
    length = wire.frame_decode(back, n - 1, wire.MAX_PAYLOAD_LIMIT)
    if length != plen or back[wire.HEADER_SIZE:wire.HEADER_SIZE + plen] != payload:
        return "does not decode back"
    if wire.get_u16(back, wire.HEADER_SIZE + plen) != out["crc"]:
        return "crc field differs"
    return None


def c_frame_decode(case: dict) -> "str | None":
    inp = case["in"]
    out = case["out"]
    body = unhex(inp["body"])
    length = wire.frame_decode(body, len(body), inp["max_payload"])
    want = STATUS[out["status"]]
    if length < 0:
        return None if -length == want else f"status {-length}, want {want}"
    if want != wire.OK:
        return f"decoded, want status {want}"
    h = out["header"]
    got = (body[0], body[1], body[2], body[3], wire.get_u16(body, 4), wire.get_u16(body, 6))
    if got != (h["level"], h["seq"], h["cmd"], h["flags"], h["length"], h["aux"]):
        return "header differs"
    if length != h["length"]:
        return "length differs"
    p = body[wire.HEADER_SIZE:wire.HEADER_SIZE + length]
    return None if hexb(p) == out["payload"] else "payload differs"


def c_check_level(case: dict) -> "str | None":
    got = wire.check_level(case["in"]["level"], case["in"]["cmd"])
    return None if got == STATUS[case["out"]] else f"status {got}"


def c_header_pack(case: dict) -> "str | None":
    h = case["in"]
    raw = bytearray(wire.HEADER_SIZE + h["length"] + wire.CRC_SIZE)
    dst = bytearray(wire.wire_max_frame(h["length"]))
    level, seq, cmd, flags, aux = header_args(h)
    wire.frame_encode(raw, h["length"], level, seq, cmd, flags, aux, dst)
    return None if hexb(raw[:wire.HEADER_SIZE]) == case["out"] else "header bytes differ"


def c_u16_le(case: dict) -> "str | None":
    b = bytearray(2)
    wire.put_u16(b, 0, case["in"])
    ok = hexb(b) == case["out"] and wire.get_u16(b, 0) == case["in"]
    return None if ok else hexb(b)


def c_u32_le(case: dict) -> "str | None":
    b = bytearray(4)
    wire.put_u32(b, 0, case["in"])
    ok = hexb(b) == case["out"] and wire.get_u32(b, 0) == case["in"]
    return None if ok else hexb(b)


def c_error_pack(case: dict) -> "str | None":
    b = bytearray(wire.ERROR_SIZE)
    wire.put_pair(b, 0, case["in"]["status"], case["in"]["arg"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_event_pack(case: dict) -> "str | None":
    b = bytearray(wire.EVENT_SIZE)
    wire.put_pair(b, 0, case["in"]["event"], case["in"]["arg"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_query_head_pack(case: dict) -> "str | None":
    b = bytearray(wire.QUERY_HEAD_SIZE)
    wire.put_pair(b, 0, case["in"]["n_samples"], case["in"]["n_channels"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_config_pack(case: dict) -> "str | None":
    c = case["in"]
    b = bytearray(wire.CONFIG_SIZE)
    wire.put_config(b, 0, c["settle_us"], c["oversample"], c["n_drive_active"],
                    c["n_sense_active"], c["reserved"])
    return None if hexb(b) == case["out"] else hexb(b)


STATS_FIELDS = ("frames_ok", "crc_errors", "framing_errors", "bad_commands", "overruns",
                "samples_served", "error_replies", "uptime_ms", "infer_samples",
                "infer_digital_us", "infer_medium_us")


def c_stats_pack(case: dict) -> "str | None":
    b = bytearray(wire.STATS_SIZE)
    wire.put_stats(b, 0, [case["in"].get(name, 0) for name in STATS_FIELDS])
    return None if hexb(b) == case["out"] else hexb(b)


def c_caps_pack(case: dict) -> "str | None":
    c = case["in"]
    b = bytearray(wire.CAPS_SIZE)
    wire.put_caps(b, 0, c["level"], c["features"], c["firmware_version"], c["unit_id"],
                  c["max_batch"], c["max_payload"], c["n_drive"], c["n_sense"], c["dac_bits"],
                  c["adc_bits"], c["max_oversample"], c["board"], c["medium"],
                  c["max_settle_us"], c.get("model_capacity", 0), c.get("model_crc", 0),
                  c.get("model_loaded", 0), c.get("max_classes", 0), c.get("infer_work", 0))
    b[1] = c["reserved0"]  # the board always sends 0; the vector may not
    b[69] = c.get("reserved1", 0)
    wire.put_u16(b, 70, c.get("reserved2", 0))
    return None if hexb(b) == case["out"] else hexb(b)


def c_samples_pack(case: dict) -> "str | None":
    b = bytearray(2 * len(case["in"]))
    for i, v in enumerate(case["in"]):
        wire.put_u16(b, 2 * i, v & 0xFFFF)
    return None if hexb(b) == case["out"] else hexb(b)


def c_crc32(case: dict) -> "str | None":
    data = unhex(case["in"]["data"])
    st = array("i", [0, 0])
    got = wire.crc32(data, 0, len(data), case["in"]["crc"], st)
    return None if got == case["out"] else f"0x{got:08x}"


def c_chunk_head_pack(case: dict) -> "str | None":
    b = bytearray(wire.CHUNK_HEAD_SIZE)
    wire.put_u32(b, 0, case["in"]["offset"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_model_begin_pack(case: dict) -> "str | None":
    b = bytearray(wire.MODEL_BEGIN_SIZE)
    wire.put_u32(b, 0, case["in"]["image_size"])
    wire.put_u32(b, 4, case["in"]["crc32"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_infer_head_pack(case: dict) -> "str | None":
    c = case["in"]
    b = bytearray(wire.INFER_HEAD_SIZE)
    wire.put_pair(b, 0, c["n_samples"], c["n_values"])
    wire.put_pair(b, 4, c["flags"], c["reserved"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_model_info_pack(case: dict) -> "str | None":
    c = case["in"]
    names = bytearray(3 * wire.NAME_SIZE)
    for k, key in enumerate(("name", "train_board", "train_medium")):
        raw = c[key].encode()
        names[k * wire.NAME_SIZE:k * wire.NAME_SIZE + len(raw)] = raw
    b = bytearray(wire.MODEL_INFO_SIZE)
    wire.put_model_info(b, 0, c["crc32"], c["image_size"], c["train_unit_id"], c["n_features"],
                        c["n_classes"], c["max_batch"], c["max_batch_trace"], c["n_blocks"],
                        c["inference"], c["input_exp"], c["score_exp"], c["trace_values"],
                        names, 0, c["origin"], c["readout_origin"], c["readout_samples"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_learn_head_pack(case: dict) -> "str | None":
    c = case["in"]
    b = bytearray(wire.LEARN_HEAD_SIZE)
    wire.put_pair(b, 0, c["n_samples"], c["n_values"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_refit_reply_pack(case: dict) -> "str | None":
    c = case["in"]
    b = bytearray(wire.REFIT_REPLY_SIZE)
    wire.put_refit_reply(b, 0, c["crc32"], c["samples"], c["conditioning"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_describe_request_pack(case: dict) -> "str | None":
    c = case["in"]
    b = bytearray(wire.DESCRIBE_REQUEST_SIZE)
    wire.put_describe_request(b, 0, c["offset"], c["max_bytes"], c["reserved"])
    return None if hexb(b) == case["out"] else hexb(b)


def c_describe_reply_pack(case: dict) -> "str | None":
    c = case["in"]
    b = bytearray(wire.DESCRIBE_REPLY_SIZE)
    wire.put_describe_reply(b, 0, c["section_size"], c["offset"])
    return None if hexb(b) == case["out"] else hexb(b)


CHECKERS = {
    "crc32": c_crc32,
    "describe_request_pack": c_describe_request_pack,
    "describe_reply_pack": c_describe_reply_pack,
    "chunk_head_pack": c_chunk_head_pack,
    "model_begin_pack": c_model_begin_pack,
    "infer_head_pack": c_infer_head_pack,
    "model_info_pack": c_model_info_pack,
    "learn_head_pack": c_learn_head_pack,  # W-N8
    "refit_reply_pack": c_refit_reply_pack,
    "constants": c_constants,
    "enums": c_enums,
    "crc16": c_crc16,
    "cobs_max_encoded": c_cobs_max_encoded,
    "wire_max_frame": c_wire_max_frame,
    "cobs_encode": c_cobs_encode,
    "cobs_decode": c_cobs_decode,
    "frame_encode": c_frame_encode,
    "frame_decode": c_frame_decode,
    "check_level": c_check_level,
    "header_pack": c_header_pack,
    "u16_le": c_u16_le,
    "u32_le": c_u32_le,
    "error_pack": c_error_pack,
    "event_pack": c_event_pack,
    "query_head_pack": c_query_head_pack,
    "config_pack": c_config_pack,
    "stats_pack": c_stats_pack,
    "caps_pack": c_caps_pack,
    "samples_pack": c_samples_pack,
}


sys.exit(vectorkit.main("wire.json", CHECKERS, NOT_ON_BOARD))
