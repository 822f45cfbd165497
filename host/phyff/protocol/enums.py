"""The protocol's enums, generated from the compiled headers: do not edit.

Regenerate with ``make enums`` (``python -m phyff.protocol._enumgen``) after a
header adds or removes a name; values are read from the compiled module, so
a renumbered member needs nothing unless it changes the members' order.
``tests/test_native_surface.py`` fails when this file and the headers disagree.
"""

from __future__ import annotations

import enum

from phyff._native import lib


class Cmd(enum.IntEnum):
    """Command ids (wire.h, the header's cmd byte)."""

    NONE = lib.PHYFF_CMD_NONE
    HELLO = lib.PHYFF_CMD_HELLO
    CONFIGURE = lib.PHYFF_CMD_CONFIGURE
    QUERY = lib.PHYFF_CMD_QUERY
    STATS = lib.PHYFF_CMD_STATS
    RESET = lib.PHYFF_CMD_RESET
    MODEL_BEGIN = lib.PHYFF_CMD_MODEL_BEGIN
    MODEL_CHUNK = lib.PHYFF_CMD_MODEL_CHUNK
    MODEL_COMMIT = lib.PHYFF_CMD_MODEL_COMMIT
    MODEL_INFO = lib.PHYFF_CMD_MODEL_INFO
    INFER = lib.PHYFF_CMD_INFER
    MODEL_ERASE = lib.PHYFF_CMD_MODEL_ERASE
    MODEL_DESCRIBE = lib.PHYFF_CMD_MODEL_DESCRIBE
    LEARN = lib.PHYFF_CMD_LEARN
    REFIT = lib.PHYFF_CMD_REFIT
    FORGET = lib.PHYFF_CMD_FORGET
    EVENT = lib.PHYFF_CMD_EVENT


class Flag(enum.IntEnum):
    """Header flag bits (wire.h)."""

    REPLY = lib.PHYFF_FLAG_REPLY
    ERROR = lib.PHYFF_FLAG_ERROR
    EVENT = lib.PHYFF_FLAG_EVENT


class EventId(enum.IntEnum):
    """Unsolicited event ids (wire.h)."""

    RESET = lib.PHYFF_EVENT_RESET


class Feature(enum.IntEnum):
    """Capability feature bits (wire.h, caps.features)."""

    SATURATION_FLAGS = lib.PHYFF_FEAT_SATURATION_FLAGS
    SETTLE = lib.PHYFF_FEAT_SETTLE
    OVERSAMPLE = lib.PHYFF_FEAT_OVERSAMPLE
    CHANNEL_SELECT = lib.PHYFF_FEAT_CHANNEL_SELECT
    INFER = lib.PHYFF_FEAT_INFER
    MODEL_PERSIST = lib.PHYFF_FEAT_MODEL_PERSIST
    LEARN = lib.PHYFF_FEAT_LEARN
    EMULATED = lib.PHYFF_FEAT_EMULATED


class Status(enum.IntEnum):
    """Reply statuses (wire.h); OK is 0."""

    OK = lib.PHYFF_OK
    BAD_CRC = lib.PHYFF_ERR_BAD_CRC
    TRUNCATED = lib.PHYFF_ERR_TRUNCATED
    TOO_LONG = lib.PHYFF_ERR_TOO_LONG
    BAD_COBS = lib.PHYFF_ERR_BAD_COBS
    BAD_LEVEL = lib.PHYFF_ERR_BAD_LEVEL
    NO_SPACE = lib.PHYFF_ERR_NO_SPACE
    EMPTY = lib.PHYFF_ERR_EMPTY
    UNKNOWN_COMMAND = lib.PHYFF_ERR_UNKNOWN_COMMAND
    BAD_PAYLOAD = lib.PHYFF_ERR_BAD_PAYLOAD
    BATCH_TOO_LARGE = lib.PHYFF_ERR_BATCH_TOO_LARGE
    BAD_CHANNELS = lib.PHYFF_ERR_BAD_CHANNELS
    BAD_CONFIG = lib.PHYFF_ERR_BAD_CONFIG
    OVERRUN = lib.PHYFF_ERR_OVERRUN
    MEDIUM = lib.PHYFF_ERR_MEDIUM
    NOT_A_REQUEST = lib.PHYFF_ERR_NOT_A_REQUEST
    NO_MODEL = lib.PHYFF_ERR_NO_MODEL
    MODEL_TOO_LARGE = lib.PHYFF_ERR_MODEL_TOO_LARGE
    LOAD_RANGE = lib.PHYFF_ERR_LOAD_RANGE
    MODEL_CRC = lib.PHYFF_ERR_MODEL_CRC
    BAD_MODEL = lib.PHYFF_ERR_BAD_MODEL
    WRONG_BOARD = lib.PHYFF_ERR_WRONG_BOARD
    NO_LOAD = lib.PHYFF_ERR_NO_LOAD
    LEARN_FULL = lib.PHYFF_ERR_LEARN_FULL
    BAD_LABEL = lib.PHYFF_ERR_BAD_LABEL
    TOO_FEW = lib.PHYFF_ERR_TOO_FEW
    SINGULAR = lib.PHYFF_ERR_SINGULAR
    NO_READOUT = lib.PHYFF_ERR_NO_READOUT
    BAD_LAMBDA = lib.PHYFF_ERR_BAD_LAMBDA
    REFIT_OVERFLOW = lib.PHYFF_ERR_REFIT_OVERFLOW
    LEARN_TOO_LARGE = lib.PHYFF_ERR_LEARN_TOO_LARGE


__all__ = ["Cmd", "EventId", "Feature", "Flag", "Status"]
