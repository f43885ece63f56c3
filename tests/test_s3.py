"""Audits of an S3 bucket served by moto (server mode, started by the test, credentials enforced)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dataclean import storage
from dataclean.audit import run_audit, write_outputs
from dataclean.cli import main
from s3_helpers import S3, s3  # noqa: F401 - the fixture
from scale_helpers import comparable, jpeg_bytes, make_small_dataset, summary_core

BUCKET = "photos"


@pytest.fixture(scope="module")
def bucket(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:  # noqa: F811
    """The small dataset, on disk and uploaded under s3://photos/ds (with a hidden folder to skip)."""
    local = tmp_path_factory.mktemp("s3src") / "ds"
    make_small_dataset(local)
    s3.client.create_bucket(Bucket=BUCKET)
    s3.upload_dir(BUCKET, "ds", local)
    s3.upload(BUCKET, "ds", {".git/config": b"[core]\n", "old/quarantine/journal.jsonl": b"{}\n",
                             "old/quarantine/cats/x.jpg": jpeg_bytes(5)})
    return f"s3://{BUCKET}/ds", local


def _run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_listing_is_one_find_with_sizes_and_etags(bucket: tuple[str, Path], s3: S3) -> None:  # noqa: F811
    url, local = bucket
    listing = storage.list_dataset(url, {"endpoint_url": s3.endpoint})
    expected = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert listing.found.paths == expected  # .git/ and the quarantine folder are not data
    assert listing.found.root == url and listing.source.remote
    assert listing.sizes == [(local / p).stat().st_size for p in expected]
    etags = s3.objects(BUCKET)
    assert listing.stamps == [etags[f"ds/{p}"].strip('"') for p in expected]
    assert all(t > 1e9 for t in listing.mtimes or [])


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "pool"])
def test_s3_audit_equals_a_local_audit(bucket: tuple[str, Path], s3: S3, workers: int) -> None:  # noqa: F811
    url, local = bucket
    remote = run_audit(url, workers=workers, storage_options={"endpoint_url": s3.endpoint})
    here = run_audit(local, workers=0)
    assert remote.table["root"] == [url] * len(remote.table)
    assert comparable(remote) == comparable(here)
    assert summary_core(remote) == summary_core(here)
    assert remote.summary["root"] == url


def test_cli_audit_writes_locally_and_never_to_the_bucket(bucket: tuple[str, Path], s3: S3, tmp_path: Path) -> None:  # noqa: F811
    url, _ = bucket
    before = s3.objects(BUCKET)
    out = tmp_path / "out"
    res = _run("audit", url, "-o", str(out), "-j", "2", "--storage-option", f"endpoint_url={s3.endpoint}", "--examples", "0")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text())["cache"] == {"hits": 0, "misses": 15}
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert set(manifest["root"]) == {url} and len(manifest) == 15
    assert s3.objects(BUCKET) == before
    res = _run("fix", "--manifest", str(out / "manifest.csv"), "-q")  # no quarantine: works on a remote manifest
    assert res.exit_code == 0, res.output
    clean = pd.read_csv(out / "clean.csv", keep_default_na=False)
    assert "cats/truncated.jpg" not in set(clean["path"]) and set(clean["root"]) == {url}
    res = _run("fix", "--manifest", str(out / "manifest.csv"), "--quarantine", str(tmp_path / "q"),
               "--out", str(tmp_path / "c.csv"))
    assert res.exit_code == 2
    assert res.output.strip() == (f"Error: --quarantine cannot move files in {url}: remote data is read-only to dataclean "
                                  "(run fix without --quarantine; clean.csv lists what to keep)")
    assert not (tmp_path / "q").exists() and not (tmp_path / "c.csv").exists()
    assert s3.objects(BUCKET) == before


def test_changed_deleted_and_added_objects_are_all_that_is_read(s3: S3, tmp_path: Path) -> None:  # noqa: F811
    s3.client.create_bucket(Bucket="nightly")
    local = tmp_path / "ds"
    files = make_small_dataset(local)
    s3.upload("nightly", "ds", files)
    url, out, opts = "s3://nightly/ds", tmp_path / "out", {"endpoint_url": s3.endpoint}
    first = run_audit(url, workers=0, out_dir=out, storage_options=opts)
    write_outputs(first, out)
    assert first.job is not None
    first.job.release()
    s3.upload("nightly", "ds", {"cats/cats_02.jpg": jpeg_bytes(777), "dogs/new.jpg": jpeg_bytes(778)})
    s3.client.delete_object(Bucket="nightly", Key="ds/dogs/dogs_01.jpg")
    again = run_audit(url, workers=0, out_dir=out, storage_options=opts)
    assert again.job is not None
    again.job.release()
    assert sorted(again.table["path"][i] for i in again.job.misses) == ["cats/cats_02.jpg", "dogs/new.jpg"]
    assert again.summary["cache"] == {"hits": 13, "misses": 2}
    fresh = run_audit(url, workers=0, storage_options=opts, use_cache=False)
    assert comparable(again, drop=()) == comparable(fresh, drop=())
    assert summary_core(again) == summary_core(fresh)


