/*
 * model.c - the on-device model of phyff/model.h: image records, the checks
 * M-V1-V6 (with the description section's M-D1-D3) and the integer pipeline
 * M-P1-P7. No floating point, no allocation.
 */
#include "phyff/model.h"

#include <string.h>

#include "phyff/fixed.h"

/* ---- image bytes (model.h M-C1) ---------------------------------------- */

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define IMG_BYTE(p) ((uint8_t)pgm_read_byte(p)) /* AVR: images live in program memory */
#else
#define IMG_BYTE(p) (*(const uint8_t *)(p))
#endif

uint8_t phyff_model_byte(const uint8_t *image, uint32_t at) {
    return IMG_BYTE(image + at);
}

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(IMG_BYTE(p) | (uint16_t)IMG_BYTE(p + 1) << 8);
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static void rd_name(char dst[PHYFF_NAME_SIZE], const uint8_t *src) {
    for (size_t i = 0; i < PHYFF_NAME_SIZE; ++i) dst[i] = (char)IMG_BYTE(src + i);
}

/* ---- records ---------------------------------------------------------- */

void phyff_model_head_pack(const struct phyff_model_head *h, uint8_t out[PHYFF_MODEL_HEAD_SIZE]) {
    phyff_put_u32(out, h->magic);
    phyff_put_u16(out + 4, h->version);
    out[6] = h->n_blocks;
    out[7] = h->inference;
    phyff_put_u16(out + 8, h->n_features);
    phyff_put_u16(out + 10, h->n_classes);
    phyff_put_u16(out + 12, h->width);
    phyff_put_u16(out + 14, h->feature_offset);
    phyff_put_u32(out + 16, h->train_unit_id);
    out[20] = (uint8_t)h->input_exp;
    out[21] = (uint8_t)h->score_exp;
    out[22] = h->overlay;
    out[23] = h->readout_abs;
    memcpy(out + 24, h->name, PHYFF_NAME_SIZE);
    memcpy(out + 40, h->train_board, PHYFF_NAME_SIZE);
    memcpy(out + 56, h->train_medium, PHYFF_NAME_SIZE);
}

void phyff_model_head_unpack(const uint8_t in[PHYFF_MODEL_HEAD_SIZE], struct phyff_model_head *h) {
    h->magic = rd32(in);
    h->version = rd16(in + 4);
    h->n_blocks = IMG_BYTE(in + 6);
    h->inference = IMG_BYTE(in + 7);
    h->n_features = rd16(in + 8);
    h->n_classes = rd16(in + 10);
    h->width = rd16(in + 12);
    h->feature_offset = rd16(in + 14);
    h->train_unit_id = rd32(in + 16);
    h->input_exp = (int8_t)IMG_BYTE(in + 20);
    h->score_exp = (int8_t)IMG_BYTE(in + 21);
    h->overlay = IMG_BYTE(in + 22);
    h->readout_abs = IMG_BYTE(in + 23);
    rd_name(h->name, in + 24);
    rd_name(h->train_board, in + 40);
    rd_name(h->train_medium, in + 56);
}

void phyff_block_head_pack(const struct phyff_block_head *b, uint8_t out[PHYFF_BLOCK_HEAD_SIZE]) {
    out[0] = b->encoder;
    out[1] = b->flags;
    phyff_put_u16(out + 2, b->d_in);
    phyff_put_u16(out + 4, b->n_drive);
    phyff_put_u16(out + 6, b->n_sense);
    phyff_put_u16(out + 8, b->d_out);
    out[10] = (uint8_t)b->in_exp;
    out[11] = (uint8_t)b->out_exp;
    out[12] = b->shift_p;
    out[13] = b->shift_h;
    out[14] = b->shift_b;
    out[15] = b->shift_out;
    phyff_put_u32(out + 16, b->settle_us);
    phyff_put_u16(out + 20, b->oversample);
    out[22] = b->readout_shift;
    out[23] = b->rows;
}

