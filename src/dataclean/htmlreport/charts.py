"""Inline SVG charts for the report: bars per class (stacked by split), histograms with thresholds,
an image-size scatter. Pure functions from numbers to SVG text; every label is escaped.

SVG presentation attributes (fill, width, x, ...) are not styles, so the charts need nothing from the
page's Content-Security-Policy beyond the document itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dataclean.htmlreport.escape import attr, text

SPLIT_COLOURS = {"train": "#4c78a8", "val": "#f58518", "test": "#54a24b", "": "#9d9da1"}
BAR_COLOUR = "#4c78a8"
THRESHOLD_COLOUR = "#d62728"


def class_bars(counts: dict[str, dict[str, int]], splits: Sequence[str]) -> str:
    """Horizontal bars, one per class; ``counts[class][split]`` stacked in ``splits`` order."""
    if not counts:
        return '<p class="muted">no classes</p>'
    names = list(counts)
    label_w = min(260, 12 + 7 * max(len(n) for n in names))
    bar_w, row_h = 420, 20
    total_max = max(sum(c.values()) for c in counts.values()) or 1
    height = row_h * len(names) + (24 if len(splits) > 1 else 6)
    out = [f'<svg class="chart" role="img" width="{label_w + bar_w + 70}" height="{height}" '
           f'viewBox="0 0 {label_w + bar_w + 70} {height}" aria-label="files per class">']
    for k, name in enumerate(names):
        y = k * row_h
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="axis">{text(name)}</text>')
        x = float(label_w)
        for split in splits:
            n = counts[name].get(split, 0)
            if not n:
                continue
            w = bar_w * n / total_max
            tip = f"{name} {split}: {n}" if split else f"{name}: {n}"
            colour = SPLIT_COLOURS.get(split, BAR_COLOUR) if len(splits) > 1 else BAR_COLOUR
            out.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{row_h - 6}" '
                       f'fill="{colour}"><title>{text(tip)}</title></rect>')
            x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + 14}" class="axis">{sum(counts[name].values())}</text>')
    if len(splits) > 1:
        lx, ly = label_w, row_h * len(names) + 16
        for split in splits:
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{SPLIT_COLOURS.get(split, BAR_COLOUR)}"/>'
                       f'<text x="{lx + 14}" y="{ly}" class="axis">{text(split or "no split")}</text>')
            lx += 24 + 8 * len(split or "no split")
    out.append("</svg>")
    return "".join(out)


def histogram(values: Sequence[float], lo: float, hi: float, title: str,
              thresholds: Sequence[tuple[float, str]] = (), bins: int = 40) -> str:
    """A histogram of ``values`` over [lo, hi] with labelled vertical threshold lines."""
    w, h, pad_l, pad_b, pad_t = 360, 150, 36, 22, 18
    counts = [0] * bins
    span = (hi - lo) or 1.0
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / span * bins)))] += 1
    top = max(counts) or 1
    inner_w, inner_h = w - pad_l - 8, h - pad_b - pad_t
    out = [f'<svg class="chart" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" aria-label="{attr(title)}">',
           f'<text x="{pad_l}" y="12" class="title">{text(title)}</text>']
    bw = inner_w / bins
    for k, c in enumerate(counts):
        if c:
            bh = inner_h * c / top
            out.append(f'<rect x="{pad_l + k * bw:.1f}" y="{pad_t + inner_h - bh:.1f}" width="{max(bw - 1, 0.5):.1f}" '
                       f'height="{bh:.1f}" fill="{BAR_COLOUR}"><title>{lo + k * span / bins:.3g}-'
                       f'{lo + (k + 1) * span / bins:.3g}: {c}</title></rect>')
    base = pad_t + inner_h
    out.append(f'<line x1="{pad_l}" y1="{base}" x2="{w - 8}" y2="{base}" stroke="#888"/>')
    for x in (lo, (lo + hi) / 2, hi):
        px = pad_l + inner_w * (x - lo) / span
        out.append(f'<text x="{px:.1f}" y="{h - 6}" text-anchor="middle" class="axis">{x:.3g}</text>')
    out.append(f'<text x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end" class="axis">{top}</text>')
    for value, label in thresholds:
        if lo <= value <= hi:
            px = pad_l + inner_w * (value - lo) / span
            out.append(f'<line class="threshold" x1="{px:.1f}" y1="{pad_t}" x2="{px:.1f}" y2="{base}" '
                       f'stroke="{THRESHOLD_COLOUR}" stroke-dasharray="4 3"><title>{text(label)}</title></line>'
                       + (f'<text x="{px - 3:.1f}" y="{pad_t + 10}" text-anchor="end" class="axis thr">{text(label)}</text>'
                          if px > w / 2 else f'<text x="{px + 3:.1f}" y="{pad_t + 10}" class="axis thr">{text(label)}</text>'))
    out.append("</svg>")
    return "".join(out)


def size_scatter(sizes: Sequence[tuple[float, float]], min_side: float | None, limit: int = 4000) -> str:
    """Width against height on log axes, one dot per distinct size (its count in the tooltip)."""
    w, h, pad = 360, 240, 40
    distinct: dict[tuple[int, int], int] = {}
    for sw, sh in sizes:
        if sw > 0 and sh > 0:
            key = (int(sw), int(sh))
            distinct[key] = distinct.get(key, 0) + 1
    out = [f'<svg class="chart" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" aria-label="image sizes">',
           '<text x="40" y="12" class="title">image size (width x height, log scale)</text>']
    if not distinct:
        out.append('<text x="40" y="40" class="axis">no decoded images</text></svg>')
        return "".join(out)
    lo = math.log2(max(1, min(min(a, b) for a, b in distinct) / 1.5))
    hi = math.log2(max(max(a, b) for a, b in distinct) * 1.5)
    span = (hi - lo) or 1.0

    def px(v: float) -> float:
        return pad + (w - pad - 10) * (math.log2(v) - lo) / span

    def py(v: float) -> float:
        return h - pad + 12 - (h - pad - 10) * (math.log2(v) - lo) / span

    for (sw, sh), c in sorted(distinct.items(), key=lambda kv: -kv[1])[:limit]:
        r = min(6.0, 1.8 + math.log10(c))
        out.append(f'<circle cx="{px(sw):.1f}" cy="{py(sh):.1f}" r="{r:.1f}" fill="{BAR_COLOUR}" fill-opacity="0.6">'
                   f'<title>{sw}x{sh}: {c}</title></circle>')
    for v in sorted({2 ** round(lo), 2 ** round((lo + hi) / 2), 2 ** round(hi)}):
        if 2**lo <= v <= 2**hi:
            out.append(f'<text x="{px(v):.1f}" y="{h - 14}" text-anchor="middle" class="axis">{v}</text>'
                       f'<text x="{pad - 4}" y="{py(v) + 4:.1f}" text-anchor="end" class="axis">{v}</text>')
    if min_side and 2**lo < min_side < 2**hi:
        x, y = px(min_side), py(min_side)
        out.append(f'<line class="threshold" x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{h - pad + 12}" stroke="{THRESHOLD_COLOUR}" '
                   f'stroke-dasharray="4 3"/><line class="threshold" x1="{pad}" y1="{y:.1f}" x2="{w - 10}" y2="{y:.1f}" '
                   f'stroke="{THRESHOLD_COLOUR}" stroke-dasharray="4 3"/>'
                   f'<text x="{x + 3:.1f}" y="24" class="axis thr">min side {min_side:g}</text>')
    out.append("</svg>")
    return "".join(out)
