"""The trainer's library functions: manifest checks, data, model, two-phase fit, evaluation."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataclean.errors import DatacleanError
from train.config import TrainConfig
from train.data import class_weights, load_splits
from train.evaluate import evaluate_predictions
from train_helpers import make_manifest

pytestmark = pytest.mark.slow  # TensorFlow: imports it, builds and fits models

SRC = Path(__file__).resolve().parents[1] / "src"


# --- no TensorFlow needed -------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["dataclean.cli", "train", "train.cli", "train.config", "train.data"])
def test_import_does_not_load_tensorflow(module: str) -> None:
    code = f"import {module}, sys; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    env = {"PYTHONPATH": str(SRC), "PATH": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def _edit(csv: Path, fn) -> Path:
    """A copy of the manifest ``csv`` changed by ``fn(df) -> df``."""
    df = fn(pd.read_csv(csv))
    out = csv.with_name("edited.csv")
    df.to_csv(out, index=False)
    return out


@pytest.fixture
def small_manifest(tmp_path: Path) -> Path:
    return make_manifest(tmp_path, ["red", "blue"], {"train": 3, "val": 1, "test": 2}, size=8)


def test_load_splits_indexes_classes_in_sorted_order(small_manifest: Path) -> None:
    splits = load_splits(small_manifest)
    assert splits.classes == ["blue", "red"]
    assert {s: len(p) for s, p in splits.paths.items()} == {"train": 6, "val": 2, "test": 4}
    assert splits.labels["train"].tolist() == [1, 1, 1, 0, 0, 0]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in splits.paths["test"])
    assert splits.counts()["test"] == {"blue": 2, "red": 2}


@pytest.mark.parametrize("edit, message", [
    (lambda df: df.drop(columns="split"), "lacks column(s) split"),
    (lambda df: df.assign(split=df["split"].replace({"val": "holdout"})), "'holdout'; expected only train, val, test"),
    (lambda df: df.assign(split=df["split"].replace({"test": "val"})), "the test split is empty"),
    (lambda df: df.assign(label="red"), "train split has 1 class(es) (red)"),
    (lambda df: df.assign(label=df["label"].where(df.index != 3, "")),
     "1 row(s) have an empty label, e.g. red/val_0.png"),
    (lambda df: df.assign(label=df["label"].where(df["split"] != "test", "green")),
     "class(es) green appear in val/test but not in train"),
    (lambda df: df.assign(path=df["path"].where(~df.index.isin([1, 4]), "gone.png")), "2 of 12 file(s) in"),
], ids=["no-split-column", "bad-split-value", "empty-test", "one-class", "empty-label", "stray-class", "missing-files"])
def test_load_splits_rejects_bad_manifests(small_manifest: Path, edit, message: str) -> None:
    with pytest.raises(DatacleanError) as info:
        load_splits(_edit(small_manifest, edit))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_error_names_the_first_one(small_manifest: Path) -> None:
    bad = _edit(small_manifest, lambda df: df.assign(path=df["path"].where(~df.index.isin([1, 4]), "red/gone.png")))
    with pytest.raises(DatacleanError, match=r"are missing, first: .*data/red/gone\.png$"):
        load_splits(bad)


def test_class_weights_are_balanced() -> None:
    assert class_weights(np.array([0, 0, 0, 1]), 2) == {0: 4 / 6, 1: 2.0}
    assert class_weights(np.array([0, 1]), 3) == {0: 2 / 3, 1: 2 / 3, 2: 0.0}


@pytest.mark.parametrize("kwargs, message", [
    ({"arch": "inceptionv3", "image_size": 64}, "too small for inceptionv3; it needs at least 75"),
    ({"arch": "vgg99"}, "unknown architecture 'vgg99'"),
    ({"weights": "nowhere.h5"}, "neither 'imagenet', 'none' nor an existing file"),
    ({"epochs": 0, "fine_tune_epochs": 0}, "nothing to train"),
    ({"weights": "none", "epochs": 0, "fine_tune_epochs": 5}, "--epochs is 0 with --weights none"),
    ({"augment": "wild"}, "--augment 'wild'"),
], ids=["size", "arch", "weights", "epochs", "scratch-epochs", "augment"])
def test_train_config_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(DatacleanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(manifest="m.csv", out="o", **kwargs)


def test_train_config_defaults() -> None:
    cfg = TrainConfig(manifest="m.csv", out="o", arch="ResNet50V2", weights="None")
    assert (cfg.arch, cfg.image_size, cfg.keras_weights, cfg.fine_tune_learning_rate) == ("resnet50v2", 224, None, 1e-4)
    assert (cfg.from_scratch, cfg.mode) == (True, "from_scratch")
    default = TrainConfig(manifest="m.csv", out="o")
    assert (default.image_size, default.from_scratch, default.mode) == (299, False, "transfer")


def test_evaluate_predictions_exact_values() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]])
    y = np.array([0, 1, 1, 2, 2])
    ev = evaluate_predictions(y, probs, ["a", "b", "c"], ["f0", "f1", "f2", "f3", "f4"])
    m = ev.metrics
    assert m["test_size"] == 5
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["top5_accuracy"] is None
    assert m["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [1, 0, 1]]
    assert m["recall_macro"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["precision_macro"] == pytest.approx((1 / 3 + 1 + 1) / 3)
    assert m["roc_auc_per_class"]["a"] == pytest.approx(1.0)
    assert m["most_confused"] == [{"true": "b", "predicted": "a", "count": 1, "files": ["f2"]},
                                  {"true": "c", "predicted": "a", "count": 1, "files": ["f4"]}]
    assert ev.errors.to_dict("list") == {"path": ["f2", "f4"], "true": ["b", "c"], "predicted": ["a", "a"],
                                         "confidence": [0.6, 0.5], "p_true": [0.3, 0.4]}


def test_macro_metrics_ignore_a_class_absent_from_the_test_split() -> None:
    """`fix` sends a class with fewer than 10 images wholly to train: it must not count as 0 in the averages."""
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    m = evaluate_predictions(np.array([0, 1, 0]), probs, ["a", "b", "stars"], ["f0", "f1", "f2"]).metrics
    assert (m["accuracy"], m["precision_macro"], m["recall_macro"], m["f1_macro"]) == (1.0, 1.0, 1.0, 1.0)
    assert m["classes_evaluated"] == ["a", "b"]


def test_top5_accuracy_with_more_than_five_classes() -> None:
    probs = np.tile(np.linspace(0.3, 0.0, 7), (2, 1))  # class 0 most likely, class 6 least
    probs /= probs.sum(axis=1, keepdims=True)
    m = evaluate_predictions(np.array([4, 6]), probs, list("abcdefg"), ["x", "y"]).metrics
    assert (m["accuracy"], m["top5_accuracy"]) == (0.0, 0.5)


# --- TensorFlow: data and model -------------------------------------------------------------------

def test_build_dataset_decodes_png_and_jpeg_in_order(tmp_path: Path) -> None:
    from train.data import build_dataset

    splits = load_splits(make_manifest(tmp_path, ["red", "blue"], {"train": 2, "test": 1}, size=10))
    ds = build_dataset(splits.paths["train"], splits.labels["train"], 12, 3)
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(3, 12, 12, 3), (1, 12, 12, 3)]
    images = np.concatenate([b[0] for b in batches])
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 255
    assert np.concatenate([b[1] for b in batches]).tolist() == splits.labels["train"].tolist()
    red = images[splits.labels["train"] == 1].mean(axis=(0, 1, 2))
    assert red[0] > 150 and red[2] < 80  # red images stay red: channels are RGB, values 0..255


def test_undecodable_file_is_an_error_naming_it(tmp_path: Path) -> None:
    from train.data import build_dataset, naming_bad_files

    splits = load_splits(make_manifest(tmp_path, ["red", "blue"], {"train": 2, "test": 1}, size=10))
    broken = splits.paths["train"][2]
    Path(broken).write_bytes(b"this is not an image")
    ds = build_dataset(splits.paths["train"], splits.labels["train"], 12, 2)
    with pytest.raises(DatacleanError, match=f"cannot decode {broken} "):
        with naming_bad_files(splits.paths["train"]):
            list(ds)


@pytest.mark.parametrize("arch", ["inceptionv3", "resnet50", "efficientnetb0"])
def test_preprocess_layer_is_the_architectures_own(arch: str) -> None:
    import importlib

    import keras

    from train.config import get_arch
    from train.model import ArchPreprocess

    x = np.random.default_rng(0).uniform(0, 255, size=(2, 4, 4, 3)).astype("float32")
    own = importlib.import_module(f"keras.applications.{get_arch(arch).module}").preprocess_input(x.copy())
    layer = ArchPreprocess(arch)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), own, rtol=1e-6, atol=1e-4)
    assert ArchPreprocess.from_config(layer.get_config()).arch == arch


@pytest.mark.parametrize("arch, size", [("inceptionv3", 75), ("resnet50v2", 32), ("mobilenetv3large", 32)])
def test_build_model_shapes_and_trainable_backbone_without_weights(arch: str, size: int) -> None:
    from train.model import backbone, build_model

    model = build_model(arch, 5, size, None, dropout=0.3, hidden_units=16, augment="strong")
    assert model.input_shape == (None, size, size, 3) and model.output_shape == (None, 5)
    assert [layer.name for layer in model.layers[-5:]] == ["pool", "dropout", "hidden", "hidden_dropout", "classes"]
    base = backbone(model)
    assert base.trainable and len(base.trainable_weights) == len(base.weights) - 2 * _batchnorm_count(base)
    assert {"augment", "preprocess"} <= {layer.name for layer in model.layers}


def _batchnorm_count(base) -> int:
    from keras import layers

    return sum(isinstance(layer, layers.BatchNormalization) for layer in base.layers)


def _first_batchnorm(model):
    from keras import layers

    from train.model import backbone

    return next(layer for layer in backbone(model).layers if isinstance(layer, layers.BatchNormalization))


@pytest.mark.filterwarnings("ignore:Skipping nested container")
@pytest.mark.parametrize("from_file", [False, True], ids=["from-scratch", "transfer"])
def test_batchnorm_statistics_move_only_from_scratch(from_file: bool, mobilenet_weights: Path) -> None:
    """A training-mode call updates BatchNorm's moving statistics from scratch; with transferred
    weights the backbone is frozen and called with training=False, so they stay put."""
    from train.model import build_model

    model = build_model("mobilenetv3small", 2, 32, str(mobilenet_weights) if from_file else None)
    bn = _first_batchnorm(model)
    before = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]
    x = np.random.default_rng(0).uniform(0, 255, size=(4, 32, 32, 3)).astype("float32")
    model(x, training=True)
    moved = [not np.array_equal(old, new.numpy()) for old, new in zip(before, (bn.moving_mean, bn.moving_variance))]
    assert moved == [not from_file, not from_file]
    assert bn.momentum == (0.999 if from_file else 0.99)  # MobileNet's own, or capped from scratch


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_backbone_weights_load_from_file(tmp_path: Path) -> None:
    from train.model import backbone, build_backbone, build_model

    source = build_backbone("mobilenetv3small", 32, None)
    path = tmp_path / "mobilenet_v3_small_notop.weights.h5"
    source.save_weights(path)
    model = build_model("mobilenetv3small", 2, 32, str(path))
    for a, b in zip(source.get_weights(), backbone(model).get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not backbone(model).trainable and backbone(model).trainable_weights == []  # transfer: frozen
    wrong = tmp_path / "resnet.weights.h5"
    build_backbone("resnet50", 32, None).save_weights(wrong)
    with pytest.raises(DatacleanError, match="could not load backbone weights from .*resnet.weights.h5 into mobilenet"):
        build_backbone("mobilenetv3small", 32, str(wrong))


def _online() -> bool:
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(_online(), reason="only meaningful without internet access")
def test_imagenet_weights_offline_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from train.model import build_backbone

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached file to fall back on
    with pytest.raises(DatacleanError) as info:
        build_backbone("resnet50v2", 32, "imagenet")
    message = str(info.value)
    assert "could not get the ImageNet weights for resnet50v2" in message and "--weights none" in message
    assert "\n" not in message


# --- TensorFlow: it learns, and freezing does what it says ----------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """Transfer: resnet50 from a weights file on red vs blue, 32 px, through the public functions;
    weights before and after.

    The file holds a random initialisation (no ImageNet weights offline), saved from a backbone:
    enough to test what freezing does. ResNet50 because its random features keep their scale through
    the frozen backbone; in MobileNet/Inception/EfficientNet they shrink towards zero, so a head on
    them cannot learn.
    """
    import warnings

    import keras

    from train.data import build_dataset
    from train.evaluate import evaluate
    from train.fit import fit_two_phase
    from train.model import backbone, build_backbone, build_model

    tmp = tmp_path_factory.mktemp("learn")
    splits = load_splits(make_manifest(tmp, ["red", "blue"], {"train": 24, "val": 6, "test": 10}, size=32))
    keras.utils.set_random_seed(1)
    weights = tmp / "resnet50_notop.weights.h5"
    build_backbone("resnet50", 32, None).save_weights(weights)
    ds = {s: build_dataset(splits.paths[s], splits.labels[s], 32, 8, shuffle=s == "train", seed=1)
          for s in ("train", "val")}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipping nested container")
        model = build_model("resnet50", 2, 32, str(weights), dropout=0.1, augment="light", seed=1)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in backbone(model).layers}
    head_before = model.get_layer("classes").get_weights()[0].copy()
    fit = fit_two_phase(model, ds["train"], ds["val"], run_dir=tmp / "run", epochs=3, fine_tune_epochs=2,
                        unfreeze=12, learning_rate=1e-3, fine_tune_learning_rate=1e-4, patience=10)
    test = build_dataset(splits.paths["test"], None, 32, 8)
    ev = evaluate(model, test, splits.labels["test"], splits.classes, splits.paths["test"])
    return model, fit, ev, before, head_before


def test_training_learns_a_separable_task(trained) -> None:
    _, fit, ev, _, _ = trained
    assert (fit.phase1_epochs, fit.phase2_epochs) == (3, 2)
    assert fit.history["phase"] == [1, 1, 1, 2, 2]
    assert ev.metrics["accuracy"] >= 0.9
    assert ev.metrics["roc_auc_ovr_macro"] >= 0.95


def test_only_unfrozen_non_batchnorm_layers_change(trained) -> None:
    from keras import layers

    from train.model import backbone

    model, fit, _, before, head_before = trained
    base = backbone(model)
    unfrozen = set(fit.unfrozen)
    assert unfrozen and len(unfrozen) < 12  # BatchNormalization among the last 12 stayed frozen
    changed_any = False
    for layer in base.layers:
        for old, new in zip(before[layer.name], layer.get_weights()):
            if layer.name in unfrozen:
                changed_any |= not np.array_equal(old, new)
            else:  # frozen in both phases, BatchNorm statistics included
                np.testing.assert_array_equal(old, new, err_msg=layer.name)
        if isinstance(layer, layers.BatchNormalization):
            assert layer.name not in unfrozen and not layer.trainable
    assert changed_any
    assert not np.array_equal(head_before, model.get_layer("classes").get_weights()[0])


@pytest.fixture(scope="module")
def scratch_trained(tmp_path_factory: pytest.TempPathFactory):
    """From scratch: mobilenetv3small, no weights, red vs blue, 32 px, one phase; weights before and after.

    Run eagerly: tracing the whole network's backward pass costs ~30 s, more than six tiny steps.
    """
    import keras
    import tensorflow as tf

    from train.data import build_dataset
    from train.fit import fit_from_scratch
    from train.model import backbone, build_model

    tmp = tmp_path_factory.mktemp("scratch")
    splits = load_splits(make_manifest(tmp, ["red", "blue"], {"train": 12, "val": 4, "test": 1}, size=32))
    keras.utils.set_random_seed(1)
    ds = {s: build_dataset(splits.paths[s], splits.labels[s], 32, 8, shuffle=s == "train", seed=1)
          for s in ("train", "val")}
    model = build_model("mobilenetv3small", 2, 32, None, augment="none", seed=1)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in backbone(model).layers}
    tf.config.run_functions_eagerly(True)
    try:
        fit = fit_from_scratch(model, ds["train"], ds["val"], run_dir=tmp / "run", epochs=2, learning_rate=1e-3,
                               patience=10)
    finally:
        tf.config.run_functions_eagerly(False)
    return model, fit, before


def test_from_scratch_is_one_phase(scratch_trained) -> None:
    _, fit, _ = scratch_trained
    assert (fit.phase1_epochs, fit.phase2_epochs, fit.unfrozen) == (2, 0, [])
    assert fit.history["phase"] == [1, 1] and fit.history["epoch"] == [1, 2]


def test_from_scratch_trains_every_backbone_layer_and_batchnorm_statistics(scratch_trained) -> None:
    from keras import layers

    from train.model import backbone

    model, _, before = scratch_trained
    with_weights = [layer for layer in backbone(model).layers if layer.get_weights()]
    unchanged = [layer.name for layer in with_weights
                 if all(np.array_equal(old, new) for old, new in zip(before[layer.name], layer.get_weights()))]
    assert with_weights and unchanged == []
    for layer in with_weights:
        if isinstance(layer, layers.BatchNormalization):  # gamma/beta learnt, moving mean/variance updated
            old, new = before[layer.name], layer.get_weights()
            assert all(not np.array_equal(o, n) for o, n in zip(old, new)), layer.name
