/*
 * wire.c - CRC-16, COBS and frame codec of phyff/wire.h.
 *
 * COBS is the canonical form (Cheshire & Baker 1999): a block that reaches
 * 254 data bytes is closed with code 0xFF and a new block is opened only if
 * input remains, so 254 non-zero bytes encode as FF + the 254 bytes. The
 * decoder also accepts a trailing empty block (0x01) that some encoders emit.
 */
#include "phyff/wire.h"

#include <string.h>

/* ---- little-endian helpers (W-W3) ----------------------------------------- */

void phyff_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

void phyff_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

uint16_t phyff_get_u16(const uint8_t *p) {
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

uint32_t phyff_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* ---- CRC-16/CCITT-FALSE (W-W2) -------------------------------------------- */

uint16_t phyff_crc16(uint16_t crc, const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        /* Byte-wise form without a table (Sarwate-free, 4 shifts per byte). */
        uint16_t x = (uint16_t)(((crc >> 8) ^ data[i]) & 0xFFu);
        x ^= (uint16_t)(x >> 4);
        crc = (uint16_t)((crc << 8) ^ (x << 12) ^ (x << 5) ^ x);
    }
    return crc;
}

uint32_t phyff_crc32(uint32_t crc, const uint8_t *data, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) {
        crc ^= data[i];
        for (unsigned b = 0; b < 8u; ++b) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

/* ---- COBS ------------------------------------------------------------- */

/* Streaming encoder over several input pieces, so a frame is encoded
 * straight from header, payload and CRC without a scratch copy. */
struct cobs_writer {
    uint8_t *dst;
    size_t code_at;  /* index of the open block's code byte */
    size_t out;      /* next write index */
    uint8_t code;    /* 1 + data bytes in the open block */
    size_t remaining; /* input bytes not yet fed */
};

static void cobs_begin(struct cobs_writer *w, uint8_t *dst, size_t total) {
    w->dst = dst;
    w->code_at = 0;
    w->out = 1;
    w->code = 1;
    w->remaining = total;
}

static void cobs_feed(struct cobs_writer *w, const uint8_t *src, size_t n) {
    uint8_t *dst = w->dst;
    size_t out = w->out;
    size_t code_at = w->code_at;
    uint8_t code = w->code;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t b = src[i];
        w->remaining--;
        if (b == 0) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
            continue;
        }
        dst[out++] = b;
        if (++code == 0xFFu) {
            dst[code_at] = code;
            code = 1;
            if (w->remaining != 0) {
                code_at = out++;
            } else {
                code_at = SIZE_MAX; /* closed: no trailing empty block */
            }
        }
    }
    w->out = out;
    w->code_at = code_at;
    w->code = code;
}

static size_t cobs_end(struct cobs_writer *w) {
    if (w->code_at != SIZE_MAX) w->dst[w->code_at] = w->code;
    return w->out;
}

enum phyff_status phyff_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst,
                                    size_t cap, size_t *out_len) {
    *out_len = 0;
    if (cap < PHYFF_COBS_MAX_ENCODED(n)) return PHYFF_ERR_NO_SPACE;
    struct cobs_writer w;
    cobs_begin(&w, dst, n);
    cobs_feed(&w, src, n);
    *out_len = cobs_end(&w);
    return PHYFF_OK;
}

enum phyff_status phyff_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst,
                                    size_t cap, size_t *out_len) {
    *out_len = 0;
    if (n == 0) return PHYFF_ERR_EMPTY;
    size_t in = 0;
    size_t out = 0;
    while (in < n) {
        const uint8_t code = src[in++];
        if (code == 0) return PHYFF_ERR_BAD_COBS;
        const size_t run = (size_t)code - 1u;
        if (run > n - in) return PHYFF_ERR_BAD_COBS;
        if (run > cap - out) return PHYFF_ERR_NO_SPACE;
        for (size_t k = 0; k < run; ++k) {
            const uint8_t b = src[in++];
            if (b == 0) return PHYFF_ERR_BAD_COBS;
            dst[out++] = b;
        }
        if (code != 0xFFu && in < n) {
            if (out >= cap) return PHYFF_ERR_NO_SPACE;
            dst[out++] = 0;
        }
    }
    *out_len = out;
    return PHYFF_OK;
}

