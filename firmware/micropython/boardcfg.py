"""Pin maps and limits per board: edit the class of your board to match the wiring.

``select()`` picks the class for the running port (sys.platform) and the
module that builds its port (drive/sense objects) and link. The board name
in HELLO is NAME; the DAC/ADC resolutions are the converters' real ones.

Common fields:
  NAME, MEDIUM       HELLO's board and medium names (<= 16 characters)
  FEATURES           PHYFF_FEAT_* bits the board honours (SETTLE, OVERSAMPLE,
                     CHANNEL_SELECT; saturation flags are always on)
  DAC_BITS, ADC_BITS converter resolutions
  MAX_OVERSAMPLE     largest CONFIGURE oversample
  MAX_PAYLOAD        largest frame payload (RAM: about 5 x this, in bytes)
  MAX_CHANNELS       most sense channels (PHYFF_CORE_MAX_CHANNELS)
  LINK               "stdio" (USB serial, the REPL's port) or "uart"
  RX_CHUNK           bytes taken from the link per read
  BOOT_WINDOW_MS     main.py waits this long at start-up; Ctrl-C in it keeps
                     the REPL (mpremote needs it to copy files again)
  MODEL_BYTES        on-device model memory (caps.model_capacity); the core keeps
                     two slots of it (RAM: 2 x this); 0 leaves inference out
  MAX_CLASSES        most classes a model may have (PHYFF_CORE_MAX_CLASSES)
  INFER_WORK         int16 scratch values per INFER sample (PHYFF_CORE_INFER_WORK;
                     RAM: about 6 x this bytes); bounds a model's widest block
  MODEL_FILE         where a committed model is kept across resets (a file on
                     the board's filesystem); None: not kept (no MODEL_PERSIST)
"""

import sys

from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FEAT_SETTLE = const(0x0002)
_FEAT_OVERSAMPLE = const(0x0004)
_FEAT_CHANNEL_SELECT = const(0x0008)
_FEAT_EMULATED = const(0x0100)


class Common:
    MEDIUM = "unknown"
    FEATURES = _FEAT_SETTLE | _FEAT_OVERSAMPLE | _FEAT_CHANNEL_SELECT
    MAX_OVERSAMPLE = 64
    MAX_PAYLOAD = 1024
    MAX_CHANNELS = 64
    LINK = "stdio"
    RX_CHUNK = 256
    BOOT_WINDOW_MS = 2000
    UART_RXBUF = 2048
    MODEL_BYTES = 8192
    MAX_CLASSES = 32
    INFER_WORK = 512
    MODEL_FILE: "str | None" = "/phyff_model.bin"


class Pico(Common):
    """Raspberry Pi Pico / Pico W / Pico 2: PWM drives (RC-filtered), ADC0-2 senses."""

    NAME = "mpy-pico"
    MODEL_BYTES = 16384  # 2 x 16 KiB of the RP2040's ~190 KiB MicroPython heap
    DRIVE_PINS = (16, 17, 18, 19)  # GP16-GP19, PWM slices 0 and 1
    PWM_FREQ = 30_000
    DAC_BITS = 12
    SENSE_PINS = (26, 27, 28)  # GP26-GP28 = ADC0-ADC2
    ADC_BITS = 12
    UART_ID = 0
    UART_BAUD = 921_600
    UART_TX = 0  # GP0
    UART_RX = 1  # GP1


class Esp32(Common):
    """ESP32 (original, with DACs): DAC1/DAC2 drive, ADC1 channels sense."""

    NAME = "mpy-esp32"
    MODEL_BYTES = 8192  # 2 x 8 KiB of ~110 KiB heap (no PSRAM); more with SPIRAM builds
    DRIVE = "dac"  # "dac": GPIO25/26 at 8 bits; "pwm": any output pins at DAC_BITS
    DRIVE_PINS = (25, 26)
    PWM_FREQ = 19_500  # for DRIVE = "pwm": 12 bits of LEDC resolution
    DAC_BITS = 8
    SENSE_PINS = (32, 33, 34, 35, 36, 39)  # ADC1: usable with Wi-Fi on
    ATTEN = 3  # ADC.ATTN_11DB: about 0-3.1 V
    ADC_BITS = 12
    UART_ID = 1
    UART_BAUD = 921_600
    UART_TX = 17
    UART_RX = 16


class Pyboard(Common):
    """pyboard v1.x (STM32F405): DAC1/DAC2 (X5, X6) drive, X1-X4 sense."""

    NAME = "mpy-pyboard"
    MODEL_BYTES = 8192  # 2 x 8 KiB of the F405's ~100 KiB heap
    MODEL_FILE = "/flash/phyff_model.bin"  # the root is a virtual folder of mounts
    DRIVE_DACS = (1, 2)  # pyb.DAC ids: 1 = X5, 2 = X6
    DAC_BITS = 12
    SENSE_PINS = ("X1", "X2", "X3", "X4")
    ADC_BITS = 12
    UART_ID = 4  # X1/X2 are then not free for sensing: move SENSE_PINS
    UART_BAUD = 921_600


class Unix(Common):
    """The MicroPython unix port on a host: the medium is the medium server's
    (firmware/micropython/host), sized like the emulated board."""

    NAME = "mpy-unix"
    MEDIUM = ""  # from the medium server's DESCRIBE
    FEATURES = Common.FEATURES | _FEAT_EMULATED
    # Roomy like the emulated board; phyff.emulator.micropython passes the values the
    # C core was compiled with (hostmain.py --max-payload/--max-channels).
    MAX_PAYLOAD = 16384
    MAX_CHANNELS = 1024
    RX_CHUNK = 4096
    BOOT_WINDOW_MS = 0
    # Like the emulated board (hostmain.py --model-bytes/--max-classes/--infer-work);
    # the model file is a launcher's choice (hostmain.py --model-file, a temp dir).
    MODEL_BYTES = 65535
    MAX_CLASSES = 256
    INFER_WORK = 16384
    MODEL_FILE: "str | None" = None


def select() -> "tuple[Any, Any]":
    """(config class, ports module) for the running MicroPython port."""
    if sys.platform == "rp2":
        from phyffmp.ports import rp2

        return Pico, rp2
    if sys.platform == "esp32":
        from phyffmp.ports import esp32

        return Esp32, esp32
    if sys.platform == "pyboard":
        from phyffmp.ports import stm32

        return Pyboard, stm32
    raise OSError("no phyff board config for platform " + sys.platform)
