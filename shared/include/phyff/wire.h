/*
 * phyff/wire.h - the whole host <-> board protocol is defined in this header.
 * docs/protocol.md says the same at length, with tables, for implementers.
 *
 * Rule IDs
 *   The contracts of the project's C headers are numbered rules, and every
 *   rule is cited as TAG-ID: the tag of the file that defines it, a hyphen,
 *   then the letter and number it has there (W-F3 is the third F rule of
 *   this header). A range keeps one tag: W-T1-T11 is W-T1 to W-T11. The tags:
 *     W     shared/include/phyff/wire.h         W-W1, W-C1, W-F1, W-S1, W-T1,
 *                                               W-E1, W-L1, W-N1, W-P1
 *     FX    shared/include/phyff/fixed.h        FX-F1
 *     M     shared/include/phyff/model.h        M-M1, M-P1, M-V1
 *     RF    shared/include/phyff/learn.h        RF-A1, RF-M1, RF-S1, RF-Q1, RF-E1
 *     CORE  firmware/src/core/phyff_core.h      CORE-K1
 *     PORT  firmware/src/port.h                 PORT-R1
 *     HOST  firmware/ports/host/host_port.h     HOST-H1
 *     ARD   firmware/ports/arduino/phyff_arduino.h   ARD-A1
 *     CFG   firmware/ports/arduino/phyff_config.h    CFG-C1
 *     SIM   firmware/sim/simavr/phyff_simavr.c       SIM-S1
 *   A new rule takes its file's tag; a new file with rules takes a new tag.
 *   tests/test_rule_citations.py reads the rules from these files and checks
 *   that every rule cited anywhere exists and that a test cites every rule.
 *
 * ===========================================================================
 * The protocol, in prose
 * ===========================================================================
 *
 * A phyff board is a microcontroller that drives a physical medium (DAC or
 * PWM outputs, "drive channels") and reads it back (ADC inputs, "sense
 * channels"). The host sends requests; the board answers. Byte stream in
 * both directions (UART, USB CDC, a pty, TCP).
 *
 * Framing
 *   W-W1. Every message is a frame: HEADER (8 bytes) + PAYLOAD (0..65535 bytes)
 *       + CRC (2 bytes), COBS-encoded, followed by one 0x00 delimiter. The
 *       encoded frame never contains 0x00, so a reader that lost sync drops
 *       bytes up to the next 0x00 and starts again ("resync on delimiter").
 *       COBS is the canonical form: a block that reaches 254 data bytes is
 *       closed with code 0xFF and a new block is opened only if input
 *       remains (254 non-zero bytes encode as FF + data, no trailing 01);
 *       decoders also accept a trailing empty block (01).
 *   W-W2. CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection,
 *       no final xor; check value of "123456789" is 0x29B1), computed over
 *       header + payload, stored little-endian.
 *   W-W3. All multi-byte fields, in headers and payloads, are little-endian.
 *       Encoders and decoders assemble them byte by byte, so the code is
 *       correct on any host whatever its byte order or alignment rules.
 *   W-W4. Header layout (struct phyff_header, offsets in bytes):
 *         0 level   protocol level of the sender
 *         1 seq     sequence number, chosen by the host, echoed by the reply
 *         2 cmd     command id (PHYFF_CMD_*)
 *         3 flags   PHYFF_FLAG_* bits
 *         4 length  payload length, uint16
 *         6 aux     uint16, no command uses it at this level: ignored in
 *                   requests, 0 in replies and events
 *
 * Conversation
 *   W-C1. Exactly one reply per non-empty frame the board receives, in the
 *       order the frames arrived. A reply has PHYFF_FLAG_REPLY set; the
 *       reply to an intact frame (W-F1) carries that frame's seq and cmd.
 *   W-C2. A frame the board cannot serve gets an ERROR reply: flags
 *       REPLY|ERROR, payload = struct phyff_error (status code + one
 *       argument, listed for every status in "Errors and their arguments").
 *   W-C3. The host may retry a request with the SAME seq after a timeout or a
 *       damaged reply. Every command is idempotent at the board except
 *       that QUERY and INFER measure again (a physical measurement is never
 *       cached) and RESET sends its event again (W-E1).
 *   W-C4. Hosts number their requests 1..255 and never use seq 0 nor cmd
 *       PHYFF_CMD_NONE: seq 0 with cmd NONE marks a framing-error notice
 *       (W-F3) and seq 0 with cmd EVENT an event (W-E1). A board serves a seq-0
 *       request like any other; keeping seq 0 out of requests lets a host
 *       tell by seq alone the frames that no request of its caused.
 *   W-C5. An empty frame (a lone delimiter, or two in a row) is ignored: no
 *       reply, no counter. A host may send one 0x00 before a request to end
 *       a half-received frame in the board's buffer; if the buffer held a
 *       fragment, that fragment is a damaged frame and gets its notice (W-F3).
 *
 * Frame checks (before anything in the frame is believed)
 *   W-F1. A non-empty frame is intact when, in this order: it fits the receive
 *       buffer, its COBS is valid, it decodes to >= header + CRC bytes, its
 *       CRC matches, its decoded size equals header + length + CRC, and
 *       length <= caps.max_payload.
 *   W-F2. The failures, in that order: TOO_LONG (longer than the receive
 *       buffer: the board drops the rest up to the delimiter, then answers),
 *       BAD_COBS, TRUNCATED, BAD_CRC, TRUNCATED (fewer bytes than length
 *       says) or TOO_LONG (more), TOO_LONG (length > max_payload). So any
 *       request whose payload exceeds caps.max_payload gets TOO_LONG, never
 *       a command error: hosts keep payloads <= max_payload.
 *   W-F3. A frame that fails W-F1 is answered by a framing-error notice: an
 *       ERROR reply with seq 0, cmd PHYFF_CMD_NONE, the W-F2 status, arg =
 *       max_payload for TOO_LONG and 0 otherwise. A notice answers no
 *       request: the damaged frame may have been the host's request, or
 *       noise or a fragment flushed by a 0x00 (W-C5). A host that receives
 *       one keeps waiting for the reply to its outstanding request (which,
 *       replies being in order, comes after the notice if the request
 *       arrived intact) and retries with the same seq (W-C3) when its
 *       deadline passes; it may shorten that deadline after a notice, as a
 *       same-seq retry is always safe.
 *
 * Serving an intact frame (checks in this order; the first failure answers)
 *   W-S1. Flags REPLY or EVENT set -> NOT_A_REQUEST, arg 0.
 *       The other flag bits of a request (ERROR 0x02 and the undefined
 *       0x08..0x80) are ignored: such a request is served as if they were
 *       0, on every board. Hosts send them as 0 (a later level that gives
 *       one a meaning bumps the level, W-L2).
 *   W-S2. Level differs and cmd is not HELLO -> BAD_LEVEL, arg = board level.
 *   W-S3. cmd not served by this board (anything but 0x01..0x05, on a
 *       board with FEAT_INFER 0x10..0x16 and, with FEAT_LEARN, 0x17..0x19:
 *       NONE, EVENT, 0x1A..0x1F...) -> UNKNOWN_COMMAND, arg 0.
 *   W-S4. The command's own checks (see Commands and On-device inference)
 *       -> BAD_PAYLOAD, BAD_CHANNELS, BATCH_TOO_LARGE, BAD_CONFIG or one of
 *       the model statuses (24..30) or the learning statuses (31..38).
 *   W-S5. A QUERY, INFER or LEARN the port cannot measure, or a
 *       MODEL_COMMIT, MODEL_ERASE or REFIT whose model the port cannot store
 *       or erase -> MEDIUM, arg 0.
 *   The header's aux field is ignored in requests and 0 in replies.
 *
 * Statistics (struct phyff_stats; counters wrap at 2^32)
 *   W-T1. frames_ok: intact frames (W-F1), served or refused by W-S1-S5.
 *   W-T2. crc_errors: frames refused with BAD_CRC.
 *   W-T3. framing_errors: frames refused with BAD_COBS, TRUNCATED or TOO_LONG.
 *       Every non-empty frame increments exactly one of W-T1-T3; empty frames
 *       none (W-C5).
 *   W-T4. bad_commands: intact frames refused by W-S1-S4.
 *   W-T5. overruns: losses the port detected before the bytes reached the
 *       protocol (a UART hardware overrun, a full receive ring); an
 *       over-long frame is a framing error (W-F2), not an overrun. Ports that
 *       cannot lose bytes (flow control, TCP) keep it 0.
 *   W-T6. samples_served: samples of QUERY replies sent (not of refusals).
 *   W-T7. error_replies: ERROR replies sent (= W-T2 + W-T3 + W-T4 + MEDIUM faults).
 *   W-T8. uptime_ms: milliseconds of the board's clock since its start or the
 *       last RESET; it advances with time, not with traffic.
 *   W-T9. infer_samples: samples of INFER replies sent.
 *   W-T10. infer_digital_us: microseconds spent in INFER outside the port's
 *       drive/settle/sense calls (encoding, affine maps, read-out).
 *   W-T11. infer_medium_us: microseconds spent in the port's drive, settle and
 *       sense calls during INFER. Both come from the port's micros clock.
 *   A STATS request is counted (W-T1) before its reply is built, so the
 *   reply includes itself in frames_ok.
 *
 * Events
 *   W-E1. The board sends PHYFF_EVENT_RESET (seq 0, cmd PHYFF_CMD_EVENT,
 *       flags EVENT, arg = its level) whenever its state goes back to
 *       power-up defaults: once at every start (power-up, reboot), and
 *       right after its reply to every RESET. Frames that follow it in the
 *       stream see the default configuration and zeroed counters.
 *   W-E2. The event is written whether or not a host listens: a link that
 *       drops bytes while no host is connected (USB CDC, TCP) loses it. A
 *       host never waits for it; it says HELLO and configures after it
 *       connects, and treats an event it did not cause by RESET as "the
 *       board restarted: configure again".
 *   W-E3. Emulator servers (phyff emulate --tcp/--pty, the MicroPython board
 *       on TCP) start their board afresh for every new host connection, so
 *       a connection's first frame from the board is the event (on a pty,
 *       it comes just before the reply to the opener's first request).
 *       The QEMU board starts when its first host connects; later
 *       connections reach the running board, as on a board whose serial
 *       port does not reset it.
 *   Hosts never send PHYFF_CMD_EVENT (W-S1, W-S3).
 *
 * Protocol level
 *   W-L1. PHYFF_PROTOCOL_LEVEL is one integer. Within one level nothing changes:
 *       no field moves, no command changes meaning, no code is reused.
 *   W-L2. Any change a host of the previous level could misread (a new field in
 *       an existing record, a changed layout or meaning) bumps the level. New
 *       commands, new status codes and new feature bits also bump it: a host
 *       must be able to trust that a board of level N knows exactly level N.
 *       (Level 2: caps.max_settle_us added, counters and events defined.
 *       Level 3: on-device inference: commands 0x10..0x15, statuses 24..30,
 *       FEAT_INFER and FEAT_MODEL_PERSIST, caps.model_capacity/model_crc/
 *       model_loaded, stats W-T9-T11.
 *       Level 4: caps.max_classes and caps.infer_work (the on-device limits
 *       a model must fit, before it is loaded); model_info.origin (a model
 *       compiled into the firmware); model images whose blocks are driven
 *       as several device rows through a slot map (model.h M-R1-R3, block
 *       head byte 23, which level 3 required to be 0) and whose label is a
 *       class code added to the features (M-L1-L2, head.overlay 1 and the
 *       code section); one INFER sample then measures every row of every
 *       block in order, and MODEL_INFO trace_values counts rows x n_sense
 *       per block.
 *       Level 5: MODEL_DESCRIBE (0x16), which serves the model image's
 *       description section (model.h M-D1-D5: the input scaling, feature and
 *       class names a host needs to send raw values), and images that end
 *       with one; on-device learning of the one-pass read-out: LEARN 0x17,
 *       REFIT 0x18, FORGET 0x19, statuses 31..38, FEAT_LEARN, struct
 *       phyff_learn_head and struct phyff_refit_reply, and model_info grows
 *       to 80 bytes with readout_origin and readout_samples (W-N1-N8); a
 *       model image's read-out head records refit_samples (model.h M-V4),
 *       which level 4 required to be 0.)
 *   W-L3. These never change, at any level, so that any host can talk to any
 *       board well enough to tell the user what to do: the header fields
 *       `level` and `seq` at offsets 0 and 1, the framing (W-W1, W-W2), the HELLO
 *       command id, and the first byte of its reply record (the level).
 *   W-L4. The board answers HELLO whatever the level in the request header.
 *       Every other request whose header level differs from the board's gets
 *       ERROR PHYFF_ERR_BAD_LEVEL with arg = the board's level. The host's
 *       first request is HELLO; on a mismatch it refuses to go on and tells
 *       the user which firmware to flash.
 *
 * Commands (request payload -> reply payload; checks in order)
 *   HELLO      any payload (ignored, so a HELLO of any level is understood)
 *              -> struct phyff_caps: who the board is and what it can do.
 *   CONFIGURE  empty -> struct phyff_config in force (a read).
 *              struct phyff_config -> the config now in force.
 *              Other lengths -> BAD_PAYLOAD, arg 12. A record with a field out
 *              of range -> BAD_CONFIG, arg = byte offset of the first refused
 *              field in record order, nothing changes: settle_us (0) above
 *              caps.max_settle_us; oversample (4) outside 1..max_oversample;
 *              n_drive_active (6) outside 1..caps.n_drive, or != n_drive
 *              without FEAT_CHANNEL_SELECT; n_sense_active (8) likewise;
 *              reserved (10) not 0.
 *   QUERY      struct phyff_query_head (n_samples, n_channels) + n_samples x
 *              n_channels int16 (Q15 drive values, sample-major)
 *              -> struct phyff_query_head (n_samples, n_sense_active) +
 *              n_samples x n_sense_active int16 (Q15 sensed values) +
 *              ceil(n_samples / 8) bytes saturation bitmap (bit s % 8 of byte
 *              s / 8 set when sample s clipped: a drive value below 0 was
 *              driven as 0, or a sense channel read its top code).
 *              Checks: payload < 4 bytes -> BAD_PAYLOAD, arg 4; n_channels !=
 *              n_drive_active -> BAD_CHANNELS, arg n_drive_active; n_samples >
 *              caps.max_batch -> BATCH_TOO_LARGE, arg max_batch; payload !=
 *              4 + 2 x n_samples x n_channels -> BAD_PAYLOAD, arg = that
 *              expected length. n_samples = 0 is served: the reply is the head
 *              alone and nothing is driven. Drive channels past
 *              n_drive_active are driven at 0; sense channels
 *              0..n_sense_active-1 are read. max_batch samples at the full
 *              channel counts fit max_payload both ways; max_batch + 1 may not
 *              (then W-F2: TOO_LONG, seq 0).
 *   STATS      empty -> struct phyff_stats. Non-empty -> BAD_PAYLOAD, arg 0.
 *   RESET      empty -> empty reply, then the reset event (W-E1): configuration
 *              back to defaults, counters and uptime cleared. Non-empty ->
 *              BAD_PAYLOAD, arg 0.
 *   Defaults: settle_us 0, oversample 1, all wired channels active.
 *   0x10..0x16 on-device inference (next section); 0x17..0x19 on-device
 *   learning (the section after it); 0x1A..0x1F reserved.
 *
 * On-device inference (boards with FEAT_INFER; others answer UNKNOWN_COMMAND)
 *   A board holds at most one model: an image in the format of
 *   phyff/model.h (<= caps.model_capacity bytes) that runs the trained
 *   network in the board's core with the integer arithmetic of fixed.h.
 *   Loading never touches the model in force until COMMIT succeeds, so a
 *   dropped link or a power cut mid-load leaves the previous model intact.
 *   Arguments that carry sizes or offsets saturate at 65535 (the exact
 *   numbers are in caps and in the MODEL_CHUNK reply).
 *   MODEL_BEGIN  struct phyff_model_begin (image_size, crc32 of the whole
 *                image)
 *                -> the same record. Starts a load (a load in progress is
 *                dropped, also when this one is refused for its size).
 *                Checks: payload != 8 -> BAD_PAYLOAD, arg 8; size
 *                0 or > caps.model_capacity -> MODEL_TOO_LARGE, arg =
 *                model_capacity.
 *   MODEL_CHUNK  struct phyff_chunk_head (offset) + 1.. bytes of the image
 *                -> struct phyff_chunk_head (offset = bytes received so
 *                far). Chunks come in order; a chunk may repeat bytes already
 *                received (a retry, W-C3). Checks: payload < 5 -> BAD_PAYLOAD,
 *                arg 5; no load begun -> NO_LOAD, arg 0; offset > bytes
 *                received (a gap) or offset + length > image_size -> LOAD_RANGE,
 *                arg = bytes received.
 *   MODEL_COMMIT empty -> struct phyff_model_info of the new model, which is
 *                now in force (and stored, with FEAT_MODEL_PERSIST). Checks:
 *                non-empty -> BAD_PAYLOAD, arg 0; no load begun -> NO_LOAD,
 *                arg 0; fewer bytes than image_size -> LOAD_RANGE, arg =
 *                bytes received;
 *                CRC-32 differs -> MODEL_CRC, arg 0; the image breaks a rule
 *                of model.h -> BAD_MODEL, arg = byte offset of the refused
 *                field in the image; trained on another board (unit_id or
 *                medium differ from caps) -> WRONG_BOARD, arg = the field's
 *                offset in the image; one sample's INFER request or reply
 *                would not fit max_payload -> BAD_MODEL, arg 8 (n_features);
 *                the port cannot store it -> MEDIUM (W-S5). From LOAD_RANGE
 *                on, a failure ends the load (a further COMMIT or CHUNK
 *                gets NO_LOAD); BAD_PAYLOAD leaves a load in progress
 *                going, as MODEL_BEGIN's does. No failure touches the
 *                model in force. A COMMIT
 *                repeated after a success (a retry) answers the same record
 *                again, until the next MODEL_BEGIN, MODEL_ERASE or RESET.
 *   MODEL_INFO   empty -> struct phyff_model_info. Checks: non-empty ->
 *                BAD_PAYLOAD, arg 0; no model -> NO_MODEL, arg 0.
 *   INFER        struct phyff_infer_head (n_samples, n_values = the model's
 *                n_features, flags) + n_samples x n_values int16 features
 *                (Q15 scaled by 2^input_exp, sample-major)
 *                -> struct phyff_infer_head (n_samples, n_values = n_classes,
 *                flags echoed) + n_samples x uint16 class + n_samples x
 *                n_classes int32 scores (scaled by 2^(score_exp - 31)) +
 *                with PHYFF_INFER_TRACE: n_samples x trace_values int16
 *                sensed values (every measurement of the sample, in order:
 *                pass, block, channel; a digital block, without
 *                PHYFF_BLOCK_PHYSICAL, drives and senses nothing and adds
 *                no value) + ceil(n_samples / 8) bytes
 *                saturation bitmap (a sensed top code or a saturated result
 *                anywhere in the sample's pipeline).
 *                Each sample is measured with the model's own settle,
 *                oversample and channel counts; the CONFIGURE state is
 *                neither used nor changed. Checks: payload < 8 ->
 *                BAD_PAYLOAD, arg 8; no model -> NO_MODEL, arg 0; n_values !=
 *                n_features -> BAD_CHANNELS, arg n_features; unknown flag
 *                bits or reserved != 0 -> BAD_CONFIG, arg = 4 or 6; n_samples
 *                > model_info.max_batch (max_batch_trace with TRACE) ->
 *                BATCH_TOO_LARGE, arg = that limit; payload != 8 + 2 x
 *                n_samples x n_values -> BAD_PAYLOAD, arg = that length.
 *                n_samples = 0 is served (the head alone).
 *   MODEL_DESCRIBE (level 5) struct phyff_describe_request (offset,
 *                max_bytes, reserved) -> struct phyff_describe_reply
 *                (section_size = bytes of the model's description section,
 *                model.h M-D1-D2, 0 when its image has none; offset echoed)
 *                + n bytes of the section from offset, n = min(max_bytes,
 *                section_size - offset, max_payload - 8). A host reads the
 *                whole section in pieces: offset 0, then offset + n, until
 *                section_size; section_size never changes while the same
 *                model is in force (MODEL_INFO crc32). Served for a
 *                compiled-in model as for a loaded one. Checks: payload != 8
 *                -> BAD_PAYLOAD, arg 8; no model -> NO_MODEL, arg 0; reserved
 *                != 0 -> BAD_CONFIG, arg 6; offset > section_size ->
 *                BAD_CONFIG, arg 0. max_bytes 0 or offset == section_size
 *                is served (the reply record alone).
 *   MODEL_ERASE  empty -> empty; the model (and its stored copy) is gone.
 *                Non-empty -> BAD_PAYLOAD, arg 0. A board without a model
 *                answers the same. The port cannot erase the stored copy ->
 *                MEDIUM (W-S5), and the model stays.
 *   RESET keeps the model in force (it is not configuration) but drops a
 *   load in progress.
 *
 * On-device learning (level 5; boards with FEAT_LEARN, which needs model
 * memory: a core built with PHYFF_CORE_MODEL_BYTES = 0, such as the Uno's,
 * answers these commands UNKNOWN_COMMAND)
 *   The board refits the read-out of a one-pass model (model.h M-P6) from
 *   labelled samples it measures itself, in the exact integer arithmetic of
 *   learn.h (RF-A1-RF-E1), so the host can predict the new read-out bit for
 *   bit (host/phyff/ondevice/refit.py).
 *   W-N1. The statistics (learn.h RF-M1) live in the model slot the model in
 *       force does not use (the one MODEL_CHUNK loads into) and belong to the
 *       model in force: MODEL_BEGIN (whose chunks overwrite that slot), a
 *       successful MODEL_COMMIT, MODEL_ERASE, FORGET and every REFIT past its
 *       preconditions (learn.h RF-E1) clear them; RESET keeps them; a power
 *       cycle loses them (they are never stored). A model whose statistics
 *       (phyff_learn_area_size) exceed caps.model_capacity, whose read-out
 *       is wider than 127 features, or whose solve scratch (8 (F + 1) bytes
 *       for F read-out features) exceeds caps.max_payload cannot learn
 *       (LEARN_TOO_LARGE, arg = the statistics' bytes).
 *   W-N2. LEARN measures each sample exactly as INFER does (the one-pass
 *       pipeline with the model's own settings, M-P1-P6) and adds its read-out
 *       features with its label (learn.h RF-A1-A4). A batch is refused whole
 *       before anything is measured; a medium fault mid-batch answers MEDIUM
 *       and keeps the samples added before it (a LEARN with n_samples 0 reads
 *       the counts).
 *   W-N3. LEARN, REFIT and FORGET change the board's state, so a retry (W-C3)
 *       must not act twice: a LEARN or REFIT whose seq and cmd equal those of
 *       the request served just before it (no intact frame in between), and
 *       that succeeded, is answered with the same reply again and changes
 *       nothing.
 *   W-N4. REFIT solves learn.h RF-S1-S5 and RF-Q1-Q5 for the model in force.
 *       The new read-out replaces the old one only when the whole solve
 *       succeeded and the changed image passes model.h M-V1-V6 again; the
 *       image's CRC-32 (caps.model_crc, model_info.crc32) is then that of the
 *       changed image (which records its provenance, W-N6), and a board with
 *       FEAT_MODEL_PERSIST stores it (the port's model_save) before it
 *       answers. A store that fails answers MEDIUM and puts the stored copy
 *       (the model before the refit, PORT-R6) back in force when the port
 *       restores it with its old CRC and it passes M-V1-V6 again; otherwise
 *       no loaded model is in force (a compiled-in one is served again,
 *       CORE-K9). Every other refusal leaves the read-out in force untouched.
 *   W-N5. A compiled-in model (model_info.origin COMPILED) is read-only: LEARN
 *       and REFIT refuse it (NO_READOUT, arg 1), as a goodness model (arg 0),
 *       which has no read-out.
 *   W-N6. MODEL_INFO's readout_origin is 1 and readout_samples the samples of
 *       the refit when the read-out in force was refitted by a board, else 0
 *       and 0. Both come from the image itself (its read-out head's
 *       refit_samples, model.h M-V4, learn.h RF-Q5), so they survive wherever
 *       the image does: a stored copy restored at start-up, an image read back.
 *   W-N7. A REFIT leaves the model's n_features, n_classes and blocks as they
 *       were; score_exp may change (learn.h RF-Q2), so hosts read MODEL_INFO
 *       after a refit.
 *   W-N8. The checks below are made in the order listed; the first failure
 *       answers.
 *   LEARN   struct phyff_learn_head (n_samples, n_values = the model's
 *           n_features) + n_samples x n_values int16 features (as INFER's) +
 *           n_samples x uint16 labels
 *           -> struct phyff_learn_head (n_samples = samples in the statistics,
 *           n_values = n_classes) + n_classes x uint16 samples per class.
 *           Checks: payload < 4 -> BAD_PAYLOAD, arg 4; no model -> NO_MODEL,
 *           arg 0; goodness or compiled-in model -> NO_READOUT, arg 0 or 1;
 *           statistics that cannot fit (W-N1) -> LEARN_TOO_LARGE, arg = their
 *           bytes (saturated); n_values != n_features -> BAD_CHANNELS, arg
 *           n_features; n_samples > the LEARN batch limit (the most whose
 *           request fits max_payload) -> BATCH_TOO_LARGE, arg = that limit;
 *           payload != 4 + n_samples x (2 n_features + 2) -> BAD_PAYLOAD, arg =
 *           that length; a label >= n_classes -> BAD_LABEL, arg = n_classes;
 *           samples + n_samples > 511 (learn.h RF-A4) -> LEARN_FULL, arg =
 *           samples the statistics can still take.
 *   REFIT   uint16 lambda_shift (the ridge penalty 2^-lambda_shift, learn.h)
 *           -> struct phyff_refit_reply (crc32 of the new image, samples the
 *           refit used, conditioning = learn.h RF-S4's figure).
 *           Checks: payload != 2 -> BAD_PAYLOAD, arg 2; no model -> NO_MODEL;
 *           NO_READOUT and LEARN_TOO_LARGE as LEARN; then learn.h RF-S1 in its
 *           order: a class without samples, or fewer than 2 samples ->
 *           TOO_FEW, arg = the first class without samples (n_classes when
 *           every class has one); lambda_shift out of range -> BAD_LAMBDA, arg
 *           = the nearest accepted value. Past these the statistics are
 *           consumed: SINGULAR (arg 0, RF-S2/S4) and REFIT_OVERFLOW (arg 0,
 *           RF-S4/S5/Q2/Q3) leave the read-out untouched and the statistics
 *           cleared; a failed store -> MEDIUM (W-N4).
 *   FORGET  empty -> empty; the statistics are cleared. Non-empty ->
 *           BAD_PAYLOAD, arg 0; no model -> NO_MODEL, arg 0.
 *
 * Errors and their arguments (status: when; seq; arg)
 *   BAD_CRC 1, BAD_COBS 4, TRUNCATED 2: W-F2; seq 0, cmd NONE; arg 0.
 *   TOO_LONG 3: W-F2; seq 0, cmd NONE; arg = caps.max_payload.
 *   NOT_A_REQUEST 23: W-S1, arg 0. BAD_LEVEL 5: W-S2, arg = board level.
 *   UNKNOWN_COMMAND 16: W-S3, arg 0. BAD_PAYLOAD 17: arg = the expected length
 *   (CONFIGURE 12; QUERY 4 or 4 + 2 x n x n_channels; MODEL_BEGIN 8;
 *   MODEL_CHUNK 5; INFER 8 or 8 + 2 x n x n_values; MODEL_DESCRIBE 8; LEARN 4
 *   or 4 + n x (2 n_features + 2); REFIT 2; 0 for STATS, RESET, MODEL_COMMIT,
 *   MODEL_INFO, MODEL_ERASE and FORGET). BAD_CHANNELS 19: arg =
 *   n_drive_active (QUERY), the model's n_features (INFER, LEARN).
 *   BATCH_TOO_LARGE 18: arg = caps.max_batch (QUERY), the model's max_batch
 *   or max_batch_trace (INFER), the LEARN batch limit (LEARN). BAD_CONFIG 20:
 *   arg = field offset (CONFIGURE's record; INFER: 4 flags, 6 reserved;
 *   MODEL_DESCRIBE: 0 offset, 6 reserved).
 *   MEDIUM 22: W-S5, arg 0. NO_MODEL 24, MODEL_TOO_LARGE 25, LOAD_RANGE 26,
 *   MODEL_CRC 27, BAD_MODEL 28, WRONG_BOARD 29, NO_LOAD 30: see On-device
 *   inference. LEARN_FULL 31, BAD_LABEL 32, TOO_FEW 33, SINGULAR 34,
 *   NO_READOUT 35, BAD_LAMBDA 36, REFIT_OVERFLOW 37, LEARN_TOO_LARGE 38: see
 *   On-device learning. Codes 6 (NO_SPACE), 7 (EMPTY) and 21 (OVERRUN) are
 *   codec results that boards of this level never send.
 *
 * Value conventions
 *   Drive values are Q15 in [0, 1): 0 = DAC off, 32767 = full scale. The
 *   board quantises them to its DAC resolution by dropping low bits.
 *   Sense values are Q15 in [0, 1): ADC code c of an N-bit converter is sent
 *   as c << (15 - N).
 * ===========================================================================
 *
 * Code contracts
 *   W-P1. No function here allocates, keeps state between calls or reads or
 *       writes outside the buffers and lengths it is given.
 *   W-P2. Every failure returns its own phyff_status value; PHYFF_OK is 0.
 *   W-P3. On failure, output lengths are set to 0 and output buffers may hold
 *       partial data that must not be used.
 *   W-P4. When several failures apply, the first one met reading the input
 *       from the start is returned.
 *   W-P5. Input and output buffers must not overlap unless a function says so.
 */