void phyff_block_head_unpack(const uint8_t in[PHYFF_BLOCK_HEAD_SIZE], struct phyff_block_head *b) {
    b->encoder = IMG_BYTE(in + 0);
    b->flags = IMG_BYTE(in + 1);
    b->d_in = rd16(in + 2);
    b->n_drive = rd16(in + 4);
    b->n_sense = rd16(in + 6);
    b->d_out = rd16(in + 8);
    b->in_exp = (int8_t)IMG_BYTE(in + 10);
    b->out_exp = (int8_t)IMG_BYTE(in + 11);
    b->shift_p = IMG_BYTE(in + 12);
    b->shift_h = IMG_BYTE(in + 13);
    b->shift_b = IMG_BYTE(in + 14);
    b->shift_out = IMG_BYTE(in + 15);
    b->settle_us = rd32(in + 16);
    b->oversample = rd16(in + 20);
    b->readout_shift = IMG_BYTE(in + 22);
    b->rows = IMG_BYTE(in + 23);
}

void phyff_readout_head_pack(const struct phyff_readout_head *r,
                             uint8_t out[PHYFF_READOUT_HEAD_SIZE]) {
    phyff_put_u16(out, r->n_in);
    phyff_put_u16(out + 2, r->n_classes);
    out[4] = r->shift_b;
    out[5] = r->shift_out;
    phyff_put_u16(out + 6, r->refit_samples);
}

void phyff_readout_head_unpack(const uint8_t in[PHYFF_READOUT_HEAD_SIZE],
                               struct phyff_readout_head *r) {
    r->n_in = rd16(in);
    r->n_classes = rd16(in + 2);
    r->shift_b = IMG_BYTE(in + 4);
    r->shift_out = IMG_BYTE(in + 5);
    r->refit_samples = rd16(in + 6);
}

void phyff_code_head_pack(const struct phyff_code_head *c, uint8_t out[PHYFF_CODE_HEAD_SIZE]) {
    phyff_put_u16(out, c->gain_q8);
    phyff_put_u16(out + 2, c->reserved);
}

void phyff_code_head_unpack(const uint8_t in[PHYFF_CODE_HEAD_SIZE], struct phyff_code_head *c) {
    c->gain_q8 = rd16(in);
    c->reserved = rd16(in + 2);
}

void phyff_describe_head_pack(const struct phyff_describe_head *d,
                              uint8_t out[PHYFF_DESCRIBE_HEAD_SIZE]) {
    phyff_put_u32(out, d->magic);
    phyff_put_u32(out + 4, d->length);
    phyff_put_u16(out + 8, d->n_features);
    phyff_put_u16(out + 10, d->n_classes);
    out[12] = d->flags;
    out[13] = d->reserved;
    phyff_put_u16(out + 14, d->range_q8);
}

void phyff_describe_head_unpack(const uint8_t in[PHYFF_DESCRIBE_HEAD_SIZE],
                                struct phyff_describe_head *d) {
    d->magic = rd32(in);
    d->length = rd32(in + 4);
    d->n_features = rd16(in + 8);
    d->n_classes = rd16(in + 10);
    d->flags = IMG_BYTE(in + 12);
    d->reserved = IMG_BYTE(in + 13);
    d->range_q8 = rd16(in + 14);
}

/* ---- checks ----------------------------------------------------------- */

#define SHIFT_SEGMENT_MAX 16u
#define SHIFT_BIAS_MAX 40u
#define SHIFT_OUT_MAX 62u
#define EXP_LIMIT 32

static bool exp_ok(int8_t e) {
    return e >= -EXP_LIMIT && e <= EXP_LIMIT;
}

static uint16_t drive_width(uint8_t encoder, uint16_t d_in) {
    const bool two = encoder == PHYFF_ENC_BINARY2 || encoder == PHYFF_ENC_BINARY2_UNIFORM;
    return (uint16_t)(two ? 2u * d_in : d_in);
}

uint16_t phyff_block_rows(const struct phyff_block_head *b) {
    return b->rows == 0 ? 1u : b->rows;
}

uint16_t phyff_block_drive_width(const struct phyff_block_head *b) {
    return drive_width(b->encoder, b->d_in);
}

/* Sensed values of one pass through the block (M-R3). */
static uint32_t sensed_width(const struct phyff_block_head *b) {
    return (uint32_t)phyff_block_rows(b) * b->n_sense;
}

static uint32_t z_width(const struct phyff_block_head *b) {
    uint32_t z = 0;
    if (b->flags & PHYFF_BLOCK_PHYSICAL) z += sensed_width(b);
    if (b->flags & PHYFF_BLOCK_SKIP) z += b->d_in;
    return z;
}

