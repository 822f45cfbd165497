/*
 * qemu_port.c - the board core on QEMU's mps2-an385 (Cortex-M3): the same
 * bytes a user would flash to a small Cortex-M board, run in an emulator so
 * CI can test them end to end without hardware.
 *
 * Wiring
 *   UART0  the host link. Received bytes are taken by the RX interrupt into
 *          a ring buffer; the main loop feeds them to the core and sleeps
 *          (WFI) when there is nothing to do, so an idle board costs the
 *          host no CPU.
 *   UART1  the medium link (phyff/medium_link.h). QEMU has no DAC/ADC model,
 *          so the medium is simulated by the host's medium server. At
 *          start-up DESCRIBE tells the channel counts, converter bits, unit
 *          id and medium name; every QUERY then goes to the server as ONE
 *          MEASURE through the core's measure_batch hook. Replies are
 *          received by interrupt too, and the board sleeps while it waits:
 *          a guest polling a UART holds QEMU's I/O lock so often that the
 *          bytes it waits for arrive several times slower.
 *   UART2  optional diagnostics, one text line per reply:
 *          "phyff-diag busy=B medium=M wait=W". Ticks of the 25 MHz timer
 *          spent on the frame: B = everything the firmware executed (core +
 *          port), M = the part spent encoding/decoding the medium link,
 *          W = time spent waiting for a UART (not included in B). Under
 *          `-icount shift=0` one guest instruction is one nanosecond of
 *          virtual time, so one tick is 40 instructions. Unconnected, UART2
 *          drops its output.
 *   TIMER0 free-running 25 MHz down-counter: micros() and the tick counts.
 *
 * Memory: static buffers only; the medium link is encoded and decoded on
 * the fly (no frame buffer of its own), so its cost is one 254-byte COBS
 * block. The core is built with on-device inference (platformio.ini:
 * PHYFF_CORE_MODEL_BYTES, two model slots in RAM); the linker script holds
 * the image to 32 KiB flash / 16 KiB RAM.
 *
 * On-device inference: INFER measures each block through measure_batch
 * (one MEASURE of one sample per physical block and pass), so STATS
 * infer_medium_us is the medium link's encoding plus the wait for the
 * medium server, and infer_digital_us the core's own work. micros() counts
 * TIMER0's 25 MHz ticks, so under -icount shift=0 one microsecond is 1,000
 * guest instructions.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mps2_an385.h"
#include "phyff/medium_link.h"
#include "phyff_core.h"

#define QEMU_BOARD_NAME "qemu-mps2-an385"
#define QEMU_MAX_OVERSAMPLE 64u /* same as the in-process emulator */
#define HOST_RING_SIZE 256u     /* power of two */
#define MEDIUM_RING_SIZE 64u    /* power of two */
#define TICKS_PER_US (MPS2_SYSCLK_HZ / 1000000u)
#define DESCRIBE_TRIES 3u
#define DESCRIBE_TIMEOUT_US 1000000u
#define MEASURE_TIMEOUT_US 5000000u

void qemu_uart0_rx_handler(void);
void qemu_timer0_handler(void);

static struct phyff_core core;
static struct phyff_port port;

/* ---- time --------------------------------------------------------------- */

static uint32_t clock_last; /* TIMER0 value at the last update */
static uint32_t clock_frac; /* ticks not yet worth a whole microsecond */
static uint32_t clock_us;

static inline uint32_t ticks_now(void) { return TIMER0->value; } /* counts DOWN */

/* Fold the ticks elapsed since the last call into clock_us. Called with
 * interrupts masked, and from the timer's wrap interrupt, so no 2^32-tick
 * period (171 s) is ever missed. */
static void clock_update(void) {
    const uint32_t v = ticks_now();
    const uint32_t elapsed = clock_last - v; /* down-counter, mod 2^32 */
    clock_last = v;
    clock_frac += elapsed % TICKS_PER_US;
    clock_us += elapsed / TICKS_PER_US + clock_frac / TICKS_PER_US;
    clock_frac %= TICKS_PER_US;
}

