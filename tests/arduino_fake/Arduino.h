/* A stand-in for the Arduino core on the host: just what the custom-hardware
 * example sketch uses, so its I2C code can run against simulated chips
 * (tests/test_custom_hardware_example.py). */
#ifndef FAKE_ARDUINO_H
#define FAKE_ARDUINO_H
#include <stdint.h>
#include <string.h>

#define OUTPUT 1
#define LED_BUILTIN 13
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
int digitalRead(uint8_t pin);
void delay(unsigned long ms);
void delayMicroseconds(unsigned int us);
#endif
