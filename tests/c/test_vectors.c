/*
 * test_vectors.c - checks the C implementation of phyff/fixed.h,
 * phyff/wire.h and phyff/model.h against the golden vectors
 * shared/vectors/fixed.json, wire.json and model.json, which an independent
 * exact reference (shared/vectors/generate.py) wrote.
 *
 * Usage: test_vectors [DIR | FIXED_JSON WIRE_JSON MODEL_JSON]
 * (DIR defaults to shared/vectors)
 *
 * Prints one line per operation group ("fixed.q15_mul: 123 passed, 0 failed"),
 * the first few failures of each group with the byte offset of the case in its
 * file, and finally "N passed, M failed". Exit status: 0 when everything
 * passed, 1 when a case failed, 2 when a vector file is missing or malformed.
 *
 * Every buffer handed to the code under test is a heap block of exactly the
 * size the call is allowed to use, so an address-sanitizer build catches any
 * read or write outside it (W-P1).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_min.h"
#include "phyff/fixed.h"
#include "phyff/learn.h"
#include "phyff/model.h"
#include "phyff/wire.h"

#define MAX_REPORTS_PER_GROUP 8
#define MAX_GROUPS 128
#define VECTOR_FORMAT 1

/* ==========================================================================
 * Bookkeeping
 * ========================================================================== */

typedef struct group {
    char name[64];
    long pass;
    long fail;
} group;

static group groups[MAX_GROUPS];
static size_t n_groups;
static const char *current_file = "";

static group *group_new(const char *file, const char *name) {
    if (n_groups == MAX_GROUPS) {
        fprintf(stderr, "too many groups\n");
        exit(2);
    }
    group *g = &groups[n_groups++];
    snprintf(g->name, sizeof g->name, "%s.%s", file, name);
    g->pass = 0;
    g->fail = 0;
    return g;
}

/* Report one failed check of case `idx` (whose JSON starts at `offset`). */
static void report(group *g, size_t idx, size_t offset, const char *fmt, ...) {
    if (g->fail >= MAX_REPORTS_PER_GROUP) return;
    va_list ap;
    va_start(ap, fmt);
    printf("  FAIL %s[%zu] (byte %zu): ", g->name, idx, offset);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void record(group *g, int ok) {
    if (ok) g->pass++;
    else g->fail++;
}

/* A malformed vector file is not a test failure but a broken test: stop. */
static void bad_vector(const json_value *v, const char *what) {
    fprintf(stderr, "%s: malformed vector at byte %zu: %s\n", current_file, v ? v->offset : 0,
            what);
    exit(2);
}

/* ==========================================================================
 * JSON access helpers (fatal on a malformed vector)
 * ========================================================================== */

static const json_value *field(const json_value *obj, const char *key) {
    const json_value *v = json_get(obj, key);
    if (v == NULL) {
        char msg[96];
        snprintf(msg, sizeof msg, "missing key \"%s\"", key);
        bad_vector(obj, msg);
    }
    return v;
}

static const json_value *item(const json_value *arr, size_t i) {
    const json_value *v = json_at(arr, i);
    if (v == NULL) bad_vector(arr, "array too short");
    return v;
}

static int64_t get_i64(const json_value *v, int64_t lo, int64_t hi) {
    int64_t x;
    if (!json_to_i64(v, &x) || x < lo || x > hi) bad_vector(v, "integer out of range");
    return x;
}

static uint64_t get_u64(const json_value *v, uint64_t hi) {
    uint64_t x;
    if (!json_to_u64(v, &x) || x > hi) bad_vector(v, "unsigned integer out of range");
    return x;
}

static const char *get_str(const json_value *v) {
    if (v == NULL || v->type != JSON_STRING) bad_vector(v, "expected a string");
    return v->u.string.data;
}

static const json_value *get_arr(const json_value *v) {
    if (v == NULL || v->type != JSON_ARRAY) bad_vector(v, "expected an array");
    return v;
}

/* Heap block of exactly n bytes (n may be 0). */
static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL && n != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static uint8_t *get_hex(const json_value *v, size_t *n) {
    const char *s = get_str(v);
    size_t len = v->u.string.len;
    if (len % 2 != 0) bad_vector(v, "odd-length hex string");
    uint8_t *out = xmalloc(len / 2);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) bad_vector(v, "bad hex digit");
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    *n = len / 2;
    return out;
}

static int16_t *get_i16_array(const json_value *v, size_t *n) {
    get_arr(v);
    size_t count = json_count(v);
    int16_t *out = xmalloc(count * sizeof *out);
    for (size_t i = 0; i < count; i++) out[i] = (int16_t)get_i64(item(v, i), INT16_MIN, INT16_MAX);
    *n = count;
    return out;
}

static double get_double(const json_value *v) {
    const char *s = get_str(v);
    char *end = NULL;
    double d = strtod(s, &end);
    if (end == s || *end != '\0') bad_vector(v, "not a strtod-readable double");
    return d;
}

static uint64_t double_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* ==========================================================================
 * SHA-256 (for the compact form of the largest frames)
 * ========================================================================== */

typedef struct sha256_ctx {
    uint32_t h[8];
    uint8_t block[64];
    size_t fill;
    uint64_t total;
} sha256_ctx;

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror32(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

static void sha256_block(sha256_ctx *c, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha256_hex(const uint8_t *data, size_t n, char out[65]) {
    sha256_ctx c = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                     0x1f83d9ab, 0x5be0cd19},
                    {0},
                    0,
                    0};
    c.total = (uint64_t)n * 8u;
    while (n >= 64) {
        sha256_block(&c, data);
        data += 64;
        n -= 64;
    }
    uint8_t tail[128] = {0};
    memcpy(tail, data, n);
    tail[n] = 0x80;
    size_t tl = (n + 9 <= 64) ? 64 : 128;
    for (int i = 0; i < 8; i++) tail[tl - 1 - (size_t)i] = (uint8_t)(c.total >> (8 * i));
    sha256_block(&c, tail);
    if (tl == 128) sha256_block(&c, tail + 64);
    for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", (unsigned)c.h[i]);
}

/* ==========================================================================
 * fixed.h
 * ========================================================================== */

typedef int64_t (*binop)(int64_t, int64_t);
typedef int64_t (*unop)(int64_t);

static int64_t op_q15_add(int64_t a, int64_t b) { return phyff_q15_add((int16_t)a, (int16_t)b); }
static int64_t op_q15_sub(int64_t a, int64_t b) { return phyff_q15_sub((int16_t)a, (int16_t)b); }
static int64_t op_q15_mul(int64_t a, int64_t b) { return phyff_q15_mul((int16_t)a, (int16_t)b); }
static int64_t op_q31_add(int64_t a, int64_t b) { return phyff_q31_add((int32_t)a, (int32_t)b); }
static int64_t op_q31_sub(int64_t a, int64_t b) { return phyff_q31_sub((int32_t)a, (int32_t)b); }
static int64_t op_q31_mul(int64_t a, int64_t b) { return phyff_q31_mul((int32_t)a, (int32_t)b); }
static int64_t op_round_shift(int64_t x, int64_t s) {
    return phyff_round_shift_s64(x, (unsigned)s);
}
static int64_t op_sat_q15(int64_t x) { return phyff_sat_q15((int32_t)x); }
static int64_t op_sat_q31(int64_t x) { return phyff_sat_q31(x); }
static int64_t op_q15_to_q31(int64_t v) { return phyff_q15_to_q31((int16_t)v); }
static int64_t op_q31_to_q15(int64_t v) { return phyff_q31_to_q15((int32_t)v); }
static int64_t op_isqrt_u32(int64_t x) { return phyff_isqrt_u32((uint32_t)x); }

static void run_binary(const json_value *cases, group *g, int64_t alo, int64_t ahi, int64_t blo,
                       int64_t bhi, binop op) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = get_arr(field(c, "in"));
        int64_t a = get_i64(item(in, 0), alo, ahi);
        int64_t b = get_i64(item(in, 1), blo, bhi);
        int64_t want = get_i64(field(c, "out"), INT64_MIN, INT64_MAX);
        int64_t got = op(a, b);
        if (got != want)
            report(g, i, c->offset, "(%lld, %lld): expected %lld, got %lld", (long long)a,
                   (long long)b, (long long)want, (long long)got);
        record(g, got == want);
    }
}

static void run_unary(const json_value *cases, group *g, int64_t lo, int64_t hi, unop op) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        int64_t x = get_i64(item(get_arr(field(c, "in")), 0), lo, hi);
        int64_t want = get_i64(field(c, "out"), INT64_MIN, INT64_MAX);
        int64_t got = op(x);
        if (got != want)
            report(g, i, c->offset, "(%lld): expected %lld, got %lld", (long long)x,
                   (long long)want, (long long)got);
        record(g, got == want);
    }
}

#define Q62 ((int64_t)1 << 62)

static void check_sat_q15(const json_value *c, group *g) {
    run_unary(c, g, INT32_MIN, INT32_MAX, op_sat_q15);
}
static void check_sat_q31(const json_value *c, group *g) {
    run_unary(c, g, INT64_MIN, INT64_MAX, op_sat_q31);
}
static void check_round_shift(const json_value *c, group *g) {
    run_binary(c, g, -Q62, Q62, 1, 62, op_round_shift);
}
static void check_q15_add(const json_value *c, group *g) {
    run_binary(c, g, INT16_MIN, INT16_MAX, INT16_MIN, INT16_MAX, op_q15_add);
}
static void check_q15_sub(const json_value *c, group *g) {
    run_binary(c, g, INT16_MIN, INT16_MAX, INT16_MIN, INT16_MAX, op_q15_sub);
}
static void check_q15_mul(const json_value *c, group *g) {
    run_binary(c, g, INT16_MIN, INT16_MAX, INT16_MIN, INT16_MAX, op_q15_mul);
}
static void check_q31_add(const json_value *c, group *g) {
    run_binary(c, g, INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX, op_q31_add);
}
static void check_q31_sub(const json_value *c, group *g) {
    run_binary(c, g, INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX, op_q31_sub);
}
static void check_q31_mul(const json_value *c, group *g) {
    run_binary(c, g, INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX, op_q31_mul);
}
static void check_q15_to_q31(const json_value *c, group *g) {
    run_unary(c, g, INT16_MIN, INT16_MAX, op_q15_to_q31);
}
static void check_q31_to_q15(const json_value *c, group *g) {
    run_unary(c, g, INT32_MIN, INT32_MAX, op_q31_to_q15);
}
static void check_isqrt_u32(const json_value *c, group *g) {
    run_unary(c, g, 0, UINT32_MAX, op_isqrt_u32);
}

static void check_isqrt_u64(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        uint64_t x = get_u64(item(get_arr(field(c, "in")), 0), UINT64_MAX);
        uint64_t want = get_u64(field(c, "out"), UINT32_MAX);
        uint64_t got = phyff_isqrt_u64(x);
        if (got != want)
            report(g, i, c->offset, "(%llu): expected %llu, got %llu", (unsigned long long)x,
                   (unsigned long long)want, (unsigned long long)got);
        record(g, got == want);
    }
}

/* Scalar form, then the whole list again through the array form. */
static void check_q15_from_double(const json_value *cases, group *g) {
    size_t n = json_count(cases);
    double *xs = xmalloc(n * sizeof *xs);
    int16_t *want = xmalloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) {
        const json_value *c = item(cases, i);
        const json_value *s = item(get_arr(field(c, "in")), 0);
        xs[i] = get_double(s);
        want[i] = (int16_t)get_i64(field(c, "out"), INT16_MIN, INT16_MAX);
        int16_t got = phyff_q15_from_double(xs[i]);
        if (got != want[i])
            report(g, i, c->offset, "(%s = %.17g): expected %d, got %d", get_str(s), xs[i],
                   want[i], got);
        record(g, got == want[i]);
    }
    group *ga = group_new("fixed", "q15_from_double_array");
    int16_t *out = xmalloc(n * sizeof *out);
    phyff_q15_from_double_array(xs, out, n);
    for (size_t i = 0; i < n; i++) {
        if (out[i] != want[i])
            report(ga, i, item(cases, i)->offset, "element %zu (%a): expected %d, got %d", i,
                   xs[i], want[i], out[i]);
        record(ga, out[i] == want[i]);
    }
    free(xs);
    free(want);
    free(out);
}