/* ---- records ------------------------------------------------------------ */

void phyff_header_pack(const struct phyff_header *h, uint8_t out[PHYFF_HEADER_SIZE]) {
    out[0] = h->level;
    out[1] = h->seq;
    out[2] = h->cmd;
    out[3] = h->flags;
    phyff_put_u16(out + 4, h->length);
    phyff_put_u16(out + 6, h->aux);
}

void phyff_header_unpack(const uint8_t in[PHYFF_HEADER_SIZE], struct phyff_header *h) {
    h->level = in[0];
    h->seq = in[1];
    h->cmd = in[2];
    h->flags = in[3];
    h->length = phyff_get_u16(in + 4);
    h->aux = phyff_get_u16(in + 6);
}

void phyff_error_pack(const struct phyff_error *e, uint8_t out[PHYFF_ERROR_SIZE]) {
    phyff_put_u16(out, e->status);
    phyff_put_u16(out + 2, e->arg);
}

void phyff_error_unpack(const uint8_t in[PHYFF_ERROR_SIZE], struct phyff_error *e) {
    e->status = phyff_get_u16(in);
    e->arg = phyff_get_u16(in + 2);
}

void phyff_event_pack(const struct phyff_event *e, uint8_t out[PHYFF_EVENT_SIZE]) {
    phyff_put_u16(out, e->event);
    phyff_put_u16(out + 2, e->arg);
}

void phyff_event_unpack(const uint8_t in[PHYFF_EVENT_SIZE], struct phyff_event *e) {
    e->event = phyff_get_u16(in);
    e->arg = phyff_get_u16(in + 2);
}

void phyff_caps_pack(const struct phyff_caps *c, uint8_t out[PHYFF_CAPS_SIZE]) {
    out[0] = c->level;
    out[1] = c->reserved0;
    phyff_put_u16(out + 2, c->features);
    phyff_put_u32(out + 4, c->firmware_version);
    phyff_put_u32(out + 8, c->unit_id);
    phyff_put_u16(out + 12, c->max_batch);
    phyff_put_u16(out + 14, c->max_payload);
    phyff_put_u16(out + 16, c->n_drive);
    phyff_put_u16(out + 18, c->n_sense);
    out[20] = c->dac_bits;
    out[21] = c->adc_bits;
    phyff_put_u16(out + 22, c->max_oversample);
    memcpy(out + 24, c->board, PHYFF_NAME_SIZE);
    memcpy(out + 40, c->medium, PHYFF_NAME_SIZE);
    phyff_put_u32(out + 56, c->max_settle_us);
    phyff_put_u32(out + 60, c->model_capacity);
    phyff_put_u32(out + 64, c->model_crc);
    out[68] = c->model_loaded;
    out[69] = c->reserved1;
    phyff_put_u16(out + 70, c->reserved2);
    phyff_put_u16(out + 72, c->max_classes);
    phyff_put_u16(out + 74, c->infer_work);
}

void phyff_caps_unpack(const uint8_t in[PHYFF_CAPS_SIZE], struct phyff_caps *c) {
    c->level = in[0];
    c->reserved0 = in[1];
    c->features = phyff_get_u16(in + 2);
    c->firmware_version = phyff_get_u32(in + 4);
    c->unit_id = phyff_get_u32(in + 8);
    c->max_batch = phyff_get_u16(in + 12);
    c->max_payload = phyff_get_u16(in + 14);
    c->n_drive = phyff_get_u16(in + 16);
    c->n_sense = phyff_get_u16(in + 18);
    c->dac_bits = in[20];
    c->adc_bits = in[21];
    c->max_oversample = phyff_get_u16(in + 22);
    memcpy(c->board, in + 24, PHYFF_NAME_SIZE);
    memcpy(c->medium, in + 40, PHYFF_NAME_SIZE);
    c->max_settle_us = phyff_get_u32(in + 56);
    c->model_capacity = phyff_get_u32(in + 60);
    c->model_crc = phyff_get_u32(in + 64);
    c->model_loaded = in[68];
    c->reserved1 = in[69];
    c->reserved2 = phyff_get_u16(in + 70);
    c->max_classes = phyff_get_u16(in + 72);
    c->infer_work = phyff_get_u16(in + 74);
}

