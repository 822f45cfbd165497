"""Shared test set-up.

Child processes (``python -m phyff.cli.main ...``) must run the code under test,
not whichever checkout the package was last installed from: put this
checkout's ``host/`` first on their import path, as pytest's ``pythonpath``
setting does for the tests themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

HOST = str(Path(__file__).resolve().parents[1] / "host")
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != HOST]
os.environ["PYTHONPATH"] = os.pathsep.join([HOST, *_paths])

# The default data folder (no --data, no PHYFF_DATA_DIR) is the user's data directory:
# point it at an empty folder so no test reads what this machine's user keeps there.
if not os.environ.get("PHYFF_TEST_KEEP_XDG"):
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="phyff-test-xdg-")