static void check_q15_to_double(const json_value *cases, group *g) {
    size_t n = json_count(cases);
    int16_t *vs = xmalloc(n * sizeof *vs);
    double *want = xmalloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) {
        const json_value *c = item(cases, i);
        vs[i] = (int16_t)get_i64(item(get_arr(field(c, "in")), 0), INT16_MIN, INT16_MAX);
        want[i] = get_double(field(c, "out"));
        double got = phyff_q15_to_double(vs[i]);
        int ok = double_bits(got) == double_bits(want[i]);
        if (!ok) report(g, i, c->offset, "(%d): expected %a, got %a", vs[i], want[i], got);
        record(g, ok);
    }
    group *ga = group_new("fixed", "q15_to_double_array");
    double *out = xmalloc(n * sizeof *out);
    phyff_q15_to_double_array(vs, out, n);
    for (size_t i = 0; i < n; i++) {
        int ok = double_bits(out[i]) == double_bits(want[i]);
        if (!ok)
            report(ga, i, item(cases, i)->offset, "element %zu (%d): expected %a, got %a", i,
                   vs[i], want[i], out[i]);
        record(ga, ok);
    }
    free(vs);
    free(want);
    free(out);
}

enum dot_kind { DOT_Q15, DOT_ACC32, DOT_ACC64 };

static void run_dot(const json_value *cases, group *g, enum dot_kind kind) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = get_arr(field(c, "in"));
        size_t na, nb;
        int16_t *a = get_i16_array(item(in, 0), &na);
        int16_t *b = get_i16_array(item(in, 1), &nb);
        if (na != nb) bad_vector(in, "dot operands differ in length");
        int64_t want = get_i64(field(c, "out"), INT64_MIN, INT64_MAX);
        int64_t got;
        switch (kind) {
        case DOT_Q15: got = phyff_dot_q15(a, b, na); break;
        case DOT_ACC32: got = phyff_dot_q15_acc32(a, b, na); break;
        default: got = phyff_dot_q15_acc64(a, b, na); break;
        }
        if (got != want)
            report(g, i, c->offset, "n=%zu: expected %lld, got %lld", na, (long long)want,
                   (long long)got);
        record(g, got == want);
        free(a);
        free(b);
    }
}

static void check_dot_q15(const json_value *c, group *g) { run_dot(c, g, DOT_Q15); }
static void check_dot_acc32(const json_value *c, group *g) { run_dot(c, g, DOT_ACC32); }
static void check_dot_acc64(const json_value *c, group *g) { run_dot(c, g, DOT_ACC64); }

static void run_matvec(const json_value *cases, group *g, int acc64) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = get_arr(field(c, "in"));
        size_t rows = (size_t)get_u64(item(in, 0), 4096);
        size_t cols = (size_t)get_u64(item(in, 1), 4096);
        size_t nw, nx;
        int16_t *w = get_i16_array(item(in, 2), &nw);
        int16_t *x = get_i16_array(item(in, 3), &nx);
        const json_value *out = get_arr(field(c, "out"));
        if (nw != rows * cols || nx != cols || json_count(out) != rows)
            bad_vector(in, "matvec shapes disagree");
        int ok = 1;
        if (acc64) {
            int64_t *y = xmalloc(rows * sizeof *y);
            phyff_matvec_q15_acc64(w, rows, cols, x, y);
            for (size_t r = 0; r < rows && ok; r++) {
                int64_t want = get_i64(item(out, r), INT64_MIN, INT64_MAX);
                if (y[r] != want) {
                    ok = 0;
                    report(g, i, c->offset, "%zux%zu: acc[%zu] expected %lld, got %lld", rows,
                           cols, r, (long long)want, (long long)y[r]);
                }
            }
            free(y);
        } else {
            int16_t *y = xmalloc(rows * sizeof *y);
            phyff_matvec_q15(w, rows, cols, x, y);
            for (size_t r = 0; r < rows && ok; r++) {
                int64_t want = get_i64(item(out, r), INT16_MIN, INT16_MAX);
                if (y[r] != want) {
                    ok = 0;
                    report(g, i, c->offset, "%zux%zu: y[%zu] expected %lld, got %d", rows, cols,
                           r, (long long)want, y[r]);
                }
            }
            free(y);
        }
        record(g, ok);
        free(w);
        free(x);
    }
}

static void check_matvec(const json_value *c, group *g) { run_matvec(c, g, 0); }
static void check_matvec_acc64(const json_value *c, group *g) { run_matvec(c, g, 1); }

static void check_matmul(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = get_arr(field(c, "in"));
        size_t rows = (size_t)get_u64(item(in, 0), 4096);
        size_t cols = (size_t)get_u64(item(in, 1), 4096);
        size_t batch = (size_t)get_u64(item(in, 2), 4096);
        size_t nw, nx;
        int16_t *w = get_i16_array(item(in, 3), &nw);
        int16_t *x = get_i16_array(item(in, 4), &nx);
        const json_value *out = get_arr(field(c, "out"));
        if (nw != rows * cols || nx != batch * cols || json_count(out) != batch * rows)
            bad_vector(in, "matmul shapes disagree");
        int16_t *y = xmalloc(batch * rows * sizeof *y);
        phyff_matmul_q15(w, rows, cols, x, batch, y);
        int ok = 1;
        for (size_t k = 0; k < batch * rows && ok; k++) {
            int64_t want = get_i64(item(out, k), INT16_MIN, INT16_MAX);
            if (y[k] != want) {
                ok = 0;
                report(g, i, c->offset, "rows=%zu cols=%zu batch=%zu: Y[%zu][%zu] expected %lld, "
                       "got %d", rows, cols, batch, k / (rows ? rows : 1), k % (rows ? rows : 1),
                       (long long)want, y[k]);
            }
        }
        record(g, ok);
        free(w);
        free(x);
        free(y);
    }
}

/* ==========================================================================
 * wire.h
 * ========================================================================== */

static const struct {
    const char *name;
    int value;
} status_table[] = {
    {"OK", PHYFF_OK},
    {"BAD_CRC", PHYFF_ERR_BAD_CRC},
    {"TRUNCATED", PHYFF_ERR_TRUNCATED},
    {"TOO_LONG", PHYFF_ERR_TOO_LONG},
    {"BAD_COBS", PHYFF_ERR_BAD_COBS},
    {"BAD_LEVEL", PHYFF_ERR_BAD_LEVEL},
    {"NO_SPACE", PHYFF_ERR_NO_SPACE},
    {"EMPTY", PHYFF_ERR_EMPTY},
    {"UNKNOWN_COMMAND", PHYFF_ERR_UNKNOWN_COMMAND},
    {"BAD_PAYLOAD", PHYFF_ERR_BAD_PAYLOAD},
    {"BATCH_TOO_LARGE", PHYFF_ERR_BATCH_TOO_LARGE},
    {"BAD_CHANNELS", PHYFF_ERR_BAD_CHANNELS},
    {"BAD_CONFIG", PHYFF_ERR_BAD_CONFIG},
    {"OVERRUN", PHYFF_ERR_OVERRUN},
    {"MEDIUM", PHYFF_ERR_MEDIUM},
    {"NOT_A_REQUEST", PHYFF_ERR_NOT_A_REQUEST},
    {"NO_MODEL", PHYFF_ERR_NO_MODEL},
    {"MODEL_TOO_LARGE", PHYFF_ERR_MODEL_TOO_LARGE},
    {"LOAD_RANGE", PHYFF_ERR_LOAD_RANGE},
    {"MODEL_CRC", PHYFF_ERR_MODEL_CRC},
    {"BAD_MODEL", PHYFF_ERR_BAD_MODEL},
    {"WRONG_BOARD", PHYFF_ERR_WRONG_BOARD},
    {"NO_LOAD", PHYFF_ERR_NO_LOAD},
    {"LEARN_FULL", PHYFF_ERR_LEARN_FULL},
    {"BAD_LABEL", PHYFF_ERR_BAD_LABEL},
    {"TOO_FEW", PHYFF_ERR_TOO_FEW},
    {"SINGULAR", PHYFF_ERR_SINGULAR},
    {"NO_READOUT", PHYFF_ERR_NO_READOUT},
    {"BAD_LAMBDA", PHYFF_ERR_BAD_LAMBDA},
    {"REFIT_OVERFLOW", PHYFF_ERR_REFIT_OVERFLOW},
    {"LEARN_TOO_LARGE", PHYFF_ERR_LEARN_TOO_LARGE},
};
#define N_STATUS (sizeof status_table / sizeof status_table[0])

static int status_from(const json_value *v) {
    const char *s = get_str(v);
    for (size_t i = 0; i < N_STATUS; i++)
        if (strcmp(s, status_table[i].name) == 0) return status_table[i].value;
    bad_vector(v, "unknown status name");
    return -1;
}

static const char *status_label(int st) {
    for (size_t i = 0; i < N_STATUS; i++)
        if (status_table[i].value == st) return status_table[i].name;
    return "(not a status)";
}

/* One table row per constant or enum member a header defines; the "constants"
 * and "enums" groups of wire.json and model.json are checked against them by
 * the same two functions. */
typedef struct {
    const char *name;
    unsigned long value;
} named_const;

typedef struct {
    const char *kind;
    const char *name;
    long value;
} named_enum;

/* Every vector's constant must be in the table with the vector's value. */
static void check_named_constants(const json_value *cases, group *g, const named_const *consts,
                                  size_t n, const char *header) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const char *name = get_str(field(c, "in"));
        uint64_t want = get_u64(field(c, "out"), UINT64_MAX);
        int found = 0, ok = 0;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(consts[k].name, name) == 0) {
                found = 1;
                ok = consts[k].value == want;
            }
        }
        if (!ok)
            report(g, i, c->offset, "PHYFF_%s: %s %s (vector %llu)", name,
                   found ? "value differs in" : "not in", header, (unsigned long long)want);
        record(g, ok);
    }
}

/* The row of (kind, name) in table (marked in seen), or NULL. */
static const named_enum *find_enum(const named_enum *table, size_t n, int *seen,
                                   const char *kind, const char *name) {
    for (size_t k = 0; k < n; k++) {
        if (strcmp(table[k].kind, kind) == 0 && strcmp(table[k].name, name) == 0) {
            seen[k] = 1;
            return &table[k];
        }
    }
    return NULL;
}

/* A table member no vector named is a failure too: the header grew, the vectors not. */
static void report_unseen_enums(group *g, size_t after, const named_enum *table, size_t n,
                                const int *seen, const char *header) {
    for (size_t k = 0; k < n; k++) {
        if (!seen[k]) {
            report(g, after, 0, "%s.%s is in %s but has no vector", table[k].kind,
                   table[k].name, header);
            record(g, 0);
        }
    }
}

static const named_enum enum_table[] = {
    {"Cmd", "NONE", PHYFF_CMD_NONE},
    {"Cmd", "HELLO", PHYFF_CMD_HELLO},
    {"Cmd", "CONFIGURE", PHYFF_CMD_CONFIGURE},
    {"Cmd", "QUERY", PHYFF_CMD_QUERY},
    {"Cmd", "STATS", PHYFF_CMD_STATS},
    {"Cmd", "RESET", PHYFF_CMD_RESET},
    {"Cmd", "MODEL_BEGIN", PHYFF_CMD_MODEL_BEGIN},
    {"Cmd", "MODEL_CHUNK", PHYFF_CMD_MODEL_CHUNK},
    {"Cmd", "MODEL_COMMIT", PHYFF_CMD_MODEL_COMMIT},
    {"Cmd", "MODEL_INFO", PHYFF_CMD_MODEL_INFO},
    {"Cmd", "INFER", PHYFF_CMD_INFER},
    {"Cmd", "MODEL_ERASE", PHYFF_CMD_MODEL_ERASE},
    {"Cmd", "MODEL_DESCRIBE", PHYFF_CMD_MODEL_DESCRIBE},
    {"Cmd", "LEARN", PHYFF_CMD_LEARN},
    {"Cmd", "REFIT", PHYFF_CMD_REFIT},
    {"Cmd", "FORGET", PHYFF_CMD_FORGET},
    {"Cmd", "EVENT", PHYFF_CMD_EVENT},
    {"Flag", "REPLY", PHYFF_FLAG_REPLY},
    {"Flag", "ERROR", PHYFF_FLAG_ERROR},
    {"Flag", "EVENT", PHYFF_FLAG_EVENT},
    {"EventId", "RESET", PHYFF_EVENT_RESET},
    {"Feature", "SATURATION_FLAGS", PHYFF_FEAT_SATURATION_FLAGS},
    {"Feature", "SETTLE", PHYFF_FEAT_SETTLE},
    {"Feature", "OVERSAMPLE", PHYFF_FEAT_OVERSAMPLE},
    {"Feature", "CHANNEL_SELECT", PHYFF_FEAT_CHANNEL_SELECT},
    {"Feature", "INFER", PHYFF_FEAT_INFER},
    {"Feature", "MODEL_PERSIST", PHYFF_FEAT_MODEL_PERSIST},
    {"Feature", "LEARN", PHYFF_FEAT_LEARN},
    {"Feature", "EMULATED", PHYFF_FEAT_EMULATED},
    {"InferFlag", "TRACE", PHYFF_INFER_TRACE},
};
#define N_ENUM (sizeof enum_table / sizeof enum_table[0])

