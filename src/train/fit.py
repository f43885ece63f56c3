"""Fitting: two-phase transfer learning (the head on a frozen backbone, then the last layers
fine-tuned), or one phase from scratch (the whole network, when there are no weights to transfer)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from train.model import unfreeze_last


class RichProgress(keras.callbacks.Callback):
    """A live bar per epoch (steps, loss, accuracy, ETA; then the validation pass), and one line per
    epoch when it ends: phase, epoch, metrics, lr, time.

    The first epoch also reads and decodes every image (and caches it, with ``--cache``): its bar says
    so, since that pass is what makes it slower than the rest. The bar is drawn only on a terminal.
    """

    def __init__(self, phase: str, console: Console | None = None, first_pass: str = "") -> None:
        super().__init__()
        self.phase = phase
        self.console = console or Console(stderr=True)
        self.first_pass = first_pass  # shown on the first epoch's bar, e.g. "decoding + caching images"
        self._start = 0.0
        self._total = 0
        self._first = True
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._total = self.params.get("epochs", 0)

    def _open(self, description: str, total: int | None) -> None:
        self._close()
        if not self.console.is_terminal:
            return
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TextColumn("ETA"),
                             TimeRemainingColumn(), console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, metrics="")

    def _advance(self, logs: dict[str, Any] | None, keys: tuple[str, ...]) -> None:
        if self._bar is not None and self._task is not None:
            logs = logs or {}
            metrics = "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys if k in logs)
            self._bar.update(self._task, advance=1, metrics=metrics)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._task = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        note = f" ({self.first_pass})" if self._first and self.first_pass else ""
        self._open(f"[bold]{self.phase}[/] epoch {epoch + 1}/{self._total}{note}", self.params.get("steps"))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._advance(logs, ("loss", "accuracy"))

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:  # validation at the end of a training epoch
            note = f" ({self.first_pass})" if self._first and self.first_pass else ""
            self._open(f"[bold]{self.phase}[/] validating{note}", None)

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._advance(logs, ())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._close()
        self._first = False
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

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._close()


class CosineDecay(keras.callbacks.Callback):
    """Learning rate from ``initial`` down to ``initial * floor`` over ``epochs`` along a half cosine,
    set at each epoch's start (the schedule simplecnn trains with: no plateau to wait for)."""

    def __init__(self, initial: float, epochs: int, floor: float = 0.02, first_epoch: int = 0) -> None:
        super().__init__()
        self.initial, self.epochs, self.floor, self.first_epoch = initial, max(1, epochs), floor, first_epoch

    def rate(self, epoch: int) -> float:
        t = min(max(epoch - self.first_epoch, 0) / self.epochs, 1.0)
        return self.initial * (self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * t)))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.optimizer.learning_rate.assign(self.rate(epoch))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


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
              console: Console | None = None, *, keep_checkpoints: bool = False, first_pass: str = "",
              schedule: keras.callbacks.Callback | None = None) -> list[keras.callbacks.Callback]:
    """EarlyStopping (keeps the best weights in memory and restores them when the phase ends), a
    learning-rate schedule (``schedule``, else ReduceLROnPlateau) and :class:`RichProgress`; with
    ``keep_checkpoints`` also ModelCheckpoint (``run_dir/checkpoints/best_<phase>.weights.h5``).

    Nothing is written to ``run_dir`` otherwise: the run's files are written once, at the end.
    """
    found: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        schedule or keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.2, patience=max(1, patience // 2),
                                                      min_lr=1e-7),
        RichProgress(phase, console, first_pass),
    ]
    if keep_checkpoints:
        folder = Path(run_dir) / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        found.insert(1, keras.callbacks.ModelCheckpoint(str(folder / f"best_{phase}.weights.h5"), monitor=monitor,
                                                        save_best_only=True, save_weights_only=True))
    return found


def compile_model(model: keras.Model, learning_rate: float) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def fit_two_phase(model: keras.Model, train_ds: Any, val_ds: Any | None, *, run_dir: str | os.PathLike[str],
                  epochs: int, fine_tune_epochs: int, unfreeze: int, learning_rate: float,
                  fine_tune_learning_rate: float, class_weight: dict[int, float] | None = None,
                  patience: int = 4, console: Console | None = None, keep_checkpoints: bool = False,
                  first_pass: str = "") -> FitResult:
    """Phase 1: train the head for ``epochs`` with the backbone frozen. Phase 2 (when
    ``fine_tune_epochs`` and ``unfreeze`` > 0): unfreeze the backbone's last ``unfreeze`` layers
    (BatchNormalization stays frozen), recompile at ``fine_tune_learning_rate`` and train on.

    Monitors ``val_loss`` (``loss`` when there is no validation data); each phase ends with its best
    weights. Checkpoints go to ``run_dir`` only with ``keep_checkpoints``.
    """
    monitor = "val_loss" if val_ds is not None else "loss"
    result = FitResult()
    if epochs > 0:
        compile_model(model, learning_rate)
        h = model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=class_weight, verbose=0,
                      shuffle=False, callbacks=callbacks(run_dir, "head", monitor, patience, console,
                                                         keep_checkpoints=keep_checkpoints, first_pass=first_pass))
        result.phase1_epochs = result.add(h.history, 1, 0)
    if fine_tune_epochs > 0 and unfreeze > 0:
        result.unfrozen = unfreeze_last(model, unfreeze)
        compile_model(model, fine_tune_learning_rate)
        start = result.phase1_epochs
        h = model.fit(train_ds, validation_data=val_ds, initial_epoch=start, epochs=start + fine_tune_epochs,
                      class_weight=class_weight, verbose=0, shuffle=False,
                      callbacks=callbacks(run_dir, "fine-tune", monitor, patience, console,
                                          keep_checkpoints=keep_checkpoints,
                                          first_pass=first_pass if epochs == 0 else ""))
        result.phase2_epochs = result.add(h.history, 2, start)
    return result


def fit_from_scratch(model: keras.Model, train_ds: Any, val_ds: Any | None, *, run_dir: str | os.PathLike[str],
                     epochs: int, learning_rate: float, class_weight: dict[int, float] | None = None,
                     patience: int = 4, console: Console | None = None, keep_checkpoints: bool = False,
                     first_pass: str = "", cosine: bool = False) -> FitResult:
    """One phase of ``epochs`` training every layer of a model built with ``from_scratch=True``
    (backbone trainable, BatchNorm learning its statistics), at ``learning_rate``; with ``cosine`` the
    rate follows :class:`CosineDecay` over the epochs instead of dropping on plateaus.

    Same callbacks and monitor as :func:`fit_two_phase`; the history's ``phase`` is 1.
    """
    monitor = "val_loss" if val_ds is not None else "loss"
    result = FitResult()
    compile_model(model, learning_rate)
    schedule = CosineDecay(learning_rate, epochs) if cosine else None
    h = model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=class_weight, verbose=0,
                  shuffle=False, callbacks=callbacks(run_dir, "from-scratch", monitor, patience, console,
                                                     keep_checkpoints=keep_checkpoints, first_pass=first_pass,
                                                     schedule=schedule))
    result.phase1_epochs = result.add(h.history, 1, 0)
    return result
