/*
 * phyff_config.h - which board the Arduino port is built for, and the board
 * core's buffer limits for it.
 *
 * Rules
 *   C1. A -DPHYFF_BOARD_<NAME> build flag (PlatformIO's envs set one) wins.
 *   C2. Without one (the Arduino IDE, arduino-cli), the board is taken from
 *       the macro the Arduino core defines for the selected board:
 *       ARDUINO_AVR_UNO -> UNO, ARDUINO_RASPBERRY_PI_PICO -> PICO,
 *       ARDUINO_NUCLEO_L476RG -> NUCLEO_L476RG, ARDUINO_ESP32_DEV -> ESP32DEV.
 *       Any other board leaves none selected and pins.h stops the build.
 *   C3. The Uno's 2 KiB of RAM hold the core only with a 256-byte payload
 *       limit and at most 8 channels; a -D flag for either limit wins.
 *       Other boards keep the core's defaults (phyff_core.h).
 *   C4. This header only defines macros, so the C core includes it too (via
 *       port.h in the Arduino library) and sees the same limits.
 */
#ifndef PHYFF_ARDUINO_CONFIG_H
#define PHYFF_ARDUINO_CONFIG_H

#if !defined(PHYFF_BOARD_UNO) && !defined(PHYFF_BOARD_PICO) && \
    !defined(PHYFF_BOARD_NUCLEO_L476RG) && !defined(PHYFF_BOARD_ESP32DEV)
#if defined(ARDUINO_AVR_UNO)
#define PHYFF_BOARD_UNO 1
#elif defined(ARDUINO_RASPBERRY_PI_PICO)
#define PHYFF_BOARD_PICO 1
#elif defined(ARDUINO_NUCLEO_L476RG)
#define PHYFF_BOARD_NUCLEO_L476RG 1
#elif defined(ARDUINO_ESP32_DEV)
#define PHYFF_BOARD_ESP32DEV 1
#endif
#endif

#if defined(PHYFF_BOARD_UNO)
#ifndef PHYFF_CORE_MAX_PAYLOAD
#define PHYFF_CORE_MAX_PAYLOAD 256u
#endif
#ifndef PHYFF_CORE_MAX_CHANNELS
#define PHYFF_CORE_MAX_CHANNELS 8u
#endif
#endif

#endif /* PHYFF_ARDUINO_CONFIG_H */
