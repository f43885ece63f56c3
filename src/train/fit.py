"""Fitting: two-phase transfer learning (the head on a frozen backbone, then the last layers
fine-tuned), or one phase from scratch (the whole network, when there are no weights to transfer)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
from rich.console import Console

from train.model import unfreeze_last


class RichProgress(keras.callbacks.Callback):
    """One rich line per epoch (instead of Keras' own progress bar): phase, epoch, metrics, lr, time."""

    def __init__(self, phase: str, console: Console | None = None) -> None:
        super().__init__()
        self.phase = phase
        self.console = console or Console(stderr=True)
        self._start = 0.0
        self._total = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._total = self.params.get("epochs", 0)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        parts = [f"[bold]{self.phase}[/] epoch {epoch + 1}/{self._total}"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                style = "cyan" if key.startswith("val_") else ""
                value = f"{logs[key]:.4f}"
                parts.append(f"{key} [{style}]{value}[/]" if style else f"{key} {value}")
        lr = logs.get("learning_rate")
        if lr is not None:
            parts.append(f"lr {float(lr):.2g}")
        parts.append(f"[dim]{time.perf_counter() - self._start:.1f}s[/]")
        self.console.print("  ".join(parts), highlight=False, soft_wrap=True)


@dataclass
class FitResult:
    """Per-epoch history over all phases (Keras' keys plus ``epoch`` and ``phase``).

    From scratch there is one phase: ``phase1_epochs`` counts its epochs and ``phase2_epochs`` is 0.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    phase1_epochs: int = 0  # epochs actually run in phase 1 (EarlyStopping may stop it early)
    phase2_epochs: int = 0
    unfrozen: list[str] = field(default_factory=list)  # transfer only: the layers phase 2 trained

    def add(self, keras_history: dict[str, list[float]], phase: int, first_epoch: int) -> int:
        n = len(next(iter(keras_history.values()), []))
        keys = set(self.history) | set(keras_history)
        before = len(self.history.get("epoch", []))
        for key in keys - {"epoch", "phase"}:
            self.history.setdefault(key, [float("nan")] * before)
            self.history[key].extend(float(v) for v in keras_history.get(key, [float("nan")] * n))
        self.history.setdefault("epoch", []).extend(range(first_epoch + 1, first_epoch + n + 1))
        self.history.setdefault("phase", []).extend([phase] * n)
        return n


def callbacks(run_dir: str | os.PathLike[str], phase: str, monitor: str, patience: int,
              console: Console | None = None, append: bool = False) -> list[keras.callbacks.Callback]:
    """EarlyStopping (restores the best weights), ModelCheckpoint (best weights),
    ReduceLROnPlateau, CSVLogger (``history.csv``, appended across phases) and :class:`RichProgress`."""
    run = Path(run_dir)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(run / "checkpoints" / f"best_{phase}.weights.h5"), monitor=monitor,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.2, patience=max(1, patience // 2),
                                          min_lr=1e-7),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=append),
        RichProgress(phase, console),
    ]


def compile_model(model: keras.Model, learning_rate: float) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def fit_two_phase(model: keras.Model, train_ds: Any, val_ds: Any | None, *, run_dir: str | os.PathLike[str],
                  epochs: int, fine_tune_epochs: int, unfreeze: int, learning_rate: float,
                  fine_tune_learning_rate: float, class_weight: dict[int, float] | None = None,
                  patience: int = 4, console: Console | None = None) -> FitResult:
    """Phase 1: train the head for ``epochs`` with the backbone frozen. Phase 2 (when
    ``fine_tune_epochs`` and ``unfreeze`` > 0): unfreeze the backbone's last ``unfreeze`` layers
    (BatchNormalization stays frozen), recompile at ``fine_tune_learning_rate`` and train on.

    Monitors ``val_loss`` (``loss`` when there is no validation data). Checkpoints and
    ``history.csv`` go to ``run_dir``.
    """
    monitor = "val_loss" if val_ds is not None else "loss"
    result = FitResult()
    if epochs > 0:
        compile_model(model, learning_rate)
        h = model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=class_weight, verbose=0,
                      shuffle=False, callbacks=callbacks(run_dir, "head", monitor, patience, console))
        result.phase1_epochs = result.add(h.history, 1, 0)
    if fine_tune_epochs > 0 and unfreeze > 0:
        result.unfrozen = unfreeze_last(model, unfreeze)
        compile_model(model, fine_tune_learning_rate)
        start = result.phase1_epochs
        h = model.fit(train_ds, validation_data=val_ds, initial_epoch=start, epochs=start + fine_tune_epochs,
                      class_weight=class_weight, verbose=0, shuffle=False,
                      callbacks=callbacks(run_dir, "fine-tune", monitor, patience, console, append=epochs > 0))
        result.phase2_epochs = result.add(h.history, 2, start)
    return result


def fit_from_scratch(model: keras.Model, train_ds: Any, val_ds: Any | None, *, run_dir: str | os.PathLike[str],
                     epochs: int, learning_rate: float, class_weight: dict[int, float] | None = None,
                     patience: int = 4, console: Console | None = None) -> FitResult:
    """One phase of ``epochs`` training every layer of a model built with ``from_scratch=True``
    (backbone trainable, BatchNorm learning its statistics), at ``learning_rate``.

    Same callbacks, monitor and outputs as :func:`fit_two_phase`; the history's ``phase`` is 1.
    """
    monitor = "val_loss" if val_ds is not None else "loss"
    result = FitResult()
    compile_model(model, learning_rate)
    h = model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=class_weight, verbose=0,
                  shuffle=False, callbacks=callbacks(run_dir, "from-scratch", monitor, patience, console))
    result.phase1_epochs = result.add(h.history, 1, 0)
    return result
