"""Helpers for the fix tests: tiny real PNGs and a manifest that follows the audit's contract."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from dataclean.manifest import MANIFEST_COLUMNS


def write_png(path: Path, shade: int, size: tuple[int, int] = (8, 8)) -> None:
    """A solid grey PNG; the same shade and size always give the same bytes (an exact duplicate)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, color=shade).save(path, format="PNG")


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def row(path: str, shade: int = 0, size: tuple[int, int] = (8, 8), issues: str = "", group: str = "",
        error: str = "", raw: bytes | None = None, **extra: Any) -> dict[str, Any]:
    """One file spec for ``make_manifest``: ``raw`` writes those bytes instead of a PNG (a broken file)."""
    return {"path": path, "shade": shade, "size": size, "issues": issues, "group": group,
            "error": error, "raw": raw, **extra}


def make_manifest(root: Path, specs: list[dict[str, Any]], manifest: Path | None = None) -> Path:
    """Write each spec's file under ``root`` and a manifest describing them; return its path.

    Broken files (``error`` set) keep their real bytes/mtime/md5 and get empty format/mode/width/height,
    as the audit writes them.
    """
    records = []
    for spec in specs:
        file = root / spec["path"]
        if spec["raw"] is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(spec["raw"])
        else:
            write_png(file, spec["shade"], spec["size"])
        broken = bool(spec["error"]) and spec["error"] != "tf_unsupported"
        st = os.stat(file)
        rec: dict[str, Any] = {c: "" for c in MANIFEST_COLUMNS}
        parts = spec["path"].split("/")
        rec.update(
            path=spec["path"], root=str(root), label=parts[0] if len(parts) > 1 else "",
            bytes=st.st_size, mtime=st.st_mtime, md5=md5_of(file), format="" if broken else "PNG",
            mode="" if broken else "L", width="" if broken else spec["size"][0],
            height="" if broken else spec["size"][1], error=spec["error"], issues=spec["issues"],
            group=spec["group"], action="keep", reason="")
        rec.update({k: v for k, v in spec.items() if k not in {"shade", "size", "raw"} and k not in rec or k == "expected_label"})
        records.append(rec)
    out = manifest or root.parent / "audit" / "manifest.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(records).to_csv(out, index=False)
    return out


def frame(specs: list[dict[str, Any]]) -> pd.DataFrame:
    """A manifest-shaped DataFrame without files (for the pure policy and split functions)."""
    records = []
    for spec in specs:
        parts = spec["path"].split("/")
        w, h = spec["size"]
        records.append({
            "path": spec["path"], "root": "/data", "label": spec.get("label", parts[0] if len(parts) > 1 else ""),
            "bytes": spec.get("bytes", 100), "md5": spec.get("md5", hashlib.md5(spec["path"].encode()).hexdigest()),
            "width": w, "height": h, "error": spec["error"], "issues": spec["issues"], "group": spec["group"],
            "expected_label": spec.get("expected_label", ""), "action": "keep", "reason": ""})
    return pd.DataFrame(records)
