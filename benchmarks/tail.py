"""The audit's work after the last file, stage by stage, on N synthetic rows: does any stage's per-row
cost grow with N?

No image is decoded: the records are built directly (seeded), as the workers would return them, for
a pre-split dataset of class folders (``train/<class>/IMG_1234.JPG``), with the mix of problems a
real folder has: camera-style names, some repeated in other classes (and in other cases), exact and
thumbnail-identical copies across classes and splits, naming problems (wrong extension, non-image and
hidden/system files, stray spaces, control characters, non-UTF-8 names), broken files, dark / bright
/ flat / tiny / strip-shaped / huge images, TIFFs, a --labels file that disagrees on a few files and
an index that lists all but a few (and a few that are not there), so that every check fires.

Each stage is what ``dataclean audit`` does once the records are in (dataclean.audit.finish_audit,
write_outputs, then the CLI's report), timed on its own: the table, the duplicate clusters, every
registered check, the issue column, the fix policy's proposal, the issues table, the summary, writing
manifest/issues/summary, the record cache, and rendering the terminal report. The clusters run with
``near_duplicate.max_distance=0`` (identical pHashes only) so that the near-duplicate search itself
(dataclean.neardup, measured by benchmarks/neardup.py) stays out of the figures.

    python benchmarks/tail.py [--sizes 10000,30000,100000,300000] [--repeat 3]

Prints CPU seconds (time.process_time: the main process's own, so that other work on a shared
machine does not count, nor waiting on fsync) and microseconds per row for each stage and N (best of
--repeat), then the ratio of the per-row cost at the largest N to that at the smallest, and to that
at the next largest. ~1 is linear (n log n sorting reads ~1.1 here); a stage whose per-row cost grows
by more than 1.3x from the next largest N to the largest (and that takes more than 50 ms there) is
marked ``<-``. From 10k to 100k rows even a linear pass costs more per row: the rows stop fitting in
the CPU's caches (32 MiB L3 here), so the last ratio, where both sizes are far out of cache, is the
one that shows a step growing with n.

The same script measures an older checkout (``PYTHONPATH=OLD/src``), for a before/after side by side.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from dataclean import audit as A
from dataclean import cache
from dataclean.checks import AuditContext, ordered_checks
from dataclean.inspect import Record, thumbs_array
from dataclean.layout import IndexEntry, Layout
from dataclean.manifest import MANIFEST_COLUMNS
from dataclean.report import audit_report
from dataclean.scan import ScanResult

SIZES = (4032, 3024), (3024, 4032), (4000, 3000), (1920, 1080), (1080, 1920), (800, 600), (640, 480)
NAMES = ("IMG_{:04d}.JPG", "DSC{:05d}.JPG", "PXL_20230714_{:09d}.jpg", "photo-{}.jpeg", "img_{:04d}.jpg")


def synthetic(n: int, seed: int = 0) -> tuple[ScanResult, list[Record], dict[str, str]]:
    """A scanned dataset of about ``n`` files and their records, and a --labels mapping."""
    rng = np.random.default_rng(seed)
    classes = [f"class_{c:02d}" for c in range(12)]
    weights = np.linspace(3.0, 0.5, len(classes))  # largest / smallest class: 6x
    cls = rng.choice(len(classes), size=n, p=weights / weights.sum())
    split = rng.choice(3, size=n, p=[0.8, 0.1, 0.1])
    kind = rng.random(n)  # what a row is: below 0.012 a naming problem or a broken file, else an image
    style = rng.integers(0, len(NAMES), size=n)
    names = [NAMES[s].format(i) for i, s in enumerate(style.tolist())]
    shared = np.flatnonzero(rng.random(n) < 0.03)  # 3%: the name of another row (in another class, mostly)
    for i, j in zip(shared.tolist(), rng.integers(0, n, size=len(shared)).tolist()):
        names[i] = names[j].lower() if i % 2 else names[j]
    problems = {  # kind below the bound -> name and record
        0.002: lambda i: (f"notes_{i}.txt", "not_an_image", ""),
        0.003: lambda i: (".DS_Store" if i % 3 else f"._IMG_{i:04d}.JPG", "not_an_image", ""),
        0.0035: lambda i: ("Thumbs.db", "not_an_image", ""),
        0.004: lambda i: (f"IMG_{i:04d}.JPG ", "", "JPEG"),
        0.0045: lambda i: (f"IMG\t{i:04d}.JPG", "", "JPEG"),
        0.005: lambda i: (f"IMG_{i:04d}\udcff.JPG", "", "JPEG"),
        0.008: lambda i: (f"IMG_{i:04d}.png", "", "JPEG"),
        0.010: lambda i: (f"scan_{i}.tif", "", "TIFF"),
        0.012: lambda i: (f"IMG_{i:04d}.JPG", "truncated", ""),
    }
    bounds = np.array(list(problems))
    which = np.searchsorted(bounds, kind, side="right")
    makers = list(problems.values())
    splits, kinds = ("train", "validation", "test"), len(makers)
    at: dict[str, tuple[int, str, str, str]] = {}  # path -> row of the draws, error, format, name
    for i in range(n):
        fmt, err, name = "JPEG", "", names[i]
        if which[i] < kinds:
            name, err, fmt = makers[which[i]](i)
        at.setdefault(f"{splits[split[i]]}/{classes[cls[i]]}/{name}", (i, err, fmt, name))  # first of a repeat
    paths = sorted(at)
    phash = rng.integers(0, 2**63, size=n, dtype=np.int64) * 2 + rng.integers(0, 2, size=n)
    mirror = rng.integers(0, 2**63, size=n, dtype=np.int64) * 2 + rng.integers(0, 2, size=n)
    thumbs = rng.integers(0, 256, size=(n, 256), dtype=np.uint8)
    bright = np.clip(rng.normal(0.45, 0.12, n), 0.16, 0.8)
    contrast = np.clip(rng.normal(0.2, 0.05, n), 0.05, 0.4)
    size_at = rng.integers(0, len(SIZES), size=n)
    records = []  # created in path order, as the workers' records arrive: memory follows the rows
    for path in paths:
        i, err, fmt, name = at[path]
        if err:
            records.append(Record(bytes=int(1000 + i % 5000), mtime=1.7e9 + i, md5=f"{i:032x}", error=err,
                                  error_detail="image file is truncated (88 bytes not processed)" if err == "truncated"
                                  else "cannot identify image file"))
            continue
        w, h = SIZES[size_at[i]]
        u = i % 1000  # a few of every kind of outlier
        w, h = (20, 20) if u == 1 else (2000, 300) if u == 2 else (20000, 15000) if u == 3 else (w, h)
        b, c = float(bright[i]), float(contrast[i])
        b, c = (0.05, c) if u == 4 else (0.93, c) if u == 5 else (b, 0.01) if u == 6 else (b, c)
        records.append(Record(
            bytes=int(200_000 + (i * 7919) % 4_000_000), mtime=1.7e9 + i, md5=f"{i:032x}", format=fmt, mode="RGB",
            width=w, height=h, brightness=round(b, 4), contrast=round(c, 4), lum_p01=round(max(b - 2.3 * c, 0.0), 4),
            lum_p99=round(min(b + 2.3 * c, 1.0), 4), phash=f"{int(phash[i]) & (2**64 - 1):016x}",
            phash_mirror=f"{int(mirror[i]) & (2**64 - 1):016x}", tf_reason="TIFF is not decodable by TensorFlow"
            if fmt == "TIFF" else "", thumb=thumbs[i].tobytes()))
    decoded = [r for r, rec in enumerate(records) if rec.phash]
    copies = rng.choice(decoded, size=len(decoded) // 40, replace=False)  # 2.5%: copies of another image
    for r, src in zip(copies.tolist(), rng.choice(decoded, size=len(copies)).tolist()):
        if r != src:
            a, b = records[r], records[src]
            a.phash, a.phash_mirror, a.thumb, a.width, a.height = b.phash, b.phash_mirror, b.thumb, b.width, b.height
            if r % 3:  # two in three byte-identical, the others re-encoded (same pixels, other bytes)
                a.md5, a.bytes = b.md5, b.bytes
    labels = [p.split("/")[1] for p in paths]
    given = [{"train": "train", "validation": "val", "test": "test"}[p.split("/")[0]] for p in paths]
    unlisted = set(paths[5::200])
    missing = [IndexEntry(f"train/{classes[k % 12]}/listed_{k}.JPG", classes[k % 12], "train", f"train.txt line {k}")
               for k in range(len(paths) // 500)]
    layout = Layout(kind="splits", labels=labels, given_splits=given, missing=missing,
                    listed=frozenset(p for p in paths if p not in unlisted) | {e.path for e in missing},
                    index_files=("train.txt",))
    found = ScanResult(root=Path("/data/photos"), paths=paths, labels=labels, unreadable_dirs=[], layout=layout)
    labels_file = {p: (lbl if k % 211 else classes[(classes.index(lbl) + 1) % 12])
                   for k, (p, lbl) in enumerate(zip(paths, labels))}
    return found, records, labels_file


def stages(found: ScanResult, records: list[Record], labels_file: dict[str, str] | None,
           params: dict[str, dict[str, Any]], out: Path, cache_root: str | None = None) -> dict[str, float]:
    """Seconds of each step finish_audit, write_outputs and the CLI's report take once the records are in.

    A check the audit would skip (misplaced without ``labels_file``, unlisted without an index, ...)
    is skipped here too. ``cache_root``: also time writing the record cache for that root.
    """
    steps: dict[str, float] = {}
    clock = time.process_time
    t = clock()

    def lap(name: str) -> None:
        nonlocal t
        now = clock()
        steps[name] = now - t
        t = now

    with _paused():  # as finish_audit runs, until the result is built
        table = A._table(found, records, labels_file)
        pad = [Record()] * (len(table) - len(records))
        ctx = AuditContext(table=table, thumbs=thumbs_array(records + pad), labels_file=labels_file, params=params,
                           layout=found.layout)
        lap("table")
        _ = ctx.clusters
        lap("duplicate clusters")
        findings = {}
        for spec in ordered_checks():  # skipped as the audit skips them (dataclean.audit._run_checks)
            skip = (spec.needs_labels and found.flat) or (spec.name == "misplaced" and labels_file is None) \
                or (spec.applies is not None and spec.applies(ctx))
            findings[spec.name] = [] if skip else spec.run(ctx, params.get(spec.name))
            lap(f"check {spec.name}")
        table["issues"] = A._issue_column(len(table), findings)
        table["group"] = ctx.clusters.group
        lap("issue column")
        A._add_actions(table)
        lap("fix policy proposal")
        manifest = table.select(MANIFEST_COLUMNS)
        issues = A._issues_table(manifest, findings)
        lap("issues table")
        summary = A._summary(manifest, found, findings, {}, ctx, 0, 0, None, {"inspect_s": 0.0, "total_s": 0.0})
        lap("summary")
        result = A.AuditResult(table=manifest, issue_table=issues, summary=summary, findings=findings)
    A.write_outputs(result, out)
    lap("write manifest/issues/summary")
    if cache_root is not None:
        all_records = records + pad
        cache.save(out, cache_root, 0, manifest["path"], [r.bytes for r in all_records],
                   [repr(r.mtime) for r in all_records], all_records)
        lap("write the record cache")
    with open(os.devnull, "w") as sink:
        Console(file=sink, width=120).print(audit_report(result, 3))
    lap("render the report")
    return steps


@contextmanager
def _frozen() -> Iterator[None]:
    """What finish_audit did before dataclean.audit.collector_paused: freeze the heap, keep collecting."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


