/*
 * phyff_core.c - frame reassembly, dispatch and the commands: HELLO,
 * CONFIGURE, QUERY, STATS, RESET and, with model memory, the seven on-device
 * inference commands and the three learning ones. Contracts are in
 * phyff_core.h (CORE-K1-K11) and wire.h (W-C1-C5, W-F1-F3, W-S1-S5,
 * W-T1-T11, W-E1-E3, W-L1-L4, W-N1-N8).
 */
#include "phyff_core.h"

#include <string.h>

/* ---- helpers ----------------------------------------------------------- */

static void copy_name(char dst[PHYFF_NAME_SIZE], const char *src) {
    memset(dst, 0, PHYFF_NAME_SIZE);
    if (src == NULL) return;
    for (size_t i = 0; i < PHYFF_NAME_SIZE && src[i] != '\0'; ++i) dst[i] = src[i];
}

static void tick(struct phyff_core *core) {
    const uint32_t now = core->port->micros(core->port->ctx);
    const uint32_t elapsed = now - core->last_us; /* wraps correctly */
    core->last_us = now;
    core->uptime_us_frac += elapsed % 1000u;
    core->stats.uptime_ms += elapsed / 1000u + core->uptime_us_frac / 1000u;
    core->uptime_us_frac %= 1000u;
}

static void send_frame(struct phyff_core *core, uint8_t seq, uint8_t cmd, uint8_t flags,
                       const uint8_t *payload, size_t len) {
    struct phyff_header h = {PHYFF_PROTOCOL_LEVEL, seq, cmd, flags, 0, 0};
    size_t n = 0;
    if (phyff_frame_encode(&h, payload, len, core->tx.frame, sizeof core->tx.frame, &n) == PHYFF_OK) {
        core->port->link_write(core->port->ctx, core->tx.frame, n);
    }
}

static void reply_ok(struct phyff_core *core, const struct phyff_header *req,
                     const uint8_t *payload, size_t len) {
    send_frame(core, req->seq, req->cmd, PHYFF_FLAG_REPLY, payload, len);
}

static void reply_error(struct phyff_core *core, uint8_t seq, uint8_t cmd,
                        enum phyff_status status, uint16_t arg) {
    struct phyff_error e = {(uint16_t)status, arg};
    uint8_t buf[PHYFF_ERROR_SIZE];
    phyff_error_pack(&e, buf);
    core->stats.error_replies++;
    send_frame(core, seq, cmd, PHYFF_FLAG_REPLY | PHYFF_FLAG_ERROR, buf, sizeof buf);
}

/* Refuse an intact request (wire.h W-S5): an ERROR reply with the request's
 * seq and cmd, counted as a bad command. */
static void refuse(struct phyff_core *core, const struct phyff_header *req,
                   enum phyff_status status, uint16_t arg) {
    core->stats.bad_commands++;
    reply_error(core, req->seq, req->cmd, status, arg);
}

/* Refuse a frame that failed the frame checks (wire.h W-F1-F3): seq 0, cmd
 * NONE, counted as a CRC or a framing error. */
static void refuse_frame(struct phyff_core *core, enum phyff_status status) {
    if (status == PHYFF_ERR_BAD_CRC) {
        core->stats.crc_errors++;
    } else {
        core->stats.framing_errors++;
    }
    reply_error(core, 0, PHYFF_CMD_NONE, status,
                status == PHYFF_ERR_TOO_LONG ? (uint16_t)PHYFF_CORE_MAX_PAYLOAD : 0u);
}

static void default_config(struct phyff_core *core) {
    core->config.settle_us = 0;
    core->config.oversample = 1;
    core->config.n_drive_active = core->caps.n_drive;
    core->config.n_sense_active = core->caps.n_sense;
    core->config.reserved = 0;
}

static uint16_t sat_u16(uint32_t v) {
    return (uint16_t)(v > 0xFFFFu ? 0xFFFFu : v);
}

/* The batch-limit solver of QUERY and INFER: the largest n whose request
 * (n x per_request bytes) and reply (n x per_reply bytes and the ceil(n / 8)
 * bytes of the saturation bitmap) both fit room, saturated at 65535.
 * 8 x room / (8 x per_reply + 1) bounds every n that fits the reply (the
 * bitmap takes at least n / 8), so counting down from there finds the
 * largest. per_request and per_reply are >= 1. */
static uint16_t batch_limit(uint32_t room, uint32_t per_request, uint32_t per_reply) {
    uint32_t n = room / per_request;
    const uint32_t by_reply = (room * 8u) / (8u * per_reply + 1u);
    if (by_reply < n) n = by_reply;
    while (n > 0 && n * per_reply + (n + 7u) / 8u > room) --n;
    return sat_u16(n);
}

uint16_t phyff_core_max_batch(uint16_t n_drive, uint16_t n_sense) {
    return batch_limit(PHYFF_CORE_MAX_PAYLOAD - PHYFF_QUERY_HEAD_SIZE, 2u * (uint32_t)n_drive,
                       2u * (uint32_t)n_sense);
}

/* ---- commands ---------------------------------------------------------- */

static void cmd_hello(struct phyff_core *core, const struct phyff_header *req) {
#if PHYFF_CORE_INFER
    core->caps.model_loaded = core->loaded ? 1u : 0u;
    core->caps.model_crc = core->loaded ? core->model_crc : 0u;
#endif
    phyff_caps_pack(&core->caps, core->reply.bytes);
    reply_ok(core, req, core->reply.bytes, PHYFF_CAPS_SIZE);
}

/* Offset of the first refused field of a proposed config, or -1 (wire.h
 * CONFIGURE: fields are checked in record order). */
PHYFF_NODISCARD
static int config_refusal(const struct phyff_core *core, const struct phyff_config *c) {
    const bool select = (core->caps.features & PHYFF_FEAT_CHANNEL_SELECT) != 0;
    if (c->settle_us > core->caps.max_settle_us) {
        return (int)offsetof(struct phyff_config, settle_us);
    }
    if (c->oversample < 1 || c->oversample > core->caps.max_oversample) {
        return (int)offsetof(struct phyff_config, oversample);
    }
    if (c->n_drive_active < 1 || c->n_drive_active > core->caps.n_drive ||
        (!select && c->n_drive_active != core->caps.n_drive)) {
        return (int)offsetof(struct phyff_config, n_drive_active);
    }
    if (c->n_sense_active < 1 || c->n_sense_active > core->caps.n_sense ||
        (!select && c->n_sense_active != core->caps.n_sense)) {
        return (int)offsetof(struct phyff_config, n_sense_active);
    }
    if (c->reserved != 0) return (int)offsetof(struct phyff_config, reserved);
    return -1;
}

static void cmd_configure(struct phyff_core *core, const struct phyff_header *req,
                          const uint8_t *payload, size_t len) {
    if (len != 0 && len != PHYFF_CONFIG_SIZE) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_CONFIG_SIZE);
        return;
    }
    if (len == PHYFF_CONFIG_SIZE) {
        struct phyff_config c;
        phyff_config_unpack(payload, &c);
        const int refused = config_refusal(core, &c);
        if (refused >= 0) {
            refuse(core, req, PHYFF_ERR_BAD_CONFIG, (uint16_t)refused);
            return;
        }
        core->config = c;
    }
    phyff_config_pack(&core->config, core->reply.bytes);
    reply_ok(core, req, core->reply.bytes, PHYFF_CONFIG_SIZE);
}

/* QUERY checks, in order (wire.h QUERY): payload holds a head, channel
 * count, batch limit, exact length. Returns the sample count, or -1 after
 * refusing the request. */
