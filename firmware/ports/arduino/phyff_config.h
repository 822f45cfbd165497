/*
 * phyff_config.h - which board the Arduino port is built for, and the board
 * core's buffer limits for it.
 *
 * Rules
 *   CFG-C1. A -DPHYFF_BOARD_<NAME> build flag (PlatformIO's envs set one) wins.
 *   CFG-C2. Without one (the Arduino IDE, arduino-cli), the board is taken from
 *       the macro the Arduino core defines for the selected board:
 *       ARDUINO_AVR_UNO -> UNO, ARDUINO_RASPBERRY_PI_PICO -> PICO,
 *       ARDUINO_NUCLEO_L476RG -> NUCLEO_L476RG, ARDUINO_ESP32_DEV -> ESP32DEV.
 *       Any other board leaves none selected and pins.h stops the build.
 *   CFG-C3. The Uno's 2 KiB of RAM hold the core only with a 192-byte payload
 *       limit and at most 8 channels; a -D flag for either limit wins.
 *       Other boards keep the core's defaults (phyff_core.h).
 *   CFG-C5. On-device inference: the Pico, the Nucleo-L476RG and the ESP32
 *       DevKit get two 16 KiB model slots in RAM (PHYFF_CORE_MODEL_BYTES,
 *       as platformio.ini's infer_flags); the Uno none (its 2 KiB of RAM
 *       cannot hold a slot, its EEPROM only 1 KiB). The model is not kept
 *       in flash yet: no port sets model_save/model_restore, so no board
 *       here has FEAT_MODEL_PERSIST. A -D flag wins.
 *   CFG-C4. This header only defines macros, so the C core includes it too (via
 *       port.h in the Arduino library) and sees the same limits.
 *   CFG-C6. A model compiled into the firmware (phyff_arduino.h ARD-A8): the
 *       Uno's core is built with PHYFF_CORE_COMPILED_MODEL, no model memory,
 *       and inference limits that fit its 2 KiB of RAM: 8 classes and 64
 *       int16 scratch values per sample (the DAC row of its 4 drive channels
 *       included, so HELLO's caps.infer_work is 60). That scratch shares the
 *       transmit buffer (phyff_core.h CORE-K10): 8 int64 sums, 8 int32 scores
 *       and 64 values take 224 bytes where a 192-byte payload's frame takes
 *       204, so the limits cost 20 bytes of RAM beyond the frame buffers and
 *       admit a vowels7 network on the Uno's 4 drive pins (7 classes, blocks
 *       of 3 device rows: 54 values; docs/boards.md has the RAM budget).
 *       Without a compiled-in image the inference commands stay unknown, as
 *       before. These values are phyff_config.h's own, for PlatformIO's uno
 *       env as for the Arduino IDE; a -D flag wins.
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
#define PHYFF_CORE_MAX_PAYLOAD 192u
#endif
#ifndef PHYFF_CORE_MAX_CHANNELS
#define PHYFF_CORE_MAX_CHANNELS 8u
#endif
#ifndef PHYFF_CORE_COMPILED_MODEL
#define PHYFF_CORE_COMPILED_MODEL 1
#endif
#ifndef PHYFF_CORE_MAX_CLASSES
#define PHYFF_CORE_MAX_CLASSES 8u
#endif
#ifndef PHYFF_CORE_INFER_WORK
#define PHYFF_CORE_INFER_WORK 64u
#endif
#endif

#if defined(PHYFF_BOARD_PICO) || defined(PHYFF_BOARD_NUCLEO_L476RG) || \
    defined(PHYFF_BOARD_ESP32DEV)
#ifndef PHYFF_CORE_MODEL_BYTES
#define PHYFF_CORE_MODEL_BYTES 16384u
#endif
#endif

#endif /* PHYFF_ARDUINO_CONFIG_H */