@pytest.mark.parametrize("data, options, message", [
    ("gopher2://host/x", [], "Error: unknown URL scheme gopher2:// in gopher2://host/x (fsspec knows: "),
    ("s3://no-such-bucket/x", [], "Error: dataset not found: s3://no-such-bucket/x"),
    ("s3://photos/nothing-here", [], "Error: no files found under s3://photos/nothing-here"),
    ("s3://photos/ds", ["key=AKIAWRONGWRONGWRONG1", "secret=nope"], "Error: access denied listing s3://photos/ds: "),
], ids=["unknown-scheme", "missing-bucket", "empty-prefix", "bad-credentials"])
def test_bad_inputs_are_one_line_errors_and_write_nothing(bucket: tuple[str, Path], tmp_path: Path, data: str,  # noqa: F811
                                                          options: list[str], message: str) -> None:
    out = tmp_path / "out"
    args = ["audit", data, "-o", str(out), "-j", "0"] + [a for o in options for a in ("--storage-option", o)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith(message) and res.output.count("\n") == 1, res.output
    assert "Traceback" not in res.output and not out.exists()


def test_fetch_copies_each_remote_file_once(bucket: tuple[str, Path], s3: S3, tmp_path: Path) -> None:  # noqa: F811
    url, local = bucket
    rels = ["cats/cats_00.jpg", "dogs/dogs_03.jpg"]
    sizes = [(local / r).stat().st_size for r in rels]
    cache_dir = tmp_path / "cache"
    got = storage.materialize([url, url], rels, sizes, cache_dir)
    assert [Path(g).read_bytes() for g in got] == [(local / r).read_bytes() for r in rels]
    assert got[0] == str(cache_dir / "s3" / BUCKET / "ds" / rels[0])
    stamp = Path(got[0]).stat().st_mtime_ns
    assert storage.materialize([url, url], rels, sizes, cache_dir) == got
    assert Path(got[0]).stat().st_mtime_ns == stamp  # not fetched again
    local_rows = storage.materialize([str(local)], ["cats/cats_00.jpg"], [None], cache_dir)
    assert local_rows == [str(local / "cats/cats_00.jpg")]  # local roots are used where they are


def test_train_data_fetches_a_remote_manifest_into_the_data_cache(bucket: tuple[str, Path], s3: S3,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    from train.data import load_splits

    url, local = bucket
    rows = [(f"{label}/{label}_{i:02d}.jpg", label, split) for label in ("cats", "dogs")
            for i, split in enumerate(["train", "train", "train", "val", "test", "test"])]
    sizes = [(local / r).stat().st_size for r, _, _ in rows]
    manifest = tmp_path / "clean.csv"
    pd.DataFrame({"path": [r for r, _, _ in rows], "root": url, "label": [lbl for _, lbl, _ in rows],
                  "split": [s for _, _, s in rows], "bytes": sizes}).to_csv(manifest, index=False)
    splits = load_splits(manifest, data_cache=tmp_path / "data-cache")
    assert splits.classes == ["cats", "dogs"]
    first = splits.paths["train"][0]
    assert first == str(tmp_path / "data-cache" / "s3" / BUCKET / "ds" / "cats/cats_00.jpg")
    assert Path(first).read_bytes() == (local / "cats/cats_00.jpg").read_bytes()
    assert all(Path(p).is_file() for s in splits.paths.values() for p in s)


def test_summary_json_of_a_remote_audit(bucket: tuple[str, Path], s3: S3, tmp_path: Path) -> None:  # noqa: F811
    url, _ = bucket
    res = _run("audit", url, "-o", str(tmp_path), "-j", "0", "--format", "json")  # endpoint from AWS_ENDPOINT_URL
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["root"] == url and summary["cache"] == {"hits": 0, "misses": 15} and summary["files"] == 15


def test_a_pre_split_bucket_is_laid_out_like_a_local_folder(s3: S3, tmp_path: Path) -> None:  # noqa: F811
    s3.client.create_bucket(Bucket="presplit")
    local = tmp_path / "ds"
    files = {f"{split}/{label}/{label}_{i}.jpg": jpeg_bytes(1000 * s + 100 * c + i)
             for s, split in enumerate(("train", "test")) for c, label in enumerate(("cats", "dogs")) for i in range(3)}
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    s3.upload("presplit", "ds", files)
    remote = run_audit("s3://presplit/ds", workers=0)
    here = run_audit(local, workers=0)
    assert remote.table["given_split"] == here.table["given_split"] == [p.split("/")[0] for p in sorted(files)]
    assert remote.table["label"] == [p.split("/")[1] for p in sorted(files)]
    assert comparable(remote) == comparable(here)
