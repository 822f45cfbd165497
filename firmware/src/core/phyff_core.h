/*
 * phyff_core.h - the board's behaviour, once, for every target.
 *
 * The core turns received bytes into replies: it reassembles frames on the
 * 0x00 delimiter, decodes them with the shared codec (shared/src/wire.c),
 * dispatches HELLO, CONFIGURE, QUERY, STATS, RESET and (with model memory,
 * PHYFF_CORE_MODEL_BYTES > 0) the on-device inference and learning commands,
 * and writes
 * every reply through the port (port.h). It owns all its memory: one struct,
 * sized at compile time by the macros below, allocated by the port
 * (statically on a microcontroller). No malloc, no globals, no framework.
 *
 * Contracts
 *   CORE-K1. phyff_core_receive accepts any bytes, in any split, including
 *       garbage: every complete non-empty frame gets exactly one reply
 *       (a result or an ERROR, wire.h W-C1, W-F1-F3, W-S1-S5); nothing is read or
 *       written outside the core struct and the given buffer.
 *   CORE-K2. A frame longer than the receive buffer is dropped up to its
 *       delimiter and answered with PHYFF_ERR_TOO_LONG (arg = max_payload,
 *       seq 0), like any frame whose payload would exceed max_payload (W-F2).
 *   CORE-K3. QUERY: drive values are Q15 >= 0; a negative one is driven as 0
 *       and flags the sample. DAC code = q15 >> (15 - dac_bits). A sense
 *       channel that reads its top code (2^adc_bits - 1) flags the sample.
 *       Sense value = code << (15 - adc_bits). Drive channels past
 *       n_drive_active get code 0; sense channels 0..n_sense_active-1 are
 *       read and sent.
 *   CORE-K4. The per-sample path (no measure_batch) applies the drive, waits
 *       settle_us, reads `oversample` times and averages with round half up
 *       ((sum + k/2) / k): exactly what measure_batch must reproduce.
 *   CORE-K5. Statistics count what wire.h W-T1-T11 say, and nothing else: every
 *       non-empty frame increments exactly one of frames_ok, crc_errors and
 *       framing_errors.
 *   CORE-K6. uptime_ms comes from the port's micros clock, read whenever a frame
 *       ends; it is exact while frames come at least once per wrap of that
 *       clock (about 71 minutes for a microsecond counter).
 *   CORE-K7. The reset event (wire.h W-E1) goes out from phyff_core_announce, which
 *       the port calls once its link is up, and from RESET after its reply.
 *   CORE-K8. On-device inference (PHYFF_CORE_MODEL_BYTES > 0): the model in force
 *       changes only on a successful MODEL_COMMIT (after the port stored it,
 *       when it can), MODEL_ERASE or REFIT (its read-out, CORE-K11, wire.h
 *       W-N4); phyff_core_init restores a stored model
 *       through the port and keeps it only if it passes the checks of
 *       MODEL_COMMIT (model.h M-V1-V6, one INFER sample fits a frame).
 *       INFER measures through the same drive/settle/sense path as QUERY,
 *       with the model's own settings, and never changes the configuration.
 *   CORE-K9. A compiled-in model (PHYFF_CORE_COMPILED_MODEL, model.h M-C1-C2): the
 *       port hands its image to phyff_core_use_compiled_model after init and
 *       before phyff_core_announce. The core checks it like a COMMIT does;
 *       an accepted one is served read-only (MODEL_INFO origin COMPILED)
 *       whenever no loaded model is in force: at start-up unless a stored
 *       model was restored, and again after MODEL_ERASE. A loaded model
 *       replaces it where the board has model memory (caps.model_capacity
 *       > 0). A refused one is never served: MODEL_INFO answers the refusal
 *       (BAD_MODEL or WRONG_BOARD, arg = the refused field's offset) until a
 *       model is loaded. The inference commands are served (FEAT_INFER) only
 *       on a core with model memory or with a compiled-in image handed over;
 *       other cores answer them UNKNOWN_COMMAND.
 *   CORE-K10. INFER's scratch (PHYFF_CORE_INFER_WORK int16 block vectors,
 *       PHYFF_CORE_MAX_CLASSES int64 read-out sums and int32 scores) shares
 *       its memory with the transmit buffer `tx`: it is used only from an
 *       INFER request's checks to its reply, while no frame is sent (a reply
 *       or an ERROR ends its use), and nothing else keeps values in it
 *       across frames. The union is the larger of the two, so a scratch no
 *       larger than a frame costs no RAM (the Uno: PHYFF_CORE_MAX_PAYLOAD
 *       192 gives a 204-byte tx; docs/boards.md has the budget). HELLO
 *       advertises exactly these sizes: caps.max_classes =
 *       PHYFF_CORE_MAX_CLASSES, caps.infer_work = PHYFF_CORE_INFER_WORK less
 *       the wired drive channels (the DAC row of infer_measure).
 *   CORE-K11. On-device learning (wire.h W-N1-N8, learn.h) is built with model
 *       memory (PHYFF_CORE_MODEL_BYTES > 0) and advertised as FEAT_LEARN; a
 *       core without it (the Uno's, a compiled-in model alone) answers LEARN,
 *       REFIT and FORGET UNKNOWN_COMMAND. The statistics occupy the model
 *       slot the model in force does not use, so LEARN and REFIT end a load
 *       in progress (a later MODEL_CHUNK or MODEL_COMMIT gets NO_LOAD). The
 *       solve's scratch (2 (F + 1) int32) is the reply buffer, so a read-out
 *       whose 8 (F + 1) bytes exceed PHYFF_CORE_MAX_PAYLOAD cannot learn
 *       (LEARN_TOO_LARGE), as one whose statistics exceed a slot.
 */