static const named_const wire_consts[] = {
        {"PROTOCOL_LEVEL", PHYFF_PROTOCOL_LEVEL},
        {"HEADER_SIZE", PHYFF_HEADER_SIZE},
        {"CRC_SIZE", PHYFF_CRC_SIZE},
        {"CRC_INIT", PHYFF_CRC_INIT},
        {"MAX_PAYLOAD_LIMIT", PHYFF_MAX_PAYLOAD_LIMIT},
        {"NAME_SIZE", PHYFF_NAME_SIZE},
        {"ERROR_SIZE", PHYFF_ERROR_SIZE},
        {"EVENT_SIZE", PHYFF_EVENT_SIZE},
        {"CAPS_SIZE", PHYFF_CAPS_SIZE},
        {"CONFIG_SIZE", PHYFF_CONFIG_SIZE},
        {"QUERY_HEAD_SIZE", PHYFF_QUERY_HEAD_SIZE},
        {"STATS_SIZE", PHYFF_STATS_SIZE},
        {"MODEL_BEGIN_SIZE", PHYFF_MODEL_BEGIN_SIZE},
        {"CHUNK_HEAD_SIZE", PHYFF_CHUNK_HEAD_SIZE},
        {"INFER_HEAD_SIZE", PHYFF_INFER_HEAD_SIZE},
        {"MODEL_INFO_SIZE", PHYFF_MODEL_INFO_SIZE},
        {"DESCRIBE_REQUEST_SIZE", PHYFF_DESCRIBE_REQUEST_SIZE},
        {"DESCRIBE_REPLY_SIZE", PHYFF_DESCRIBE_REPLY_SIZE},
        {"LEARN_HEAD_SIZE", PHYFF_LEARN_HEAD_SIZE},
        {"REFIT_REPLY_SIZE", PHYFF_REFIT_REPLY_SIZE},
        {"REFIT_REQUEST_SIZE", PHYFF_REFIT_REQUEST_SIZE},
};

static void check_constants(const json_value *cases, group *g) {
    check_named_constants(cases, g, wire_consts, sizeof wire_consts / sizeof wire_consts[0],
                          "wire.h");
}

static void check_enums(const json_value *cases, group *g) {
    int seen[N_ENUM] = {0};
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = get_arr(field(c, "in"));
        const char *kind = get_str(item(in, 0)), *name = get_str(item(in, 1));
        int64_t want = get_i64(field(c, "out"), INT32_MIN, INT32_MAX);
        int ok = 0, found = 0;
        if (strcmp(kind, "Status") == 0) {
            for (size_t k = 0; k < N_STATUS; k++) {
                if (strcmp(status_table[k].name, name) == 0) {
                    found = 1;
                    ok = status_table[k].value == want;
                }
            }
        } else {
            const named_enum *row = find_enum(enum_table, N_ENUM, seen, kind, name);
            found = row != NULL;
            ok = found && row->value == want;
        }
        if (!ok)
            report(g, i, c->offset, "%s.%s: %s (vector value %lld)", kind, name,
                   found ? "value differs" : "not in wire.h", (long long)want);
        record(g, ok);
    }
    report_unseen_enums(g, json_count(cases), enum_table, N_ENUM, seen, "wire.h");
    /* Names of the known status codes: present, not the unknown name, distinct. */
    group *gn = group_new("wire", "status_name_known");
    for (size_t k = 0; k < N_STATUS; k++) {
        const char *s = phyff_status_name(status_table[k].value);
        int ok = s != NULL && s[0] != '\0' && strcmp(s, "unknown status") != 0;
        for (size_t j = 0; ok && j < k; j++) {
            const char *t = phyff_status_name(status_table[j].value);
            if (t != NULL && strcmp(s, t) == 0) ok = 0;
        }
        if (!ok)
            report(gn, k, 0, "phyff_status_name(%s) = \"%s\" (missing, unknown or a duplicate)",
                   status_table[k].name, s ? s : "(null)");
        record(gn, ok);
    }
}

static void check_status_name_unknown(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        int v = (int)get_i64(field(c, "in"), INT32_MIN, INT32_MAX);
        const char *want = get_str(field(c, "out"));
        const char *got = phyff_status_name(v);
        int ok = got != NULL && strcmp(got, want) == 0;
        if (!ok) report(g, i, c->offset, "(%d): expected \"%s\", got \"%s\"", v, want,
                        got ? got : "(null)");
        record(g, ok);
    }
}

/* The exact names: short and stable, hosts show them to users. */
static void check_status_name(const json_value *cases, group *g) {
    int seen[N_STATUS] = {0};
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        int v = (int)get_i64(field(c, "in"), INT32_MIN, INT32_MAX);
        const char *want = get_str(field(c, "out"));
        const char *got = phyff_status_name(v);
        int ok = got != NULL && strcmp(got, want) == 0;
        for (size_t k = 0; k < N_STATUS; k++)
            if (status_table[k].value == v) seen[k] = 1;
        if (!ok) report(g, i, c->offset, "(%d): expected \"%s\", got \"%s\"", v, want,
                        got ? got : "(null)");
        record(g, ok);
    }
    for (size_t k = 0; k < N_STATUS; k++) {
        if (!seen[k]) {
            report(g, json_count(cases), 0, "status %s has no name vector", status_table[k].name);
            record(g, 0);
        }
    }
}

/* The size macros, as functions, so one checker serves both. */
static size_t cobs_max_encoded(size_t n) { return PHYFF_COBS_MAX_ENCODED(n); }
static size_t wire_max_frame(size_t n) { return PHYFF_WIRE_MAX_FRAME(n); }

static void check_size_rule(const json_value *cases, group *g, size_t (*rule)(size_t)) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        size_t n = (size_t)get_u64(field(c, "in"), SIZE_MAX);
        size_t want = (size_t)get_u64(field(c, "out"), SIZE_MAX);
        size_t got = rule(n);
        if (got != want) report(g, i, c->offset, "(%zu): expected %zu, got %zu", n, want, got);
        record(g, got == want);
    }
}

static void check_cobs_max(const json_value *cases, group *g) {
    check_size_rule(cases, g, cobs_max_encoded);
}

static void check_wire_max(const json_value *cases, group *g) {
    check_size_rule(cases, g, wire_max_frame);
}

static void check_crc16(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in");
        uint16_t init = (uint16_t)get_u64(field(in, "crc"), 0xFFFF);
        size_t n;
        uint8_t *data = get_hex(field(in, "data"), &n);
        uint16_t want = (uint16_t)get_u64(field(c, "out"), 0xFFFF);
        uint16_t got = phyff_crc16(init, data, n);
        int ok = got == want;
        /* the same bytes fed in two pieces must give the same CRC */
        if (ok && n > 1) {
            uint16_t part = phyff_crc16(phyff_crc16(init, data, n / 2), data + n / 2, n - n / 2);
            if (part != want) {
                ok = 0;
                report(g, i, c->offset, "split at %zu: expected 0x%04x, got 0x%04x", n / 2, want,
                       part);
            }
        } else if (!ok) {
            report(g, i, c->offset, "(init 0x%04x, %zu bytes): expected 0x%04x, got 0x%04x",
                   init, n, want, got);
        }
        record(g, ok);
        free(data);
    }
}

static void check_crc32(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in");
        uint32_t init = (uint32_t)get_u64(field(in, "crc"), 0xFFFFFFFFu);
        size_t n;
        uint8_t *data = get_hex(field(in, "data"), &n);
        uint32_t want = (uint32_t)get_u64(field(c, "out"), 0xFFFFFFFFu);
        uint32_t got = phyff_crc32(init, data, n);
        int ok = got == want;
        if (!ok)
            report(g, i, c->offset, "(init 0x%08x, %zu bytes): expected 0x%08x, got 0x%08x",
                   (unsigned)init, n, (unsigned)want, (unsigned)got);
        /* chaining (wire.h): the CRC of the first half continues over the second */
        if (ok && n > 1) {
            uint32_t part = phyff_crc32(phyff_crc32(init, data, n / 2), data + n / 2, n - n / 2);
            if (part != want) {
                ok = 0;
                report(g, i, c->offset, "split at %zu: expected 0x%08x, got 0x%08x", n / 2,
                       (unsigned)want, (unsigned)part);
            }
        }
        record(g, ok);
        free(data);
    }
}

static int bytes_equal(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static void check_cobs_encode(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        size_t n;
        uint8_t *src = get_hex(field(in, "data"), &n);
        const json_value *capv = json_get(in, "cap");
        size_t cap = capv ? (size_t)get_u64(capv, SIZE_MAX) : PHYFF_COBS_MAX_ENCODED(n);
        int want_st = status_from(field(out, "status"));
        uint8_t *dst = xmalloc(cap);
        size_t out_len = (size_t)0xDEADBEEF;
        int st = (int)phyff_cobs_encode(src, n, dst, cap, &out_len);
        int ok = st == want_st;
        if (!ok) {
            report(g, i, c->offset, "(%zu bytes, cap %zu): expected %s, got %s", n, cap,
                   status_label(want_st), status_label(st));
        } else if (st != PHYFF_OK) {
            if (out_len != 0) {
                ok = 0;
                report(g, i, c->offset, "failure left *out_len = %zu, W-P3 says 0", out_len);
            }
        } else {
            size_t wn;
            uint8_t *want = get_hex(field(out, "data"), &wn);
            if (!bytes_equal(dst, out_len, want, wn)) {
                ok = 0;
                size_t k = 0;
                while (k < out_len && k < wn && dst[k] == want[k]) k++;
                report(g, i, c->offset, "(%zu bytes): encoded length %zu (expected %zu), first "
                       "difference at byte %zu", n, out_len, wn, k);
            }
            free(want);
        }
        record(g, ok);
        free(src);
        free(dst);
    }
}

static void check_cobs_decode(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        size_t n;
        uint8_t *src = get_hex(field(in, "data"), &n);
        const json_value *capv = json_get(in, "cap");
        size_t cap = capv ? (size_t)get_u64(capv, SIZE_MAX) : n;
        int want_st = status_from(field(out, "status"));
        size_t wn = 0;
        uint8_t *want = want_st == PHYFF_OK ? get_hex(field(out, "data"), &wn) : NULL;
        int ok = 1;
        for (int in_place = 0; in_place < 2 && ok; in_place++) {
            if (in_place && cap > n) break; /* the buffer is the input's */
            uint8_t *buf = xmalloc(in_place ? n : cap);
            const uint8_t *s = src;
            if (in_place) {
                if (n) memcpy(buf, src, n);
                s = buf;
            }
            size_t out_len = (size_t)0xDEADBEEF;
            int st = (int)phyff_cobs_decode(s, n, buf, cap, &out_len);
            const char *how = in_place ? "in place" : "separate buffers";
            if (st != want_st) {
                ok = 0;
                report(g, i, c->offset, "(%zu bytes, cap %zu, %s): expected %s, got %s", n, cap,
                       how, status_label(want_st), status_label(st));
            } else if (st != PHYFF_OK && out_len != 0) {
                ok = 0;
                report(g, i, c->offset, "%s: failure left *out_len = %zu, W-P3 says 0", how,
                       out_len);
            } else if (st == PHYFF_OK && !bytes_equal(buf, out_len, want, wn)) {
                ok = 0;
                report(g, i, c->offset, "%s: decoded %zu bytes, expected %zu (or content "
                       "differs)", how, out_len, wn);
            }
            free(buf);
        }
        record(g, ok);
        free(src);
        free(want);
    }
}

static struct phyff_header get_header(const json_value *h) {
    struct phyff_header r;
    r.level = (uint8_t)get_u64(field(h, "level"), 0xFF);
    r.seq = (uint8_t)get_u64(field(h, "seq"), 0xFF);
    r.cmd = (uint8_t)get_u64(field(h, "cmd"), 0xFF);
    r.flags = (uint8_t)get_u64(field(h, "flags"), 0xFF);
    r.length = (uint16_t)get_u64(field(h, "length"), 0xFFFF);
    r.aux = (uint16_t)get_u64(field(h, "aux"), 0xFFFF);
    return r;
}

static int header_equal(const struct phyff_header *a, const struct phyff_header *b) {
    return a->level == b->level && a->seq == b->seq && a->cmd == b->cmd &&
           a->flags == b->flags && a->length == b->length && a->aux == b->aux;
}

static void header_str(const struct phyff_header *h, char *out, size_t n) {
    snprintf(out, n, "{level %u seq %u cmd %u flags %u length %u aux %u}", h->level, h->seq,
             h->cmd, h->flags, h->length, h->aux);
}

/* Payload bytes from "payload" (hex) or "payload_pattern" {len, mul, add}. */
static uint8_t *get_payload(const json_value *in, size_t *n) {
    const json_value *pat = json_get(in, "payload_pattern");
    if (pat == NULL) return get_hex(field(in, "payload"), n);
    size_t len = (size_t)get_u64(field(pat, "len"), 1u << 20);
    uint64_t mul = get_u64(field(pat, "mul"), 255), add = get_u64(field(pat, "add"), 255);
    uint8_t *p = xmalloc(len);
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(((uint64_t)i * mul + add) & 0xFFu);
    *n = len;
    return p;
}