PHYFF_NODISCARD
static long query_check(struct phyff_core *core, const struct phyff_header *req,
                        const uint8_t *payload, size_t len) {
    if (len < PHYFF_QUERY_HEAD_SIZE) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_QUERY_HEAD_SIZE);
        return -1;
    }
    struct phyff_query_head q;
    phyff_query_head_unpack(payload, &q);
    const uint16_t nd_active = core->config.n_drive_active;
    if (q.n_channels != nd_active) {
        refuse(core, req, PHYFF_ERR_BAD_CHANNELS, nd_active);
        return -1;
    }
    if (q.n_samples > core->caps.max_batch) {
        refuse(core, req, PHYFF_ERR_BATCH_TOO_LARGE, core->caps.max_batch);
        return -1;
    }
    const size_t expect = PHYFF_QUERY_HEAD_SIZE + 2u * (size_t)q.n_samples * nd_active;
    if (len != expect) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, (uint16_t)expect);
        return -1;
    }
    return (long)q.n_samples;
}

/* Drive step: the request's Q15 values become DAC codes, in place over the
 * request's samples: each little-endian value becomes a native u16 code at
 * the same address (the rx buffer is aligned, the payload starts at offset
 * 8, the samples at 12). A negative value is driven as 0 and flags its
 * sample (CORE-K3). With fewer active than wired drive channels the rows are then
 * spread to full width, inactive channels at code 0, walking backwards so
 * nothing is overwritten before it is read; the buffer has room since
 * max_batch is computed for the full channel count. Returns the codes. */
static uint16_t *query_drive(struct phyff_core *core, uint8_t *samples, size_t n,
                             uint8_t *bitmap) {
    const uint16_t nd_active = core->config.n_drive_active;
    const uint16_t nd = core->caps.n_drive;
    uint16_t *dac = (uint16_t *)(void *)samples;
    const unsigned dac_shift = 15u - core->caps.dac_bits;
    for (size_t i = 0; i < n * nd_active; ++i) {
        const int16_t v = (int16_t)phyff_get_u16(samples + 2u * i);
        const size_t s = i / nd_active;
        uint16_t code = 0;
        if (v < 0) {
            bitmap[s / 8u] |= (uint8_t)(1u << (s % 8u));
        } else {
            code = (uint16_t)((uint16_t)v >> dac_shift);
        }
        dac[i] = code;
    }
    if (nd_active != nd && n > 0) {
        for (size_t s = n; s-- > 0;) {
            for (size_t j = nd; j-- > 0;) {
                dac[s * nd + j] = j < nd_active ? dac[s * nd_active + j] : 0u;
            }
        }
    }
    return dac;
}

/* One sample through drive/settle/sense, averaging (CORE-K4). */
PHYFF_NODISCARD
static int measure_one(struct phyff_core *core, const struct phyff_config *cfg,
                       const uint16_t *dac, uint16_t *adc) {
    const struct phyff_port *p = core->port;
    const uint16_t ns = cfg->n_sense_active;
    const uint16_t k = cfg->oversample;
    if (p->drive(p->ctx, dac, core->caps.n_drive) != 0) return -1;
    if (cfg->settle_us) p->delay_us(p->ctx, cfg->settle_us);
    if (k == 1) return p->sense(p->ctx, adc, ns) != 0 ? -1 : 0;
    memset(core->acc, 0, sizeof(uint32_t) * ns);
    for (uint16_t r = 0; r < k; ++r) {
        if (p->sense(p->ctx, adc, ns) != 0) return -1;
        for (uint16_t j = 0; j < ns; ++j) core->acc[j] += adc[j];
    }
    for (uint16_t j = 0; j < ns; ++j) adc[j] = (uint16_t)((core->acc[j] + k / 2u) / k);
    return 0;
}

/* Measure step: n rows of full-width DAC codes -> n rows of ADC codes, with
 * the settings of cfg, through the port's batch path or sample by sample.
 * The port is not called for n = 0. Returns 0, or non-zero for a medium
 * fault. */
PHYFF_NODISCARD
static int query_measure(struct phyff_core *core, const struct phyff_config *cfg,
                         const uint16_t *dac, size_t n, uint16_t *adc) {
    const struct phyff_port *p = core->port;
    const uint16_t nd = core->caps.n_drive;
    const uint16_t ns = cfg->n_sense_active;
    if (n == 0) return 0;
    if (p->measure_batch != NULL) {
        return p->measure_batch(p->ctx, dac, (uint16_t)n, nd, adc, ns, cfg->oversample,
                                cfg->settle_us);
    }
    for (size_t s = 0; s < n; ++s) {
        if (measure_one(core, cfg, dac + s * nd, adc + s * ns) != 0) return -1;
    }
    return 0;
}

/* ADC code -> Q15 sense value (CORE-K3): code << (15 - adc_bits); a code at (or
 * above) the top reads as the top and sets *clipped. The one conversion of
 * QUERY and INFER. */
static uint16_t sense_q15(const struct phyff_core *core, uint16_t code, bool *clipped) {
    const uint16_t top = (uint16_t)((1u << core->caps.adc_bits) - 1u);
    if (code >= top) {
        code = top;
        *clipped = true;
    }
    return (uint16_t)(code << (15u - core->caps.adc_bits));
}

/* Sense step: ADC codes become little-endian Q15 values in place; a code at
 * (or above) the top flags its sample (CORE-K3). */
static void query_sense(struct phyff_core *core, uint16_t *adc, size_t n, uint8_t *bitmap) {
    const uint16_t ns = core->config.n_sense_active;
    for (size_t i = 0; i < n * ns; ++i) {
        bool clipped = false;
        const uint16_t v = sense_q15(core, adc[i], &clipped);
        if (clipped) {
            const size_t s = i / ns;
            bitmap[s / 8u] |= (uint8_t)(1u << (s % 8u));
        }
        phyff_put_u16((uint8_t *)&adc[i], v);
    }
}

static void cmd_query(struct phyff_core *core, const struct phyff_header *req,
                      uint8_t *payload, size_t len) {
    const long checked = query_check(core, req, payload, len);
    if (checked < 0) return;
    const size_t n = (size_t)checked;
    const uint16_t ns = core->config.n_sense_active;

    /* Reply layout: head | n x ns int16 | ceil(n/8) bitmap. */
    uint8_t *out = core->reply.bytes;
    uint8_t *bitmap = out + PHYFF_QUERY_HEAD_SIZE + 2u * n * ns;
    const size_t bitmap_len = (n + 7u) / 8u;
    memset(bitmap, 0, bitmap_len);
    uint16_t *adc = (uint16_t *)(void *)(out + PHYFF_QUERY_HEAD_SIZE);

    const uint16_t *dac = query_drive(core, payload + PHYFF_QUERY_HEAD_SIZE, n, bitmap);
    if (query_measure(core, &core->config, dac, n, adc) != 0) {
        /* Not the request's fault: an ERROR reply, but no bad command. */
        reply_error(core, req->seq, req->cmd, PHYFF_ERR_MEDIUM, 0);
        return;
    }
    query_sense(core, adc, n, bitmap);
    struct phyff_query_head rh = {(uint16_t)n, ns};
    phyff_query_head_pack(&rh, out);
    core->stats.samples_served += (uint32_t)n;
    reply_ok(core, req, out, PHYFF_QUERY_HEAD_SIZE + 2u * n * ns + bitmap_len);
}

static void cmd_stats(struct phyff_core *core, const struct phyff_header *req, size_t len) {
    if (len != 0) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, 0);
        return;
    }
    phyff_stats_pack(&core->stats, core->reply.bytes);
    reply_ok(core, req, core->reply.bytes, PHYFF_STATS_SIZE);
}

static void cmd_reset(struct phyff_core *core, const struct phyff_header *req, size_t len) {
    if (len != 0) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, 0);
        return;
    }
    reply_ok(core, req, NULL, 0);
#if PHYFF_CORE_INFER
    core->load_state = 0; /* a load in progress is dropped; the model stays */
#endif
    default_config(core);
    memset(&core->stats, 0, sizeof core->stats);
    core->uptime_us_frac = 0;
    phyff_core_announce(core); /* wire.h W-E1: state is back to power-up defaults */
}