void phyff_config_pack(const struct phyff_config *c, uint8_t out[PHYFF_CONFIG_SIZE]) {
    phyff_put_u32(out, c->settle_us);
    phyff_put_u16(out + 4, c->oversample);
    phyff_put_u16(out + 6, c->n_drive_active);
    phyff_put_u16(out + 8, c->n_sense_active);
    phyff_put_u16(out + 10, c->reserved);
}

void phyff_config_unpack(const uint8_t in[PHYFF_CONFIG_SIZE], struct phyff_config *c) {
    c->settle_us = phyff_get_u32(in);
    c->oversample = phyff_get_u16(in + 4);
    c->n_drive_active = phyff_get_u16(in + 6);
    c->n_sense_active = phyff_get_u16(in + 8);
    c->reserved = phyff_get_u16(in + 10);
}

void phyff_query_head_pack(const struct phyff_query_head *q,
                           uint8_t out[PHYFF_QUERY_HEAD_SIZE]) {
    phyff_put_u16(out, q->n_samples);
    phyff_put_u16(out + 2, q->n_channels);
}

void phyff_query_head_unpack(const uint8_t in[PHYFF_QUERY_HEAD_SIZE],
                             struct phyff_query_head *q) {
    q->n_samples = phyff_get_u16(in);
    q->n_channels = phyff_get_u16(in + 2);
}

void phyff_stats_pack(const struct phyff_stats *s, uint8_t out[PHYFF_STATS_SIZE]) {
    phyff_put_u32(out + 0, s->frames_ok);
    phyff_put_u32(out + 4, s->crc_errors);
    phyff_put_u32(out + 8, s->framing_errors);
    phyff_put_u32(out + 12, s->bad_commands);
    phyff_put_u32(out + 16, s->overruns);
    phyff_put_u32(out + 20, s->samples_served);
    phyff_put_u32(out + 24, s->error_replies);
    phyff_put_u32(out + 28, s->uptime_ms);
    phyff_put_u32(out + 32, s->infer_samples);
    phyff_put_u32(out + 36, s->infer_digital_us);
    phyff_put_u32(out + 40, s->infer_medium_us);
}

void phyff_stats_unpack(const uint8_t in[PHYFF_STATS_SIZE], struct phyff_stats *s) {
    s->frames_ok = phyff_get_u32(in + 0);
    s->crc_errors = phyff_get_u32(in + 4);
    s->framing_errors = phyff_get_u32(in + 8);
    s->bad_commands = phyff_get_u32(in + 12);
    s->overruns = phyff_get_u32(in + 16);
    s->samples_served = phyff_get_u32(in + 20);
    s->error_replies = phyff_get_u32(in + 24);
    s->uptime_ms = phyff_get_u32(in + 28);
    s->infer_samples = phyff_get_u32(in + 32);
    s->infer_digital_us = phyff_get_u32(in + 36);
    s->infer_medium_us = phyff_get_u32(in + 40);
}

void phyff_model_begin_pack(const struct phyff_model_begin *m, uint8_t out[PHYFF_MODEL_BEGIN_SIZE]) {
    phyff_put_u32(out, m->image_size);
    phyff_put_u32(out + 4, m->crc32);
}

void phyff_model_begin_unpack(const uint8_t in[PHYFF_MODEL_BEGIN_SIZE], struct phyff_model_begin *m) {
    m->image_size = phyff_get_u32(in);
    m->crc32 = phyff_get_u32(in + 4);
}