/* Scratch of one block: h in, drive, p, y out (int16 values; M-R3). */
static uint32_t block_work(const struct phyff_block_head *b) {
    const uint32_t drive = b->rows == 0 ? b->n_drive : drive_width(b->encoder, b->d_in);
    return (uint32_t)b->d_in + drive + sensed_width(b) + b->d_out;
}

uint32_t phyff_model_work_values(const struct phyff_model_view *view) {
    uint32_t need = view->head.width;
    for (unsigned k = 0; k < view->head.n_blocks; ++k) {
        const uint32_t w = block_work(&view->blocks[k]);
        if (w > need) need = w;
    }
    return need;
}

#define REFUSE(off) \
    do { \
        *bad_offset = (uint32_t)(off); \
        return PHYFF_ERR_BAD_MODEL; \
    } while (0)

PHYFF_NODISCARD
static enum phyff_status check_block(const struct phyff_block_head *b, uint32_t at,
                                     uint16_t d_in, int8_t in_exp,
                                     const struct phyff_model_limits *lim, uint32_t *bad_offset) {
    if (b->encoder > PHYFF_ENC_CLIP) REFUSE(at + 0);
    if ((b->flags & ~(PHYFF_BLOCK_PHYSICAL | PHYFF_BLOCK_SKIP)) != 0 || b->flags == 0) {
        REFUSE(at + 1);
    }
    /* the scratch rule is reported at d_in, so it is checked with it (first
     * refused field in image order, even when a later field is also bad) */
    if (b->d_in != d_in || d_in == 0 || block_work(b) > lim->work_values) REFUSE(at + 2);
    const bool physical = (b->flags & PHYFF_BLOCK_PHYSICAL) != 0;
    if ((b->rows == 0 && b->n_drive != drive_width(b->encoder, b->d_in)) ||
        (b->rows != 0 && b->n_drive < 1) || (physical && b->n_drive > lim->n_drive)) {
        REFUSE(at + 4);
    }
    if (physical && (b->n_sense < 1 || b->n_sense > lim->n_sense)) REFUSE(at + 6);
    if (b->d_out < 1) REFUSE(at + 8);
    if (b->in_exp != in_exp) REFUSE(at + 10);
    if (!exp_ok(b->out_exp)) REFUSE(at + 11);
    if (b->shift_p > SHIFT_SEGMENT_MAX) REFUSE(at + 12);
    if (b->shift_h > SHIFT_SEGMENT_MAX) REFUSE(at + 13);
    if (b->shift_b > SHIFT_BIAS_MAX) REFUSE(at + 14);
    if (b->shift_out > SHIFT_OUT_MAX) REFUSE(at + 15);
    if (physical && b->settle_us > lim->max_settle_us) REFUSE(at + 16);
    if (physical && (b->oversample < 1 || b->oversample > lim->max_oversample)) REFUSE(at + 20);
    if (b->readout_shift > SHIFT_SEGMENT_MAX) REFUSE(at + 22);
    if (b->rows > PHYFF_MODEL_MAX_ROWS || (b->rows != 0 && !physical)) REFUSE(at + 23);
    return PHYFF_OK;
}

/* M-D1-D3: the description section image[at..size), the layout having ended at
 * `at` != size. Its structure only: the board never uses its contents. */
PHYFF_NODISCARD
static enum phyff_status check_describe(const uint8_t *image, uint32_t at, uint32_t size,
                                        const struct phyff_model_head *h, uint32_t *bad_offset) {
    if (at > size) REFUSE(size); /* the layout itself runs past the end (M-V5) */
    const uint32_t rest = size - at;
    if (rest < 4u || rd32(image + at) != PHYFF_DESCRIBE_MAGIC) REFUSE(size); /* M-D1: M-V5 */
    if (rest < PHYFF_DESCRIBE_HEAD_SIZE) REFUSE(size);
    struct phyff_describe_head d;
    phyff_describe_head_unpack(image + at, &d);
    if (d.length != rest) REFUSE(at + 4);
    if (d.n_features != h->n_features) REFUSE(at + 8);
    if (d.n_classes != h->n_classes) REFUSE(at + 10);
    if ((d.flags & ~(PHYFF_DESCRIBE_CLIP | PHYFF_DESCRIBE_FEATURE_NAMES)) != 0) REFUSE(at + 12);
    if (d.reserved != 0) REFUSE(at + 13);
    uint32_t p = at + PHYFF_DESCRIBE_HEAD_SIZE;
    if ((uint64_t)p + 8u * (uint64_t)d.n_features > size) REFUSE(size);
    p += 8u * (uint32_t)d.n_features;
    uint32_t names = d.n_classes;
    if (d.flags & PHYFF_DESCRIBE_FEATURE_NAMES) names += d.n_features;
    for (uint32_t i = 0; i < names; ++i) {
        const uint32_t start = p;
        while (p < size && IMG_BYTE(image + p) != 0) ++p;
        if (p == size) REFUSE(start);
        ++p; /* past its 0x00 */
    }
    if (p != size) REFUSE(p);
    return PHYFF_OK;
}

