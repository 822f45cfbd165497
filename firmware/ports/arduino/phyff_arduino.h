/*
 * phyff_arduino.h - the phyff board program as two calls for an Arduino
 * sketch (the Arduino library's API; PlatformIO builds use main.cpp).
 *
 *   #include <phyff_arduino.h>
 *   void setup() { phyff_board_begin(); }
 *   void loop() { phyff_board_poll(); }
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
 */
#ifndef PHYFF_ARDUINO_H
#define PHYFF_ARDUINO_H

void phyff_board_begin(void);
void phyff_board_poll(void);

#endif /* PHYFF_ARDUINO_H */
