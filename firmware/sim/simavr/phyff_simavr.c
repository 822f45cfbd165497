/*
 * phyff_simavr.c - the Arduino Uno image on a simulated ATmega328P (simavr),
 * its serial port on TCP and its pins wired to a simulated medium.
 *
 * The firmware is the unmodified Uno build (Arduino core + ports/arduino +
 * the board core). This program gives it what a real Uno has around it:
 *
 *   host link   UART0 <-> one TCP connection (127.0.0.1:PORT, the host's
 *               socket:// URL), in both directions at the simulated baud rate.
 *   drive       the four PWM pins of ports/arduino/pins.h (D9, D10, D3, D11),
 *               read from the timer compare registers (or the pin level when
 *               the Arduino core switched PWM off for a 0 or 255 drive).
 *   sense       A0..A5, served as ADC input voltages.
 *   medium      the host's medium server (medium_link.h), asked for one
 *               reading of all six inputs per sense round.
 *
 * Contract (numbered rules)
 *   SIM-S1. The simulation starts when the first host connects, so the board's
 *       start-up announcement ("board reset" event) reaches it. Later hosts
 *       may connect after the previous one closed; bytes the firmware sends
 *       while no host is attached are dropped, as on an unplugged USB port.
 *       Host bytes reach the UART only once the firmware enabled its
 *       receiver (Serial.begin), so a request sent during boot is not lost.
 *   SIM-S2. One host at a time (a host that closed its connection before the next
 *       one connected is gone by then): a second connection while one is attached gets
 *       the text line "phyff-simavr: board busy: ..." and is then closed
 *       (after the harness has read what it sent, so the line is not lost
 *       to a connection reset); the harness says so on its stderr. The
 *       attached host is not disturbed.
 *   SIM-S3. A sense round starts when the firmware starts a conversion on A0
 *       (ports/arduino reads A0..A(n-1) in order on every sense call). At
 *       that moment the harness reads the drive vector from the pins, sends
 *       one MEASURE (1 sample, all six inputs, oversample 1) and sets A0..A5
 *       so that simavr's ADC returns exactly the codes the medium server
 *       sent. One medium row per sense call is exactly what the emulator's
 *       per-sample path consumes, oversampling included, so replies are
 *       byte-identical to the in-process emulator configured like the Uno.
 *   SIM-S4. At start-up the medium server is asked DESCRIBE; a medium whose
 *       channel counts or converter bits differ from the Uno's (4 drive,
 *       6 sense, 8-bit PWM, 10-bit ADC) is refused with a message, exit 2.
 *   SIM-S5. Simulated time is the firmware's time: baud rate, micros() and
 *       delays are those of a 16 MHz ATmega328P. While no request is being
 *       served, the harness sleeps on its sockets between 1 ms slices of
 *       simulated time, so an idle board costs little host CPU.
 *   SIM-S6. Exit codes: 0 on SIGTERM/SIGINT, 1 bad arguments or ELF, 2 medium
 *       refused or unreachable, 3 medium failure while running, 4 the
 *       firmware crashed or stopped.
 *   SIM-S7. With --diag FILE, one line per reply frame the firmware sends:
 *       "reply start=<cycle> end=<cycle> rounds=<n> first=<cycle> last=<cycle>",
 *       where start is the cycle the request's first byte reached the UART,
 *       end the cycle the reply's delimiter left it, n the sense rounds in
 *       between and first/last the cycles the first and last of them began
 *       (0 when there were none), then "sp_min=<address>": the lowest stack
 *       pointer since start-up (RAMEND minus it is the stack peak). SP is
 *       read between instructions, except before the two that precede a
 *       write of SPL: avr-gcc moves SP as `out SPH; out SREG; out SPL`, so
 *       there it holds the new high byte beside the old low byte, a value
 *       the program never uses (up to 255 bytes below the real one when a
 *       frame crosses a 256-byte boundary).
 *
 * The Uno's boot (--boot), its auto-reset (--reset-on-open), uploads
 *   SIM-B1. --boot HEX loads a bootloader (the Uno's optiboot) from an Intel HEX
 *       file into the boot section and programs the Uno's fuses (low 0xFF,
 *       high 0xDE, extended 0xFD): BOOTRST is programmed and BOOTSZ selects
 *       the 512-byte section at 0x7E00, so every reset starts there, as on
 *       a real Uno. The bootloader must lie wholly inside that section.
 *   SIM-B2. The application (--elf, or --app with an ELF or an Intel HEX file)
 *       is loaded below the boot section; without one, the application
 *       flash is erased (0xFF), as on a new chip that has only a bootloader.
 *       Power-on sets PORF in MCUSR, so optiboot starts the application at
 *       once, as a Uno does when it is plugged in.
 *   SIM-B3. --reset-on-open: a host connecting to the TCP port is the Uno's
 *       "port opened": its USB bridge pulls DTR, which resets the MCU
 *       through a capacitor. The harness then resets the MCU with EXTRF in
 *       MCUSR (an external reset), so optiboot listens for an upload for
 *       about a second before it starts the application. TCP is used because
 *       a connection is an unambiguous "open" (a pty gives no such signal
 *       reliably). Closing the connection does nothing, as on a Uno.
 *   SIM-B4. Self-programming (SPM) is simavr's: optiboot writes the flash page
 *       by page, so avrdude (-c arduino -P net:127.0.0.1:PORT) programs the
 *       simulated Uno; the new image runs after the bootloader's watchdog
 *       reset. The flash lives as long as the harness.
 *   SIM-B5. --flash-fault ADDR (a test of failed uploads): page writes at or
 *       above byte address ADDR of the application section do not program
 *       (the page stays erased, as in a flash that no longer takes writes),
 *       so avrdude's verify fails there.
 *   SIM-B6. With a bootloader, a crash of the application halts the MCU until
 *       the next reset (a real board hangs; it does not vanish): the harness
 *       says so on stderr and keeps serving; SIM-S6's exit 4 is for boards
 *       without one.
 *   SIM-B7. While the MCU runs in the boot section and no host bytes wait,
 *       simulated time never runs ahead of the wall clock, so the
 *       bootloader's timeouts (about 1 s listening after an external reset,
 *       16 ms before the watchdog starts the application) last as long as
 *       on a real Uno, and avrdude's pause after opening the port (it waits
 *       300 ms for a reset to finish) fits in the window as it does there.
 *       The application keeps SIM-S5's pacing.
 *   SIM-B8. A watchdog timeout changed while the watchdog runs takes effect at
 *       once (restarting its count), as optiboot relies on; simavr alone
 *       keeps the old one until the next WDR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_flash.h>
#include <simavr/avr_uart.h>
#include <simavr/avr_watchdog.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>

#include "phyff/medium_link.h"
#include "phyff/wire.h"

/* ---- the Uno's wiring (ports/arduino/pins.h, PHYFF_BOARD_UNO) ----------- */
#define N_DRIVE 4u
#define N_SENSE 6u
#define DAC_BITS 8u
#define ADC_BITS 10u
#define AVCC_MV 5000u
#define F_CPU_HZ 16000000u