void qemu_timer0_handler(void) {
    TIMER0->intstatus = 1u;
    clock_update();
}

static void clock_init(void) {
    TIMER0->ctrl = 0;
    TIMER0->reload = 0xFFFFFFFFu;
    TIMER0->value = 0xFFFFFFFFu;
    clock_last = 0xFFFFFFFFu;
    TIMER0->intstatus = 1u;
    TIMER0->ctrl = CMSDK_TIMER_CTRL_EN | CMSDK_TIMER_CTRL_IRQEN;
    NVIC_ISER0 = 1u << IRQ_TIMER0;
}

static uint32_t port_micros(void *ctx) {
    (void)ctx;
    irq_disable();
    clock_update();
    const uint32_t us = clock_us;
    irq_enable();
    return us;
}

static void port_delay_us(void *ctx, uint32_t us) {
    (void)ctx;
    const uint32_t start = port_micros(NULL);
    while ((uint32_t)(port_micros(NULL) - start) < us) {
    }
}

/* ---- accounting for the cycle budget (UART2 diagnostics) ---------------- */

static uint32_t acct_mark;   /* tick at which the current busy stretch began */
static uint32_t acct_busy;   /* busy ticks of the frame being served so far */
static uint32_t acct_wait;   /* ticks spent waiting on a UART in that stretch */
static uint32_t acct_medium; /* busy ticks inside the medium link */

static void uart_putc(struct cmsdk_uart *u, uint8_t b) {
    if (u->state & CMSDK_UART_STATE_TXFULL) {
        const uint32_t t0 = ticks_now();
        while (u->state & CMSDK_UART_STATE_TXFULL) {
        }
        acct_wait += t0 - ticks_now();
    }
    u->data = b;
}

static void diag_number(const char *label, uint32_t v) {
    char digits[10];
    unsigned n = u32_digits_reversed(v, digits);
    while (*label) uart_putc(UART2, (uint8_t)*label++);
    while (n > 0) uart_putc(UART2, (uint8_t)digits[--n]);
}

/* Close the current frame's account after its reply went out: report it on
 * UART2, then start a new one (the report itself is not counted). */
static void acct_reply_sent(void) {
    const uint32_t now = ticks_now();
    const uint32_t wait = acct_wait;
    const uint32_t busy = acct_busy + (acct_mark - now) - wait;
    diag_number("phyff-diag busy=", busy);
    diag_number(" medium=", acct_medium);
    diag_number(" wait=", wait);
    uart_putc(UART2, '\n');
    acct_busy = 0;
    acct_wait = 0;
    acct_medium = 0;
    acct_mark = ticks_now();
}

/* ---- receive rings (UART0: host link, UART1: medium link) ---------------- */

struct rx_ring {
    struct cmsdk_uart *uart;
    uint8_t *buf;
    uint32_t size;          /* power of two */
    volatile uint32_t head; /* written by the interrupt only */
    volatile uint32_t tail; /* written by the main loop only */
    volatile bool stalled;  /* ring was full: a byte waits in the UART */
};

static uint8_t host_buf[HOST_RING_SIZE];
static uint8_t medium_buf[MEDIUM_RING_SIZE];
static struct rx_ring host_rx = {UART0, host_buf, HOST_RING_SIZE, 0, 0, false};
static struct rx_ring medium_rx = {UART1, medium_buf, MEDIUM_RING_SIZE, 0, 0, false};

/* Move received bytes into the ring. QEMU hands the next byte to the UART
 * as soon as DATA is read, raising the interrupt status again at once; so
 * the status is cleared BEFORE reading DATA, or that next byte's interrupt
 * would be wiped out and the link would stall. When the ring is full the
 * byte is left in the UART, which holds the sender back (no loss); the
 * main loop pulls it once it has made room (ring_consumed). */
