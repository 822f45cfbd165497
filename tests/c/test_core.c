/*
 * test_core.c - unit tests and a fuzzer for the firmware core, on the host,
 * built with AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * A fake port plays the hardware: a deterministic "medium" (sense[j] =
 * (sum of drive codes * (j + 1)) mod 2^adc_bits) so every reply can be
 * predicted exactly. Each test prints "ok"/"FAIL" lines; the last line is
 * "N passed, M failed". Usage: test_core [fuzz_iterations]
 *
 * Built twice (Makefile test-c): as is, where the on-device inference
 * commands must be unknown, and with -DPHYFF_CORE_MODEL_BYTES=4096u, where
 * they are tested against model.c called directly on the same sensed values
 * (the fake port also keeps a stored model for port.h PORT-R6).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phyff_core.h"

static int passed, failed;
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            passed++;                                                       \
        } else {                                                            \
            failed++;                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                     \
            printf(__VA_ARGS__);                                            \
            printf("\n");                                                   \
        }                                                                   \
    } while (0)

/* ---- fake port ------------------------------------------------------------ */

#define OUT_CAP (1u << 20)
struct fake {
    uint8_t out[OUT_CAP];
    size_t out_len;
    uint32_t now;
    uint16_t staged[64];
    uint16_t n_staged;
    int fail_sense;
    unsigned adc_bits;
    unsigned senses;
    /* non-volatile model storage (port.h PORT-R6) */
    uint8_t stored[8192];
    size_t stored_len;
    int fail_save;
    unsigned saves;
    /* what the last measure_batch call was asked for */
    uint16_t batch_oversample, batch_n_sense;
    uint32_t batch_settle;
};

static void f_write(void *ctx, const uint8_t *d, size_t n) {
    struct fake *f = ctx;
    if (f->out_len + n > OUT_CAP) n = OUT_CAP - f->out_len;
    memcpy(f->out + f->out_len, d, n);
    f->out_len += n;
}
static uint32_t f_micros(void *ctx) { return ((struct fake *)ctx)->now += 7; }
static void f_delay(void *ctx, uint32_t us) { ((struct fake *)ctx)->now += us; }
static int f_drive(void *ctx, const uint16_t *dac, uint16_t n) {
    struct fake *f = ctx;
    memcpy(f->staged, dac, 2u * n);
    f->n_staged = n;
    return 0;
}
static uint16_t medium(const uint16_t *dac, uint16_t n, unsigned j, unsigned bits) {
    uint32_t s = 0;
    for (uint16_t i = 0; i < n; ++i) s += dac[i];
    return (uint16_t)((s * (j + 1u)) & ((1u << bits) - 1u));
}
static int f_sense(void *ctx, uint16_t *adc, uint16_t n) {
    struct fake *f = ctx;
    f->senses++;
    if (f->fail_sense) return -1;
    for (uint16_t j = 0; j < n; ++j) adc[j] = medium(f->staged, f->n_staged, j, f->adc_bits);
    return 0;
}
static int f_batch(void *ctx, const uint16_t *dac, uint16_t ns_, uint16_t nd, uint16_t *adc,
                   uint16_t nsense, uint16_t k, uint32_t settle) {
    struct fake *f = ctx;
    f->batch_oversample = k;
    f->batch_settle = settle;
    f->batch_n_sense = nsense;
    if (f->fail_sense) return -1;
    for (uint16_t s = 0; s < ns_; ++s)
        for (uint16_t j = 0; j < nsense; ++j)
            adc[s * nsense + j] = medium(dac + s * nd, nd, j, f->adc_bits);
    return 0;
}

static int f_save(void *ctx, const uint8_t *image, size_t n) {
    struct fake *f = ctx;
    f->saves++;
    if (f->fail_save || n > sizeof f->stored) return -1;
    if (n) memcpy(f->stored, image, n);
    f->stored_len = n;
    return 0;
}
static size_t f_restore(void *ctx, uint8_t *buf, size_t cap) {
    struct fake *f = ctx;
    if (f->stored_len == 0 || f->stored_len > cap) return 0;
    memcpy(buf, f->stored, f->stored_len);
    return f->stored_len;
}

static struct fake fk;
static struct phyff_core core;
static struct phyff_port port;
static struct phyff_board_desc desc;

/* A fresh core; with persist, the port has model storage (which survives a
 * "power cycle": reboot() re-initialises the core over the same fake). */
static void setup_ex(int batch, uint16_t nd, uint16_t ns, uint16_t features, int persist) {
    memset(&fk, 0, sizeof fk);
    fk.adc_bits = 12;
    port = (struct phyff_port){&fk, f_write, f_micros, f_delay, f_drive, f_sense,
                               batch ? f_batch : NULL, persist ? f_save : NULL,
                               persist ? f_restore : NULL};
    desc = (struct phyff_board_desc){"test", "fake", 42, features, nd, ns, 12, 12, 8};
    enum phyff_status st = phyff_core_init(&core, &port, &desc);
    CHECK(st == PHYFF_OK, "init: %d", st);
}

static void setup(int batch, uint16_t nd, uint16_t ns, uint16_t features) {
    setup_ex(batch, nd, ns, features, 0);
}

/* Whether out[0..n) is exactly one reset event frame (wire.h W-E1). */
static int is_reset_event(const uint8_t *out, size_t n) {
    static uint8_t buf[64];
    struct phyff_header h;
    const uint8_t *p;
    size_t len;
    if (n < 2 || n - 1 > sizeof buf || out[n - 1] != 0 || memchr(out, 0, n - 1) != NULL) return 0;
    memcpy(buf, out, n - 1);
    return phyff_frame_decode(buf, n - 1, 65535, &h, &p, &len) == PHYFF_OK && h.seq == 0 &&
           h.cmd == PHYFF_CMD_EVENT && h.flags == PHYFF_FLAG_EVENT && len == PHYFF_EVENT_SIZE &&
           phyff_get_u16(p) == PHYFF_EVENT_RESET && phyff_get_u16(p + 2) == PHYFF_PROTOCOL_LEVEL;
}

/* Send one request, return the (single) decoded reply. */
static uint8_t reply_buf[OUT_CAP];
static int transact(uint8_t level, uint8_t seq, uint8_t cmd, const uint8_t *payload, size_t len,
                    struct phyff_header *h, const uint8_t **rp, size_t *rlen) {
    static uint8_t frame[PHYFF_WIRE_MAX_FRAME(PHYFF_CORE_MAX_PAYLOAD + 64)];
    struct phyff_header req = {level, seq, cmd, 0, 0, 0};
    size_t n = 0;
    if (phyff_frame_encode(&req, payload, len, frame, sizeof frame, &n) != PHYFF_OK) return -1;
    fk.out_len = 0;
    phyff_core_receive(&core, frame, n);
    if (fk.out_len == 0 || fk.out[fk.out_len - 1] != 0) return -2;
    /* exactly one reply; after RESET it is followed by the reset event (W-E1) */
    const uint8_t *end = memchr(fk.out, 0, fk.out_len);
    const size_t first = (size_t)(end - fk.out);
    if (first + 1 != fk.out_len) {
        if (cmd != PHYFF_CMD_RESET || !is_reset_event(fk.out + first + 1,
                                                      fk.out_len - first - 1)) return -3;
    }
    memcpy(reply_buf, fk.out, first);
    return phyff_frame_decode(reply_buf, first, 65535, h, rp, rlen) == PHYFF_OK ? 0 : -4;
}

static uint16_t err_status(const uint8_t *p) { return phyff_get_u16(p); }
static uint16_t err_arg(const uint8_t *p) { return phyff_get_u16(p + 2); }

/* ---- tests ---------------------------------------------------------------- */

static void test_hello(void) {
    setup(1, 4, 3, 0);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 9, PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n) == 0, "hello");
    CHECK(h.seq == 9 && h.cmd == PHYFF_CMD_HELLO && h.flags == PHYFF_FLAG_REPLY, "hello hdr");
    CHECK(n == PHYFF_CAPS_SIZE, "caps size %zu", n);
    struct phyff_caps c;
    phyff_caps_unpack(p, &c);
    CHECK(c.level == PHYFF_PROTOCOL_LEVEL && c.n_drive == 4 && c.n_sense == 3, "caps fields");
    CHECK(c.unit_id == 42 && strcmp(c.board, "test") == 0 && strcmp(c.medium, "fake") == 0,
          "caps names");
    CHECK(c.max_batch == phyff_core_max_batch(4, 3), "max batch");
    CHECK(c.features & PHYFF_FEAT_SATURATION_FLAGS, "saturation feature");
    /* HELLO answers whatever the level (W-L4) */
    CHECK(transact(99, 1, PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n) == 0 && !(h.flags & 2),
          "hello at other level");
    /* any other command at another level: BAD_LEVEL with our level */
    CHECK(transact(99, 2, PHYFF_CMD_STATS, NULL, 0, &h, &p, &n) == 0, "stats level");
    CHECK((h.flags & PHYFF_FLAG_ERROR) && err_status(p) == PHYFF_ERR_BAD_LEVEL &&
              err_arg(p) == PHYFF_PROTOCOL_LEVEL, "bad level reply");
}

static void build_query(uint8_t *buf, uint16_t n, uint16_t nd, int16_t base) {
    struct phyff_query_head q = {n, nd};
    phyff_query_head_pack(&q, buf);
    for (uint16_t i = 0; i < n * nd; ++i) {
        phyff_put_u16(buf + 4 + 2 * i, (uint16_t)(int16_t)(base + (int16_t)(i * 37 % 30000)));
    }
}

/* A QUERY's values, exactly: DAC code = q15 >> (15 - dac_bits), a negative
 * value driven as 0, sense value = code << (15 - adc_bits) (CORE-K3); k reads
 * averaged with round half up on the per-sample path (CORE-K4), which the
 * batch path reproduces (PORT-R3). */
static void check_query(int batch, uint16_t k) {
    setup(batch, 4, 3, PHYFF_FEAT_OVERSAMPLE);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    if (k > 1) {
        uint8_t cfg[PHYFF_CONFIG_SIZE];
        struct phyff_config c = {0, k, 4, 3, 0};
        phyff_config_pack(&c, cfg);
        CHECK(transact(PHYFF_PROTOCOL_LEVEL, 3, PHYFF_CMD_CONFIGURE, cfg, sizeof cfg, &h, &p, &n) == 0 &&
                  !(h.flags & PHYFF_FLAG_ERROR), "configure oversample");
    }
    static uint8_t q[4 + 2 * 10 * 4];
    build_query(q, 10, 4, 5);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 7, PHYFF_CMD_QUERY, q, sizeof q, &h, &p, &n) == 0, "query");
    CHECK(!(h.flags & PHYFF_FLAG_ERROR), "query ok (status %u)", err_status(p));
    CHECK(n == 4 + 2 * 10 * 3 + 2, "query reply size %zu", n);
    struct phyff_query_head rh;
    phyff_query_head_unpack(p, &rh);
    CHECK(rh.n_samples == 10 && rh.n_channels == 3, "reply head");
    int exact = 1;
    for (uint16_t s = 0; s < 10; ++s) {
        uint16_t dac[4];
        for (uint16_t i = 0; i < 4; ++i) {
            int16_t v = (int16_t)phyff_get_u16(q + 4 + 2 * (s * 4 + i));
            dac[i] = (uint16_t)(v < 0 ? 0 : (uint16_t)v >> 3);
        }
        for (uint16_t j = 0; j < 3; ++j) {
            uint16_t code = medium(dac, 4, j, 12);
            uint16_t got = phyff_get_u16(p + 4 + 2 * (s * 3 + j));
            if (got != (uint16_t)(code << 3)) exact = 0;
        }
    }
    CHECK(exact, "query values (batch=%d, k=%u)", batch, k);
    if (!batch) CHECK(fk.senses == 10u * k, "oversample reads %u", fk.senses);
}

