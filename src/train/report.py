"""A training run's ``report.html``: test metrics, the run's three plots, the per-class report and a
gallery of the misclassified test images, in one self-contained file.

Built from the run folder alone (config.json, metrics.json, errors.csv and the PNG plots), so
``dataclean report RUN_DIR`` rebuilds it for any run. It needs neither TensorFlow nor matplotlib:
the plots are embedded as they were written.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import time
from pathlib import Path
from typing import Any

from dataclean.errors import DatacleanError, first_line
from dataclean.htmlreport import WrittenReport
from dataclean.htmlreport.escape import attr, text
from dataclean.htmlreport.page import document
from dataclean.htmlreport.thumbs import thumbnails
from dataclean.io import atomic_write

PLOTS = (("training_curves.png", "training curves (loss and accuracy per epoch)"),
         ("confusion_matrix.png", "confusion matrix (test split)"),
         ("roc_curves.png", "ROC curves, one vs rest (test split)"))
DEFAULT_MAX_IMAGES = 200


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatacleanError(f"{path} is not valid JSON: {first_line(exc)}") from None
    return value if isinstance(value, dict) else {}


def _errors(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return list(csv.DictReader(fh))


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def render_run_report(run_dir: str | os.PathLike[str], max_images: int = DEFAULT_MAX_IMAGES,
                      workers: int | None = None) -> tuple[str, int]:
    """The run's report page and how many test images it shows."""
    run = Path(run_dir)
    metrics = _json(run / "metrics.json")
    if not metrics:
        raise DatacleanError(f"{run} holds no metrics.json: give the folder `dataclean train --out` wrote")
    config = _json(run / "config.json")
    errors = _errors(run / "errors.csv")
    shown = errors[:max_images]
    uris = thumbnails([e.get("path", "") for e in shown], workers=workers)
    settings = config.get("settings", {})
    counts = config.get("counts", {})
    sizes = ", ".join(f"{s} {sum(counts.get(s, {}).values())}" for s in ("train", "val", "test") if s in counts)
    head = [f"<header><h1>dataclean training run <span class=\"root\">{text(run.name)}</span></h1>",
            f'<p class="counts">{text(settings.get("arch", ""))} {text(settings.get("image_size") or "")}px · '
            f'{text(config.get("mode", ""))} · {len(metrics.get("classes", []))} classes · {text(sizes)}'
            f'{" · " + text(config["duration_s"]) + " s" if config.get("duration_s") is not None else ""}</p>',
            f'<p class="verdict">test accuracy {_num(metrics.get("accuracy"))}, macro F1 {_num(metrics.get("f1_macro"))}'
            f' on {text(metrics.get("test_size", "?"))} held-out images</p></header>']
    body = head + [_metrics_table(metrics), _per_class(metrics), _plots(run), _confused(metrics),
                   _gallery(shown, uris, len(errors))]
    page = document(f"dataclean run: {run.name}", "\n".join(body), {}, script="")
    return page, sum(1 for u in uris if u)


def _metrics_table(m: dict[str, Any]) -> str:
    rows = [("accuracy", m.get("accuracy")), ("top-5 accuracy", m.get("top5_accuracy")),
            ("precision (macro)", m.get("precision_macro")), ("recall (macro)", m.get("recall_macro")),
            ("F1 (macro)", m.get("f1_macro")), ("ROC-AUC (one vs rest, macro)", m.get("roc_auc_ovr_macro"))]
    cells = "".join(f"<tr><td>{text(k)}</td><td>{_num(v)}</td></tr>" for k, v in rows if v is not None)
    return (f'<section id="metrics"><h2>Test metrics</h2><table class="metrics"><tbody>{cells}'
            f'<tr><td>test images</td><td>{text(m.get("test_size", ""))}</td></tr></tbody></table></section>')


def _per_class(m: dict[str, Any]) -> str:
    report, aucs = m.get("classification_report", {}), m.get("roc_auc_per_class", {})
    evaluated = set(m.get("classes_evaluated", m.get("classes", [])))
    rows = []
    for name in m.get("classes", []):
        r = report.get(name, {})
        note = "" if name in evaluated else " (not in test)"
        rows.append(f"<tr><td>{text(name)}{text(note)}</td><td>{_num(r.get('precision'))}</td><td>{_num(r.get('recall'))}</td>"
                    f"<td>{_num(r.get('f1-score'))}</td><td>{int(r.get('support', 0))}</td><td>{_num(aucs.get(name))}</td></tr>")
    return ('<section id="per-class"><h2>Per class (test split)</h2><table class="metrics"><thead><tr><th>class</th>'
            '<th>precision</th><th>recall</th><th>F1</th><th>support</th><th>ROC-AUC</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _plots(run: Path) -> str:
    out = []
    for name, caption in PLOTS:
        p = run / name
        if p.is_file():
            uri = "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")
            out.append(f'<figure><img class="plot" src="{uri}" alt="{attr(caption)}"><figcaption>{text(caption)}'
                       "</figcaption></figure>")
    return f'<section id="plots"><h2>Plots</h2>{"".join(out) or "<p class=muted>no plots in this run</p>"}</section>'


def _confused(m: dict[str, Any]) -> str:
    pairs = m.get("most_confused", [])
    if not pairs:
        return ""
    items = "".join(f"<li>{text(p.get('true'))} → {text(p.get('predicted'))}: {int(p.get('count', 0))}</li>" for p in pairs)
    return f'<section id="confused"><h2>Most confused (true → predicted)</h2><ul>{items}</ul></section>'


def _gallery(shown: list[dict[str, str]], uris: list[str | None], total: int) -> str:
    cards = []
    for e, uri in zip(shown, uris):
        picture = (f'<img class="thumb" src="{uri}" alt="{attr(e.get("path", ""))}">' if uri
                   else '<div class="nothumb">no preview</div>')
        cards.append(f'<div class="card" data-path="{attr(e.get("path", ""))}">{picture}'
                     f'<div class="path">{text(e.get("path", ""))}</div>'
                     f'<div class="badges"><span class="label">true {text(e.get("true", ""))}</span>'
                     f'<span class="predicted">predicted {text(e.get("predicted", ""))}</span></div>'
                     f'<div class="detail">confidence {_num(e.get("confidence"))}, p(true) {_num(e.get("p_true"))}</div></div>')
    more = (f'<p class="more">… and {total - len(shown)} more in errors.csv</p>' if total > len(shown) else "")
    title = f"Misclassified test images ({total}, most confident first)"
    return (f'<section id="errors"><h2>{text(title)}</h2><div class="gallery">{"".join(cards)}</div>{more}'
            "</section>")


def write_run_report(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                     max_images: int = DEFAULT_MAX_IMAGES, workers: int | None = None) -> WrittenReport:
    """Write ``RUN_DIR/report.html`` (or ``out``) from the run's files; return what was written."""
    started = time.perf_counter()
    page, n = render_run_report(run_dir, max_images, workers)
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    data = page.encode("utf-8")
    with atomic_write(target, "wb") as fh:
        fh.write(data)
    return WrittenReport(target, len(data), n, time.perf_counter() - started)