static void ring_pull(struct rx_ring *r) {
    while (r->uart->state & CMSDK_UART_STATE_RXFULL) {
        const uint32_t head = r->head;
        r->uart->intstatus = CMSDK_UART_INT_RX;
        if (head - r->tail >= r->size) {
            r->stalled = true;
            return;
        }
        r->buf[head & (r->size - 1u)] = (uint8_t)r->uart->data;
        r->head = head + 1u;
    }
}

static void ring_consumed(struct rx_ring *r, uint32_t n) {
    r->tail += n;
    if (r->stalled) {
        irq_disable();
        r->stalled = false;
        ring_pull(r);
        irq_enable();
    }
}

void qemu_uart0_rx_handler(void) { ring_pull(&host_rx); }
void qemu_uart1_rx_handler(void) { ring_pull(&medium_rx); }

/* TIMER1 ticks every millisecond only while the board waits for the medium
 * server, so that a wait in WFI can notice its deadline. */
void qemu_timer1_handler(void) { TIMER1->intstatus = 1u; }

static void wake_ticker(bool on) {
    TIMER1->ctrl = 0;
    if (on) {
        TIMER1->reload = MPS2_SYSCLK_HZ / 1000u;
        TIMER1->value = MPS2_SYSCLK_HZ / 1000u;
        TIMER1->intstatus = 1u;
        TIMER1->ctrl = CMSDK_TIMER_CTRL_EN | CMSDK_TIMER_CTRL_IRQEN;
    }
}

/* ---- UART0: the host link ------------------------------------------------ */

static void link_write(void *ctx, const uint8_t *data, size_t n) {
    (void)ctx;
    for (size_t i = 0; i < n; ++i) uart_putc(UART0, data[i]);
    acct_reply_sent();
}

/* ---- UART1: the medium link, streamed ------------------------------------ */

/* Streaming frame writer (wire.h W-W1-W2): CRC over header + payload, COBS in
 * 254-byte blocks, canonical like shared/src/wire.c (a full block is closed
 * with 0xFF and a new one opened only if input remains). */
static struct {
    uint8_t block[254];
    size_t n;         /* data bytes in the open block */
    size_t remaining; /* frame bytes (header + payload + CRC) still to come */
    bool closed;
    uint16_t crc;
} mtx;

static void mtx_flush(uint8_t code) {
    uart_putc(UART1, code);
    for (size_t i = 0; i < mtx.n; ++i) uart_putc(UART1, mtx.block[i]);
    mtx.n = 0;
}

static void mtx_cobs(uint8_t b) {
    mtx.remaining--;
    if (b == 0) {
        mtx_flush((uint8_t)(mtx.n + 1u));
        return;
    }
    mtx.block[mtx.n++] = b;
    if (mtx.n == 254u) {
        mtx_flush(0xFFu);
        mtx.closed = mtx.remaining == 0;
    }
}

static void mtx_byte(uint8_t b) {
    mtx.crc = phyff_crc16(mtx.crc, &b, 1);
    mtx_cobs(b);
}

static void mtx_u16(uint16_t v) {
    mtx_byte((uint8_t)(v & 0xFFu));
    mtx_byte((uint8_t)(v >> 8));
}

static void mtx_begin(uint8_t seq, uint8_t cmd, size_t payload_len) {
    mtx.n = 0;
    mtx.closed = false;
    mtx.crc = PHYFF_CRC_INIT;
    mtx.remaining = PHYFF_HEADER_SIZE + payload_len + PHYFF_CRC_SIZE;
    const struct phyff_header h = {PHYFF_PROTOCOL_LEVEL, seq, cmd, 0, (uint16_t)payload_len, 0};
    uint8_t raw[PHYFF_HEADER_SIZE];
    phyff_header_pack(&h, raw);
    for (size_t i = 0; i < sizeof raw; ++i) mtx_byte(raw[i]);
}

