/*
 * learn.c - on-device learning of the one-pass read-out, exactly as
 * learn.h RF-A1-RF-E1 say. Integer arithmetic only, no allocation; the
 * statistics live in the caller's area, the solve uses the caller's scratch.
 */
#include "phyff/learn.h"

#include <limits.h>
#include <string.h>

#include "phyff/fixed.h"

#define Q PHYFF_LEARN_Q
#define ONE_Q ((int64_t)1 << Q)

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(PHYFF_LEARN_MAX_SAMPLES == PHYFF_MODEL_MAX_REFIT_SAMPLES, "model.h M-V4 bounds RF-A4's cap");
#endif

/* ---- the area (RF-M1) -------------------------------------------------- */

static size_t tri_count(uint32_t n) {
    return (size_t)n * (n + 1u) / 2u;
}

static size_t tri_index(uint32_t n, uint32_t i, uint32_t j) {
    return (size_t)i * n - (size_t)i * (i - 1u) / 2u + (j - i);
}

size_t phyff_learn_area_size(uint16_t width, uint16_t n_classes) {
    const uint32_t n = (uint32_t)width + 1u;
    return 4u * tri_count(n) + 3u * (size_t)n_classes * width + 2u * (size_t)n_classes;
}

static uint8_t *sums_at(int32_t *area, uint16_t width) {
    return (uint8_t *)(area + tri_count((uint32_t)width + 1u));
}

static const uint8_t *sums_of(const int32_t *area, uint16_t width) {
    return (const uint8_t *)(area + tri_count((uint32_t)width + 1u));
}

static int32_t sum_get(const uint8_t *p) {
    const uint32_t raw = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    return (raw & 0x800000u) != 0 ? (int32_t)raw - 0x1000000 : (int32_t)raw;
}

static void sum_set(uint8_t *p, int32_t v) {
    const uint32_t raw = (uint32_t)v;
    p[0] = (uint8_t)raw;
    p[1] = (uint8_t)(raw >> 8);
    p[2] = (uint8_t)(raw >> 16);
}

static uint8_t *counts_at(int32_t *area, uint16_t width, uint16_t n_classes) {
    return sums_at(area, width) + 3u * (size_t)n_classes * width;
}

static const uint8_t *counts_of(const int32_t *area, uint16_t width, uint16_t n_classes) {
    return sums_of(area, width) + 3u * (size_t)n_classes * width;
}

static uint16_t count_get(const uint8_t *counts, uint16_t c) {
    uint16_t v;
    memcpy(&v, counts + 2u * c, sizeof v);
    return v;
}

void phyff_learn_clear(int32_t *area, uint16_t width, uint16_t n_classes) {
    memset(area, 0, phyff_learn_area_size(width, n_classes));
}

uint32_t phyff_learn_samples(const int32_t *area, uint16_t width) {
    const uint32_t n = (uint32_t)width + 1u;
    return (uint32_t)area[tri_count(n) - 1u];
}

uint16_t phyff_learn_class_samples(const int32_t *area, uint16_t width, uint16_t n_classes,
                                   uint16_t c) {
    return count_get(counts_of(area, width, n_classes), c);
}

int16_t phyff_learn_feature(int16_t y, bool readout_abs) {
    if (!readout_abs || y >= 0) return y;
    return y == INT16_MIN ? INT16_MAX : (int16_t)-y;
}

/* RF-A2: round_shift(f, 4), |g| <= 2048. */
static int32_t reduce(int16_t f) {
    return (int32_t)phyff_round_shift_s64(f, PHYFF_LEARN_FEATURE_SHIFT);
}

