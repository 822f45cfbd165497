"""The bridge from a :class:`~phyff.board.client.Board` to the trainer's physical layer.

The trainer thinks in floats: drive fractions in [0, 1], readings as
fractions of full scale. The board thinks in Q15 frames. This adapter is the
only place the two meet, so the trainer never sees a port, a frame or a
medium, and the conversion rules are the shared C ones (fixed.h FX-F6).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phyff.board.client import Board


class BoardLayer:
    """A physical layer backed by a board (real or emulated)."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.queries = 0  # rows measured through this layer
        self.saturated = 0  # of which flagged by the board
        self.seconds = 0.0

    @property
    def n_in(self) -> int:
        return self.board.n_drive

    @property
    def n_out(self) -> int:
        return self.board.n_sense

    @property
    def identity(self) -> dict[str, Any]:
        return self.board.identity()

    def measure(self, drive: NDArray[np.float64]) -> NDArray[np.float64]:
        """Drive (N, n_in) fractions -> readings (N, n_out) fractions of full scale."""
        t0 = time.perf_counter()
        sense, saturated = self.board.query_float(drive)
        self.seconds += time.perf_counter() - t0
        self.queries += len(sense)
        self.saturated += int(saturated.sum())
        return sense


def board_layers(board: Board, n_blocks: int) -> list[BoardLayer]:
    """The physical layers of an n-block model measured on one board: one shared layer.

    Sharing one object keeps one count of the board's queries, saturations
    and time for the whole model.
    """
    return [BoardLayer(board)] * n_blocks
