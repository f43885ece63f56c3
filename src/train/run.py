"""One training run end to end, and the run directory it leaves behind."""

from __future__ import annotations

import os
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from dataclean.io import atomic_path, file_md5, write_csv, write_json
from train.config import FINE_TUNE_SETTINGS, TrainConfig, check_run_dir
from train.data import Splits, build_dataset, class_weights, load_splits, naming_bad_files
from train.evaluate import Evaluation, evaluate
from train.fit import FitResult, fit_from_scratch, fit_two_phase
from train.model import build_model
from train.plots import plot_confusion, plot_history, plot_roc, save_png
from train.report import write_run_report

RUN_FILES = ("model.keras", "labels.json", "config.json", "history.csv", "metrics.json", "errors.csv",
             "training_curves.png", "confusion_matrix.png", "roc_curves.png", "report.html")


@dataclass
class RunResult:
    run_dir: Path
    evaluation: Evaluation
    fit: FitResult


def environment() -> dict[str, Any]:
    """Versions and the devices TensorFlow sees (a GPU is used automatically when present)."""
    import keras

    from train.tfenv import import_tensorflow, is_verbose

    tf = import_tensorflow(is_verbose())

    return {
        "tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version(),
        "devices": [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()],
    }


def prepare_run_dir(out: str | os.PathLike[str], overwrite: bool) -> Path:
    """Create ``out``; refuse to reuse one that already holds a model unless ``overwrite``."""
    run = check_run_dir(out, overwrite)
    run.mkdir(parents=True, exist_ok=True)
    return run


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """``model.save`` to a temp name beside ``path``, then rename (Keras needs the .keras suffix).

    The optimizer's state (Adam's two moments per trainable weight: twice the weights from scratch) is
    not saved: the model is recompiled first with a fresh optimizer at its last learning rate. The file
    is for inference, and a third of the size.
    """
    import keras

    if getattr(model, "optimizer", None) is not None and getattr(model, "compiled", False):
        lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    with atomic_path(path, suffix=".keras") as tmp:  # fsynced, then renamed over ``path``
        model.save(tmp)


