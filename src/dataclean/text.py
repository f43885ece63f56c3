"""Text for people: safe to show on a terminal whatever a user's file names contain, and worded right."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_utf8(text: str) -> bool:
    """False for text that cannot be written as UTF-8: a file name whose bytes are not UTF-8, which
    Python holds as surrogate escapes (and any message quoting one)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def printable(text: str) -> str:
    """``text`` with every control or invisible character escaped, so a file name cannot drive the terminal.

    ``\\x1b[31m`` (an ANSI colour code) prints as the six characters ``\\x1b[31m``; a byte that is not
    UTF-8 (held by Python as a surrogate escape) prints as ``\\xff``; newlines as ``\\n``. Ordinary text,
    accents and CJK included, is unchanged.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif ch in _NAMED:
            out.append(_NAMED[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "class", "classes")`` -> "1 class"; ``plural(3, "group")`` -> "3 groups"."""
    return f"{n} {word if n == 1 else many or word + 's'}"
