/*
 * port.h - everything the board core needs from the hardware.
 *
 * A port is a table of functions plus an opaque context pointer. The core
 * (core/phyff_core.c) never touches a register, a framework type or a
 * global: ports for the Arduino framework, QEMU's Cortex-M machine and the
 * host emulator each fill this table and feed received bytes to the core.
 *
 * Contracts
 *   PORT-R1. link_write sends n bytes to the host, in order, before returning
 *       (it may block; the core never calls it from an interrupt).
 *   PORT-R2. drive applies one drive vector of DAC codes (n entries, each
 *       < 2^dac_bits; entries past the active count are 0). sense reads n
 *       ADC codes (each < 2^adc_bits) once. Both return 0 on success, any
 *       other value to report a medium fault (the core answers
 *       PHYFF_ERR_MEDIUM).
 *   PORT-R3. measure_batch is optional (NULL when absent). When present the core
 *       hands it a whole QUERY at once: dac is n_samples x n_drive codes,
 *       sample-major; the port fills adc with n_samples x n_sense codes,
 *       each the round-half-up average of `oversample` reads, and must
 *       produce exactly what the drive/settle/sense sequence would. Ports
 *       whose medium sits across a link (emulator, QEMU medium server) use it
 *       to avoid a round trip per sample.
 *   PORT-R4. delay_us waits at least us microseconds (may be a no-op for media
 *       without dynamics, e.g. a simulated one). micros is a free-running
 *       microsecond counter that wraps at 2^32.
 *   PORT-R5. No function is called concurrently with another on the same port.
 *   PORT-R6. model_save and model_restore are optional (NULL when the board has
 *       no non-volatile storage for a model). model_save stores image[0..n)
 *       so that it survives a power cycle, replacing what was stored; n = 0
 *       erases it. It returns 0 only when the new image is stored whole: a
 *       port writes a new copy before dropping the old one (or an
 *       equivalent), so a power cut never leaves half an image that
 *       model_restore would return. model_restore copies the stored image
 *       into buf (capacity cap) at start-up and returns its size, 0 when
 *       there is none or it does not fit; the core checks it (rules M-V1-V6 of
 *       phyff/model.h) before using it and ignores an image that fails.
 */
#ifndef PHYFF_PORT_H
#define PHYFF_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct phyff_port {
    void *ctx;
    void (*link_write)(void *ctx, const uint8_t *data, size_t n);
    uint32_t (*micros)(void *ctx);
    void (*delay_us)(void *ctx, uint32_t us);
    int (*drive)(void *ctx, const uint16_t *dac, uint16_t n);
    int (*sense)(void *ctx, uint16_t *adc, uint16_t n);
    int (*measure_batch)(void *ctx, const uint16_t *dac, uint16_t n_samples, uint16_t n_drive,
                         uint16_t *adc, uint16_t n_sense, uint16_t oversample,
                         uint32_t settle_us);
    int (*model_save)(void *ctx, const uint8_t *image, size_t n);
    size_t (*model_restore)(void *ctx, uint8_t *buf, size_t cap);
};

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_PORT_H */