/* Decode body[0..n) (a copy in an exact-size buffer) and compare with hdr/payload. */
static int roundtrip_ok(const uint8_t *body, size_t n, const struct phyff_header *want_hdr,
                        const uint8_t *payload, size_t payload_len, char *why, size_t why_n) {
    uint8_t *buf = xmalloc(n);
    memcpy(buf, body, n);
    struct phyff_header h;
    memset(&h, 0xA5, sizeof h);
    const uint8_t *p = NULL;
    size_t plen = (size_t)0xDEADBEEF;
    int st = (int)phyff_frame_decode(buf, n, PHYFF_MAX_PAYLOAD_LIMIT, &h, &p, &plen);
    int ok = 1;
    struct phyff_header expect = *want_hdr;
    expect.length = (uint16_t)payload_len;
    if (st != PHYFF_OK) {
        snprintf(why, why_n, "decoding the encoded frame gave %s", status_label(st));
        ok = 0;
    } else if (!header_equal(&h, &expect)) {
        char a[96], b[96];
        header_str(&expect, a, sizeof a);
        header_str(&h, b, sizeof b);
        snprintf(why, why_n, "round trip header %s, expected %s", b, a);
        ok = 0;
    } else if (plen != payload_len || (plen && (p < buf || p + plen > buf + n ||
                                                memcmp(p, payload, plen) != 0))) {
        snprintf(why, why_n, "round trip payload differs (%zu bytes, expected %zu)", plen,
                 payload_len);
        ok = 0;
    }
    free(buf);
    if (ok && payload_len > 0) { /* one byte over the limit must be refused */
        buf = xmalloc(n);
        memcpy(buf, body, n);
        plen = (size_t)0xDEADBEEF;
        st = (int)phyff_frame_decode(buf, n, payload_len - 1, &h, &p, &plen);
        if (st != PHYFF_ERR_TOO_LONG || plen != 0) {
            snprintf(why, why_n, "decode with max_payload = length - 1 gave %s, len %zu",
                     status_label(st), plen);
            ok = 0;
        }
        free(buf);
    }
    return ok;
}

static void check_frame_encode(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        struct phyff_header h = get_header(field(in, "header"));
        const struct phyff_header h_before = h;
        size_t n;
        uint8_t *payload = get_payload(in, &n);
        const json_value *capv = json_get(in, "cap");
        size_t cap = capv ? (size_t)get_u64(capv, SIZE_MAX) : PHYFF_WIRE_MAX_FRAME(n);
        int want_st = status_from(field(out, "status"));
        uint8_t *wire = xmalloc(cap);
        size_t out_len = (size_t)0xDEADBEEF;
        int st = (int)phyff_frame_encode(&h, n ? payload : NULL, n, wire, cap, &out_len);
        int ok = 1;
        char why[256] = "";
        if (st != want_st) {
            ok = 0;
            snprintf(why, sizeof why, "(payload %zu bytes, cap %zu): expected %s, got %s", n, cap,
                     status_label(want_st), status_label(st));
        } else if (!header_equal(&h, &h_before)) {
            ok = 0;
            snprintf(why, sizeof why, "the header passed in was modified");
        } else if (st != PHYFF_OK) {
            if (out_len != 0) {
                ok = 0;
                snprintf(why, sizeof why, "failure left *out_len = %zu, W-P3 says 0", out_len);
            }
        } else {
            const json_value *wv = json_get(out, "wire");
            if (wv != NULL) {
                size_t wn;
                uint8_t *want = get_hex(wv, &wn);
                if (!bytes_equal(wire, out_len, want, wn)) {
                    size_t k = 0;
                    while (k < out_len && k < wn && wire[k] == want[k]) k++;
                    ok = 0;
                    snprintf(why, sizeof why, "wire length %zu (expected %zu), first difference "
                             "at byte %zu", out_len, wn, k);
                }
                free(want);
            } else {
                size_t wl = (size_t)get_u64(field(out, "wire_len"), SIZE_MAX);
                const char *want_sha = get_str(field(out, "wire_sha256"));
                size_t hn, tn;
                uint8_t *head = get_hex(field(out, "wire_head"), &hn);
                uint8_t *tail = get_hex(field(out, "wire_tail"), &tn);
                char sha[65];
                sha256_hex(wire, out_len, sha);
                if (out_len != wl) {
                    ok = 0;
                    snprintf(why, sizeof why, "wire length %zu, expected %zu", out_len, wl);
                } else if (hn > wl || tn > wl || memcmp(wire, head, hn) != 0 ||
                           memcmp(wire + wl - tn, tail, tn) != 0) {
                    ok = 0;
                    snprintf(why, sizeof why, "first or last bytes differ");
                } else if (strcmp(sha, want_sha) != 0) {
                    ok = 0;
                    snprintf(why, sizeof why, "sha256 %s, expected %s", sha, want_sha);
                }
                free(head);
                free(tail);
            }
            /* W-W1: exactly one 0x00, at the end */
            if (ok && (out_len == 0 || wire[out_len - 1] != 0 ||
                       memchr(wire, 0, out_len - 1) != NULL)) {
                ok = 0;
                snprintf(why, sizeof why, "the frame is not zero-free with one final delimiter");
            }
            /* the CRC carried by the frame */
            if (ok) {
                size_t dn = 0;
                uint8_t *dec = xmalloc(out_len);
                int dst = (int)phyff_cobs_decode(wire, out_len - 1, dec, out_len, &dn);
                uint16_t want_crc = (uint16_t)get_u64(field(out, "crc"), 0xFFFF);
                if (dst != PHYFF_OK || dn != n + PHYFF_HEADER_SIZE + PHYFF_CRC_SIZE ||
                    (uint16_t)(dec[dn - 2] | dec[dn - 1] << 8) != want_crc) {
                    ok = 0;
                    snprintf(why, sizeof why, "the CRC in the frame is not 0x%04x", want_crc);
                }
                free(dec);
            }
            if (ok) ok = roundtrip_ok(wire, out_len - 1, &h, payload, n, why, sizeof why);
        }
        if (!ok) report(g, i, c->offset, "%s", why);
        record(g, ok);
        free(payload);
        free(wire);
    }
}

static void check_frame_decode(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        size_t n;
        uint8_t *buf = get_hex(field(in, "body"), &n);
        size_t max_payload = (size_t)get_u64(field(in, "max_payload"), SIZE_MAX);
        int want_st = status_from(field(out, "status"));
        struct phyff_header h;
        memset(&h, 0xA5, sizeof h);
        const uint8_t *p = NULL;
        size_t plen = (size_t)0xDEADBEEF;
        int st = (int)phyff_frame_decode(buf, n, max_payload, &h, &p, &plen);
        int ok = 1;
        if (st != want_st) {
            ok = 0;
            report(g, i, c->offset, "(%zu bytes, max_payload %zu): expected %s, got %s", n,
                   max_payload, status_label(want_st), status_label(st));
        } else if (st != PHYFF_OK) {
            if (plen != 0) {
                ok = 0;
                report(g, i, c->offset, "failure left *payload_len = %zu, W-P3 says 0", plen);
            }
        } else {
            struct phyff_header want = get_header(field(out, "header"));
            size_t wn;
            uint8_t *wp = get_hex(field(out, "payload"), &wn);
            char a[96], b[96];
            if (!header_equal(&h, &want)) {
                ok = 0;
                header_str(&want, a, sizeof a);
                header_str(&h, b, sizeof b);
                report(g, i, c->offset, "header %s, expected %s", b, a);
            } else if (plen != wn || plen != h.length) {
                ok = 0;
                report(g, i, c->offset, "payload_len %zu, expected %zu", plen, wn);
            } else if (plen && (p == NULL || p < buf || p + plen > buf + n ||
                                memcmp(p, wp, plen) != 0)) {
                ok = 0;
                report(g, i, c->offset, "payload bytes differ or point outside the buffer");
            }
            free(wp);
        }
        record(g, ok);
        free(buf);
    }
}

static void check_check_level(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in");
        struct phyff_header h = {0};
        h.level = (uint8_t)get_u64(field(in, "level"), 0xFF);
        h.cmd = (uint8_t)get_u64(field(in, "cmd"), 0xFF);
        int want = status_from(field(c, "out"));
        int got = (int)phyff_check_level(&h);
        if (got != want)
            report(g, i, c->offset, "(level %u, cmd %u): expected %s, got %s", h.level, h.cmd,
                   status_label(want), status_label(got));
        record(g, got == want);
    }
}

/* ---- records ----------------------------------------------------------- */

typedef struct field_desc {
    const char *name;
    int kind; /* 1, 2, 4: unsigned integer of that many bytes; -1: int8; 0: a name */
    size_t off;
} field_desc;

#define F(T, name, kind) {#name, kind, offsetof(T, name)}
static const field_desc header_fields[] = {
    F(struct phyff_header, level, 1), F(struct phyff_header, seq, 1),
    F(struct phyff_header, cmd, 1),   F(struct phyff_header, flags, 1),
    F(struct phyff_header, length, 2), F(struct phyff_header, aux, 2), {NULL, 0, 0}};
static const field_desc error_fields[] = {
    F(struct phyff_error, status, 2), F(struct phyff_error, arg, 2), {NULL, 0, 0}};
static const field_desc event_fields[] = {
    F(struct phyff_event, event, 2), F(struct phyff_event, arg, 2), {NULL, 0, 0}};
static const field_desc query_head_fields[] = {F(struct phyff_query_head, n_samples, 2),
                                               F(struct phyff_query_head, n_channels, 2),
                                               {NULL, 0, 0}};
static const field_desc config_fields[] = {
    F(struct phyff_config, settle_us, 4),      F(struct phyff_config, oversample, 2),
    F(struct phyff_config, n_drive_active, 2), F(struct phyff_config, n_sense_active, 2),
    F(struct phyff_config, reserved, 2),       {NULL, 0, 0}};
static const field_desc stats_fields[] = {
    F(struct phyff_stats, frames_ok, 4),      F(struct phyff_stats, crc_errors, 4),
    F(struct phyff_stats, framing_errors, 4), F(struct phyff_stats, bad_commands, 4),
    F(struct phyff_stats, overruns, 4),       F(struct phyff_stats, samples_served, 4),
    F(struct phyff_stats, error_replies, 4),  F(struct phyff_stats, uptime_ms, 4),
    F(struct phyff_stats, infer_samples, 4),  F(struct phyff_stats, infer_digital_us, 4),
    F(struct phyff_stats, infer_medium_us, 4), {NULL, 0, 0}};
static const field_desc caps_fields[] = {
    F(struct phyff_caps, level, 1),          F(struct phyff_caps, reserved0, 1),
    F(struct phyff_caps, features, 2),       F(struct phyff_caps, firmware_version, 4),
    F(struct phyff_caps, unit_id, 4),        F(struct phyff_caps, max_batch, 2),
    F(struct phyff_caps, max_payload, 2),    F(struct phyff_caps, n_drive, 2),
    F(struct phyff_caps, n_sense, 2),        F(struct phyff_caps, dac_bits, 1),
    F(struct phyff_caps, adc_bits, 1),       F(struct phyff_caps, max_oversample, 2),
    F(struct phyff_caps, board, 0),          F(struct phyff_caps, medium, 0),
    F(struct phyff_caps, max_settle_us, 4),  F(struct phyff_caps, model_capacity, 4),
    F(struct phyff_caps, model_crc, 4),      F(struct phyff_caps, model_loaded, 1),
    F(struct phyff_caps, reserved1, 1),      F(struct phyff_caps, reserved2, 2),
    F(struct phyff_caps, max_classes, 2),    F(struct phyff_caps, infer_work, 2),
    {NULL, 0, 0}};
static const field_desc model_begin_fields[] = {
    F(struct phyff_model_begin, image_size, 4), F(struct phyff_model_begin, crc32, 4),
    {NULL, 0, 0}};
static const field_desc chunk_head_fields[] = {F(struct phyff_chunk_head, offset, 4),
                                               {NULL, 0, 0}};
static const field_desc infer_head_fields[] = {
    F(struct phyff_infer_head, n_samples, 2), F(struct phyff_infer_head, n_values, 2),
    F(struct phyff_infer_head, flags, 2),     F(struct phyff_infer_head, reserved, 2),
    {NULL, 0, 0}};