#ifndef PHYFF_WIRE_H
#define PHYFF_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A function whose result says whether it worked (a phyff_status, a fault
 * code) is declared PHYFF_NODISCARD: GCC and Clang then warn at a call that
 * drops the result, and the builds' -Werror makes that an error. */
#if defined(__GNUC__) || defined(__clang__)
#define PHYFF_NODISCARD __attribute__((warn_unused_result))
#else
#define PHYFF_NODISCARD
#endif

/* ---- Levels, sizes --------------------------------------------------- */

#define PHYFF_PROTOCOL_LEVEL 5u

#define PHYFF_HEADER_SIZE 8u
#define PHYFF_CRC_SIZE 2u
#define PHYFF_MAX_PAYLOAD_LIMIT 65535u /* what the length field can say */
/* COBS adds one byte per 254 bytes of input, plus one. */
#define PHYFF_COBS_MAX_ENCODED(n) ((n) + ((n) / 254u) + 1u)
/* A whole frame on the wire for a payload of n bytes, delimiter included. */
#define PHYFF_WIRE_MAX_FRAME(n) \
    (PHYFF_COBS_MAX_ENCODED(PHYFF_HEADER_SIZE + (n) + PHYFF_CRC_SIZE) + 1u)
#define PHYFF_NAME_SIZE 16u

