"""What an .npz member declares, read before a byte of its data is: shared by the
dataset reader and the model reader, which word their refusals for their own users.

Both must refuse the same things (a .npy version numpy's header readers do not
know, a member that inflates like a zip bomb), so the reading and the limits live
here once.
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

MAX_INFLATION = 200  # uncompressed : compressed bytes of a member larger than BOMB_FLOOR
BOMB_FLOOR = 64 << 20


class UnknownNpyVersion(ValueError):
    """The member's .npy header is of a format version this reader does not know."""

    def __init__(self, version: tuple[int, int]) -> None:
        super().__init__(f".npy format version {version}")
        self.version = version


def is_zip_bomb(info: zipfile.ZipInfo) -> bool:
    """A large member that inflates far beyond what real numbers compress to (deflate of
    repeated bytes reaches ~1000:1; measured data rarely 20:1)."""
    return info.file_size > BOMB_FLOOR and \
        info.file_size > MAX_INFLATION * max(info.compress_size, 1)


def npy_header(archive: zipfile.ZipFile,
               info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """A member's shape, dtype and header length in bytes, from its .npy header alone.

    Raises UnknownNpyVersion for a format version other than 1.0 and 2.0.
    """
    with archive.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise UnknownNpyVersion(version)
        return shape, dtype, fp.tell()