static void mtx_end(void) {
    const uint16_t crc = mtx.crc;
    mtx_cobs((uint8_t)(crc & 0xFFu)); /* stored little-endian, not CRC'd */
    mtx_cobs((uint8_t)(crc >> 8));
    if (!mtx.closed) mtx_flush((uint8_t)(mtx.n + 1u));
    uart_putc(UART1, 0);
}

/* Streaming frame reader: COBS-decodes as bytes arrive, puts the header in
 * hdr and the payload straight into the caller's buffer, and holds back the
 * last two decoded bytes, which turn out to be the CRC when the delimiter
 * comes. */
static struct {
    uint8_t hdr[PHYFF_HEADER_SIZE];
    uint8_t *dst;
    size_t cap;
    size_t n; /* decoded bytes committed (header + payload) */
    uint8_t hold[2];
    uint8_t held;
    uint8_t code;
    uint8_t left; /* data bytes left in the current COBS block */
    bool started;
    uint16_t crc;
} mrx;

static void mrx_begin(uint8_t *dst, size_t cap) {
    mrx.dst = dst;
    mrx.cap = cap;
    mrx.n = 0;
    mrx.held = 0;
    mrx.code = 0;
    mrx.left = 0;
    mrx.started = false;
    mrx.crc = PHYFF_CRC_INIT;
}

static void mrx_commit(uint8_t b) {
    mrx.crc = phyff_crc16(mrx.crc, &b, 1);
    if (mrx.n < PHYFF_HEADER_SIZE) {
        mrx.hdr[mrx.n] = b;
    } else if (mrx.n - PHYFF_HEADER_SIZE < mrx.cap) {
        mrx.dst[mrx.n - PHYFF_HEADER_SIZE] = b;
    }
    mrx.n++;
}

static void mrx_decoded(uint8_t b) {
    if (mrx.held == 2u) {
        mrx_commit(mrx.hold[0]);
        mrx.hold[0] = mrx.hold[1];
        mrx.hold[1] = b;
    } else {
        mrx.hold[mrx.held++] = b;
    }
}

static void mrx_byte(uint8_t e) {
    if (mrx.left == 0) { /* a code byte */
        if (mrx.started && mrx.code != 0xFFu) mrx_decoded(0);
        mrx.started = true;
        mrx.code = e;
        mrx.left = (uint8_t)(e - 1u);
    } else {
        mrx_decoded(e);
        mrx.left--;
    }
}

/* Next byte from the medium server, or -1 after timeout_us since start_us
 * (sleeping in WFI meanwhile; TIMER1 wakes it every millisecond). */
static int medium_getc(uint32_t start_us, uint32_t timeout_us) {
    const uint32_t t0 = ticks_now();
    int c = -1;
    for (;;) {
        irq_disable();
        if (medium_rx.head != medium_rx.tail) {
            irq_enable();
            c = medium_rx.buf[medium_rx.tail & (medium_rx.size - 1u)];
            ring_consumed(&medium_rx, 1u);
            break;
        }
        if ((uint32_t)(port_micros(NULL) - start_us) > timeout_us) {
            irq_enable();
            break;
        }
        wait_for_interrupt();
        irq_enable();
    }
    acct_wait += t0 - ticks_now();
    return c;
}

/* Wait for the reply to (seq, cmd) carrying exactly `len` payload bytes into
 * dst. Frames for other requests (a late reply after a timeout) are skipped.
 * Returns 0, or -1 on timeout, an ERROR reply or a damaged frame. */
