"""Domain errors. The CLI turns every DatacleanError into a one-line message and exit code 2."""

from __future__ import annotations


class DatacleanError(Exception):
    """Bad input the user can fix: a missing folder, an empty dataset, a malformed manifest.

    The message must name the thing that is wrong (a path, a column, a value) and, where it helps,
    what would have been accepted.
    """

    exit_code = 2


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when empty), for one-line errors.

    Prefers a string ``message`` attribute (TensorFlow's OpError keeps the bare message there).
    """
    message = getattr(exc, "message", None)
    lines = (message if isinstance(message, str) else str(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
