"""The trainer tells the user what it does: checks before TensorFlow loads, quiet start-up, a progress
bar, no run folder after a failed start, one model file; and `--arch simplecnn`; and `predict` on
folders, bad files and scripts' formats."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataclean.errors import DatacleanError
from train.config import TrainConfig, check_run_dir, check_weights_reachable
from train_helpers import make_manifest

SRC = Path(__file__).resolve().parents[1] / "src"
NOISE = ("I0000", "W0000", "E0000", "cuInit", "oneDNN", "cuda", "absl", "TensorFlow binary")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": f"{SRC}:{SRC.parent / 'tests'}", "PATH": "/usr/bin:/bin", **env})


def _cli_without_tensorflow(args: list[str]) -> tuple[int, str]:
    """Run `dataclean ARGS` in a fresh interpreter; assert it never imported TensorFlow."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom dataclean.cli import main\n"
            f"r = CliRunner().invoke(main, {args!r})\n"
            "print(r.exit_code)\nprint(r.output, end='')\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'\n")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    code_line, _, output = proc.stdout.partition("\n")
    return int(code_line), output


# --- checks before TensorFlow ---------------------------------------------------------------------

@pytest.fixture
def audit_manifest(tmp_path: Path) -> Path:
    from dataclean.audit import run_audit, write_outputs

    make_manifest(tmp_path, ["red", "blue"], {"train": 3}, size=16)
    written = write_outputs(run_audit(tmp_path / "data", workers=0), tmp_path / "audit")
    return written["manifest"]


def test_an_audit_manifest_is_told_to_run_fix_first_before_tensorflow_loads(audit_manifest: Path, tmp_path: Path) -> None:
    assert audit_manifest.is_file()
    code, output = _cli_without_tensorflow(["train", "--manifest", str(audit_manifest), "--out", str(tmp_path / "r")])
    assert code == 2
    assert output == (f"Error: {audit_manifest} is an audit manifest (it has no split column): run `dataclean fix "
                      f"--manifest {audit_manifest}` first, then train on the clean.csv it writes\n")
    assert not (tmp_path / "r").exists()


def test_rows_the_audit_found_corrupt_are_refused(tmp_path: Path) -> None:
    from train.data import load_splits

    csv = make_manifest(tmp_path, ["red", "blue"], {"train": 2, "test": 1}, size=8)
    df = pd.read_csv(csv)
    df["error"] = ["", "truncated", "", "tf_unsupported", "", ""]
    df.to_csv(csv, index=False)
    with pytest.raises(DatacleanError) as info:
        load_splits(csv)
    assert str(info.value) == (f"manifest {csv}: 1 row(s) are files the audit could not decode, e.g. red/train_1.jpg "
                               "(truncated); run `dataclean fix` (it drops them) and train on its clean.csv")


def test_other_bad_starts_exit_2_without_tensorflow(tmp_path: Path) -> None:
    csv = make_manifest(tmp_path, ["red", "blue"], {"train": 2, "test": 1}, size=8)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.keras").write_bytes(b"x")
    code, output = _cli_without_tensorflow(["train", "--manifest", str(csv), "--out", str(tmp_path / "taken")])
    assert (code, output) == (2, f"Error: run directory {tmp_path / 'taken'} already holds a model.keras; "
                                 "choose another --out or pass --overwrite\n")
    code, output = _cli_without_tensorflow(["train", "--manifest", str(csv), "--arch", "simplecnn", "--weights", "imagenet"])
    assert (code, output) == (2, "Error: --weights 'imagenet': simplecnn has no pretrained weights, it always trains "
                                 "from scratch (leave --weights out or pass --weights none)\n")
    code, output = _cli_without_tensorflow(["predict", "--model", str(tmp_path), str(csv)])
    assert code == 2
    assert output == f"Error: no labels.json beside {tmp_path / 'model.keras'} (expected {tmp_path / 'labels.json'})\n"


def test_unreachable_imagenet_download_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # nothing cached
    cfg = TrainConfig(manifest="m.csv", out=str(tmp_path / "r"), arch="resnet50v2")
    with pytest.raises(DatacleanError) as info:
        check_weights_reachable(cfg, host="127.0.0.1", timeout=1)  # nothing listens on localhost:443
    assert str(info.value).startswith(f"--weights imagenet: the resnet50v2 weights are not cached ({tmp_path}/models/")
    assert "use --weights none (or --arch simplecnn)" in str(info.value)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"")
    check_weights_reachable(cfg, host="127.0.0.1", timeout=1)  # cached: no network needed
    check_weights_reachable(TrainConfig(manifest="m.csv", out="o", arch="simplecnn"), host="127.0.0.1")


def test_check_run_dir_creates_nothing(tmp_path: Path) -> None:
    assert check_run_dir(tmp_path / "a" / "b", overwrite=False) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatacleanError, match="exists and is not a directory"):
        check_run_dir(tmp_path / "file", overwrite=True)


def test_simplecnn_config_defaults() -> None:
    cfg = TrainConfig(manifest="m.csv", out="o", arch="simplecnn")
    assert (cfg.image_size, cfg.weights, cfg.from_scratch, cfg.mode) == (128, "none", True, "from_scratch")
    assert TrainConfig(manifest="m.csv", out="o").weights == "imagenet"