/* ATmega328P data-space addresses of the registers the drive pins use. */
enum {
    REG_PORTB = 0x25, REG_DDRB = 0x24, REG_PORTD = 0x2B, REG_DDRD = 0x2A,
    REG_TCCR1A = 0x80, REG_OCR1AL = 0x88, REG_OCR1BL = 0x8A,
    REG_TCCR2A = 0xB0, REG_OCR2A = 0xB3, REG_OCR2B = 0xB4, REG_UCSR0B = 0xC1,
    REG_MCUSR = 0x54, REG_WDTCSR = 0x60
};
enum { MCUSR_PORF = 1u << 0, MCUSR_EXTRF = 1u << 1 };

/* The Uno's fuses (Arduino's boards.txt, uno.bootloader.*): BOOTRST programmed,
 * BOOTSZ = 11 (256 words at word 0x3F00, byte 0x7E00). */
#define UNO_LFUSE 0xFFu
#define UNO_HFUSE 0xDEu
#define UNO_EFUSE 0xFDu
#define SPM_PAGE 128u

/* The boot section's first byte address for a high fuse: BOOTSZ1:0 are bits
 * 2:1 (11 = 256 words ... 00 = 2048 words); BOOTRST (bit 0) programmed (0)
 * makes resets start there. */
static uint32_t boot_start(uint8_t hfuse, uint32_t flash_size) {
    const unsigned bootsz = (hfuse >> 1) & 3u;
    const uint32_t words = 256u << (3u - bootsz);
    return flash_size - 2u * words;
}

struct drive_pin {
    const char *name;
    uint8_t tccr, com_bit, ocr; /* PWM on when bit com_bit of tccr is set */
    uint8_t port, ddr, bit;     /* else the pin's output level */
};

/* channel order of PHYFF_DRIVE_PINS {9, 10, 3, 11} */
static const struct drive_pin drive_pins[N_DRIVE] = {
    {"D9/OC1A", REG_TCCR1A, 7, REG_OCR1AL, REG_PORTB, REG_DDRB, 1},
    {"D10/OC1B", REG_TCCR1A, 5, REG_OCR1BL, REG_PORTB, REG_DDRB, 2},
    {"D3/OC2B", REG_TCCR2A, 5, REG_OCR2B, REG_PORTD, REG_DDRD, 3},
    {"D11/OC2A", REG_TCCR2A, 7, REG_OCR2A, REG_PORTB, REG_DDRB, 3},
};

