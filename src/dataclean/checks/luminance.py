"""Exposure checks on the mean and RMS contrast of luminance (0..1).

A dark image is one with a low mean *or* no highlights (99th percentile low); a washed-out one has
a high mean *or* no shadows (1st percentile high): the percentiles catch a darkened bright photo that
a mean threshold would confuse with a naturally dark one.

Defaults were chosen on 3,781 real garment photos (clothing-dataset-small): their brightness spans
0.153..0.799, contrast 0.040..0.399, 99th percentile >= 0.408, 1st percentile <= 0.573, so none of
them trips a check, with a margin; photos darkened to a quarter (99th percentile <= 0.247), blended
80% towards white (1st percentile >= 0.80) or flattened to a tenth of their contrast do
(benchmarks/planted_recall.py measures this on real photos).
"""

from __future__ import annotations

import numpy as np

from dataclean.checks.base import AuditContext, Finding, check


def _flag(ctx: AuditContext, hit: np.ndarray, score: str, detail: str) -> list[Finding]:
    """Findings for the ``hit`` rows, scored by column ``score``; ``detail`` formats any luminance column."""
    cols = {name: ctx.numbers(name) for name in ("brightness", "contrast", "lum_p01", "lum_p99")}
    return [Finding(int(r), float(cols[score][r]), detail.format(**{k: v[r] for k, v in cols.items()}))
            for r in np.flatnonzero(hit)]


@check("dark", "info", "mean luminance below max_brightness, or no highlights (99th percentile below max_highlight)")
def dark(ctx: AuditContext, max_brightness: float = 0.13, max_highlight: float = 0.33) -> list[Finding]:
    hit = (ctx.numbers("brightness") < max_brightness) | (ctx.numbers("lum_p99") < max_highlight)
    return _flag(ctx, hit, "brightness", "brightness {brightness:.3f}, 99th percentile {lum_p99:.3f}")


@check("bright", "info", "mean luminance above min_brightness, or no shadows (1st percentile above min_shadow)")
def bright(ctx: AuditContext, min_brightness: float = 0.86, min_shadow: float = 0.70) -> list[Finding]:
    hit = (ctx.numbers("brightness") > min_brightness) | (ctx.numbers("lum_p01") > min_shadow)
    return _flag(ctx, hit, "brightness", "brightness {brightness:.3f}, 1st percentile {lum_p01:.3f}")


@check("low_contrast", "info", "RMS contrast of luminance below min_contrast")
def low_contrast(ctx: AuditContext, min_contrast: float = 0.03) -> list[Finding]:
    return _flag(ctx, ctx.numbers("contrast") < min_contrast, "contrast", "contrast {contrast:.3f}")
