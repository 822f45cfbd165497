"""Run the phyff board program under the MicroPython unix port.

    micropython host/hostmain.py --medium HOST:PORT [--link pty|stdio|tcp:PORT]
                                 [--per-sample] [--max-oversample N] [--no-announce]
                                 [--max-payload N] [--max-channels N]
                                 [--model-bytes N] [--max-classes N] [--infer-work N]
                                 [--model-file PATH]

The medium is a medium server (``phyff.emulator.medium_server``); the host
link is stdin/stdout (``pty``: a non-blocking pty master handed over by the
launcher, phyff.emulator.micropython; ``stdio``: a plain blocking stdin) or a
TCP port (``tcp:PORT``, served on 127.0.0.1). ``--max-payload`` and
``--max-channels`` size the board like the emulated one it stands beside
(the launcher passes the C core's compiled values; defaults: boardcfg.Unix),
and so do ``--model-bytes``, ``--max-classes`` and ``--infer-work``.
``--model-file`` is where a committed model is kept (FEAT_MODEL_PERSIST):
a new board started with the same file starts with that model; the
environment variable PHYFF_MODEL_FILE says the same when the option is absent.
Prints "ready" on stderr once it serves.
"""

import os
import sys

# host/ first (its machine.py stands in for the unix port's), then the program.
_here = __file__.rpartition("/")[0] or "."
sys.path.insert(0, _here + "/..")
sys.path.insert(0, _here)

import boardcfg  # noqa: E402
import machine  # noqa: E402
from hostport import HostPort  # noqa: E402
from phyffmp import app  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _args(argv: "list[str]") -> "dict[str, str]":
    opts = {"link": "pty", "max-oversample": "64"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--"):
            raise SystemExit("unexpected argument " + a)
        key = a[2:]
        if key in ("per-sample", "no-announce"):
            opts[key] = "1"
            i += 1
            continue
        if i + 1 >= len(argv):
            raise SystemExit(a + " needs a value")
        opts[key] = argv[i + 1]
        i += 2
    if "medium" not in opts:
        raise SystemExit("usage: hostmain.py --medium HOST:PORT [--link pty|stdio|tcp:PORT]")
    return opts


def _ready() -> None:
    sys.stderr.write("ready\n")


def main() -> None:
    opts = _args(sys.argv[1:])
    cfg = boardcfg.Unix
    cfg.MAX_PAYLOAD = int(opts.get("max-payload", cfg.MAX_PAYLOAD))
    cfg.MAX_CHANNELS = int(opts.get("max-channels", cfg.MAX_CHANNELS))
    cfg.MODEL_BYTES = int(opts.get("model-bytes", cfg.MODEL_BYTES))
    cfg.MAX_CLASSES = int(opts.get("max-classes", cfg.MAX_CLASSES))
    cfg.INFER_WORK = int(opts.get("infer-work", cfg.INFER_WORK))
    cfg.MODEL_FILE = opts.get("model-file") or os.getenv("PHYFF_MODEL_FILE") or cfg.MODEL_FILE
    link_medium = machine.connect(opts["medium"], cfg.MAX_PAYLOAD)
    cfg.MEDIUM = link_medium.medium
    cfg.MAX_OVERSAMPLE = int(opts["max-oversample"])
    port = HostPort(link_medium, batch="per-sample" not in opts)
    announce = "no-announce" not in opts
    kind = opts["link"]
    if kind.startswith("tcp:"):
        from tcplink import TcpLink

        link: Any = TcpLink(int(kind[4:]))
        core = app.make_core(cfg, port, link)
        _ready()
        while True:
            link.accept()
            # wire.h W-E3: every new host connection meets a board that has just
            # started (state at power-up defaults, the reset event first).
            core.restart()
            app.serve(core, link, cfg.RX_CHUNK, announce)
    from phyffmp.link import StdioLink

    link = StdioLink(poll_ms=200, nonblocking=kind == "pty")
    core = app.make_core(cfg, port, link)
    app.serve(core, link, cfg.RX_CHUNK, announce, _ready)


main()
