"""The audit on a hostile corpus: no crash, no hang, bounded memory, and flags exactly the undecodable.

Runs `dataclean audit` on a folder of malformed / crafted / oversized files (default: Pillow's test
images in ../shared/data/pillow), then decodes every file again as a reference: a full-size
`Image.open(...).load()` with Pillow's default settings, each file in its own short-lived process
with a memory cap and a time limit, and every later frame of a multi-frame file (seek + load, as
many as the audit checks). Prints the wall time and peak memory of the audit, and every
disagreement:

- flagged but decodable: the audit called a file broken that the reference decodes;
- missed: the reference cannot decode a file that the audit passed.

`tf_unreadable` (an info check, not an error) marks decodable images TensorFlow cannot read; `too_large`
is our decompression-bomb cap (89,478,485 pixels, where Pillow only errors at twice that). With --tf,
also decodes every decodable file with tf.io.decode_image, to check the tf_unreadable call both ways.

    python benchmarks/hostile_corpus.py [FOLDER] [--tf]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/pillow"
DECODE_ERRORS = {"empty_file", "not_an_image", "truncated", "decode_error", "unreadable", "bad_frame"}


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, resource.RLIM_INFINITY))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)


def _reference(path: str, max_frames: int) -> str:
    """'' when Pillow decodes the file fully with default settings, else the exception's name."""
    import warnings

    from PIL import Image

    signal.alarm(60)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.load()
                for k in range(1, min(getattr(im, "n_frames", 1), max_frames)):
                    im.seek(k)
                    im.load()
        return ""
    except BaseException as exc:  # noqa: BLE001 - any failure means "cannot decode"
        return type(exc).__name__
    finally:
        signal.alarm(0)


def _tf_decodes(paths: list[str]) -> dict[str, str]:
    import tensorflow as tf

    out = {}
    for p in paths:
        try:
            tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False)
            out[p] = ""
        except Exception as exc:  # noqa: BLE001
            out[p] = str(exc).splitlines()[0][:80]
    return out


def main() -> int:
    import pandas as pd  # here, not at the top: every reference process re-imports this module

    from dataclean.inspect import MAX_FRAMES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--tf", action="store_true", help="also check tf_unreadable against tf.io.decode_image")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "dataclean.cli", "audit", str(args.folder), "--out", out, "--quiet"]
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            print(proc.stdout, proc.stderr)
            return 1
        manifest = pd.read_csv(Path(out) / "manifest.csv", dtype=str, keep_default_na=False)
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    print(proc.stdout.strip()[:300])
    print(f"audit: {len(manifest)} files in {wall:.1f} s, exit code {proc.returncode}, "
          f"peak RSS of the largest process {peak_kb / 1024:.0f} MiB")
    paths = [str(Path(r) / p) for r, p in zip(manifest["root"], manifest["path"])]
    with ProcessPoolExecutor(2, initializer=_limit, max_tasks_per_child=1) as ex:
        ref = list(ex.map(partial(_reference, max_frames=MAX_FRAMES), paths, chunksize=1))
    manifest["reference"] = ref
    ours = manifest["error"]
    flagged_ok = manifest[(manifest["reference"] == "") & ours.isin(DECODE_ERRORS)]
    missed = manifest[(manifest["reference"] != "") & ~ours.isin(DECODE_ERRORS | {"too_large"})]
    print(f"reference decodes {int((manifest['reference'] == '').sum())}, fails {int((manifest['reference'] != '').sum())}")
    print(f"audit: {ours.value_counts().to_dict()}")
    print(f"flagged but decodable: {len(flagged_ok)}")
    for _, r in flagged_ok.iterrows():
        print(f"  {r['path']}: {r['error']} {r['error_detail'][:70]}")
    print(f"missed (reference fails, audit passed): {len(missed)}")
    for _, r in missed.iterrows():
        print(f"  {r['path']}: reference {r['reference']}, audit {r['error'] or 'ok'} ({r['format']})")
    big = manifest[(manifest["error"] == "too_large")]
    print(f"too_large (our cap): {len(big)}, of which the reference decodes {int((big['reference'] == '').sum())}")
    if args.tf:
        decoded = manifest[manifest["error"] == ""]
        marked = decoded["issues"].str.split(";").apply(lambda names: "tf_unreadable" in names)
        tf = _tf_decodes([str(Path(r) / p) for r, p in zip(decoded["root"], decoded["path"])])
        fails = [bool(e) for e in tf.values()]
        missed_tf = [(p, e) for (p, e), m in zip(tf.items(), marked) if e and not m]
        wrong_tf = [p for (p, e), m in zip(tf.items(), marked) if m and not e]
        print(f"TensorFlow: {fails.count(False)}/{len(decoded)} decodable files decode with tf.io.decode_image; "
              f"tf_unreadable marks {int(marked.sum())}")
        print(f"TensorFlow fails, not marked tf_unreadable: {len(missed_tf)}")
        for p, e in missed_tf[:20]:
            print(f"  {Path(p).name}: {e}")
        print(f"marked tf_unreadable but TensorFlow decodes: {len(wrong_tf)}")
        for p in wrong_tf[:20]:
            print(f"  {Path(p).name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
