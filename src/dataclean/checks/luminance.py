"""Exposure checks on the mean and RMS contrast of luminance (0..1).

Defaults were chosen on 3,781 real garment photos (clothing-dataset-small): none of them trips a
check, while a photo darkened to a quarter of its brightness, brightened to a washed-out white, or
flattened to a tenth of its contrast does (see tests/test_checks.py and README).
"""

from __future__ import annotations

import numpy as np

from dataclean.checks.base import AuditContext, Finding, check


def _below_or_above(ctx: AuditContext, column: str, threshold: float, below: bool) -> list[Finding]:
    values = ctx.table[column].to_numpy(dtype=float, na_value=np.nan)
    hit = (values < threshold) if below else (values > threshold)
    return [Finding(int(r), float(values[r]), f"{column} {values[r]:.3f}") for r in np.flatnonzero(hit)]


@check("dark", "info", "mean luminance below max_brightness")
def dark(ctx: AuditContext, max_brightness: float = 0.10) -> list[Finding]:
    return _below_or_above(ctx, "brightness", max_brightness, below=True)


@check("bright", "info", "mean luminance above min_brightness")
def bright(ctx: AuditContext, min_brightness: float = 0.92) -> list[Finding]:
    return _below_or_above(ctx, "brightness", min_brightness, below=False)


@check("low_contrast", "info", "RMS contrast of luminance below min_contrast")
def low_contrast(ctx: AuditContext, min_contrast: float = 0.04) -> list[Finding]:
    return _below_or_above(ctx, "contrast", min_contrast, below=True)