enum phyff_learn_status phyff_learn_add(int32_t *area, uint16_t width, uint16_t n_classes,
                                        const int16_t *f, uint16_t label) {
    if (label >= n_classes) return PHYFF_LEARN_BAD_LABEL;
    if (width > PHYFF_LEARN_MAX_WIDTH) return PHYFF_LEARN_TOO_WIDE;
    const uint32_t n = (uint32_t)width + 1u;
    if (phyff_learn_samples(area, width) >= PHYFF_LEARN_MAX_SAMPLES) return PHYFF_LEARN_FULL;
    int16_t g[PHYFF_LEARN_MAX_WIDTH + 1u];
    for (uint16_t i = 0; i < width; ++i) g[i] = (int16_t)reduce(f[i]);
    g[width] = 1;
    int32_t *at = area;
    for (uint32_t i = 0; i < n; ++i) {
        const int32_t gi = g[i];
        for (uint32_t j = i; j < n; ++j) *at++ += gi * g[j]; /* RF-A4: |sum| < 2^31 */
    }
    uint8_t *row = sums_at(area, width) + 3u * (size_t)label * width;
    for (uint16_t i = 0; i < width; ++i) sum_set(row + 3u * i, sum_get(row + 3u * i) + g[i]);
    uint8_t *counts = counts_at(area, width, n_classes);
    const uint16_t c = (uint16_t)(count_get(counts, label) + 1u);
    memcpy(counts + 2u * label, &c, sizeof c);
    return PHYFF_LEARN_OK;
}

/* ---- arithmetic of the solve -------------------------------------------- */

static unsigned bitlen_u64(uint64_t m) {
    unsigned b = 0;
    while (m != 0) {
        ++b;
        m >>= 1;
    }
    return b;
}

