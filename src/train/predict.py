"""Top-k predictions for image files from a saved run (``model.keras`` + ``labels.json`` beside it)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dataclean.errors import DatacleanError, first_line


def read_labels(model_path: str | os.PathLike[str]) -> list[str]:
    """Class names from the ``labels.json`` beside a saved model, in index order."""
    path = Path(model_path).parent / "labels.json"
    if not path.is_file():
        raise DatacleanError(f"no labels.json beside {model_path} (expected {path})")
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
        return [mapping[str(i)] for i in range(len(mapping))]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatacleanError(f"{path} is not an index -> class mapping: {exc}") from exc


def load_model(model_path: str | os.PathLike[str]) -> Any:
    """Load a ``model.keras`` written by ``dataclean train`` (its preprocessing layer registered first)."""
    import keras

    import train.model  # noqa: F401  registers ArchPreprocess for deserialisation

    path = Path(model_path)
    if not path.is_file():
        raise DatacleanError(f"model not found: {path}")
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # Keras raises several types for a bad file
        raise DatacleanError(f"cannot load model {path}: {first_line(exc)}") from exc


def predict_images(model: Any, classes: Sequence[str], images: Sequence[str | os.PathLike[str]],
                   top_k: int = 3) -> list[list[tuple[str, float]]]:
    """For each image, its ``top_k`` (class, probability) pairs, most likely first.

    Raises DatacleanError naming the first image that is missing or cannot be decoded.
    """
    import tensorflow as tf

    from train.data import load_image

    size = int(model.input_shape[1])
    batch = []
    for image in images:
        if not Path(image).is_file():
            raise DatacleanError(f"image not found: {image}")
        try:
            batch.append(load_image(tf.constant(str(image)), size))
        except tf.errors.OpError as exc:  # invalid data, unreadable file, ...
            raise DatacleanError(f"cannot decode image {image}: {first_line(exc)}") from exc
    probs = np.asarray(model.predict(tf.cast(tf.stack(batch), tf.float32), verbose=0))
    k = max(1, min(top_k, len(classes)))
    return [[(classes[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:k]] for row in probs]
