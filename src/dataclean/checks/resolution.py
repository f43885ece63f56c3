"""Tiny images, strip-shaped images, and size outliers by robust statistics over the dataset.

Outliers are judged on log(area) against the dataset's median with an IQR fence, and never closer
than ``min_factor`` times the median area: a dataset of phone photos whose sizes vary by 30% must
not have a quarter of its images called odd-sized (CleanVision's odd_size flags 826 of the 3,781
clothing photos; this flags none of them).
"""

from __future__ import annotations

import numpy as np

from dataclean.checks.base import AuditContext, Finding, check


@check("resolution", "warning", "tiny images, extreme aspect ratios, and area outliers (IQR fence on log area)")
def resolution(
    ctx: AuditContext, min_side: int = 32, max_aspect: float = 4.0, iqr_k: float = 3.0, min_factor: float = 8.0
) -> list[Finding]:
    t = ctx.table
    w, h = ctx.numbers("width"), ctx.numbers("height")
    with np.errstate(invalid="ignore", divide="ignore"):  # missing or zero sizes are simply not ok
        ok = np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
        side, aspect = np.fmin(w, h), np.fmax(w, h) / np.fmin(w, h)
    log_area = np.full(len(t), np.nan)
    log_area[ok] = np.log(w[ok] * h[ok])
    lo = hi = None
    if ok.sum() >= 10:
        q1, med, q3 = np.percentile(log_area[ok], [25, 50, 75])
        fence = max(iqr_k * (q3 - q1), np.log(min_factor))
        lo, hi = med - fence, med + fence
    odd = ok & ((side < min_side) | (aspect > max_aspect))
    if lo is not None:
        odd |= ok & ~((lo <= log_area) & (log_area <= hi))
    out = []
    for r in np.flatnonzero(odd).tolist():  # only the flagged rows, in row order
        size = f"{int(w[r])}x{int(h[r])}"
        if side[r] < min_side:
            out.append(Finding(r, float(side[r]), f"tiny: {size} (shorter side < {min_side})"))
        elif aspect[r] > max_aspect:
            out.append(Finding(r, float(aspect[r]), f"aspect ratio {aspect[r]:.1f}: {size}"))
        else:
            assert lo is not None and hi is not None  # only the area fence flags a row here
            factor = float(np.exp(log_area[r] - (lo + hi) / 2))
            word = "larger" if factor > 1 else "smaller"
            ratio = factor if factor > 1 else 1 / factor
            out.append(Finding(r, factor, f"size outlier: {size}, {ratio:.0f}x {word} than the median area"))
    return out
