"""Shared test set-up.

Child processes (``python -m phyff.cli.main ...``) must run the code under test,
not whichever checkout the package was last installed from: put this
checkout's ``host/`` first on their import path, as pytest's ``pythonpath``
setting does for the tests themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

HOST = str(Path(__file__).resolve().parents[1] / "host")
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != HOST]
os.environ["PYTHONPATH"] = os.pathsep.join([HOST, *_paths])

# The default data folder (no --data, no PHYFF_DATA_DIR) is the user's data directory:
# point it at an empty folder so no test reads what this machine's user keeps there.
if not os.environ.get("PHYFF_TEST_KEEP_XDG"):
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="phyff-test-xdg-")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 3-class, 6-feature dataset as an npz spec (absolute path: sweep workers load it
    themselves); a few epochs of it train in well under a second."""
    rng = np.random.default_rng(0)
    n, c = 120, 3
    y = np.arange(n) % c
    centers = rng.normal(size=(c, 6))
    x = np.abs(centers[y] + 0.4 * rng.normal(size=(n, 6)))
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=x, y=y)
    return f"npz:{path}"