/* ---- Enumerations ----------------------------------------------------- */

enum phyff_cmd {
    PHYFF_CMD_NONE = 0x00, /* only in framing-error notices (W-F3) */
    PHYFF_CMD_HELLO = 0x01,
    PHYFF_CMD_CONFIGURE = 0x02,
    PHYFF_CMD_QUERY = 0x03,
    PHYFF_CMD_STATS = 0x04,
    PHYFF_CMD_RESET = 0x05,
    PHYFF_CMD_MODEL_BEGIN = 0x10,
    PHYFF_CMD_MODEL_CHUNK = 0x11,
    PHYFF_CMD_MODEL_COMMIT = 0x12,
    PHYFF_CMD_MODEL_INFO = 0x13,
    PHYFF_CMD_INFER = 0x14,
    PHYFF_CMD_MODEL_ERASE = 0x15,
    PHYFF_CMD_MODEL_DESCRIBE = 0x16, /* level 5 */
    PHYFF_CMD_LEARN = 0x17,  /* level 5: on-device learning */
    PHYFF_CMD_REFIT = 0x18,
    PHYFF_CMD_FORGET = 0x19,
    PHYFF_CMD_EVENT = 0x7F /* unsolicited, board -> host only */
};

enum phyff_flag {
    PHYFF_FLAG_REPLY = 0x01,
    PHYFF_FLAG_ERROR = 0x02,
    PHYFF_FLAG_EVENT = 0x04
};

