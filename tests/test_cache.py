"""The incremental cache on local folders: unchanged files are not read again, results equal a fresh audit."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataclean import cache
from dataclean.audit import run_audit
from dataclean.cli import main
from dataclean.storage import parse_storage_options
from scale_helpers import bump_mtime, comparable, jpeg_bytes, make_small_dataset, summary_core


def _audit(root: Path, out: Path, **kw: object):  # type: ignore[no-untyped-def]
    result = run_audit(root, workers=0, out_dir=out, **kw)
    assert result.job is not None
    result.job.release()  # the --out lock (outputs are written after it in these tests; nobody else writes)
    return result


def _inspected(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.job is not None
    return [result.table["path"][i] for i in result.job.misses]


def _audit_and_write(root: Path, out: Path, **kw: object):  # type: ignore[no-untyped-def]
    from dataclean.audit import write_outputs

    result = _audit(root, out, **kw)
    write_outputs(result, out)
    return result


def test_unchanged_reaudit_reads_nothing_and_equals_the_first(tmp_path: Path) -> None:
    root, out = tmp_path / "data", tmp_path / "out"
    make_small_dataset(root)
    first = _audit_and_write(root, out)
    assert first.summary["cache"] == {"hits": 0, "misses": 15}
    assert (out / cache.CACHE_NAME).is_file()
    second = _audit_and_write(root, out)
    assert second.summary["cache"] == {"hits": 15, "misses": 0}
    assert _inspected(second) == []
    assert comparable(second, drop=()) == comparable(first, drop=())
    assert summary_core(second) == summary_core(first)


def test_changed_added_and_deleted_files(tmp_path: Path) -> None:
    root, out = tmp_path / "data", tmp_path / "out"
    make_small_dataset(root)
    _audit_and_write(root, out)
    (root / "cats/cats_03.jpg").write_bytes(jpeg_bytes(999))  # changed content and size
    bump_mtime(root / "dogs/dogs_02.jpg")  # touched only: read again, same record
    (root / "dogs/new.jpg").write_bytes(jpeg_bytes(1234))  # added
    (root / "dogs/dogs_05.jpg").unlink()  # deleted
    again = _audit_and_write(root, out)
    assert sorted(_inspected(again)) == ["cats/cats_03.jpg", "dogs/dogs_02.jpg", "dogs/new.jpg"]
    assert again.summary["cache"] == {"hits": 12, "misses": 3}
    fresh = run_audit(root, workers=0)
    assert comparable(again, drop=()) == comparable(fresh, drop=())
    assert summary_core(again) == summary_core(fresh)
    third = _audit_and_write(root, out)  # the rewritten cache knows the new state: nothing deleted comes back
    assert third.summary["cache"] == {"hits": 15, "misses": 0}
    assert "dogs/dogs_05.jpg" not in third.table["path"]


def test_records_of_the_moment_are_not_cached(tmp_path: Path) -> None:
    """Unreadable files, timeouts and decoder crashes say more about the run than the file: read again next time."""
    from dataclean.inspect import Record

    recs = [Record(bytes=5, md5="a" * 32, format="JPEG", thumb=b"\x01" * 256),
            Record(bytes=5, error="unreadable", error_detail="PermissionError: Permission denied"),
            Record(bytes=5, error="decode_error", error_detail="decoding took longer than 60 s"),
            Record(bytes=5, error="decode_error", error_detail="the decoder crashed on this file"),
            Record(bytes=5, error="truncated", error_detail="image file is truncated")]
    paths = [f"c/{i}.jpg" for i in range(5)]
    cache.save(tmp_path, "/data", 100, paths, [5] * 5, ["1.5"] * 5, recs)
    loaded = cache.load(tmp_path, "/data", 100)
    assert loaded.warning == "" and sorted(loaded.entries) == ["c/0.jpg", "c/4.jpg"]
    assert loaded.entries["c/0.jpg"] == (5, "1.5", recs[0])
    assert loaded.entries["c/4.jpg"][2] == recs[4]


@pytest.mark.parametrize("content, why", [
    (b"this is not sqlite at all" * 10, "cannot be opened|unreadable|not a dataclean cache"),
    (None, "not a dataclean cache"),
], ids=["garbage", "foreign-sqlite"])
def test_corrupt_or_foreign_cache_is_ignored_with_a_warning(tmp_path: Path, content: bytes | None, why: str) -> None:
    import re

    root, out = tmp_path / "data", tmp_path / "out"
    make_small_dataset(root)
    out.mkdir()
    target = out / cache.CACHE_NAME
    if content is None:
        con = sqlite3.connect(target)
        con.execute("CREATE TABLE records (path TEXT, size INTEGER, stamp TEXT, md5 TEXT)")
        con.execute("INSERT INTO records VALUES ('cats/cats_00.jpg', 1, 'x', 'bogus')")
        con.commit()
        con.close()
    else:
        target.write_bytes(content)
    result = _audit_and_write(root, out)
    assert result.summary["cache"] == {"hits": 0, "misses": 15}
    assert len(result.job.warnings) == 1 and re.search(why, result.job.warnings[0])  # type: ignore[union-attr]
    assert str(target) in result.job.warnings[0]  # type: ignore[union-attr]
    assert comparable(result, drop=()) == comparable(run_audit(root, workers=0), drop=())
    assert _audit(root, out).summary["cache"]["hits"] == 15  # replaced by a good one


def test_cache_of_another_root_or_settings_is_not_trusted(tmp_path: Path) -> None:
    root, other, out = tmp_path / "data", tmp_path / "other", tmp_path / "out"
    make_small_dataset(root)
    make_small_dataset(other)
    _audit_and_write(other, out)
    result = _audit(root, out)
    assert result.summary["cache"]["hits"] == 0
    assert "was written for root=" in result.job.warnings[0]  # type: ignore[union-attr]
    _audit_and_write(root, out)
    assert _audit(root, out, max_pixels=1000).summary["cache"]["hits"] == 0


def test_tampered_rows_fail_the_schema_check(tmp_path: Path) -> None:
    root, out = tmp_path / "data", tmp_path / "out"
    make_small_dataset(root)
    _audit_and_write(root, out)
    con = sqlite3.connect(out / cache.CACHE_NAME)
    con.execute("ALTER TABLE records ADD COLUMN extra TEXT")
    con.commit()
    con.close()
    assert _audit(root, out).summary["cache"]["hits"] == 0


def test_cli_report_first_line_no_cache_and_summary(tmp_path: Path) -> None:
    root, out = tmp_path / "data", tmp_path / "out"
    make_small_dataset(root)
    runner = CliRunner()
    res = runner.invoke(main, ["audit", str(root), "-o", str(out), "-j", "0", "--examples", "0"])
    assert res.exit_code == 0, res.output
    assert "unchanged" not in res.output  # a first audit: nothing to say about the cache
    (root / "dogs/added.jpg").write_bytes(jpeg_bytes(4321))
    res = runner.invoke(main, ["audit", str(root), "-o", str(out), "-j", "0", "--examples", "0"])
    assert res.output.splitlines()[0] == "15 unchanged, 1 inspected"
    assert json.loads((out / "summary.json").read_text())["cache"] == {"hits": 15, "misses": 1}
    bump_mtime(root / "dogs/added.jpg")
    (root / "cats/cats_00.jpg").unlink()
    res = runner.invoke(main, ["audit", str(root), "-o", str(out), "-j", "0", "--examples", "0"])
    assert res.output.splitlines()[0] == "14 unchanged, 1 inspected"
    out2 = tmp_path / "out2"
    res = runner.invoke(main, ["audit", str(root), "-o", str(out2), "-j", "0", "-q", "--no-cache"])
    assert res.exit_code == 0 and not (out2 / cache.CACHE_NAME).exists()
    assert json.loads((out2 / "summary.json").read_text())["cache"] == {"hits": 0, "misses": 15}


def test_corrupt_cache_warning_on_stderr(tmp_path: Path) -> None:
    root, out = tmp_path / "data", tmp_path / "out"
    make_small_dataset(root)
    out.mkdir()
    (out / cache.CACHE_NAME).write_bytes(b"\0" * 200)
    res = subprocess.run([sys.executable, "-m", "dataclean.cli", "audit", str(root), "-o", str(out), "-j", "0", "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr.startswith(f"Warning: cache {out / cache.CACHE_NAME}") and "ignored" in res.stderr
    assert "Traceback" not in res.stderr


def test_audit_without_dask_engine_never_imports_dask(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_small_dataset(root)
    code = ("import sys; from dataclean.cli import main\n"
            "try:\n    main(['audit', sys.argv[1], '-o', sys.argv[2], '-j', '1', '-q'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'fsspec', 's3fs'))\n"
            "print(bad)")
    res = subprocess.run([sys.executable, "-c", code, str(root), str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_fully_cached_audit_loads_no_decoder_and_starts_no_pool(tmp_path: Path) -> None:
    """An unchanged re-audit reads nothing: Pillow, the decoding module and the worker pool stay
    unimported (their imports were a tenth of such an audit's time), and its outputs equal the first's."""
    root, out = tmp_path / "data", tmp_path / "out"
    files = make_small_dataset(root)
    code = ("import sys; from dataclean.cli import main\n"
            "try:\n    main(['audit', sys.argv[1], '-o', sys.argv[2], '-j', '2', '-q'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "bad = ('PIL', 'dataclean.inspect', 'dataclean.hashing', 'dataclean.pool', 'concurrent.futures.process')\n"
            "print(sorted(m for m in sys.modules if m in bad or m.split('.')[0] in bad))")
    first = subprocess.run([sys.executable, "-c", code, str(root), str(out)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "PIL" in first.stdout and "dataclean.pool" in first.stdout  # the first audit decodes
    manifest = (out / "manifest.csv").read_bytes()
    again = subprocess.run([sys.executable, "-c", code, str(root), str(out)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((out / "summary.json").read_text())["cache"] == {"hits": len(files), "misses": 0}
    assert (out / "manifest.csv").read_bytes() == manifest


@pytest.mark.parametrize("items, expected", [
    (["anon=true"], {"anon": True}),
    (["endpoint_url=http://127.0.0.1:9000"], {"endpoint_url": "http://127.0.0.1:9000"}),
    (["client_kwargs={\"region_name\": \"eu-west-1\"}", "n=3"], {"client_kwargs": {"region_name": "eu-west-1"}, "n": 3}),
    (["key=a=b"], {"key": "a=b"}),
], ids=["bool", "url", "json-object", "equals-in-value"])
def test_parse_storage_options(items: list[str], expected: dict[str, object]) -> None:
    assert parse_storage_options(items) == expected


def test_storage_option_without_equals_is_a_one_line_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["audit", str(tmp_path), "--storage-option", "anon"])
    assert res.exit_code == 2 and "Error: --storage-option expects KEY=VALUE, got 'anon'" in res.output


def test_storage_option_on_a_local_folder_is_refused(tmp_path: Path) -> None:
    make_small_dataset(tmp_path / "data")
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "data"), "-o", str(tmp_path / "o"), "--storage-option", "anon=true"])
    assert res.exit_code == 2 and "applies to URLs" in res.output and not (tmp_path / "o").exists()