/* ---- on-device inference (wire.h "On-device inference", model.h) -------- */
#if PHYFF_CORE_INFER

enum { LOAD_IDLE = 0, LOAD_BUSY = 1, LOAD_DONE = 2 };

/* Model slot k in RAM (NULL on a core without model memory: no load ever
 * begins there, MODEL_BEGIN refuses every size). */
static uint8_t *slot(struct phyff_core *core, unsigned k) {
#if PHYFF_CORE_MODEL_BYTES > 0
    return core->model.bytes[k];
#else
    (void)core;
    (void)k;
    return NULL;
#endif
}

/* The compiled-in model in force again, if there is one that passed CORE-K9. */
static void serve_compiled(struct phyff_core *core);

/* W-N1: the idle slot no longer holds statistics (a load began there). */
static void learn_drop_stats(struct phyff_core *core) {
#if PHYFF_CORE_MODEL_BYTES > 0
    core->learn_ready = false;
#else
    (void)core;
#endif
}

/* W-N1: the model in force changed: its statistics are gone. */
static void learn_model_changed(struct phyff_core *core) {
    learn_drop_stats(core);
}

static void model_limits(const struct phyff_core *core, struct phyff_model_limits *lim) {
    lim->unit_id = core->caps.unit_id;
    memcpy(lim->medium, core->caps.medium, PHYFF_NAME_SIZE);
    lim->n_drive = core->caps.n_drive;
    lim->n_sense = core->caps.n_sense;
    lim->max_oversample = core->caps.max_oversample;
    lim->max_settle_us = core->caps.max_settle_us;
    lim->max_classes = (uint16_t)PHYFF_CORE_MAX_CLASSES;
    /* the DAC row of the full wired width shares the scratch */
    lim->work_values = PHYFF_CORE_INFER_WORK > core->caps.n_drive
                           ? PHYFF_CORE_INFER_WORK - core->caps.n_drive : 0u;
}

/* Largest INFER batch whose request and reply fit max_payload. */
static uint16_t infer_max_batch(const struct phyff_model_view *v, bool trace) {
    uint32_t per_reply = 2u + 4u * v->head.n_classes;
    if (trace) per_reply += 2u * v->trace_values;
    return batch_limit(PHYFF_CORE_MAX_PAYLOAD - PHYFF_INFER_HEAD_SIZE,
                       2u * (uint32_t)v->head.n_features, per_reply);
}

static void model_info(const struct phyff_core *core, struct phyff_model_info *info) {
    const struct phyff_model_view *v = &core->view;
    memset(info, 0, sizeof *info);
    info->crc32 = core->model_crc;
    info->image_size = v->size;
    info->train_unit_id = v->head.train_unit_id;
    info->n_features = v->head.n_features;
    info->n_classes = v->head.n_classes;
    info->max_batch = infer_max_batch(v, false);
    info->max_batch_trace = infer_max_batch(v, true);
    info->n_blocks = v->head.n_blocks;
    info->inference = v->head.inference;
    info->input_exp = v->head.input_exp;
    info->score_exp = v->head.score_exp;
    info->trace_values = v->trace_values;
#if PHYFF_CORE_COMPILED_MODEL
    info->origin = core->from_flash ? PHYFF_MODEL_COMPILED : PHYFF_MODEL_LOADED;
#endif
    /* W-N6: the image says whether a board refitted its read-out (model.h M-V4) */
    if (v->head.inference == PHYFF_INFERENCE_ONEPASS && v->readout.refit_samples > 0) {
        info->readout_origin = PHYFF_READOUT_REFIT;
        info->readout_samples = v->readout.refit_samples;
    }
    memcpy(info->name, v->head.name, PHYFF_NAME_SIZE);
    memcpy(info->train_board, v->head.train_board, PHYFF_NAME_SIZE);
    memcpy(info->train_medium, v->head.train_medium, PHYFF_NAME_SIZE);
}

static void reply_model_info(struct phyff_core *core, const struct phyff_header *req) {
    struct phyff_model_info info;
    model_info(core, &info);
    phyff_model_info_pack(&info, core->reply.bytes);
    reply_ok(core, req, core->reply.bytes, PHYFF_MODEL_INFO_SIZE);
}

static void cmd_model_begin(struct phyff_core *core, const struct phyff_header *req,
                            const uint8_t *payload, size_t len) {
    if (len != PHYFF_MODEL_BEGIN_SIZE) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_MODEL_BEGIN_SIZE);
        return;
    }
    struct phyff_model_begin b;
    phyff_model_begin_unpack(payload, &b);
    if (b.image_size == 0 || b.image_size > PHYFF_CORE_MODEL_BYTES) {
        core->load_state = LOAD_IDLE;
        refuse(core, req, PHYFF_ERR_MODEL_TOO_LARGE, sat_u16(PHYFF_CORE_MODEL_BYTES));
        return;
    }
    core->load_state = LOAD_BUSY;
    learn_drop_stats(core); /* W-N1: the chunks overwrite the statistics */
    core->load_size = b.image_size;
    core->load_crc = b.crc32;
    core->load_received = 0;
    phyff_model_begin_pack(&b, core->reply.bytes);
    reply_ok(core, req, core->reply.bytes, PHYFF_MODEL_BEGIN_SIZE);
}

static void cmd_model_chunk(struct phyff_core *core, const struct phyff_header *req,
                            const uint8_t *payload, size_t len) {
    if (len < PHYFF_CHUNK_HEAD_SIZE + 1u) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_CHUNK_HEAD_SIZE + 1u);
        return;
    }
    if (core->load_state != LOAD_BUSY) {
        refuse(core, req, PHYFF_ERR_NO_LOAD, 0);
        return;
    }
    struct phyff_chunk_head c;
    phyff_chunk_head_unpack(payload, &c);
    const uint32_t n = (uint32_t)(len - PHYFF_CHUNK_HEAD_SIZE);
    if (c.offset > core->load_received || (uint64_t)c.offset + n > core->load_size) {
        refuse(core, req, PHYFF_ERR_LOAD_RANGE, sat_u16(core->load_received));
        return;
    }
    memcpy(slot(core, 1u - core->active) + c.offset, payload + PHYFF_CHUNK_HEAD_SIZE, n);
    if (c.offset + n > core->load_received) core->load_received = c.offset + n;
    struct phyff_chunk_head r = {core->load_received};
    phyff_chunk_head_pack(&r, core->reply.bytes);
    reply_ok(core, req, core->reply.bytes, PHYFF_CHUNK_HEAD_SIZE);
}

#if PHYFF_CORE_MODEL_BYTES > 0
/* COMMIT of a complete load: check the staged image and switch to it. Its own
 * function, built only with model memory: the view it checks into is a
 * stack-sized local that a core without model memory (which never has a load
 * to commit) must not pay for on every COMMIT it refuses. */
static void commit_load(struct phyff_core *core, const struct phyff_header *req) {
    core->load_state = LOAD_IDLE; /* whatever happens now, this load is over */
    if (core->load_received != core->load_size) {
        refuse(core, req, PHYFF_ERR_LOAD_RANGE, sat_u16(core->load_received));
        return;
    }
    const uint8_t staging = (uint8_t)(1u - core->active);
    const uint8_t *image = slot(core, staging);
    if (phyff_crc32(0, image, core->load_size) != core->load_crc) {
        refuse(core, req, PHYFF_ERR_MODEL_CRC, 0);
        return;
    }
    struct phyff_model_limits lim;
    model_limits(core, &lim);
    struct phyff_model_view view;
    uint32_t bad = 0;
    const enum phyff_status st = phyff_model_check(image, core->load_size, &lim, &view, &bad);
    if (st == PHYFF_OK && infer_max_batch(&view, false) == 0) {
        refuse(core, req, PHYFF_ERR_BAD_MODEL, 8); /* one sample must fit a frame */
        return;
    }
    if (st != PHYFF_OK) {
        refuse(core, req, st, sat_u16(bad));
        return;
    }
    const struct phyff_port *p = core->port;
    if (p->model_save != NULL && p->model_save(p->ctx, image, core->load_size) != 0) {
        reply_error(core, req->seq, req->cmd, PHYFF_ERR_MEDIUM, 0);
        return;
    }
    core->active = staging;
    core->view = view;
    core->model_crc = core->load_crc;
    core->loaded = true;
    core->load_state = LOAD_DONE;
    learn_model_changed(core); /* W-N1 */
#if PHYFF_CORE_COMPILED_MODEL
    core->from_flash = false;
#endif
    reply_model_info(core, req);
}
#endif