static uint64_t abs_u64(int64_t v) {
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* clog2(m) = bitlen(m - 1), m >= 1 */
static int clog2_u64(uint64_t m) {
    return (int)bitlen_u64(m - 1u);
}

/* v 2^s: exact left shift (s >= 0, the caller bounds the result) or round_shift (FX-F3). */
static int64_t scale(int64_t v, int s) {
    if (s >= 0) return v * ((int64_t)1 << s);
    if (-s > 62) return 0;
    return phyff_round_shift_s64(v, (unsigned)-s);
}

/* a / d rounded half up (d > 0), without forming 2a. */
static int64_t div_round(int64_t a, int64_t d) {
    int64_t q = a / d;
    if (a % d != 0 && a < 0) q -= 1;
    const int64_t rem = a - q * d;
    return 2 * rem >= d ? q + 1 : q;
}

/* ceil(x / 2) for -128 <= x <= 127 */
static int ceil_half(int x) {
    return (x + 1 + 256) / 2 - 128;
}

static int16_t sat16(int64_t v) {
    return v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : (int16_t)v);
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* The read-out layout a refit works on. */
struct problem {
    int32_t *area;
    uint16_t width; /* F */
    uint32_t n;     /* F + 1 */
    uint16_t n_classes;
    int8_t u[PHYFF_LEARN_MAX_WIDTH + 1u];
};

/* RF-S2-S4: the factor in place of the statistics; returns the status. */
static enum phyff_learn_status factor(struct problem *pb, const struct phyff_model_view *view,
                                      uint8_t lambda_shift, uint8_t *cond_bits) {
    const uint32_t n = pb->n;
    /* RF-S2/S3: u from the diagonals of Abar (their lambda terms included) */
    uint32_t i = 0;
    for (unsigned k = 0; k < view->head.n_blocks; ++k) {
        const int p = 53 - 2 * (int)view->blocks[k].out_exp - (int)lambda_shift;
        for (uint16_t j = 0; j < view->blocks[k].d_out; ++j, ++i) {
            int64_t abar = (int64_t)pb->area[tri_index(n, i, i)] * ((int64_t)1 << 31);
            if (p >= 0) abar += (int64_t)1 << p;
            if (abar <= 0) return PHYFF_LEARN_SINGULAR;
            pb->u[i] = (int8_t)ceil_half((int)bitlen_u64((uint64_t)abar) - (int)Q);
        }
    }
    {
        const int64_t abar = (int64_t)pb->area[tri_count(n) - 1u] * ((int64_t)1 << 31);
        if (abar <= 0) return PHYFF_LEARN_SINGULAR;
        pb->u[n - 1u] = (int8_t)ceil_half((int)bitlen_u64((uint64_t)abar) - (int)Q);
    }
    /* A' in place of G (the diagonal's lambda term once more, by block) */
    i = 0;
    for (unsigned k = 0; k <= view->head.n_blocks; ++k) {
        const bool bias = k == view->head.n_blocks;
        const int p = bias ? -1 : 53 - 2 * (int)view->blocks[k].out_exp - (int)lambda_shift;
        const uint16_t d = bias ? 1u : view->blocks[k].d_out;
        for (uint16_t r = 0; r < d; ++r, ++i) {
            for (uint32_t j = i; j < n; ++j) {
                int32_t *e = &pb->area[tri_index(n, i, j)];
                int64_t abar = (int64_t)*e * ((int64_t)1 << 31);
                if (j == i && p >= 0) abar += (int64_t)1 << p;
                *e = (int32_t)scale(abar, -(pb->u[i] + pb->u[j]));
            }
        }
    }
    /* RF-S4: upper Cholesky U = L^T, row j from the rows above it. Column j of U
     * is walked from (0, j): index(k + 1, j) = index(k, j) + n - k - 1. */
    int32_t *u = pb->area;
    uint64_t dmax = 0;
    uint64_t dmin = UINT64_MAX;
    for (uint32_t j = 0; j < n; ++j) {
        const size_t jj = tri_index(n, j, j);
        int64_t dj = (int64_t)u[jj] * ONE_Q;
        size_t kj = j;
        for (uint32_t k = 0; k < j; kj += n - k - 1u, ++k) dj -= (int64_t)u[kj] * u[kj];
        if (dj < ONE_Q) return PHYFF_LEARN_SINGULAR;
        if ((uint64_t)dj > dmax) dmax = (uint64_t)dj;
        if ((uint64_t)dj < dmin) dmin = (uint64_t)dj;
        const int64_t ljj = (int64_t)phyff_isqrt_u64((uint64_t)dj);
        u[jj] = (int32_t)ljj;
        for (uint32_t c = j + 1u; c < n; ++c) {
            int64_t num = (int64_t)u[jj + (c - j)] * ONE_Q;
            size_t kc = c;
            kj = j;
            for (uint32_t k = 0; k < j; ++k) {
                num -= (int64_t)u[kc] * u[kj];
                kc += n - k - 1u;
                kj += n - k - 1u;
            }
            const int64_t v = div_round(num, ljj);
            if (v > ONE_Q || v < -ONE_Q) return PHYFF_LEARN_OVERFLOW;
            u[jj + (c - j)] = (int32_t)v;
        }
    }
    *cond_bits = (uint8_t)(bitlen_u64(dmax) - bitlen_u64(dmin));
    return PHYFF_LEARN_OK;
}

/* RF-S5 right-hand side of class c, row i (before scaling). */
static int64_t rhs(struct problem *pb, uint16_t c, uint32_t i) {
    if (i < pb->width) return sum_get(sums_at(pb->area, pb->width) + 3u * ((size_t)c * pb->width + i));
    return count_get(counts_at(pb->area, pb->width, pb->n_classes), c);
}

/* RF-S5: w (n int32, in scratch + n) and r_c of class c. */
static enum phyff_learn_status solve_class(struct problem *pb, uint16_t c, int32_t *scratch,
                                           int *r_out) {
    const uint32_t n = pb->n;
    int r = INT_MIN;
    for (uint32_t i = 0; i < n; ++i) {
        const int64_t b = rhs(pb, c, i);
        if (b == 0) continue;
        const int e = (int)bitlen_u64(abs_u64(b)) + 31 - pb->u[i] - (int)Q;
        if (e > r) r = e;
    }
    int32_t *y = scratch;
    int32_t *w = scratch + n;
    const int64_t limit = INT32_MAX;
    for (unsigned attempt = 0; attempt <= PHYFF_LEARN_RETRIES; ++attempt, r += (int)PHYFF_LEARN_RESCALE) {
        bool ok = true;
        for (uint32_t i = 0; i < n && ok; ++i) {
            int64_t num = scale(rhs(pb, c, i), 31 - pb->u[i] - r) * ONE_Q;
            size_t ki = i;
            for (uint32_t k = 0; k < i; ki += n - k - 1u, ++k) num -= (int64_t)pb->area[ki] * y[k];
            const int64_t v = div_round(num, pb->area[ki]);
            if (v > limit || v < -limit) ok = false;
            else y[i] = (int32_t)v;
        }
        for (uint32_t i = n; i-- > 0 && ok;) {
            int64_t num = (int64_t)y[i] * ONE_Q;
            const int32_t *row = &pb->area[tri_index(n, i, i)];
            for (uint32_t k = i + 1u; k < n; ++k) num -= (int64_t)row[k - i] * w[k];
            const int64_t v = div_round(num, row[0]);
            if (v > limit || v < -limit) ok = false;
            else w[i] = (int32_t)v;
        }
        if (ok) {
            *r_out = r;
            return PHYFF_LEARN_OK;
        }
    }
    return PHYFF_LEARN_OVERFLOW;
}

enum phyff_learn_status phyff_learn_refit(int32_t *area, const struct phyff_model_view *view,
                                          uint8_t *image, uint8_t lambda_shift,
                                          int32_t *scratch, uint8_t *cond_bits) {
    *cond_bits = 0;
    const uint16_t width = view->readout_width;
    const uint16_t n_classes = view->head.n_classes;
    const unsigned n_blocks = view->head.n_blocks;
    if (view->head.inference != PHYFF_INFERENCE_ONEPASS) return PHYFF_LEARN_NO_READOUT;
    if (width < 1u || width > PHYFF_LEARN_MAX_WIDTH) return PHYFF_LEARN_TOO_WIDE;
    /* RF-S1 */
    const uint32_t samples = phyff_learn_samples(area, width);
    if (samples < 2u) return PHYFF_LEARN_TOO_FEW;
    for (uint16_t c = 0; c < n_classes; ++c) {
        if (phyff_learn_class_samples(area, width, n_classes, c) < 1u) return PHYFF_LEARN_TOO_FEW;
    }
    if (lambda_shift > PHYFF_LEARN_MAX_LAMBDA_SHIFT) return PHYFF_LEARN_BAD_LAMBDA;
    for (unsigned k = 0; k < n_blocks; ++k) {
        if (53 - 2 * (int)view->blocks[k].out_exp - (int)lambda_shift > 61) {
            return PHYFF_LEARN_BAD_LAMBDA;
        }
    }
    struct problem pb;
    pb.area = area;
    pb.width = width;
    pb.n = (uint32_t)width + 1u;
    pb.n_classes = n_classes;
    enum phyff_learn_status st = factor(&pb, view, lambda_shift, cond_bits);
    /* RF-Q1: pass 1 finds the exponents */
    const int FEATURE_X = -(int)Q - (int)PHYFF_LEARN_FEATURE_SHIFT;
    int omega[PHYFF_MODEL_MAX_BLOCKS];
    bool any[PHYFF_MODEL_MAX_BLOCKS];
    int bias_exp = INT_MIN;
    for (unsigned k = 0; k < n_blocks; ++k) {
        omega[k] = INT_MIN;
        any[k] = false;
    }
    for (uint16_t c = 0; c < n_classes && st == PHYFF_LEARN_OK; ++c) {
        int r;
        st = solve_class(&pb, c, scratch, &r);
        if (st != PHYFF_LEARN_OK) break;
        const int32_t *w = scratch + pb.n;
        uint32_t i = 0;
        for (unsigned k = 0; k < n_blocks; ++k) {
            for (uint16_t j = 0; j < view->blocks[k].d_out; ++j, ++i) {
                if (w[i] == 0) continue;
                const int e = r - pb.u[i] + FEATURE_X + clog2_u64(abs_u64(w[i]));
                if (!any[k] || e > omega[k]) omega[k] = e;
                any[k] = true;
            }
        }
        if (w[width] != 0) {
            const int e = r - pb.u[width] - (int)Q + clog2_u64(abs_u64(w[width]));
            if (e > bias_exp) bias_exp = e;
        }
    }
    int score_exp = view->head.score_exp;
    int unit = 0;
    int units[PHYFF_MODEL_MAX_BLOCKS];
    int beta = 0;
    if (st == PHYFF_LEARN_OK) {
        int u_s = score_exp - 31;
        int coarsest = INT_MIN;
        for (unsigned k = 0; k < n_blocks; ++k) {
            units[k] = any[k] ? omega[k] - 15 : u_s;
            if (units[k] > coarsest) coarsest = units[k];
        }
        unit = INT_MAX;
        for (unsigned k = 0; k < n_blocks; ++k) {
            if (units[k] < coarsest - 16) units[k] = coarsest - 16; /* RF-Q2 */
            if (units[k] < unit) unit = units[k];
        }
        if (unit > u_s) {
            score_exp = unit + 31;
            if (score_exp > 32) st = PHYFF_LEARN_OVERFLOW;
            u_s = unit;
        }
        if (u_s - unit > 62) st = PHYFF_LEARN_OVERFLOW;
        beta = unit + 15; /* RF-Q3 */
        if (bias_exp > beta) beta = bias_exp;
        if (beta - 15 - unit > 40) st = PHYFF_LEARN_OVERFLOW;
    }
    if (st == PHYFF_LEARN_OK) {
        /* RF-Q4/Q5: pass 2 writes (it repeats pass 1's arithmetic, so it cannot fail) */
        const uint32_t r_at = view->readout_at;
        const uint32_t rb_at = r_at + 2u * (uint32_t)n_classes * width;
        for (uint16_t c = 0; c < n_classes; ++c) {
            int r = 0;
            if (solve_class(&pb, c, scratch, &r) != PHYFF_LEARN_OK) {
                st = PHYFF_LEARN_OVERFLOW; /* unreachable: pass 1 succeeded */
                break;
            }
            const int32_t *w = scratch + pb.n;
            uint32_t i = 0;
            for (unsigned k = 0; k < n_blocks; ++k) {
                for (uint16_t j = 0; j < view->blocks[k].d_out; ++j, ++i) {
                    const int16_t q = sat16(scale(w[i], r - pb.u[i] + FEATURE_X - units[k]));
                    put_u16(image + r_at + 2u * ((uint32_t)c * width + i), (uint16_t)q);
                }
            }
            const int16_t qb = sat16(scale(w[width], r - pb.u[width] - (int)Q + 15 - beta));
            put_u16(image + rb_at + 2u * c, (uint16_t)qb);
        }
        if (st == PHYFF_LEARN_OK) {
            /* the heads through model.h's own codecs, so the layout is stated once */
            struct phyff_model_head head = view->head;
            head.score_exp = (int8_t)score_exp;
            phyff_model_head_pack(&head, image);
            struct phyff_readout_head ro = view->readout;
            ro.shift_b = (uint8_t)(beta - 15 - unit);
            ro.shift_out = (uint8_t)(score_exp - 31 - unit);
            ro.refit_samples = (uint16_t)samples; /* RF-Q5: the image's provenance */
            phyff_readout_head_pack(&ro, image + r_at - PHYFF_READOUT_HEAD_SIZE);
            for (unsigned k = 0; k < n_blocks; ++k) {
                struct phyff_block_head b = view->blocks[k];
                b.readout_shift = (uint8_t)(units[k] - unit);
                phyff_block_head_pack(&b, image + view->block_at[k] - PHYFF_BLOCK_HEAD_SIZE);
            }
        }
    }
    phyff_learn_clear(area, width, n_classes); /* RF-S3, RF-E1 */
    if (st != PHYFF_LEARN_OK) *cond_bits = 0;
    return st;
}