_paused: Callable[[], AbstractContextManager[None]] = getattr(A, "collector_paused", _frozen)  # older checkouts too


def best_of(repeat: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    passes = [run() for _ in range(repeat)]
    return {name: min(p[name] for p in passes) for name in passes[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,30000,100000,300000", help="comma-separated numbers of rows")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many passes (per stage)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    params = {"near_duplicate": {"max_distance": 0}}
    results: dict[int, dict[str, float]] = {}
    rows: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            found, records, labels_file = synthetic(n, args.seed)
            rows[n] = len(found.paths) + len(found.layout.missing if found.layout else [])
            results[n] = best_of(args.repeat, partial(stages, found, records, labels_file, params, Path(tmp), "/data/photos"))
            del found, records, labels_file
            print(f"n={n}: {rows[n]} rows, tail {sum(results[n].values()):.2f} s", flush=True)
    first, last, prev = sizes[0], sizes[-1], sizes[-2] if len(sizes) > 1 else sizes[0]
    names = list(results[first])
    head = "".join(f"{_k(n) + ' s':>9}" for n in sizes) + "".join(f"{_k(n) + ' us/row':>12}" for n in sizes)
    print(f"\nafter the last file, best of {args.repeat} (CPU seconds, then microseconds per row)")
    print(f"{'stage':30}{head}{f'{_k(last)}/{_k(first)}':>10}{f'{_k(last)}/{_k(prev)}':>10}")
    for name in [*names, "total"]:
        secs = {n: sum(results[n].values()) if name == "total" else results[n][name] for n in sizes}
        per = {n: secs[n] / rows[n] * 1e6 for n in sizes}
        ratios = [per[last] / per[n] if per[n] > 0 else float("nan") for n in (first, prev)]
        mark = "  <-" if ratios[-1] > 1.3 and secs[last] > 0.05 else ""
        print(f"{name:30}" + "".join(f"{secs[n]:9.3f}" for n in sizes) + "".join(f"{per[n]:12.2f}" for n in sizes)
              + "".join(f"{r:10.2f}" for r in ratios) + mark)
    return 0


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


if __name__ == "__main__":
    raise SystemExit(main())
