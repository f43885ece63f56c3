"""Test-split evaluation: sklearn metrics from predicted probabilities. No TensorFlow import needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text
from sklearn import metrics as skm


@dataclass
class Evaluation:
    """Metrics (JSON-ready), the probabilities they came from, and the misclassified files."""

    metrics: dict[str, Any]
    probabilities: np.ndarray
    errors: pd.DataFrame


def per_class_auc(y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict[str, float | None]:
    """One-vs-rest ROC-AUC per class; None for a class absent from (or the only class in) ``y_true``."""
    out: dict[str, float | None] = {}
    for i, name in enumerate(classes):
        positives = y_true == i
        out[name] = float(skm.roc_auc_score(positives, probs[:, i])) if 0 < positives.sum() < len(y_true) else None
    return out


def most_confused(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], paths: Sequence[str],
                  limit: int = 10) -> list[dict[str, Any]]:
    """The (true, predicted) class pairs with the most errors, with the misclassified files."""
    pairs: dict[tuple[int, int], list[str]] = {}
    for t, p, f in zip(y_true, y_pred, paths):
        if t != p:
            pairs.setdefault((int(t), int(p)), []).append(f)
    ranked = sorted(pairs.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]
    return [{"true": classes[t], "predicted": classes[p], "count": len(files), "files": files}
            for (t, p), files in ranked]


def evaluate_predictions(y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                         paths: Sequence[str]) -> Evaluation:
    """All test metrics from ``probs`` (n x k): accuracy, top-5 (when k > 5), macro precision/recall/F1,
    per-class report, confusion matrix, one-vs-rest ROC-AUC, most-confused pairs, misclassified files."""
    y_true = np.asarray(y_true)
    k = len(classes)
    y_pred = probs.argmax(axis=1)
    labels = list(range(k))
    # Macro averages over the classes the test split holds: a class `fix` sent wholly to train (too few
    # images to evaluate) has no test support and would otherwise count as a 0 in every average.
    evaluated = sorted(int(c) for c in np.unique(y_true))
    p, r, f1, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=evaluated, average="macro",
                                                      zero_division=0)
    aucs = per_class_auc(y_true, probs, classes)
    known = [v for v in aucs.values() if v is not None]
    result: dict[str, Any] = {
        "test_size": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "top5_accuracy": (float(skm.top_k_accuracy_score(y_true, probs, k=5, labels=labels)) if k > 5 else None),
        "precision_macro": float(p),
        "recall_macro": float(r),
        "f1_macro": float(f1),
        "classes_evaluated": [classes[c] for c in evaluated],
        "roc_auc_ovr_macro": float(np.mean(known)) if known else None,
        "roc_auc_per_class": aucs,
        "classification_report": skm.classification_report(y_true, y_pred, labels=labels, target_names=list(classes),
                                                           output_dict=True, zero_division=0),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(classes),
        "most_confused": most_confused(y_true, y_pred, classes, paths),
    }
    wrong = np.flatnonzero(y_pred != y_true).tolist()
    errors = pd.DataFrame({
        "path": [paths[i] for i in wrong],
        "true": [classes[int(y_true[i])] for i in wrong],
        "predicted": [classes[int(y_pred[i])] for i in wrong],
        "confidence": [float(probs[i, y_pred[i]]) for i in wrong],
        "p_true": [float(probs[i, y_true[i]]) for i in wrong],
    }, columns=["path", "true", "predicted", "confidence", "p_true"])
    errors = errors.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)
    return Evaluation(result, probs, errors)


def evaluate(model: Any, test_ds: Any, y_true: np.ndarray, classes: Sequence[str], paths: Sequence[str]) -> Evaluation:
    """Predict ``test_ds`` (unshuffled, in ``paths`` order) with ``model`` and score it."""
    probs = np.asarray(model.predict(test_ds, verbose=0))
    return evaluate_predictions(y_true, probs, classes, paths)


def metrics_table(metrics: dict[str, Any]) -> Table:
    """A rich table of the headline test metrics and the per-class report."""
    table = Table(title=f"Test split ({metrics['test_size']} images)", show_header=True)
    table.add_column("class / metric")
    for col in ("precision", "recall", "f1", "support", "ROC-AUC"):
        table.add_column(col, justify="right")
    report = metrics["classification_report"]
    for name in metrics["classes"]:
        row, auc = report[name], metrics["roc_auc_per_class"].get(name)
        table.add_row(Text(name), f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1-score']:.3f}",
                      str(int(row["support"])), "-" if auc is None else f"{auc:.3f}")
    table.add_section()
    auc = metrics["roc_auc_ovr_macro"]
    table.add_row("[bold]macro[/]", f"{metrics['precision_macro']:.3f}", f"{metrics['recall_macro']:.3f}",
                  f"{metrics['f1_macro']:.3f}", str(metrics["test_size"]), "-" if auc is None else f"{auc:.3f}")
    table.add_row("[bold]accuracy[/]", "", "", f"{metrics['accuracy']:.3f}", "", "")
    if metrics.get("top5_accuracy") is not None:
        table.add_row("[bold]top-5 accuracy[/]", "", "", f"{metrics['top5_accuracy']:.3f}", "", "")
    return table
