// phyff_board: the complete phyff board program.
//
// Select your board (Arduino Uno, Raspberry Pi Pico, Nucleo-L476RG or ESP32
// Dev Module), upload, and wire the medium between the drive pins and the
// analog inputs listed in the library's src/pins.h. Then, on the host:
//   phyff ports                       (finds the board)
//   phyff info --board /dev/ttyACM0   (or COM3)
// The serial port belongs to phyff: do not print to Serial in this sketch.

#include <phyff_arduino.h>

void setup() {
  phyff_board_begin();
}

void loop() {
  phyff_board_poll();
}
