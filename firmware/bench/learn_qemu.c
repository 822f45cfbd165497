/*
 * learn_qemu.c - instructions of on-device read-out learning on a Cortex-M3
 * (QEMU mps2-an385 under -icount shift=0), and its result, for
 * host/phyff/perf/learn_qemu.py.
 *
 * The host writes learn_data.h (a one-pass image, the board limits it was
 * checked against, labelled read-out features, lambda_shift) and links this
 * file with learn.c, model.c, wire.c, fixed.c, the QEMU port's startup code
 * and linker script (the 32 KiB / 16 KiB budget). The program checks the
 * image, adds every sample to the statistics (learn.h RF-A2-A4), refits
 * (RF-S1-Q5) and prints on UART0: TIMER0 ticks (25 MHz; 40 instructions per
 * tick under -icount shift=0) of the adds and of the refit, the status, the
 * conditioning figure and the whole image after the refit in hex, then END.
 * The statistics sit in a buffer of one model slot's size, as they would in
 * the core's inactive slot.
 */
#include <stdint.h>
#include <string.h>

#include "learn_data.h"
#include "mps2_an385.h"
#include "phyff/learn.h"
#include "phyff/model.h"

#ifndef LEARN_SLOT_BYTES
#define LEARN_SLOT_BYTES 4352u
#endif

static union { uint8_t bytes[LEARN_SLOT_BYTES]; uint32_t align; } image;
static union { uint8_t bytes[LEARN_SLOT_BYTES]; int32_t words[LEARN_SLOT_BYTES / 4u]; } area;
static int32_t scratch[2u * (PHYFF_LEARN_MAX_WIDTH + 1u)];

void qemu_uart0_rx_handler(void) {}
void qemu_uart1_rx_handler(void) {}
void qemu_timer0_handler(void) { TIMER0->intstatus = 1u; }
void qemu_timer1_handler(void) {}

static void putc0(char c) {
    while (UART0->state & CMSDK_UART_STATE_TXFULL) {
    }
    UART0->data = (uint8_t)c;
}

static void puts0(const char *s) {
    while (*s) putc0(*s++);
}

static void put_u32(const char *label, uint32_t v) {
    char digits[10];
    unsigned n = u32_digits_reversed(v, digits);
    puts0(label);
    while (n > 0) putc0(digits[--n]);
    putc0('\n');
}

int main(void) {
    UART0->bauddiv = 16u;
    UART0->ctrl = CMSDK_UART_CTRL_TX_EN;
    TIMER0->ctrl = 0;
    TIMER0->reload = 0xFFFFFFFFu;
    TIMER0->value = 0xFFFFFFFFu;
    TIMER0->ctrl = CMSDK_TIMER_CTRL_EN;
    if (sizeof LEARN_IMAGE > sizeof image.bytes) {
        puts0("error image larger than a slot\nEND\n");
        return 1;
    }
    memcpy(image.bytes, LEARN_IMAGE, sizeof LEARN_IMAGE);
    struct phyff_model_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.unit_id = LEARN_UNIT_ID;
    memcpy(lim.medium, LEARN_MEDIUM, sizeof LEARN_MEDIUM - 1u);
    lim.n_drive = 1024u;
    lim.n_sense = 1024u;
    lim.max_oversample = 1024u;
    lim.max_settle_us = 1000000u;
    lim.max_classes = 256u;
    lim.work_values = 16384u;
    struct phyff_model_view view;
    uint32_t bad = 0;
    if (phyff_model_check(image.bytes, sizeof LEARN_IMAGE, &lim, &view, &bad) != PHYFF_OK) {
        put_u32("error image refused at ", bad);
        puts0("END\n");
        return 1;
    }
    const uint16_t width = view.readout_width;
    const uint16_t nc = view.head.n_classes;
    put_u32("area_bytes ", (uint32_t)phyff_learn_area_size(width, nc));
    if (phyff_learn_area_size(width, nc) > sizeof area.bytes) {
        puts0("error statistics larger than a slot\nEND\n");
        return 1;
    }
    phyff_learn_clear(area.words, width, nc);
    uint32_t refused = 0;
    const uint32_t t0 = TIMER0->value;
    for (uint32_t s = 0; s < LEARN_SAMPLES; ++s) {
        if (phyff_learn_add(area.words, width, nc, LEARN_FEATURES[s], LEARN_LABELS[s]) !=
            PHYFF_LEARN_OK)
            refused++;
    }
    const uint32_t t1 = TIMER0->value;
    uint8_t cond = 0;
    const enum phyff_learn_status st =
        phyff_learn_refit(area.words, &view, image.bytes, LEARN_LAMBDA_SHIFT, scratch, &cond);
    const uint32_t t2 = TIMER0->value;
    put_u32("samples ", LEARN_SAMPLES);
    put_u32("refused ", refused);
    put_u32("add_ticks ", t0 - t1);
    put_u32("refit_ticks ", t1 - t2);
    put_u32("status ", (uint32_t)st);
    put_u32("cond_bits ", cond);
    puts0("image ");
    static const char hex[] = "0123456789abcdef";
    for (uint32_t i = 0; i < sizeof LEARN_IMAGE; ++i) {
        putc0(hex[image.bytes[i] >> 4]);
        putc0(hex[image.bytes[i] & 15u]);
    }
    puts0("\nEND\n");
    return 0;
}
