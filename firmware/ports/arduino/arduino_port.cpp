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

#include "phyff_config.h" /* before the core: its buffer limits (C3) */

extern "C" {
#include "phyff_core.h"
}
#include "phyff_arduino.h"
#include "pins.h"

static const uint8_t drive_pins[] = PHYFF_DRIVE_PINS;
static const uint8_t sense_pins[] = PHYFF_SENSE_PINS;
#define N_DRIVE ((uint16_t)(sizeof drive_pins / sizeof drive_pins[0]))
#define N_SENSE ((uint16_t)(sizeof sense_pins / sizeof sense_pins[0]))
#define MAX_OVERSAMPLE 64u
#define RX_CHUNK 32u

static struct phyff_core core; /* static: no heap, sized at compile time */
static struct phyff_port port;

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

static void board_setup() {
    Serial.begin(115200);
    setup_converters();

    port.ctx = NULL;
    port.link_write = link_write;
    port.micros = port_micros;
    port.delay_us = port_delay_us;
    port.drive = port_drive;
    port.sense = port_sense;
    port.measure_batch = NULL;
    /* No model storage yet (port.h R6): a model loaded on the Pico, Nucleo
     * or ESP32 lives in RAM until power-off (phyff_config.h C5). */
    port.model_save = NULL;
    port.model_restore = NULL;

    struct phyff_board_desc desc;
    desc.board = PHYFF_BOARD_NAME;
    desc.medium = "unknown"; /* what is wired is the user's business */
    desc.unit_id = 0;
    desc.features = PHYFF_FEAT_SETTLE | PHYFF_FEAT_OVERSAMPLE | PHYFF_FEAT_CHANNEL_SELECT;
    desc.n_drive = N_DRIVE;
    desc.n_sense = N_SENSE;
    desc.dac_bits = PHYFF_DAC_BITS;
    desc.adc_bits = PHYFF_ADC_BITS;
    desc.max_oversample = MAX_OVERSAMPLE;
    if (phyff_core_init(&core, &port, &desc) != PHYFF_OK) {
        for (;;) {
            delay(1000); /* a build error, really: pins.h declares too many channels */
        }
    }
}

void phyff_board_begin() {
    board_setup();
    phyff_core_announce(&core);
}

#if PHYFF_CORE_COMPILED_MODEL
void phyff_board_begin_with_model(const uint8_t *image, uint32_t size) {
    board_setup();
    /* a refused image is not served; MODEL_INFO says why (phyff_core.h K9) */
    (void)phyff_core_use_compiled_model(&core, image, size);
    phyff_core_announce(&core);
}
#endif

void phyff_board_poll() {
    uint8_t chunk[RX_CHUNK];
    size_t n = 0;
    while (n < sizeof chunk && Serial.available() > 0) {
        const int c = Serial.read();
        if (c < 0) break;
        chunk[n++] = (uint8_t)c;
    }
    if (n > 0) phyff_core_receive(&core, chunk, n);
}