static void test_query_errors(void) {
    setup(1, 4, 3, 0);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    static uint8_t q[4 + 2 * 4 * 200];
    /* too many samples */
    uint16_t big = (uint16_t)(core.caps.max_batch + 1);
    struct phyff_query_head qh = {big, 4};
    phyff_query_head_pack(&qh, q);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 1, PHYFF_CMD_QUERY, q, 4, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_BATCH_TOO_LARGE && err_arg(p) == core.caps.max_batch,
          "batch too large with limit");
    /* wrong channel count */
    qh = (struct phyff_query_head){1, 5};
    phyff_query_head_pack(&qh, q);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 2, PHYFF_CMD_QUERY, q, 14, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_BAD_CHANNELS && err_arg(p) == 4, "bad channels");
    /* length disagreeing with the head */
    qh = (struct phyff_query_head){2, 4};
    phyff_query_head_pack(&qh, q);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 3, PHYFF_CMD_QUERY, q, 4 + 8, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_BAD_PAYLOAD, "short payload");
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 4, PHYFF_CMD_QUERY, q, 2, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_BAD_PAYLOAD, "no head");
    /* negative drive flags the sample; top ADC code flags too (CORE-K3) */
    build_query(q, 9, 4, 100);
    phyff_put_u16(q + 4 + 2 * (8 * 4 + 1), (uint16_t)(int16_t)-5);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 5, PHYFF_CMD_QUERY, q, 4 + 2 * 9 * 4, &h, &p, &n) == 0 &&
              !(h.flags & 2), "query with negative");
    CHECK(n == 4 + 2 * 9 * 3 + 2 && (p[n - 1] & 1), "sample 8 flagged");
    /* medium fault: the port's non-zero return (PORT-R2) */
    fk.fail_sense = 1;
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 6, PHYFF_CMD_QUERY, q, 4 + 2 * 9 * 4, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_MEDIUM, "medium fault");
    fk.fail_sense = 0;
    /* zero samples: an empty, valid reply */
    qh = (struct phyff_query_head){0, 4};
    phyff_query_head_pack(&qh, q);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 7, PHYFF_CMD_QUERY, q, 4, &h, &p, &n) == 0 && !(h.flags & 2) && n == 4,
          "empty query");
    /* unknown command, reply flags from the host */
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 8, 0x33, NULL, 0, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_UNKNOWN_COMMAND && h.cmd == 0x33 && h.seq == 8,
          "unknown command");
}

static void test_configure_stats_reset(void) {
    setup(0, 6, 5, PHYFF_FEAT_CHANNEL_SELECT | PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    uint8_t cfg[PHYFF_CONFIG_SIZE];
    struct phyff_config c = {100, 9, 6, 5, 0}; /* oversample above max 8 */
    phyff_config_pack(&c, cfg);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 1, PHYFF_CMD_CONFIGURE, cfg, sizeof cfg, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_BAD_CONFIG && err_arg(p) == 4, "oversample refused");
    c = (struct phyff_config){100, 2, 3, 2, 0};
    phyff_config_pack(&c, cfg);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 2, PHYFF_CMD_CONFIGURE, cfg, sizeof cfg, &h, &p, &n) == 0 &&
              !(h.flags & 2) && n == PHYFF_CONFIG_SIZE, "configure ok");
    struct phyff_config got;
    phyff_config_unpack(p, &got);
    CHECK(got.n_drive_active == 3 && got.n_sense_active == 2 && got.settle_us == 100,
          "config echoed");
    /* a query with 3 active drive channels reaches the medium as 6 codes (3 zero:
     * PORT-R2, CORE-K3) */
    static uint8_t q[4 + 2 * 3 * 5];
    build_query(q, 5, 3, 1000);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 3, PHYFF_CMD_QUERY, q, sizeof q, &h, &p, &n) == 0 && !(h.flags & 2) &&
              n == 4 + 2 * 5 * 2 + 1, "query with fewer channels");
    int exact = 1;
    for (uint16_t s = 0; s < 5; ++s) {
        uint16_t dac[6] = {0};
        for (uint16_t i = 0; i < 3; ++i)
            dac[i] = (uint16_t)((uint16_t)phyff_get_u16(q + 4 + 2 * (s * 3 + i)) >> 3);
        for (uint16_t j = 0; j < 2; ++j) {
            uint32_t sum = 0;
            for (int r = 0; r < 2; ++r) sum += medium(dac, 6, j, 12);
            uint16_t code = (uint16_t)((sum + 1) / 2);
            if (phyff_get_u16(p + 4 + 2 * (s * 2 + j)) != (uint16_t)(code << 3)) exact = 0;
        }
    }
    CHECK(exact, "spread + oversample values");
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 4, PHYFF_CMD_STATS, NULL, 0, &h, &p, &n) == 0 && n == PHYFF_STATS_SIZE,
          "stats");
    struct phyff_stats st;
    phyff_stats_unpack(p, &st);
    CHECK(st.frames_ok == 4 && st.bad_commands == 1 && st.samples_served == 5 &&
              st.error_replies == 1, "stats counts %u %u %u %u", st.frames_ok, st.bad_commands,
          st.samples_served, st.error_replies);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 5, PHYFF_CMD_RESET, NULL, 0, &h, &p, &n) == 0 && n == 0,
          "reset");
    const size_t reply_len = (size_t)((const uint8_t *)memchr(fk.out, 0, fk.out_len) - fk.out) + 1;
    CHECK(is_reset_event(fk.out + reply_len, fk.out_len - reply_len),
          "reset reply followed by the reset event (W-E1, CORE-K7)");
    CHECK(core.config.n_drive_active == 6 && core.stats.frames_ok == 0, "reset restores");
}

static void test_framing_errors(void) {
    setup(1, 4, 3, 0);
    /* garbage + delimiter -> one damaged-frame reply with seq 0 */
    const uint8_t junk[] = {0x05, 0x11, 0x22, 0x00};
    fk.out_len = 0;
    phyff_core_receive(&core, junk, sizeof junk);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    memcpy(reply_buf, fk.out, fk.out_len - 1);
    CHECK(fk.out_len > 0 &&
              phyff_frame_decode(reply_buf, fk.out_len - 1, 65535, &h, &p, &n) == PHYFF_OK &&
              h.seq == 0 && h.cmd == PHYFF_CMD_NONE && (h.flags & PHYFF_FLAG_ERROR),
          "damaged frame reply");
    /* empty frames are ignored */
    fk.out_len = 0;
    const uint8_t zeros[] = {0, 0, 0};
    phyff_core_receive(&core, zeros, 3);
    CHECK(fk.out_len == 0, "empty frames ignored");
    /* an over-long frame: one TOO_LONG reply after its delimiter */
    static uint8_t longf[PHYFF_CORE_RX_CAP + 100];
    memset(longf, 0x41, sizeof longf);
    fk.out_len = 0;
    phyff_core_receive(&core, longf, sizeof longf);
    CHECK(fk.out_len == 0, "no reply before delimiter");
    phyff_core_receive(&core, zeros, 1);
    memcpy(reply_buf, fk.out, fk.out_len - 1);
    CHECK(phyff_frame_decode(reply_buf, fk.out_len - 1, 65535, &h, &p, &n) == PHYFF_OK &&
              err_status(p) == PHYFF_ERR_TOO_LONG && err_arg(p) == PHYFF_CORE_MAX_PAYLOAD,
          "too long reply");
    /* the core still works afterwards */
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 3, PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n) == 0 && !(h.flags & 2),
          "recovers after overflow");
    /* a request with REPLY flag set */
    uint8_t frame[64];
    struct phyff_header bad = {PHYFF_PROTOCOL_LEVEL, 4, PHYFF_CMD_STATS, PHYFF_FLAG_REPLY, 0, 0};
    size_t fl;
    CHECK(phyff_frame_encode(&bad, NULL, 0, frame, sizeof frame, &fl) == PHYFF_OK,
          "encode a REPLY-flagged request");
    fk.out_len = 0;
    phyff_core_receive(&core, frame, fl);
    memcpy(reply_buf, fk.out, fk.out_len - 1);
    CHECK(phyff_frame_decode(reply_buf, fk.out_len - 1, 65535, &h, &p, &n) == PHYFF_OK &&
              err_status(p) == PHYFF_ERR_NOT_A_REQUEST, "not a request");
    /* announce (CORE-K7) */
    fk.out_len = 0;
    phyff_core_announce(&core);
    memcpy(reply_buf, fk.out, fk.out_len - 1);
    CHECK(phyff_frame_decode(reply_buf, fk.out_len - 1, 65535, &h, &p, &n) == PHYFF_OK &&
              h.cmd == PHYFF_CMD_EVENT && h.flags == PHYFF_FLAG_EVENT && h.seq == 0 &&
              phyff_get_u16(p) == PHYFF_EVENT_RESET, "reset event");
}

static size_t count_zeros_fwd(const uint8_t *d, size_t n) {
    size_t z = 0;
    for (size_t i = 0; i < n; ++i) z += d[i] == 0;
    return z;
}

/* Feed raw bytes; return the number of reply frames and decode the last. */
static size_t feed(const uint8_t *d, size_t n, struct phyff_header *h, const uint8_t **p,
                   size_t *len) {
    fk.out_len = 0;
    phyff_core_receive(&core, d, n);
    const size_t frames = count_zeros_fwd(fk.out, fk.out_len);
    if (frames == 0) return 0;
    size_t start = 0;
    for (size_t i = 0; i + 1 < fk.out_len; ++i) {
        if (fk.out[i] == 0) start = i + 1;
    }
    memcpy(reply_buf, fk.out + start, fk.out_len - 1 - start);
    if (phyff_frame_decode(reply_buf, fk.out_len - 1 - start, 65535, h, p, len) != PHYFF_OK) {
        return 0;
    }
    return frames;
}

static struct phyff_stats read_stats(void) {
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    struct phyff_stats st;
    memset(&st, 0, sizeof st);
    if (transact(PHYFF_PROTOCOL_LEVEL, 200, PHYFF_CMD_STATS, NULL, 0, &h, &p, &n) == 0 &&
        n == PHYFF_STATS_SIZE) {
        phyff_stats_unpack(p, &st);
    }
    return st;
}

/* wire.h W-T1-T8: every counter by exactly what increments it, and nothing
 * else (CORE-K5). */
static void test_counters(void) {
    setup(1, 4, 3, 0);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    /* intact but refused: frames_ok and bad_commands both count it */
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 1, 0x33, NULL, 0, &h, &p, &n) == 0, "unknown");
    CHECK(transact(PHYFF_PROTOCOL_LEVEL + 1, 2, PHYFF_CMD_STATS, NULL, 0, &h, &p, &n) == 0,
          "bad level");
    uint8_t frame[64];
    size_t fl;
    struct phyff_header rq = {PHYFF_PROTOCOL_LEVEL, 3, PHYFF_CMD_HELLO, PHYFF_FLAG_REPLY, 0, 0};
    CHECK(phyff_frame_encode(&rq, NULL, 0, frame, sizeof frame, &fl) == PHYFF_OK,
          "encode a REPLY-flagged HELLO");
    CHECK(feed(frame, fl, &h, &p, &n) == 1 && err_status(p) == PHYFF_ERR_NOT_A_REQUEST,
          "not a request");
    /* damaged: one of crc_errors / framing_errors, never frames_ok */
    const uint8_t trunc[] = {0x04, 0x01, 0x02, 0x03, 0x00};
    CHECK(feed(trunc, sizeof trunc, &h, &p, &n) == 1 && h.seq == 0 &&
              err_status(p) == PHYFF_ERR_TRUNCATED && err_arg(p) == 0, "truncated, arg 0");
    rq.flags = 0;
    CHECK(phyff_frame_encode(&rq, NULL, 0, frame, sizeof frame, &fl) == PHYFF_OK, "encode a HELLO");
    frame[2] ^= 0x01; /* the seq byte (COBS code at 0, level at 1) */
    CHECK(feed(frame, fl, &h, &p, &n) == 1 && err_status(p) == PHYFF_ERR_BAD_CRC, "bad crc");
    /* empty frames: nothing at all */
    const uint8_t zeros[] = {0, 0};
    CHECK(feed(zeros, 2, &h, &p, &n) == 0, "empty frames unanswered");
    /* over-long: a framing error (not an overrun), TOO_LONG with max_payload */
    static uint8_t longf[PHYFF_CORE_RX_CAP + 8];
    memset(longf, 0x22, sizeof longf);
    longf[sizeof longf - 1] = 0;
    CHECK(feed(longf, sizeof longf, &h, &p, &n) == 1 && h.seq == 0 &&
              err_arg(p) == PHYFF_CORE_MAX_PAYLOAD, "too long");
    /* a QUERY medium fault: an error reply, but not a bad command */
    fk.fail_sense = 1;
    static uint8_t q[4 + 2 * 4];
    build_query(q, 1, 4, 7);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 4, PHYFF_CMD_QUERY, q, sizeof q, &h, &p, &n) == 0 &&
              err_status(p) == PHYFF_ERR_MEDIUM, "medium");
    fk.fail_sense = 0;
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 5, PHYFF_CMD_QUERY, q, sizeof q, &h, &p, &n) == 0 &&
              !(h.flags & PHYFF_FLAG_ERROR), "query");
    phyff_core_note_overrun(&core);
    struct phyff_stats st = read_stats();
    /* intact: unknown, bad level, not a request, medium, query, stats */
    CHECK(st.frames_ok == 6, "frames_ok %u", st.frames_ok);
    CHECK(st.crc_errors == 1 && st.framing_errors == 2, "crc %u framing %u", st.crc_errors,
          st.framing_errors);
    CHECK(st.bad_commands == 3, "bad_commands %u", st.bad_commands);
    CHECK(st.overruns == 1, "overruns %u", st.overruns);
    CHECK(st.samples_served == 1, "samples %u", st.samples_served);
    CHECK(st.error_replies == 3 + 1 + 2 + 1, "error_replies %u", st.error_replies);
}