/* M-R1: every slot of block b's map (at `at`, R x n_drive uint16) < W. */
static enum phyff_status check_slots(const struct phyff_block_head *b, const uint8_t *image,
                                     uint32_t at, uint32_t *bad_offset) {
    const uint32_t n = (uint32_t)b->rows * b->n_drive;
    const uint16_t w = drive_width(b->encoder, b->d_in);
    for (uint32_t i = 0; i < n; ++i) {
        if (rd16(image + at + 2u * i) >= w) REFUSE(at + 2u * i);
    }
    return PHYFF_OK;
}

enum phyff_status phyff_model_check(const uint8_t *image, uint32_t size,
                                    const struct phyff_model_limits *lim,
                                    struct phyff_model_view *view, uint32_t *bad_offset) {
    memset(view, 0, sizeof *view);
    *bad_offset = 0;
    if (size < PHYFF_MODEL_HEAD_SIZE) REFUSE(size);
    struct phyff_model_head *h = &view->head;
    phyff_model_head_unpack(image, h);
    if (h->magic != PHYFF_MODEL_MAGIC) REFUSE(0);
    if (h->version != PHYFF_MODEL_VERSION) REFUSE(4);
    if (h->n_blocks < 1 || h->n_blocks > PHYFF_MODEL_MAX_BLOCKS) REFUSE(6);
    if (h->inference > PHYFF_INFERENCE_GOODNESS) REFUSE(7);
    if (h->n_features < 1) REFUSE(8);
    if (h->n_classes < 2 || h->n_classes > lim->max_classes) REFUSE(10);
    const bool coded = h->overlay == PHYFF_OVERLAY_CODE;
    const uint32_t slots = coded ? 0u : h->n_classes;
    if (h->width < slots + h->n_features || h->width > lim->work_values) REFUSE(12);
    if (h->feature_offset < slots || (uint32_t)h->feature_offset + h->n_features > h->width) {
        REFUSE(14);
    }
    if (!exp_ok(h->input_exp)) REFUSE(20);
    if (!exp_ok(h->score_exp)) REFUSE(21);
    if (h->overlay > PHYFF_OVERLAY_CODE) REFUSE(22);
    if (h->readout_abs > 1) REFUSE(23);

    uint32_t at = PHYFF_MODEL_HEAD_SIZE;
    uint16_t d_in = h->width;
    int8_t in_exp = h->input_exp;
    uint32_t trace = 0;
    uint32_t readout_width = 0;
    for (unsigned k = 0; k < h->n_blocks; ++k) {
        if ((uint64_t)at + PHYFF_BLOCK_HEAD_SIZE > size) REFUSE(size);
        struct phyff_block_head *b = &view->blocks[k];
        phyff_block_head_unpack(image + at, b);
        const enum phyff_status st = check_block(b, at, d_in, in_exp, lim, bad_offset);
        if (st != PHYFF_OK) return st;
        if (b->flags & PHYFF_BLOCK_PHYSICAL) trace += sensed_width(b);
        readout_width += b->d_out;
        view->block_at[k] = at + PHYFF_BLOCK_HEAD_SIZE;
        at += PHYFF_BLOCK_HEAD_SIZE + 2u * ((uint32_t)b->d_out * z_width(b) + 2u * b->d_out);
        if (b->rows != 0) {
            const uint32_t n = (uint32_t)b->rows * b->n_drive;
            if ((uint64_t)at + 2u * n > size) REFUSE(size);
            const enum phyff_status sst = check_slots(b, image, at, bad_offset);
            if (sst != PHYFF_OK) return sst;
            view->slots_at[k] = at;
            at += 2u * n;
        }
        d_in = b->d_out;
        in_exp = b->out_exp;
    }
    if (h->inference == PHYFF_INFERENCE_ONEPASS) {
        if ((uint64_t)at + PHYFF_READOUT_HEAD_SIZE > size) REFUSE(size);
        phyff_readout_head_unpack(image + at, &view->readout);
        if (view->readout.n_in != readout_width) REFUSE(at + 0);
        if (view->readout.n_classes != h->n_classes) REFUSE(at + 2);
        if (view->readout.shift_b > SHIFT_BIAS_MAX) REFUSE(at + 4);
        if (view->readout.shift_out > SHIFT_OUT_MAX) REFUSE(at + 5);
        if (view->readout.refit_samples > PHYFF_MODEL_MAX_REFIT_SAMPLES) REFUSE(at + 6);
        view->readout_at = at + PHYFF_READOUT_HEAD_SIZE;
        at += PHYFF_READOUT_HEAD_SIZE + 2u * ((uint32_t)h->n_classes * readout_width + h->n_classes);
    } else {
        trace *= h->n_classes;
    }
    if (coded) {
        if ((uint64_t)at + PHYFF_CODE_HEAD_SIZE > size) REFUSE(size);
        phyff_code_head_unpack(image + at, &view->code);
        if (view->code.gain_q8 > PHYFF_CODE_GAIN_MAX) REFUSE(at + 0);
        if (view->code.reserved != 0) REFUSE(at + 2);
        at += PHYFF_CODE_HEAD_SIZE;
        const uint32_t n = (uint32_t)h->n_classes * h->n_features;
        if ((uint64_t)at + n > size) REFUSE(size);
        for (uint32_t i = 0; i < n; ++i) {
            const int8_t c = (int8_t)IMG_BYTE(image + at + i);
            if (c != 1 && c != -1) REFUSE(at + i);
        }
        view->code_at = at;
        at += n;
    }
    if (at != size) { /* M-D1: a description section, or a size fault (M-V5) */
        const enum phyff_status dst = check_describe(image, at, size, h, bad_offset);
        if (dst != PHYFF_OK) return dst;
        view->describe_at = at;
    }
    if (trace > 0xFFFFu) REFUSE(6);
    view->trace_values = (uint16_t)trace;
    view->readout_width = (uint16_t)readout_width;
    if (h->train_unit_id != lim->unit_id) {
        *bad_offset = 16;
        return PHYFF_ERR_WRONG_BOARD;
    }
    if (memcmp(h->train_medium, lim->medium, PHYFF_NAME_SIZE) != 0) {
        *bad_offset = 56;
        return PHYFF_ERR_WRONG_BOARD;
    }
    view->image = image;
    view->size = size;
    return PHYFF_OK;
}

