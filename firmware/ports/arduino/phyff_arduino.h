/*
 * phyff_arduino.h - the phyff board program as two calls for an Arduino
 * sketch (the Arduino library's API; PlatformIO builds use main.cpp).
 *
 *   #include <phyff_arduino.h>
 *   void setup() { phyff_board_begin(); }
 *   void loop() { phyff_board_poll(); }
 *
 * or, to name the board or drive your own converters (docs/custom-hardware.md):
 *
 *   void setup() {
 *     struct phyff_board_config config = {};
 *     config.medium = "cavity-a";   // reported in HELLO
 *     config.unit_id = 2;           // tells two identical boards apart
 *     phyff_board_begin_with(&config);
 *   }
 *
 * Contract
 *   ARD-A1. phyff_board_begin() is called once, first: it opens Serial at
 *       115200 baud, sets up the drive pins (all at 0) and announces the
 *       board to the host ("board reset" event).
 *   ARD-A2. phyff_board_poll() is called as often as possible (every loop()):
 *       it feeds what Serial received to the board core, which answers
 *       complete requests before returning. A QUERY holds it for the whole
 *       batch (drive, settle, sense per sample), so keep other work in
 *       loop() short and never block Serial.
 *   ARD-A3. The board is chosen at compile time from the Arduino board being
 *       built for (phyff_config.h); pins.h lists the pins per board. Other
 *       boards stop the build with an #error naming the supported ones.
 *   ARD-A4. Nothing is allocated on the heap; all buffers are static and sized
 *       by the board's limits (phyff_config.h).
 *   ARD-A5. Identity: the medium name and unit id in HELLO come from the config
 *       given to phyff_board_begin_with() (a sketch may read them from
 *       EEPROM first), else from the build flags PHYFF_MEDIUM_NAME (a string
 *       of at most 16 characters) and PHYFF_UNIT_ID (0..2^32 - 1), else
 *       "unknown" and 0. A model remembers the board's name, medium and unit
 *       id, so two boards with distinct unit ids are never mistaken for each
 *       other.
 *   ARD-A6. Converters: with config.drive and config.sense set, the board drives
 *       and senses through them (port.h PORT-R2: codes below 2^dac_bits and
 *       2^adc_bits, 0 on success, anything else a medium fault) and
 *       config.n_drive, n_sense, dac_bits and adc_bits say what they hold
 *       (channels at most the core's PHYFF_CORE_MAX_CHANNELS, bits 1..15);
 *       the pins of pins.h are then left alone, and config.board (default
 *       "custom") names the board. Without them the pins of pins.h are used.
 *   ARD-A7. phyff_board_begin_with() refuses a config it cannot serve (channels
 *       or bits out of range, a drive without a sense, names too long): it
 *       returns nonzero and the board stays silent, so check it in setup().
 *   ARD-A8. phyff_board_begin_with_model(image, size) instead of
 *       phyff_board_begin(): the board boots with a model compiled into the
 *       firmware (a sketch written by `phyff export RUN --arduino DIR`; the
 *       image is a const array, in PROGMEM on AVR). Its identity is the
 *       build's (ARD-A5: PHYFF_MEDIUM_NAME, PHYFF_UNIT_ID), so build it with
 *       the flags of the board the model was trained on. The core checks the
 *       image against this board (identity, channel layout) and serves it
 *       read-only; a refused one is not served, MODEL_INFO says why, and the
 *       call returns the refusal (PHYFF_ERR_BAD_MODEL or WRONG_BOARD; 0 when
 *       served). Boards with PHYFF_CORE_COMPILED_MODEL (phyff_config.h
 *       CFG-C6) only.
 */
#ifndef PHYFF_ARDUINO_H
#define PHYFF_ARDUINO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Drives one vector of DAC codes / reads one vector of ADC codes (ARD-A6). */
typedef int (*phyff_drive_fn)(const uint16_t *dac, uint16_t n);
typedef int (*phyff_sense_fn)(uint16_t *adc, uint16_t n);

/* What phyff_board_begin_with() may change; zero (or NULL) leaves a field at
 * its default (ARD-A5, ARD-A6), so `struct phyff_board_config config = {};` first. */
struct phyff_board_config {
    const char *medium;   /* name of what is wired, in HELLO */
    uint32_t unit_id;     /* 0: PHYFF_UNIT_ID, itself 0 by default */
    const char *board;    /* board name in HELLO (own converters only) */
    phyff_drive_fn drive; /* own converters: both functions, or neither */
    phyff_sense_fn sense;
    uint16_t n_drive, n_sense;
    uint8_t dac_bits, adc_bits;
};

void phyff_board_begin(void);
int phyff_board_begin_with(const struct phyff_board_config *config);
int phyff_board_begin_with_model(const uint8_t *image, uint32_t size);
void phyff_board_poll(void);

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_ARDUINO_H */
