/*
 * pins.h - which pins drive and which sense, per supported board.
 *
 * Selected by one build flag set in platformio.ini (PHYFF_BOARD_UNO,
 * PHYFF_BOARD_PICO, PHYFF_BOARD_NUCLEO_L476RG, PHYFF_BOARD_ESP32DEV) or, in
 * the Arduino IDE, from the selected board (phyff_config.h). The
 * wiring each map implies (RC filters after PWM pins, what the DAC pins
 * share) is in docs/boards.md; keep the two in step.
 *
 * For each board:
 *   PHYFF_BOARD_NAME        name reported in HELLO (<= 16 characters)
 *   PHYFF_DRIVE_PINS        pins driven, in channel order
 *   PHYFF_SENSE_PINS        analog inputs read, in channel order
 *   PHYFF_DAC_BITS          resolution of a drive value
 *   PHYFF_ADC_BITS          resolution of a reading
 *   PHYFF_DRIVE_WITH_DAC    1: drive pins are true DAC outputs, 0: PWM + RC filter
 */
#ifndef PHYFF_ARDUINO_PINS_H
#define PHYFF_ARDUINO_PINS_H

#include "phyff_config.h"

#if defined(PHYFF_BOARD_UNO)
/* ATmega328P: no DAC. PWM on the Timer1 (D9, D10) and Timer2 (D3, D11)
 * pins, raised to 31.4 kHz by the port so a 10 kOhm / 1 uF low-pass leaves
 * little ripple. D5/D6 (Timer0) are left alone: Timer0 runs micros(). */
#define PHYFF_BOARD_NAME "uno"
#define PHYFF_DRIVE_PINS {9, 10, 3, 11}
#define PHYFF_SENSE_PINS {A0, A1, A2, A3, A4, A5}
#define PHYFF_DAC_BITS 8
#define PHYFF_ADC_BITS 10
#define PHYFF_DRIVE_WITH_DAC 0

#elif defined(PHYFF_BOARD_PICO)
/* RP2040: no DAC. PWM on GP16..GP19, three ADC inputs GP26..GP28 (A0..A2). */
#define PHYFF_BOARD_NAME "pico"
#define PHYFF_DRIVE_PINS {16, 17, 18, 19}
#define PHYFF_SENSE_PINS {A0, A1, A2}
#define PHYFF_DAC_BITS 8
#define PHYFF_ADC_BITS 12
#define PHYFF_DRIVE_WITH_DAC 0

#elif defined(PHYFF_BOARD_NUCLEO_L476RG)
/* STM32L476RG: two 12-bit DAC channels, DAC1_OUT1 on PA4 (A2) and
 * DAC1_OUT2 on PA5 (D13, shared with the user LED LD2). Five 12-bit ADC
 * inputs: A0 (PA0), A1 (PA1), A3 (PB0), A4 (PC1), A5 (PC0). */
#define PHYFF_BOARD_NAME "nucleo_l476rg"
#define PHYFF_DRIVE_PINS {PA4, PA5}
#define PHYFF_SENSE_PINS {A0, A1, A3, A4, A5}
#define PHYFF_DAC_BITS 12
#define PHYFF_ADC_BITS 12
#define PHYFF_DRIVE_WITH_DAC 1

#elif defined(PHYFF_BOARD_ESP32DEV)
/* ESP32: two 8-bit DACs on GPIO25 and GPIO26; ADC1 inputs only (ADC2 is
 * unusable while Wi-Fi runs): GPIO36, 39, 32, 33, 34, 35. */
#define PHYFF_BOARD_NAME "esp32dev"
#define PHYFF_DRIVE_PINS {25, 26}
#define PHYFF_SENSE_PINS {36, 39, 32, 33, 34, 35}
#define PHYFF_DAC_BITS 8
#define PHYFF_ADC_BITS 12
#define PHYFF_DRIVE_WITH_DAC 1

#else
#error "phyff: unsupported board. Select Arduino Uno, Raspberry Pi Pico, Nucleo-L476RG or ESP32 Dev Module, or build with -DPHYFF_BOARD_<NAME> and add the board to pins.h"
#endif

#endif /* PHYFF_ARDUINO_PINS_H */
