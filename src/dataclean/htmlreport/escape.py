"""Escaping user data (file and class names, details) for HTML text, attributes and inline JSON."""

from __future__ import annotations

import html
import json
from typing import Any


def printable(value: Any) -> str:
    """Text safe to write as UTF-8: bytes of non-UTF-8 file names (surrogate escapes) become U+FFFD."""
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def text(value: Any) -> str:
    """HTML-escaped element text."""
    return html.escape(printable(value), quote=False)


def attr(value: Any) -> str:
    """HTML-escaped attribute value (to be placed inside double quotes)."""
    return html.escape(printable(value), quote=True)


def script_json(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: nothing in it can close the element."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=printable)
    return (printable(raw).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
