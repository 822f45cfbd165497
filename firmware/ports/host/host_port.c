/* host_port.c - see host_port.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include "host_port.h"

#include <string.h>
#include <time.h>

static void host_write(void *ctx, const uint8_t *data, size_t n) {
    struct phyff_host_board *b = ctx;
    size_t room = b->out_cap - b->out_len;
    size_t take = n < room ? n : room;
    memcpy(b->out + b->out_len, data, take);
    b->out_len += take;
    b->out_dropped += n - take;
}

/* HOST-H3: the board's clock is the host's monotonic clock, so uptime advances
 * between frames as on a real board. */
static uint32_t host_micros(void *ctx) {
    (void)ctx;
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

static void host_delay(void *ctx, uint32_t us) {
    struct phyff_host_board *b = ctx;
    b->virtual_us += us;
}

static int host_drive(void *ctx, const uint16_t *dac, uint16_t n) {
    struct phyff_host_board *b = ctx;
    if (n > PHYFF_CORE_MAX_DRIVE_STAGE) return -1;
    memcpy(b->staged, dac, sizeof(uint16_t) * n);
    b->staged_n = n;
    return 0;
}

static int host_sense(void *ctx, uint16_t *adc, uint16_t n) {
    struct phyff_host_board *b = ctx;
    b->virtual_us += b->us_per_sample;
    return phyff_host_measure(b->handle, b->staged, 1, b->staged_n, adc, n, 1);
}

static int host_batch(void *ctx, const uint16_t *dac, uint16_t n_samples, uint16_t n_drive,
                      uint16_t *adc, uint16_t n_sense, uint16_t oversample,
                      uint32_t settle_us) {
    struct phyff_host_board *b = ctx;
    b->virtual_us += (uint64_t)n_samples * (settle_us + (uint64_t)b->us_per_sample * oversample);
    return phyff_host_measure(b->handle, dac, n_samples, n_drive, adc, n_sense, oversample);
}

static int host_model_save(void *ctx, const uint8_t *image, size_t n) {
    struct phyff_host_board *b = ctx;
    return phyff_host_model_save(b->handle, image, n);
}

static size_t host_model_restore(void *ctx, uint8_t *buf, size_t cap) {
    struct phyff_host_board *b = ctx;
    return phyff_host_model_restore(b->handle, buf, cap);
}

enum phyff_status phyff_host_init(struct phyff_host_board *b, void *handle, uint8_t *out,
                                  size_t out_cap, int batch, int persist,
                                  const struct phyff_board_desc *desc) {
    memset(b, 0, sizeof *b);
    b->handle = handle;
    b->out = out;
    b->out_cap = out_cap;
    b->us_per_sample = 10;
    b->port.ctx = b;
    b->port.link_write = host_write;
    b->port.micros = host_micros;
    b->port.delay_us = host_delay;
    b->port.drive = host_drive;
    b->port.sense = host_sense;
    b->port.measure_batch = batch ? host_batch : NULL;
    b->port.model_save = persist ? host_model_save : NULL;
    b->port.model_restore = persist ? host_model_restore : NULL;
    if (desc->n_drive > PHYFF_CORE_MAX_DRIVE_STAGE) return PHYFF_ERR_BAD_CONFIG;
    return phyff_core_init(&b->core, &b->port, desc);
}

void phyff_host_receive(struct phyff_host_board *b, const uint8_t *data, size_t n) {
    phyff_core_receive(&b->core, data, n);
}

void phyff_host_announce(struct phyff_host_board *b) {
    phyff_core_announce(&b->core);
}
