"""pyboard (STM32F405): the two 12-bit DACs (X5, X6) drive, ADC pins sense.

The stm32 port has no machine.DAC; its DAC is pyb.DAC, written with codes
at ``bits=12``. machine.ADC.read_u16 is 16-bit scaled from 12 bits.
"""

import machine
import pyb

from phyffmp.ports.hw import HwPort, unit_id_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def make_port(cfg: "Any") -> HwPort:
    setters = []
    for dac_id in cfg.DRIVE_DACS:
        dac = pyb.DAC(dac_id, bits=cfg.DAC_BITS)
        dac.write(0)
        setters.append(dac.write)
    readers = []
    for pin in cfg.SENSE_PINS:
        readers.append(machine.ADC(machine.Pin(pin)).read_u16)
    return HwPort(setters, 0, cfg.DAC_BITS, readers, 16 - cfg.ADC_BITS, cfg.ADC_BITS,
                  unit_id_from(machine.unique_id()))


def make_link(cfg: "Any") -> "Any":
    from phyffmp.link import StdioLink, UartLink

    if cfg.LINK == "uart":
        uart = machine.UART(cfg.UART_ID, cfg.UART_BAUD, timeout=0, rxbuf=cfg.UART_RXBUF)
        return UartLink(uart)
    return StdioLink()
