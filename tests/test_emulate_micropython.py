"""`phyff emulate --micropython` starts the MicroPython board program like --qemu and
--simavr start the firmware images: a socket:// URL any host can open."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from phyff.emulator.micropython import MICROPYTHON_HINT, find_micropython


@pytest.mark.skipif(find_micropython() is None, reason=MICROPYTHON_HINT)
def test_emulate_micropython_serves_the_program() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "phyff.cli.main", "emulate", "--micropython",
                             "--medium", "circuit", "--seed", "5"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:"), url
        out = subprocess.run([sys.executable, "-m", "phyff.cli.main", "info", "--board", url,
                              "--json"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        caps = json.loads(out.stdout)["caps"]
        assert caps["medium"] == "circuit" and caps["board"] == "mpy-unix"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert proc.stderr is not None
    assert "MicroPython board program" in proc.stderr.read()
