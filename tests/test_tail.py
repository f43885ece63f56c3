"""The work after the last file: the pieces that keep it linear in the number of files."""

from __future__ import annotations

import gc
import os
import posixpath
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataclean.audit import collector_paused
from dataclean.checks import AuditContext
from dataclean.checks.files import extension
from dataclean.hashing import from_hex
from dataclean.io import atomic_path
from dataclean.table import Table
from dataclean.text import is_utf8


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-on", "gc-off"])
def test_collector_paused_then_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with collector_paused():
            assert not gc.isenabled() and gc.get_freeze_count() > 0
        assert gc.isenabled() == enabled and gc.get_freeze_count() == 0
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("a check failed")
        assert gc.isenabled() == enabled and gc.get_freeze_count() == 0
    finally:
        (gc.enable if was else gc.disable)()


def test_numbers_are_converted_once_and_read_only() -> None:
    ctx = AuditContext(table=Table({"width": [400, None, 7]}), thumbs=np.zeros((3, 16, 16), np.uint8))
    width = ctx.numbers("width")
    assert ctx.numbers("width") is width and not width.flags.writeable
    assert width[[0, 2]].tolist() == [400.0, 7.0] and np.isnan(width[1])
    with pytest.raises(ValueError, match="read-only"):
        width[0] = 1.0


@pytest.mark.parametrize(("values", "expected"), [
    (["ffffffffffffffff", "", "0000000000000001"], [2**64 - 1, 0, 1]),
    ([], []),
    (["abc", ""], [0xABC, 0]),  # not 16 digits: one by one
    (["0x000000000000ff", "00000000000000ff"], [0xFF, 0xFF]),  # 16 characters, not 16 digits
], ids=["manifest", "empty", "short", "prefixed"])
def test_from_hex(values: list[str], expected: list[int]) -> None:
    got = from_hex(values)
    assert got.dtype == np.uint64 and got.tolist() == expected


def test_from_hex_rejects_what_is_not_hex() -> None:
    with pytest.raises(ValueError, match="base 16"):
        from_hex(["zzzzzzzzzzzzzzzz"])


@pytest.mark.parametrize(("text", "expected"), [("cats/a.jpg", True), ("chats/été.jpg", True),
                                               ("cats/\udcff.jpg", False)], ids=["ascii", "utf8", "undecodable"])
def test_is_utf8(text: str, expected: bool) -> None:
    assert is_utf8(text) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="./aB\u03a3\u0130 ", max_size=8))
def test_extension_is_splitexts_suffix(path: str) -> None:
    assert extension(path) == posixpath.splitext(path.rpartition("/")[2])[1].lower()


def test_atomic_path_replaces_on_success_with_opens_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out" / "cache.sqlite"
    with atomic_path(target) as tmp:
        assert Path(tmp).name.startswith(".cache.sqlite.") and tmp.endswith(".tmp")
        Path(tmp).write_bytes(b"new")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in target.parent.iterdir()) == ["cache.sqlite"]


def test_atomic_path_failure_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "cache.sqlite"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"), atomic_path(target) as tmp:
        Path(tmp).write_bytes(b"half")
        raise OSError("disk full")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["cache.sqlite"]