enum phyff_event_id {
    PHYFF_EVENT_RESET = 0x01 /* the board (re)started; payload arg = level */
};

/* Status codes: the return value of every codec function and the code
 * carried by ERROR replies. Values are part of the protocol level. */
enum phyff_status {
    PHYFF_OK = 0,
    /* framing and frame codec */
    PHYFF_ERR_BAD_CRC = 1,         /* CRC mismatch */
    PHYFF_ERR_TRUNCATED = 2,       /* shorter than header + CRC, or than its length field says */
    PHYFF_ERR_TOO_LONG = 3,        /* longer than the buffer, the limit or its length field says */
    PHYFF_ERR_BAD_COBS = 4,        /* zero byte inside, or a code byte pointing past the end */
    PHYFF_ERR_BAD_LEVEL = 5,       /* header level differs from ours (arg = our level) */
    PHYFF_ERR_NO_SPACE = 6,        /* output buffer too small for the result */
    PHYFF_ERR_EMPTY = 7,           /* zero-length frame (two delimiters in a row) */
    /* commands */
    PHYFF_ERR_UNKNOWN_COMMAND = 16, /* cmd id not served at this level */
    PHYFF_ERR_BAD_PAYLOAD = 17,     /* payload length or content wrong for the command */
    PHYFF_ERR_BATCH_TOO_LARGE = 18, /* arg = max samples per QUERY */
    PHYFF_ERR_BAD_CHANNELS = 19,    /* channel count differs from config (arg = expected) */
    PHYFF_ERR_BAD_CONFIG = 20,      /* arg = byte offset of the refused field */
    PHYFF_ERR_OVERRUN = 21,         /* not sent at this level (losses count in stats W-T5) */
    PHYFF_ERR_MEDIUM = 22,          /* the port could not drive or read the medium */
    PHYFF_ERR_NOT_A_REQUEST = 23,   /* a frame with REPLY or EVENT flags sent to the board */
    /* on-device inference (level 3) */
    PHYFF_ERR_NO_MODEL = 24,        /* INFER or MODEL_INFO with no model loaded */
    PHYFF_ERR_MODEL_TOO_LARGE = 25, /* arg = caps.model_capacity (saturated) */
    PHYFF_ERR_LOAD_RANGE = 26,      /* chunk gap or past the size; arg = bytes received */
    PHYFF_ERR_MODEL_CRC = 27,       /* the loaded image's CRC-32 differs from MODEL_BEGIN's */
    PHYFF_ERR_BAD_MODEL = 28,       /* arg = offset of the refused field in the image */
    PHYFF_ERR_WRONG_BOARD = 29,     /* model trained on another board; arg = field offset */
    PHYFF_ERR_NO_LOAD = 30,         /* MODEL_CHUNK or MODEL_COMMIT without MODEL_BEGIN */
    /* on-device learning (level 5; W-N1-N8) */
    PHYFF_ERR_LEARN_FULL = 31,      /* learn.h RF-A4 cap; arg = samples still accepted */
    PHYFF_ERR_BAD_LABEL = 32,       /* a LEARN label >= n_classes; arg = n_classes */
    PHYFF_ERR_TOO_FEW = 33,         /* RF-S1; arg = first class without samples */
    PHYFF_ERR_SINGULAR = 34,        /* RF-S2/S4: the system is singular */
    PHYFF_ERR_NO_READOUT = 35,      /* arg 0 goodness model, 1 compiled-in (read-only) */
    PHYFF_ERR_BAD_LAMBDA = 36,      /* RF-S1; arg = the nearest accepted lambda_shift */
    PHYFF_ERR_REFIT_OVERFLOW = 37,  /* RF-S4/S5/Q2/Q3: a value out of the record's range */
    PHYFF_ERR_LEARN_TOO_LARGE = 38  /* the statistics do not fit; arg = their bytes */
};