def write_run(run_dir: str | os.PathLike[str], *, model: Any, classes: list[str], config: dict[str, Any],
              fit: FitResult, evaluation: Evaluation, y_test: np.ndarray) -> Path:
    """Write model.keras, labels.json, config.json, history.csv, metrics.json, errors.csv and the plots."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    save_model(model, run / "model.keras")
    write_json({str(i): c for i, c in enumerate(classes)}, run / "labels.json")
    write_json(config, run / "config.json")
    hist = pd.DataFrame(fit.history)
    first = [c for c in ("epoch", "phase") if c in hist.columns]
    write_csv(hist[first + sorted(c for c in hist.columns if c not in first)], run / "history.csv")
    write_json(evaluation.metrics, run / "metrics.json")
    write_csv(evaluation.errors, run / "errors.csv")
    save_png(plot_history(fit.history, fit.phase1_epochs), run / "training_curves.png")
    save_png(plot_confusion(evaluation.metrics["confusion_matrix"], classes), run / "confusion_matrix.png")
    save_png(plot_roc(y_test, evaluation.probabilities, classes), run / "roc_curves.png")
    write_run_report(run)  # report.html from the files above (train.report)
    return run


def run_training(cfg: TrainConfig, *, overwrite: bool = False, console: Console | None = None,
                 splits: Splits | None = None) -> RunResult:
    """Check the manifest (unless ``splits`` were loaded already), build the datasets and model, fit
    (two phases, or one from scratch when ``cfg.weights`` is "none"), evaluate on test, write the run.

    Nothing is written to ``cfg.out`` until the run's files are, at the end (with ``keep_checkpoints``
    the checkpoints folder is made when fitting starts); a run that fails removes a folder it created,
    unless it holds a checkpoint.
    """
    console = console or Console(stderr=True)
    started = time.time()
    splits = splits or load_splits(cfg.manifest, data_cache=cfg.remote_cache)
    run = check_run_dir(cfg.out, overwrite)
    created = not run.exists()
    try:
        result = _train(cfg, splits, run, console, started)
    except BaseException:
        if created and run.is_dir() and not any((run / "checkpoints").glob("*.h5")):
            shutil.rmtree(run, ignore_errors=True)
        raise
    return result


def _train(cfg: TrainConfig, splits: Splits, run: Path, console: Console, started: float) -> RunResult:
    import keras

    keras.utils.set_random_seed(cfg.seed)
    size, bs = cfg.size, cfg.batch_size
    train_ds = build_dataset(splits.paths["train"], splits.labels["train"], size, bs, shuffle=True,
                             seed=cfg.seed, cache=cfg.cache, pillow=splits.pillow["train"])
    val_ds = (build_dataset(splits.paths["val"], splits.labels["val"], size, bs, cache=cfg.cache,
                            pillow=splits.pillow["val"])
              if splits.paths["val"] else None)
    test_ds = build_dataset(splits.paths["test"], None, size, bs, cache=False, pillow=splits.pillow["test"])
    weights = class_weights(splits.labels["train"], len(splits.classes)) if cfg.class_weight == "auto" else None
    model = build_model(cfg.arch, len(splits.classes), size, cfg.keras_weights, cfg.dropout, cfg.hidden_units,
                        augment=cfg.augment, seed=cfg.seed, from_scratch=cfg.from_scratch)
    env = environment()
    counts = splits.counts()
    console.print(f"[bold]{cfg.arch}[/] {size}px, {len(splits.classes)} classes, "
                  f"train/val/test = {len(splits.paths['train'])}/{len(splits.paths['val'])}/"
                  f"{len(splits.paths['test'])}, devices: {', '.join(env['devices'])}", highlight=False, soft_wrap=True)
    if cfg.from_scratch:
        console.print(f"--weights none: nothing to transfer, so the whole network trains from scratch "
                      f"(BatchNorm included) for --epochs {cfg.epochs} at --learning-rate {cfg.learning_rate:g}; "
                      "--fine-tune-epochs, --unfreeze and --fine-tune-learning-rate are ignored",
                      highlight=False, soft_wrap=True)
    if val_ds is None:
        console.print("[yellow]no val split: early stopping watches the training loss[/]")
    n_train = len(splits.paths["train"]) + len(splits.paths["val"])
    first_pass = f"decoding{' + caching' if cfg.cache else ''} {n_train} images"
    if splits.pillow_count():
        console.print(f"{splits.pillow_count()} file(s) in formats TensorFlow cannot read are decoded by Pillow",
                      highlight=False)
    if cfg.keep_checkpoints:
        run.mkdir(parents=True, exist_ok=True)
    all_paths = [p for s in ("train", "val", "test") for p in splits.paths[s]]
    all_pillow = [bool(f) for s in ("train", "val", "test") for f in splits.pillow[s]]
    with naming_bad_files(all_paths, all_pillow):
        if cfg.from_scratch:
            fit = fit_from_scratch(model, train_ds, val_ds, run_dir=run, epochs=cfg.epochs,
                                   learning_rate=cfg.learning_rate, class_weight=weights, patience=cfg.patience,
                                   console=console, keep_checkpoints=cfg.keep_checkpoints, first_pass=first_pass,
                                   cosine=cfg.arch == "simplecnn")
        else:
            fit = fit_two_phase(model, train_ds, val_ds, run_dir=run, epochs=cfg.epochs,
                                fine_tune_epochs=cfg.fine_tune_epochs, unfreeze=cfg.unfreeze,
                                learning_rate=cfg.learning_rate,
                                fine_tune_learning_rate=cfg.fine_tune_learning_rate or 0,
                                class_weight=weights, patience=cfg.patience, console=console,
                                keep_checkpoints=cfg.keep_checkpoints, first_pass=first_pass)
        with console.status(f"evaluating on the {len(splits.paths['test'])} test images"):
            evaluation = evaluate(model, test_ds, splits.labels["test"], splits.classes, splits.paths["test"])
    config: dict[str, Any] = {
        "settings": cfg.to_dict(),
        "mode": cfg.mode,
        "manifest": {"path": str(Path(cfg.manifest).resolve()), "md5": file_md5(cfg.manifest)},
        "classes": splits.classes,
        "counts": counts,
        "class_weight": weights,
        "pillow_decoded": splits.pillow_count(),
    }
    if cfg.from_scratch:
        config["epochs_run"] = {"from_scratch": fit.phase1_epochs}
        config["ignored_settings"] = list(FINE_TUNE_SETTINGS)
    else:
        config["epochs_run"] = {"head": fit.phase1_epochs, "fine_tune": fit.phase2_epochs}
        config["unfrozen_layers"] = fit.unfrozen
    config.update({
        "environment": env,
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
    })
    write_run(run, model=model, classes=splits.classes, config=config, fit=fit, evaluation=evaluation,
              y_test=splits.labels["test"])
    return RunResult(run, evaluation, fit)


__all__ = ["RUN_FILES", "RunResult", "environment", "prepare_run_dir", "run_training", "save_model",
           "write_run"]