#ifndef PHYFF_CORE_H
#define PHYFF_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phyff/learn.h"
#include "phyff/model.h"
#include "phyff/wire.h"
#include "port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest payload the core accepts or sends. Sets the RAM use:
 * about 3 x PHYFF_CORE_MAX_PAYLOAD bytes. */
#ifndef PHYFF_CORE_MAX_PAYLOAD
#define PHYFF_CORE_MAX_PAYLOAD 1024u
#endif
/* Most sense channels a port may declare (sizes the oversampling sums). */
#ifndef PHYFF_CORE_MAX_CHANNELS
#define PHYFF_CORE_MAX_CHANNELS 64u
#endif
/* Firmware version reported in HELLO (major << 16 | minor << 8 | patch). */
#define PHYFF_FIRMWARE_VERSION 0x000200u
/* Longest settle time CONFIGURE accepts, in microseconds, on a port with
 * PHYFF_FEAT_SETTLE (caps.max_settle_us; 0 without the feature). */
#define PHYFF_CORE_MAX_SETTLE_US 1000000u

/* Bytes of model memory for on-device inference (caps.model_capacity). The
 * core keeps two slots of this size (the model in force and the one being
 * loaded), so a failed load never touches the model in force. 0 builds the
 * core without inference: the 0x10..0x16 commands are then unknown. */
#ifndef PHYFF_CORE_MODEL_BYTES
#define PHYFF_CORE_MODEL_BYTES 0u
#endif
/* Most classes an on-device model may have (caps.max_classes). */
#ifndef PHYFF_CORE_MAX_CLASSES
#define PHYFF_CORE_MAX_CLASSES 32u
#endif
/* int16 scratch values for one INFER sample (the widest block's input,
 * drive, sense and output, plus one full-width row of DAC codes):
 * caps.infer_work is this less the wired drive channels. CORE-K10: this
 * scratch, the class sums and the scores share the transmit buffer. */
#ifndef PHYFF_CORE_INFER_WORK
#define PHYFF_CORE_INFER_WORK 512u
#endif
/* A model compiled into the firmware (phyff export; model.h M-C1-C2): 1 builds
 * phyff_core_use_compiled_model (CORE-K9). Needs no model memory in RAM. */
#ifndef PHYFF_CORE_COMPILED_MODEL
#define PHYFF_CORE_COMPILED_MODEL 0
#endif
#define PHYFF_CORE_INFER (PHYFF_CORE_MODEL_BYTES > 0u || PHYFF_CORE_COMPILED_MODEL)
#if defined(__AVR__) && PHYFF_CORE_MODEL_BYTES > 0
#error "on AVR model images are read from program memory (model.h M-C1): no RAM model slots"
#endif

#define PHYFF_CORE_RX_CAP PHYFF_COBS_MAX_ENCODED(PHYFF_HEADER_SIZE + PHYFF_CORE_MAX_PAYLOAD + PHYFF_CRC_SIZE)
#define PHYFF_CORE_TX_CAP PHYFF_WIRE_MAX_FRAME(PHYFF_CORE_MAX_PAYLOAD)

PHYFF_STATIC_ASSERT(PHYFF_CORE_MAX_PAYLOAD <= PHYFF_MAX_PAYLOAD_LIMIT, "payload fits u16 length");
PHYFF_STATIC_ASSERT(PHYFF_CORE_MAX_PAYLOAD >= PHYFF_CAPS_SIZE, "HELLO reply must fit");
PHYFF_STATIC_ASSERT(PHYFF_CORE_MAX_PAYLOAD >= PHYFF_MODEL_INFO_SIZE, "MODEL_INFO reply must fit");
PHYFF_STATIC_ASSERT(PHYFF_CORE_INFER_WORK <= 16384u, "model.h M-V3 bounds the scratch");

/* What a port declares about its hardware; the core derives the rest of
 * the capability record (level, version, max_batch, max_payload). */