void phyff_chunk_head_pack(const struct phyff_chunk_head *c, uint8_t out[PHYFF_CHUNK_HEAD_SIZE]) {
    phyff_put_u32(out, c->offset);
}

void phyff_chunk_head_unpack(const uint8_t in[PHYFF_CHUNK_HEAD_SIZE], struct phyff_chunk_head *c) {
    c->offset = phyff_get_u32(in);
}

void phyff_infer_head_pack(const struct phyff_infer_head *h, uint8_t out[PHYFF_INFER_HEAD_SIZE]) {
    phyff_put_u16(out, h->n_samples);
    phyff_put_u16(out + 2, h->n_values);
    phyff_put_u16(out + 4, h->flags);
    phyff_put_u16(out + 6, h->reserved);
}

void phyff_infer_head_unpack(const uint8_t in[PHYFF_INFER_HEAD_SIZE], struct phyff_infer_head *h) {
    h->n_samples = phyff_get_u16(in);
    h->n_values = phyff_get_u16(in + 2);
    h->flags = phyff_get_u16(in + 4);
    h->reserved = phyff_get_u16(in + 6);
}

void phyff_model_info_pack(const struct phyff_model_info *m, uint8_t out[PHYFF_MODEL_INFO_SIZE]) {
    phyff_put_u32(out, m->crc32);
    phyff_put_u32(out + 4, m->image_size);
    phyff_put_u32(out + 8, m->train_unit_id);
    phyff_put_u16(out + 12, m->n_features);
    phyff_put_u16(out + 14, m->n_classes);
    phyff_put_u16(out + 16, m->max_batch);
    phyff_put_u16(out + 18, m->max_batch_trace);
    out[20] = m->n_blocks;
    out[21] = m->inference;
    out[22] = (uint8_t)m->input_exp;
    out[23] = (uint8_t)m->score_exp;
    phyff_put_u16(out + 24, m->trace_values);
    phyff_put_u16(out + 26, m->origin);
    memcpy(out + 28, m->name, PHYFF_NAME_SIZE);
    memcpy(out + 44, m->train_board, PHYFF_NAME_SIZE);
    memcpy(out + 60, m->train_medium, PHYFF_NAME_SIZE);
    phyff_put_u16(out + 76, m->readout_origin);
    phyff_put_u16(out + 78, m->readout_samples);
}

void phyff_model_info_unpack(const uint8_t in[PHYFF_MODEL_INFO_SIZE], struct phyff_model_info *m) {
    m->crc32 = phyff_get_u32(in);
    m->image_size = phyff_get_u32(in + 4);
    m->train_unit_id = phyff_get_u32(in + 8);
    m->n_features = phyff_get_u16(in + 12);
    m->n_classes = phyff_get_u16(in + 14);
    m->max_batch = phyff_get_u16(in + 16);
    m->max_batch_trace = phyff_get_u16(in + 18);
    m->n_blocks = in[20];
    m->inference = in[21];
    m->input_exp = (int8_t)in[22];
    m->score_exp = (int8_t)in[23];
    m->trace_values = phyff_get_u16(in + 24);
    m->origin = phyff_get_u16(in + 26);
    memcpy(m->name, in + 28, PHYFF_NAME_SIZE);
    memcpy(m->train_board, in + 44, PHYFF_NAME_SIZE);
    memcpy(m->train_medium, in + 60, PHYFF_NAME_SIZE);
    m->readout_origin = phyff_get_u16(in + 76);
    m->readout_samples = phyff_get_u16(in + 78);
}

void phyff_learn_head_pack(const struct phyff_learn_head *h, uint8_t out[PHYFF_LEARN_HEAD_SIZE]) {
    phyff_put_u16(out, h->n_samples);
    phyff_put_u16(out + 2, h->n_values);
}

void phyff_learn_head_unpack(const uint8_t in[PHYFF_LEARN_HEAD_SIZE], struct phyff_learn_head *h) {
    h->n_samples = phyff_get_u16(in);
    h->n_values = phyff_get_u16(in + 2);
}