static const field_desc model_info_fields[] = {
    F(struct phyff_model_info, crc32, 4),          F(struct phyff_model_info, image_size, 4),
    F(struct phyff_model_info, train_unit_id, 4),  F(struct phyff_model_info, n_features, 2),
    F(struct phyff_model_info, n_classes, 2),      F(struct phyff_model_info, max_batch, 2),
    F(struct phyff_model_info, max_batch_trace, 2), F(struct phyff_model_info, n_blocks, 1),
    F(struct phyff_model_info, inference, 1),      F(struct phyff_model_info, input_exp, -1),
    F(struct phyff_model_info, score_exp, -1),     F(struct phyff_model_info, trace_values, 2),
    F(struct phyff_model_info, origin, 2),         F(struct phyff_model_info, name, 0),
    F(struct phyff_model_info, train_board, 0),    F(struct phyff_model_info, train_medium, 0),
    F(struct phyff_model_info, readout_origin, 2), F(struct phyff_model_info, readout_samples, 2),
    {NULL, 0, 0}};
static const field_desc learn_head_fields[] = {
    F(struct phyff_learn_head, n_samples, 2), F(struct phyff_learn_head, n_values, 2),
    {NULL, 0, 0}};
static const field_desc refit_reply_fields[] = {
    F(struct phyff_refit_reply, crc32, 4), F(struct phyff_refit_reply, samples, 2),
    F(struct phyff_refit_reply, conditioning, 2), {NULL, 0, 0}};
static const field_desc model_head_fields[] = {
    F(struct phyff_model_head, magic, 4),          F(struct phyff_model_head, version, 2),
    F(struct phyff_model_head, n_blocks, 1),       F(struct phyff_model_head, inference, 1),
    F(struct phyff_model_head, n_features, 2),     F(struct phyff_model_head, n_classes, 2),
    F(struct phyff_model_head, width, 2),          F(struct phyff_model_head, feature_offset, 2),
    F(struct phyff_model_head, train_unit_id, 4),  F(struct phyff_model_head, input_exp, -1),
    F(struct phyff_model_head, score_exp, -1),     F(struct phyff_model_head, overlay, 1),
    F(struct phyff_model_head, readout_abs, 1),    F(struct phyff_model_head, name, 0),
    F(struct phyff_model_head, train_board, 0),    F(struct phyff_model_head, train_medium, 0),
    {NULL, 0, 0}};
static const field_desc block_head_fields[] = {
    F(struct phyff_block_head, encoder, 1),   F(struct phyff_block_head, flags, 1),
    F(struct phyff_block_head, d_in, 2),      F(struct phyff_block_head, n_drive, 2),
    F(struct phyff_block_head, n_sense, 2),   F(struct phyff_block_head, d_out, 2),
    F(struct phyff_block_head, in_exp, -1),   F(struct phyff_block_head, out_exp, -1),
    F(struct phyff_block_head, shift_p, 1),   F(struct phyff_block_head, shift_h, 1),
    F(struct phyff_block_head, shift_b, 1),   F(struct phyff_block_head, shift_out, 1),
    F(struct phyff_block_head, settle_us, 4), F(struct phyff_block_head, oversample, 2),
    F(struct phyff_block_head, readout_shift, 1), F(struct phyff_block_head, rows, 1),
    {NULL, 0, 0}};
static const field_desc readout_head_fields[] = {
    F(struct phyff_readout_head, n_in, 2),    F(struct phyff_readout_head, n_classes, 2),
    F(struct phyff_readout_head, shift_b, 1), F(struct phyff_readout_head, shift_out, 1),
    F(struct phyff_readout_head, refit_samples, 2), {NULL, 0, 0}};
static const field_desc code_head_fields[] = {
    F(struct phyff_code_head, gain_q8, 2), F(struct phyff_code_head, reserved, 2), {NULL, 0, 0}};
static const field_desc describe_head_fields[] = {
    F(struct phyff_describe_head, magic, 4),      F(struct phyff_describe_head, length, 4),
    F(struct phyff_describe_head, n_features, 2), F(struct phyff_describe_head, n_classes, 2),
    F(struct phyff_describe_head, flags, 1),      F(struct phyff_describe_head, reserved, 1),
    F(struct phyff_describe_head, range_q8, 2),   {NULL, 0, 0}};
static const field_desc describe_request_fields[] = {
    F(struct phyff_describe_request, offset, 4), F(struct phyff_describe_request, max_bytes, 2),
    F(struct phyff_describe_request, reserved, 2), {NULL, 0, 0}};
static const field_desc describe_reply_fields[] = {
    F(struct phyff_describe_reply, section_size, 4), F(struct phyff_describe_reply, offset, 4),
    {NULL, 0, 0}};
#undef F

typedef void (*pack_fn)(const void *rec, uint8_t *out);
typedef void (*unpack_fn)(const uint8_t *in, void *rec);

#define PACKERS(T, name)                                                                   \
    static void pk_##name(const void *r, uint8_t *o) { phyff_##name##_pack((const T *)r, o); } \
    static void up_##name(const uint8_t *i, void *r) { phyff_##name##_unpack(i, (T *)r); }
PACKERS(struct phyff_header, header)
PACKERS(struct phyff_error, error)
PACKERS(struct phyff_event, event)
PACKERS(struct phyff_query_head, query_head)
PACKERS(struct phyff_config, config)
PACKERS(struct phyff_stats, stats)
PACKERS(struct phyff_caps, caps)
PACKERS(struct phyff_model_begin, model_begin)
PACKERS(struct phyff_chunk_head, chunk_head)
PACKERS(struct phyff_infer_head, infer_head)
PACKERS(struct phyff_model_info, model_info)
PACKERS(struct phyff_learn_head, learn_head)
PACKERS(struct phyff_refit_reply, refit_reply)
PACKERS(struct phyff_model_head, model_head)
PACKERS(struct phyff_block_head, block_head)
PACKERS(struct phyff_readout_head, readout_head)
PACKERS(struct phyff_code_head, code_head)
PACKERS(struct phyff_describe_head, describe_head)
PACKERS(struct phyff_describe_request, describe_request)
PACKERS(struct phyff_describe_reply, describe_reply)
#undef PACKERS

/* Fill rec (of size `size`) from the JSON object, field by field. */
static void rec_from_json(const field_desc *fd, const json_value *obj, void *rec, size_t size) {
    memset(rec, 0, size);
    for (; fd->name; fd++) {
        const json_value *v = field(obj, fd->name);
        uint8_t *p = (uint8_t *)rec + fd->off;
        if (fd->kind == 0) {
            const char *s = get_str(v);
            if (v->u.string.len > PHYFF_NAME_SIZE) bad_vector(v, "name longer than 16 bytes");
            memcpy(p, s, v->u.string.len);
        } else if (fd->kind == 1) {
            uint8_t x = (uint8_t)get_u64(v, 0xFF);
            memcpy(p, &x, 1);
        } else if (fd->kind == -1) {
            int8_t x = (int8_t)get_i64(v, INT8_MIN, INT8_MAX);
            memcpy(p, &x, 1);
        } else if (fd->kind == 2) {
            uint16_t x = (uint16_t)get_u64(v, 0xFFFF);
            memcpy(p, &x, 2);
        } else {
            uint32_t x = (uint32_t)get_u64(v, 0xFFFFFFFF);
            memcpy(p, &x, 4);
        }
    }
}

/* First field of a that differs from b, or NULL. */
static const char *rec_diff(const field_desc *fd, const void *a, const void *b) {
    for (; fd->name; fd++) {
        size_t w = fd->kind == 0 ? PHYFF_NAME_SIZE : fd->kind < 0 ? 1u : (size_t)fd->kind;
        if (memcmp((const uint8_t *)a + fd->off, (const uint8_t *)b + fd->off, w) != 0)
            return fd->name;
    }
    return NULL;
}

static void run_record(const json_value *cases, group *g, const field_desc *fd, size_t size,
                       size_t wire_size, pack_fn pack, unpack_fn unpack) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        uint8_t rec[256], back[256];
        rec_from_json(fd, field(c, "in"), rec, size);
        size_t wn;
        uint8_t *want = get_hex(field(c, "out"), &wn);
        if (wn != wire_size) bad_vector(c, "packed size differs from the record size");
        uint8_t *out = xmalloc(wire_size);
        memset(out, 0xA5, wire_size);
        pack(rec, out);
        int ok = 1;
        if (memcmp(out, want, wire_size) != 0) {
            size_t k = 0;
            while (out[k] == want[k]) k++;
            ok = 0;
            report(g, i, c->offset, "pack: byte %zu is 0x%02x, expected 0x%02x", k, out[k],
                   want[k]);
        }
        memset(back, 0xA5, size);
        unpack(want, back);
        const char *d = rec_diff(fd, back, rec);
        if (d != NULL) {
            ok = 0;
            report(g, i, c->offset, "unpack: field %s differs", d);
        }
        record(g, ok);
        free(out);
        free(want);
    }
}

#define RECORD_CHECK(name, T, SIZE)                                                      \
    static void check_##name##_pack(const json_value *c, group *g) {                     \
        run_record(c, g, name##_fields, sizeof(T), SIZE, pk_##name, up_##name);         \
    }
RECORD_CHECK(header, struct phyff_header, PHYFF_HEADER_SIZE)
RECORD_CHECK(error, struct phyff_error, PHYFF_ERROR_SIZE)
RECORD_CHECK(event, struct phyff_event, PHYFF_EVENT_SIZE)
RECORD_CHECK(query_head, struct phyff_query_head, PHYFF_QUERY_HEAD_SIZE)
RECORD_CHECK(config, struct phyff_config, PHYFF_CONFIG_SIZE)
RECORD_CHECK(stats, struct phyff_stats, PHYFF_STATS_SIZE)
RECORD_CHECK(caps, struct phyff_caps, PHYFF_CAPS_SIZE)
RECORD_CHECK(model_begin, struct phyff_model_begin, PHYFF_MODEL_BEGIN_SIZE)
RECORD_CHECK(chunk_head, struct phyff_chunk_head, PHYFF_CHUNK_HEAD_SIZE)
RECORD_CHECK(infer_head, struct phyff_infer_head, PHYFF_INFER_HEAD_SIZE)
RECORD_CHECK(model_info, struct phyff_model_info, PHYFF_MODEL_INFO_SIZE)
RECORD_CHECK(learn_head, struct phyff_learn_head, PHYFF_LEARN_HEAD_SIZE)
RECORD_CHECK(refit_reply, struct phyff_refit_reply, PHYFF_REFIT_REPLY_SIZE)
RECORD_CHECK(model_head, struct phyff_model_head, PHYFF_MODEL_HEAD_SIZE)
RECORD_CHECK(block_head, struct phyff_block_head, PHYFF_BLOCK_HEAD_SIZE)
RECORD_CHECK(readout_head, struct phyff_readout_head, PHYFF_READOUT_HEAD_SIZE)
RECORD_CHECK(code_head, struct phyff_code_head, PHYFF_CODE_HEAD_SIZE)
RECORD_CHECK(describe_head, struct phyff_describe_head, PHYFF_DESCRIBE_HEAD_SIZE)
RECORD_CHECK(describe_request, struct phyff_describe_request, PHYFF_DESCRIBE_REQUEST_SIZE)
RECORD_CHECK(describe_reply, struct phyff_describe_reply, PHYFF_DESCRIBE_REPLY_SIZE)
#undef RECORD_CHECK

static void check_samples(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        size_t n, wn;
        int16_t *v = get_i16_array(field(c, "in"), &n);
        uint8_t *want = get_hex(field(c, "out"), &wn);
        if (wn != 2 * n) bad_vector(c, "samples: 2 bytes per value");
        uint8_t *out = xmalloc(wn);
        phyff_samples_pack(v, n, out);
        int16_t *back = xmalloc(n * sizeof *back);
        phyff_samples_unpack(want, n, back);
        int ok = bytes_equal(out, wn, want, wn) && (n == 0 || memcmp(back, v, n * 2) == 0);
        if (!ok) report(g, i, c->offset, "%zu samples: pack or unpack differs", n);
        record(g, ok);
        free(v);
        free(want);
        free(out);
        free(back);
    }
}

static void run_uint_le(const json_value *cases, group *g, size_t width) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        uint32_t v = (uint32_t)get_u64(field(c, "in"), width == 2 ? 0xFFFF : 0xFFFFFFFF);
        size_t wn;
        uint8_t *want = get_hex(field(c, "out"), &wn);
        if (wn != width) bad_vector(c, "width");
        uint8_t *out = xmalloc(width);
        uint32_t back;
        if (width == 2) {
            phyff_put_u16(out, (uint16_t)v);
            back = phyff_get_u16(want);
        } else {
            phyff_put_u32(out, v);
            back = phyff_get_u32(want);
        }
        int ok = memcmp(out, want, width) == 0 && back == v;
        if (!ok) report(g, i, c->offset, "0x%x: put or get differs", (unsigned)v);
        record(g, ok);
        free(want);
        free(out);
    }
}

static void check_u16_le(const json_value *c, group *g) { run_uint_le(c, g, 2); }
static void check_u32_le(const json_value *c, group *g) { run_uint_le(c, g, 4); }