/* Unspecified-until-now behaviours, now rules: HELLO's payload, aux,
 * settle range, uptime from the clock (CORE-K6). */
static void test_rules(void) {
    setup(1, 4, 3, PHYFF_FEAT_SETTLE);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    const uint8_t junk[5] = {1, 2, 3, 4, 5};
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 1, PHYFF_CMD_HELLO, junk, sizeof junk, &h, &p, &n) ==
                  0 && !(h.flags & PHYFF_FLAG_ERROR) && n == PHYFF_CAPS_SIZE,
          "HELLO ignores its payload");
    struct phyff_caps c;
    phyff_caps_unpack(p, &c);
    CHECK(c.max_settle_us == PHYFF_CORE_MAX_SETTLE_US, "caps.max_settle_us %u", c.max_settle_us);
    uint8_t cfg[PHYFF_CONFIG_SIZE];
    struct phyff_config cf = {PHYFF_CORE_MAX_SETTLE_US, 1, 4, 3, 0};
    phyff_config_pack(&cf, cfg);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 2, PHYFF_CMD_CONFIGURE, cfg, sizeof cfg, &h, &p, &n) ==
                  0 && !(h.flags & PHYFF_FLAG_ERROR), "largest settle accepted");
    cf.settle_us++;
    phyff_config_pack(&cf, cfg);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 3, PHYFF_CMD_CONFIGURE, cfg, sizeof cfg, &h, &p, &n) ==
                  0 && err_status(p) == PHYFF_ERR_BAD_CONFIG && err_arg(p) == 0,
          "settle above max refused at offset 0");
    /* nonzero aux in a request is ignored; replies carry aux 0 */
    uint8_t frame[64];
    size_t fl;
    struct phyff_header rq = {PHYFF_PROTOCOL_LEVEL, 4, PHYFF_CMD_STATS, 0, 0, 0xBEEF};
    CHECK(phyff_frame_encode(&rq, NULL, 0, frame, sizeof frame, &fl) == PHYFF_OK,
          "encode a request with aux set");
    CHECK(feed(frame, fl, &h, &p, &n) == 1 && !(h.flags & PHYFF_FLAG_ERROR) && h.aux == 0,
          "aux ignored");
    /* uptime follows the port clock, not the traffic (CORE-K6, W-T8) */
    const uint32_t before = read_stats().uptime_ms;
    fk.now += 5000000u; /* five seconds pass without a frame */
    const uint32_t after = read_stats().uptime_ms;
    CHECK(after - before >= 5000u && after - before <= 5001u, "uptime %u -> %u", before, after);
    /* without FEAT_SETTLE the range is 0..0 */
    setup(1, 4, 3, 0);
    CHECK(core.caps.max_settle_us == 0, "no settle feature: max_settle_us 0");
    cf = (struct phyff_config){1, 1, 4, 3, 0};
    phyff_config_pack(&cf, cfg);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 5, PHYFF_CMD_CONFIGURE, cfg, sizeof cfg, &h, &p, &n) ==
                  0 && err_status(p) == PHYFF_ERR_BAD_CONFIG && err_arg(p) == 0,
          "settle refused without the feature");
}

/* ---- on-device inference (wire.h "On-device inference", phyff_core.h CORE-K8) ---- */

#if PHYFF_CORE_INFER

#define IMG_CAP 4096u
#define ND 16u /* wired drive channels of the inference tests */
#define NS 4u  /* wired sense channels */

struct image {
    uint8_t bytes[IMG_CAP];
    uint32_t size;
};

static uint32_t img_rng = 1u;
static int16_t small_weight(int range) {
    img_rng = img_rng * 1103515245u + 12345u;
    return (int16_t)((int)((img_rng >> 8) % (2u * (unsigned)range + 1u)) - range);
}

static void put_i16s(struct image *im, size_t n, int range) {
    for (size_t i = 0; i < n; ++i) {
        phyff_put_u16(im->bytes + im->size, (uint16_t)small_weight(range));
        im->size += 2u;
    }
}

/* Block specs for build_image: encoder, flags, d_out, n_sense, settle,
 * oversample, shifts. d_in, n_drive and exponents follow the chain. */
struct bspec {
    uint8_t encoder, flags;
    uint16_t d_out, n_sense;
    uint32_t settle_us;
    uint16_t oversample;
    uint8_t shift_p, shift_h, shift_b, shift_out, readout_shift;
    int8_t out_exp;
};

static void build_image(struct image *im, uint8_t inference, uint16_t nf, uint16_t nc,
                        uint16_t fo, uint16_t width, const struct bspec *bs, unsigned nb,
                        const char *name, uint32_t seed) {
    memset(im, 0, sizeof *im);
    img_rng = seed;
    struct phyff_model_head h = {PHYFF_MODEL_MAGIC, PHYFF_MODEL_VERSION, (uint8_t)nb, inference,
                                 nf, nc, width, fo, 42, 1, 16, 0, 1, {0}, {0}, {0}};
    strncpy(h.name, name, PHYFF_NAME_SIZE);
    memcpy(h.train_board, "test", 4);
    memcpy(h.train_medium, "fake", 4);
    phyff_model_head_pack(&h, im->bytes);
    im->size = PHYFF_MODEL_HEAD_SIZE;
    uint16_t d_in = width;
    int8_t in_exp = h.input_exp;
    uint16_t n_in = 0;
    for (unsigned k = 0; k < nb; ++k) {
        const struct bspec *s = &bs[k];
        const bool two = s->encoder == PHYFF_ENC_BINARY2 || s->encoder == PHYFF_ENC_BINARY2_UNIFORM;
        const bool phys = (s->flags & PHYFF_BLOCK_PHYSICAL) != 0;
        struct phyff_block_head b = {s->encoder, s->flags, d_in, (uint16_t)(two ? 2u * d_in : d_in),
                                     phys ? s->n_sense : 0u, s->d_out, in_exp, s->out_exp,
                                     s->shift_p, s->shift_h, s->shift_b, s->shift_out,
                                     s->settle_us, s->oversample, s->readout_shift, 0};
        phyff_block_head_pack(&b, im->bytes + im->size);
        im->size += PHYFF_BLOCK_HEAD_SIZE;
        const uint32_t z = (phys ? b.n_sense : 0u) + ((s->flags & PHYFF_BLOCK_SKIP) ? d_in : 0u);
        put_i16s(im, (size_t)b.d_out * z, 3000);
        put_i16s(im, b.d_out, 3000);  /* bias */
        put_i16s(im, b.d_out, 30000); /* xi */
        d_in = b.d_out;
        in_exp = b.out_exp;
        n_in = (uint16_t)(n_in + b.d_out);
    }
    if (inference == PHYFF_INFERENCE_ONEPASS) {
        struct phyff_readout_head r = {n_in, nc, 4, 12, 0};
        phyff_readout_head_pack(&r, im->bytes + im->size);
        im->size += PHYFF_READOUT_HEAD_SIZE;
        put_i16s(im, (size_t)nc * n_in, 3000);
        put_i16s(im, nc, 3000);
    }
}

/* One-pass: amplitude (physical + skip), then binary2 (physical). */
static void image_onepass(struct image *im) {
    const struct bspec bs[2] = {
        {PHYFF_ENC_AMPLITUDE, PHYFF_BLOCK_PHYSICAL | PHYFF_BLOCK_SKIP, 6, 4, 0, 1, 1, 2, 3, 16, 1, 2},
        {PHYFF_ENC_BINARY2, PHYFF_BLOCK_PHYSICAL, 3, 3, 50, 3, 0, 0, 15, 14, 2, -1}};
    build_image(im, PHYFF_INFERENCE_ONEPASS, 3, 2, 2, 5, bs, 2, "onepass", 7u);
}

/* Goodness: phase (physical, oversampled), then clip (digital). */
static void image_goodness(struct image *im) {
    const struct bspec bs[2] = {
        {PHYFF_ENC_PHASE, PHYFF_BLOCK_PHYSICAL, 4, 4, 10, 3, 0, 0, 0, 15, 0, 3},
        {PHYFF_ENC_CLIP, PHYFF_BLOCK_SKIP, 3, 0, 0, 0, 0, 3, 20, 18, 0, 0}};
    build_image(im, PHYFF_INFERENCE_GOODNESS, 2, 3, 4, 6, bs, 2, "goodness", 11u);
}

static void core_limits(struct phyff_model_limits *lim) {
    memset(lim, 0, sizeof *lim);
    lim->unit_id = 42;
    memcpy(lim->medium, "fake", 4);
    lim->n_drive = core.caps.n_drive;
    lim->n_sense = core.caps.n_sense;
    lim->max_oversample = core.caps.max_oversample;
    lim->max_settle_us = core.caps.max_settle_us;
    lim->max_classes = PHYFF_CORE_MAX_CLASSES;
    lim->work_values = PHYFF_CORE_INFER_WORK - core.caps.n_drive;
}

static int is_error(const struct phyff_header *h, const uint8_t *p, size_t n, uint16_t status,
                    uint16_t arg) {
    return (h->flags & PHYFF_FLAG_ERROR) && n == PHYFF_ERROR_SIZE && err_status(p) == status &&
           err_arg(p) == arg;
}

static uint8_t seqn = 1;
/* A request on the core's level; returns whether a reply came. */
static int req(uint8_t cmd, const uint8_t *payload, size_t len, struct phyff_header *h,
               const uint8_t **p, size_t *n) {
    seqn = (uint8_t)(seqn % 255u + 1u);
    return transact(PHYFF_PROTOCOL_LEVEL, seqn, cmd, payload, len, h, p, n) == 0 && h->seq == seqn &&
           h->cmd == cmd;
}

static int begin(uint32_t size, uint32_t crc, struct phyff_header *h, const uint8_t **p,
                 size_t *n) {
    uint8_t b[PHYFF_MODEL_BEGIN_SIZE];
    struct phyff_model_begin mb = {size, crc};
    phyff_model_begin_pack(&mb, b);
    return req(PHYFF_CMD_MODEL_BEGIN, b, sizeof b, h, p, n);
}

static int chunk(uint32_t offset, const uint8_t *data, size_t len, struct phyff_header *h,
                 const uint8_t **p, size_t *n) {
    static uint8_t b[PHYFF_CORE_MAX_PAYLOAD];
    struct phyff_chunk_head ch = {offset};
    phyff_chunk_head_pack(&ch, b);
    memcpy(b + PHYFF_CHUNK_HEAD_SIZE, data, len);
    return req(PHYFF_CMD_MODEL_CHUNK, b, PHYFF_CHUNK_HEAD_SIZE + len, h, p, n);
}

