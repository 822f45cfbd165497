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
 *   S1. The simulation starts when the first host connects, so the board's
 *       start-up announcement ("board reset" event) reaches it. Later hosts
 *       may connect after the previous one closed; bytes the firmware sends
 *       while no host is attached are dropped, as on an unplugged USB port.
 *       Host bytes reach the UART only once the firmware enabled its
 *       receiver (Serial.begin), so a request sent during boot is not lost.
 *   S2. One host at a time: a second connection while one is attached gets
 *       the text line "phyff-simavr: board busy: ..." and is then closed
 *       (after the harness has read what it sent, so the line is not lost
 *       to a connection reset); the harness says so on its stderr. The
 *       attached host is not disturbed.
 *   S3. A sense round starts when the firmware starts a conversion on A0
 *       (ports/arduino reads A0..A(n-1) in order on every sense call). At
 *       that moment the harness reads the drive vector from the pins, sends
 *       one MEASURE (1 sample, all six inputs, oversample 1) and sets A0..A5
 *       so that simavr's ADC returns exactly the codes the medium server
 *       sent. One medium row per sense call is exactly what the emulator's
 *       per-sample path consumes, oversampling included, so replies are
 *       byte-identical to the in-process emulator configured like the Uno.
 *   S4. At start-up the medium server is asked DESCRIBE; a medium whose
 *       channel counts or converter bits differ from the Uno's (4 drive,
 *       6 sense, 8-bit PWM, 10-bit ADC) is refused with a message, exit 2.
 *   S5. Simulated time is the firmware's time: baud rate, micros() and
 *       delays are those of a 16 MHz ATmega328P. While no request is being
 *       served, the harness sleeps on its sockets between 1 ms slices of
 *       simulated time, so an idle board costs little host CPU.
 *   S6. Exit codes: 0 on SIGTERM/SIGINT, 1 bad arguments or ELF, 2 medium
 *       refused or unreachable, 3 medium failure while running, 4 the
 *       firmware crashed or stopped.
 *   S7. With --diag FILE, one line per reply frame the firmware sends:
 *       "reply start=<cycle> end=<cycle> rounds=<n> first=<cycle> last=<cycle>",
 *       where start is the cycle the request's first byte reached the UART,
 *       end the cycle the reply's delimiter left it, n the sense rounds in
 *       between and first/last the cycles the first and last of them began
 *       (0 when there were none), then "sp_min=<address>": the lowest stack
 *       pointer since start-up (RAMEND minus it is the stack peak).
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
#include <unistd.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>

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
    REG_TCCR2A = 0xB0, REG_OCR2A = 0xB3, REG_OCR2B = 0xB4, REG_UCSR0B = 0xC1
};

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
static unsigned sp_min = 0xFFFFu; /* lowest stack pointer seen (S7) */

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

static void accept_host(void) {
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) return;
    if (host_fd >= 0) { /* S2 */
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

static void describe_medium(void) { /* S4 */
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

/* S3: the millivolts for which simavr's ADC (code = mV * 1023 / AVCC,
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
    fputs("usage: phyff-simavr --elf FIRMWARE.elf --medium HOST:PORT [--port N] [--diag FILE]\n"
          "  Runs the Uno image on a simulated ATmega328P at 16 MHz. UART0 is served on\n"
          "  127.0.0.1:N (0 = any free port; the port is printed on stderr), the drive\n"
          "  pins and analog inputs are wired to the medium server at HOST:PORT.\n",
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
    if (p[0].revents & POLLIN) accept_host();
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
}

int main(int argc, char **argv) {
    const char *elf = NULL, *medium = NULL, *diag_path = NULL;
    int port = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--elf") && i + 1 < argc) elf = argv[++i];
        else if (!strcmp(argv[i], "--medium") && i + 1 < argc) medium = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--diag") && i + 1 < argc) diag_path = argv[++i];
        else {
            usage();
            return 1;
        }
    }
    if (elf == NULL || medium == NULL || port < 0 || port > 65535) {
        usage();
        return 1;
    }
    check_elf(elf);
    if (diag_path && (diag = fopen(diag_path, "w")) == NULL)
        die(1, "cannot write %s: %s", diag_path, strerror(errno));

    medium_fd = connect_medium(medium);
    describe_medium();

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(elf, &fw) != 0) die(1, "simavr cannot load %s", elf);
    avr = avr_make_mcu_by_name("atmega328p");
    if (avr == NULL) die(1, "this simavr has no ATmega328P model");
    avr_init(avr);
    avr->log = 0; /* quiet: warnings about clipped ADC values etc. */
    fw.frequency = F_CPU_HZ;
    fw.vcc = fw.avcc = fw.aref = AVCC_MV;
    avr_load_firmware(avr, &fw);

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

    while (host_fd < 0 && !stop_requested) service_sockets(100); /* S1 */

    const avr_cycle_count_t slice = F_CPU_HZ / 1000u; /* 1 ms */
    const avr_cycle_count_t busy_limit = 2u * F_CPU_HZ;
    int code = 0;
    while (!stop_requested) {
        const int busy = rx_len > 0 || tx_len > 0 ||
                         (req_open && avr->cycle - last_input_cycle < busy_limit);
        service_sockets(busy ? 0 : 20); /* S5 */
        feed_uart();
        const avr_cycle_count_t until = avr->cycle + (busy ? slice / 16u : slice);
        while (avr->cycle < until) {
            const int state = avr_run(avr);
            if (state == cpu_Done || state == cpu_Crashed) {
                flush_tx();
                fprintf(stderr, "phyff-simavr: the firmware %s at cycle %llu\n",
                        state == cpu_Done ? "stopped" : "crashed",
                        (unsigned long long)avr->cycle);
                code = 4;
                goto out;
            }
            if (rx_len > 0 && uart_xon) feed_uart();
            if (diag) {
                const unsigned sp = avr->data[R_SPL] | (unsigned)avr->data[R_SPH] << 8;
                if (sp < sp_min) sp_min = sp;
            }
        }
        flush_tx();
    }
out:
    fprintf(stderr,
            "phyff-simavr: %llu cycles (%.3f s simulated), %llu replies, %llu sense rounds\n",
            (unsigned long long)avr->cycle, (double)avr->cycle / F_CPU_HZ, total_replies,
            total_rounds);
    if (diag) fclose(diag);
    close_host();
    close(listen_fd);
    close(medium_fd);
    avr_terminate(avr);
    return code;
}
