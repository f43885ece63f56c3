"""``dataclean train`` / ``dataclean predict`` through click's CliRunner, with exact exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dataclean.cli import main
from train.cli import predict, train
from train.config import ARCHS
from train_helpers import make_manifest

pytestmark = pytest.mark.slow  # TensorFlow: imports it, builds and fits models


@pytest.fixture(scope="module")
def cli():
    """The dataclean group with the trainer's commands registered, as the lead's cli.py will do."""
    main.add_command(train)
    main.add_command(predict)
    return main


def invoke(cli, *args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(cli, tmp_path_factory: pytest.TempPathFactory):
    """One real run (MobileNetV3Small, 32 px, from scratch, 2 epochs) shared by the tests below.

    The fine-tune options are passed to check they are ignored from scratch. MobileNetV3Small keeps it
    fast; InceptionV3 at 75 px works the same but takes ~3x longer.
    """
    tmp = tmp_path_factory.mktemp("cli")
    manifest = make_manifest(tmp, ["red", "blue", "green"], {"train": 4, "val": 1, "test": 2}, size=40)
    out = tmp / "run"
    result = invoke(cli, "train", "--manifest", manifest, "--arch", "mobilenetv3small", "--weights", "none",
                    "--image-size", 32, "--batch-size", 6, "--epochs", 2, "--fine-tune-epochs", 1,
                    "--unfreeze", 5, "--augment", "strong", "--hidden-units", 8, "--out", out)
    return result, out, manifest


def test_train_writes_a_complete_run(run) -> None:
    result, out, manifest = run
    assert result.exit_code == 0, result.output
    from train.run import RUN_FILES

    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(RUN_FILES)
    assert json.loads((out / "labels.json").read_text()) == {"0": "blue", "1": "green", "2": "red"}
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["arch"] == "mobilenetv3small" and config["settings"]["image_size"] == 32
    assert config["mode"] == "from_scratch" and config["epochs_run"] == {"from_scratch": 2}
    assert config["ignored_settings"] == ["fine_tune_epochs", "unfreeze", "fine_tune_learning_rate"]
    assert config["manifest"]["path"] == str(manifest.resolve()) and len(config["manifest"]["md5"]) == 32
    assert any(d.startswith("CPU:") for d in config["environment"]["devices"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_size"] == 6 and len(metrics["confusion_matrix"]) == 3
    history = pd.read_csv(out / "history.csv")
    assert history["phase"].tolist() == [1, 1] and history["epoch"].tolist() == [1, 2]
    assert list(pd.read_csv(out / "errors.csv").columns) == ["path", "true", "predicted", "confidence", "p_true"]
    assert "Test split (6 images)" in result.output and f"run written to {out}" in result.output
    assert "trains from scratch" in result.output and "--fine-tune-epochs, --unfreeze" in result.output
    assert "from-scratch epoch 2/2" in result.output and "fine-tune epoch" not in result.output
    assert not (out / "checkpoints").exists()  # one model file: no second copy without --keep-checkpoints


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_train_with_a_weights_file_is_two_phase_transfer(cli, mobilenet_weights: Path, tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path, ["red", "blue"], {"train": 3, "val": 1, "test": 1}, size=32)
    out = tmp_path / "run"
    result = invoke(cli, "train", "--manifest", manifest, "--arch", "mobilenetv3small", "--weights", mobilenet_weights,
                    "--image-size", 32, "--epochs", 1, "--fine-tune-epochs", 1, "--unfreeze", 5, "--out", out)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["mode"] == "transfer" and config["epochs_run"] == {"head": 1, "fine_tune": 1}
    assert config["unfrozen_layers"] and "ignored_settings" not in config
    assert pd.read_csv(out / "history.csv")["phase"].tolist() == [1, 2]
    assert "head epoch 1/1" in result.output and "fine-tune epoch 2/2" in result.output
    assert "from scratch" not in result.output


def test_train_refuses_to_overwrite_a_run(cli, run) -> None:
    _, out, manifest = run
    result = invoke(cli, "train", "--manifest", manifest, "--weights", "none", "--out", out)
    assert result.exit_code == 2
    assert f"Error: run directory {out} already holds a model.keras" in result.output


def test_predict_prints_top_k(cli, run) -> None:
    _, out, manifest = run
    images = [str(p) for p in sorted((manifest.parent / "data" / "red").glob("test_*"))]
    result = invoke(cli, "predict", "--model", out / "model.keras", "--top-k", 2, *images)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == images
    assert all(len(line.split(": ")[1].split(", ")) == 2 for line in lines)


def test_predict_goes_on_past_bad_files_and_exits_1(cli, run, tmp_path: Path) -> None:
    _, out, manifest = run
    good = sorted((manifest.parent / "data" / "red").glob("test_*"))[0]
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    result = CliRunner().invoke(cli, ["predict", "--model", str(out), str(tmp_path / "nope.jpg"), str(junk), str(good)])
    assert result.exit_code == 1
    assert result.stderr == (f"skipped {tmp_path / 'nope.jpg'}: file not found\n"
                             f"skipped {junk}: not an image (no format recognised its bytes)\n")
    assert result.stdout.startswith(f"{good}: ") and result.stdout.count("\n") == 1


def test_predict_bad_model_exits_2(cli, tmp_path: Path) -> None:
    result = invoke(cli, "predict", "--model", tmp_path / "model.keras", tmp_path / "x.jpg")
    assert result.exit_code == 2
    assert result.output == f"Error: no labels.json beside {tmp_path / 'model.keras'} (expected {tmp_path / 'labels.json'})\n"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return make_manifest(tmp_path, ["red", "blue"], {"train": 2, "val": 1, "test": 1}, size=8)


def test_missing_manifest_exits_2(cli, tmp_path: Path) -> None:
    result = invoke(cli, "train", "--manifest", tmp_path / "none.csv", "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert result.output == f"Error: manifest not found: {tmp_path / 'none.csv'}\n"


def test_missing_split_column_exits_2(cli, manifest: Path, tmp_path: Path) -> None:
    pd.read_csv(manifest).drop(columns="split").to_csv(manifest, index=False)
    result = invoke(cli, "train", "--manifest", manifest, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: manifest {manifest} lacks column(s) split;")


def test_missing_image_files_exit_2(cli, manifest: Path, tmp_path: Path) -> None:
    df = pd.read_csv(manifest)
    for rel in df["path"][:3]:
        (tmp_path / "data" / rel).unlink()
    result = invoke(cli, "train", "--manifest", manifest, "--out", tmp_path / "r")
    assert result.exit_code == 2
    first = tmp_path / "data" / df["path"][0]
    assert result.output == f"Error: 3 of 8 file(s) in {manifest} are missing, first: {first}\n"
    assert not (tmp_path / "r").exists()  # checked before the run directory is made


def test_unknown_arch_exits_2(cli, manifest: Path) -> None:
    result = invoke(cli, "train", "--manifest", manifest, "--arch", "vgg99")
    assert result.exit_code == 2
    assert "Invalid value for '--arch': 'vgg99' is not one of" in result.output


def test_too_small_image_size_exits_2(cli, manifest: Path) -> None:
    result = invoke(cli, "train", "--manifest", manifest, "--image-size", 32)
    assert result.exit_code == 2
    assert result.output == ("Error: --image-size 32 is too small for inceptionv3; it needs at least 75 "
                             "(default 299)\n")


def test_train_help_teaches(cli) -> None:
    result = invoke(cli, "train", "--help")
    assert result.exit_code == 0
    for text in [*ARCHS, "--fine-tune-epochs", "--unfreeze", "*_notop.h5", "Examples:", "default: 10"]:
        assert text in result.output, text
    assert invoke(cli, "predict", "--help").exit_code == 0


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_undecodable_file_at_train_time_exits_2_naming_it(cli, manifest: Path, mobilenet_weights: Path, tmp_path: Path) -> None:
    """With a weights file only the head trains, so Keras traces a small graph before the data fails."""
    broken = tmp_path / "data" / pd.read_csv(manifest)["path"][1]
    broken.write_bytes(b"GIF89a but not really")
    result = invoke(cli, "train", "--manifest", manifest, "--arch", "mobilenetv3small", "--weights", mobilenet_weights,
                    "--image-size", 32, "--epochs", 1, "--fine-tune-epochs", 0, "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1].startswith(f"Error: cannot decode {broken} (")
    assert not (tmp_path / "r").exists()  # a failed run leaves no run folder behind