/* BEGIN, chunks of `step` bytes, COMMIT; returns 1 when every reply was right
 * and the COMMIT answered the model's info (in *info). */
static int load(const struct image *im, size_t step, struct phyff_model_info *info) {
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    const uint32_t crc = phyff_crc32(0, im->bytes, im->size);
    if (!begin(im->size, crc, &h, &p, &n) || (h.flags & PHYFF_FLAG_ERROR) ||
        n != PHYFF_MODEL_BEGIN_SIZE || phyff_get_u32(p) != im->size || phyff_get_u32(p + 4) != crc)
        return 0;
    for (uint32_t at = 0; at < im->size; at += (uint32_t)step) {
        const size_t len = im->size - at < step ? im->size - at : step;
        if (!chunk(at, im->bytes + at, len, &h, &p, &n) || (h.flags & PHYFF_FLAG_ERROR) ||
            n != PHYFF_CHUNK_HEAD_SIZE || phyff_get_u32(p) != at + len)
            return 0;
    }
    if (!req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) || (h.flags & PHYFF_FLAG_ERROR) ||
        n != PHYFF_MODEL_INFO_SIZE)
        return 0;
    phyff_model_info_unpack(p, info);
    return 1;
}

static int info_now(struct phyff_model_info *info) {
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    if (!req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) || (h.flags & PHYFF_FLAG_ERROR) ||
        n != PHYFF_MODEL_INFO_SIZE)
        return 0;
    phyff_model_info_unpack(p, info);
    return 1;
}

/* Largest n whose INFER request and reply fit the payload (wire.h INFER). */
static uint16_t expect_max_batch(uint16_t nf, uint16_t nc, uint16_t trace) {
    uint32_t n = 0;
    while (8u + 2u * (n + 1u) * nf <= PHYFF_CORE_MAX_PAYLOAD &&
           8u + (n + 1u) * (2u + 4u * nc + 2u * trace) + (n + 8u) / 8u <= PHYFF_CORE_MAX_PAYLOAD)
        ++n;
    return (uint16_t)n;
}

static void features_of(int16_t *x, size_t count, uint32_t seed) {
    img_rng = seed;
    for (size_t i = 0; i < count; ++i) x[i] = small_weight(20000);
    if (count > 1) x[1] = INT16_MIN; /* saturates the overlay of sample 0 */
}

static size_t infer_request(uint8_t *buf, uint16_t ns, uint16_t nv, uint16_t flags,
                            uint16_t reserved, const int16_t *x) {
    struct phyff_infer_head ih = {ns, nv, flags, reserved};
    phyff_infer_head_pack(&ih, buf);
    if (x) phyff_samples_pack(x, (size_t)ns * nv, buf + PHYFF_INFER_HEAD_SIZE);
    return PHYFF_INFER_HEAD_SIZE + 2u * (size_t)ns * nv;
}

/* What INFER must answer for sample x, computed with model.c on the fake
 * medium: drive codes -> sensed codes (the same for every oversampled read)
 * -> p, then the affine maps, read-out or goodness, argmax. trace gets the
 * sensed values; returns 1 when the sample is flagged. */
static int expect_sample(const struct phyff_model_view *v, const int16_t *x, int32_t *scores,
                         uint16_t *cls, int16_t *trace) {
    static int16_t h[PHYFF_CORE_INFER_WORK], y[PHYFF_CORE_INFER_WORK],
        drive[PHYFF_CORE_INFER_WORK], p[PHYFF_CORE_MAX_CHANNELS];
    int64_t acc[PHYFF_CORE_MAX_CLASSES] = {0};
    const bool onepass = v->head.inference == PHYFF_INFERENCE_ONEPASS;
    int sat = 0;
    size_t t = 0;
    for (int label = onepass ? -1 : 0; label < (onepass ? 0 : (int)v->head.n_classes); ++label) {
        sat |= phyff_infer_layout(v, x, label, h);
        int32_t good = 0;
        for (unsigned k = 0; k < v->head.n_blocks; ++k) {
            const struct phyff_block_head *b = &v->blocks[k];
            if (b->flags & PHYFF_BLOCK_PHYSICAL) {
                phyff_infer_encode(v, k, h, drive);
                uint16_t dac[ND] = {0};
                for (uint16_t j = 0; j < b->n_drive; ++j) dac[j] = (uint16_t)((uint16_t)drive[j] >> 3);
                for (uint16_t j = 0; j < b->n_sense; ++j) {
                    const uint16_t code = medium(dac, ND, j, 12);
                    if (code == 4095u) sat = 1;
                    p[j] = (int16_t)(code << 3);
                    trace[t++] = p[j];
                }
            }
            sat |= phyff_infer_affine(v, k, p, h, y);
            if (onepass) phyff_infer_readout_add(v, k, y, acc);
            else good += phyff_infer_goodness(v, k, y);
            memcpy(h, y, sizeof(int16_t) * b->d_out);
        }
        if (!onepass) scores[label] = good;
    }
    if (onepass) sat |= phyff_infer_readout_finish(v, acc, scores);
    *cls = phyff_argmax_s32(scores, v->head.n_classes);
    return sat;
}

/* INFER of n samples (with or without TRACE) against expect_sample. */
static int infer_matches(const struct image *im, uint16_t n, int tracing, uint32_t seed) {
    struct phyff_model_limits lim;
    core_limits(&lim);
    struct phyff_model_view v;
    uint32_t bad;
    if (phyff_model_check(im->bytes, im->size, &lim, &v, &bad) != PHYFF_OK) return 0;
    const uint16_t nf = v.head.n_features, nc = v.head.n_classes;
    static int16_t x[4096];
    static uint8_t rq[PHYFF_CORE_MAX_PAYLOAD];
    features_of(x, (size_t)n * nf, seed);
    const size_t len = infer_request(rq, n, nf, tracing ? PHYFF_INFER_TRACE : 0, 0, x);
    struct phyff_header h;
    const uint8_t *p;
    size_t rn;
    if (!req(PHYFF_CMD_INFER, rq, len, &h, &p, &rn) || (h.flags & PHYFF_FLAG_ERROR)) return 0;
    const size_t tv = tracing ? v.trace_values : 0u;
    if (rn != 8u + n * (2u + 4u * nc + 2u * tv) + (n + 7u) / 8u) return 0;
    struct phyff_infer_head rh;
    phyff_infer_head_unpack(p, &rh);
    if (rh.n_samples != n || rh.n_values != nc || rh.flags != (tracing ? PHYFF_INFER_TRACE : 0) ||
        rh.reserved != 0)
        return 0;
    const uint8_t *classes = p + 8, *sc = classes + 2u * n, *tr = sc + 4u * n * nc,
                  *bitmap = tr + 2u * n * tv;
    for (uint16_t s = 0; s < n; ++s) {
        int32_t scores[PHYFF_CORE_MAX_CLASSES];
        int16_t trace[1024];
        uint16_t cls;
        const int flagged = expect_sample(&v, x + (size_t)s * nf, scores, &cls, trace);
        if (phyff_get_u16(classes + 2u * s) != cls) return 0;
        for (uint16_t c = 0; c < nc; ++c)
            if ((int32_t)phyff_get_u32(sc + 4u * (s * nc + c)) != scores[c]) return 0;
        for (size_t j = 0; j < tv; ++j)
            if ((int16_t)phyff_get_u16(tr + 2u * (s * tv + j)) != trace[j]) return 0;
        if (((bitmap[s / 8u] >> (s % 8u)) & 1u) != (unsigned)flagged) return 0;
    }
    return 1;
}

static void test_model_load_and_infer(void) {
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    CHECK(req(PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n) && n == PHYFF_CAPS_SIZE, "hello");
    struct phyff_caps c;
    phyff_caps_unpack(p, &c);
    CHECK((c.features & PHYFF_FEAT_INFER) && !(c.features & PHYFF_FEAT_MODEL_PERSIST) &&
              c.model_capacity == PHYFF_CORE_MODEL_BYTES && c.model_loaded == 0 &&
              c.model_crc == 0, "caps before a model: infer, no persist, capacity, none loaded");
    CHECK(c.max_classes == PHYFF_CORE_MAX_CLASSES &&
              c.infer_work == PHYFF_CORE_INFER_WORK - ND,
          "caps advertise the model limits: max classes, scratch less one DAC row");
    static struct image a, g;
    image_onepass(&a);
    image_goodness(&g);
    struct phyff_model_info info;
    CHECK(load(&a, 100, &info), "one-pass model loaded in 100-byte chunks");
    const uint32_t crc_a = phyff_crc32(0, a.bytes, a.size);
    CHECK(info.crc32 == crc_a && info.image_size == a.size && info.train_unit_id == 42 &&
              info.n_features == 3 && info.n_classes == 2 && info.n_blocks == 2 &&
              info.inference == PHYFF_INFERENCE_ONEPASS && info.input_exp == 1 &&
              info.score_exp == 16 && info.trace_values == 7 && info.origin == PHYFF_MODEL_LOADED &&
              strcmp(info.name, "onepass") == 0 && strcmp(info.train_board, "test") == 0 &&
              strcmp(info.train_medium, "fake") == 0, "COMMIT's model info");
    CHECK(info.max_batch == expect_max_batch(3, 2, 0) &&
              info.max_batch_trace == expect_max_batch(3, 2, 7),
          "max_batch %u/%u, expected %u/%u", info.max_batch, info.max_batch_trace,
          expect_max_batch(3, 2, 0), expect_max_batch(3, 2, 7));
    struct phyff_model_info again;
    CHECK(info_now(&again) && memcmp(&again, &info, sizeof info) == 0, "MODEL_INFO = COMMIT's");
    CHECK(req(PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n), "hello");
    phyff_caps_unpack(p, &c);
    CHECK(c.model_loaded == 1 && c.model_crc == crc_a, "caps: model loaded, its CRC");
    CHECK(infer_matches(&a, 9, 0, 1u), "one-pass INFER of 9 samples = model.c");
    CHECK(fk.batch_settle == 50 && fk.batch_oversample == 3 && fk.batch_n_sense == 3,
          "the last block measured with its own settle, oversample, sense count (%u %u %u)",
          (unsigned)fk.batch_settle, fk.batch_oversample, fk.batch_n_sense);
    CHECK(infer_matches(&a, 9, 1, 2u), "one-pass INFER with TRACE = model.c, trace included");
    CHECK(infer_matches(&a, info.max_batch_trace, 1, 3u), "largest traced batch");
    CHECK(infer_matches(&a, info.max_batch, 0, 4u), "largest batch");
    /* a retried COMMIT answers the same record (W-C3) */
    CHECK(req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              n == PHYFF_MODEL_INFO_SIZE, "retried COMMIT");
    phyff_model_info_unpack(p, &again);
    CHECK(memcmp(&again, &info, sizeof info) == 0, "retried COMMIT: same info");
    /* the goodness model replaces it, chunks of odd sizes */
    CHECK(load(&g, 37, &info), "goodness model loaded in 37-byte chunks");
    CHECK(info.inference == PHYFF_INFERENCE_GOODNESS && info.trace_values == 12 &&
              info.crc32 == phyff_crc32(0, g.bytes, g.size), "goodness info (3 passes x 4)");
    CHECK(infer_matches(&g, 5, 1, 5u), "goodness INFER with TRACE = model.c");
    CHECK(infer_matches(&g, 17, 0, 6u), "goodness INFER = model.c");
    /* INFER uses the model's settings and leaves CONFIGURE alone */
    CHECK(req(PHYFF_CMD_CONFIGURE, NULL, 0, &h, &p, &n) && n == PHYFF_CONFIG_SIZE, "config");
    struct phyff_config cfg;
    phyff_config_unpack(p, &cfg);
    CHECK(cfg.settle_us == 0 && cfg.oversample == 1 && cfg.n_drive_active == ND &&
              cfg.n_sense_active == NS, "config untouched by INFER");
    /* zero samples: the head alone */
    static uint8_t rq[64];
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 0, 2, 0, 0, NULL), &h, &p, &n) &&
              !(h.flags & PHYFF_FLAG_ERROR) && n == PHYFF_INFER_HEAD_SIZE &&
              phyff_get_u16(p) == 0 && phyff_get_u16(p + 2) == 3, "INFER of 0 samples");
    struct phyff_stats st = read_stats();
    const uint32_t served = 9u + 9u + expect_max_batch(3, 2, 7) + expect_max_batch(3, 2, 0) +
                            5u + 17u + 0u;
    CHECK(st.infer_samples == served, "stats.infer_samples %u, expected %u", st.infer_samples,
          served);
    CHECK(st.infer_digital_us > 0 && st.infer_medium_us > 0, "INFER time counted (W-T10-T11)");
    /* the sample-by-sample measuring path (no measure_batch) gives the same */
    setup(0, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    CHECK(load(&g, 1000, &info), "goodness model, no batch port");
    const unsigned before = fk.senses;
    const uint32_t medium_before = core.stats.infer_medium_us;
    CHECK(infer_matches(&g, 2, 1, 7u), "goodness INFER through drive/settle/sense");
    CHECK(fk.senses - before == 2u * 3u * 3u, "oversample 3 x 3 passes x 2 samples: %u reads",
          fk.senses - before);
    /* the settle wait is the port's delay_us (PORT-R4) */
    CHECK(core.stats.infer_medium_us - medium_before >= 2u * 3u * 10u,
          "the settle time (10 us x 3 passes x 2 samples) is medium time: %u us",
          (unsigned)(core.stats.infer_medium_us - medium_before));
}

