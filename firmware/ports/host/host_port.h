/*
 * host_port.h - the port of the emulated board: the firmware core compiled
 * for the host (through cffi, into phyff._native), its link wired to memory
 * buffers and its medium to a Python callback.
 *
 * Contracts
 *   HOST-H1. Bytes the core writes to the link are appended to `out`; when it is
 *       full, further bytes are dropped and `out_dropped` counts them (the
 *       host drains `out` after every phyff_host_receive, so this only
 *       happens when a caller feeds many frames without reading).
 *   HOST-H2. The medium is reached through phyff_host_measure, implemented in
 *       Python (cffi extern "Python"), with the opaque `handle` given at
 *       init. With batch != 0 the core's measure_batch path is used, else
 *       the per-sample drive/sense path (one callback per sense read); both
 *       give identical replies (phyff_core.h CORE-K4).
 *   HOST-H3. micros is the host's monotonic clock (CLOCK_MONOTONIC), so STATS
 *       uptime follows real time as on any board. Measuring time is
 *       virtual: delay_us never sleeps; it and every sample measured
 *       (`us_per_sample`) add to `virtual_us`, the board time a real medium
 *       would have taken, which benchmarks read.
 *   HOST-H4. With persist != 0 the board has non-volatile model storage
 *       (port.h PORT-R6) through phyff_host_model_save / _restore, implemented
 *       in Python (the emulated board keeps the image in a file).
 */
#ifndef PHYFF_HOST_PORT_H
#define PHYFF_HOST_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "phyff_core.h"

/* Widest drive vector the per-sample path can stage. */
#ifndef PHYFF_CORE_MAX_DRIVE_STAGE
#define PHYFF_CORE_MAX_DRIVE_STAGE 1024u
#endif

struct phyff_host_board {
    struct phyff_core core;
    struct phyff_port port;
    void *handle;
    uint8_t *out;
    size_t out_cap;
    size_t out_len;
    size_t out_dropped;
    uint64_t virtual_us;
    uint32_t us_per_sample;
    uint16_t staged_n;
    uint16_t staged[PHYFF_CORE_MAX_DRIVE_STAGE];
};

/* Python side of HOST-H2: measure n_samples rows (dac: n_samples x n_drive codes)
 * averaging `oversample` reads, write adc (n_samples x n_sense codes).
 * Returns 0, or non-zero for a medium fault. */
PHYFF_NODISCARD
int phyff_host_measure(void *handle, const uint16_t *dac, uint16_t n_samples,
                       uint16_t n_drive, uint16_t *adc, uint16_t n_sense,
                       uint16_t oversample);

/* Python side of HOST-H4 (port.h PORT-R6): store image[0..n) (n = 0: erase) and
 * return 0, or non-zero when it could not be stored; restore the stored
 * image into buf and return its size (0: none). */
PHYFF_NODISCARD
int phyff_host_model_save(void *handle, const uint8_t *image, size_t n);
size_t phyff_host_model_restore(void *handle, uint8_t *buf, size_t cap);

PHYFF_NODISCARD
enum phyff_status phyff_host_init(struct phyff_host_board *b, void *handle, uint8_t *out,
                                  size_t out_cap, int batch, int persist,
                                  const struct phyff_board_desc *desc);
void phyff_host_receive(struct phyff_host_board *b, const uint8_t *data, size_t n);
void phyff_host_announce(struct phyff_host_board *b);

#endif /* PHYFF_HOST_PORT_H */
