"""A port over MicroPython's machine objects: one setter per drive channel,
one reader per sense channel (port.h PORT-R2, PORT-R4).

``setters[j](value)`` applies a drive (``PWM.duty_u16``, ``DAC.write``...),
after the DAC code is shifted left by ``drive_shift`` (16 - dac_bits for a
16-bit duty cycle, 0 for a DAC that takes codes); ``readers[j]()`` returns a
reading that ``>> sense_shift`` turns into an ADC code (``ADC.read_u16`` is
16-bit scaled, so the shift is 16 - adc_bits). Bound methods are taken once,
so the per-sample loops call straight into C and allocate nothing.
"""

import time

import micropython

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class HwPort:
    measure_batch: "Any" = None  # per-sample path: the core drives, settles and reads (CORE-K4)

    def __init__(self, setters: "list[Any]", drive_shift: int, dac_bits: int,
                 readers: "list[Any]", sense_shift: int, adc_bits: int, unit_id: int) -> None:
        self.setters = setters
        self.readers = readers
        self.drive_shift = drive_shift
        self.sense_shift = sense_shift
        self.n_drive = len(setters)
        self.n_sense = len(readers)
        self.dac_bits = dac_bits
        self.adc_bits = adc_bits
        self.unit_id = unit_id

    @micropython.native
    def drive(self, dac: "Any", off: int, n: int) -> int:
        setters = self.setters
        shift = self.drive_shift
        for j in range(n):
            setters[j](dac[off + j] << shift)
        return 0

    @micropython.native
    def sense(self, adc: "Any", off: int, n: int) -> int:
        readers = self.readers
        shift = self.sense_shift
        for j in range(n):
            adc[off + j] = readers[j]() >> shift
        return 0

    def delay_us(self, us: int) -> None:
        if us >= 10000:
            time.sleep_ms(us // 1000)
            us %= 1000
        if us:
            time.sleep_us(us)


def unit_id_from(uid: bytes) -> int:
    """32-bit serial number from machine.unique_id(): the last four bytes, big-endian."""
    v = 0
    for b in uid[-4:]:
        v = (v << 8) | b
    return v
