"""The board's converters around a medium: DAC codes in, ADC codes out.

This is the only place where codes become drive fractions and readings become
codes. The emulated board and the medium server that answers a QEMU-emulated
board both call `Frontend.measure`, so the two produce byte-identical codes
for the same seed and the same sequence of drives.

Rules (N-bit DAC, M-bit ADC):

- drive fraction = code / 2**N, code in 0 .. 2**N - 1 (a larger code is an error:
  the board never emits one, so seeing it means a bug upstream);
- ADC code = clip(floor(v * 2**M + 0.5), 0, 2**M - 1) for a reading v (fraction of
  full scale): round half up, then saturate like a real converter;
- oversampling by k: every row is measured k times in a row (all k reads of row 0,
  then of row 1, ...), by repeating rows in one call to the medium so the noise
  stream and the drift clock advance exactly as for k separate reads; the k
  integer codes are averaged with round-half-up integer division (sum + k//2) // k,
  as a microcontroller would.
"""

from __future__ import annotations

import numpy as np

from phyff.media.base import Medium

MAX_BITS = 16  # codes travel as uint16
MAX_OVERSAMPLE = 65535


class Frontend:
    """A medium behind a `dac_bits` DAC and an `adc_bits` ADC."""

    def __init__(self, medium: Medium, dac_bits: int = 12, adc_bits: int = 12) -> None:
        for label, bits in (("dac_bits", dac_bits), ("adc_bits", adc_bits)):
            if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
                raise ValueError(f"{label} must be an int in 1..{MAX_BITS}, got {bits!r}")
            if not 1 <= bits <= MAX_BITS:
                raise ValueError(f"{label} must be in 1..{MAX_BITS}, got {bits}")
        self.medium = medium
        self.dac_bits = int(dac_bits)
        self.adc_bits = int(adc_bits)
        self.n_in = int(medium.n_in)
        self.n_out = int(medium.n_out)
        self.dac_max = (1 << self.dac_bits) - 1
        self.adc_max = (1 << self.adc_bits) - 1

    def drive_fraction(self, dac_codes: np.ndarray) -> np.ndarray:
        """Validate DAC codes (N, n_in) and convert them to drive fractions code / 2**N."""
        codes = np.asarray(dac_codes)
        if codes.dtype.kind not in "ui":
            raise ValueError(f"DAC codes must be an integer array, got dtype {codes.dtype}")
        if codes.ndim != 2 or codes.shape[1] != self.n_in:
            raise ValueError(f"DAC codes must have shape (N, {self.n_in}), got shape {codes.shape}")
        if codes.size:
            lo, hi = int(codes.min()), int(codes.max())
            if lo < 0 or hi > self.dac_max:
                raise ValueError(
                    f"DAC codes must lie in 0..{self.dac_max} for a {self.dac_bits}-bit DAC, "
                    f"got values in {lo}..{hi}"
                )
        return codes.astype(np.float64) / float(1 << self.dac_bits)

    def adc_codes(self, readings: np.ndarray) -> np.ndarray:
        """Quantise readings (fractions of full scale) to ADC codes, int64."""
        v = np.asarray(readings, dtype=np.float64)
        scaled = np.floor(v * float(1 << self.adc_bits) + 0.5)
        return np.clip(scaled, 0, self.adc_max).astype(np.int64)

    def measure(self, dac_codes: np.ndarray, oversample: int = 1) -> np.ndarray:
        """Apply DAC codes (N, n_in) and return ADC codes (N, n_out) as uint16."""
        if isinstance(oversample, bool) or not isinstance(oversample, (int, np.integer)):
            raise ValueError(f"oversample must be an int >= 1, got {oversample!r}")
        k = int(oversample)
        if not 1 <= k <= MAX_OVERSAMPLE:
            raise ValueError(f"oversample must be in 1..{MAX_OVERSAMPLE}, got {k}")
        drive = self.drive_fraction(dac_codes)
        n = drive.shape[0]
        if k > 1:
            drive = np.repeat(drive, k, axis=0)
        readings = np.asarray(self.medium.respond(drive))
        if readings.shape != (n * k, self.n_out):
            raise ValueError(
                f"medium {self.medium.name!r} returned shape {readings.shape}, "
                f"expected {(n * k, self.n_out)}"
            )
        if not np.all(np.isfinite(readings)):
            raise ValueError(f"medium {self.medium.name!r} returned non-finite readings")
        codes = self.adc_codes(readings)
        if k > 1:
            codes = (codes.reshape(n, k, self.n_out).sum(axis=1) + k // 2) // k
        return codes.astype(np.uint16)
