"""Talking to a board: transports, the link (deadlines, resync, retries), the
Board client and the trainer-facing physical layer.

Nothing here knows what is on the other end of a URL: a serial port, a TCP
socket, or an emulated board registered as a transport plugin.
"""

from phyff.board.client import Board, DriveValueError, ProtocolMismatch, QueryResult, open_board
from phyff.board.layer import BoardLayer, board_layers
from phyff.board.link import BoardError, BoardResetDetected, Link, LinkError, LinkTimeout

__all__ = [
    "Board",
    "BoardError",
    "BoardLayer",
    "BoardResetDetected",
    "DriveValueError",
    "Link",
    "LinkError",
    "LinkTimeout",
    "ProtocolMismatch",
    "QueryResult",
    "board_layers",
    "open_board",
]
