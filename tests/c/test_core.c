/*
 * test_core.c - unit tests and a fuzzer for the firmware core, on the host,
 * built with AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * A fake port plays the hardware: a deterministic "medium" (sense[j] =
 * (sum of drive codes * (j + 1)) mod 2^adc_bits) so every reply can be
 * predicted exactly. Each test prints "ok"/"FAIL" lines; the last line is
 * "N passed, M failed". Usage: test_core [fuzz_iterations]
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
    (void)k;
    (void)settle;
    if (f->fail_sense) return -1;
    for (uint16_t s = 0; s < ns_; ++s)
        for (uint16_t j = 0; j < nsense; ++j)
            adc[s * nsense + j] = medium(dac + s * nd, nd, j, f->adc_bits);
    return 0;
}

static struct fake fk;
static struct phyff_core core;
static struct phyff_port port;

static void setup(int batch, uint16_t nd, uint16_t ns, uint16_t features) {
    memset(&fk, 0, sizeof fk);
    fk.adc_bits = 12;
    port = (struct phyff_port){&fk, f_write, f_micros, f_delay, f_drive, f_sense,
                               batch ? f_batch : NULL, NULL, NULL};
    struct phyff_board_desc d = {"test", "fake", 42, features, nd, ns, 12, 12, 8};
    enum phyff_status st = phyff_core_init(&core, &port, &d);
    CHECK(st == PHYFF_OK, "init: %d", st);
}

/* Whether out[0..n) is exactly one reset event frame (wire.h E1). */
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
    /* exactly one reply; after RESET it is followed by the reset event (E1) */
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
    /* HELLO answers whatever the level (L4) */
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
    /* negative drive flags the sample; top ADC code flags too */
    build_query(q, 9, 4, 100);
    phyff_put_u16(q + 4 + 2 * (8 * 4 + 1), (uint16_t)(int16_t)-5);
    CHECK(transact(PHYFF_PROTOCOL_LEVEL, 5, PHYFF_CMD_QUERY, q, 4 + 2 * 9 * 4, &h, &p, &n) == 0 &&
              !(h.flags & 2), "query with negative");
    CHECK(n == 4 + 2 * 9 * 3 + 2 && (p[n - 1] & 1), "sample 8 flagged");
    /* medium fault */
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
    /* a query with 3 active drive channels reaches the medium as 6 codes (3 zero) */
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
          "reset reply followed by the reset event (E1)");
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
    phyff_frame_encode(&bad, NULL, 0, frame, sizeof frame, &fl);
    fk.out_len = 0;
    phyff_core_receive(&core, frame, fl);
    memcpy(reply_buf, fk.out, fk.out_len - 1);
    CHECK(phyff_frame_decode(reply_buf, fk.out_len - 1, 65535, &h, &p, &n) == PHYFF_OK &&
              err_status(p) == PHYFF_ERR_NOT_A_REQUEST, "not a request");
    /* announce */
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

/* wire.h T1-T8: every counter by exactly what increments it. */
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
    phyff_frame_encode(&rq, NULL, 0, frame, sizeof frame, &fl);
    CHECK(feed(frame, fl, &h, &p, &n) == 1 && err_status(p) == PHYFF_ERR_NOT_A_REQUEST,
          "not a request");
    /* damaged: one of crc_errors / framing_errors, never frames_ok */
    const uint8_t trunc[] = {0x04, 0x01, 0x02, 0x03, 0x00};
    CHECK(feed(trunc, sizeof trunc, &h, &p, &n) == 1 && h.seq == 0 &&
              err_status(p) == PHYFF_ERR_TRUNCATED && err_arg(p) == 0, "truncated, arg 0");
    rq.flags = 0;
    phyff_frame_encode(&rq, NULL, 0, frame, sizeof frame, &fl);
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
 * settle range, uptime from the clock. */
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
    phyff_frame_encode(&rq, NULL, 0, frame, sizeof frame, &fl);
    CHECK(feed(frame, fl, &h, &p, &n) == 1 && !(h.flags & PHYFF_FLAG_ERROR) && h.aux == 0,
          "aux ignored");
    /* uptime follows the port clock, not the traffic */
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

static void test_fuzz(long iterations) {
    setup(1, 4, 3, PHYFF_FEAT_CHANNEL_SELECT | PHYFF_FEAT_OVERSAMPLE);
    static uint8_t frame[PHYFF_WIRE_MAX_FRAME(PHYFF_CORE_MAX_PAYLOAD + 64)];
    static uint8_t payload[PHYFF_CORE_MAX_PAYLOAD + 64];
    long bad_replies = 0, unanswered = 0, miscounted = 0;
    for (long it = 0; it < iterations; ++it) {
        const struct phyff_stats st0 = core.stats;
        size_t n = 0;
        const uint32_t mode = rnd() % 4;
        if (mode == 0) { /* pure random bytes, no zero, then a delimiter */
            n = 1 + rnd() % 300;
            for (size_t i = 0; i < n; ++i) frame[i] = (uint8_t)(1 + rnd() % 255);
            frame[n++] = 0;
        } else { /* a valid frame, then mutated */
            struct phyff_header h = {(uint8_t)(rnd() % 8 == 0 ? rnd() : PHYFF_PROTOCOL_LEVEL), (uint8_t)rnd(),
                                     (uint8_t)(rnd() % 8), 0, 0, (uint16_t)rnd()};
            size_t len = rnd() % 3 == 0 ? rnd() % 64 : 4 + 2 * 4 * (rnd() % 40);
            for (size_t i = 0; i < len; ++i) payload[i] = (uint8_t)rnd();
            if (h.cmd == PHYFF_CMD_QUERY && len >= 4) {
                struct phyff_query_head q = {(uint16_t)((len - 4) / 8), 4};
                if (rnd() % 4 == 0) q.n_samples = (uint16_t)rnd();
                phyff_query_head_pack(&q, payload);
            }
            phyff_frame_encode(&h, payload, len, frame, sizeof frame, &n);
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
        /* each RESET served adds its event (E1): not a reply */
        size_t events = 0, estart = 0;
        for (size_t i = 0; i < fk.out_len; ++i) {
            if (fk.out[i] != 0) continue;
            events += (size_t)is_reset_event(fk.out + estart, i + 1 - estart);
            estart = i + 1;
        }
        if (replies - events != frames) unanswered++;
        /* T1-T3: each non-empty frame counts in exactly one of three (unless a
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
            start = i + 1;
        }
    }
    CHECK(unanswered == 0, "fuzz: %ld frames without exactly one reply", unanswered);
    CHECK(bad_replies == 0, "fuzz: %ld invalid replies", bad_replies);
    CHECK(miscounted == 0, "fuzz: %ld feeds whose frames were not counted once each", miscounted);
    printf("fuzz: %ld frames fed, every one answered by exactly one valid reply\n", iterations);
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
    test_fuzz(fuzz);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
