"""Records of the medium link (``shared/include/phyff/medium_link.h``).

The medium link carries drive batches from a board without a physical
medium (QEMU, the MicroPython unix port) to a medium server on the host,
using the host protocol's framing with its own command ids.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from phyff._native import lib
from phyff.protocol.wire import Record


class MediumCmd(enum.IntEnum):
    DESCRIBE = lib.PHYFF_MEDIUM_DESCRIBE
    MEASURE = lib.PHYFF_MEDIUM_MEASURE


@dataclass(frozen=True)
class MediumDesc(Record, ctype="phyff_medium_desc"):
    """What the medium server says about the medium it serves."""

    n_drive: int
    n_sense: int
    dac_bits: int
    adc_bits: int
    unit_id: int
    medium: str
    reserved: int = 0


@dataclass(frozen=True)
class MeasureHead(Record, ctype="phyff_measure_head"):
    """Header of a MEASURE request: the batch shape and oversampling count."""

    n_samples: int
    n_drive: int
    n_sense: int
    oversample: int


MEDIUM_DESC_SIZE: int = lib.PHYFF_MEDIUM_DESC_SIZE
MEASURE_HEAD_SIZE: int = lib.PHYFF_MEASURE_HEAD_SIZE