static int medium_reply_frame(uint8_t seq, uint8_t cmd, uint8_t *dst, size_t len,
                              uint32_t timeout_us) {
    const uint32_t start = port_micros(NULL);
    for (;;) {
        mrx_begin(dst, len);
        int c;
        while ((c = medium_getc(start, timeout_us)) > 0) mrx_byte((uint8_t)c);
        if (c < 0) return -1;
        if (!mrx.started) continue; /* empty frame */
        if (mrx.left != 0 || mrx.held != 2u || mrx.n < PHYFF_HEADER_SIZE) return -1;
        if (mrx.crc != phyff_get_u16(mrx.hold)) return -1;
        struct phyff_header h;
        phyff_header_unpack(mrx.hdr, &h);
        if (h.length != mrx.n - PHYFF_HEADER_SIZE) return -1;
        if (h.seq != seq || h.cmd != cmd || !(h.flags & PHYFF_FLAG_REPLY)) continue;
        if ((h.flags & PHYFF_FLAG_ERROR) || h.length != len) return -1;
        return 0;
    }
}

static int medium_reply(uint8_t seq, uint8_t cmd, uint8_t *dst, size_t len,
                        uint32_t timeout_us) {
    wake_ticker(true);
    const int rc = medium_reply_frame(seq, cmd, dst, len, timeout_us);
    wake_ticker(false);
    return rc;
}

static uint8_t medium_seq;

static uint8_t medium_next_seq(void) {
    medium_seq = (uint8_t)(medium_seq % 255u + 1u);
    return medium_seq;
}

static bool medium_ok;

/* PORT-R3: the whole batch as one MEASURE; the reply's ADC codes land in adc. */
static int port_measure_batch(void *ctx, const uint16_t *dac, uint16_t n_samples,
                              uint16_t n_drive, uint16_t *adc, uint16_t n_sense,
                              uint16_t oversample, uint32_t settle_us) {
    (void)ctx;
    (void)settle_us; /* the simulated medium has no dynamics to settle */
    if (!medium_ok) return -1;
    const uint32_t t0 = ticks_now();
    const uint32_t wait0 = acct_wait;
    const size_t n_codes = (size_t)n_samples * n_drive;
    const uint8_t seq = medium_next_seq();
    mtx_begin(seq, PHYFF_MEDIUM_MEASURE, PHYFF_MEASURE_HEAD_SIZE + 2u * n_codes);
    mtx_u16(n_samples);
    mtx_u16(n_drive);
    mtx_u16(n_sense);
    mtx_u16(oversample);
    for (size_t i = 0; i < n_codes; ++i) mtx_u16(dac[i]);
    mtx_end();
    const size_t n_adc = (size_t)n_samples * n_sense;
    uint8_t *raw = (uint8_t *)adc;
    const int rc = medium_reply(seq, PHYFF_MEDIUM_MEASURE, raw, 2u * n_adc, MEASURE_TIMEOUT_US);
    /* little-endian bytes -> native codes, in place (W-W3) */
    for (size_t i = 0; rc == 0 && i < n_adc; ++i) adc[i] = phyff_get_u16(raw + 2u * i);
    acct_medium += (t0 - ticks_now()) - (acct_wait - wait0);
    return rc;
}

static struct phyff_medium_desc medium_desc;
static char medium_name[PHYFF_NAME_SIZE + 1u];

static bool medium_describe(void) {
    uint8_t raw[PHYFF_MEDIUM_DESC_SIZE];
    for (unsigned attempt = 0; attempt < DESCRIBE_TRIES; ++attempt) {
        const uint8_t seq = medium_next_seq();
        mtx_begin(seq, PHYFF_MEDIUM_DESCRIBE, 0);
        mtx_end();
        if (medium_reply(seq, PHYFF_MEDIUM_DESCRIBE, raw, sizeof raw, DESCRIBE_TIMEOUT_US) == 0) {
            phyff_medium_desc_unpack(raw, &medium_desc);
            memcpy(medium_name, medium_desc.medium, PHYFF_NAME_SIZE);
            medium_name[PHYFF_NAME_SIZE] = '\0';
            return true;
        }
    }
    return false;
}

/* ---- start-up and main loop ---------------------------------------------- */

static void uart_init(struct cmsdk_uart *u, uint32_t ctrl) {
    u->bauddiv = 16u; /* QEMU ignores TX/RX below 16; the rate itself is not modelled */
    u->intstatus = 0xFu;
    u->ctrl = ctrl;
}

