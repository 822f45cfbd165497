/*
 * arduino_port.cpp - the board core on Arduino-framework boards (Uno, Pico,
 * Nucleo-L476RG, ESP32 DevKit): Serial at 115200 baud is the host link,
 * DAC or PWM pins drive the medium, analog inputs sense it.
 *
 * Everything board-specific is in pins.h; this file uses only the Arduino
 * API plus, on the Uno, two timer registers to move PWM out of the audio
 * band. It sticks to the plainest Arduino calls every core provides. The
 * sketch (main.cpp for PlatformIO, the library's example for the Arduino
 * IDE) calls phyff_board_begin() from setup() and phyff_board_poll() from
 * loop(); see phyff_arduino.h.
 *
 * The per-sample path of the core is used (no measure_batch): drive applies
 * a vector, the core waits settle_us through delay_us, then reads.
 */
#include <Arduino.h>
#include <string.h>

#include "phyff_config.h" /* before the core: its buffer limits (CFG-C3) */

extern "C" {
#include "phyff_core.h"
}
#include "phyff_arduino.h"
#include "pins.h"

/* Identity in HELLO when the sketch names none (phyff_arduino.h ARD-A5): build
 * flags, e.g. -DPHYFF_UNIT_ID=2 -DPHYFF_MEDIUM_NAME='"cavity-a"'. */
#ifndef PHYFF_UNIT_ID
#define PHYFF_UNIT_ID 0
#endif
#ifndef PHYFF_MEDIUM_NAME
#define PHYFF_MEDIUM_NAME "unknown"
#endif
#define NAME_MAX_CHARS 16u

static const uint8_t drive_pins[] = PHYFF_DRIVE_PINS;
static const uint8_t sense_pins[] = PHYFF_SENSE_PINS;
#define N_DRIVE ((uint16_t)(sizeof drive_pins / sizeof drive_pins[0]))
#define N_SENSE ((uint16_t)(sizeof sense_pins / sizeof sense_pins[0]))
#define MAX_OVERSAMPLE 64u
#define RX_CHUNK 32u

static struct phyff_core core; /* static: no heap, sized at compile time */
static struct phyff_port port;
static phyff_drive_fn own_drive; /* the sketch's converters (ARD-A6), or NULL */
static phyff_sense_fn own_sense;

static void link_write(void *ctx, const uint8_t *data, size_t n) {
    (void)ctx;
    Serial.write(data, n);
}

static uint32_t port_micros(void *ctx) {
    (void)ctx;
    return (uint32_t)micros();
}

/* delayMicroseconds() takes an unsigned int (16 bits on AVR) and is only
 * accurate for short waits: long settle times go through delay(). */
static void port_delay_us(void *ctx, uint32_t us) {
    (void)ctx;
    if (us >= 1000u) {
        delay(us / 1000u);
        us %= 1000u;
    }
    if (us > 0) delayMicroseconds((unsigned int)us);
}

static int port_drive(void *ctx, const uint16_t *dac, uint16_t n) {
    (void)ctx;
    for (uint16_t i = 0; i < n && i < N_DRIVE; ++i) {
#if PHYFF_DRIVE_WITH_DAC && defined(ARDUINO_ARCH_ESP32)
        dacWrite(drive_pins[i], (uint8_t)dac[i]);
#else
        analogWrite(drive_pins[i], (int)dac[i]);
#endif
    }
    return 0;
}

static int port_sense(void *ctx, uint16_t *adc, uint16_t n) {
    (void)ctx;
    for (uint16_t j = 0; j < n && j < N_SENSE; ++j) {
        adc[j] = (uint16_t)analogRead(sense_pins[j]);
    }
    return 0;
}

static int own_port_drive(void *ctx, const uint16_t *dac, uint16_t n) {
    (void)ctx;
    return own_drive(dac, n);
}

static int own_port_sense(void *ctx, uint16_t *adc, uint16_t n) {
    (void)ctx;
    return own_sense(adc, n);
}