/* The image with a description section appended (model.h M-D1-D2): 3 features
 * (scale 1, 2, 4; limit 0.5), clipped, named "a", "b", "c"; classes "no", "yes". */
static void with_description(struct image *im) {
    static const char names[] = "a\0b\0c\0no\0yes\0";
    const uint32_t at = im->size;
    const uint32_t size = PHYFF_DESCRIBE_HEAD_SIZE + 3u * 8u + (uint32_t)(sizeof names - 1u);
    const struct phyff_describe_head d = {PHYFF_DESCRIBE_MAGIC, size, 3, 2,
                                          PHYFF_DESCRIBE_CLIP | PHYFF_DESCRIBE_FEATURE_NAMES, 0,
                                          PHYFF_DESCRIBE_RANGE_Q8};
    phyff_describe_head_pack(&d, im->bytes + at);
    static const uint32_t floats[6] = {0x3F800000u, 0x40000000u, 0x40800000u,  /* 1, 2, 4 */
                                       0x3F000000u, 0x3F000000u, 0x3F000000u}; /* 0.5 */
    for (unsigned i = 0; i < 6; ++i)
        phyff_put_u32(im->bytes + at + PHYFF_DESCRIBE_HEAD_SIZE + 4u * i, floats[i]);
    memcpy(im->bytes + at + PHYFF_DESCRIBE_HEAD_SIZE + 24u, names, sizeof names - 1u);
    im->size = at + size;
}

/* MODEL_DESCRIBE of (offset, max_bytes, reserved). */
static int describe(uint32_t offset, uint16_t max_bytes, uint16_t reserved,
                    struct phyff_header *h, const uint8_t **p, size_t *n) {
    uint8_t b[PHYFF_DESCRIBE_REQUEST_SIZE];
    const struct phyff_describe_request d = {offset, max_bytes, reserved};
    phyff_describe_request_pack(&d, b);
    return req(PHYFF_CMD_MODEL_DESCRIBE, b, sizeof b, h, p, n);
}

/* The whole section read in pieces of `step` bytes equals the image's tail. */
static int describe_matches(const struct image *im, uint32_t at, uint16_t step) {
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    uint32_t off = 0;
    const uint32_t size = im->size - at;
    do {
        if (!describe(off, step, 0, &h, &p, &n) || (h.flags & PHYFF_FLAG_ERROR)) return 0;
        struct phyff_describe_reply r;
        phyff_describe_reply_unpack(p, &r);
        uint32_t want = size - off < step ? size - off : step;
        if (want > PHYFF_CORE_MAX_PAYLOAD - PHYFF_DESCRIBE_REPLY_SIZE)
            want = PHYFF_CORE_MAX_PAYLOAD - PHYFF_DESCRIBE_REPLY_SIZE;
        if (r.section_size != size || r.offset != off || n != PHYFF_DESCRIBE_REPLY_SIZE + want ||
            memcmp(p + PHYFF_DESCRIBE_REPLY_SIZE, im->bytes + at + off, want) != 0)
            return 0;
        off += want;
    } while (off < size);
    return 1;
}

/* MODEL_DESCRIBE (wire.h, level 5; model.h M-D1-D3) on a core with model memory. */
static void test_model_describe(void) {
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    CHECK(describe(0, 100, 0, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0),
          "MODEL_DESCRIBE without a model: NO_MODEL");
    static struct image a, d;
    image_onepass(&a);
    d = a;
    with_description(&d);
    struct phyff_model_info info;
    CHECK(load(&a, 200, &info), "a model without a description");
    CHECK(describe(0, 100, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              n == PHYFF_DESCRIBE_REPLY_SIZE && phyff_get_u32(p) == 0 && phyff_get_u32(p + 4) == 0,
          "no description: section_size 0, no bytes");
    CHECK(describe(1, 100, 0, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_CONFIG, 0),
          "no description: offset 1 is past its end");
    CHECK(load(&d, 200, &info) && info.image_size == d.size, "the model with its description");
    CHECK(infer_matches(&d, 4, 1, 61u), "INFER is as without the description");
    CHECK(describe_matches(&d, a.size, 65535) && describe_matches(&d, a.size, 7) &&
              describe_matches(&d, a.size, 1), "the section read whole, in 7- and 1-byte pieces");
    const uint32_t size = d.size - a.size;
    CHECK(describe(size, 100, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              n == PHYFF_DESCRIBE_REPLY_SIZE && phyff_get_u32(p + 4) == size,
          "offset == section_size: the record alone");
    CHECK(describe(3, 0, 0, &h, &p, &n) && n == PHYFF_DESCRIBE_REPLY_SIZE,
          "max_bytes 0: the record alone");
    CHECK(describe(size + 1, 100, 0, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_CONFIG, 0),
          "offset past the section: BAD_CONFIG at 0");
    CHECK(describe(0, 100, 1, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_CONFIG, 6),
          "reserved: BAD_CONFIG at 6 (before the offset)");
    CHECK(describe(size + 1, 100, 1, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_CONFIG, 6),
          "reserved and offset both wrong: reserved first");
    const uint8_t seven[7] = {0};
    CHECK(req(PHYFF_CMD_MODEL_DESCRIBE, seven, 7, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 8), "a 7-byte request: BAD_PAYLOAD 8");
    /* a broken section is refused at COMMIT like any field (M-D3), the model stays */
    static struct image bad;
    bad = d;
    bad.bytes[bad.size - 1] = 'x'; /* the last class name loses its 0x00 */
    CHECK(!load(&bad, 200, &info), "a name without its 0x00 is refused");
    CHECK(describe_matches(&d, a.size, 50), "the model in force and its description stay");
    CHECK(req(PHYFF_CMD_MODEL_ERASE, NULL, 0, &h, &p, &n) &&
              describe(0, 100, 0, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0),
          "erased: NO_MODEL");
}

static void test_model_refusals(void) {
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    static struct image a, g, bad;
    image_onepass(&a);
    image_goodness(&g);
    const uint32_t crc_a = phyff_crc32(0, a.bytes, a.size);
    struct phyff_model_info info;
    static uint8_t rq[PHYFF_CORE_MAX_PAYLOAD];
    /* no model yet */
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "MODEL_INFO without a model");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 0, 3, 0, 0, NULL), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "INFER without a model");
    CHECK(req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_LOAD, 0), "COMMIT without BEGIN");
    CHECK(chunk(0, a.bytes, 10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_LOAD, 0),
          "CHUNK without BEGIN");
    /* MODEL_BEGIN */
    CHECK(req(PHYFF_CMD_MODEL_BEGIN, rq, 7, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 8), "BEGIN of 7 bytes");
    CHECK(req(PHYFF_CMD_MODEL_BEGIN, rq, 9, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 8), "BEGIN of 9 bytes");
    CHECK(begin(0, 0, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_MODEL_TOO_LARGE,
                                              PHYFF_CORE_MODEL_BYTES), "BEGIN of size 0");
    CHECK(begin(PHYFF_CORE_MODEL_BYTES + 1u, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_MODEL_TOO_LARGE, PHYFF_CORE_MODEL_BYTES),
          "BEGIN above the capacity");
    CHECK(load(&a, 200, &info), "model A in force");
    /* MODEL_CHUNK */
    CHECK(begin(g.size, phyff_crc32(0, g.bytes, g.size), &h, &p, &n) &&
              !(h.flags & PHYFF_FLAG_ERROR), "BEGIN for B");
    CHECK(req(PHYFF_CMD_MODEL_CHUNK, rq, 4, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 5), "CHUNK without data");
    CHECK(chunk(1, g.bytes + 1, 10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_LOAD_RANGE, 0),
          "CHUNK leaving a gap");
    CHECK(chunk(0, g.bytes, 50, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              phyff_get_u32(p) == 50, "first chunk of B");
    CHECK(chunk(40, g.bytes + 40, 30, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              phyff_get_u32(p) == 70, "overlapping chunk (a retry) accepted");
    CHECK(chunk(0, g.bytes, 20, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              phyff_get_u32(p) == 70, "a repeated chunk keeps the count");
    CHECK(chunk(71, g.bytes + 71, 4, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_LOAD_RANGE, 70),
          "gap after 70 bytes");
    CHECK(chunk(70, g.bytes + 70, g.size - 69u, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_LOAD_RANGE, 70), "chunk past the image size");
    /* the half-loaded B (in the other slot) has not touched A */
    CHECK(infer_matches(&a, 4, 1, 21u), "A still answers during B's load");
    CHECK(req(PHYFF_CMD_MODEL_COMMIT, rq, 1, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 0), "COMMIT with a payload");
    CHECK(req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_LOAD_RANGE, 70), "COMMIT of a partial load");
    CHECK(req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_LOAD, 0), "the failed COMMIT dropped the load");
    CHECK(info_now(&info) && info.crc32 == crc_a, "A still in force after the failed load");
    CHECK(infer_matches(&a, 3, 0, 22u), "A still answers after the failed load");
    /* CRC-32 mismatch */
    CHECK(begin(g.size, phyff_crc32(0, g.bytes, g.size) ^ 1u, &h, &p, &n), "BEGIN, wrong CRC");
    CHECK(chunk(0, g.bytes, g.size, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR), "all of B");
    CHECK(req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_MODEL_CRC, 0), "COMMIT: CRC mismatch");
    CHECK(info_now(&info) && info.crc32 == crc_a, "A in force after MODEL_CRC");
    /* BAD_MODEL: a refused field's offset (block 0's shift_out at 72 + 15) */
    bad = g;
    bad.bytes[PHYFF_MODEL_HEAD_SIZE + 15] = 63;
    CHECK(!load(&bad, 500, &info), "a broken image does not load");
    CHECK(begin(bad.size, phyff_crc32(0, bad.bytes, bad.size), &h, &p, &n) &&
              chunk(0, bad.bytes, bad.size, &h, &p, &n) &&
              req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_MODEL, PHYFF_MODEL_HEAD_SIZE + 15),
          "COMMIT: BAD_MODEL at the refused field");
    /* WRONG_BOARD: unit id (16), then medium (56) */
    bad = g;
    phyff_put_u32(bad.bytes + 16, 43);
    CHECK(begin(bad.size, phyff_crc32(0, bad.bytes, bad.size), &h, &p, &n) &&
              chunk(0, bad.bytes, bad.size, &h, &p, &n) &&
              req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_WRONG_BOARD, 16), "COMMIT: another unit");
    bad = g;
    bad.bytes[56] = 'F';
    CHECK(begin(bad.size, phyff_crc32(0, bad.bytes, bad.size), &h, &p, &n) &&
              chunk(0, bad.bytes, bad.size, &h, &p, &n) &&
              req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_WRONG_BOARD, 56), "COMMIT: another medium");
    CHECK(info_now(&info) && info.crc32 == crc_a && infer_matches(&a, 2, 1, 23u),
          "A in force after BAD_MODEL and WRONG_BOARD");
    /* a load begun again restarts from 0 */
    CHECK(begin(g.size, phyff_crc32(0, g.bytes, g.size), &h, &p, &n) &&
              chunk(0, g.bytes, 30, &h, &p, &n) && phyff_get_u32(p) == 30, "30 bytes of B");
    CHECK(begin(g.size, phyff_crc32(0, g.bytes, g.size), &h, &p, &n) &&
              chunk(30, g.bytes + 30, 10, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_LOAD_RANGE, 0), "BEGIN again: 0 bytes received");
    /* a BEGIN refused for its size drops the load in progress too */
    CHECK(chunk(0, g.bytes, 30, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR), "30 bytes of B");
    CHECK(begin(PHYFF_CORE_MODEL_BYTES + 1u, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_MODEL_TOO_LARGE, PHYFF_CORE_MODEL_BYTES), "BEGIN too large");
    CHECK(chunk(30, g.bytes + 30, 10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_LOAD, 0),
          "the refused BEGIN dropped the load");
    CHECK(begin(g.size, phyff_crc32(0, g.bytes, g.size), &h, &p, &n) &&
              !(h.flags & PHYFF_FLAG_ERROR), "BEGIN for B again");
    /* RESET drops the load, keeps the model */
    CHECK(chunk(0, g.bytes, 30, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR), "30 bytes again");
    CHECK(req(PHYFF_CMD_RESET, NULL, 0, &h, &p, &n) && n == 0, "RESET");
    CHECK(chunk(30, g.bytes + 30, 10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_LOAD, 0),
          "RESET dropped the load");
    CHECK(info_now(&info) && info.crc32 == crc_a && infer_matches(&a, 2, 0, 24u),
          "RESET kept the model");
    /* a COMMIT retried after RESET is not a retry any more */
    CHECK(load(&g, 300, &info), "B loaded");
    CHECK(req(PHYFF_CMD_RESET, NULL, 0, &h, &p, &n), "RESET");
    CHECK(req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_LOAD, 0), "COMMIT after RESET: NO_LOAD");
    /* INFER checks, in wire.h's order */
    static int16_t x[64];
    features_of(x, 64, 9u);
    CHECK(req(PHYFF_CMD_INFER, rq, 7, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 8), "INFER of 7 bytes");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 1, 3, 0, 0, x), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_CHANNELS, 2), "INFER: n_values != n_features");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 1, 2, 2, 1, x), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_CONFIG, 4), "INFER: unknown flag (before reserved)");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 1, 2, 1, 1, x), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_CONFIG, 6), "INFER: reserved");
    CHECK(info_now(&info), "info");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, (uint16_t)(info.max_batch + 1u), 2, 0, 0, NULL),
              &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BATCH_TOO_LARGE, info.max_batch), "INFER: batch");
    CHECK(req(PHYFF_CMD_INFER, rq,
              infer_request(rq, (uint16_t)(info.max_batch_trace + 1u), 2, 1, 0, NULL), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BATCH_TOO_LARGE, info.max_batch_trace),
          "INFER: traced batch");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 3, 2, 0, 0, x) - 2u, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 8 + 2 * 3 * 2), "INFER: short payload");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 1, 2, 0, 0, x) + 2u, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 8 + 2 * 1 * 2), "INFER: long payload");
    fk.fail_sense = 1;
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 1, 2, 0, 0, x), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_MEDIUM, 0), "INFER: medium fault");
    fk.fail_sense = 0;
    CHECK(req(PHYFF_CMD_MODEL_INFO, rq, 1, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 0), "MODEL_INFO with a payload");
    /* MODEL_ERASE */
    CHECK(req(PHYFF_CMD_MODEL_ERASE, rq, 2, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 0), "ERASE with a payload");
    CHECK(info_now(&info), "the model survived a refused ERASE");
    CHECK(req(PHYFF_CMD_MODEL_ERASE, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              n == 0, "ERASE");
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "no model after ERASE");
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 1, 2, 0, 0, x), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "INFER after ERASE");
    CHECK(req(PHYFF_CMD_MODEL_ERASE, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR),
          "ERASE without a model is served");
    CHECK(req(PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n), "hello");
    struct phyff_caps c;
    phyff_caps_unpack(p, &c);
    CHECK(c.model_loaded == 0 && c.model_crc == 0, "caps after ERASE");
    /* refusals count as bad commands; the MEDIUM fault is only an error reply */
    struct phyff_stats st = read_stats();
    CHECK(st.bad_commands + 1u == st.error_replies, "bad %u, errors %u", st.bad_commands,
          st.error_replies);
}

