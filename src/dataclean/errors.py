"""Domain errors. The CLI turns every DatacleanError into a one-line message and exit code 2."""

from __future__ import annotations


class DatacleanError(Exception):
    """Bad input the user can fix: a missing folder, an empty dataset, a malformed manifest.

    The message must name the thing that is wrong (a path, a column, a value) and, where it helps,
    what would have been accepted.
    """

    exit_code = 2
