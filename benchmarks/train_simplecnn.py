"""`dataclean train --arch simplecnn` on a real two-class photo set: test accuracy and wall time on this CPU.

Builds a clean manifest for two classes of the clothing dataset with its given split (train /
validation / test folders; the images are read in place, nothing is copied or written there), runs
the real `dataclean train` command in a subprocess, and prints the test accuracy, the wall time and
the training throughput from the run's own files.

    python benchmarks/train_simplecnn.py                       # t-shirt vs pants, 20 epochs, 128 px
    python benchmarks/train_simplecnn.py --classes shoes,t-shirt --epochs 15 --image-size 96

Target (issue 17): >= 0.75 test accuracy within 20 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from PIL import Image

DATA = Path("/work/shared/data/clothing-dataset-small")
SPLITS = {"train": "train", "validation": "val", "test": "test"}


def build_manifest(data: Path, classes: list[str], out: Path) -> tuple[Path, dict[str, int]]:
    """A clean manifest (path, root, label, split, format, mode, width, height) of ``classes`` as given."""
    rows = []
    for folder, split in SPLITS.items():
        for label in classes:
            for f in sorted((data / folder / label).iterdir()):
                with Image.open(f) as img:
                    rows.append({"path": f"{folder}/{label}/{f.name}", "root": str(data), "label": label, "split": split,
                                 "format": img.format, "mode": img.mode, "width": img.width, "height": img.height,
                                 "error": "", "issues": ""})
    df = pd.DataFrame(rows)
    path = out / "clean.csv"
    df.to_csv(path, index=False)
    return path, df["split"].value_counts().to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="clothing-dataset-small (train/validation/test/<class>/)")
    ap.add_argument("--classes", default="t-shirt,pants", help="two (or more) class folders, comma-separated")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--work", type=Path, default=None, help="folder for the manifest and the run [default: a temp dir]")
    args = ap.parse_args()

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="simplecnn-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    manifest, counts = build_manifest(args.data, classes, work)
    run = work / "run"
    cmd = [sys.executable, "-c", "from dataclean.cli import run; run()", "train", "--manifest", str(manifest),
           "--arch", "simplecnn", "--image-size", str(args.image_size), "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--patience", str(args.patience), "--out", str(run), "--overwrite"]
    shown = "dataclean " + shlex.join(cmd[3:])
    print(f"classes {classes}: train/val/test = {counts.get('train', 0)}/{counts.get('val', 0)}/{counts.get('test', 0)} "
          f"photos; {os.cpu_count()} CPU cores (shared: other processes may be running)")
    print(f"$ {shown}", flush=True)
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(proc.stdout)
    if proc.returncode:
        sys.exit(f"train failed with exit code {proc.returncode}")
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    history = pd.read_csv(run / "history.csv")
    epochs_run = int(config["epochs_run"]["from_scratch"])
    train_n = counts.get("train", 0)
    print(f"test accuracy {metrics['accuracy']:.3f} on {metrics['test_size']} test photos "
          f"(macro F1 {metrics['f1_macro']:.3f}, ROC-AUC {metrics['roc_auc_ovr_macro']:.3f})")
    print(f"best val_loss at epoch {int(history['val_loss'].idxmin()) + 1} of {epochs_run}; "
          f"wall {wall / 60:.1f} min for the whole command (start-up, decode, {epochs_run} epochs, evaluation, plots); "
          f"training ~{train_n * epochs_run / config['duration_s']:.0f} train images/s over the run")
    print(f"CPU time {cpu / 60:.1f} min (user+sys of the train process): {cpu / wall / (os.cpu_count() or 1):.0%} of the "
          f"machine's {os.cpu_count()} cores over the wall time; alone on 2 cores it would take about "
          f"{cpu / 2 / 60:.1f} min if it kept both busy")
    print(f"model.keras {(run / 'model.keras').stat().st_size / 1e6:.1f} MB; run folder {run}")


if __name__ == "__main__":
    main()