static void cmd_model_commit(struct phyff_core *core, const struct phyff_header *req, size_t len) {
    if (len != 0) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, 0);
        return;
    }
    if (core->load_state == LOAD_DONE && core->loaded) { /* a retried COMMIT (W-C3) */
        reply_model_info(core, req);
        return;
    }
    if (core->load_state != LOAD_BUSY) { /* always, without model memory: no BEGIN succeeds */
        refuse(core, req, PHYFF_ERR_NO_LOAD, 0);
        return;
    }
#if PHYFF_CORE_MODEL_BYTES > 0
    commit_load(core, req);
#endif
}

static void cmd_model_info(struct phyff_core *core, const struct phyff_header *req, size_t len) {
    if (len != 0) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, 0);
        return;
    }
    if (!core->loaded) {
#if PHYFF_CORE_COMPILED_MODEL
        if (core->compiled != NULL && core->compiled_status != PHYFF_OK) { /* CORE-K9 */
            refuse(core, req, (enum phyff_status)core->compiled_status, core->compiled_bad);
            return;
        }
#endif
        refuse(core, req, PHYFF_ERR_NO_MODEL, 0);
        return;
    }
    reply_model_info(core, req);
}

/* MODEL_DESCRIBE (wire.h, level 5): a piece of the description section
 * (model.h M-D1-D2), read byte by byte (M-C1: from flash on AVR). */
static void cmd_model_describe(struct phyff_core *core, const struct phyff_header *req,
                               const uint8_t *payload, size_t len) {
    if (len != PHYFF_DESCRIBE_REQUEST_SIZE) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_DESCRIBE_REQUEST_SIZE);
        return;
    }
    if (!core->loaded) {
        refuse(core, req, PHYFF_ERR_NO_MODEL, 0);
        return;
    }
    struct phyff_describe_request d;
    phyff_describe_request_unpack(payload, &d);
    const struct phyff_model_view *v = &core->view;
    const uint32_t size = phyff_model_describe_size(v);
    if (d.reserved != 0) {
        refuse(core, req, PHYFF_ERR_BAD_CONFIG, 6);
        return;
    }
    if (d.offset > size) {
        refuse(core, req, PHYFF_ERR_BAD_CONFIG, 0);
        return;
    }
    uint32_t n = size - d.offset;
    if (n > d.max_bytes) n = d.max_bytes;
    if (n > PHYFF_CORE_MAX_PAYLOAD - PHYFF_DESCRIBE_REPLY_SIZE) {
        n = PHYFF_CORE_MAX_PAYLOAD - PHYFF_DESCRIBE_REPLY_SIZE;
    }
    const struct phyff_describe_reply r = {size, d.offset};
    phyff_describe_reply_pack(&r, core->reply.bytes);
    const uint32_t from = v->describe_at + d.offset;
    for (uint32_t i = 0; i < n; ++i) {
        core->reply.bytes[PHYFF_DESCRIBE_REPLY_SIZE + i] = phyff_model_byte(v->image, from + i);
    }
    reply_ok(core, req, core->reply.bytes, PHYFF_DESCRIBE_REPLY_SIZE + n);
}

static void cmd_model_erase(struct phyff_core *core, const struct phyff_header *req, size_t len) {
    if (len != 0) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, 0);
        return;
    }
    const struct phyff_port *p = core->port;
    if (p->model_save != NULL && p->model_save(p->ctx, NULL, 0) != 0) {
        reply_error(core, req->seq, req->cmd, PHYFF_ERR_MEDIUM, 0);
        return;
    }
    core->loaded = false;
    core->model_crc = 0;
    core->load_state = LOAD_IDLE;
    memset(&core->view, 0, sizeof core->view);
    learn_model_changed(core); /* W-N1 */
    serve_compiled(core); /* CORE-K9: the compiled-in model, if any, is in force again */
    reply_ok(core, req, NULL, 0);
}

/* Block k of one sample, physical part (model.h M-P3-P4, M-R1-M-R2): encode h,
 * then for each of the block's rows drive its channels from the slot map and
 * read its sense channels into p (row after row) as Q15. Returns -1 for a
 * medium fault, 1 when a sense channel read its top code, else 0. The time
 * in the port is added to *medium_us. */
PHYFF_NODISCARD
static int infer_measure(struct phyff_core *core, unsigned k, const int16_t *h, int16_t *drive,
                         int16_t *p, uint16_t *dac, uint32_t *medium_us) {
    const struct phyff_block_head *b = &core->view.blocks[k];
    phyff_infer_encode(&core->view, k, h, drive);
    const unsigned dac_shift = 15u - core->caps.dac_bits;
    const struct phyff_config cfg = {b->settle_us, b->oversample, b->n_drive, b->n_sense, 0};
    const uint16_t rows = phyff_block_rows(b);
    bool clipped = false;
    for (uint16_t r = 0; r < rows; ++r) {
        for (uint16_t j = 0; j < core->caps.n_drive; ++j) {
            const unsigned code =
                j < b->n_drive
                    ? (unsigned)(uint16_t)drive[phyff_infer_slot(&core->view, k, r, j)] >> dac_shift
                    : 0u;
            dac[j] = (uint16_t)code;
        }
        int16_t *row = p + (uint32_t)r * b->n_sense;
        uint16_t *adc = (uint16_t *)(void *)row;
        const uint32_t t0 = core->port->micros(core->port->ctx);
        const int fault = query_measure(core, &cfg, dac, 1, adc);
        *medium_us += core->port->micros(core->port->ctx) - t0;
        if (fault != 0) return -1;
        for (uint16_t j = 0; j < b->n_sense; ++j) row[j] = (int16_t)sense_q15(core, adc[j], &clipped);
    }
    return clipped ? 1 : 0;
}

/* One pass of one sample through every block (label < 0: neutral overlay).
 * Fills the read-out accumulators (one-pass) or returns the summed goodness
 * in *goodness; appends the sensed values to *trace when it is not NULL.
 * Returns -1 for a medium fault, else 1 when something saturated, else 0. */
PHYFF_NODISCARD
static int infer_pass(struct phyff_core *core, const int16_t *x, int label, int32_t *goodness,
                      uint8_t **trace, uint32_t *medium_us, int16_t *features) {
    const struct phyff_model_view *v = &core->view;
    int16_t *work = core->tx.infer.work; /* CORE-K10 */
    int sat = phyff_infer_layout(v, x, label, work) ? 1 : 0;
    *goodness = 0;
    uint32_t at = 0; /* features: where block k's read-out features go (learn.h RF-A1) */
    for (unsigned k = 0; k < v->head.n_blocks; ++k) {
        const struct phyff_block_head *b = &v->blocks[k];
        const uint32_t sensed = (uint32_t)phyff_block_rows(b) * b->n_sense;
        int16_t *h = work;
        int16_t *y = work + b->d_in;
        int16_t *drive = y + b->d_out;
        int16_t *p = drive + (b->rows == 0 ? b->n_drive : phyff_block_drive_width(b));
        uint16_t *dac = (uint16_t *)(void *)(p + sensed);
        if (b->flags & PHYFF_BLOCK_PHYSICAL) {
            const int r = infer_measure(core, k, h, drive, p, dac, medium_us);
            if (r < 0) return -1;
            sat |= r;
            if (*trace != NULL) {
                phyff_samples_pack(p, (size_t)sensed, *trace);
                *trace += 2u * sensed;
            }
        }
        if (phyff_infer_affine(v, k, p, h, y)) sat = 1;
        if (features != NULL) {
            for (uint16_t j = 0; j < b->d_out; ++j) {
                features[at + j] = phyff_learn_feature(y[j], v->head.readout_abs != 0);
            }
            at += b->d_out;
        } else if (v->head.inference == PHYFF_INFERENCE_ONEPASS) {
            phyff_infer_readout_add(v, k, y, core->tx.infer.class_acc);
        } else {
            *goodness += phyff_infer_goodness(v, k, y);
        }
        memmove(work, y, sizeof(int16_t) * b->d_out); /* y is the next block's h */
    }
    return sat;
}

