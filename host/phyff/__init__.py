"""phyff: train physical neural networks without backpropagation.

The host side of phyff: a forward-forward (PhyLL) trainer that talks to a board
(real or emulated) driving a physical medium, through one shared wire protocol.

For notebooks: ``phyff.PhyLLClassifier`` (a scikit-learn estimator) and
``phyff.open_board(url)``. The packages below show the architecture, top to
bottom: ``cli`` -> ``compare`` / ``training`` -> ``phyll`` -> ``board`` ->
``protocol`` -> ``_native``; ``emulator`` and ``media`` plug in under the
board through its transport registry.
"""

from __future__ import annotations

from typing import Any

from phyff._version import __version__

__all__ = ["PhyLLClassifier", "__version__", "open_board"]


def _register_pyserial_scheme() -> None:
    """Let any pyserial program open ``emu://...`` after ``import phyff``.

    pyserial looks up ``<package>.protocol_<scheme>`` in
    ``serial.protocol_handler_packages``; this names the emulator package
    without importing it.
    """
    try:
        import serial
    except ImportError:  # pyserial is a dependency; stay importable without it
        return
    if "phyff.emulator" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("phyff.emulator")


_register_pyserial_scheme()


def __dir__() -> list[str]:
    # the lazy public names too, so tab completion and dir(phyff) show them
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    # The public API is imported on first use, so `import phyff` stays light.
    if name == "PhyLLClassifier":
        from phyff.api import PhyLLClassifier

        return PhyLLClassifier
    if name == "open_board":
        from phyff.board import open_board

        return open_board
    raise AttributeError(f"module 'phyff' has no attribute {name!r}")
