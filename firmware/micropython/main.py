"""phyff board program: runs at boot (main.py) on a Pico, an ESP32 or a pyboard.

It waits BOOT_WINDOW_MS first: Ctrl-C then (mpremote sends it when it
connects) stops here and leaves the REPL, so the files can be replaced.
After that the console is the phyff link and Ctrl-C is a data byte.
"""

import time

import boardcfg
from phyffmp import app


def main() -> None:
    cfg, port_module = boardcfg.select()
    time.sleep_ms(cfg.BOOT_WINDOW_MS)
    port = port_module.make_port(cfg)
    link = port_module.make_link(cfg)
    app.run(cfg, port, link)


main()