/* INFER checks, in order (wire.h INFER): payload holds a head, a model is
 * in force, feature count, flags, reserved, batch limit, exact length. Fills
 * *q with the request's head; returns the sample count, or -1 after refusing
 * the request. */
PHYFF_NODISCARD
static long infer_check(struct phyff_core *core, const struct phyff_header *req,
                        const uint8_t *payload, size_t len, struct phyff_infer_head *q) {
    if (len < PHYFF_INFER_HEAD_SIZE) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_INFER_HEAD_SIZE);
        return -1;
    }
    if (!core->loaded) {
        refuse(core, req, PHYFF_ERR_NO_MODEL, 0);
        return -1;
    }
    const struct phyff_model_view *v = &core->view;
    phyff_infer_head_unpack(payload, q);
    if (q->n_values != v->head.n_features) {
        refuse(core, req, PHYFF_ERR_BAD_CHANNELS, v->head.n_features);
        return -1;
    }
    if ((q->flags & (uint16_t)~PHYFF_INFER_TRACE) != 0) {
        refuse(core, req, PHYFF_ERR_BAD_CONFIG, 4);
        return -1;
    }
    if (q->reserved != 0) {
        refuse(core, req, PHYFF_ERR_BAD_CONFIG, 6);
        return -1;
    }
    const uint16_t limit = infer_max_batch(v, (q->flags & PHYFF_INFER_TRACE) != 0);
    if (q->n_samples > limit) {
        refuse(core, req, PHYFF_ERR_BATCH_TOO_LARGE, limit);
        return -1;
    }
    const size_t expect = PHYFF_INFER_HEAD_SIZE + 2u * (size_t)q->n_samples * v->head.n_features;
    if (len != expect) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, (uint16_t)expect);
        return -1;
    }
    return (long)q->n_samples;
}

static void cmd_infer(struct phyff_core *core, const struct phyff_header *req, uint8_t *payload,
                      size_t len) {
    struct phyff_infer_head q;
    const long checked = infer_check(core, req, payload, len, &q);
    if (checked < 0) return;
    const struct phyff_model_view *v = &core->view;
    const bool tracing = (q.flags & PHYFF_INFER_TRACE) != 0;
    const size_t n = (size_t)checked;
    const size_t f = v->head.n_features;
    const uint16_t c = v->head.n_classes;
    uint8_t *out = core->reply.bytes;
    uint8_t *classes = out + PHYFF_INFER_HEAD_SIZE;
    uint8_t *scores = classes + 2u * n;
    uint8_t *trace = scores + 4u * n * c;
    uint8_t *bitmap = trace + (tracing ? 2u * n * v->trace_values : 0u);
    memset(bitmap, 0, (n + 7u) / 8u);
    /* CORE-K10: the sums and scores live in tx until the reply is sent */
    int64_t *class_acc = core->tx.infer.class_acc;
    int32_t *class_scores = core->tx.infer.scores;
    const uint32_t t0 = core->port->micros(core->port->ctx);
    uint32_t medium_us = 0;
    /* Features become native int16 in place (each value's two bytes are read
     * before its slot is written; the payload is 2-byte aligned, see
     * query_drive), so every pass reads them where they arrived. */
    int16_t *features = (int16_t *)(void *)(payload + PHYFF_INFER_HEAD_SIZE);
    for (size_t i = 0; i < n * f; ++i) {
        features[i] = (int16_t)phyff_get_u16(payload + PHYFF_INFER_HEAD_SIZE + 2u * i);
    }
    for (size_t s = 0; s < n; ++s) {
        const int16_t *xs = features + s * f;
        uint8_t *tr = tracing ? trace + 2u * s * v->trace_values : NULL;
        int sat = 0;
        if (v->head.inference == PHYFF_INFERENCE_ONEPASS) {
            memset(class_acc, 0, sizeof(int64_t) * c);
            int32_t unused = 0;
            const int r = infer_pass(core, xs, -1, &unused, &tr, &medium_us, NULL);
            if (r < 0) {
                reply_error(core, req->seq, req->cmd, PHYFF_ERR_MEDIUM, 0);
                return;
            }
            sat = r;
            if (phyff_infer_readout_finish(v, class_acc, class_scores)) sat = 1;
        } else {
            for (uint16_t label = 0; label < c; ++label) {
                const int r = infer_pass(core, xs, (int)label, &class_scores[label], &tr,
                                         &medium_us, NULL);
                if (r < 0) {
                    reply_error(core, req->seq, req->cmd, PHYFF_ERR_MEDIUM, 0);
                    return;
                }
                sat |= r;
            }
        }
        phyff_put_u16(classes + 2u * s, phyff_argmax_s32(class_scores, c));
        for (uint16_t j = 0; j < c; ++j) {
            phyff_put_u32(scores + 4u * (s * c + j), (uint32_t)class_scores[j]);
        }
        if (sat) bitmap[s / 8u] |= (uint8_t)(1u << (s % 8u));
    }
    const uint32_t total_us = core->port->micros(core->port->ctx) - t0;
    core->stats.infer_medium_us += medium_us;
    core->stats.infer_digital_us += total_us - medium_us;
    core->stats.infer_samples += (uint32_t)n;
    struct phyff_infer_head rh = {(uint16_t)n, c, q.flags, 0};
    phyff_infer_head_pack(&rh, out);
    reply_ok(core, req, out, (size_t)(bitmap - out) + (n + 7u) / 8u);
}

/* ---- on-device learning (CORE-K11, wire.h W-N1-N8, learn.h) ------------ */
#if PHYFF_CORE_MODEL_BYTES > 0

/* The statistics: the model slot the model in force does not use (W-N1). */
static int32_t *learn_area(struct phyff_core *core) {
    return (int32_t *)(void *)slot(core, 1u - core->active);
}

/* Most LEARN samples whose request fits max_payload (W-N8), at most the cap. */
static uint16_t learn_max_batch(const struct phyff_model_view *v) {
    const uint32_t per = 2u * (uint32_t)v->head.n_features + 2u;
    const uint32_t n = (PHYFF_CORE_MAX_PAYLOAD - PHYFF_LEARN_HEAD_SIZE) / per;
    return (uint16_t)(n < PHYFF_LEARN_MAX_SAMPLES ? n : PHYFF_LEARN_MAX_SAMPLES);
}

/* The checks LEARN and REFIT share after their payload's (W-N8): a model, a
 * writable read-out, statistics that fit. Returns true after refusing. */
PHYFF_NODISCARD
static bool learn_refused(struct phyff_core *core, const struct phyff_header *req) {
    if (!core->loaded) {
        refuse(core, req, PHYFF_ERR_NO_MODEL, 0);
        return true;
    }
    const struct phyff_model_view *v = &core->view;
    if (v->head.inference != PHYFF_INFERENCE_ONEPASS) {
        refuse(core, req, PHYFF_ERR_NO_READOUT, 0);
        return true;
    }
#if PHYFF_CORE_COMPILED_MODEL
    if (core->from_flash) { /* W-N5: read-only */
        refuse(core, req, PHYFF_ERR_NO_READOUT, 1);
        return true;
    }
#endif
    const uint16_t width = v->readout_width;
    const size_t bytes = phyff_learn_area_size(width, v->head.n_classes);
    if (width > PHYFF_LEARN_MAX_WIDTH || bytes > PHYFF_CORE_MODEL_BYTES ||
        8u * ((size_t)width + 1u) > PHYFF_CORE_MAX_PAYLOAD) { /* CORE-K11 */
        refuse(core, req, PHYFF_ERR_LEARN_TOO_LARGE, sat_u16((uint32_t)bytes));
        return true;
    }
    return false;
}

