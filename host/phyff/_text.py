"""Small wording helpers every layer may use (a leaf: imports nothing of phyff)."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 seed', '3 seeds' (`many`: the plural when it is not `word` + 's')."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