/* Feature bits in phyff_caps.features. */
enum phyff_feature {
    PHYFF_FEAT_SATURATION_FLAGS = 0x0001, /* QUERY replies carry the bitmap */
    PHYFF_FEAT_SETTLE = 0x0002,           /* config.settle_us is honoured */
    PHYFF_FEAT_OVERSAMPLE = 0x0004,       /* config.oversample is honoured */
    PHYFF_FEAT_CHANNEL_SELECT = 0x0008,   /* active channel counts may be lowered */
    PHYFF_FEAT_INFER = 0x0010,            /* on-device inference commands are served */
    PHYFF_FEAT_MODEL_PERSIST = 0x0020,    /* the model survives a power cycle */
    PHYFF_FEAT_LEARN = 0x0040,            /* LEARN, REFIT and FORGET are served (level 5) */
    PHYFF_FEAT_EMULATED = 0x0100          /* the medium is simulated, not physical */
};

/* ---- Records (all little-endian on the wire, no padding) ---------------- */

struct phyff_header {
    uint8_t level;
    uint8_t seq;
    uint8_t cmd;
    uint8_t flags;
    uint16_t length;
    uint16_t aux;
};

struct phyff_error {
    uint16_t status; /* enum phyff_status */
    uint16_t arg;    /* command-specific detail: a limit, a level, an offset */
};