int main(void) {
    clock_init();
    irq_enable();
    uart_init(UART1, CMSDK_UART_CTRL_TX_EN | CMSDK_UART_CTRL_RX_EN | CMSDK_UART_CTRL_RX_INTEN);
    NVIC_ISER0 = (1u << IRQ_UART1_RX) | (1u << IRQ_TIMER1);
    uart_init(UART2, CMSDK_UART_CTRL_TX_EN);
    /* UART0 TX only for now: QEMU holds the host's bytes back until RX is on. */
    uart_init(UART0, CMSDK_UART_CTRL_TX_EN);

    port.ctx = NULL;
    port.link_write = link_write;
    port.micros = port_micros;
    port.delay_us = port_delay_us;
    port.drive = NULL;
    port.sense = NULL;
    port.measure_batch = port_measure_batch;
    /* No non-volatile model storage (port.h PORT-R6): QEMU's mps2-an385 has no
     * flash model and the launcher no semihosting, so a loaded model lasts
     * until QEMU exits (no FEAT_MODEL_PERSIST; docs/boards.md). */
    port.model_save = NULL;
    port.model_restore = NULL;

    struct phyff_board_desc desc = {
        QEMU_BOARD_NAME, "no-medium", 0,
        PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE | PHYFF_FEAT_CHANNEL_SELECT |
            PHYFF_FEAT_EMULATED,
        1, 1, 12, 12, QEMU_MAX_OVERSAMPLE};
    medium_ok = medium_describe();
    if (medium_ok) {
        desc.medium = medium_name;
        desc.unit_id = medium_desc.unit_id;
        desc.n_drive = medium_desc.n_drive;
        desc.n_sense = medium_desc.n_sense;
        desc.dac_bits = medium_desc.dac_bits;
        desc.adc_bits = medium_desc.adc_bits;
    }
    if (phyff_core_init(&core, &port, &desc) != PHYFF_OK) {
        /* A medium this board cannot serve (e.g. too many sense channels):
         * still answer HELLO, and refuse every QUERY with PHYFF_ERR_MEDIUM. */
        medium_ok = false;
        desc.medium = "unsupported";
        desc.n_drive = 1;
        desc.n_sense = 1;
        desc.dac_bits = 12;
        desc.adc_bits = 12;
        if (phyff_core_init(&core, &port, &desc) != PHYFF_OK) {
            return 1; /* cannot happen (1 x 1 channels fit any frame); parks the core */
        }
    }
    phyff_core_announce(&core);

    UART0->ctrl = CMSDK_UART_CTRL_TX_EN | CMSDK_UART_CTRL_RX_EN | CMSDK_UART_CTRL_RX_INTEN;
    /* Enabling RX does not make QEMU look at its backend again (bytes the
     * host sent meanwhile would sit there for up to a second); a read of
     * DATA does. Nothing can be in DATA yet, so nothing is lost. */
    if (!(UART0->state & CMSDK_UART_STATE_RXFULL)) (void)UART0->data;
    NVIC_ISER0 = 1u << IRQ_UART0_RX;

    for (;;) {
        irq_disable();
        if (host_rx.head == host_rx.tail) {
            /* Sleep until the next interrupt. With interrupts masked, WFI
             * still wakes on a pending one, and no byte can slip in between
             * the check and the sleep. */
            wait_for_interrupt();
            irq_enable();
            continue;
        }
        irq_enable();
        const uint32_t tail = host_rx.tail;
        const uint32_t idx = tail & (HOST_RING_SIZE - 1u);
        uint32_t n = host_rx.head - tail;
        if (idx + n > HOST_RING_SIZE) n = HOST_RING_SIZE - idx;
        acct_mark = ticks_now();
        phyff_core_receive(&core, &host_buf[idx], n);
        acct_busy += acct_mark - ticks_now();
        ring_consumed(&host_rx, n);
    }
}
