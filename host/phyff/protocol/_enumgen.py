"""Write ``protocol/enums.py``: the protocol's enums as classes a type checker can read.

The headers in ``shared/include/phyff`` are the only source of the protocol's
names and numbers. The host used to build its enums at import time from the
compiled module (``enum.IntEnum("Status", {...})``), which no type checker or
editor can see into: ``Status.BAD_LEVEL`` was an unknown attribute to them.
This generator writes one class per enum with one line per member, each
member's value still read from the compiled module (``BAD_CRC =
lib.PHYFF_ERR_BAD_CRC``), so no number is copied into Python. A header that
adds, removes or reorders a name needs a regeneration:
``tests/test_native_surface.py`` fails until ``make enums`` (this module) is
run and the result committed.

Run: ``python -m phyff.protocol._enumgen`` (rewrites the file) or with
``--check`` (exit 1 when the committed file differs from what it would write).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from phyff._native import lib

# (class name, C prefix, extra members that do not share the prefix, docstring)
ENUMS: tuple[tuple[str, str, dict[str, str], str], ...] = (
    ("Cmd", "PHYFF_CMD_", {}, "Command ids (wire.h, the header's cmd byte)."),
    ("Flag", "PHYFF_FLAG_", {}, "Header flag bits (wire.h)."),
    ("EventId", "PHYFF_EVENT_", {}, "Unsolicited event ids (wire.h)."),
    ("Feature", "PHYFF_FEAT_", {}, "Capability feature bits (wire.h, caps.features)."),
    ("Status", "PHYFF_ERR_", {"OK": "PHYFF_OK"}, "Reply statuses (wire.h); OK is 0."),
)

TARGET = Path(__file__).with_name("enums.py")

HEADER = '''"""The protocol's enums, generated from the compiled headers: do not edit.

Regenerate with ``make enums`` (``python -m phyff.protocol._enumgen``) after a
header adds or removes a name; values are read from the compiled module, so
a renumbered member needs nothing unless it changes the members' order.
``tests/test_native_surface.py`` fails when this file and the headers disagree.
"""

from __future__ import annotations

import enum

from phyff._native import lib
'''


def members(prefix: str, extra: dict[str, str], native: Any = lib) -> list[tuple[str, str]]:
    """(member name, C constant name) pairs for one enum, in value order.

    ``*_SIZE`` names share some prefixes but are sizes, not members.
    ``native`` is a compiled cffi ``lib`` (the product's, or a test's).
    """
    names = {k[len(prefix):]: k for k in dir(native)
             if k.startswith(prefix) and not k.endswith("_SIZE")}
    names.update(extra)
    return sorted(names.items(), key=lambda kv: (int(getattr(native, kv[1])), kv[0]))


def render(native: Any = lib) -> str:
    """The text ``enums.py`` must hold for the headers ``native`` was compiled from."""
    parts = [HEADER]
    for cls, prefix, extra, doc in ENUMS:
        lines = [f"\n\nclass {cls}(enum.IntEnum):", f'    """{doc}"""', ""]
        lines += [f"    {name} = lib.{const}" for name, const in members(prefix, extra, native)]
        parts.append("\n".join(lines) + "\n")
    names = ", ".join(f'"{cls}"' for cls in sorted(e[0] for e in ENUMS))
    parts.append(f"\n\n__all__ = [{names}]\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.name} is stale: run `make enums` and commit it", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