/* ---- pipeline --------------------------------------------------------- */

static int16_t weight(const struct phyff_model_view *v, uint32_t at) {
    return (int16_t)rd16(v->image + at);
}

static int32_t abs16(int16_t x) {
    return x < 0 ? -(int32_t)x : (int32_t)x;
}

/* x * 2^s exactly (s <= 40, |x| small enough by the M-V3/M-V4 limits). */
static int64_t scale_up(int64_t x, unsigned s) {
    return x * ((int64_t)1 << s);
}

static int64_t round_shift(int64_t acc, unsigned s) {
    return s == 0u ? acc : phyff_round_shift_s64(acc, s);
}

static int64_t div_round(int64_t n, int64_t d);

uint16_t phyff_infer_slot(const struct phyff_model_view *view, unsigned k, uint16_t r,
                          uint16_t j) {
    const struct phyff_block_head *b = &view->blocks[k];
    if (b->rows == 0) return j;
    return rd16(view->image + view->slots_at[k] + 2u * ((uint32_t)r * b->n_drive + j));
}

bool phyff_infer_layout(const struct phyff_model_view *view, const int16_t *x, int label,
                        int16_t *h) {
    const struct phyff_model_head *hd = &view->head;
    memset(h, 0, sizeof(int16_t) * hd->width);
    int32_t top = 0;
    for (uint16_t j = 0; j < hd->n_features; ++j) {
        h[hd->feature_offset + j] = x[j];
        const int32_t a = abs16(x[j]);
        if (a > top) top = a;
    }
    bool sat = top > INT16_MAX;
    if (sat) top = INT16_MAX;
    if (hd->overlay == PHYFF_OVERLAY_CODE) {
        const int64_t c = hd->n_classes;
        const int64_t scaled = (int64_t)top * view->code.gain_q8; /* v x gain_q8 */
        const int64_t a = (scaled + 128) >> 8;
        for (uint16_t j = 0; j < hd->n_features; ++j) {
            int64_t add;
            if (label < 0) {
                int64_t s = 0;
                for (uint16_t k = 0; k < hd->n_classes; ++k) {
                    s += (int8_t)IMG_BYTE(view->image + view->code_at + (uint32_t)k * hd->n_features + j);
                }
                add = div_round(scaled * s, 256 * c);
            } else {
                add = a * (int8_t)IMG_BYTE(view->image + view->code_at +
                                           (uint32_t)label * hd->n_features + j);
            }
            const int64_t v = (int64_t)x[j] + add;
            if (v > INT16_MAX || v < INT16_MIN) sat = true;
            h[hd->feature_offset + j] =
                (int16_t)(v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v));
        }
        return sat;
    }
    if (label < 0) {
        const int32_t c = hd->n_classes;
        const int16_t share = (int16_t)((top + c / 2) / c);
        for (uint16_t j = 0; j < hd->n_classes; ++j) h[j] = share;
    } else {
        h[label] = (int16_t)top;
    }
    return sat;
}

