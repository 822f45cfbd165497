"""Which boards a model may meet: the identity a model records and the check against it.

A model's digital maps are fitted to one physical medium. `phyff eval`,
`phyff deploy`, `phyff train --resume` and `PhyLLClassifier.predict` all
refuse a board whose identity differs from the one the model was trained on,
by the same rule: these capability fields must be equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

IDENTITY_KEYS = ("board", "medium", "unit_id", "n_drive", "n_sense", "dac_bits", "adc_bits",
                 "level")


def trained_identity(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The board identity a saved model recorded ({} when none): its first block's.

    A model's blocks are measured on one board, so the first identity holds the
    caps and the measuring settings (config) it was trained with.
    """
    layers = metadata.get("layers") or [{}]
    return dict(layers[0] or {})


def layer_identity(layer: object) -> dict[str, Any]:
    """What a model records about one physical layer (a board's caps and config).

    A layer that declares no identity (a stand-in in tests) records an empty one,
    which `board_mismatches` never compares.
    """
    return dict(getattr(layer, "identity", None) or {})


def board_mismatches(trained: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]
                     ) -> list[str]:
    """Differences between the layers' identities a model was trained with and these.

    Each identity is a physical layer's `identity` dict (a board's holds "caps").
    Layers without caps (stand-in layers in tests) are not compared. A model
    that records no board at all, met by a board that has an identity, is a
    mismatch too: its metadata was removed or never written, and nothing shows
    it fits this board.
    """
    def has_caps(layers: Sequence[Any]) -> bool:
        return any(isinstance(x, dict) and isinstance(x.get("caps"), dict) for x in layers)

    if has_caps(current) and not has_caps(trained):
        return ["board: the model records no board identity (its metadata is missing), so "
                "nothing shows it was trained on this board"]
    out: list[str] = []
    for old, new in zip(trained, current, strict=False):
        if not isinstance(old, dict) or not isinstance(new, dict):
            continue
        old_caps, new_caps = old.get("caps"), new.get("caps")
        if not isinstance(old_caps, dict) or not isinstance(new_caps, dict):
            continue
        for key in IDENTITY_KEYS:
            if old_caps.get(key) != new_caps.get(key):
                line = f"{key}: model {old_caps.get(key)!r}, board {new_caps.get(key)!r}"
                if line not in out:  # blocks usually share one board: say it once
                    out.append(line)
    return out


def refuse_other_board(metadata: Mapping[str, Any], current: dict[str, Any], *,
                       force: bool = False, advice: str) -> None:
    """ValueError (ending with `advice`) when the board whose identity is `current`
    is not the one the model with this metadata was trained on, unless `force`."""
    diffs = board_mismatches(metadata.get("layers") or [], [current])
    if diffs and not force:
        raise ValueError(
            f"this model was trained on a different board/medium ({'; '.join(diffs)}): its "
            f"digital weights only fit that physical system. {advice}")