/* The statistics of the model in force, cleared the first time they are used
 * after the model or the idle slot changed; this ends a load in progress
 * (CORE-K11). */
static int32_t *learn_stats(struct phyff_core *core) {
    int32_t *area = learn_area(core);
    if (core->load_state == LOAD_BUSY) core->load_state = LOAD_IDLE;
    if (!core->learn_ready) {
        phyff_learn_clear(area, core->view.readout_width, core->view.head.n_classes);
        core->learn_ready = true;
    }
    return area;
}

/* LEARN's reply: samples learnt, n_classes, the samples per class. */
static void reply_learn(struct phyff_core *core, const struct phyff_header *req) {
    const struct phyff_model_view *v = &core->view;
    const int32_t *area = learn_stats(core);
    const uint16_t c = v->head.n_classes;
    struct phyff_learn_head rh = {(uint16_t)phyff_learn_samples(area, v->readout_width), c};
    phyff_learn_head_pack(&rh, core->reply.bytes);
    for (uint16_t j = 0; j < c; ++j) {
        phyff_put_u16(core->reply.bytes + PHYFF_LEARN_HEAD_SIZE + 2u * j,
                      phyff_learn_class_samples(area, v->readout_width, c, j));
    }
    reply_ok(core, req, core->reply.bytes, PHYFF_LEARN_HEAD_SIZE + 2u * (size_t)c);
}

static void cmd_learn(struct phyff_core *core, const struct phyff_header *req, uint8_t *payload,
                      size_t len, bool repeat) {
    if (repeat) { /* W-N3: a retry of the LEARN just served */
        reply_learn(core, req);
        core->repeat_cmd = req->cmd;
        core->repeat_seq = req->seq;
        return;
    }
    if (len < PHYFF_LEARN_HEAD_SIZE) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_LEARN_HEAD_SIZE);
        return;
    }
    if (learn_refused(core, req)) return;
    const struct phyff_model_view *v = &core->view;
    struct phyff_learn_head q;
    phyff_learn_head_unpack(payload, &q);
    const size_t f = v->head.n_features;
    const uint16_t c = v->head.n_classes;
    if (q.n_values != f) {
        refuse(core, req, PHYFF_ERR_BAD_CHANNELS, (uint16_t)f);
        return;
    }
    const uint16_t limit = learn_max_batch(v);
    if (q.n_samples > limit) {
        refuse(core, req, PHYFF_ERR_BATCH_TOO_LARGE, limit);
        return;
    }
    const size_t n = q.n_samples;
    const size_t expect = PHYFF_LEARN_HEAD_SIZE + n * (2u * f + 2u);
    if (len != expect) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, sat_u16((uint32_t)expect));
        return;
    }
    const uint8_t *labels = payload + PHYFF_LEARN_HEAD_SIZE + 2u * n * f;
    for (size_t s = 0; s < n; ++s) {
        if (phyff_get_u16(labels + 2u * s) >= c) {
            refuse(core, req, PHYFF_ERR_BAD_LABEL, c);
            return;
        }
    }
    int32_t *area = learn_stats(core);
    const uint16_t width = v->readout_width;
    const uint32_t learnt = phyff_learn_samples(area, width);
    if (learnt + n > PHYFF_LEARN_MAX_SAMPLES) {
        refuse(core, req, PHYFF_ERR_LEARN_FULL, (uint16_t)(PHYFF_LEARN_MAX_SAMPLES - learnt));
        return;
    }
    /* features become native int16 in place, as INFER's (cmd_infer) */
    int16_t *features = (int16_t *)(void *)(payload + PHYFF_LEARN_HEAD_SIZE);
    for (size_t i = 0; i < n * f; ++i) {
        features[i] = (int16_t)phyff_get_u16(payload + PHYFF_LEARN_HEAD_SIZE + 2u * i);
    }
    uint32_t medium_us = 0;
    for (size_t s = 0; s < n; ++s) {
        int32_t unused = 0;
        uint8_t *no_trace = NULL;
        if (infer_pass(core, features + s * f, -1, &unused, &no_trace, &medium_us,
                       core->learn_f) < 0) {
            reply_error(core, req->seq, req->cmd, PHYFF_ERR_MEDIUM, 0); /* W-N2 */
            return;
        }
        /* cannot fail: labels, width and the cap were checked above */
        if (phyff_learn_add(area, width, c, core->learn_f, phyff_get_u16(labels + 2u * s)) !=
            PHYFF_LEARN_OK) {
            reply_error(core, req->seq, req->cmd, PHYFF_ERR_REFIT_OVERFLOW, 0);
            return;
        }
    }
    reply_learn(core, req);
    core->repeat_cmd = req->cmd;
    core->repeat_seq = req->seq;
}

/* REFIT's answer to a status of phyff_learn_refit (W-N8), with its arg. */
static enum phyff_status refit_status(const struct phyff_core *core, enum phyff_learn_status st,
                                      uint8_t lambda_shift, const int32_t *area,
                                      uint16_t *arg) {
    const struct phyff_model_view *v = &core->view;
    *arg = 0;
    switch (st) {
    case PHYFF_LEARN_TOO_FEW: {
        uint16_t j = 0;
        while (j < v->head.n_classes &&
               phyff_learn_class_samples(area, v->readout_width, v->head.n_classes, j) > 0) {
            ++j;
        }
        *arg = j;
        return PHYFF_ERR_TOO_FEW;
    }
    case PHYFF_LEARN_BAD_LAMBDA: {
        int lowest = 0; /* learn.h RF-S1: 53 - 2 e_k - L <= 61 */
        for (unsigned k = 0; k < v->head.n_blocks; ++k) {
            const int need = -8 - 2 * (int)v->blocks[k].out_exp;
            if (need > lowest) lowest = need;
        }
        *arg = (uint16_t)(lambda_shift > PHYFF_LEARN_MAX_LAMBDA_SHIFT
                              ? PHYFF_LEARN_MAX_LAMBDA_SHIFT
                              : (unsigned)lowest);
        return PHYFF_ERR_BAD_LAMBDA;
    }
    case PHYFF_LEARN_SINGULAR:
        return PHYFF_ERR_SINGULAR;
    case PHYFF_LEARN_NO_READOUT:
        return PHYFF_ERR_NO_READOUT;
    case PHYFF_LEARN_TOO_WIDE:
        *arg = sat_u16((uint32_t)phyff_learn_area_size(v->readout_width, v->head.n_classes));
        return PHYFF_ERR_LEARN_TOO_LARGE;
    default: /* OVERFLOW; FULL and BAD_LABEL are LEARN's */
        return PHYFF_ERR_REFIT_OVERFLOW;
    }
}

/* W-N4: the model in force before a refit back from the port's stored copy
 * (the refit changed it in RAM, then could not store it). Returns true when
 * the stored copy is that model; otherwise nothing is in force. */
static bool refit_undo(struct phyff_core *core, uint32_t old_crc) {
    const struct phyff_port *p = core->port;
    uint8_t *image = slot(core, core->active);
    const size_t n = p->model_restore != NULL
                         ? p->model_restore(p->ctx, image, PHYFF_CORE_MODEL_BYTES)
                         : 0u;
    struct phyff_model_limits lim;
    model_limits(core, &lim);
    uint32_t bad = 0;
    if (n > 0 && n <= PHYFF_CORE_MODEL_BYTES && phyff_crc32(0, image, n) == old_crc &&
        phyff_model_check(image, (uint32_t)n, &lim, &core->view, &bad) == PHYFF_OK) {
        return true;
    }
    core->loaded = false; /* the changed image was neither stored nor restorable */
    core->model_crc = 0;
    memset(&core->view, 0, sizeof core->view);
    learn_model_changed(core);
    serve_compiled(core); /* CORE-K9: the compiled-in model, if any, is in force again */
    return false;
}

