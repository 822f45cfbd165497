"""Which boards a model may meet: the identity a model records and the check against it.

A model's digital maps are fitted to one physical medium. `phyff eval` and
`phyff train --resume` both refuse a board whose identity differs from the
one the model was trained on, by the same rule: these capability fields must
be equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IDENTITY_KEYS = ("board", "medium", "unit_id", "n_drive", "n_sense", "dac_bits", "adc_bits",
                 "level")


def board_mismatches(trained: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]
                     ) -> list[str]:
    """Differences between the layers' identities a model was trained with and these.

    Each identity is a physical layer's `identity` dict (a board's holds "caps").
    Layers without caps (stand-in layers in tests) are not compared.
    """
    out = []
    for k, (old, new) in enumerate(zip(trained, current, strict=False)):
        old_caps, new_caps = old.get("caps"), new.get("caps")
        if not isinstance(old_caps, dict) or not isinstance(new_caps, dict):
            continue
        where = f"block {k + 1}: " if len(trained) > 1 and k else ""
        out += [f"{where}{key}: model {old_caps.get(key)!r}, board {new_caps.get(key)!r}"
                for key in IDENTITY_KEYS if old_caps.get(key) != new_caps.get(key)]
    return out