void phyff_refit_reply_pack(const struct phyff_refit_reply *reply, uint8_t out[PHYFF_REFIT_REPLY_SIZE]) {
    phyff_put_u32(out, reply->crc32);
    phyff_put_u16(out + 4, reply->samples);
    phyff_put_u16(out + 6, reply->conditioning);
}

void phyff_refit_reply_unpack(const uint8_t in[PHYFF_REFIT_REPLY_SIZE], struct phyff_refit_reply *reply) {
    reply->crc32 = phyff_get_u32(in);
    reply->samples = phyff_get_u16(in + 4);
    reply->conditioning = phyff_get_u16(in + 6);
}

void phyff_describe_request_pack(const struct phyff_describe_request *d,
                                 uint8_t out[PHYFF_DESCRIBE_REQUEST_SIZE]) {
    phyff_put_u32(out, d->offset);
    phyff_put_u16(out + 4, d->max_bytes);
    phyff_put_u16(out + 6, d->reserved);
}

void phyff_describe_request_unpack(const uint8_t in[PHYFF_DESCRIBE_REQUEST_SIZE],
                                   struct phyff_describe_request *d) {
    d->offset = phyff_get_u32(in);
    d->max_bytes = phyff_get_u16(in + 4);
    d->reserved = phyff_get_u16(in + 6);
}

void phyff_describe_reply_pack(const struct phyff_describe_reply *d,
                               uint8_t out[PHYFF_DESCRIBE_REPLY_SIZE]) {
    phyff_put_u32(out, d->section_size);
    phyff_put_u32(out + 4, d->offset);
}

void phyff_describe_reply_unpack(const uint8_t in[PHYFF_DESCRIBE_REPLY_SIZE],
                                 struct phyff_describe_reply *d) {
    d->section_size = phyff_get_u32(in);
    d->offset = phyff_get_u32(in + 4);
}

void phyff_samples_pack(const int16_t *v, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; ++i) phyff_put_u16(out + 2 * i, (uint16_t)v[i]);
}

void phyff_samples_unpack(const uint8_t *in, size_t n, int16_t *v) {
    for (size_t i = 0; i < n; ++i) v[i] = (int16_t)phyff_get_u16(in + 2 * i);
}

/* ---- frames ------------------------------------------------------------- */

enum phyff_status phyff_frame_encode(const struct phyff_header *hdr, const uint8_t *payload,
                                     size_t payload_len, uint8_t *out, size_t cap,
                                     size_t *out_len) {
    *out_len = 0;
    if (payload_len > PHYFF_MAX_PAYLOAD_LIMIT) return PHYFF_ERR_TOO_LONG;
    if (cap < PHYFF_WIRE_MAX_FRAME(payload_len)) return PHYFF_ERR_NO_SPACE;

    uint8_t head[PHYFF_HEADER_SIZE];
    struct phyff_header h = *hdr;
    h.length = (uint16_t)payload_len;
    phyff_header_pack(&h, head);

    uint16_t crc = phyff_crc16(PHYFF_CRC_INIT, head, sizeof head);
    if (payload_len != 0) crc = phyff_crc16(crc, payload, payload_len);
    uint8_t tail[PHYFF_CRC_SIZE];
    phyff_put_u16(tail, crc);

    struct cobs_writer w;
    cobs_begin(&w, out, PHYFF_HEADER_SIZE + payload_len + PHYFF_CRC_SIZE);
    cobs_feed(&w, head, sizeof head);
    if (payload_len != 0) cobs_feed(&w, payload, payload_len);
    cobs_feed(&w, tail, sizeof tail);
    size_t n = cobs_end(&w);
    out[n++] = 0x00; /* delimiter */
    *out_len = n;
    return PHYFF_OK;
}

