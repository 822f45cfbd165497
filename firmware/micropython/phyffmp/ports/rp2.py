"""Raspberry Pi Pico (RP2040/RP2350): PWM drives, the 12-bit ADC senses.

The RP2040 has no DAC: each drive is a PWM output (add an RC low-pass,
e.g. 10 kOhm + 100 nF, to get a voltage). At 125 MHz a 30 kHz PWM has a
4166-step wrap, so a 12-bit code (duty = code << 4 of 65536) is resolved.
ADC.read_u16 scales the 12-bit conversion to 16 bits; >> 4 gives it back.
"""

import machine

from phyffmp.ports.hw import HwPort, unit_id_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def make_port(cfg: "Any") -> HwPort:
    setters = []
    for pin in cfg.DRIVE_PINS:
        pwm = machine.PWM(machine.Pin(pin), freq=cfg.PWM_FREQ, duty_u16=0)
        setters.append(pwm.duty_u16)
    readers = []
    for pin in cfg.SENSE_PINS:
        readers.append(machine.ADC(machine.Pin(pin)).read_u16)
    return HwPort(setters, 16 - cfg.DAC_BITS, cfg.DAC_BITS, readers, 16 - cfg.ADC_BITS,
                  cfg.ADC_BITS, unit_id_from(machine.unique_id()))


def make_link(cfg: "Any") -> "Any":
    from phyffmp.link import StdioLink, UartLink

    if cfg.LINK == "uart":
        uart = machine.UART(cfg.UART_ID, baudrate=cfg.UART_BAUD, tx=machine.Pin(cfg.UART_TX),
                            rx=machine.Pin(cfg.UART_RX), timeout=0, rxbuf=cfg.UART_RXBUF)
        return UartLink(uart)
    return StdioLink()
