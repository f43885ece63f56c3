"""The classifier: augmentation -> the architecture's own preprocessing -> backbone -> head.

The backbone is frozen with frozen BatchNorm for transfer learning, or wholly trainable from scratch.
"""

from __future__ import annotations

import importlib
from typing import Any

import keras
from keras import layers

from dataclean.errors import DatacleanError, first_line
from train.config import get_arch

BACKBONE = "backbone"  # name of the backbone layer inside the model
#: From scratch, BatchNorm's moving-average momentum is capped here. MobileNets use 0.999, an average
#: over ~1000 steps, longer than a whole run on a small dataset (40 steps/epoch x 20 epochs = 800):
#: their test-time statistics would still be half the initial ones. 0.99 averages over ~100 steps.
SCRATCH_BN_MOMENTUM = 0.99


@keras.saving.register_keras_serializable(package="train")
class ArchPreprocess(layers.Layer):
    """Applies ``keras.applications.<arch module>.preprocess_input`` to 0..255 images.

    A named layer rather than a Lambda, so a saved ``model.keras`` loads without ``safe_mode=False``
    and carries its preprocessing (``import train.model`` registers it before loading).
    """

    def __init__(self, arch: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        spec = get_arch(arch)
        self.arch = spec.name
        self._fn = importlib.import_module(f"keras.applications.{spec.module}").preprocess_input if spec.module else None

    def call(self, inputs: Any) -> Any:
        if self._fn is None:  # simplecnn: 0..255 -> 0..1
            return keras.ops.cast(inputs, "float32") / 255.0
        return self._fn(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "arch": self.arch}


def augmentation(level: str, seed: int | None = None) -> keras.Sequential | None:
    """Random flip, rotation, zoom, translation, contrast and brightness; active only in training.

    ``level`` is "none" (returns None), "light" or "strong". Works on 0..255 images.
    """
    strength = {"none": None, "light": 0.5, "strong": 1.5}[level]
    if strength is None:
        return None
    s = strength
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(0.1 * s, seed=seed),
        layers.RandomZoom(0.2 * s, seed=seed),
        layers.RandomTranslation(0.1 * s, 0.1 * s, seed=seed),
        layers.RandomContrast(0.2 * s, value_range=(0, 255), seed=seed),
        layers.RandomBrightness(0.2 * s, value_range=(0, 255), seed=seed),
    ], name="augment")


#: simplecnn's conv blocks: (filters, convolutions) per block; each block ends in max pooling but the last.
SIMPLE_CNN_BLOCKS = ((24, 1), (48, 2), (96, 2), (192, 1))


def simple_cnn(image_size: int, blocks: tuple[tuple[int, int], ...] = SIMPLE_CNN_BLOCKS, seed: int | None = None,
               block_dropout: float = 0.1) -> keras.Model:
    """A small VGG-style backbone that trains from scratch on a CPU in minutes (``--arch simplecnn``).

    Conv 3x3 -> BatchNorm -> ReLU, the first one with stride 2 (at 128 px the first block works at
    64 x 64, where most of the cost of a CNN is), blocks of :data:`SIMPLE_CNN_BLOCKS` separated by max
    pooling and dropout, as in the seeds' ShallowNet/MiniVGG baselines; 0.32 M parameters.
    The widths were chosen by training speed on a 2-core CPU: 24/48/96/192 filters trained ~3x more
    images per second than 32/64/128/256 (TensorFlow's CPU kernels do far better on them here).
    """
    inputs = keras.Input(shape=(image_size, image_size, 3))
    x = inputs
    init = keras.initializers.HeNormal(seed=seed)
    for b, (filters, convs) in enumerate(blocks):
        for c in range(convs):
            stride = 2 if b == 0 and c == 0 else 1
            x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, kernel_initializer=init,
                              name=f"block{b + 1}_conv{c + 1}")(x)
            x = layers.BatchNormalization(momentum=SCRATCH_BN_MOMENTUM, name=f"block{b + 1}_bn{c + 1}")(x)
            x = layers.ReLU(name=f"block{b + 1}_relu{c + 1}")(x)
        if b < len(blocks) - 1:
            x = layers.MaxPooling2D(name=f"block{b + 1}_pool")(x)
            if block_dropout and b > 0:
                x = layers.Dropout(block_dropout, seed=seed, name=f"block{b + 1}_dropout")(x)
    return keras.Model(inputs, x, name=BACKBONE)