struct phyff_event {
    uint16_t event; /* enum phyff_event_id */
    uint16_t arg;
};

struct phyff_caps {
    uint8_t level;            /* offset 0 forever (W-L3) */
    uint8_t reserved0;
    uint16_t features;        /* enum phyff_feature bits */
    uint32_t firmware_version; /* major << 16 | minor << 8 | patch */
    uint32_t unit_id;         /* serial number; the medium seed on emulators */
    uint16_t max_batch;       /* samples per QUERY frame */
    uint16_t max_payload;     /* largest payload the board accepts */
    uint16_t n_drive;         /* drive channels wired */
    uint16_t n_sense;         /* sense channels wired */
    uint8_t dac_bits;
    uint8_t adc_bits;
    uint16_t max_oversample;
    char board[PHYFF_NAME_SIZE];  /* e.g. "pico", "qemu-mps2-an385"; NUL-padded */
    char medium[PHYFF_NAME_SIZE]; /* what is wired: "acoustic", "unknown"... */
    uint32_t max_settle_us;   /* largest config.settle_us accepted; 0 without FEAT_SETTLE */
    uint32_t model_capacity;  /* bytes of model memory; 0 without FEAT_INFER (level 3) */
    uint32_t model_crc;       /* CRC-32 of the model in force; 0 when none */
    uint8_t model_loaded;     /* 1 when a model is in force, else 0 */
    uint8_t reserved1;
    uint16_t reserved2;
    uint16_t max_classes;     /* most classes a model may have (model.h M-V2); 0 without
                                 FEAT_INFER (level 4) */
    uint16_t infer_work;      /* int16 scratch values one INFER sample may use (model.h
                                 M-V2 width, M-V3 per block); 0 without FEAT_INFER
                                 (level 4) */
};

struct phyff_config {
    uint32_t settle_us;      /* wait between applying a drive and reading */
    uint16_t oversample;     /* ADC reads averaged per sample, 1..max_oversample */
    uint16_t n_drive_active; /* 1..caps.n_drive; drive values per sample */
    uint16_t n_sense_active; /* 1..caps.n_sense; sense values per sample */
    uint16_t reserved;       /* must be 0 */
};

struct phyff_query_head {
    uint16_t n_samples;
    uint16_t n_channels; /* n_drive in requests, n_sense in replies */
};

struct phyff_stats {          /* exact definitions: W-T1-T11 above */
    uint32_t frames_ok;      /* intact frames (W-F1), served or refused */
    uint32_t crc_errors;     /* frames refused with BAD_CRC */
    uint32_t framing_errors; /* frames refused with BAD_COBS, TRUNCATED, TOO_LONG */
    uint32_t bad_commands;   /* intact frames refused by W-S1-S4 */
    uint32_t overruns;       /* losses the port detected (UART overrun, ring full) */
    uint32_t samples_served; /* samples in QUERY replies sent */
    uint32_t error_replies;  /* ERROR replies sent */
    uint32_t uptime_ms;      /* board clock since start or RESET */
    uint32_t infer_samples;  /* samples in INFER replies sent (level 3) */
    uint32_t infer_digital_us; /* INFER time outside drive/settle/sense */
    uint32_t infer_medium_us;  /* INFER time in drive/settle/sense */
};

/* On-device inference records (level 3). */
struct phyff_model_begin {
    uint32_t image_size; /* bytes of the whole image */
    uint32_t crc32; /* phyff_crc32 of the whole image */
};

struct phyff_chunk_head {
    uint32_t offset; /* requests: where the data goes; replies: bytes received */
};

enum phyff_infer_flag {
    PHYFF_INFER_TRACE = 0x0001 /* the reply carries every sensed value */
};

struct phyff_infer_head {
    uint16_t n_samples;
    uint16_t n_values; /* requests: features per sample; replies: classes */
    uint16_t flags;    /* PHYFF_INFER_* bits */
    uint16_t reserved; /* 0 */
};

/* Where the model in force came from (model_info.origin). */
enum phyff_model_origin {
    PHYFF_MODEL_LOADED = 0,  /* loaded over the link (MODEL_BEGIN..COMMIT) */
    PHYFF_MODEL_COMPILED = 1 /* compiled into the firmware: read-only, in flash */
};

/* Where the read-out in force came from (model_info.readout_origin, W-N6). */
enum phyff_readout_origin {
    PHYFF_READOUT_HOST = 0,    /* trained on the host, as loaded */
    PHYFF_READOUT_REFIT = 1    /* refitted on this board (REFIT) */
};

