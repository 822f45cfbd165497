"""phyff: train physical neural networks without backpropagation.

The host side of phyff: a forward-forward (PhyLL) trainer that talks to a board
(real or emulated) driving a physical medium, through one shared wire protocol.
"""

__version__ = "0.1.0"


def _register_serial_handlers() -> None:
    from phyff.serial_handlers import register

    register()


_register_serial_handlers()