# --- TensorFlow -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_tensorflow_start_up_is_silent_unless_verbose() -> None:
    code = ("from train.tfenv import import_tensorflow\nimport os\ntf = import_tensorflow({verbose})\n"
            "print(int(tf.reduce_sum(tf.constant([1, 2]))), os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n")
    quiet = _python(code.format(verbose=False))
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "3 3\n", "")
    loud = _python(code.format(verbose=True))
    assert (loud.returncode, loud.stdout) == (0, "3 None\n")


@pytest.mark.slow  # TensorFlow
def test_simplecnn_model_shapes() -> None:
    import keras

    from train.model import backbone, build_model

    model = build_model("simplecnn", 3, 64, None, dropout=0.2, augment="light", seed=0)
    assert model.input_shape == (None, 64, 64, 3) and model.output_shape == (None, 3)
    assert backbone(model).output_shape == (None, 4, 4, 192)  # stride 2, then three 2x poolings
    assert model.count_params() == 324_651  # 322,056 conv + 2,016 BatchNorm + 579 dense
    assert backbone(model).trainable
    x = np.full((1, 64, 64, 3), 255.0, dtype="float32")
    assert float(keras.ops.max(model.get_layer("preprocess")(x))) == 1.0  # scales 0..255 to 0..1
    with pytest.raises(DatacleanError, match="simplecnn has no pretrained weights"):
        build_model("simplecnn", 2, 64, "imagenet")


@pytest.mark.slow
def test_progress_bar_covers_the_first_decode_pass(tmp_path: Path) -> None:
    from rich.console import Console

    from train.data import build_dataset, load_splits
    from train.fit import fit_from_scratch
    from train.model import build_model

    splits = load_splits(make_manifest(tmp_path, ["red", "blue"], {"train": 4, "val": 2, "test": 1}, size=16))
    train_ds = build_dataset(splits.paths["train"], splits.labels["train"], 32, 4, shuffle=True)
    val_ds = build_dataset(splits.paths["val"], splits.labels["val"], 32, 4)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=150)
    model = build_model("simplecnn", 2, 32, None, seed=0)
    fit = fit_from_scratch(model, train_ds, val_ds, run_dir=tmp_path / "run", epochs=2, learning_rate=1e-3,
                           console=console, first_pass="decoding + caching 12 images", cosine=True)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())  # colours and cursor moves off
    assert "from-scratch epoch 1/2 (decoding + caching 12 images)" in text  # the live bar of epoch 1
    assert "from-scratch validating (decoding + caching 12 images)" in text
    assert "2/2" in text and "ETA" in text and "loss" in text
    assert "epoch 2/2 (decoding" not in text  # only the first epoch decodes
    assert fit.history["learning_rate"][0] == pytest.approx(1e-3)
    assert fit.history["learning_rate"][1] == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5))  # cosine, half way
    assert not (tmp_path / "run").exists()  # nothing written while fitting


@pytest.mark.slow
def test_simplecnn_cli_run_on_mixed_formats_is_quiet_and_leaves_one_model(tmp_path: Path) -> None:
    """A real `dataclean train` process on TIFF/PPM/WebP/16-bit PNG/JPEG/PNG rows, then `predict`."""
    from test_train_decode import make_mixed_manifest

    csv = make_mixed_manifest(tmp_path)
    out = tmp_path / "run"
    dataclean = [sys.executable, "-c", "from dataclean.cli import run; run()"]
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([*dataclean, "train", "--manifest", str(csv), "--arch", "simplecnn", "--image-size", "32",
                           "--epochs", "2", "--batch-size", "4", "--keep-checkpoints", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not [line for line in proc.stderr.splitlines() if any(n in line for n in NOISE)], proc.stderr
    assert "10 file(s) in formats TensorFlow cannot read are decoded by Pillow" in proc.stderr
    assert "from-scratch epoch 2/2" in proc.stderr and "Test split (4 images)" in proc.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["arch"] == "simplecnn" and config["pillow_decoded"] == 10
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["best_from-scratch.weights.h5"]
    assert len(list(out.glob("*.keras"))) == 1

    images = tmp_path / "data"
    (images / "notes").mkdir()
    (images / "notes" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    (images / "notes" / "readme.txt").write_text("not an image, and not an image extension: skipped by the folder walk")
    proc = subprocess.run([*dataclean, "predict", "--model", str(out), "--format", "json", "--batch-size", "3",
                           "--top-k", "1", str(images)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"skipped {images / 'notes' / 'broken.jpg'}: ")
    assert not [line for line in proc.stderr.splitlines()[1:] if line.strip()], proc.stderr
    records = json.loads(proc.stdout)
    assert len(records) == 21
    assert [r["path"] for r in records if "error" in r] == [str(images / "notes" / "broken.jpg")]
    predicted = [r for r in records if "predictions" in r]
    assert len(predicted) == 20 and all(len(r["predictions"]) == 1 for r in predicted)
    assert {r["predictions"][0]["label"] for r in predicted} <= {"red", "blue"}
