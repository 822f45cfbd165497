/*
 * main.cpp - the sketch of the PlatformIO builds: the whole board program is
 * the library's two calls (phyff_arduino.h). The Arduino library's example
 * sketch (firmware/arduino/examples/phyff_board) is the same two lines.
 */
#include <Arduino.h>

#include "phyff_arduino.h"

void setup() { phyff_board_begin(); }

void loop() { phyff_board_poll(); }
