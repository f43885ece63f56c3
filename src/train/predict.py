"""Top-k predictions from a saved run (``model.keras`` + ``labels.json`` beside it), for ``predict`` and ``serve``.

Images are decoded the way training decoded them (:mod:`train.decode`: TensorFlow's decoders for
JPEG/PNG/GIF/BMP, Pillow for every other format Pillow reads, and Pillow again when TensorFlow refuses
a file), resized by the same TensorFlow op, and predicted in batches. A file that cannot be read is a
result (:class:`Prediction` with ``error``), never an exception that stops the batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dataclean.errors import DatacleanError, first_line
from train.decode import DEFAULT_MAX_PIXELS, ImageReadError, needs_pillow, pillow_rgb, read_header


def model_file(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/model.keras`` when ``path`` is a run directory."""
    p = Path(path)
    return p / "model.keras" if p.is_dir() else p


def read_labels(model_path: str | os.PathLike[str]) -> list[str]:
    """Class names from the ``labels.json`` beside a saved model, in index order."""
    path = model_file(model_path).parent / "labels.json"
    if not path.is_file():
        raise DatacleanError(f"no labels.json beside {model_file(model_path)} (expected {path})")
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
        return [mapping[str(i)] for i in range(len(mapping))]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatacleanError(f"{path} is not an index -> class mapping: {exc}") from exc


def load_model(model_path: str | os.PathLike[str]) -> Any:
    """Load a ``model.keras`` written by ``dataclean train`` (its preprocessing layer registered first)."""
    import keras

    import train.model  # noqa: F401  registers ArchPreprocess for deserialisation

    path = model_file(model_path)
    if not path.is_file():
        raise DatacleanError(f"model not found: {path}")
    try:
        return keras.models.load_model(path, compile=False)  # inference only: no optimizer to restore
    except Exception as exc:  # Keras raises several types for a bad file
        raise DatacleanError(f"cannot load model {path}: {first_line(exc)}") from exc


def decode_rgb(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes -> H x W x 3 uint8, decoded as training decodes it.

    The header is read first (fast): no image, or more than ``max_pixels`` pixels (a decompression
    bomb), is refused before any pixel is decoded. Raises ImageReadError naming ``name``.
    """
    import tensorflow as tf

    header = read_header(data, name, max_pixels)
    if needs_pillow(header.format, header.mode):
        return pillow_rgb(data, name, max_pixels)
    try:
        return tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
    except tf.errors.OpError:
        # Pillow decides: a damaged file gets its precise reason (truncated, ...), a valid one its pixels
        return pillow_rgb(data, name, max_pixels)


def resize_batch(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Resize each H x W x 3 image to ``size`` square with training's op; a float32 batch 0..255."""
    import tensorflow as tf

    from train.data import resize_image

    return np.stack([resize_image(tf.constant(img), size).numpy() for img in images]).astype(np.float32)


def top_k(probs: np.ndarray, classes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row of ``probs``, the ``k`` most likely (class, probability) pairs, most likely first."""
    k = max(1, min(k, len(classes)))
    return [[(classes[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:k]] for row in probs]


@dataclass
class Prediction:
    """One image's result: its top classes, or the one-line reason it could not be read."""

    path: str
    ranked: list[tuple[str, float]] = field(default_factory=list)
    error: str = ""


class Predictor:
    """A loaded model with its classes and input size. Its methods are meant for one thread at a time
    (``serve`` calls the model from a single batching thread)."""

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        self.path = model_file(model_path)
        self.classes = read_labels(self.path)
        self.model = load_model(self.path)
        self.size = int(self.model.input_shape[1])
        self.name = str(self.model.name)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch already resized to ``size`` (n x size x size x 3, 0..255)."""
        return np.asarray(self.model.predict_on_batch(batch.astype(np.float32, copy=False)))

    def predict_arrays(self, images: Sequence[np.ndarray], k: int) -> list[list[tuple[str, float]]]:
        """Top-``k`` for decoded H x W x 3 uint8 images (any sizes), in one batch."""
        if not images:
            return []
        return top_k(self.probabilities(resize_batch(images, self.size)), self.classes, k)


def iter_images(inputs: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """Files as given, and the image files under folders (recursively, sorted; by Pillow's extensions).

    A path that does not exist is yielded as is: reading it reports it.
    """
    from PIL import Image

    extensions = {e.lower() for e in Image.registered_extensions()}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in extensions):
                yield str(f)
        else:
            yield str(item)


def read_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode one file; ImageReadError with a one-line reason otherwise."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageReadError("unreadable", f"{path}: file not found") from None
    except IsADirectoryError:
        raise ImageReadError("unreadable", f"{path}: is a directory") from None
    except OSError as exc:
        raise ImageReadError("unreadable", f"{path}: cannot read: {exc.strerror or exc}") from None
    return decode_rgb(data, path, max_pixels)


def predict_paths(predictor: Predictor, paths: Iterable[str], k: int = 3, batch_size: int = 32,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Prediction]:
    """Predictions for ``paths`` in order, ``batch_size`` images per model call; unreadable files are
    yielded with their reason and do not stop the others."""
    pending: list[tuple[int, str, np.ndarray]] = []
    done: dict[int, Prediction] = {}
    next_out = 0

    def flush() -> None:
        ranked = predictor.predict_arrays([img for _, _, img in pending], k)
        for (i, path, _), r in zip(pending, ranked):
            done[i] = Prediction(path, r)
        pending.clear()

    for i, path in enumerate(paths):
        try:
            pending.append((i, path, read_image(path, max_pixels)))
        except ImageReadError as exc:
            done[i] = Prediction(path, error=str(exc).removeprefix(f"{path}: "))
        if len(pending) >= batch_size:
            flush()
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1
    flush()
    while next_out in done:
        yield done.pop(next_out)
        next_out += 1


def predict_images(model: Any, classes: Sequence[str], images: Sequence[str | os.PathLike[str]],
                   top_k_: int = 3) -> list[list[tuple[str, float]]]:
    """For each image, its ``top_k_`` (class, probability) pairs, most likely first (library helper).

    Raises DatacleanError naming the first image that is missing or cannot be decoded.
    """
    size = int(model.input_shape[1])
    arrays = [read_image(str(i)) for i in images]
    probs = np.asarray(model.predict_on_batch(resize_batch(arrays, size)))
    return top_k(probs, classes, top_k_)


__all__ = ["Prediction", "Predictor", "decode_rgb", "iter_images", "load_model", "model_file", "predict_images",
           "predict_paths", "read_image", "read_labels", "resize_batch", "top_k"]
