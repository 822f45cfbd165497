"""The board's main loop: link bytes in, core replies out."""

import micropython

from phyffmp.core import Core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def make_core(cfg: "Any", port: "Any", link: "Any") -> Core:
    """A core for a board config (boardcfg) and its port (ports.*)."""
    return Core(
        port, link.write, board=cfg.NAME, medium=cfg.MEDIUM, unit_id=port.unit_id,
        features=cfg.FEATURES, n_drive=port.n_drive, n_sense=port.n_sense,
        dac_bits=port.dac_bits, adc_bits=port.adc_bits, max_oversample=cfg.MAX_OVERSAMPLE,
        max_payload=cfg.MAX_PAYLOAD, max_channels=cfg.MAX_CHANNELS,
        model_bytes=cfg.MODEL_BYTES, max_classes=cfg.MAX_CLASSES, infer_work=cfg.INFER_WORK,
        model_file=cfg.MODEL_FILE,
    )


def serve(core: Core, link: "Any", chunk: int = 512, announce: bool = True,
          ready: "Any" = None) -> None:
    """Announce the start-up (wire.h W-E1), then feed the core until the link closes."""
    buf = bytearray(chunk)
    if announce:
        core.announce()
    if ready is not None:
        ready()
    receive = core.receive
    while True:
        n = link.readinto(buf)
        if n > 0:
            receive(buf, n)
        elif n < 0:
            return


def run(cfg: "Any", port: "Any", link: "Any") -> None:
    """Build the core and serve forever (the entry point of main.py)."""
    core = make_core(cfg, port, link)
    micropython.kbd_intr(-1)  # 0x03 is a data byte from now on, not Ctrl-C
    try:
        serve(core, link, cfg.RX_CHUNK)
    finally:
        micropython.kbd_intr(3)