/* ---- mutated frames under the sanitizers --------------------------------- *
 * Not golden vectors: every valid frame body from frame_decode is corrupted in
 * many ways (bit flips, truncation, insertion, deletion, byte overwrite) and
 * decoded from an exact-size buffer. The decoder must not touch memory
 * outside it (W-P1), must return a status of the enum, must set *payload_len to
 * 0 on failure (W-P3), and on success must return a payload inside the buffer
 * whose re-encoding decodes to the same frame. */

static uint32_t lcg_state = 12345u;
static uint32_t lcg(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

static int is_status(int st) {
    for (size_t k = 0; k < N_STATUS; k++)
        if (status_table[k].value == st) return 1;
    return 0;
}

static int mutated_ok(const uint8_t *body, size_t n, char *why, size_t why_n) {
    uint8_t *buf = xmalloc(n);
    if (n) memcpy(buf, body, n);
    size_t max_payload = (lcg() & 3u) ? PHYFF_MAX_PAYLOAD_LIMIT : lcg() % 64u;
    struct phyff_header h;
    const uint8_t *p = NULL;
    size_t plen = (size_t)0xDEADBEEF;
    int st = (int)phyff_frame_decode(buf, n, max_payload, &h, &p, &plen);
    int ok = 1;
    if (!is_status(st)) {
        snprintf(why, why_n, "returned %d, not a phyff_status", st);
        ok = 0;
    } else if (st != PHYFF_OK) {
        if (plen != 0) {
            snprintf(why, why_n, "%s left *payload_len = %zu", status_label(st), plen);
            ok = 0;
        }
    } else if (plen != h.length || plen > max_payload ||
               (plen && (p == NULL || p < buf || p + plen > buf + n))) {
        snprintf(why, why_n, "OK with an inconsistent payload (len %zu, length field %u)", plen,
                 h.length);
        ok = 0;
    } else {
        size_t cap = PHYFF_WIRE_MAX_FRAME(plen), wl = 0;
        uint8_t *wire = xmalloc(cap);
        uint8_t *copy = xmalloc(plen);
        if (plen) memcpy(copy, p, plen);
        int est = (int)phyff_frame_encode(&h, plen ? copy : NULL, plen, wire, cap, &wl);
        if (est != PHYFF_OK || wl < 1) {
            snprintf(why, why_n, "re-encoding an accepted frame gave %s", status_label(est));
            ok = 0;
        } else {
            ok = roundtrip_ok(wire, wl - 1, &h, copy, plen, why, why_n);
        }
        free(wire);
        free(copy);
    }
    free(buf);
    return ok;
}

static void check_mutations(const json_value *decode_cases, group *g) {
    size_t idx = 0;
    for (size_t i = 0; i < json_count(decode_cases); i++) {
        const json_value *c = item(decode_cases, i);
        size_t n;
        uint8_t *body = get_hex(field(field(c, "in"), "body"), &n);
        if (n > 4096) {
            free(body);
            continue;
        }
        uint8_t *m = xmalloc(n + 8);
        for (int k = 0; k < 40; k++, idx++) {
            size_t mn = n;
            if (n) memcpy(m, body, n);
            unsigned what = lcg() % 6u;
            size_t pos = n ? lcg() % n : 0;
            if (what == 0 && n) {
                m[pos] ^= (uint8_t)(1u << (lcg() % 8u)); /* bit flip */
            } else if (what == 1) {
                mn = n ? lcg() % n : 0; /* truncation */
            } else if (what == 2) {
                memmove(m + pos + 1, m + pos, n - pos); /* insertion */
                m[pos] = (uint8_t)lcg();
                mn = n + 1;
            } else if (what == 3 && n) {
                memmove(m + pos, m + pos + 1, n - pos - 1); /* deletion */
                mn = n - 1;
            } else if (what == 4 && n) {
                m[pos] = (uint8_t)lcg(); /* overwrite */
            } else {
                m[pos < n ? pos : 0] = 0; /* a zero, as if a delimiter were inside */
                if (!n) mn = 1;
            }
            char why[256] = "";
            int ok = mutated_ok(m, mn, why, sizeof why);
            if (!ok) report(g, idx, c->offset, "mutation %u of case %zu: %s", what, i, why);
            record(g, ok);
        }
        free(m);
        free(body);
    }
}

/* ==========================================================================
 * model.h
 * ========================================================================== */

static const named_const model_consts[] = {
        {"MODEL_MAGIC", PHYFF_MODEL_MAGIC},
        {"MODEL_VERSION", PHYFF_MODEL_VERSION},
        {"MODEL_MAX_BLOCKS", PHYFF_MODEL_MAX_BLOCKS},
        {"MODEL_HEAD_SIZE", PHYFF_MODEL_HEAD_SIZE},
        {"BLOCK_HEAD_SIZE", PHYFF_BLOCK_HEAD_SIZE},
        {"READOUT_HEAD_SIZE", PHYFF_READOUT_HEAD_SIZE},
        {"DESCRIBE_MAGIC", PHYFF_DESCRIBE_MAGIC},
        {"DESCRIBE_HEAD_SIZE", PHYFF_DESCRIBE_HEAD_SIZE},
        {"DESCRIBE_RANGE_Q8", PHYFF_DESCRIBE_RANGE_Q8},
        {"MODEL_MAX_REFIT_SAMPLES", PHYFF_MODEL_MAX_REFIT_SAMPLES},
};

static void check_model_constants(const json_value *cases, group *g) {
    check_named_constants(cases, g, model_consts, sizeof model_consts / sizeof model_consts[0],
                          "model.h");
}

static const named_enum model_enum_table[] = {
    {"Inference", "ONEPASS", PHYFF_INFERENCE_ONEPASS},
    {"Inference", "GOODNESS", PHYFF_INFERENCE_GOODNESS},
    {"Encoder", "AMPLITUDE", PHYFF_ENC_AMPLITUDE},
    {"Encoder", "BINARY2", PHYFF_ENC_BINARY2},
    {"Encoder", "BINARY2_UNIFORM", PHYFF_ENC_BINARY2_UNIFORM},
    {"Encoder", "PHASE", PHYFF_ENC_PHASE},
    {"Encoder", "CLIP", PHYFF_ENC_CLIP},
    {"BlockFlag", "PHYSICAL", PHYFF_BLOCK_PHYSICAL},
    {"BlockFlag", "SKIP", PHYFF_BLOCK_SKIP},
    {"DescribeFlag", "CLIP", PHYFF_DESCRIBE_CLIP},
    {"DescribeFlag", "FEATURE_NAMES", PHYFF_DESCRIBE_FEATURE_NAMES},
};
#define N_MODEL_ENUM (sizeof model_enum_table / sizeof model_enum_table[0])

static void check_model_enums(const json_value *cases, group *g) {
    int seen[N_MODEL_ENUM] = {0};
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = get_arr(field(c, "in"));
        const char *kind = get_str(item(in, 0)), *name = get_str(item(in, 1));
        int64_t want = get_i64(field(c, "out"), INT32_MIN, INT32_MAX);
        const named_enum *row = find_enum(model_enum_table, N_MODEL_ENUM, seen, kind, name);
        int found = row != NULL;
        int ok = found && row->value == want;
        if (!ok)
            report(g, i, c->offset, "%s.%s: %s (vector value %lld)", kind, name,
                   found ? "value differs" : "not in model.h", (long long)want);
        record(g, ok);
    }
    report_unseen_enums(g, json_count(cases), model_enum_table, N_MODEL_ENUM, seen, "model.h");
}

static void get_limits(const json_value *l, struct phyff_model_limits *lim) {
    memset(lim, 0, sizeof *lim);
    lim->unit_id = (uint32_t)get_u64(field(l, "unit_id"), 0xFFFFFFFFu);
    const json_value *m = field(l, "medium");
    const char *s = get_str(m);
    if (m->u.string.len > PHYFF_NAME_SIZE) bad_vector(m, "medium longer than 16 bytes");
    memcpy(lim->medium, s, m->u.string.len);
    lim->n_drive = (uint16_t)get_u64(field(l, "n_drive"), 0xFFFF);
    lim->n_sense = (uint16_t)get_u64(field(l, "n_sense"), 0xFFFF);
    lim->max_oversample = (uint16_t)get_u64(field(l, "max_oversample"), 0xFFFF);
    lim->max_settle_us = (uint32_t)get_u64(field(l, "max_settle_us"), 0xFFFFFFFFu);
    lim->max_classes = (uint16_t)get_u64(field(l, "max_classes"), 0xFFFF);
    lim->work_values = (uint32_t)get_u64(field(l, "work_values"), 0xFFFFFFFFu);
}

/* The case's image (an exact-size heap block: the sanitizer sees any read
 * past it) checked into *view; a pipeline vector's image must pass. */
static uint8_t *load_view(const json_value *in, struct phyff_model_view *view) {
    size_t n;
    uint8_t *img = get_hex(field(in, "image"), &n);
    struct phyff_model_limits lim;
    get_limits(field(in, "limits"), &lim);
    uint32_t bad = 0;
    if (phyff_model_check(img, (uint32_t)n, &lim, view, &bad) != PHYFF_OK)
        bad_vector(in, "a pipeline vector's image is refused by phyff_model_check");
    return img;
}

static int i16_equal(const int16_t *got, const json_value *want, size_t n) {
    get_arr(want);
    if (json_count(want) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != get_i64(item(want, i), INT16_MIN, INT16_MAX)) return 0;
    return 1;
}

static int get_bool(const json_value *v) {
    if (v == NULL || v->type != JSON_BOOL) bad_vector(v, "expected true or false");
    return v->u.boolean;
}

static void check_model_check(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        size_t n;
        uint8_t *img = get_hex(field(in, "image"), &n);
        struct phyff_model_limits lim;
        get_limits(field(in, "limits"), &lim);
        struct phyff_model_view view;
        uint32_t bad = 0xA5A5A5A5u;
        int want = status_from(field(out, "status"));
        uint32_t want_off = (uint32_t)get_u64(field(out, "bad_offset"), 0xFFFFFFFFu);
        int got = (int)phyff_model_check(img, (uint32_t)n, &lim, &view, &bad);
        int ok = got == want && bad == want_off;
        if (!ok) {
            report(g, i, c->offset, "%s: expected %s at %u, got %s at %u",
                   get_str(field(in, "why")), status_label(want), (unsigned)want_off,
                   status_label(got), (unsigned)bad);
        } else if (want == PHYFF_OK) {
            const json_value *at = get_arr(field(out, "block_at"));
            int view_ok = view.trace_values == get_u64(field(out, "trace_values"), 0xFFFF) &&
                          view.readout_width == get_u64(field(out, "readout_width"), 0xFFFF) &&
                          phyff_model_work_values(&view) ==
                              get_u64(field(out, "work_values"), 0xFFFFFFFFu) &&
                          view.readout_at == get_u64(field(out, "readout_at"), 0xFFFFFFFFu) &&
                          view.describe_at == get_u64(field(out, "describe_at"), 0xFFFFFFFFu) &&
                          phyff_model_describe_size(&view) ==
                              get_u64(field(out, "describe_size"), 0xFFFFFFFFu) &&
                          json_count(at) == view.head.n_blocks && view.image == img &&
                          view.size == n;
            for (size_t k = 0; view_ok && k < json_count(at); k++)
                view_ok = view.block_at[k] == get_u64(item(at, k), 0xFFFFFFFFu);
            if (!view_ok) {
                ok = 0;
                report(g, i, c->offset, "%s: the view (trace, read-out width, work values or "
                       "offsets) differs", get_str(field(in, "why")));
            }
        }
        record(g, ok);
        free(img);
    }
}

static void check_infer_layout(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        struct phyff_model_view v;
        uint8_t *img = load_view(in, &v);
        size_t nx;
        int16_t *x = get_i16_array(field(in, "x"), &nx);
        if (nx != v.head.n_features) bad_vector(in, "x: n_features values");
        int label = (int)get_i64(field(in, "label"), -1, v.head.n_classes - 1);
        int16_t *h = xmalloc(sizeof(int16_t) * v.head.width);
        memset(h, 0x5A, sizeof(int16_t) * v.head.width);
        bool sat = phyff_infer_layout(&v, x, label, h);
        int ok = i16_equal(h, field(out, "h"), v.head.width) &&
                 (int)sat == get_bool(field(out, "sat"));
        if (!ok) report(g, i, c->offset, "label %d: row or saturation differs", label);
        record(g, ok);
        free(h);
        free(x);
        free(img);
    }
}

static void check_infer_encode(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in");
        struct phyff_model_view v;
        uint8_t *img = load_view(in, &v);
        unsigned k = (unsigned)get_u64(field(in, "k"), v.head.n_blocks - 1u);
        const struct phyff_block_head *b = &v.blocks[k];
        size_t nh;
        int16_t *h = get_i16_array(field(in, "h"), &nh);
        if (nh != b->d_in) bad_vector(in, "h: d_in values");
        const uint16_t w = phyff_block_drive_width(b);
        int16_t *drive = xmalloc(sizeof(int16_t) * w);
        phyff_infer_encode(&v, k, h, drive);
        int ok = i16_equal(drive, field(c, "out"), w);
        if (!ok) report(g, i, c->offset, "encoder %u (block %u): drive differs", b->encoder, k);
        record(g, ok);
        free(drive);
        free(h);
        free(img);
    }
}

