"""Wording helpers shared by reports and messages."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "class", "classes")`` -> "1 class"; ``plural(3, "group")`` -> "3 groups"."""
    return f"{n} {word if n == 1 else many or word + 's'}"
