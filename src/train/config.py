"""Training settings and the table of supported backbones. No TensorFlow import here.

Everything a run depends on is a field of :class:`TrainConfig`, so ``config.json`` can record it whole.

Two modes, chosen by ``weights``: *transfer* (``imagenet`` or a weights file) trains a head on the frozen
backbone, then fine-tunes its last layers; *from scratch* (``none``: nothing to transfer) trains the whole
network, BatchNorm included, in one phase of ``epochs``, and the fine-tune settings do not apply.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dataclean.errors import DatacleanError


@dataclass(frozen=True)
class Arch:
    """One backbone: where to find it and what input it expects.

    The Keras applications have ``module``/``constructor`` and pretrained weights (``notop_file``);
    ``simplecnn`` has neither: it is built by :func:`train.model.simple_cnn` and always trains from scratch.
    """

    name: str
    module: str  # keras.applications sub-module that holds preprocess_input
    constructor: str  # keras.applications attribute that builds the model
    default_size: int  # the size its ImageNet weights were trained at
    min_size: int  # smallest input Keras accepts for it
    preprocessing: str  # what its preprocess_input does, for --help and the README
    notop_file: str  # name of the Keras applications backbone weights file (for --weights PATH); "" if none

    @property
    def pretrained(self) -> bool:
        """Whether ImageNet weights exist for it (transfer learning is possible)."""
        return bool(self.notop_file)


ARCHS: dict[str, Arch] = {a.name: a for a in [
    Arch("simplecnn", "", "", 128, 32, "scales to [0, 1]", ""),
    Arch("inceptionv3", "inception_v3", "InceptionV3", 299, 75, "scales to [-1, 1]",
         "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    Arch("resnet50v2", "resnet_v2", "ResNet50V2", 224, 32, "scales to [-1, 1]",
         "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    Arch("resnet50", "resnet", "ResNet50", 224, 32, "RGB->BGR, subtracts the ImageNet channel means",
         "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    Arch("mobilenetv2", "mobilenet_v2", "MobileNetV2", 224, 32, "scales to [-1, 1]",
         "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    Arch("mobilenetv3small", "mobilenet_v3", "MobileNetV3Small", 224, 32, "rescaling built into the model",
         "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"),
    Arch("mobilenetv3large", "mobilenet_v3", "MobileNetV3Large", 224, 32, "rescaling built into the model",
         "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"),
    Arch("efficientnetb0", "efficientnet", "EfficientNetB0", 224, 32, "normalisation built into the model",
         "efficientnetb0_notop.h5"),
]}

AUGMENT_LEVELS = ("none", "light", "strong")
#: Settings that only the transfer mode's phase 2 uses; from-scratch runs ignore them.
FINE_TUNE_SETTINGS = ("fine_tune_epochs", "unfreeze", "fine_tune_learning_rate")
CLASS_WEIGHT_MODES = ("auto", "none")


def get_arch(name: str) -> Arch:
    """The :class:`Arch` called ``name``; DatacleanError listing the known ones otherwise."""
    try:
        return ARCHS[name.lower()]
    except KeyError:
        raise DatacleanError(f"unknown architecture {name!r}; choose one of: {', '.join(ARCHS)}") from None


@dataclass
class TrainConfig:
    """Every setting of one training run. ``image_size=None`` means the architecture's default size."""

    manifest: str
    out: str
    arch: str = "inceptionv3"
    # "imagenet", "none", or a path to a *_notop.h5 backbone weights file; None: "imagenet" for the Keras
    # applications, "none" for simplecnn (it has no pretrained weights)
    weights: str | None = None
    image_size: int | None = None
    batch_size: int = 32
    epochs: int = 10  # transfer: phase 1, head only, backbone frozen; from scratch: the only phase
    fine_tune_epochs: int = 10  # transfer: phase 2, last `unfreeze` layers trainable; ignored from scratch
    unfreeze: int = 30
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float | None = None  # None: learning_rate / 10
    dropout: float = 0.2
    hidden_units: int = 0  # 0: no hidden Dense layer in the head
    augment: str = "light"
    class_weight: str = "auto"
    patience: int = 4  # EarlyStopping patience, in epochs, per phase
    cache: bool = True
    seed: int = 42
    keep_checkpoints: bool = False  # also keep checkpoints/best_<phase>.weights.h5 in the run directory
    data_cache: str | None = None  # where a remote manifest's files are fetched; None: data-cache/ beside `out`

    @property
    def remote_cache(self) -> str:
        """Where files of a remote manifest root are fetched: --data-cache, else data-cache/ beside the run dir."""
        return self.data_cache or os.path.join(os.path.dirname(os.path.abspath(self.out)), "data-cache")

    def __post_init__(self) -> None:
        arch = get_arch(self.arch)
        self.arch = arch.name
        if self.image_size is None:
            self.image_size = arch.default_size
        if self.image_size < arch.min_size:
            raise DatacleanError(
                f"--image-size {self.image_size} is too small for {arch.name}; it needs at least "
                f"{arch.min_size} (default {arch.default_size})")
        if self.weights is None:
            self.weights = "imagenet" if arch.pretrained else "none"
        if not arch.pretrained and self.weights.lower() != "none":
            raise DatacleanError(
                f"--weights {self.weights!r}: {arch.name} has no pretrained weights, it always trains from "
                "scratch (leave --weights out or pass --weights none)")
        if self.weights.lower() in ("imagenet", "none"):
            self.weights = self.weights.lower()
        elif not Path(self.weights).is_file():
            raise DatacleanError(
                f"--weights {self.weights!r} is neither 'imagenet', 'none' nor an existing file "
                f"(expected a Keras applications backbone file such as {arch.notop_file})")
        for name in ("batch_size",):
            if getattr(self, name) < 1:
                raise DatacleanError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("epochs", "fine_tune_epochs", "unfreeze", "hidden_units", "patience"):
            if getattr(self, name) < 0:
                raise DatacleanError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.from_scratch and self.epochs == 0:
            raise DatacleanError(
                "--epochs is 0 with --weights none: from scratch there is one phase of --epochs "
                "(--fine-tune-epochs does not apply), so nothing would train")
        if self.epochs + self.fine_tune_epochs == 0:
            raise DatacleanError("--epochs and --fine-tune-epochs are both 0: nothing to train")
        if not 0.0 <= self.dropout < 1.0:
            raise DatacleanError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0:
            raise DatacleanError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if self.fine_tune_learning_rate is None:
            self.fine_tune_learning_rate = self.learning_rate / 10
        if self.augment not in AUGMENT_LEVELS:
            raise DatacleanError(f"--augment {self.augment!r}; choose one of: {', '.join(AUGMENT_LEVELS)}")
        if self.class_weight not in CLASS_WEIGHT_MODES:
            raise DatacleanError(
                f"--class-weight {self.class_weight!r}; choose one of: {', '.join(CLASS_WEIGHT_MODES)}")

    @property
    def size(self) -> int:
        """The input size in pixels (never None after construction)."""
        assert self.image_size is not None
        return self.image_size

    @property
    def from_scratch(self) -> bool:
        """True for ``weights="none"``: the whole network trains, in one phase of ``epochs``."""
        return self.weights == "none"

    @property
    def mode(self) -> str:
        """The run's mode, ``from_scratch`` or ``transfer``, as config.json records it."""
        return "from_scratch" if self.from_scratch else "transfer"

    @property
    def keras_weights(self) -> str | None:
        """``weights`` as Keras applications take it: "imagenet", None, or a file path."""
        return None if self.weights == "none" else self.weights

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_run_dir(out: str | os.PathLike[str], overwrite: bool) -> Path:
    """The run directory ``out``, checked but not created (a failed start must leave no folder behind).

    Refuses one that already holds a model unless ``overwrite``, and an ``out`` that is a file.
    """
    run = Path(out)
    if run.exists() and not run.is_dir():
        raise DatacleanError(f"--out {run} exists and is not a directory")
    if (run / "model.keras").exists() and not overwrite:
        raise DatacleanError(
            f"run directory {run} already holds a model.keras; choose another --out or pass --overwrite")
    return run


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models``, else ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def check_weights_reachable(cfg: TrainConfig, host: str = "storage.googleapis.com", timeout: float = 3.0) -> None:
    """With ``--weights imagenet`` and no cached file, fail in seconds when the download host is unreachable.

    Keras would only find out after a long connection timeout, once TensorFlow is loaded.
    """
    if cfg.weights != "imagenet":
        return
    arch = get_arch(cfg.arch)
    if (keras_cache_dir() / arch.notop_file).is_file():
        return
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        raise DatacleanError(
            f"--weights imagenet: the {arch.name} weights are not cached ({keras_cache_dir() / arch.notop_file}) "
            f"and {host} cannot be reached ({exc.strerror or exc}); use --weights none (or --arch simplecnn), "
            f"or --weights PATH to a downloaded {arch.notop_file}") from None