static void check_infer_affine(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        struct phyff_model_view v;
        uint8_t *img = load_view(in, &v);
        unsigned k = (unsigned)get_u64(field(in, "k"), v.head.n_blocks - 1u);
        const struct phyff_block_head *b = &v.blocks[k];
        size_t np, nh;
        int16_t *p = get_i16_array(field(in, "p"), &np);
        int16_t *h = get_i16_array(field(in, "h"), &nh);
        const size_t sensed = (size_t)phyff_block_rows(b) * b->n_sense;
        if (nh != b->d_in || np != ((b->flags & PHYFF_BLOCK_PHYSICAL) ? sensed : 0u))
            bad_vector(in, "p: rows x n_sense values (physical), h: d_in values");
        int16_t *y = xmalloc(sizeof(int16_t) * b->d_out);
        bool sat = phyff_infer_affine(&v, k, p, h, y);
        int ok = i16_equal(y, field(out, "y"), b->d_out) &&
                 (int)sat == get_bool(field(out, "sat"));
        if (!ok) report(g, i, c->offset, "block %u: y or saturation differs", k);
        record(g, ok);
        free(y);
        free(p);
        free(h);
        free(img);
    }
}

static void check_infer_readout(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        struct phyff_model_view v;
        uint8_t *img = load_view(in, &v);
        const json_value *ys = get_arr(field(in, "ys"));
        if (json_count(ys) != v.head.n_blocks) bad_vector(in, "ys: one y per block");
        const size_t nc = v.head.n_classes;
        int64_t *acc = xmalloc(sizeof(int64_t) * nc);
        int32_t *scores = xmalloc(sizeof(int32_t) * nc);
        memset(acc, 0, sizeof(int64_t) * nc);
        for (unsigned k = 0; k < v.head.n_blocks; k++) {
            size_t ny;
            int16_t *y = get_i16_array(item(ys, k), &ny);
            if (ny != v.blocks[k].d_out) bad_vector(in, "ys: d_out values per block");
            phyff_infer_readout_add(&v, k, y, acc);
            free(y);
        }
        const json_value *wa = get_arr(field(out, "acc")), *ws = get_arr(field(out, "scores"));
        int ok = json_count(wa) == nc && json_count(ws) == nc;
        for (size_t j = 0; ok && j < nc; j++) ok = acc[j] == get_i64(item(wa, j), INT64_MIN, INT64_MAX);
        if (!ok) report(g, i, c->offset, "accumulators differ");
        bool sat = phyff_infer_readout_finish(&v, acc, scores);
        int ok2 = (int)sat == get_bool(field(out, "sat"));
        for (size_t j = 0; ok2 && j < nc; j++)
            ok2 = scores[j] == get_i64(item(ws, j), INT32_MIN, INT32_MAX);
        if (!ok2) report(g, i, c->offset, "scores or saturation differ");
        record(g, ok && ok2);
        free(acc);
        free(scores);
        free(img);
    }
}

static void check_infer_goodness(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in");
        struct phyff_model_view v;
        uint8_t *img = load_view(in, &v);
        unsigned k = (unsigned)get_u64(field(in, "k"), v.head.n_blocks - 1u);
        size_t ny;
        int16_t *y = get_i16_array(field(in, "y"), &ny);
        if (ny != v.blocks[k].d_out) bad_vector(in, "y: d_out values");
        int64_t want = get_i64(field(c, "out"), INT32_MIN, INT32_MAX);
        int32_t got = phyff_infer_goodness(&v, k, y);
        if (got != want)
            report(g, i, c->offset, "block %u: expected %lld, got %ld", k, (long long)want,
                   (long)got);
        record(g, got == want);
        free(y);
        free(img);
    }
}

static void check_argmax(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = get_arr(field(c, "in"));
        size_t n = json_count(in);
        int32_t *s = xmalloc(sizeof(int32_t) * n);
        for (size_t j = 0; j < n; j++) s[j] = (int32_t)get_i64(item(in, j), INT32_MIN, INT32_MAX);
        uint64_t want = get_u64(field(c, "out"), n - 1u);
        uint16_t got = phyff_argmax_s32(s, n);
        if (got != want)
            report(g, i, c->offset, "%zu scores: expected %llu, got %u", n,
                   (unsigned long long)want, got);
        record(g, got == want);
        free(s);
    }
}

/* M-P1-P7 for one sample, composed from the model.c functions the way the core
 * composes them, the sensed values given by the vector. */
static void check_infer_sample(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const json_value *in = field(c, "in"), *out = field(c, "out");
        struct phyff_model_view v;
        uint8_t *img = load_view(in, &v);
        size_t nx;
        int16_t *x = get_i16_array(field(in, "x"), &nx);
        if (nx != v.head.n_features) bad_vector(in, "x: n_features values");
        const json_value *sensed = get_arr(field(in, "sensed"));
        const json_value *drives = get_arr(field(out, "drives"));
        const bool onepass = v.head.inference == PHYFF_INFERENCE_ONEPASS;
        const size_t nc = v.head.n_classes;
        int64_t *acc = xmalloc(sizeof(int64_t) * nc);
        int32_t *scores = xmalloc(sizeof(int32_t) * nc);
        int16_t *h = xmalloc(sizeof(int16_t) * phyff_model_work_values(&v));
        memset(acc, 0, sizeof(int64_t) * nc);
        int ok = 1, sat = 0;
        size_t m = 0;
        for (int label = onepass ? -1 : 0; label < (onepass ? 0 : (int)nc); label++) {
            sat |= phyff_infer_layout(&v, x, label, h);
            int32_t good = 0;
            for (unsigned k = 0; k < v.head.n_blocks; k++) {
                const struct phyff_block_head *b = &v.blocks[k];
                int16_t *p = NULL;
                if (b->flags & PHYFF_BLOCK_PHYSICAL) {
                    /* the drive values row after row, through the slot map (M-R1-R2) */
                    const uint16_t rows = phyff_block_rows(b);
                    const size_t n_rows = (size_t)rows * b->n_drive;
                    int16_t *drive = xmalloc(sizeof(int16_t) * phyff_block_drive_width(b));
                    int16_t *driven = xmalloc(sizeof(int16_t) * n_rows);
                    phyff_infer_encode(&v, k, h, drive);
                    for (uint16_t r = 0; r < rows; r++)
                        for (uint16_t j = 0; j < b->n_drive; j++)
                            driven[(size_t)r * b->n_drive + j] =
                                drive[phyff_infer_slot(&v, k, r, j)];
                    if (m >= json_count(drives) || !i16_equal(driven, item(drives, m), n_rows))
                        ok = 0;
                    free(driven);
                    free(drive);
                    size_t np;
                    p = get_i16_array(item(sensed, m), &np);
                    if (np != (size_t)rows * b->n_sense) bad_vector(in, "sensed: rows x n_sense");
                    m++;
                }
                int16_t *y = xmalloc(sizeof(int16_t) * b->d_out);
                sat |= phyff_infer_affine(&v, k, p, h, y);
                if (onepass) phyff_infer_readout_add(&v, k, y, acc);
                else good += phyff_infer_goodness(&v, k, y);
                memcpy(h, y, sizeof(int16_t) * b->d_out);
                free(y);
                free(p);
            }
            if (!onepass) scores[label] = good;
        }
        if (onepass) sat |= phyff_infer_readout_finish(&v, acc, scores);
        if (!ok) report(g, i, c->offset, "%s: a drive pattern differs",
                        get_str(field(in, "model")));
        const json_value *ws = get_arr(field(out, "scores"));
        int ok2 = json_count(ws) == nc && m == json_count(sensed) &&
                  (int)phyff_argmax_s32(scores, nc) == get_i64(field(out, "class"), 0, 65535) &&
                  sat == get_bool(field(out, "sat"));
        for (size_t j = 0; ok2 && j < nc; j++)
            ok2 = scores[j] == get_i64(item(ws, j), INT32_MIN, INT32_MAX);
        if (!ok2) report(g, i, c->offset, "%s: scores, class or saturation differ",
                         get_str(field(in, "model")));
        record(g, ok && ok2);
        free(acc);
        free(scores);
        free(h);
        free(x);
        free(img);
    }
}

/* ==========================================================================
 * learn.json: on-device read-out learning (learn.h RF-A1-E1)
 * ========================================================================== */

static void check_learn_constants(const json_value *cases, group *g) {
    static const struct { const char *name; long long value; } table[] = {
        {"LEARN_FEATURE_SHIFT", PHYFF_LEARN_FEATURE_SHIFT},
        {"LEARN_MAX_SAMPLES", PHYFF_LEARN_MAX_SAMPLES},
        {"LEARN_MAX_WIDTH", PHYFF_LEARN_MAX_WIDTH},
        {"LEARN_Q", PHYFF_LEARN_Q},
        {"LEARN_RESCALE", PHYFF_LEARN_RESCALE},
        {"LEARN_RETRIES", PHYFF_LEARN_RETRIES},
        {"LEARN_MAX_LAMBDA_SHIFT", PHYFF_LEARN_MAX_LAMBDA_SHIFT},
    };
    const size_t n_table = sizeof table / sizeof table[0];
    if (json_count(cases) != n_table) {
        printf("  FAIL %s: %zu constants in the file, %zu in learn.h\n", g->name,
               json_count(cases), n_table);
        record(g, 0);
    }
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i);
        const char *name = get_str(field(c, "in"));
        int ok = 0;
        for (size_t k = 0; k < n_table; k++)
            if (strcmp(table[k].name, name) == 0)
                ok = table[k].value == get_i64(field(c, "out"), INT64_MIN, INT64_MAX);
        if (!ok) report(g, i, c->offset, "%s differs from learn.h (or is unknown)", name);
        record(g, ok);
    }
}

static void check_learn_area_size(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i), *in = field(c, "in");
        const size_t got = phyff_learn_area_size((uint16_t)get_u64(field(in, "width"), 0xFFFF),
                                                 (uint16_t)get_u64(field(in, "n_classes"), 0xFFFF));
        const int ok = got == get_u64(field(c, "out"), UINT32_MAX);
        if (!ok) report(g, i, c->offset, "area size %zu", got);
        record(g, ok);
    }
}

static void check_learn_feature(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i), *in = field(c, "in");
        const int16_t got = phyff_learn_feature((int16_t)get_i64(field(in, "y"), INT16_MIN, INT16_MAX),
                                                get_u64(field(in, "abs"), 1) != 0);
        const int ok = got == get_i64(field(c, "out"), INT16_MIN, INT16_MAX);
        if (!ok) report(g, i, c->offset, "feature %d", got);
        record(g, ok);
    }
}

static const char *const learn_status_names[] = {"OK", "FULL", "BAD_LABEL", "TOO_FEW", "TOO_WIDE",
                                                 "BAD_LAMBDA", "SINGULAR", "OVERFLOW",
                                                 "NO_READOUT"};

static const char *learn_status_name(enum phyff_learn_status st) {
    const size_t n = sizeof learn_status_names / sizeof learn_status_names[0];
    return (size_t)st < n ? learn_status_names[st] : "?";
}

/* Feed in.features / in.labels to phyff_learn_add; *statuses_ok says whether
 * every status equals out_statuses (when given). Returns the area. */
static int32_t *learn_samples(const json_value *in, uint16_t width, uint16_t n_classes,
                              const json_value *out_statuses, int *statuses_ok) {
    int32_t *area = xmalloc(4u * ((phyff_learn_area_size(width, n_classes) + 3u) / 4u));
    phyff_learn_clear(area, width, n_classes);
    const json_value *fs = get_arr(field(in, "features")), *ls = get_arr(field(in, "labels"));
    *statuses_ok = json_count(fs) == json_count(ls);
    for (size_t k = 0; k < json_count(fs); k++) {
        size_t nf;
        int16_t *f = get_i16_array(item(fs, k), &nf);
        if (nf != width) bad_vector(item(fs, k), "a sample of the wrong width");
        const enum phyff_learn_status st =
            phyff_learn_add(area, width, n_classes, f,
                            (uint16_t)get_u64(item(ls, k), 0xFFFF));
        if (out_statuses != NULL &&
            strcmp(learn_status_name(st), get_str(item(out_statuses, k))) != 0)
            *statuses_ok = 0;
        free(f);
    }
    return area;
}

