"""The audit's HTML page: one self-contained document built from an audit folder's outputs.

Structure: a header (dataset, counts, verdict), the checks table, the classes chart, dataset
statistics, then one collapsible section per check holding a gallery of cards (or, for duplicate
clusters, groups of cards side by side), and a review bar. Everything user-provided (file and class
names, details) is escaped here; the inline script only reads ``data-*`` attributes and JSON blocks
and builds nothing from markup, and a Content-Security-Policy allows exactly the page's own inline
style and script (by hash) and ``data:`` images: nothing can be fetched from anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from dataclean import __version__
from dataclean.htmlreport import charts
from dataclean.htmlreport.data import GROUP_CHECKS, LABEL_CHECKS, AuditData, Issue, to_float
from dataclean.htmlreport.escape import attr, script_json, text

DEFAULT_MAX_PER_CHECK = 200
SPLIT_ORDER = ("train", "val", "test", "")


@dataclass
class Entry:
    """One item of a check's gallery: a single card, or a group of cards shown together."""

    paths: list[str]
    details: dict[str, str]  # path -> what tripped the check for this file
    group: str = ""


@dataclass
class Section:
    check: str
    info: dict[str, Any]
    entries: list[Entry] = field(default_factory=list)
    dataset_level: list[str] = field(default_factory=list)  # details of findings without a file
    files: int = 0  # files the check flagged
    hidden: int = 0  # flagged files beyond the cap (not shown; listed in issues.csv)

    @property
    def shown_paths(self) -> list[str]:
        return [p for e in self.entries for p in e.paths]


def plan_sections(data: AuditData, max_per_check: int = DEFAULT_MAX_PER_CHECK) -> list[Section]:
    """Which findings each check's section shows, at most ``max_per_check`` files per check."""
    by_check: dict[str, list[Issue]] = {}
    for issue in data.issues:
        by_check.setdefault(issue.check, []).append(issue)
    groups = data.column("group")
    members: dict[str, list[str]] = {}
    for row, gid in zip(data.rows, groups):
        if gid:
            members.setdefault(gid, []).append(row["path"])
    sections = []
    for name in data.check_names():
        found = by_check.get(name, [])
        section = Section(name, data.check_info(name))
        details: dict[str, list[str]] = {}
        for issue in found:
            if not issue.path:
                section.dataset_level.append(issue.detail)
            elif issue.detail not in details.setdefault(issue.path, []):
                details[issue.path].append(issue.detail)
        joined = {p: "; ".join(d) for p, d in details.items()}
        section.files = len(joined)
        entries: list[Entry] = []
        if name in GROUP_CHECKS:
            seen: set[str] = set()
            for issue in found:
                gid = issue.group or data.row(issue.path).get("group", "")
                if not issue.path or issue.path in seen:
                    continue
                paths = sorted(set(members.get(gid, [])) | {p for p in joined if data.row(p).get("group") == gid}) \
                    if gid else [issue.path]
                paths = paths or [issue.path]
                seen.update(paths)
                entries.append(Entry(paths, {p: joined.get(p, "") for p in paths}, gid))
        else:
            entries = [Entry([p], {p: d}) for p, d in joined.items()]
        shown = 0
        for entry in entries:
            if shown and shown + len(entry.paths) > max_per_check:
                break
            if max_per_check <= 0:
                break
            section.entries.append(entry)
            shown += len(entry.paths)
        flagged_shown = len({p for p in section.shown_paths if p in joined})
        section.hidden = len(joined) - flagged_shown
        sections.append(section)
    return sections


def thumbnail_paths(data: AuditData, sections: list[Section]) -> list[str]:
    """Files shown in any section that may have a picture (not broken), each once, in page order."""
    out: dict[str, None] = {}
    for s in sections:
        for p in s.shown_paths:
            if not data.row(p).get("error"):
                out.setdefault(p, None)
    return list(out)


# --- the page ---------------------------------------------------------------------------------

def _asset(name: str) -> str:
    return resources.files("dataclean.htmlreport").joinpath(name).read_text(encoding="utf-8")


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def csp(style: str, script: str) -> str:
    """Only this page's own inline style and script (by hash) and data: images; nothing else at all."""
    scripts = _sha256(script) if script else "'none'"
    return (f"default-src 'none'; img-src data:; style-src {_sha256(style)}; script-src {scripts}; "
            "base-uri 'none'; form-action 'none'")