static void reboot(void) {
    enum phyff_status st = phyff_core_init(&core, &port, &desc);
    CHECK(st == PHYFF_OK, "re-init: %d", st);
}

static void test_model_persistence(void) {
    setup_ex(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE, 1);
    CHECK(core.caps.features & PHYFF_FEAT_MODEL_PERSIST, "FEAT_MODEL_PERSIST with model_save");
    static struct image a, g;
    image_onepass(&a);
    image_goodness(&g);
    struct phyff_model_info info;
    CHECK(load(&a, 256, &info), "A loaded");
    CHECK(fk.saves == 1 && fk.stored_len == a.size && memcmp(fk.stored, a.bytes, a.size) == 0,
          "COMMIT stored the image (PORT-R6)");
    reboot();
    CHECK(info_now(&info) && info.crc32 == phyff_crc32(0, a.bytes, a.size),
          "the stored model is in force after a restart");
    CHECK(infer_matches(&a, 5, 1, 31u), "the restored model answers INFER");
    /* a failing store: COMMIT answers MEDIUM and A stays */
    fk.fail_save = 1;
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    CHECK(begin(g.size, phyff_crc32(0, g.bytes, g.size), &h, &p, &n) &&
              chunk(0, g.bytes, g.size, &h, &p, &n) &&
              req(PHYFF_CMD_MODEL_COMMIT, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_MEDIUM, 0), "COMMIT when the port cannot store");
    CHECK(info_now(&info) && info.crc32 == phyff_crc32(0, a.bytes, a.size), "A still in force");
    CHECK(req(PHYFF_CMD_MODEL_ERASE, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_MEDIUM, 0), "ERASE when the port cannot erase");
    CHECK(info_now(&info), "the model survived the failed ERASE");
    fk.fail_save = 0;
    CHECK(req(PHYFF_CMD_MODEL_ERASE, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR),
          "ERASE");
    CHECK(fk.stored_len == 0, "ERASE erased the stored copy");
    reboot();
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "nothing restored after ERASE");
    /* a corrupt or foreign stored image is ignored at start-up */
    memcpy(fk.stored, g.bytes, g.size);
    fk.stored_len = g.size - 1u;
    reboot();
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "a truncated stored image is ignored");
    fk.stored_len = g.size;
    fk.stored[0] ^= 0xFFu;
    reboot();
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "a stored image without magic");
    fk.stored[0] ^= 0xFFu;
    phyff_put_u32(fk.stored + 16, 7);
    reboot();
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "a stored image of another unit");
    phyff_put_u32(fk.stored + 16, 42);
    reboot();
    CHECK(info_now(&info) && info.crc32 == phyff_crc32(0, g.bytes, g.size) &&
              infer_matches(&g, 3, 1, 32u), "the repaired stored image is restored");
    CHECK(req(PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n), "hello");
    struct phyff_caps c;
    phyff_caps_unpack(p, &c);
    CHECK(c.model_loaded == 1 && c.model_crc == info.crc32, "caps after restore");
}

#if PHYFF_CORE_MODEL_BYTES > 0
/* ---- on-device learning (CORE-K11, wire.h W-N1-N8) ------------------------------ */

static size_t learn_request(uint8_t *buf, uint16_t ns, uint16_t nv, const int16_t *x,
                            const uint16_t *labels) {
    struct phyff_learn_head lh = {ns, nv};
    phyff_learn_head_pack(&lh, buf);
    if (x) phyff_samples_pack(x, (size_t)ns * nv, buf + PHYFF_LEARN_HEAD_SIZE);
    for (uint16_t s = 0; labels && s < ns; ++s)
        phyff_put_u16(buf + PHYFF_LEARN_HEAD_SIZE + 2u * (size_t)ns * nv + 2u * s, labels[s]);
    return PHYFF_LEARN_HEAD_SIZE + (size_t)ns * (2u * nv + 2u);
}

/* LEARN with seq; the samples learnt (or -1 for an ERROR reply). */
static long learn_seq(uint8_t seq, const uint8_t *rq, size_t len) {
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    if (transact(PHYFF_PROTOCOL_LEVEL, seq, PHYFF_CMD_LEARN, rq, len, &h, &p, &n) != 0 ||
        (h.flags & PHYFF_FLAG_ERROR) || n < PHYFF_LEARN_HEAD_SIZE)
        return -1;
    return phyff_get_u16(p);
}

static int refit_req(uint16_t lambda_shift, struct phyff_header *h, const uint8_t **p,
                     size_t *n) {
    uint8_t b[2];
    phyff_put_u16(b, lambda_shift);
    return req(PHYFF_CMD_REFIT, b, sizeof b, h, p, n);
}

