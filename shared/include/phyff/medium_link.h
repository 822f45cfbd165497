/*
 * phyff/medium_link.h - how a board without a physical medium reaches a
 * simulated one: the "medium link".
 *
 * On QEMU (no DAC/ADC model) and under the MicroPython unix port, the board
 * program's drive/sense port functions talk to a medium server on the host
 * over a second serial line. The server runs the very same simulated media
 * and DAC/ADC front end as the in-process emulator, so for the same seed and
 * the same drive batches every target answers byte for byte alike.
 *
 * The medium link reuses the host protocol's framing unchanged (wire.h W-W1-W4:
 * COBS, CRC-16, the 8-byte header, little-endian fields) with its own
 * command ids, so the board needs no second codec. The board is the client
 * here: it sends requests, the server replies (one reply per request, seq
 * echoed, ERROR replies carry struct phyff_error).
 *
 * Commands (request payload -> reply payload)
 *   DESCRIBE  (empty) -> struct phyff_medium_desc: channel counts,
 *             converter bits, unit id (seed) and medium name. The board asks
 *             once at start-up and builds its capability record from it.
 *   MEASURE   struct phyff_measure_head + n_samples x n_drive uint16 DAC codes
 *             -> n_samples x n_sense uint16 ADC codes (each the round-half-up
 *             average of `oversample` reads, port.h PORT-R3).
 */
#ifndef PHYFF_MEDIUM_LINK_H
#define PHYFF_MEDIUM_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "phyff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

enum phyff_medium_cmd {
    PHYFF_MEDIUM_DESCRIBE = 0x41,
    PHYFF_MEDIUM_MEASURE = 0x42
};

struct phyff_medium_desc {
    uint16_t n_drive;
    uint16_t n_sense;
    uint8_t dac_bits;
    uint8_t adc_bits;
    uint16_t reserved;
    uint32_t unit_id;
    char medium[PHYFF_NAME_SIZE];
};

struct phyff_measure_head {
    uint16_t n_samples;
    uint16_t n_drive;
    uint16_t n_sense;
    uint16_t oversample;
};

#define PHYFF_MEDIUM_DESC_SIZE 28u
#define PHYFF_MEASURE_HEAD_SIZE 8u

PHYFF_STATIC_ASSERT(sizeof(struct phyff_medium_desc) == PHYFF_MEDIUM_DESC_SIZE, "medium desc layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_medium_desc, unit_id) == 8, "medium desc unit_id");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_medium_desc, medium) == 12, "medium desc name");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_measure_head) == PHYFF_MEASURE_HEAD_SIZE, "measure head layout");

/* Explicit little-endian codecs (W-W3). */
static inline void phyff_medium_desc_pack(const struct phyff_medium_desc *d,
                                          uint8_t out[PHYFF_MEDIUM_DESC_SIZE]) {
    phyff_put_u16(out, d->n_drive);
    phyff_put_u16(out + 2, d->n_sense);
    out[4] = d->dac_bits;
    out[5] = d->adc_bits;
    phyff_put_u16(out + 6, d->reserved);
    phyff_put_u32(out + 8, d->unit_id);
    for (size_t i = 0; i < PHYFF_NAME_SIZE; ++i) out[12 + i] = (uint8_t)d->medium[i];
}

static inline void phyff_medium_desc_unpack(const uint8_t in[PHYFF_MEDIUM_DESC_SIZE],
                                            struct phyff_medium_desc *d) {
    d->n_drive = phyff_get_u16(in);
    d->n_sense = phyff_get_u16(in + 2);
    d->dac_bits = in[4];
    d->adc_bits = in[5];
    d->reserved = phyff_get_u16(in + 6);
    d->unit_id = phyff_get_u32(in + 8);
    for (size_t i = 0; i < PHYFF_NAME_SIZE; ++i) d->medium[i] = (char)in[12 + i];
}

static inline void phyff_measure_head_pack(const struct phyff_measure_head *m,
                                           uint8_t out[PHYFF_MEASURE_HEAD_SIZE]) {
    phyff_put_u16(out, m->n_samples);
    phyff_put_u16(out + 2, m->n_drive);
    phyff_put_u16(out + 4, m->n_sense);
    phyff_put_u16(out + 6, m->oversample);
}

static inline void phyff_measure_head_unpack(const uint8_t in[PHYFF_MEASURE_HEAD_SIZE],
                                             struct phyff_measure_head *m) {
    m->n_samples = phyff_get_u16(in);
    m->n_drive = phyff_get_u16(in + 2);
    m->n_sense = phyff_get_u16(in + 4);
    m->oversample = phyff_get_u16(in + 6);
}

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_MEDIUM_LINK_H */