def document(title: str, body: str, data_blocks: dict[str, Any], script: str | None = None) -> str:
    """A complete HTML document with the inline CSS (and script: the audit page's by default, none
    when ``script`` is empty), its CSP, and JSON data blocks."""
    style = _asset("report.css")
    script = _asset("report.js") if script is None else script
    blocks = "".join(f'<script type="application/json" id="{attr(k)}">{script_json(v)}</script>'
                     for k, v in data_blocks.items())
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{attr(csp(style, script))}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="dataclean {attr(__version__)}">'
            f"<title>{text(title)}</title><style>{style}</style></head>\n<body>\n{body}\n{blocks}"
            + (f"<script>{script}</script>" if script else "") + "</body></html>\n")


def render_audit(data: AuditData, sections: list[Section], thumbs: dict[str, str | None]) -> str:
    """The whole audit page. ``thumbs``: path -> data URI (or None) for the files shown."""
    uris: list[str] = []
    index: dict[str, int] = {}
    for path, uri in thumbs.items():
        if uri:
            index[path] = len(uris)
            uris.append(uri)
    root = str(data.summary.get("root", ""))
    body = [_header(data, sections), _toolbar(data, sections), _checks_table(data, sections),
            _classes(data), _stats(data)]
    body += [_section(data, s, index) for s in sections]
    body.append(_review_bar())
    meta = {"classes": data.classes, "root": root}
    return document(f"dataclean audit: {root}", "\n".join(body), {"thumbs": uris, "meta": meta})


def verdict(data: AuditData, sections: list[Section]) -> str:
    """One line: how many files have issues, what the default policy would do, the error checks that fired."""
    issues = data.column("issues")
    actions = data.column("action")
    flagged = sum(1 for i in issues if i) or sum(1 for r in data.rows if r.get("error"))
    errors = [s for s in sections if s.info.get("severity") == "error" and (s.files or s.dataset_level)]
    if not flagged and not any(s.dataset_level for s in sections):
        return "No issues found: every file passed every check."
    parts = [f"{flagged} of {len(data.rows)} files have issues"]
    if any(actions):
        parts.append(f"the default fix policy keeps {actions.count('keep')}, drops {actions.count('drop')} "
                     f"and holds {actions.count('review')} for review")
    line = "; ".join(parts) + "."
    if errors:
        line += " Errors: " + ", ".join(f"{s.check} ({s.files or len(s.dataset_level)})" for s in errors) + "."
    return line


def _header(data: AuditData, sections: list[Section]) -> str:
    s = data.summary
    n = len(data.rows)
    decoded = s.get("decoded", sum(1 for r in data.rows if r.get("phash") and not r.get("error")))
    n_classes = len(data.classes)
    groups = s.get("groups", len({g for g in data.column("group") if g}))
    layout = "flat folder, no classes" if not n_classes else f"{n_classes} classes"
    splits = " (split folders: " + ", ".join(sp for sp in SPLIT_ORDER if sp and sp in set(data.column("given_split"))) \
        + ")" if data.has_splits else ""
    created = f" · audited {text(s['created'])}" if s.get("created") else ""
    version = f" with dataclean {text(s['version'])}" if s.get("version") else ""
    return (f'<header><h1>dataclean audit <span class="root">{text(s.get("root", ""))}</span></h1>'
            f'<p class="counts">{n} files, {decoded} decoded, {layout}{text(splits)}, {groups} duplicate groups'
            f'{created}{version}</p><p class="verdict" id="verdict">{text(verdict(data, sections))}</p></header>')


def _toolbar(data: AuditData, sections: list[Section]) -> str:
    classes = "".join(f'<option value="{attr(c)}">{text(c)}</option>' for c in data.classes)
    checks = "".join(f'<option value="{attr(s.check)}">{text(s.check)}</option>' for s in sections if s.entries)
    return ('<nav class="toolbar"><input type="search" id="search" placeholder="filter by path" aria-label="filter by path">'
            f'<select id="class-filter" aria-label="class"><option value="">all classes</option>{classes}</select>'
            f'<select id="check-filter" aria-label="check"><option value="">all checks</option>{checks}</select>'
            '<button type="button" id="collapse-all">collapse all</button>'
            '<button type="button" id="expand-all">expand all</button>'
            '<span id="shown" class="muted"></span></nav>')