def build_backbone(arch: str, image_size: int, weights: str | None) -> keras.Model:
    """The Keras application without its top. ``weights``: "imagenet", None, or a ``*_notop.h5`` path.

    When the ImageNet file cannot be downloaded, raises a one-line DatacleanError suggesting
    ``--weights none`` or a local file.
    """
    spec = get_arch(arch)
    if image_size < spec.min_size:
        raise DatacleanError(f"image size {image_size} is too small for {spec.name}; it needs at least {spec.min_size}")
    if not spec.pretrained:
        if weights is not None:
            raise DatacleanError(f"{spec.name} has no pretrained weights (got weights={weights!r}); it trains from scratch")
        return simple_cnn(image_size)
    constructor = getattr(keras.applications, spec.constructor)
    try:
        base = constructor(include_top=False, weights=weights, input_shape=(image_size, image_size, 3),
                           name=BACKBONE)
    except DatacleanError:
        raise
    except Exception as exc:  # Keras raises a bare Exception for download failures
        first = first_line(exc)
        if weights == "imagenet":
            raise DatacleanError(
                f"could not get the ImageNet weights for {spec.name} (first use needs the internet; "
                f"Keras caches them in ~/.keras/models): {first}. Use --weights none, or --weights PATH "
                f"to a downloaded {spec.notop_file}") from exc
        if weights is not None:
            raise DatacleanError(
                f"could not load backbone weights from {weights} into {spec.name}: {first} "
                f"(expected a Keras applications file such as {spec.notop_file})") from exc
        raise
    return base


def build_model(arch: str, num_classes: int, image_size: int, weights: str | None = None,
                dropout: float = 0.2, hidden_units: int = 0, *, augment: str = "none",
                seed: int | None = None, from_scratch: bool | None = None) -> keras.Model:
    """Inputs 0..255 float -> [augmentation] -> preprocess_input -> backbone
    -> GlobalAveragePooling2D -> Dropout -> [Dense(hidden_units, relu) -> Dropout] -> Dense(softmax).

    Transfer (``from_scratch`` False): the backbone starts frozen (phase 1) and is always called with
    ``training=False``, so its BatchNormalization layers keep their pretrained statistics when it is
    later unfrozen. From scratch (``from_scratch`` True; the default when ``weights`` is None, since a
    random backbone has nothing to transfer and frozen its features are near zero): the whole backbone
    is trainable and called without a fixed ``training``, so BatchNorm uses batch statistics while
    fitting and learns its moving statistics for inference (momentum capped at
    :data:`SCRATCH_BN_MOMENTUM`).
    """
    if num_classes < 2:
        raise DatacleanError(f"need at least 2 classes, got {num_classes}")
    if from_scratch is None:
        from_scratch = weights is None
    base = build_backbone(arch, image_size, weights)
    base.trainable = from_scratch
    if from_scratch:
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization) and layer.momentum > SCRATCH_BN_MOMENTUM:
                layer.momentum = SCRATCH_BN_MOMENTUM
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = inputs
    aug = augmentation(augment, seed)
    if aug is not None:
        x = aug(x)
    x = ArchPreprocess(arch, name="preprocess")(x)
    x = base(x) if from_scratch else base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="hidden")(x)
        x = layers.Dropout(dropout, seed=seed, name="hidden_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=f"{get_arch(arch).name}_classifier")


def backbone(model: keras.Model) -> keras.Model:
    """The backbone sub-model of a model made by :func:`build_model`."""
    return model.get_layer(BACKBONE)


def unfreeze_last(model: keras.Model, n: int) -> list[str]:
    """Make the backbone's last ``n`` layers trainable, BatchNormalization excepted; returns their names."""
    base = backbone(model)
    base.trainable = True
    chosen = base.layers[-n:] if n > 0 else []
    for layer in base.layers:
        layer.trainable = False
    names = []
    for layer in chosen:
        if not isinstance(layer, layers.BatchNormalization):
            layer.trainable = True
            names.append(layer.name)
    return names