static void reply_refit(struct phyff_core *core, const struct phyff_header *req) {
    struct phyff_refit_reply r = {core->model_crc, core->view.readout.refit_samples,
                                  core->refit_cond};
    phyff_refit_reply_pack(&r, core->reply.bytes);
    reply_ok(core, req, core->reply.bytes, PHYFF_REFIT_REPLY_SIZE);
    core->repeat_cmd = req->cmd;
    core->repeat_seq = req->seq;
}

static void cmd_refit(struct phyff_core *core, const struct phyff_header *req,
                      const uint8_t *payload, size_t len, bool repeat) {
    if (repeat) { /* W-N3: a retry of the REFIT just served */
        reply_refit(core, req);
        return;
    }
    if (len != PHYFF_REFIT_REQUEST_SIZE) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, PHYFF_REFIT_REQUEST_SIZE);
        return;
    }
    if (learn_refused(core, req)) return;
    const uint16_t requested = phyff_get_u16(payload);
    const uint8_t lambda_shift = (uint8_t)(requested > 255u ? 255u : requested);
    int32_t *area = learn_stats(core);
    uint8_t *image = slot(core, core->active);
    uint8_t cond = 0;
    /* the solve's scratch is the reply buffer (CORE-K11: 8 (F + 1) bytes fit) */
    const enum phyff_learn_status st = phyff_learn_refit(
        area, &core->view, image, lambda_shift, (int32_t *)(void *)core->reply.bytes, &cond);
    if (st != PHYFF_LEARN_OK) {
        uint16_t arg = 0;
        const enum phyff_status wire = refit_status(core, st, lambda_shift, area, &arg);
        refuse(core, req, wire, arg); /* learn.h RF-E1: the read-out is untouched */
        return;
    }
    /* W-N4: the changed image is checked again and its CRC recomputed */
    const uint32_t old_crc = core->model_crc;
    const uint32_t size = core->view.size;
    struct phyff_model_limits lim;
    model_limits(core, &lim);
    uint32_t bad = 0;
    const struct phyff_port *p = core->port;
    if (phyff_model_check(image, size, &lim, &core->view, &bad) != PHYFF_OK) {
        (void)refit_undo(core, old_crc); /* cannot happen: learn.h RF-Q5 keeps M-V1-V6 */
        refuse(core, req, PHYFF_ERR_REFIT_OVERFLOW, 0);
        return;
    }
    if (p->model_save != NULL && p->model_save(p->ctx, image, size) != 0) {
        (void)refit_undo(core, old_crc);
        reply_error(core, req->seq, req->cmd, PHYFF_ERR_MEDIUM, 0);
        return;
    }
    core->model_crc = phyff_crc32(0, image, size);
    core->refit_cond = cond;
    if (core->load_state == LOAD_DONE) core->load_state = LOAD_IDLE; /* COMMIT's retry is over */
    reply_refit(core, req);
}

static void cmd_forget(struct phyff_core *core, const struct phyff_header *req, size_t len) {
    if (len != 0) {
        refuse(core, req, PHYFF_ERR_BAD_PAYLOAD, 0);
        return;
    }
    if (!core->loaded) {
        refuse(core, req, PHYFF_ERR_NO_MODEL, 0);
        return;
    }
    learn_drop_stats(core); /* cleared the next time they are used */
    reply_ok(core, req, NULL, 0);
}

#endif /* PHYFF_CORE_MODEL_BYTES > 0 */

/* A model the port kept across a power cycle, if it passes the checks COMMIT
 * makes (model.h M-V1-V6, one sample per frame). */
static void restore_model(struct phyff_core *core) {
    const struct phyff_port *p = core->port;
    if (p->model_restore == NULL || PHYFF_CORE_MODEL_BYTES == 0) return;
    const size_t n = p->model_restore(p->ctx, slot(core, 0), PHYFF_CORE_MODEL_BYTES);
    if (n == 0 || n > PHYFF_CORE_MODEL_BYTES) return;
    struct phyff_model_limits lim;
    model_limits(core, &lim);
    uint32_t bad = 0;
    if (phyff_model_check(slot(core, 0), (uint32_t)n, &lim, &core->view, &bad) != PHYFF_OK ||
        infer_max_batch(&core->view, false) == 0) { /* the checks COMMIT makes */
        memset(&core->view, 0, sizeof core->view);
        return;
    }
    core->active = 0;
    core->loaded = true;
    core->model_crc = phyff_crc32(0, slot(core, 0), n);
}

/* Advertise on-device inference and its limits (wire.h level 4). */
static void advertise_infer(struct phyff_core *core) {
    struct phyff_model_limits lim;
    model_limits(core, &lim);
    core->caps.features |= PHYFF_FEAT_INFER;
    core->caps.max_classes = lim.max_classes;
    core->caps.infer_work = (uint16_t)lim.work_values;
}

/* ---- a model compiled into the firmware (CORE-K9, model.h M-C1-C2) ------- */

static void serve_compiled(struct phyff_core *core) {
#if PHYFF_CORE_COMPILED_MODEL
    core->from_flash = false;
    if (core->compiled == NULL || core->compiled_status != PHYFF_OK) return;
    struct phyff_model_limits lim;
    model_limits(core, &lim);
    uint32_t bad = 0;
    if (phyff_model_check(core->compiled, core->compiled_size, &lim, &core->view, &bad) !=
        PHYFF_OK) {
        memset(&core->view, 0, sizeof core->view);
        return; /* cannot happen: it passed once, and the limits do not change */
    }
    core->loaded = true;
    core->model_crc = core->compiled_crc;
    core->from_flash = true;
#else
    (void)core;
#endif
}

#if PHYFF_CORE_COMPILED_MODEL
enum phyff_status phyff_core_use_compiled_model(struct phyff_core *core, const uint8_t *image,
                                                uint32_t size) {
    advertise_infer(core);
    core->compiled = image;
    core->compiled_size = size;
    uint32_t crc = 0;
    for (uint32_t i = 0; image != NULL && i < size; ++i) {
        const uint8_t b = phyff_model_byte(image, i); /* M-C1: flash on AVR */
        crc = phyff_crc32(crc, &b, 1);
    }
    core->compiled_crc = crc;
    struct phyff_model_limits lim;
    model_limits(core, &lim);
    uint32_t bad = 0;
    enum phyff_status st = PHYFF_ERR_BAD_MODEL;
    if (image != NULL) {
        /* checked into the view in force (a small board's stack cannot hold a
         * second view); a restored model's view is rebuilt afterwards */
        const uint8_t *restored = core->loaded ? core->view.image : NULL;
        const uint32_t restored_size = core->view.size;
        st = phyff_model_check(image, size, &lim, &core->view, &bad);
        if (st == PHYFF_OK && infer_max_batch(&core->view, false) == 0) {
            st = PHYFF_ERR_BAD_MODEL; /* one sample must fit a frame (as COMMIT) */
            bad = 8;
        }
        uint32_t unused = 0;
        if (restored != NULL &&
            phyff_model_check(restored, restored_size, &lim, &core->view, &unused) != PHYFF_OK) {
            core->loaded = false; /* cannot happen: it passed at restore, same limits */
            memset(&core->view, 0, sizeof core->view);
        } else if (restored == NULL && st != PHYFF_OK) {
            memset(&core->view, 0, sizeof core->view);
        }
    }
    core->compiled_status = (uint16_t)st;
    core->compiled_bad = sat_u16(bad);
    if (st == PHYFF_OK && !core->loaded) serve_compiled(core);
    core->caps.model_loaded = core->loaded ? 1u : 0u;
    core->caps.model_crc = core->loaded ? core->model_crc : 0u;
    return st;
}
#endif

