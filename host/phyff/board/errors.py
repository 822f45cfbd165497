"""What can go wrong between a host and a board, shared by the Board and its parts.

The handshake and queries (`phyff.board.client`) and the on-device model
methods (`phyff.board.ondevice`) refuse the same things the same way, so
their errors and the reply reader live here, below both.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike

from phyff.board.link import LinkError
from phyff.protocol import wire

FLASH_HINT = (
    "flash the firmware that ships with this phyff (cd firmware && pio run -e <board> -t upload), "
    "or install the phyff release that speaks the board's level"
)


class ProtocolMismatch(LinkError):
    """The board speaks another protocol level than this host."""


class BadCaps(ProtocolMismatch):
    """The board's HELLO reply describes a board that cannot exist."""


class DriveValueError(ValueError):
    """Drive values that no board can apply (NaN, out of range)."""


class NoOnDeviceInference(LinkError):
    """The board's firmware has no model memory (no FEAT_INFER)."""


class NoOnDeviceLearning(LinkError):
    """The board's firmware cannot learn a read-out (no FEAT_LEARN, wire.h level 5)."""


class ModelTooLarge(ValueError):
    """A model image larger than the board's model memory or frames."""


R = TypeVar("R", bound=wire.Record)


def unpack_reply(record: type[R], payload: bytes, cmd: str) -> R:
    """A reply record, or ProtocolMismatch when the board sent too few bytes for it."""
    try:
        return record.unpack(payload)
    except wire.WireError as exc:
        raise too_short(record.__name__, payload, cmd) from exc


def too_short(record: str, payload: bytes, cmd: str) -> ProtocolMismatch:
    """The error for a reply too short for its record: not phyff firmware at this level."""
    return ProtocolMismatch(
        f"the board's {cmd} reply is {len(payload)} bytes, too short for its {record} record: "
        f"this is not phyff firmware at protocol level {wire.PROTOCOL_LEVEL}: {FLASH_HINT}")


def sample_rows(values: ArrayLike, width: int, expected: str) -> np.ndarray:
    """Samples as rows (N, width); one sample may come as a vector.

    DriveValueError otherwise, saying what was `expected` and the shape given.
    """
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise DriveValueError(f"{expected}, got an array of shape {np.shape(values)}")
    return arr