def _checks_table(data: AuditData, sections: list[Section]) -> str:
    rows = []
    for s in sections:
        sev = str(s.info.get("severity", ""))
        if s.info.get("skipped"):
            count, example = "-", f"skipped: {s.info['skipped']}"
        else:
            count = str(s.files) if s.files else str(len(s.dataset_level))
            first = next((e for e in s.entries), None)
            if s.dataset_level:
                example = s.dataset_level[0]
            elif first:
                p = first.paths[0] if first.details.get(first.paths[0]) else next(
                    (q for q in first.paths if first.details.get(q)), first.paths[0])
                example = f"{p}: {first.details.get(p, '')}"
            else:
                example = ""
        fired = "fired" if count not in ("0", "-") else "quiet"
        link = f'<a href="#check-{attr(s.check)}">{text(s.check)}</a>' if fired == "fired" else text(s.check)
        rows.append(f'<tr class="{fired} sev-{attr(sev)}"><td>{link}</td><td>{text(sev)}</td>'
                    f'<td class="num">{text(count)}</td><td class="example">{text(example)}</td></tr>')
    return ('<section id="checks"><h2>Checks</h2><table class="checks"><thead><tr><th>check</th><th>severity</th>'
            f'<th>files</th><th>first example</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _classes(data: AuditData) -> str:
    labels, splits = data.column("label"), data.column("given_split")
    counts: dict[str, dict[str, int]] = {}
    for lbl, sp in zip(labels, splits):
        if lbl:
            by = counts.setdefault(lbl, {})
            by[sp] = by.get(sp, 0) + 1
    order = [sp for sp in SPLIT_ORDER if any(sp in c for c in counts.values())]
    order += sorted({sp for c in counts.values() for sp in c} - set(order))
    title = "Classes (files per class" + (", per split)" if data.has_splits else ")")
    ratio = to_float(data.summary.get("imbalance_ratio"))
    caption = f'<p class="muted">largest / smallest class: {ratio:.1f}x (decoded)</p>' if ratio else ""
    return (f'<section id="classes"><h2>{text(title)}</h2>{charts.class_bars(dict(sorted(counts.items())), order)}'
            f"{caption}</section>")


def _stats(data: AuditData) -> str:
    ok = [r for r in data.rows if not r.get("error")]
    bright = [x for x in (to_float(r.get("brightness")) for r in ok) if x is not None]
    contrast = [x for x in (to_float(r.get("contrast")) for r in ok) if x is not None]
    sizes = [(w, h) for w, h in ((to_float(r.get("width")), to_float(r.get("height"))) for r in ok)
             if w is not None and h is not None]
    b_thr = [(data.param("dark", "max_brightness", 0.13), "dark below"),
             (data.param("bright", "min_brightness", 0.86), "bright above")]
    c_thr = [(data.param("low_contrast", "min_contrast", 0.03), "low contrast below")]
    c_hi = max([0.5, *contrast])
    parts = [charts.histogram(bright, 0.0, 1.0, "brightness (mean luminance)", b_thr),
             charts.histogram(contrast, 0.0, c_hi, "contrast (RMS of luminance)", c_thr),
             charts.size_scatter(sizes, data.param("resolution", "min_side", 32))]
    return f'<section id="stats"><h2>Dataset statistics</h2><div class="charts">{"".join(parts)}</div></section>'


def _section(data: AuditData, s: Section, thumbs: dict[str, int]) -> str:
    sev = str(s.info.get("severity", "info"))
    if s.info.get("skipped"):
        status = f"skipped: {s.info['skipped']}"
    elif s.files:
        status = f"{s.files} file{'s' if s.files != 1 else ''}"
    elif s.dataset_level:
        status = f"{len(s.dataset_level)} finding{'s' if len(s.dataset_level) != 1 else ''}"
    else:
        status = "nothing found"
    is_open = " open" if s.entries or s.dataset_level else ""
    out = [f'<details class="check sev-{attr(sev)}" id="check-{attr(s.check)}" data-check="{attr(s.check)}"{is_open}>'
           f'<summary><span class="name">{text(s.check)}</span> <span class="sev">{text(sev)}</span> '
           f'<span class="status">{text(status)}</span></summary>']
    if s.info.get("description"):
        out.append(f'<p class="desc">{text(s.info["description"])}</p>')
    for d in s.dataset_level:
        out.append(f'<p class="dataset-finding">{text(d)}</p>')
    grouped = s.check in GROUP_CHECKS
    out.append('<div class="gallery">')
    for e in s.entries:
        cards = "".join(_card(data, p, e.details.get(p, ""), s.check, thumbs) for p in e.paths)
        if grouped and (len(e.paths) > 1 or e.group):
            out.append(f'<div class="group" data-group="{attr(e.group)}"><div class="group-head">group {text(e.group)} · '
                       f'{len(e.paths)} files</div><div class="members">{cards}</div></div>')
        else:
            out.append(cards)
    out.append("</div>")
    if s.hidden:
        out.append(f'<p class="more">… and {s.hidden} more file{"s" if s.hidden != 1 else ""} in issues.csv '
                   f"(at most {len(s.shown_paths)} shown; raise --max-per-check to see more)</p>")
    out.append("</details>")
    return "".join(out)


def _card(data: AuditData, path: str, detail: str, check: str, thumbs: dict[str, int]) -> str:
    row = data.row(path)
    label, action = row.get("label", ""), row.get("action", "") or "keep"
    issues = [c for c in row.get("issues", "").split(";") if c]
    error = row.get("error", "")
    if path in thumbs:
        w, h = to_float(row.get("width")), to_float(row.get("height"))
        size = f' title="{int(w)}x{int(h)}"' if w and h else ""
        picture = f'<img class="thumb" data-t="{thumbs[path]}" alt="{attr(path)}"{size}>'
    else:
        why = f"{error}: {row.get('error_detail', '')}" if error else "no preview"
        picture = f'<div class="nothumb">{text(why)}</div>'
    split = row.get("given_split", "")
    badges = [f'<span class="label">{text(label or "(no label)")}</span>']
    if split:
        badges.append(f'<span class="split">{text(split)}</span>')
    reason = row.get("reason", "")
    kept = action == "keep" and reason.startswith("kept from group")
    policy = "policy keeps" if kept or action == "keep" else "policy drops" if action == "drop" else "held for review"
    relabel = ""
    if check in LABEL_CHECKS or any(c in LABEL_CHECKS for c in issues):
        options = "".join(f'<option value="{attr(c)}">{text(c)}</option>' for c in data.classes if c != label)
        relabel = f'<select class="relabel" aria-label="relabel"><option value="">relabel…</option>{options}</select>'
    # a broken file cannot be trained on: the review offers only drop (fix refuses to keep it too)
    keep = "" if error else '<button type="button" data-act="keep">keep</button>'
    return (f'<div class="card proposed-{attr(action)}{" keeper" if kept else ""}" data-path="{attr(path)}" '
            f'data-label="{attr(label)}" data-checks="{attr(" ".join(issues))}" data-proposed="{attr(action)}">'
            f'{picture}<div class="path" title="{attr(path)}">{text(path)}</div>'
            f'<div class="badges">{"".join(badges)}<span class="policy" title="{attr(reason)}">{text(policy)}</span></div>'
            f'<div class="detail" title="{attr(detail)}">{text(short_detail(detail))}</div>'
            f'<div class="review">{keep}'
            f'<button type="button" data-act="drop">drop</button>{relabel}</div></div>')


_NEAR = re.compile(r"phash distance (\d+) to (.+?)( \(mirrored\))?, similarity ([\d.]+)$")


def short_detail(detail: str) -> str:
    """A card's detail with near-duplicate pairs put score first: "distance 3, similarity 0.99 to x.jpg"
    (the full text stays in the card's tooltip)."""
    parts = []
    for part in detail.split("; "):
        m = _NEAR.match(part)
        if m:
            mirrored = " mirrored" if m.group(3) else ""
            parts.append(f"distance {m.group(1)}, similarity {m.group(4)}{mirrored} to {m.group(2).rsplit('/', 1)[-1]}")
        else:
            parts.append(part)
    return "; ".join(parts)


def _review_bar() -> str:
    return ('<footer class="reviewbar"><span id="decision-count">no decisions yet</span>'
            '<button type="button" id="download">download decisions.csv</button>'
            '<button type="button" id="reset">reset</button>'
            '<span class="muted">then: dataclean fix --manifest manifest.csv --decisions decisions.csv</span></footer>')