enum phyff_status phyff_frame_decode(uint8_t *buf, size_t n, size_t max_payload,
                                     struct phyff_header *hdr, const uint8_t **payload,
                                     size_t *payload_len) {
    *payload = NULL;
    *payload_len = 0;
    size_t len = 0;
    enum phyff_status st = phyff_cobs_decode(buf, n, buf, n, &len);
    if (st != PHYFF_OK) return st;
    if (len < PHYFF_HEADER_SIZE + PHYFF_CRC_SIZE) return PHYFF_ERR_TRUNCATED;
    const size_t body = len - PHYFF_CRC_SIZE;
    if (phyff_crc16(PHYFF_CRC_INIT, buf, body) != phyff_get_u16(buf + body)) {
        return PHYFF_ERR_BAD_CRC;
    }
    struct phyff_header h;
    phyff_header_unpack(buf, &h);
    const size_t got = body - PHYFF_HEADER_SIZE;
    if (got < h.length) return PHYFF_ERR_TRUNCATED;
    if (got > h.length) return PHYFF_ERR_TOO_LONG;
    if (h.length > max_payload) return PHYFF_ERR_TOO_LONG;
    *hdr = h;
    *payload = buf + PHYFF_HEADER_SIZE;
    *payload_len = h.length;
    return PHYFF_OK;
}

enum phyff_status phyff_check_level(const struct phyff_header *hdr) {
    if (hdr->cmd == PHYFF_CMD_HELLO) return PHYFF_OK;
    return hdr->level == PHYFF_PROTOCOL_LEVEL ? PHYFF_OK : PHYFF_ERR_BAD_LEVEL;
}

const char *phyff_status_name(int status) {
    switch (status) {
    case PHYFF_OK: return "ok";
    case PHYFF_ERR_BAD_CRC: return "bad CRC";
    case PHYFF_ERR_TRUNCATED: return "truncated frame";
    case PHYFF_ERR_TOO_LONG: return "frame too long";
    case PHYFF_ERR_BAD_COBS: return "bad COBS encoding";
    case PHYFF_ERR_BAD_LEVEL: return "protocol level mismatch";
    case PHYFF_ERR_NO_SPACE: return "buffer too small";
    case PHYFF_ERR_EMPTY: return "empty frame";
    case PHYFF_ERR_UNKNOWN_COMMAND: return "unknown command";
    case PHYFF_ERR_BAD_PAYLOAD: return "bad payload";
    case PHYFF_ERR_BATCH_TOO_LARGE: return "batch too large";
    case PHYFF_ERR_BAD_CHANNELS: return "wrong channel count";
    case PHYFF_ERR_BAD_CONFIG: return "configuration refused";
    case PHYFF_ERR_OVERRUN: return "receive overrun";
    case PHYFF_ERR_MEDIUM: return "medium fault";
    case PHYFF_ERR_NOT_A_REQUEST: return "not a request";
    case PHYFF_ERR_NO_MODEL: return "no model loaded";
    case PHYFF_ERR_MODEL_TOO_LARGE: return "model too large";
    case PHYFF_ERR_LOAD_RANGE: return "model chunk out of order";
    case PHYFF_ERR_MODEL_CRC: return "model CRC mismatch";
    case PHYFF_ERR_BAD_MODEL: return "model refused";
    case PHYFF_ERR_WRONG_BOARD: return "model for another board";
    case PHYFF_ERR_NO_LOAD: return "no model load in progress";
    case PHYFF_ERR_LEARN_FULL: return "learning statistics full";
    case PHYFF_ERR_BAD_LABEL: return "label out of range";
    case PHYFF_ERR_TOO_FEW: return "too few samples to refit";
    case PHYFF_ERR_SINGULAR: return "singular refit system";
    case PHYFF_ERR_NO_READOUT: return "no read-out to learn";
    case PHYFF_ERR_BAD_LAMBDA: return "ridge penalty out of range";
    case PHYFF_ERR_REFIT_OVERFLOW: return "refit out of range";
    case PHYFF_ERR_LEARN_TOO_LARGE: return "learning statistics too large";
    default: return "unknown status";
    }
}
