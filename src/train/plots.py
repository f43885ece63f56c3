"""PNG plots of a run (matplotlib, Agg backend): training curves, confusion matrix, ROC curves."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from dataclean.io import atomic_write  # noqa: E402


def plot_history(history: dict[str, list[float]], phase1_epochs: int) -> Figure:
    """Loss and accuracy per epoch, train and validation, with a line where fine-tuning starts."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    epochs = history.get("epoch", [])
    for ax, key in zip(axes, ("loss", "accuracy")):
        for k, label in ((key, "train"), (f"val_{key}", "val")):
            if k in history:
                ax.plot(epochs, history[k], marker="o", label=label)
        if phase1_epochs and len(epochs) > phase1_epochs:
            ax.axvline(phase1_epochs + 0.5, color="grey", linestyle="--", label="fine-tuning starts")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> Figure:
    """Row-normalised confusion matrix (true rows, predicted columns) annotated with counts."""
    cm = np.asarray(matrix, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title("confusion matrix (test)")
    fig.tight_layout()
    return fig


def plot_roc(y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> Figure:
    """One-vs-rest ROC curve per class present in the test split."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for i, name in enumerate(classes):
        positives = np.asarray(y_true) == i
        if 0 < positives.sum() < len(positives):
            fpr, tpr, _ = roc_curve(positives, probs[:, i])
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, one vs rest (test)")
    if len(classes) <= 20:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` as PNG atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