void phyff_infer_encode(const struct phyff_model_view *view, unsigned k, const int16_t *h,
                        int16_t *drive) {
    const struct phyff_block_head *b = &view->blocks[k];
    const uint16_t d = b->d_in;
    if (b->encoder == PHYFF_ENC_AMPLITUDE) {
        uint64_t sq = 0;
        for (uint16_t j = 0; j < d; ++j) sq += (uint64_t)((int64_t)h[j] * h[j]);
        const uint64_t a = phyff_isqrt_u64(sq);
        for (uint16_t j = 0; j < d; ++j) {
            uint64_t v = 0;
            if (a != 0) v = ((uint64_t)abs16(h[j]) * 32768u + a / 2u) / a;
            drive[j] = (int16_t)(v > 32767u ? 32767u : v);
        }
        return;
    }
    if (b->encoder == PHYFF_ENC_CLIP) {
        for (uint16_t j = 0; j < d; ++j) {
            int64_t v = h[j];
            v = b->in_exp >= 0 ? scale_up(v, (unsigned)b->in_exp)
                               : round_shift(v, (unsigned)(-b->in_exp));
            drive[j] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
        }
        return;
    }
    int32_t lo = h[0];
    int32_t hi = h[0];
    for (uint16_t j = 1; j < d; ++j) {
        if (h[j] < lo) lo = h[j];
        if (h[j] > hi) hi = h[j];
    }
    const uint32_t span = (uint32_t)(hi - lo);
    for (uint16_t j = 0; j < d; ++j) {
        const uint32_t dj = (uint32_t)(h[j] - lo);
        if (b->encoder == PHYFF_ENC_PHASE) {
            drive[j] = (int16_t)(span == 0 ? 0u : (dj * 32767u + span / 2u) / span);
            continue;
        }
        bool msb = false;
        bool lsb = false;
        if (span != 0) {
            if (b->encoder == PHYFF_ENC_BINARY2) {
                msb = 4u * dj > span;
                lsb = (dj > 0 && 4u * dj <= span) || 4u * dj > 3u * span;
            } else {
                uint32_t level = (4u * dj) / span;
                if (level > 3u) level = 3u;
                msb = level >= 2u;
                lsb = (level & 1u) != 0;
            }
        }
        drive[2u * j] = msb ? 32767 : 0;
        drive[2u * j + 1u] = lsb ? 32767 : 0;
    }
}

