"""Board shapes: the channel counts and converters of the real dev boards, for the emulator.

A medium emulated with 20 or 80 channels says little about what a 4-pin
Arduino can learn. A shape gives an emulated board the drive and sense
channels, converter resolutions, frame limit, link speed and settle time of
one real board (docs/boards.md), so ``emu://circuit?seed=1&shape=uno`` is the
Uno a user would wire, and a run's projected wall time on that real board
is computed from the board's own numbers.

Rules:

1. a shape sets the emulated board's ``dac_bits`` and ``adc_bits`` and the
   medium's ``n_in`` / ``n_out``; naming one of those in the URL as well is
   refused unless it agrees with the shape (a user never gets a silent mix);
2. ``settle_us``, ``max_payload`` and ``baud`` are the real board's: they
   enter the real-board cost projection only (the emulated board itself
   answers at emulator speed with its own frame limit);
3. the emulated medium defaults to ``circuit`` (a diode-resistor network,
   what one wires on a breadboard behind these pins).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BoardShape:
    """One real board's converters and limits (docs/boards.md)."""

    name: str
    title: str  # the real board
    n_drive: int
    n_sense: int
    dac_bits: int
    adc_bits: int
    max_payload: int  # bytes per frame of its firmware
    settle_us: int  # wait after each new drive value (the PWM RC filter; 0 with a DAC)
    baud: int = 115_200
    drive: str = "DAC"

    def describe(self) -> str:
        """One line: channels, converters, settle."""
        settle = f", settle {self.settle_us / 1000:g} ms per row" if self.settle_us else ""
        return (f"{self.title}: {self.n_drive} x {self.dac_bits}-bit {self.drive} drive, "
                f"{self.n_sense} x {self.adc_bits}-bit ADC sense, {self.max_payload}-byte "
                f"frames at {self.baud:,} baud{settle}")


SHAPES: dict[str, BoardShape] = {
    s.name: s for s in (
        BoardShape("uno", "Arduino Uno", 4, 6, 8, 10, 192, 50_000, drive="PWM+RC"),
        BoardShape("pico", "Raspberry Pi Pico", 4, 3, 8, 12, 1024, 500_000, drive="PWM+RC"),
        BoardShape("nucleo", "ST Nucleo-L476RG", 2, 5, 12, 12, 1024, 0),
        BoardShape("esp32", "ESP32 DevKit", 2, 6, 8, 12, 1024, 0),
    )
}
DEFAULT_SHAPE_MEDIUM = "circuit"


def get_shape(name: str) -> BoardShape:
    """The shape called `name`; unknown names are refused with the list."""
    try:
        return SHAPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown board shape {name!r}; expected one of "
                         f"{', '.join(SHAPES)} (phyff media lists them)") from None