struct phyff_board_desc {
    const char *board;   /* <= 16 chars, e.g. "uno", "qemu-mps2-an385" */
    const char *medium;  /* <= 16 chars, what is wired: "acoustic", "unknown" */
    uint32_t unit_id;
    uint16_t features;   /* PHYFF_FEAT_* the port honours */
    uint16_t n_drive;    /* 1..65535 */
    uint16_t n_sense;    /* 1..PHYFF_CORE_MAX_CHANNELS */
    uint8_t dac_bits;    /* 1..15 */
    uint8_t adc_bits;    /* 1..15 */
    uint16_t max_oversample; /* >= 1 */
};

struct phyff_core {
    const struct phyff_port *port;
    struct phyff_caps caps;
    struct phyff_config config;
    struct phyff_stats stats;
    uint32_t last_us;
    uint32_t uptime_us_frac;
    size_t rx_len;
    bool rx_dropping;
    /* unions keep the sample areas 2-byte aligned for in-place u16 use */
    union { uint8_t bytes[PHYFF_CORE_RX_CAP]; uint32_t align; } rx;
    union { uint8_t bytes[PHYFF_CORE_MAX_PAYLOAD]; uint32_t align; } reply;
    /* CORE-K10: the frame being sent, or INFER's scratch while a reply is built */
    union {
        uint8_t frame[PHYFF_CORE_TX_CAP];
#if PHYFF_CORE_INFER
        struct {
            int64_t class_acc[PHYFF_CORE_MAX_CLASSES];
            int32_t scores[PHYFF_CORE_MAX_CLASSES];
            int16_t work[PHYFF_CORE_INFER_WORK];
        } infer;
#endif
    } tx;
    uint32_t acc[PHYFF_CORE_MAX_CHANNELS];
#if PHYFF_CORE_INFER
    /* On-device inference (wire.h "On-device inference", model.h). */
#if PHYFF_CORE_MODEL_BYTES > 0
    union { uint8_t bytes[2][PHYFF_CORE_MODEL_BYTES]; uint32_t align; } model;
#endif
    uint8_t active;          /* slot of the model in force */
    bool loaded;             /* a model is in force */
    uint8_t load_state;      /* LOAD_IDLE, LOAD_BUSY, LOAD_DONE (phyff_core.c) */
    uint32_t model_crc;
    uint32_t load_size;
    uint32_t load_crc;
    uint32_t load_received;
    struct phyff_model_view view;
#endif
#if PHYFF_CORE_MODEL_BYTES > 0
    /* On-device learning (CORE-K11, wire.h W-N1-N8). */
    bool learn_ready;          /* the idle slot holds the statistics of the model in force */
    uint8_t repeat_cmd;        /* W-N3: the LEARN or REFIT that succeeded just before, or 0 */
    uint8_t repeat_seq;
    uint8_t refit_cond;        /* the last REFIT's conditioning figure (its repeated reply) */
    int16_t learn_f[PHYFF_LEARN_MAX_WIDTH]; /* one sample's read-out features */
#endif
#if PHYFF_CORE_COMPILED_MODEL
    /* A model compiled into the firmware (CORE-K9). */
    const uint8_t *compiled;   /* its image (in program memory on AVR); NULL: none */
    uint32_t compiled_size;
    uint32_t compiled_crc;
    uint16_t compiled_status;  /* PHYFF_OK, or why it is not served */
    uint16_t compiled_bad;     /* the refused field's offset */
    bool from_flash;           /* the model in force is the compiled-in one */
#endif
};

/* Set up the core for a port. Returns PHYFF_OK, or PHYFF_ERR_BAD_CONFIG when
 * the description is out of range (then the core must not be used). Does
 * not send anything: call phyff_core_announce once the link is up. */
PHYFF_NODISCARD
enum phyff_status phyff_core_init(struct phyff_core *core, const struct phyff_port *port,
                                  const struct phyff_board_desc *desc);

#if PHYFF_CORE_COMPILED_MODEL
/* CORE-K9: serve the compiled-in image[0..size) (model.h M-C1-C2). Call after
 * phyff_core_init, before phyff_core_announce. Returns PHYFF_OK, or
 * PHYFF_ERR_BAD_MODEL / PHYFF_ERR_WRONG_BOARD when the image is refused (then
 * MODEL_INFO reports that status and the refused field's offset). */
PHYFF_NODISCARD
enum phyff_status phyff_core_use_compiled_model(struct phyff_core *core, const uint8_t *image,
                                                uint32_t size);
#endif

/* Send the unsolicited PHYFF_EVENT_RESET frame (wire.h W-E1). */
void phyff_core_announce(struct phyff_core *core);

/* Feed bytes received from the host; replies go out through the port. */
void phyff_core_receive(struct phyff_core *core, const uint8_t *data, size_t n);

/* Count a loss the port detected (a UART overrun, a full receive ring):
 * STATS overruns (wire.h W-T5). */
void phyff_core_note_overrun(struct phyff_core *core);

/* Largest QUERY batch for the full channel counts of a description. */
uint16_t phyff_core_max_batch(uint16_t n_drive, uint16_t n_sense);

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_CORE_H */