bool phyff_infer_affine(const struct phyff_model_view *view, unsigned k, const int16_t *p,
                        const int16_t *h, int16_t *y) {
    const struct phyff_block_head *b = &view->blocks[k];
    const bool physical = (b->flags & PHYFF_BLOCK_PHYSICAL) != 0;
    const bool skip = (b->flags & PHYFF_BLOCK_SKIP) != 0;
    const uint32_t z = z_width(b);
    const uint32_t w_at = view->block_at[k];
    const uint32_t b_at = w_at + 2u * (uint32_t)b->d_out * z;
    bool sat = false;
    for (uint16_t i = 0; i < b->d_out; ++i) {
        uint32_t at = w_at + 2u * (uint32_t)i * z;
        int64_t acc = 0;
        if (physical) {
            int64_t part = 0;
            const uint32_t sensed = sensed_width(b);
            for (uint32_t j = 0; j < sensed; ++j, at += 2u) {
                part += (int32_t)weight(view, at) * (int32_t)p[j];
            }
            acc += scale_up(part, b->shift_p);
        }
        if (skip) {
            int64_t part = 0;
            for (uint16_t j = 0; j < b->d_in; ++j, at += 2u) {
                part += (int32_t)weight(view, at) * (int32_t)h[j];
            }
            acc += scale_up(part, b->shift_h);
        }
        acc += scale_up(weight(view, b_at + 2u * i), b->shift_b);
        const int64_t r = round_shift(acc, b->shift_out);
        if (r > INT16_MAX || r < INT16_MIN) sat = true;
        y[i] = r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : (int16_t)r);
    }
    return sat;
}

void phyff_infer_readout_add(const struct phyff_model_view *view, unsigned k, const int16_t *y,
                             int64_t *acc) {
    const struct phyff_block_head *b = &view->blocks[k];
    uint32_t col = 0;
    for (unsigned j = 0; j < k; ++j) col += view->blocks[j].d_out;
    const bool use_abs = view->head.readout_abs != 0;
    for (uint16_t c = 0; c < view->head.n_classes; ++c) {
        uint32_t at = view->readout_at + 2u * ((uint32_t)c * view->readout_width + col);
        int64_t part = 0;
        for (uint16_t j = 0; j < b->d_out; ++j, at += 2u) {
            int32_t f = y[j];
            if (use_abs) f = f < 0 ? (f == INT16_MIN ? INT16_MAX : -f) : f;
            part += (int32_t)weight(view, at) * f;
        }
        acc[c] += scale_up(part, b->readout_shift);
    }
}

bool phyff_infer_readout_finish(const struct phyff_model_view *view, const int64_t *acc,
                                int32_t *scores) {
    const uint32_t rb_at = view->readout_at + 2u * (uint32_t)view->head.n_classes *
                                                  view->readout_width;
    bool sat = false;
    for (uint16_t c = 0; c < view->head.n_classes; ++c) {
        const int64_t total = acc[c] + scale_up(weight(view, rb_at + 2u * c), view->readout.shift_b);
        const int64_t r = round_shift(total, view->readout.shift_out);
        if (r > INT32_MAX || r < INT32_MIN) sat = true;
        scores[c] = phyff_sat_q31(r);
    }
    return sat;
}

/* floor((2n + d) / (2d)) for d > 0: n / d rounded half up, for any sign of n. */
static int64_t div_round(int64_t n, int64_t d) {
    const int64_t num = 2 * n + d;
    const int64_t den = 2 * d;
    const int64_t q = num / den;
    return (num % den != 0 && num < 0) ? q - 1 : q;
}

int32_t phyff_infer_goodness(const struct phyff_model_view *view, unsigned k, const int16_t *y) {
    const struct phyff_block_head *b = &view->blocks[k];
    const uint32_t xi_at = view->block_at[k] + 2u * ((uint32_t)b->d_out * z_width(b) + b->d_out);
    int64_t num = 0;
    uint64_t sq = 0;
    for (uint16_t j = 0; j < b->d_out; ++j) {
        num += abs16(y[j]) * (int32_t)weight(view, xi_at + 2u * j);
        sq += (uint64_t)((int64_t)y[j] * y[j]);
    }
    const uint32_t norm = phyff_isqrt_u64(sq);
    if (norm == 0) return 0;
    return (int32_t)div_round(num, (int64_t)norm);
}

uint32_t phyff_model_describe_size(const struct phyff_model_view *view) {
    return view->describe_at != 0 ? view->size - view->describe_at : 0u;
}

uint16_t phyff_argmax_s32(const int32_t *scores, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i) {
        if (scores[i] > scores[best]) best = i;
    }
    return (uint16_t)best;
}
