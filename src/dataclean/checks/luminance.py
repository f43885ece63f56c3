"""Exposure checks on the mean and RMS contrast of luminance (0..1).

Defaults were chosen on 3,781 real garment photos (clothing-dataset-small), whose brightness spans
0.153..0.799 and contrast 0.040..0.399: none of them trips a check, with a margin, while a photo
darkened to a quarter of its brightness, washed out towards white, or flattened to a tenth of its
contrast does (benchmarks/planted_recall.py measures this on real photos).
"""

from __future__ import annotations

import numpy as np

from dataclean.checks.base import AuditContext, Finding, check


def _below_or_above(ctx: AuditContext, column: str, threshold: float, below: bool) -> list[Finding]:
    values = ctx.table[column].to_numpy(dtype=float, na_value=np.nan)
    hit = (values < threshold) if below else (values > threshold)
    return [Finding(int(r), float(values[r]), f"{column} {values[r]:.3f}") for r in np.flatnonzero(hit)]


@check("dark", "info", "mean luminance below max_brightness")
def dark(ctx: AuditContext, max_brightness: float = 0.13) -> list[Finding]:
    return _below_or_above(ctx, "brightness", max_brightness, below=True)


@check("bright", "info", "mean luminance above min_brightness")
def bright(ctx: AuditContext, min_brightness: float = 0.86) -> list[Finding]:
    return _below_or_above(ctx, "brightness", min_brightness, below=False)


@check("low_contrast", "info", "RMS contrast of luminance below min_contrast")
def low_contrast(ctx: AuditContext, min_contrast: float = 0.03) -> list[Finding]:
    return _below_or_above(ctx, "contrast", min_contrast, below=True)
