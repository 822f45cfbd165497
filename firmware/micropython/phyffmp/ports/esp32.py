"""ESP32: the two 8-bit DACs (GPIO25, GPIO26) or LEDC PWM drive; ADC1 senses.

With ``DRIVE = "dac"`` the drives are machine.DAC (8 bits, codes written
as they are); with ``DRIVE = "pwm"`` they are PWM outputs like on the Pico.
ADC1 pins (32-39) keep working with Wi-Fi on; ``ATTEN`` 3 is 11 dB (about
0-3.1 V). read_u16 is 16-bit scaled; the converter has 12 bits.
"""

import machine

from phyffmp.ports.hw import HwPort, unit_id_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def make_port(cfg: "Any") -> HwPort:
    setters: list[Any] = []
    if cfg.DRIVE == "dac":
        for pin in cfg.DRIVE_PINS:
            dac = machine.DAC(machine.Pin(pin))
            dac.write(0)
            setters.append(dac.write)
        shift = 0
    else:
        for pin in cfg.DRIVE_PINS:
            pwm = machine.PWM(machine.Pin(pin), freq=cfg.PWM_FREQ, duty_u16=0)
            setters.append(pwm.duty_u16)
        shift = 16 - cfg.DAC_BITS
    readers = []
    for pin in cfg.SENSE_PINS:
        readers.append(machine.ADC(machine.Pin(pin), atten=cfg.ATTEN).read_u16)
    return HwPort(setters, shift, cfg.DAC_BITS, readers, 16 - cfg.ADC_BITS, cfg.ADC_BITS,
                  unit_id_from(machine.unique_id()))


def make_link(cfg: "Any") -> "Any":
    from phyffmp.link import StdioLink, UartLink

    if cfg.LINK == "uart":
        uart = machine.UART(cfg.UART_ID, baudrate=cfg.UART_BAUD, tx=cfg.UART_TX,
                            rx=cfg.UART_RX, timeout=0, rxbuf=cfg.UART_RXBUF)
        return UartLink(uart)
    return StdioLink()