#endif /* PHYFF_CORE_INFER */

/* ---- frames ------------------------------------------------------------ */

static void handle_frame(struct phyff_core *core) {
    struct phyff_header h;
    const uint8_t *payload = NULL;
    size_t len = 0;
    tick(core);
    const enum phyff_status st = phyff_frame_decode(core->rx.bytes, core->rx_len,
                                                    PHYFF_CORE_MAX_PAYLOAD, &h, &payload, &len);
    if (st != PHYFF_OK) {
        refuse_frame(core, st);
        return;
    }
    core->stats.frames_ok++; /* intact: its reply carries its seq (W-S1) */
#if PHYFF_CORE_MODEL_BYTES > 0
    /* W-N3: a LEARN or REFIT repeating the request that succeeded just before */
    const bool repeat = core->repeat_cmd != 0 && core->repeat_cmd == h.cmd &&
                        core->repeat_seq == h.seq;
    core->repeat_cmd = 0;
#endif
    if (h.flags & (PHYFF_FLAG_REPLY | PHYFF_FLAG_EVENT)) {
        refuse(core, &h, PHYFF_ERR_NOT_A_REQUEST, 0);
        return;
    }
    if (phyff_check_level(&h) != PHYFF_OK) {
        refuse(core, &h, PHYFF_ERR_BAD_LEVEL, PHYFF_PROTOCOL_LEVEL);
        return;
    }
    /* The payload is inside rx and may be rewritten in place (QUERY). */
    uint8_t *body = core->rx.bytes + PHYFF_HEADER_SIZE;
#if PHYFF_CORE_INFER
    if (h.cmd >= PHYFF_CMD_MODEL_BEGIN && h.cmd <= PHYFF_CMD_MODEL_DESCRIBE &&
        !(core->caps.features & PHYFF_FEAT_INFER)) { /* CORE-K9: none in memory or compiled */
        refuse(core, &h, PHYFF_ERR_UNKNOWN_COMMAND, 0);
        return;
    }
#endif
    switch (h.cmd) {
    case PHYFF_CMD_HELLO:
        cmd_hello(core, &h); /* any payload is ignored (wire.h HELLO) */
        return;
    case PHYFF_CMD_CONFIGURE:
        cmd_configure(core, &h, body, len);
        return;
    case PHYFF_CMD_QUERY:
        cmd_query(core, &h, body, len);
        return;
    case PHYFF_CMD_STATS:
        cmd_stats(core, &h, len);
        return;
    case PHYFF_CMD_RESET:
        cmd_reset(core, &h, len);
        return;
#if PHYFF_CORE_INFER
    case PHYFF_CMD_MODEL_BEGIN:
        cmd_model_begin(core, &h, body, len);
        return;
    case PHYFF_CMD_MODEL_CHUNK:
        cmd_model_chunk(core, &h, body, len);
        return;
    case PHYFF_CMD_MODEL_COMMIT:
        cmd_model_commit(core, &h, len);
        return;
    case PHYFF_CMD_MODEL_INFO:
        cmd_model_info(core, &h, len);
        return;
    case PHYFF_CMD_INFER:
        cmd_infer(core, &h, body, len);
        return;
    case PHYFF_CMD_MODEL_ERASE:
        cmd_model_erase(core, &h, len);
        return;
    case PHYFF_CMD_MODEL_DESCRIBE:
        cmd_model_describe(core, &h, body, len);
        return;
#endif
#if PHYFF_CORE_MODEL_BYTES > 0
    case PHYFF_CMD_LEARN:
        cmd_learn(core, &h, body, len, repeat);
        return;
    case PHYFF_CMD_REFIT:
        cmd_refit(core, &h, body, len, repeat);
        return;
    case PHYFF_CMD_FORGET:
        cmd_forget(core, &h, len);
        return;
#endif
    default:
        refuse(core, &h, PHYFF_ERR_UNKNOWN_COMMAND, 0);
        return;
    }
}

void phyff_core_receive(struct phyff_core *core, const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const uint8_t b = data[i];
        if (b != 0) {
            if (core->rx_dropping) continue;
            if (core->rx_len == sizeof core->rx.bytes) {
                core->rx_dropping = true; /* CORE-K2: drop to the delimiter */
                continue;
            }
            core->rx.bytes[core->rx_len++] = b;
            continue;
        }
        /* delimiter */
        if (core->rx_dropping) {
            tick(core);
            refuse_frame(core, PHYFF_ERR_TOO_LONG);
        } else if (core->rx_len != 0) {
            handle_frame(core);
        } /* else: empty frame, ignored (wire.h W-C5) */
        core->rx_len = 0;
        core->rx_dropping = false;
    }
}

void phyff_core_note_overrun(struct phyff_core *core) {
    core->stats.overruns++;
}

void phyff_core_announce(struct phyff_core *core) {
    struct phyff_event ev = {PHYFF_EVENT_RESET, PHYFF_PROTOCOL_LEVEL};
    uint8_t buf[PHYFF_EVENT_SIZE];
    phyff_event_pack(&ev, buf);
    send_frame(core, 0, PHYFF_CMD_EVENT, PHYFF_FLAG_EVENT, buf, sizeof buf);
}

enum phyff_status phyff_core_init(struct phyff_core *core, const struct phyff_port *port,
                                  const struct phyff_board_desc *desc) {
    memset(core, 0, sizeof *core);
    if (port == NULL || desc == NULL || port->link_write == NULL || port->micros == NULL ||
        port->delay_us == NULL ||
        (port->measure_batch == NULL && (port->drive == NULL || port->sense == NULL))) {
        return PHYFF_ERR_BAD_CONFIG;
    }
    if (desc->n_drive < 1 || desc->n_sense < 1 || desc->n_sense > PHYFF_CORE_MAX_CHANNELS ||
        desc->dac_bits < 1 || desc->dac_bits > 15 || desc->adc_bits < 1 ||
        desc->adc_bits > 15 || desc->max_oversample < 1) {
        return PHYFF_ERR_BAD_CONFIG;
    }
    const uint16_t max_batch = phyff_core_max_batch(desc->n_drive, desc->n_sense);
    if (max_batch < 1) return PHYFF_ERR_BAD_CONFIG; /* one sample must fit a frame */
    core->port = port;
    core->caps.level = PHYFF_PROTOCOL_LEVEL;
    core->caps.features = (uint16_t)(desc->features | PHYFF_FEAT_SATURATION_FLAGS);
    core->caps.firmware_version = PHYFF_FIRMWARE_VERSION;
    core->caps.unit_id = desc->unit_id;
    core->caps.max_batch = max_batch;
    core->caps.max_payload = (uint16_t)PHYFF_CORE_MAX_PAYLOAD;
    core->caps.n_drive = desc->n_drive;
    core->caps.n_sense = desc->n_sense;
    core->caps.dac_bits = desc->dac_bits;
    core->caps.adc_bits = desc->adc_bits;
    core->caps.max_oversample = desc->max_oversample;
    core->caps.max_settle_us = (desc->features & PHYFF_FEAT_SETTLE) ? PHYFF_CORE_MAX_SETTLE_US : 0u;
    copy_name(core->caps.board, desc->board);
    copy_name(core->caps.medium, desc->medium);
#if PHYFF_CORE_INFER
    core->caps.model_capacity = PHYFF_CORE_MODEL_BYTES;
    if (PHYFF_CORE_MODEL_BYTES > 0) { /* a compiled-in model advertises it later (CORE-K9) */
        advertise_infer(core);
        core->caps.features |= PHYFF_FEAT_LEARN; /* CORE-K11 */
        if (port->model_save != NULL) core->caps.features |= PHYFF_FEAT_MODEL_PERSIST;
        restore_model(core);
    }
#endif
    default_config(core);
    core->last_us = port->micros(port->ctx);
    return PHYFF_OK;
}