static void check_learn_add(const json_value *cases, group *g) {
    const uint16_t probe = 1;
    uint8_t little;
    memcpy(&little, &probe, 1);
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i), *in = field(c, "in"), *out = field(c, "out");
        const uint16_t width = (uint16_t)get_u64(field(in, "width"), PHYFF_LEARN_MAX_WIDTH);
        const uint16_t nc = (uint16_t)get_u64(field(in, "n_classes"), 0xFFFF);
        int ok;
        int32_t *area = learn_samples(in, width, nc, get_arr(field(out, "statuses")), &ok);
        size_t n;
        uint8_t *want = get_hex(field(out, "area"), &n);
        /* the area is in the machine's byte order (RF-M1); the vectors are little-endian */
        const int same = n == phyff_learn_area_size(width, nc) &&
                         (little == 0 || memcmp(area, want, n) == 0);
        const int count = phyff_learn_samples(area, width) == get_u64(field(out, "samples"), 0xFFFF);
        if (!ok || !same || !count) report(g, i, c->offset, "statuses %d area %d samples %d", ok, same, count);
        record(g, ok && same && count);
        free(want);
        free(area);
    }
}

static void check_learn_refit(const json_value *cases, group *g) {
    for (size_t i = 0; i < json_count(cases); i++) {
        const json_value *c = item(cases, i), *in = field(c, "in"), *out = field(c, "out");
        struct phyff_model_view v;
        uint8_t *img = load_view(in, &v);
        const uint16_t width = v.readout_width;
        const uint16_t nc = v.head.n_classes;
        int ok;
        int32_t *area = learn_samples(in, width, nc, NULL, &ok);
        int32_t *scratch = xmalloc(sizeof(int32_t) * 2u * ((size_t)width + 1u));
        uint8_t cond = 0xFF;
        const enum phyff_learn_status st = phyff_learn_refit(
            area, &v, img, (uint8_t)get_u64(field(in, "lambda_shift"), 255), scratch, &cond);
        size_t n;
        uint8_t *want = get_hex(field(out, "image"), &n);
        const int same = n == v.size && memcmp(img, want, n) == 0;
        const int status = strcmp(learn_status_name(st), get_str(field(out, "status"))) == 0;
        const int cond_ok = cond == get_u64(field(out, "cond_bits"), 255);
        int cleared = 1; /* RF-E1: refused before RF-S3 keeps the statistics, else cleared */
        const int early = st == PHYFF_LEARN_TOO_FEW || st == PHYFF_LEARN_BAD_LAMBDA ||
                          st == PHYFF_LEARN_TOO_WIDE || st == PHYFF_LEARN_NO_READOUT;
        if (!early)
            for (size_t k = 0; k < phyff_learn_area_size(width, nc); k++)
                cleared &= ((const uint8_t *)area)[k] == 0;
        /* the image written by a refit still passes model.h M-V1-V6 */
        struct phyff_model_view again;
        struct phyff_model_limits lim;
        get_limits(field(in, "limits"), &lim);
        uint32_t bad = 0;
        const int valid = phyff_model_check(img, v.size, &lim, &again, &bad) == PHYFF_OK;
        if (!(ok && same && status && cond_ok && cleared && valid))
            report(g, i, c->offset, "%s: status %s, image %d, cond %u, cleared %d, valid %d",
                   get_str(field(in, "why")), learn_status_name(st), same, cond, cleared, valid);
        record(g, ok && same && status && cond_ok && cleared && valid);
        free(want);
        free(scratch);
        free(area);
        free(img);
    }
}

/* ==========================================================================
 * Driver
 * ========================================================================== */

typedef void (*check_fn)(const json_value *cases, group *g);

typedef struct checker {
    const char *file; /* "fixed", "wire" or "model" */
    const char *name; /* the group's key in the file */
    check_fn fn;
} checker;

/* The rule each group checks. The fixed-point groups run every operation on
 * extreme and random bit patterns under UBSan (FX-F1: every operation is
 * total) and hand each kernel separate exact-size heap blocks (FX-F9); every
 * codec failure must be one of the enum's statuses (W-P2). */
static const checker checkers[] = {
    {"fixed", "sat_q15", check_sat_q15},             /* FX-F2 */
    {"fixed", "sat_q31", check_sat_q31},             /* FX-F2 */
    {"fixed", "round_shift_s64", check_round_shift}, /* FX-F3 */
    {"fixed", "q15_add", check_q15_add},             /* FX-F2 */
    {"fixed", "q15_sub", check_q15_sub},             /* FX-F2 */
    {"fixed", "q15_mul", check_q15_mul},             /* FX-F3, FX-F4 */
    {"fixed", "q31_add", check_q31_add},             /* FX-F2 */
    {"fixed", "q31_sub", check_q31_sub},             /* FX-F2 */
    {"fixed", "q31_mul", check_q31_mul},             /* FX-F3, FX-F4 */
    {"fixed", "q15_to_q31", check_q15_to_q31},
    {"fixed", "q31_to_q15", check_q31_to_q15},           /* FX-F2, FX-F3 */
    {"fixed", "q15_from_double", check_q15_from_double}, /* FX-F6 */
    {"fixed", "q15_to_double", check_q15_to_double},     /* FX-F6 */
    {"fixed", "isqrt_u32", check_isqrt_u32},             /* FX-F7 */
    {"fixed", "isqrt_u64", check_isqrt_u64},             /* FX-F7 */
    {"fixed", "dot_q15_acc64", check_dot_acc64},         /* FX-F5 */
    {"fixed", "dot_q15_acc32", check_dot_acc32},         /* FX-F5 */
    {"fixed", "dot_q15", check_dot_q15},                 /* FX-F5 */
    {"fixed", "matvec_q15", check_matvec},               /* FX-F5, FX-F8 (empty rows) */
    {"fixed", "matvec_q15_acc64", check_matvec_acc64},
    {"fixed", "matmul_q15", check_matmul}, /* FX-F5 */
    {"wire", "constants", check_constants},
    {"wire", "enums", check_enums},
    {"wire", "status_name_unknown", check_status_name_unknown},
    {"wire", "status_name", check_status_name},
    {"wire", "crc32", check_crc32},
    {"wire", "cobs_max_encoded", check_cobs_max},
    {"wire", "wire_max_frame", check_wire_max},
    {"wire", "crc16", check_crc16},             /* W-W2 */
    {"wire", "cobs_encode", check_cobs_encode}, /* W-W1 */
    {"wire", "cobs_decode", check_cobs_decode}, /* W-W1, W-P5 (in place) */
    {"wire", "frame_encode", check_frame_encode},
    {"wire", "frame_decode", check_frame_decode}, /* W-F2, W-P3, W-P4 */
    {"wire", "check_level", check_check_level},
    {"wire", "header_pack", check_header_pack}, /* W-W4 */
    {"wire", "error_pack", check_error_pack},
    {"wire", "event_pack", check_event_pack},
    {"wire", "query_head_pack", check_query_head_pack},
    {"wire", "config_pack", check_config_pack},
    {"wire", "stats_pack", check_stats_pack},
    {"wire", "caps_pack", check_caps_pack},
    {"wire", "model_begin_pack", check_model_begin_pack},
    {"wire", "chunk_head_pack", check_chunk_head_pack},
    {"wire", "infer_head_pack", check_infer_head_pack},
    {"wire", "model_info_pack", check_model_info_pack},
    {"wire", "describe_request_pack", check_describe_request_pack},
    {"wire", "describe_reply_pack", check_describe_reply_pack},
    {"wire", "learn_head_pack", check_learn_head_pack},   /* W-N8 */
    {"wire", "refit_reply_pack", check_refit_reply_pack}, /* W-N8 */
    {"wire", "samples_pack", check_samples},
    {"wire", "u16_le", check_u16_le}, /* W-W3 */
    {"wire", "u32_le", check_u32_le}, /* W-W3 */
    {"model", "constants", check_model_constants},
    {"model", "enums", check_model_enums},
    {"model", "model_head_pack", check_model_head_pack},
    {"model", "block_head_pack", check_block_head_pack},
    {"model", "readout_head_pack", check_readout_head_pack},
    {"model", "code_head_pack", check_code_head_pack}, /* M-L1 */
    {"model", "describe_head_pack", check_describe_head_pack}, /* M-D2 */
    {"model", "model_check", check_model_check}, /* M-V1-V6, M-R1, M-L1, M-D1-D3 */
    {"model", "infer_layout", check_infer_layout},     /* M-P1-P2, M-L2 */
    {"model", "infer_encode", check_infer_encode},     /* M-P3 */
    {"model", "infer_affine", check_infer_affine},     /* M-M1-M2, M-P5, M-R3 */
    {"model", "infer_readout", check_infer_readout},   /* M-M2, M-P6 */
    {"model", "infer_goodness", check_infer_goodness}, /* M-P6 */
    {"model", "argmax", check_argmax},                 /* M-P7 */
    {"model", "infer_sample", check_infer_sample},
    {"learn", "constants", check_learn_constants},
    {"learn", "area_size", check_learn_area_size},   /* RF-M1 */
    {"learn", "feature", check_learn_feature},       /* RF-A1 */
    {"learn", "learn_add", check_learn_add},         /* RF-A2-A4 */
    {"learn", "refit", check_learn_refit},           /* RF-S1-Q5, RF-E1 */
};
#define N_CHECKERS (sizeof checkers / sizeof checkers[0])

static int is_meta_key(const char *k) {
    return strcmp(k, "format") == 0 || strcmp(k, "generator") == 0 || strcmp(k, "seed") == 0;
}

static json_value *load(const char *path) {
    json_error err;
    json_value *doc = json_parse_file(path, &err);
    if (doc == NULL) {
        fprintf(stderr, "%s: byte %zu: %s\n", path, err.offset, err.message);
        exit(2);
    }
    current_file = path;
    int64_t fmt;
    if (doc->type != JSON_OBJECT || !json_to_i64(json_get(doc, "format"), &fmt) ||
        fmt != VECTOR_FORMAT) {
        fprintf(stderr, "%s: not a format-%d vector file\n", path, VECTOR_FORMAT);
        exit(2);
    }
    return doc;
}

/* Print the summary line of every group created since *printed. */
static void print_groups(size_t *printed) {
    for (; *printed < n_groups; (*printed)++) {
        const group *g = &groups[*printed];
        printf("%s: %ld passed, %ld failed\n", g->name, g->pass, g->fail);
    }
    fflush(stdout);
}

static void run_file(const char *file, const char *path) {
    json_value *doc = load(path);
    size_t printed = n_groups;
    for (size_t k = 0; k < N_CHECKERS; k++) {
        if (strcmp(checkers[k].file, file) != 0) continue;
        group *g = group_new(file, checkers[k].name);
        const json_value *cases = json_get(doc, checkers[k].name);
        if (cases == NULL || cases->type != JSON_ARRAY) {
            printf("  FAIL %s: group missing from %s\n", g->name, path);
            record(g, 0);
            print_groups(&printed);
            continue;
        }
        checkers[k].fn(cases, g);
        if (strcmp(checkers[k].name, "frame_decode") == 0)
            check_mutations(cases, group_new(file, "frame_decode_mutations"));
        print_groups(&printed);
    }
    /* a group in the file that nothing here checks is a failure, not a skip */
    for (size_t m = 0; m < doc->u.object.count; m++) {
        const char *key = doc->u.object.members[m].key;
        int known = is_meta_key(key);
        for (size_t k = 0; k < N_CHECKERS && !known; k++)
            known = strcmp(checkers[k].file, file) == 0 && strcmp(checkers[k].name, key) == 0;
        if (!known) {
            group *g = group_new(file, key);
            printf("  FAIL %s: no checker for this group\n", g->name);
            record(g, 0);
        }
    }
    print_groups(&printed);
    json_free(doc);
}

int main(int argc, char **argv) {
    char fixed_path[4096], wire_path[4096], model_path[4096], learn_path[4096];
    if (argc == 5) {
        snprintf(fixed_path, sizeof fixed_path, "%s", argv[1]);
        snprintf(wire_path, sizeof wire_path, "%s", argv[2]);
        snprintf(model_path, sizeof model_path, "%s", argv[3]);
        snprintf(learn_path, sizeof learn_path, "%s", argv[4]);
    } else if (argc <= 2) {
        const char *dir = argc == 2 ? argv[1] : "shared/vectors";
        snprintf(fixed_path, sizeof fixed_path, "%s/fixed.json", dir);
        snprintf(wire_path, sizeof wire_path, "%s/wire.json", dir);
        snprintf(model_path, sizeof model_path, "%s/model.json", dir);
        snprintf(learn_path, sizeof learn_path, "%s/learn.json", dir);
    } else {
        fprintf(stderr, "usage: %s [DIR | FIXED_JSON WIRE_JSON MODEL_JSON LEARN_JSON]\n", argv[0]);
        return 2;
    }
    run_file("fixed", fixed_path);
    run_file("wire", wire_path);
    run_file("model", model_path);
    run_file("learn", learn_path);
    long pass = 0, fail = 0;
    for (size_t i = 0; i < n_groups; i++) {
        pass += groups[i].pass;
        fail += groups[i].fail;
    }
    printf("%ld passed, %ld failed\n", pass, fail);
    return fail ? 1 : 0;
}