/* ---- state ------------------------------------------------------------------ */
#define MAX_MEDIUM_PAYLOAD 64u
#define MEDIUM_FRAME_CAP PHYFF_WIRE_MAX_FRAME(MAX_MEDIUM_PAYLOAD)

static avr_t *avr;
static volatile sig_atomic_t stop_requested;
static int listen_fd = -1, host_fd = -1, medium_fd = -1;
static int refused_fd = -1; /* a refused second host, drained until it closes */
static unsigned refused_polls;
static uint8_t medium_seq;
static FILE *diag;
static unsigned sp_min = 0xFFFFu; /* lowest stack pointer seen (SIM-S7) */

/* SIM-S7: `out 0x3d, Rr` (SPL): 1011 1AAr rrrr AAAA with A = 0x3d. */
static int writes_spl(avr_flashaddr_t at) {
    if (at + 1u > avr->flashend) return 0;
    const unsigned op = avr->flash[at] | (unsigned)avr->flash[at + 1u] << 8;
    return (op & 0xFE0Fu) == 0xBE0Du;
}

/* SIM-S7: SP holds a value the program uses (not between SPH and SPL writes). */
static int sp_settled(void) {
    return !writes_spl(avr->pc) && !writes_spl(avr->pc + 2u);
}

static int reset_on_open;           /* SIM-B3 */
static int have_boot;               /* SIM-B1 */
static int halted;                  /* SIM-B6: crashed, waiting for a reset */
static uint32_t app_end;            /* first byte of the boot section */
static long flash_fault = -1;       /* SIM-B5 */
static unsigned long long resets;
static avr_cycle_count_t pace_cycle; /* SIM-B7: the cycle and wall time of the last reset */
static double pace_wall;

static double wall_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint8_t rx_buf[4096]; /* host -> UART, not yet accepted by the UART */
static size_t rx_head, rx_len;
static uint8_t tx_buf[4096]; /* UART -> host, not yet written to the socket */
static size_t tx_len;
static int uart_xon = 1;

static avr_cycle_count_t req_start; /* cycle of the first byte of the current request */
static int req_open;                /* bytes delivered since the last reply delimiter */
static avr_cycle_count_t last_input_cycle;
static unsigned long rounds;         /* sense rounds since the last reply */
static avr_cycle_count_t first_round, last_round;
static unsigned long long total_rounds, total_replies;

static void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("phyff-simavr: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

/* ---- sockets ---------------------------------------------------------------- */
static void set_nodelay(int fd) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pfd = {fd, POLLOUT, 0};
                (void)poll(&pfd, 1, 100);
                continue;
            }
            return -1;
        }
        p += (size_t)w;
        n -= (size_t)w;
    }
    return 0;
}

static void close_host(void) {
    if (host_fd >= 0) close(host_fd);
    host_fd = -1;
    rx_head = rx_len = 0;
    tx_len = 0;
}

static void external_reset(void);

static void accept_host(void) {
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) return;
    if (host_fd >= 0) { /* SIM-S2 */
        static const char busy[] =
            "phyff-simavr: board busy: another host is attached to this simulated Uno; "
            "close it first\n";
        (void)write_all(fd, (const uint8_t *)busy, sizeof busy - 1);
        (void)shutdown(fd, SHUT_WR);
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (refused_fd >= 0) close(refused_fd);
        refused_fd = fd;
        refused_polls = 0;
        fputs("phyff-simavr: refused a second host: board busy (one host at a time)\n", stderr);
        fflush(stderr);
        return;
    }
    set_nodelay(fd);
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    host_fd = fd;
    if (reset_on_open) external_reset();
}

static void flush_tx(void) {
    if (tx_len == 0) return;
    if (host_fd >= 0 && write_all(host_fd, tx_buf, tx_len) != 0) close_host();
    tx_len = 0;
}

/* ---- UART ------------------------------------------------------------------- */
static void uart_out_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    const uint8_t byte = (uint8_t)value;
    if (host_fd >= 0) {
        if (tx_len == sizeof tx_buf) flush_tx();
        tx_buf[tx_len++] = byte;
    }
    if (byte == 0x00 && req_open) { /* end of the reply to the open request */
        if (diag) {
            fprintf(diag, "reply start=%llu end=%llu rounds=%lu first=%llu last=%llu sp_min=%u\n",
                    (unsigned long long)req_start, (unsigned long long)avr->cycle, rounds,
                    (unsigned long long)first_round, (unsigned long long)last_round, sp_min);
            fflush(diag);
        }
        total_replies++;
        req_open = 0;
        rounds = 0;
        first_round = last_round = 0;
    }
}