struct phyff_model_info {
    uint32_t crc32;           /* of the image in force */
    uint32_t image_size;      /* its bytes */
    uint32_t train_unit_id;   /* caps.unit_id of the board it was trained on */
    uint16_t n_features;      /* INFER n_values */
    uint16_t n_classes;
    uint16_t max_batch;       /* INFER samples per frame */
    uint16_t max_batch_trace; /* the same with PHYFF_INFER_TRACE */
    uint8_t n_blocks;
    uint8_t inference;        /* enum phyff_inference (model.h) */
    int8_t input_exp;         /* features are Q15 scaled by 2^input_exp */
    int8_t score_exp;         /* scores are int32 scaled by 2^(score_exp - 31) */
    uint16_t trace_values;    /* sensed values per sample in a trace */
    uint16_t origin;          /* enum phyff_model_origin (level 4) */
    char name[PHYFF_NAME_SIZE];         /* the model's name (its run) */
    char train_board[PHYFF_NAME_SIZE];  /* caps.board it was trained on */
    char train_medium[PHYFF_NAME_SIZE]; /* caps.medium it was trained on */
    uint16_t readout_origin;  /* enum phyff_readout_origin (level 5, W-N6) */
    uint16_t readout_samples; /* samples the refit used; 0 when trained on the host */
};

/* On-device learning records (level 5). */
struct phyff_learn_head {
    uint16_t n_samples; /* requests: samples that follow; replies: samples learnt */
    uint16_t n_values;  /* requests: features per sample; replies: classes */
};

struct phyff_refit_reply {
    uint32_t crc32;        /* CRC-32 of the image with the new read-out */
    uint16_t samples;      /* samples the refit used */
    uint16_t conditioning; /* learn.h RF-S4's figure: log2 of the pivots' spread */
};

/* MODEL_DESCRIBE (level 5): a piece of the model's description section. */
struct phyff_describe_request {
    uint32_t offset;    /* first byte of the section wanted */
    uint16_t max_bytes; /* most bytes wanted (the reply also stops at max_payload) */
    uint16_t reserved;  /* 0 */
};

struct phyff_describe_reply {
    uint32_t section_size; /* bytes of the whole section; 0: the model has none */
    uint32_t offset;       /* the request's, echoed */
};

/* Byte sizes on the wire. Each equals sizeof on every supported target
 * (checked below), but the codec never relies on that: see W-W3. */
#define PHYFF_ERROR_SIZE 4u
#define PHYFF_EVENT_SIZE 4u
#define PHYFF_CAPS_SIZE 76u
#define PHYFF_CONFIG_SIZE 12u
#define PHYFF_QUERY_HEAD_SIZE 4u
#define PHYFF_STATS_SIZE 44u
#define PHYFF_MODEL_BEGIN_SIZE 8u
#define PHYFF_CHUNK_HEAD_SIZE 4u
#define PHYFF_INFER_HEAD_SIZE 8u
#define PHYFF_MODEL_INFO_SIZE 80u
#define PHYFF_DESCRIBE_REQUEST_SIZE 8u
#define PHYFF_DESCRIBE_REPLY_SIZE 8u
#define PHYFF_LEARN_HEAD_SIZE 4u
#define PHYFF_REFIT_REPLY_SIZE 8u
#define PHYFF_REFIT_REQUEST_SIZE 2u /* uint16 lambda_shift */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define PHYFF_STATIC_ASSERT(c, m) _Static_assert(c, m)
#else
#define PHYFF_SA_CAT2(a, b) a##b
#define PHYFF_SA_CAT(a, b) PHYFF_SA_CAT2(a, b)
#define PHYFF_STATIC_ASSERT(c, m) typedef char PHYFF_SA_CAT(phyff_static_assert_, __LINE__)[(c) ? 1 : -1]
#endif
PHYFF_STATIC_ASSERT(sizeof(struct phyff_header) == PHYFF_HEADER_SIZE, "header layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_header, length) == 4, "header.length offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_header, aux) == 6, "header.aux offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_error) == PHYFF_ERROR_SIZE, "error layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_event) == PHYFF_EVENT_SIZE, "event layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_caps) == PHYFF_CAPS_SIZE, "caps layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, firmware_version) == 4, "caps.fw offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, unit_id) == 8, "caps.unit_id offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, max_batch) == 12, "caps.max_batch offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, n_drive) == 16, "caps.n_drive offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, dac_bits) == 20, "caps.dac_bits offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, max_oversample) == 22, "caps.max_oversample offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, board) == 24, "caps.board offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, medium) == 40, "caps.medium offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, max_settle_us) == 56, "caps.max_settle_us offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_config) == PHYFF_CONFIG_SIZE, "config layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_config, oversample) == 4, "config.oversample offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_config, n_drive_active) == 6, "config.n_drive offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_config, n_sense_active) == 8, "config.n_sense offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_config, reserved) == 10, "config.reserved offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_query_head) == PHYFF_QUERY_HEAD_SIZE, "query head layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, model_capacity) == 60, "caps.model_capacity offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, model_loaded) == 68, "caps.model_loaded offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, max_classes) == 72, "caps.max_classes offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_caps, infer_work) == 74, "caps.infer_work offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_stats) == PHYFF_STATS_SIZE, "stats layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_model_begin) == PHYFF_MODEL_BEGIN_SIZE, "model_begin layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_chunk_head) == PHYFF_CHUNK_HEAD_SIZE, "chunk_head layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_infer_head) == PHYFF_INFER_HEAD_SIZE, "infer_head layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_model_info) == PHYFF_MODEL_INFO_SIZE, "model_info layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_model_info, input_exp) == 22, "model_info.input_exp offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_model_info, name) == 28, "model_info.name offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_describe_request) == PHYFF_DESCRIBE_REQUEST_SIZE,
                    "describe_request layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_describe_reply) == PHYFF_DESCRIBE_REPLY_SIZE,
                    "describe_reply layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_model_info, readout_origin) == 76, "model_info.readout_origin offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_learn_head) == PHYFF_LEARN_HEAD_SIZE, "learn_head layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_refit_reply) == PHYFF_REFIT_REPLY_SIZE, "refit_reply layout");

/* ---- CRC and COBS ------------------------------------------------------ */

/* CRC-16/CCITT-FALSE of data[0..n), continuing from crc (start with
 * PHYFF_CRC_INIT). Table-free, so it costs no flash for a table. */
#define PHYFF_CRC_INIT 0xFFFFu
uint16_t phyff_crc16(uint16_t crc, const uint8_t *data, size_t n);

/* CRC-32/ISO-HDLC (the zlib/PNG CRC: reflected poly 0xEDB88320, init and
 * final xor 0xFFFFFFFF; check value of "123456789" is 0xCBF43926) of
 * data[0..n), continuing from crc (start with 0; the value returned is the
 * finished CRC, so chained calls give the CRC of the concatenation).
 * Table-free. Checks whole model images (MODEL_BEGIN). */
uint32_t phyff_crc32(uint32_t crc, const uint8_t *data, size_t n);

/* COBS-encode src[0..n) into dst (capacity cap); no delimiter is written.
 * *out_len = encoded length. Needs cap >= PHYFF_COBS_MAX_ENCODED(n), else
 * PHYFF_ERR_NO_SPACE. n = 0 encodes to the single byte 0x01. */
