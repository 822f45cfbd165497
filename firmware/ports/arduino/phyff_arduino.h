/*
 * phyff_arduino.h - the phyff board program as two calls for an Arduino
 * sketch (the Arduino library's API; PlatformIO builds use main.cpp).
 *
 *   #include <phyff_arduino.h>
 *   void setup() { phyff_board_begin(); }
 *   void loop() { phyff_board_poll(); }
 *
 * Contract
 *   A1. phyff_board_begin() is called once, first: it opens Serial at
 *       115200 baud, sets up the drive pins (all at 0) and announces the
 *       board to the host ("board reset" event).
 *   A2. phyff_board_poll() is called as often as possible (every loop()):
 *       it feeds what Serial received to the board core, which answers
 *       complete requests before returning. A QUERY holds it for the whole
 *       batch (drive, settle, sense per sample), so keep other work in
 *       loop() short and never block Serial.
 *   A3. The board is chosen at compile time from the Arduino board being
 *       built for (phyff_config.h); pins.h lists the pins per board. Other
 *       boards stop the build with an #error naming the supported ones.
 *   A4. Nothing is allocated on the heap; all buffers are static and sized
 *       by the board's limits (phyff_config.h).
 *   A5. phyff_board_begin_with_model(image, size) instead of
 *       phyff_board_begin(): the board boots with a model compiled into the
 *       firmware (a sketch written by `phyff export RUN --arduino DIR`; the
 *       image is a const array, in PROGMEM on AVR). The core checks it
 *       against this board (identity, channel layout) and serves it
 *       read-only; a refused one is not served and MODEL_INFO says why.
 *       Boards with PHYFF_CORE_COMPILED_MODEL (phyff_config.h C6) only.
 */
#ifndef PHYFF_ARDUINO_H
#define PHYFF_ARDUINO_H

#include <stdint.h>

void phyff_board_begin(void);
void phyff_board_begin_with_model(const uint8_t *image, uint32_t size);
void phyff_board_poll(void);

#endif /* PHYFF_ARDUINO_H */