static void test_learning(void) {
    setup_ex(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE, 1);
    CHECK(core.caps.features & PHYFF_FEAT_LEARN, "FEAT_LEARN with model memory (CORE-K11)");
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    static uint8_t rq[PHYFF_CORE_MAX_PAYLOAD];
    CHECK(req(PHYFF_CMD_LEARN, rq, learn_request(rq, 0, 3, NULL, NULL), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "LEARN without a model");
    CHECK(req(PHYFF_CMD_FORGET, NULL, 0, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0),
          "FORGET without a model");
    static struct image a, g;
    image_onepass(&a);
    image_goodness(&g);
    struct phyff_model_info info;
    CHECK(load(&a, 256, &info), "one-pass model");
    CHECK(info.readout_origin == PHYFF_READOUT_HOST && info.readout_samples == 0,
          "a loaded read-out is the host's (W-N6)");
    const uint32_t crc_a = phyff_crc32(0, a.bytes, a.size);
    int16_t x[8 * 3];
    features_of(x, 8 * 3, 91u);
    uint16_t y[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    /* W-N8's checks in order */
    CHECK(req(PHYFF_CMD_LEARN, rq, 3, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 4),
          "LEARN shorter than its head");
    CHECK(req(PHYFF_CMD_LEARN, rq, learn_request(rq, 1, 4, NULL, NULL), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_CHANNELS, 3), "LEARN with the wrong width");
    const uint16_t limit = (uint16_t)((PHYFF_CORE_MAX_PAYLOAD - 4u) / 8u);
    (void)learn_request(rq, (uint16_t)(limit + 1u), 3, NULL, NULL);
    CHECK(req(PHYFF_CMD_LEARN, rq, PHYFF_LEARN_HEAD_SIZE, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BATCH_TOO_LARGE, limit < 511u ? limit : 511u),
          "LEARN beyond the batch limit");
    CHECK(req(PHYFF_CMD_LEARN, rq, learn_request(rq, 2, 3, x, y) - 1u, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 4u + 2u * 8u), "LEARN's length");
    uint16_t bad[8];
    memcpy(bad, y, sizeof bad);
    bad[5] = 2;
    CHECK(req(PHYFF_CMD_LEARN, rq, learn_request(rq, 8, 3, x, bad), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_LABEL, 2), "a label out of range refuses the batch");
    CHECK(refit_req(10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_TOO_FEW, 0),
          "nothing learnt by the refusals: REFIT has too few");
    CHECK(req(PHYFF_CMD_REFIT, rq, 3, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 2),
          "REFIT of 3 bytes");
    CHECK(learn_seq(200, rq, learn_request(rq, 1, 3, x, y)) == 1, "one sample of class 0");
    CHECK(refit_req(10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_TOO_FEW, 1),
          "class 1 has no samples: TOO_FEW, arg 1");
    /* W-N3: a retried LEARN adds nothing */
    size_t len = learn_request(rq, 8, 3, x, y);
    CHECK(learn_seq(201, rq, len) == 9 && learn_seq(201, rq, len) == 9, "a retried LEARN");
    CHECK(learn_seq(202, rq, learn_request(rq, 0, 3, NULL, NULL)) == 9, "LEARN of 0 reads");
    len = learn_request(rq, 8, 3, x, y);
    CHECK(refit_req(61, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_LAMBDA, 60),
          "lambda_shift above 60");
    /* W-N4: the refit replaces the read-out, stores the image, answers its CRC */
    const unsigned saves = fk.saves;
    uint8_t b2[2];
    phyff_put_u16(b2, 10);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 210, PHYFF_CMD_REFIT, b2, 2, &h, &p, &n) == 0 &&
              !(h.flags & PHYFF_FLAG_ERROR) && n == PHYFF_REFIT_REPLY_SIZE, "REFIT");
    struct phyff_refit_reply rr;
    phyff_refit_reply_unpack(p, &rr);
    CHECK(rr.samples == 9 && rr.crc32 != crc_a && rr.conditioning <= 48,
          "REFIT's reply: 9 samples, a new CRC, conditioning %u", rr.conditioning);
    CHECK(fk.saves == saves + 1u && phyff_crc32(0, fk.stored, fk.stored_len) == rr.crc32 &&
              fk.stored_len == a.size, "the refitted image is stored (FEAT_MODEL_PERSIST)");
    CHECK(info_now(&info) && info.crc32 == rr.crc32 && info.readout_origin == PHYFF_READOUT_REFIT &&
              info.readout_samples == 9, "MODEL_INFO: the new CRC, refitted from 9 samples");
    CHECK(req(PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n) && phyff_get_u32(p + 64) == rr.crc32,
          "caps.model_crc is the new image's");
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 210, PHYFF_CMD_REFIT, b2, 2, &h, &p, &n) == 0 &&
              is_error(&h, p, n, PHYFF_ERR_TOO_FEW, 0),
          "the same seq after another request is not a retry: the statistics are consumed");
    CHECK(learn_seq(211, rq, len) == 8, "LEARN again");
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 212, PHYFF_CMD_REFIT, b2, 2, &h, &p, &n) == 0 &&
              !(h.flags & PHYFF_FLAG_ERROR), "REFIT again");
    struct phyff_refit_reply r2;
    phyff_refit_reply_unpack(p, &r2);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 212, PHYFF_CMD_REFIT, b2, 2, &h, &p, &n) == 0 &&
              !(h.flags & PHYFF_FLAG_ERROR) && phyff_get_u32(p) == r2.crc32 &&
              fk.saves == saves + 2u, "a retried REFIT answers the same, stores nothing (W-N3)");
    /* a store that fails: MEDIUM, the stored model back in force */
    CHECK(learn_seq(213, rq, len) == 8, "LEARN for a refit that cannot be stored");
    fk.fail_save = 1;
    CHECK(refit_req(12, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_MEDIUM, 0),
          "REFIT when the port cannot store");
    fk.fail_save = 0;
    CHECK(info_now(&info) && info.crc32 == r2.crc32, "the stored read-out is in force (W-N4)");
    CHECK(infer_matches(&a, 0, 0, 1u), "INFER still served");
    /* MODEL_BEGIN clears the statistics and ends at the next LEARN (CORE-K11) */
    CHECK(learn_seq(214, rq, len) == 8, "LEARN");
    CHECK(begin(g.size, phyff_crc32(0, g.bytes, g.size), &h, &p, &n) &&
              !(h.flags & PHYFF_FLAG_ERROR), "BEGIN");
    CHECK(learn_seq(215, rq, learn_request(rq, 0, 3, NULL, NULL)) == 0,
          "BEGIN cleared the statistics (W-N1)");
    len = learn_request(rq, 8, 3, x, y);
    CHECK(chunk(0, g.bytes, 8, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_LOAD, 0),
          "LEARN ended the load");
    /* FORGET */
    CHECK(learn_seq(216, rq, len) == 8, "LEARN");
    CHECK(req(PHYFF_CMD_FORGET, rq, 1, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_BAD_PAYLOAD, 0),
          "FORGET with a payload");
    CHECK(req(PHYFF_CMD_FORGET, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) && n == 0,
          "FORGET");
    CHECK(learn_seq(217, rq, learn_request(rq, 0, 3, NULL, NULL)) == 0, "FORGET cleared them");
    /* a restart restores the refitted image, which says it was refitted (W-N6) */
    reboot();
    CHECK(info_now(&info) && info.crc32 == r2.crc32 && info.readout_origin == PHYFF_READOUT_REFIT &&
              info.readout_samples == 8, "after a restart: the refitted image, from 8 samples");
    /* a goodness model has no read-out (W-N5) */
    CHECK(load(&g, 256, &info), "goodness model");
    CHECK(req(PHYFF_CMD_LEARN, rq, learn_request(rq, 0, 2, NULL, NULL), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_READOUT, 0), "LEARN on a goodness model");
    CHECK(refit_req(10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_READOUT, 0),
          "REFIT on a goodness model");
    CHECK(req(PHYFF_CMD_MODEL_ERASE, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR),
          "ERASE");
#if PHYFF_CORE_COMPILED_MODEL
    /* W-N5: a compiled-in model in force is read-only */
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    CHECK(phyff_core_use_compiled_model(&core, a.bytes, a.size) == PHYFF_OK, "compiled-in model");
    CHECK(req(PHYFF_CMD_LEARN, rq, learn_request(rq, 0, 3, NULL, NULL), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_READOUT, 1), "LEARN on a compiled-in model");
    CHECK(refit_req(10, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_NO_READOUT, 1),
          "REFIT on a compiled-in model");
    CHECK(load(&a, 256, &info), "the same model loaded into RAM");
    CHECK(learn_seq(218, rq, learn_request(rq, 0, 3, NULL, NULL)) == 0, "learns once loaded");
#endif
}
#endif