static void setup_converters(void) {
#if defined(PHYFF_BOARD_UNO)
    /* Timer1 (D9, D10) and Timer2 (D3, D11): prescaler 1, phase-correct
     * 8-bit PWM at 16 MHz / 510 = 31.4 kHz instead of 490 Hz. */
    TCCR1B = (uint8_t)((TCCR1B & 0xF8u) | 0x01u);
    TCCR2B = (uint8_t)((TCCR2B & 0xF8u) | 0x01u);
#endif
#if !defined(ARDUINO_ARCH_AVR)
    analogReadResolution(PHYFF_ADC_BITS);
#if !defined(ARDUINO_ARCH_ESP32)
    analogWriteResolution(PHYFF_DAC_BITS);
#endif
#endif
    for (uint16_t i = 0; i < N_DRIVE; ++i) {
#if !(PHYFF_DRIVE_WITH_DAC && defined(ARDUINO_ARCH_ESP32))
        pinMode(drive_pins[i], OUTPUT);
#endif
    }
    const uint16_t zeros[N_DRIVE] = {0};
    (void)port_drive(NULL, zeros, N_DRIVE);
}

static bool name_fits(const char *name) {
    return name != NULL && name[0] != '\0' && strlen(name) <= NAME_MAX_CHARS;
}

/* Everything phyff_board_begin_with() does but the RESET event, so that a
 * compiled-in model can be handed to the core before it (CORE-K9). */
static int board_setup(const struct phyff_board_config *config) {
    static const struct phyff_board_config defaults = {};
    const struct phyff_board_config *c = config != NULL ? config : &defaults;
    const bool own = c->drive != NULL || c->sense != NULL;
    struct phyff_board_desc desc;
    desc.board = own ? (c->board != NULL ? c->board : "custom") : PHYFF_BOARD_NAME;
    desc.medium = c->medium != NULL ? c->medium : PHYFF_MEDIUM_NAME;
    desc.unit_id = c->unit_id != 0 ? c->unit_id : (uint32_t)PHYFF_UNIT_ID;
    desc.features = PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE | PHYFF_FEAT_CHANNEL_SELECT;
    desc.n_drive = own ? c->n_drive : N_DRIVE;
    desc.n_sense = own ? c->n_sense : N_SENSE;
    desc.dac_bits = own ? c->dac_bits : (uint8_t)PHYFF_DAC_BITS;
    desc.adc_bits = own ? c->adc_bits : (uint8_t)PHYFF_ADC_BITS;
    desc.max_oversample = MAX_OVERSAMPLE;
    if (!name_fits(desc.board) || !name_fits(desc.medium) ||
        (own && (c->drive == NULL || c->sense == NULL))) {
        return PHYFF_ERR_BAD_CONFIG; /* ARD-A7 */
    }

    Serial.begin(115200);
    own_drive = c->drive;
    own_sense = c->sense;
    if (!own) setup_converters();

    port.ctx = NULL;
    port.link_write = link_write;
    port.micros = port_micros;
    port.delay_us = port_delay_us;
    port.drive = own ? own_port_drive : port_drive;
    port.sense = own ? own_port_sense : port_sense;
    port.measure_batch = NULL;
    /* No model storage yet (port.h PORT-R6): a model loaded on the Pico, Nucleo
     * or ESP32 lives in RAM until power-off (phyff_config.h CFG-C5). */
    port.model_save = NULL;
    port.model_restore = NULL;

    const int status = phyff_core_init(&core, &port, &desc);
    if (status != PHYFF_OK) {
        port.link_write = NULL; /* ARD-A7: silent; phyff_board_poll() does nothing */
        return status;
    }
    return PHYFF_OK;
}

void phyff_board_begin() {
    (void)phyff_board_begin_with(NULL);
}

int phyff_board_begin_with(const struct phyff_board_config *config) {
    const int status = board_setup(config);
    if (status != PHYFF_OK) return status;
    phyff_core_announce(&core);
    return PHYFF_OK;
}

#if PHYFF_CORE_COMPILED_MODEL
int phyff_board_begin_with_model(const uint8_t *image, uint32_t size) {
    const int status = board_setup(NULL);
    if (status != PHYFF_OK) return status;
    /* ARD-A8: a refused image is not served, MODEL_INFO says why (CORE-K9),
     * and the board answers as one without a model */
    const int served = phyff_core_use_compiled_model(&core, image, size);
    phyff_core_announce(&core);
    return served;
}
#endif

void phyff_board_poll() {
    if (port.link_write == NULL) return; /* not begun, or refused (ARD-A7) */
    uint8_t chunk[RX_CHUNK];
    size_t n = 0;
    while (n < sizeof chunk && Serial.available() > 0) {
        const int c = Serial.read();
        if (c < 0) break;
        chunk[n++] = (uint8_t)c;
    }
    if (n > 0) phyff_core_receive(&core, chunk, n);
}
