"""The unix port's drive/sense: machine PWM/ADC objects over the medium link.

Per-sample path (``batch=False``): the core drives, settles and reads through
the host ``machine`` module, one MEASURE round trip per sense read, like the
C host port's drive/sense. Batch path (the default): the whole QUERY is one
MEASURE (port.h PORT-R3), exactly as the C emulator's measure_batch does, so the
replies are byte-identical to the emulator's for the same seed.
"""

import machine
from phyffmp.ports.hw import HwPort, unit_id_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class HostPort(HwPort):
    def __init__(self, link: "Any", batch: bool = True) -> None:
        setters = []
        for j in range(link.n_drive):
            setters.append(machine.PWM(machine.Pin(j), freq=30_000, duty_u16=0).duty_u16)
        readers = []
        for j in range(link.n_sense):
            readers.append(machine.ADC(machine.Pin(j)).read_u16)
        super().__init__(setters, 16 - link.dac_bits, link.dac_bits, readers,
                         16 - link.adc_bits, link.adc_bits, unit_id_from(machine.unique_id()))
        self.link = link
        if batch:
            self.measure_batch = self._measure_batch

    def _measure_batch(self, dac: "Any", n: int, nd: int, adc: "Any", ns: int, k: int,
                       settle_us: int) -> int:
        # A simulated medium has no dynamics: settling is a no-op (port.h PORT-R4).
        return self.link.measure(dac, n, nd, adc, ns, k)

    def sense(self, adc: "Any", off: int, n: int) -> int:
        try:
            return HwPort.sense(self, adc, off, n)
        except OSError:
            return -1  # the core answers PHYFF_ERR_MEDIUM

    def delay_us(self, us: int) -> None:
        pass