#if PHYFF_CORE_COMPILED_MODEL && PHYFF_CORE_MODEL_BYTES == 0
/* CORE-K9: a model compiled into the firmware, on a core without model memory. */
static void test_compiled_model(void) {
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    const uint8_t eight[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    CHECK(!(core.caps.features & PHYFF_FEAT_INFER) && core.caps.max_classes == 0,
          "no image handed over: no FEAT_INFER, no limits");
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_UNKNOWN_COMMAND, 0),
          "no image handed over: the inference commands are unknown");
    static struct image a;
    image_onepass(&a);
    const uint32_t crc = phyff_crc32(0, a.bytes, a.size);
    CHECK(phyff_core_use_compiled_model(&core, a.bytes, a.size) == PHYFF_OK, "image accepted");
    CHECK(req(PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n) && n == PHYFF_CAPS_SIZE, "hello");
    struct phyff_caps c;
    phyff_caps_unpack(p, &c);
    CHECK((c.features & PHYFF_FEAT_INFER) && c.model_capacity == 0 && c.model_loaded == 1 &&
              c.model_crc == crc && c.max_classes == PHYFF_CORE_MAX_CLASSES &&
              c.infer_work == PHYFF_CORE_INFER_WORK - ND,
          "caps: inference, no model memory, the compiled model's CRC, the limits");
    struct phyff_model_info info;
    CHECK(info_now(&info) && info.origin == PHYFF_MODEL_COMPILED && info.crc32 == crc &&
              info.image_size == a.size, "MODEL_INFO: compiled in, its CRC and size");
    CHECK(infer_matches(&a, 5, 1, 51u) && infer_matches(&a, 3, 0, 52u),
          "INFER with the compiled model, traced and not");
    CHECK(begin(a.size, crc, &h, &p, &n) && is_error(&h, p, n, PHYFF_ERR_MODEL_TOO_LARGE, 0),
          "no model memory: every load is refused, capacity 0");
    CHECK(describe(0, 9, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              n == PHYFF_DESCRIBE_REPLY_SIZE && phyff_get_u32(p) == 0,
          "MODEL_DESCRIBE of a compiled model without a description: size 0");
    CHECK(req(PHYFF_CMD_MODEL_ERASE, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              info_now(&info) && info.origin == PHYFF_MODEL_COMPILED,
          "MODEL_ERASE: the compiled model is in force again");
    /* a compiled-in model with a description serves it (M-C1: through phyff_model_byte) */
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    static struct image ad;
    ad = a;
    with_description(&ad);
    CHECK(phyff_core_use_compiled_model(&core, ad.bytes, ad.size) == PHYFF_OK &&
              describe_matches(&ad, a.size, 65535) && describe_matches(&ad, a.size, 5),
          "MODEL_DESCRIBE of a compiled model: its section, whole and in pieces");
    /* another board identity: refused at boot, reported, not served (model.h M-C2) */
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    static struct image w;
    image_onepass(&w);
    phyff_put_u32(w.bytes + 16, 43u); /* train_unit_id */
    CHECK(phyff_core_use_compiled_model(&core, w.bytes, w.size) == PHYFF_ERR_WRONG_BOARD,
          "another unit: WRONG_BOARD");
    CHECK(req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_WRONG_BOARD, 16),
          "MODEL_INFO reports the refusal at train_unit_id");
    CHECK(req(PHYFF_CMD_INFER, eight, 8, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_NO_MODEL, 0), "the refused model is not served");
    /* another channel layout: 4 drive channels for a 5-wide first block */
    setup(1, 4, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    CHECK(phyff_core_use_compiled_model(&core, a.bytes, a.size) == PHYFF_ERR_BAD_MODEL &&
              req(PHYFF_CMD_MODEL_INFO, NULL, 0, &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_BAD_MODEL, PHYFF_MODEL_HEAD_SIZE + 4),
          "a block wider than the board's drive channels: BAD_MODEL at its n_drive");
}
#endif

/* CORE-K10: INFER's scratch lies inside the transmit buffer, which is no larger
 * than the larger of the two needs; every reply after INFERs that filled the
 * scratch (the INFER replies themselves, a HELLO, the ERROR of a medium fault
 * while the scratch is in use) goes out intact, and the next INFER starts afresh. */
static void test_scratch_shares_the_transmit_buffer(void) {
    const size_t need = sizeof core.tx.infer > PHYFF_CORE_TX_CAP ? sizeof core.tx.infer
                                                                 : PHYFF_CORE_TX_CAP;
    CHECK(sizeof core.tx >= need && sizeof core.tx < need + sizeof(int64_t),
          "tx is max(frame %u, scratch %u) bytes: %u", (unsigned)PHYFF_CORE_TX_CAP,
          (unsigned)sizeof core.tx.infer, (unsigned)sizeof core.tx);
    CHECK((const void *)core.tx.infer.work >= (const void *)core.tx.frame &&
              (const void *)(core.tx.infer.work + PHYFF_CORE_INFER_WORK) <=
                  (const void *)((const uint8_t *)&core.tx + sizeof core.tx),
          "the scratch lies inside tx");
    setup(1, ND, NS, PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE);
    static struct image g;
    image_goodness(&g);
#if PHYFF_CORE_MODEL_BYTES > 0
    struct phyff_model_info info;
    CHECK(load(&g, 1000, &info), "goodness model loaded");
#else
    CHECK(phyff_core_use_compiled_model(&core, g.bytes, g.size) == PHYFF_OK,
          "goodness model compiled in");
#endif
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    CHECK(infer_matches(&g, 6, 1, 61u) && infer_matches(&g, 6, 0, 62u),
          "INFER replies intact after the scratch filled tx");
    CHECK(req(PHYFF_CMD_HELLO, NULL, 0, &h, &p, &n) && !(h.flags & PHYFF_FLAG_ERROR) &&
              n == PHYFF_CAPS_SIZE, "HELLO after INFER: intact");
    static uint8_t rq[PHYFF_CORE_MAX_PAYLOAD];
    static int16_t x[64];
    features_of(x, 2u * 2u, 63u);
    fk.fail_sense = 1;
    CHECK(req(PHYFF_CMD_INFER, rq, infer_request(rq, 2, 2, 0, 0, x), &h, &p, &n) &&
              is_error(&h, p, n, PHYFF_ERR_MEDIUM, 0), "a medium fault in INFER: its ERROR");
    fk.fail_sense = 0;
    CHECK(infer_matches(&g, 3, 0, 64u), "the next INFER starts afresh");
}

#else /* !PHYFF_CORE_INFER */

/* Built without model memory: the inference commands do not exist (W-S3). */
static void test_no_inference(void) {
    setup(1, 4, 3, 0);
    struct phyff_header h;
    const uint8_t *p;
    size_t n;
    CHECK(!(core.caps.features & (PHYFF_FEAT_INFER | PHYFF_FEAT_MODEL_PERSIST)) &&
              core.caps.model_capacity == 0, "no FEAT_INFER, capacity 0");
    const uint8_t payload[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    for (uint8_t cmd = PHYFF_CMD_MODEL_BEGIN; cmd <= PHYFF_CMD_MODEL_DESCRIBE; ++cmd) {
        for (size_t len = 0; len <= 8; len += 8) {
            CHECK(transact(PHYFF_PROTOCOL_LEVEL, cmd, cmd, payload, len, &h, &p, &n) == 0 &&
                      h.cmd == cmd && (h.flags & PHYFF_FLAG_ERROR) &&
                      err_status(p) == PHYFF_ERR_UNKNOWN_COMMAND && err_arg(p) == 0,
                  "cmd 0x%02x: UNKNOWN_COMMAND", cmd);
        }
    }
}

#endif /* PHYFF_CORE_INFER */

/* Count delimiters = replies. Every complete non-empty frame must get one. */
static size_t count_zeros(const uint8_t *d, size_t n) {
    size_t z = 0;
    for (size_t i = 0; i < n; ++i) z += d[i] == 0;
    return z;
}

static uint32_t rng_state = 12345u;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* CORE-K1: any bytes in any split, every complete non-empty frame exactly one
 * reply, nothing touched outside the core (the sanitizers watch). */
static void test_fuzz(long iterations) {
    setup(1, 4, 3, PHYFF_FEAT_CHANNEL_SELECT | PHYFF_FEAT_OVERSAMPLE);
    static uint8_t frame[PHYFF_WIRE_MAX_FRAME(PHYFF_CORE_MAX_PAYLOAD + 64)];
    static uint8_t payload[PHYFF_CORE_MAX_PAYLOAD + 64];
    long bad_replies = 0, unanswered = 0, miscounted = 0, unencoded = 0;
#if PHYFF_CORE_INFER
    /* a model that fits this board (4 drive, 3 sense channels), so random
     * INFER requests reach the pipeline; reloaded now and then, as random
     * MODEL_ERASE and loads may drop it */
    static struct image fm;
    const struct bspec fb[2] = {
        {PHYFF_ENC_PHASE, PHYFF_BLOCK_PHYSICAL | PHYFF_BLOCK_SKIP, 2, 3, 0, 2, 0, 0, 0, 15, 0, 0},
        {PHYFF_ENC_BINARY2, PHYFF_BLOCK_PHYSICAL, 2, 2, 0, 1, 0, 0, 0, 15, 0, 0}};
    build_image(&fm, PHYFF_INFERENCE_ONEPASS, 1, 2, 2, 3, fb, 2, "fuzz", 5u);
    long reloads = 0, loaded_ok = 0;
#endif
    long served[256] = {0}; /* replies without ERROR, by command */
    for (long it = 0; it < iterations; ++it) {
#if PHYFF_CORE_INFER && PHYFF_CORE_MODEL_BYTES == 0
        if (it == 0) { /* compiled in: never dropped (MODEL_ERASE brings it back, CORE-K9) */
            reloads++;
            loaded_ok += phyff_core_use_compiled_model(&core, fm.bytes, fm.size) == PHYFF_OK;
        }
#elif PHYFF_CORE_INFER
        if (it % 256 == 0) {
            struct phyff_model_info info;
            reloads++;
            loaded_ok += load(&fm, 1 + rnd() % 120, &info);
        }
#endif
        const struct phyff_stats st0 = core.stats;
        size_t n = 0;
        const uint32_t mode = rnd() % 4;
        if (mode == 0) { /* pure random bytes, no zero, then a delimiter */
            n = 1 + rnd() % 300;
            for (size_t i = 0; i < n; ++i) frame[i] = (uint8_t)(1 + rnd() % 255);
            frame[n++] = 0;
        } else { /* a valid frame, then mutated */
            /* commands 0..7 and, one time in four, the inference and learning commands */
            const uint8_t cmd = (uint8_t)(rnd() % 4 == 0 ? PHYFF_CMD_MODEL_BEGIN + rnd() % 10
                                                         : rnd() % 8);
            struct phyff_header h = {(uint8_t)(rnd() % 8 == 0 ? rnd() : PHYFF_PROTOCOL_LEVEL), (uint8_t)rnd(),
                                     cmd, 0, 0, (uint16_t)rnd()};
            size_t len = rnd() % 3 == 0 ? rnd() % 64 : 4 + 2 * 4 * (rnd() % 40);
            if (cmd >= PHYFF_CMD_MODEL_BEGIN && rnd() % 4 == 0) len = rnd() % 2 == 0 ? 0 : 8;
            for (size_t i = 0; i < len; ++i) payload[i] = (uint8_t)rnd();
            if (h.cmd == PHYFF_CMD_QUERY && len >= 4) {
                struct phyff_query_head q = {(uint16_t)((len - 4) / 8), 4};
                if (rnd() % 4 == 0) q.n_samples = (uint16_t)rnd();
                phyff_query_head_pack(&q, payload);
            }
            if (h.cmd == PHYFF_CMD_INFER && len >= 8) { /* mostly well-formed heads */
                struct phyff_infer_head q = {(uint16_t)((len - 8) / 2), 1,
                                             (uint16_t)(rnd() % 2), 0};
                if (rnd() % 4 == 0) q.n_samples = (uint16_t)rnd();
                if (rnd() % 8 == 0) q.flags = (uint16_t)rnd();
                if (rnd() % 8 == 0) q.n_values = (uint16_t)(rnd() % 4);
                phyff_infer_head_pack(&q, payload);
            }
            if ((h.cmd == PHYFF_CMD_MODEL_CHUNK || h.cmd == PHYFF_CMD_MODEL_BEGIN) && len >= 4 &&
                rnd() % 2 == 0) {
                /* a plausible size, or an offset (often 0: where a load starts) */
                phyff_put_u32(payload, h.cmd == PHYFF_CMD_MODEL_CHUNK && rnd() % 2 ? 0u
                                                                             : rnd() % 300);
            }
            if (h.cmd == PHYFF_CMD_MODEL_DESCRIBE && len == 8 && rnd() % 2 == 0) {
                const struct phyff_describe_request d = {rnd() % 4, (uint16_t)rnd(), 0};
                phyff_describe_request_pack(&d, payload); /* mostly served */
            }
            if (phyff_frame_encode(&h, payload, len, frame, sizeof frame, &n) != PHYFF_OK) {
                unencoded++;
                continue;
            }
            if (mode >= 2 && n > 1) { /* flip, drop or insert a byte before the delimiter */
                size_t at = rnd() % (n - 1);
                uint32_t what = rnd() % 3;
                if (what == 0) frame[at] ^= (uint8_t)(1u << (rnd() % 8));
                if (what == 1) {
                    memmove(frame + at, frame + at + 1, n - at - 1);
                    n--;
                }
                if (what == 2) {
                    memmove(frame + at + 1, frame + at, n - at);
                    frame[at] = (uint8_t)rnd();
                    n++;
                }
            }
        }
        /* count non-empty frames in what we feed */
        size_t frames = 0, run = 0;
        for (size_t i = 0; i < n; ++i) {
            if (frame[i] == 0) {
                frames += run > 0;
                run = 0;
            } else {
                run++;
            }
        }
        fk.out_len = 0;
        /* feed in random splits */
        size_t off = 0;
        while (off < n) {
            size_t take = 1 + rnd() % (n - off);
            phyff_core_receive(&core, frame + off, take);
            off += take;
        }
        size_t replies = count_zeros(fk.out, fk.out_len);
        /* each RESET served adds its event (W-E1): not a reply */
        size_t events = 0, estart = 0;
        for (size_t i = 0; i < fk.out_len; ++i) {
            if (fk.out[i] != 0) continue;
            events += (size_t)is_reset_event(fk.out + estart, i + 1 - estart);
            estart = i + 1;
        }
        if (replies - events != frames) unanswered++;
        /* W-T1-T3: each non-empty frame counts in exactly one of three (unless a
         * RESET among them cleared the counters) */
        const struct phyff_stats *st1 = &core.stats;
        if (events == 0 && (st1->frames_ok - st0.frames_ok) + (st1->crc_errors - st0.crc_errors) +
                                   (st1->framing_errors - st0.framing_errors) != frames) {
            miscounted++;
        }
        /* every reply must itself be a valid frame */
        size_t start = 0;
        for (size_t i = 0; i < fk.out_len; ++i) {
            if (fk.out[i] != 0) continue;
            struct phyff_header h;
            const uint8_t *p;
            size_t pl;
            memcpy(reply_buf, fk.out + start, i - start);
            if (phyff_frame_decode(reply_buf, i - start, 65535, &h, &p, &pl) != PHYFF_OK ||
                !(h.flags & (PHYFF_FLAG_REPLY | PHYFF_FLAG_EVENT)))
                bad_replies++;
            else if (!(h.flags & (PHYFF_FLAG_ERROR | PHYFF_FLAG_EVENT)))
                served[h.cmd]++;
            start = i + 1;
        }
    }
    CHECK(unencoded == 0, "fuzz: %ld frames the codec would not encode", unencoded);
    CHECK(unanswered == 0, "fuzz: %ld frames without exactly one reply", unanswered);
    CHECK(bad_replies == 0, "fuzz: %ld invalid replies", bad_replies);
    CHECK(miscounted == 0, "fuzz: %ld feeds whose frames were not counted once each", miscounted);
    printf("fuzz: %ld frames fed, every one answered by exactly one valid reply (QUERY served "
           "%ld)\n", iterations, served[PHYFF_CMD_QUERY]);
#if PHYFF_CORE_INFER
    CHECK(loaded_ok == reloads, "fuzz: %ld of %ld model reloads failed", reloads - loaded_ok,
          reloads);
    printf("fuzz: inference commands served: BEGIN %ld, CHUNK %ld, COMMIT %ld, INFO %ld, "
           "INFER %ld, ERASE %ld, DESCRIBE %ld, LEARN %ld, REFIT %ld, FORGET %ld (plus %ld "
           "reloads)\n",
           served[PHYFF_CMD_MODEL_BEGIN], served[PHYFF_CMD_MODEL_CHUNK],
           served[PHYFF_CMD_MODEL_COMMIT], served[PHYFF_CMD_MODEL_INFO], served[PHYFF_CMD_INFER],
           served[PHYFF_CMD_MODEL_ERASE], served[PHYFF_CMD_MODEL_DESCRIBE],
           served[PHYFF_CMD_LEARN], served[PHYFF_CMD_REFIT], served[PHYFF_CMD_FORGET], reloads);
    CHECK(served[PHYFF_CMD_INFER] > 0 &&
              (PHYFF_CORE_MODEL_BYTES == 0 || served[PHYFF_CMD_MODEL_CHUNK] > 0),
          "fuzz: random INFER and MODEL_CHUNK requests were served, not only refused");
#endif
}

int main(int argc, char **argv) {
    long fuzz = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    test_hello();
    check_query(1, 1);
    check_query(0, 1);
    check_query(0, 3);
    test_query_errors();
    test_configure_stats_reset();
    test_framing_errors();
    test_counters();
    test_rules();
#if PHYFF_CORE_INFER
    test_scratch_shares_the_transmit_buffer();
#endif
#if PHYFF_CORE_INFER && PHYFF_CORE_MODEL_BYTES == 0
    test_compiled_model();
    (void)test_model_load_and_infer; /* they load models: no model memory here */
    (void)test_model_describe;
    (void)test_model_refusals;
    (void)test_model_persistence;
#elif PHYFF_CORE_INFER
    test_model_load_and_infer();
    test_model_describe();
    test_model_refusals();
    test_model_persistence();
#if PHYFF_CORE_MODEL_BYTES > 0
    test_learning();
#endif
#else
    test_no_inference();
#endif
    test_fuzz(fuzz);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