PHYFF_NODISCARD
enum phyff_status phyff_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst,
                                    size_t cap, size_t *out_len);

/* COBS-decode src[0..n) (without delimiter) into dst (capacity cap).
 * Errors: PHYFF_ERR_EMPTY (n = 0), PHYFF_ERR_BAD_COBS (a 0x00 byte, or a code
 * that runs past the end), PHYFF_ERR_NO_SPACE (dst too small).
 * dst may equal src (in-place decoding is allowed: output never overtakes
 * input). */
PHYFF_NODISCARD
enum phyff_status phyff_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst,
                                    size_t cap, size_t *out_len);

/* ---- Frames ------------------------------------------------------------ */

/* Build a whole wire frame: header + payload + CRC, COBS-encoded, then the
 * 0x00 delimiter, into out (capacity cap). hdr->length is ignored and set
 * from payload_len. Errors: PHYFF_ERR_TOO_LONG (payload_len > 65535),
 * PHYFF_ERR_NO_SPACE (cap < PHYFF_WIRE_MAX_FRAME(payload_len)); payload may
 * be NULL when payload_len is 0. Needs no scratch memory: the CRC and COBS
 * run over the pieces in place. */
PHYFF_NODISCARD
enum phyff_status phyff_frame_encode(const struct phyff_header *hdr, const uint8_t *payload,
                                     size_t payload_len, uint8_t *out, size_t cap,
                                     size_t *out_len);

/* Decode one frame body (the bytes between two delimiters, delimiter
 * excluded) in place: buf[0..n) is COBS-decoded over itself, then checked.
 * On success *hdr is filled, *payload points into buf and *payload_len is
 * hdr->length. Checks, in order: EMPTY, BAD_COBS, TRUNCATED (decoded size <
 * header + CRC), BAD_CRC, TRUNCATED/TOO_LONG (decoded size disagrees with the
 * length field), TOO_LONG (length > max_payload). The level is NOT checked
 * here (W-L4: HELLO must pass whatever its level); see phyff_check_level. */
PHYFF_NODISCARD
enum phyff_status phyff_frame_decode(uint8_t *buf, size_t n, size_t max_payload,
                                     struct phyff_header *hdr, const uint8_t **payload,
                                     size_t *payload_len);

/* PHYFF_OK when a request with this header may be served at our level (W-L4). */
PHYFF_NODISCARD
enum phyff_status phyff_check_level(const struct phyff_header *hdr);

/* ---- Record codecs (explicit little-endian, W-W3) ------------------------ */

void phyff_put_u16(uint8_t *p, uint16_t v);
void phyff_put_u32(uint8_t *p, uint32_t v);
uint16_t phyff_get_u16(const uint8_t *p);
uint32_t phyff_get_u32(const uint8_t *p);

void phyff_header_pack(const struct phyff_header *h, uint8_t out[PHYFF_HEADER_SIZE]);
void phyff_header_unpack(const uint8_t in[PHYFF_HEADER_SIZE], struct phyff_header *h);
void phyff_error_pack(const struct phyff_error *e, uint8_t out[PHYFF_ERROR_SIZE]);
void phyff_error_unpack(const uint8_t in[PHYFF_ERROR_SIZE], struct phyff_error *e);
void phyff_event_pack(const struct phyff_event *e, uint8_t out[PHYFF_EVENT_SIZE]);
void phyff_event_unpack(const uint8_t in[PHYFF_EVENT_SIZE], struct phyff_event *e);
void phyff_caps_pack(const struct phyff_caps *c, uint8_t out[PHYFF_CAPS_SIZE]);
void phyff_caps_unpack(const uint8_t in[PHYFF_CAPS_SIZE], struct phyff_caps *c);
void phyff_config_pack(const struct phyff_config *c, uint8_t out[PHYFF_CONFIG_SIZE]);
void phyff_config_unpack(const uint8_t in[PHYFF_CONFIG_SIZE], struct phyff_config *c);
void phyff_query_head_pack(const struct phyff_query_head *q, uint8_t out[PHYFF_QUERY_HEAD_SIZE]);
void phyff_query_head_unpack(const uint8_t in[PHYFF_QUERY_HEAD_SIZE], struct phyff_query_head *q);
void phyff_stats_pack(const struct phyff_stats *s, uint8_t out[PHYFF_STATS_SIZE]);
void phyff_stats_unpack(const uint8_t in[PHYFF_STATS_SIZE], struct phyff_stats *s);
void phyff_model_begin_pack(const struct phyff_model_begin *m, uint8_t out[PHYFF_MODEL_BEGIN_SIZE]);
void phyff_model_begin_unpack(const uint8_t in[PHYFF_MODEL_BEGIN_SIZE], struct phyff_model_begin *m);
void phyff_chunk_head_pack(const struct phyff_chunk_head *c, uint8_t out[PHYFF_CHUNK_HEAD_SIZE]);
void phyff_chunk_head_unpack(const uint8_t in[PHYFF_CHUNK_HEAD_SIZE], struct phyff_chunk_head *c);
void phyff_infer_head_pack(const struct phyff_infer_head *h, uint8_t out[PHYFF_INFER_HEAD_SIZE]);
void phyff_infer_head_unpack(const uint8_t in[PHYFF_INFER_HEAD_SIZE], struct phyff_infer_head *h);
void phyff_model_info_pack(const struct phyff_model_info *m, uint8_t out[PHYFF_MODEL_INFO_SIZE]);
void phyff_model_info_unpack(const uint8_t in[PHYFF_MODEL_INFO_SIZE], struct phyff_model_info *m);
void phyff_describe_request_pack(const struct phyff_describe_request *d,
                                 uint8_t out[PHYFF_DESCRIBE_REQUEST_SIZE]);
void phyff_describe_request_unpack(const uint8_t in[PHYFF_DESCRIBE_REQUEST_SIZE],
                                   struct phyff_describe_request *d);
void phyff_describe_reply_pack(const struct phyff_describe_reply *d,
                               uint8_t out[PHYFF_DESCRIBE_REPLY_SIZE]);
void phyff_describe_reply_unpack(const uint8_t in[PHYFF_DESCRIBE_REPLY_SIZE],
                                 struct phyff_describe_reply *d);
void phyff_learn_head_pack(const struct phyff_learn_head *h, uint8_t out[PHYFF_LEARN_HEAD_SIZE]);
void phyff_learn_head_unpack(const uint8_t in[PHYFF_LEARN_HEAD_SIZE], struct phyff_learn_head *h);
void phyff_refit_reply_pack(const struct phyff_refit_reply *reply, uint8_t out[PHYFF_REFIT_REPLY_SIZE]);
void phyff_refit_reply_unpack(const uint8_t in[PHYFF_REFIT_REPLY_SIZE], struct phyff_refit_reply *reply);

/* Q15 sample arrays <-> little-endian bytes (n values, 2n bytes). */
void phyff_samples_pack(const int16_t *v, size_t n, uint8_t *out);
void phyff_samples_unpack(const uint8_t *in, size_t n, int16_t *v);

/* Short, stable, human-readable name of a status code ("bad CRC", ...);
 * "unknown status" for values outside the enum. */
const char *phyff_status_name(int status);

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_WIRE_H */