static void uart_xon_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 1;
}

static void uart_xoff_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 0;
}

static avr_irq_t *uart_in;

/* Host bytes wait until the firmware has enabled the receiver (Serial.begin):
 * simavr drops bytes that reach a disabled UART, and a host that connects
 * while the board boots would lose its first request. */
static void feed_uart(void) {
    if (!(avr->data[REG_UCSR0B] & (1u << 4))) return; /* RXEN0 */
    while (uart_xon && rx_len > 0) {
        if (!req_open) {
            req_open = 1;
            req_start = avr->cycle;
        }
        last_input_cycle = avr->cycle;
        const uint8_t b = rx_buf[rx_head];
        rx_head = (rx_head + 1u) % sizeof rx_buf;
        rx_len--;
        avr_raise_irq(uart_in, b);
    }
}

/* ---- medium link ------------------------------------------------------------ */
static size_t medium_request(uint8_t cmd, const uint8_t *payload, size_t len, uint8_t *out,
                             size_t cap) {
    uint8_t frame[MEDIUM_FRAME_CAP];
    size_t frame_len = 0;
    struct phyff_header h = {PHYFF_PROTOCOL_LEVEL, ++medium_seq, cmd, 0, 0, 0};
    if (phyff_frame_encode(&h, payload, len, frame, sizeof frame, &frame_len) != PHYFF_OK)
        die(3, "internal error: medium request does not fit a frame");
    if (write_all(medium_fd, frame, frame_len) != 0)
        die(3, "medium server connection lost while sending (%s)", strerror(errno));
    uint8_t body[MEDIUM_FRAME_CAP];
    size_t n = 0;
    for (;;) {
        uint8_t c;
        ssize_t r = recv(medium_fd, &c, 1, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die(3, "medium server closed the medium link");
        if (c == 0x00) {
            if (n == 0) continue;
            break;
        }
        if (n == sizeof body) die(3, "medium server sent an over-long frame");
        body[n++] = c;
    }
    struct phyff_header rh;
    const uint8_t *rp = NULL;
    size_t rlen = 0;
    enum phyff_status st = phyff_frame_decode(body, n, MAX_MEDIUM_PAYLOAD, &rh, &rp, &rlen);
    if (st != PHYFF_OK) die(3, "medium server reply does not decode: %s", phyff_status_name(st));
    if (rh.seq != h.seq || rh.cmd != cmd || !(rh.flags & PHYFF_FLAG_REPLY))
        die(3, "medium server reply does not match the request (seq %u cmd 0x%02x)",
            rh.seq, rh.cmd);
    if (rh.flags & PHYFF_FLAG_ERROR) {
        struct phyff_error e = {0, 0};
        if (rlen >= PHYFF_ERROR_SIZE) phyff_error_unpack(rp, &e);
        die(3, "medium server refused command 0x%02x: %s (arg %u)", cmd,
            phyff_status_name(e.status), e.arg);
    }
    if (rlen > cap) die(3, "medium server reply is longer than expected (%zu bytes)", rlen);
    memcpy(out, rp, rlen);
    return rlen;
}

static int connect_medium(const char *addr) {
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
        die(1, "--medium wants HOST:PORT, got '%s'", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die(1, "--medium: '%s' is not an IPv4 address", host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die(2, "cannot reach the medium server at %s (%s): start it first", addr, strerror(errno));
    set_nodelay(fd);
    return fd;
}

static void describe_medium(void) { /* SIM-S4 */
    uint8_t raw[PHYFF_MEDIUM_DESC_SIZE];
    if (medium_request(PHYFF_MEDIUM_DESCRIBE, NULL, 0, raw, sizeof raw) != sizeof raw)
        die(2, "medium server's DESCRIBE reply has the wrong size");
    struct phyff_medium_desc d;
    phyff_medium_desc_unpack(raw, &d);
    if (d.n_drive != N_DRIVE || d.n_sense != N_SENSE || d.dac_bits != DAC_BITS ||
        d.adc_bits != ADC_BITS)
        die(2,
            "the medium has %u drive / %u sense channels, %u-bit DAC / %u-bit ADC, but the Uno "
            "is wired for %u / %u, %u-bit PWM / %u-bit ADC: start the medium server with "
            "n_in=%u&n_out=%u&dac_bits=%u&adc_bits=%u",
            d.n_drive, d.n_sense, d.dac_bits, d.adc_bits, N_DRIVE, N_SENSE, DAC_BITS, ADC_BITS,
            N_DRIVE, N_SENSE, DAC_BITS, ADC_BITS);
}

/* The code a drive pin outputs now: OCR while its PWM is connected, else
 * 0 or 255 from the pin level (analogWrite(0/255) is a digitalWrite). */
static uint16_t drive_code(const struct drive_pin *p) {
    const uint8_t *d = avr->data;
    if (d[p->tccr] & (1u << p->com_bit)) return d[p->ocr];
    if (!(d[p->ddr] & (1u << p->bit))) return 0;
    return (d[p->port] & (1u << p->bit)) ? (uint16_t)((1u << DAC_BITS) - 1u) : 0u;
}

static avr_irq_t *adc_irq;

/* SIM-S3: the millivolts for which simavr's ADC (code = mV * 1023 / AVCC,
 * truncated) yields exactly `code`. */
static uint32_t code_to_mv(uint16_t code) {
    return ((uint32_t)code * AVCC_MV + 1022u) / 1023u;
}

static void adc_trigger_hook(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    union {
        avr_adc_mux_t mux;
        uint32_t v;
    } e;
    e.v = value;
    if (e.mux.kind != ADC_MUX_SINGLE || e.mux.src != 0) return;
    uint8_t req[PHYFF_MEASURE_HEAD_SIZE + 2u * N_DRIVE];
    struct phyff_measure_head head = {1, N_DRIVE, N_SENSE, 1};
    phyff_measure_head_pack(&head, req);
    for (unsigned i = 0; i < N_DRIVE; ++i)
        phyff_put_u16(req + PHYFF_MEASURE_HEAD_SIZE + 2u * i, drive_code(&drive_pins[i]));
    uint8_t reply[2u * N_SENSE];
    if (medium_request(PHYFF_MEDIUM_MEASURE, req, sizeof req, reply, sizeof reply) != sizeof reply)
        die(3, "medium server's MEASURE reply has the wrong size");
    for (unsigned j = 0; j < N_SENSE; ++j) {
        uint16_t code = phyff_get_u16(reply + 2u * j);
        if (code > (1u << ADC_BITS) - 1u) code = (uint16_t)((1u << ADC_BITS) - 1u);
        avr_raise_irq(adc_irq + ADC_IRQ_ADC0 + j, code_to_mv(code));
    }
    if (rounds == 0) first_round = avr->cycle;
    last_round = avr->cycle;
    rounds++;
    total_rounds++;
}

/* ---- boot, reset, flash (SIM-B1-B6) --------------------------------------- */

/* SIM-B3: what the Uno's DTR capacitor does when a host opens the port. */
static void external_reset(void) {
    avr_reset(avr);
    avr->data[REG_MCUSR] = MCUSR_EXTRF;
    uart_xon = 1; /* the UART's input FIFO is empty again */
    req_open = 0;
    rounds = 0;
    halted = 0;
    resets++;
    pace_cycle = avr->cycle;
    pace_wall = wall_seconds();
}

/* SIM-B7: milliseconds the simulation is ahead of the wall clock since the last
 * reset (0 when behind). */
static int ms_ahead(void) {
    const double sim = (double)(avr->cycle - pace_cycle) / F_CPU_HZ;
    const double ahead = sim - (wall_seconds() - pace_wall);
    return ahead > 0 ? (int)(ahead * 1000.0) + 1 : 0;
}

/* SIM-B8: simavr (1.6 and later) reads the watchdog's old prescaler after the
 * timed write has stored the new one, so a new timeout never takes effect
 * until the next WDR. optiboot shortens the timeout to 16 ms and spins
 * (no WDR) to start the application: without this, that took a second.
 * When the prescaler changes while the watchdog is on, restart its count
 * with the new timeout, as a WDR would. */
static uint8_t wdtcsr_seen;

static void watch_watchdog(void) {
    const uint8_t now = avr->data[REG_WDTCSR];
    const uint8_t wdp = 0x27u, wde = 0x08u, wdie = 0x40u;
    if ((now ^ wdtcsr_seen) & wdp && (now & (wde | wdie)))
        avr_ioctl(avr, AVR_IOCTL_WATCHDOG_RESET, 0);
    wdtcsr_seen = now;
}

/* SIM-B5: simavr's SPM, with the page writes of a worn-out region undone. */
static int (*spm_ioctl)(struct avr_io_t *port, uint32_t ctl, void *param);

static int faulty_spm_ioctl(struct avr_io_t *port, uint32_t ctl, void *param) {
    if (ctl != AVR_IOCTL_FLASH_SPM) return spm_ioctl(port, ctl, param);
    const uint32_t z = (uint32_t)avr->data[30] | ((uint32_t)avr->data[31] << 8); /* Z = r31:r30 */
    const uint8_t spmcsr = avr->data[0x57];
    const int page_write = (spmcsr & 0x05u) == 0x05u; /* PGWRT | SELFPRGEN */
    const int rc = spm_ioctl(port, ctl, param);
    const uint32_t page = z & ~(SPM_PAGE - 1u);
    if (page_write && page < app_end && (long)page >= flash_fault)
        memset(avr->flash + page, 0xff, SPM_PAGE);
    return rc;
}

static void install_flash_fault(void) {
    for (avr_io_t *io = avr->io_port; io != NULL; io = io->next) {
        if (io->kind != NULL && !strcmp(io->kind, "flash")) {
            spm_ioctl = io->ioctl;
            io->ioctl = faulty_spm_ioctl;
            return;
        }
    }
    die(1, "--flash-fault: this simavr's ATmega328P has no self-programming module");
}

static int hex_nibble(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* SIM-B1/SIM-B2: an Intel HEX file into flash, every byte within [lo, hi). Records
 * 00 (data), 01 (end), 02/04 (segment/linear base); 03/05 (start address)
 * are ignored. Each record's checksum is checked. */
static void load_hex(const char *path, uint32_t lo, uint32_t hi, const char *what) {
    FILE *f = fopen(path, "r");
    if (f == NULL) die(1, "cannot open %s %s: %s", what, path, strerror(errno));
    char line[600];
    uint32_t base = 0;
    unsigned lineno = 0, data_bytes = 0;
    int ended = 0;
    while (!ended && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n == 0) continue;
        uint8_t rec[256 + 5];
        size_t len = 0;
        if (line[0] != ':' || n % 2 != 1 || (n - 1) / 2 > sizeof rec)
            die(1, "%s %s: line %u is not an Intel HEX record", what, path, lineno);
        uint8_t sum = 0;
        for (size_t i = 1; i < n; i += 2) {
            const int h = hex_nibble(line[i]), l = hex_nibble(line[i + 1]);
            if (h < 0 || l < 0) die(1, "%s %s: line %u has a non-hex digit", what, path, lineno);
            rec[len] = (uint8_t)(h * 16 + l);
            sum = (uint8_t)(sum + rec[len++]);
        }
        if (len < 5 || len != (size_t)rec[0] + 5u || sum != 0)
            die(1, "%s %s: line %u has a bad length or checksum", what, path, lineno);
        const uint32_t addr = base + (((uint32_t)rec[1] << 8) | rec[2]);
        switch (rec[3]) {
        case 0x00:
            if (addr < lo || addr + rec[0] > hi)
                die(1, "%s %s writes bytes 0x%04x..0x%04x, outside 0x%04x..0x%04x: %s", what,
                    path, addr, addr + rec[0] - 1u, lo, hi - 1u,
                    lo == 0 ? "the application must fit below the Uno's 512-byte bootloader"
                            : "is it the ATmega328P's optiboot?");
            memcpy(avr->flash + addr, rec + 4, rec[0]);
            data_bytes += rec[0];
            break;
        case 0x01: ended = 1; break;
        case 0x02: base = (((uint32_t)rec[4] << 8) | rec[5]) << 4; break;
        case 0x04: base = (((uint32_t)rec[4] << 8) | rec[5]) << 16; break;
        default: break; /* 03, 05: start addresses */
        }
    }
    fclose(f);
    if (data_bytes == 0) die(1, "%s %s holds no data records", what, path);
}

static int is_elf_file(const char *path) {
    unsigned char m[4] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL) die(1, "cannot open firmware %s: %s", path, strerror(errno));
    size_t n = fread(m, 1, sizeof m, f);
    fclose(f);
    return n == sizeof m && memcmp(m, "\x7f" "ELF", 4) == 0;
}

/* ---- ELF check -------------------------------------------------------------- */
static void check_elf(const char *path) {
    unsigned char h[52];
    FILE *f = fopen(path, "rb");
    if (f == NULL) die(1, "cannot open firmware %s: %s", path, strerror(errno));
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    if (n < sizeof h || memcmp(h, "\x7f" "ELF", 4) != 0)
        die(1, "%s is not an ELF file: build the Uno image (make uno)", path);
    const unsigned machine = (unsigned)h[18] | ((unsigned)h[19] << 8);
    const unsigned flags = (unsigned)h[36] | ((unsigned)h[37] << 8);
    if (h[4] != 1 || machine != 83u)
        die(1, "%s is not an AVR image (ELF machine %u): the simulated Uno runs ATmega328P "
               "firmware (make uno)", path, machine);
    if ((flags & 0x7fu) != 5u)
        die(1, "%s is built for AVR architecture avr%u, the ATmega328P is avr5: build with "
               "-mmcu=atmega328p", path, flags & 0x7fu);
}

/* ---- main ------------------------------------------------------------------- */
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void usage(void) {
    fputs("usage: phyff-simavr [--elf FIRMWARE.elf | --app FIRMWARE.elf|.hex] --medium HOST:PORT\n"
          "                    [--boot BOOTLOADER.hex [--reset-on-open] [--flash-fault ADDR]]\n"
          "                    [--port N] [--diag FILE]\n"
          "  Runs the Uno image on a simulated ATmega328P at 16 MHz. UART0 is served on\n"
          "  127.0.0.1:N (0 = any free port; the port is printed on stderr), the drive\n"
          "  pins and analog inputs are wired to the medium server at HOST:PORT.\n"
          "  --boot loads the bootloader with the Uno's fuses (resets start it);\n"
          "  --reset-on-open resets the MCU whenever a host connects (the Uno's DTR).\n",
          stderr);
}

/* Read and drop what a refused host sends; close it once it closed its side
 * (or after about 2000 polls, should it never do so). */
static void drain_refused(void) {
    uint8_t junk[256];
    for (;;) {
        ssize_t r = recv(refused_fd, junk, sizeof junk, 0);
        if (r > 0) continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
            ++refused_polls > 2000u) {
            close(refused_fd);
            refused_fd = -1;
        }
        return;
    }
}

/* Receive what the host sent, accept or refuse new hosts; wait up to timeout_ms. */
static void service_sockets(int timeout_ms) {
    if (refused_fd >= 0) drain_refused();
    struct pollfd p[2] = {{listen_fd, POLLIN, 0}, {host_fd, POLLIN, 0}};
    const nfds_t np = host_fd >= 0 ? 2 : 1;
    if (poll(p, np, timeout_ms) <= 0) return;
    /* The attached host first: one that closed just before the next one connected
     * (avrdude, then phyff) is gone before the next is accepted, not "busy". */
    if (np == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        while (rx_len < sizeof rx_buf) {
            const size_t tail = (rx_head + rx_len) % sizeof rx_buf;
            const size_t room = tail >= rx_head ? sizeof rx_buf - tail : rx_head - tail;
            ssize_t r = recv(host_fd, rx_buf + tail, room, 0);
            if (r > 0) {
                rx_len += (size_t)r;
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                close_host();
            break;
        }
    }
    if (p[0].revents & POLLIN) accept_host();
}

int main(int argc, char **argv) {
    const char *elf = NULL, *medium = NULL, *diag_path = NULL, *boot = NULL;
    int port = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--elf") && i + 1 < argc) elf = argv[++i];
        else if (!strcmp(argv[i], "--medium") && i + 1 < argc) medium = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--diag") && i + 1 < argc) diag_path = argv[++i];
        else if (!strcmp(argv[i], "--app") && i + 1 < argc) elf = argv[++i];
        else if (!strcmp(argv[i], "--boot") && i + 1 < argc) boot = argv[++i];
        else if (!strcmp(argv[i], "--reset-on-open")) reset_on_open = 1;
        else if (!strcmp(argv[i], "--flash-fault") && i + 1 < argc)
            flash_fault = strtol(argv[++i], NULL, 0);
        else {
            usage();
            return 1;
        }
    }
    if ((elf == NULL && boot == NULL) || medium == NULL || port < 0 || port > 65535 ||
        ((reset_on_open || flash_fault >= 0) && boot == NULL)) {
        usage();
        return 1;
    }
    const int app_is_elf = elf != NULL && is_elf_file(elf);
    if (app_is_elf) check_elf(elf);
    if (diag_path && (diag = fopen(diag_path, "w")) == NULL)
        die(1, "cannot write %s: %s", diag_path, strerror(errno));

    medium_fd = connect_medium(medium);
    describe_medium();

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (app_is_elf && elf_read_firmware(elf, &fw) != 0) die(1, "simavr cannot load %s", elf);
    avr = avr_make_mcu_by_name("atmega328p");
    if (avr == NULL) die(1, "this simavr has no ATmega328P model");
    avr_init(avr);
    avr->log = 0; /* quiet: warnings about clipped ADC values etc. */
    fw.frequency = F_CPU_HZ;
    fw.vcc = fw.avcc = fw.aref = AVCC_MV;
    const uint32_t flash_size = avr->flashend + 1u;
    app_end = flash_size;
    if (boot != NULL) { /* SIM-B1 */
        avr->fuse[0] = UNO_LFUSE;
        avr->fuse[1] = UNO_HFUSE;
        avr->fuse[2] = UNO_EFUSE;
        app_end = boot_start(UNO_HFUSE, flash_size);
    }
    if (app_is_elf) {
        if (fw.flashsize > app_end)
            die(1, "%s holds %u bytes of flash, more than the %u below the bootloader", elf,
                fw.flashsize, app_end);
        avr_load_firmware(avr, &fw);
    } else if (elf != NULL) {
        avr->frequency = fw.frequency; /* SIM-B2: an Intel HEX application */
        avr->vcc = avr->avcc = avr->aref = AVCC_MV;
        load_hex(elf, 0, app_end, "the application");
    }
    if (boot != NULL) {
        load_hex(boot, app_end, flash_size, "the bootloader");
        avr->frequency = F_CPU_HZ;
        avr->codeend = avr->flashend; /* the whole flash may run (an erased one slides to boot) */
        avr->reset_pc = (avr_flashaddr_t)app_end; /* BOOTRST */
        avr_reset(avr);
        avr->data[REG_MCUSR] = MCUSR_PORF; /* SIM-B2: power-on */
        pace_wall = wall_seconds();
        have_boot = 1;
        if (flash_fault >= 0) install_flash_fault();
    }

    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            uart_out_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            uart_xon_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            uart_xoff_hook, NULL);
    adc_irq = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, 0);
    avr_irq_register_notify(adc_irq + ADC_IRQ_OUT_TRIGGER, adc_trigger_hook, NULL);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    (void)setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(listen_fd, 4) != 0)
        die(1, "cannot listen on 127.0.0.1:%d (%s): choose another port", port, strerror(errno));
    socklen_t sl = sizeof sa;
    getsockname(listen_fd, (struct sockaddr *)&sa, &sl);
    fprintf(stderr, "phyff-simavr: listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stderr);

    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    while (host_fd < 0 && !stop_requested) service_sockets(100); /* SIM-S1 */

    const avr_cycle_count_t slice = F_CPU_HZ / 1000u; /* 1 ms */
    const avr_cycle_count_t busy_limit = 2u * F_CPU_HZ;
    int code = 0;
    while (!stop_requested) {
        if (halted) { /* SIM-B6: nothing runs; what the host sends is lost */
            service_sockets(20);
            rx_head = rx_len = 0;
            continue;
        }
        if (have_boot && avr->pc >= app_end && rx_len == 0 && tx_len == 0) { /* SIM-B7 */
            const int ahead = ms_ahead();
            if (ahead > 0) {
                service_sockets(ahead < 20 ? ahead : 20);
                continue;
            }
        }
        const int busy = rx_len > 0 || tx_len > 0 ||
                         (have_boot && avr->pc >= app_end) ||
                         (req_open && avr->cycle - last_input_cycle < busy_limit);
        service_sockets(busy ? 0 : 20); /* SIM-S5 */
        feed_uart();
        const avr_cycle_count_t until = avr->cycle + (busy ? slice / 16u : slice);
        while (avr->cycle < until) {
            const int state = avr_run(avr);
            if ((state == cpu_Done || state == cpu_Crashed) && have_boot) { /* SIM-B6 */
                fprintf(stderr, "phyff-simavr: the application %s at cycle %llu (pc 0x%04x); "
                        "the MCU is halted until the next reset (port open)\n",
                        state == cpu_Done ? "stopped" : "crashed",
                        (unsigned long long)avr->cycle, (unsigned)avr->pc);
                fflush(stderr);
                halted = 1;
                break;
            }
            if (state == cpu_Done || state == cpu_Crashed) {
                flush_tx();
                fprintf(stderr, "phyff-simavr: the firmware %s at cycle %llu\n",
                        state == cpu_Done ? "stopped" : "crashed",
                        (unsigned long long)avr->cycle);
                code = 4;
                goto out;
            }
            if (have_boot && avr->data[REG_WDTCSR] != wdtcsr_seen) watch_watchdog();
            if (rx_len > 0 && uart_xon) feed_uart();
            if (diag && sp_settled()) {
                const unsigned sp = avr->data[R_SPL] | (unsigned)avr->data[R_SPH] << 8;
                if (sp < sp_min) sp_min = sp;
            }
        }
        flush_tx();
    }
out:
    fprintf(stderr,
            "phyff-simavr: %llu cycles (%.3f s simulated), %llu replies, %llu sense rounds, "
            "%llu resets on open\n",
            (unsigned long long)avr->cycle, (double)avr->cycle / F_CPU_HZ, total_replies,
            total_rounds, resets);
    if (diag) fclose(diag);
    close_host();
    close(listen_fd);
    close(medium_fd);
    avr_terminate(avr);
    return code;
}
