"""cffi (API mode) build of ``phyff._native`` from the project's shared C.

The host compiles the very same C files as the firmware: ``shared/`` (fixed
point and wire format) and, for the emulated board, the firmware's core. The
cffi declarations are generated from the C headers themselves (``_cdefgen.py``:
preprocessor + pycparser), and name functions, structs, enum members and
integer macros only; every value (enum numbers, sizes, the protocol level)
comes from the C compiler through cffi's ``...`` placeholders, so no number or
name is typed twice.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from cffi import FFI

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT / "shared"
FIRMWARE = ROOT / "firmware"

SOURCES = [
    SHARED / "src" / "fixed.c",
    SHARED / "src" / "wire.c",
    SHARED / "src" / "model.c",
    SHARED / "src" / "learn.c",
    FIRMWARE / "src" / "core" / "phyff_core.c",
    FIRMWARE / "ports" / "host" / "host_port.c",
]
INCLUDE_DIRS = [
    SHARED / "include",
    FIRMWARE / "src",
    FIRMWARE / "src" / "core",
    FIRMWARE / "ports" / "host",
]
# The emulated board is a roomy microcontroller: large frames (fewer round
# trips in process) and media with many channels (optics).
DEFINES = [
    ("PHYFF_CORE_MAX_PAYLOAD", "65535u"),
    ("PHYFF_CORE_MAX_CHANNELS", "1024u"),
    ("PHYFF_CORE_MAX_DRIVE_STAGE", "1024u"),
    # room for the models of the optical digits task and larger
    ("PHYFF_CORE_MODEL_BYTES", "65535u"),
    ("PHYFF_CORE_INFER_WORK", "16384u"),
    ("PHYFF_CORE_MAX_CLASSES", "256u"),
    # phyff_core_use_compiled_model reaches Python (the emulator never hands one over)
    ("PHYFF_CORE_COMPILED_MODEL", "1"),
]

# Every header the module exposes: all of shared/ (the wire format and fixed
# point), the firmware core and the host port. The cdef is generated from
# them at build time (_cdefgen.py), so a status, command, record or function
# added to a header reaches Python with no second edit.
HEADERS = [
    *sorted((SHARED / "include" / "phyff").glob("*.h")),
    FIRMWARE / "src" / "core" / "phyff_core.h",
    FIRMWARE / "ports" / "host" / "host_port.h",
]

# The one thing a header cannot say: which of its functions are implemented
# in Python. The emulated board reaches its simulated medium through this
# callback (host_port.h HOST-H2); cffi must declare it extern "Python+C" so that
# it compiles a C entry point calling into Python. Its prototype is still
# read from host_port.h.
PYTHON_CALLBACKS = ["phyff_host_measure", "phyff_host_model_save", "phyff_host_model_restore"]


def _load_cdefgen() -> ModuleType:
    """_cdefgen.py by path: at build time the phyff package is not importable
    (its __init__ may import the very module being built)."""
    path = Path(__file__).resolve().with_name("_cdefgen.py")
    spec = importlib.util.spec_from_file_location("phyff_cdefgen_build", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the cdef generator from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _include_name(header: Path) -> str:
    """How the C source names a header: relative to the first include dir holding it."""
    for d in INCLUDE_DIRS:
        if header.is_relative_to(d):
            return header.relative_to(d).as_posix()
    raise ValueError(f"{header} is under none of the include dirs {INCLUDE_DIRS}")


CDEF = _load_cdefgen().generate_cdef(
    HEADERS,
    INCLUDE_DIRS,
    DEFINES,
    python_callbacks=PYTHON_CALLBACKS,
)

SOURCE_PRELUDE = "".join(f'#include "{_include_name(h)}"\n' for h in HEADERS)

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "phyff._native",
    SOURCE_PRELUDE,
    sources=[str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in SOURCES],
    include_dirs=[str(p) for p in INCLUDE_DIRS],
    define_macros=DEFINES,
    extra_compile_args=["-std=c11", "-O3", "-fno-semantic-interposition", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
