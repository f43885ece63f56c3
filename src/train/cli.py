"""``dataclean train``, ``dataclean predict`` and ``dataclean serve``. TensorFlow (and FastAPI) are
imported inside the commands only, so registering them on the ``dataclean`` group keeps
``dataclean --help`` fast."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING

import click

from train.config import ARCHS, AUGMENT_LEVELS, CLASS_WEIGHT_MODES, TrainConfig

if TYPE_CHECKING:
    from train.predict import Prediction

_ARCH_HELP = "\n".join(
    f"  {a.name:<17}default {a.default_size}px, min {a.min_size}px; preprocessing: {a.preprocessing}"
    for a in ARCHS.values())

TRAIN_EPILOG = f"""\b
Architectures (--arch):
{_ARCH_HELP}
  (simplecnn has no pretrained weights: it always trains from scratch, with a
  cosine learning-rate decay over --epochs)

\b
--weights: 'imagenet' (downloaded once to ~/.keras/models; needs the internet on
first use) or a path to a Keras applications backbone file without the top, e.g.
inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5, for transfer learning
in two phases; or 'none': nothing to transfer, so the whole network trains from
scratch (random init, BatchNorm learning its statistics) in one phase of --epochs,
and --fine-tune-epochs, --unfreeze and --fine-tune-learning-rate are ignored. From
scratch needs more data and epochs than transfer learning to reach the same accuracy.

\b
Examples:
  dataclean train --manifest audit/clean.csv
  dataclean train --manifest audit/clean.csv --arch simplecnn --epochs 20
  dataclean train --manifest audit/clean.csv --arch resnet50v2 --image-size 224 \\
      --batch-size 32 --epochs 10 --fine-tune-epochs 10 --unfreeze 30 --out runs/resnet
  dataclean train --manifest audit/clean.csv --arch resnet50 --weights none \\
      --image-size 96 --epochs 30 --out runs/scratch
"""


@click.command(epilog=TRAIN_EPILOG)
@click.option("--manifest", required=True, type=click.Path(dir_okay=False),
              help="Clean manifest from `dataclean fix` (columns path, root, label, split).")
@click.option("--arch", type=click.Choice(list(ARCHS), case_sensitive=False), default="inceptionv3",
              show_default=True, help="Backbone (see the list below); simplecnn: small CNN from scratch, CPU-friendly.")
@click.option("--weights", default=None,
              help="imagenet | PATH to a *_notop.h5 file (transfer) | none (from scratch) "
                   "[default: imagenet; none for simplecnn].")
@click.option("--image-size", type=int, default=None, help="Square input size in pixels [default: the arch's].")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--epochs", type=int, default=10, show_default=True,
              help="Phase 1: head only, backbone frozen. From scratch: the only phase, every layer trained.")
@click.option("--fine-tune-epochs", type=int, default=10, show_default=True,
              help="Phase 2: last --unfreeze backbone layers trainable (0 skips it; ignored from scratch).")
@click.option("--unfreeze", type=int, default=30, show_default=True,
              help="How many of the backbone's last layers to fine-tune "
                   "(BatchNorm stays frozen; ignored from scratch).")
@click.option("--learning-rate", type=float, default=1e-3, show_default=True,
              help="Adam, phase 1 (from scratch: the only phase; simplecnn: the start of a cosine decay).")
@click.option("--fine-tune-learning-rate", type=float, default=None,
              help="Adam, phase 2 [default: --learning-rate / 10; ignored from scratch].")
@click.option("--dropout", type=float, default=0.2, show_default=True)
@click.option("--hidden-units", type=int, default=0, show_default=True, help="Extra Dense layer in the head (0: none).")
@click.option("--augment", type=click.Choice(AUGMENT_LEVELS), default="light", show_default=True,
              help="Random flip/rotation/zoom/translation/contrast/brightness, training only.")
@click.option("--class-weight", type=click.Choice(CLASS_WEIGHT_MODES), default="auto", show_default=True,
              help="auto: weight classes by inverse train frequency.")
@click.option("--patience", type=int, default=4, show_default=True, help="EarlyStopping patience per phase.")
@click.option("--cache/--no-cache", default=True, show_default=True, help="Keep decoded images in memory.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: runs/<arch>-<YYYYmmdd-HHMMSS>].")
@click.option("--overwrite", is_flag=True, help="Reuse an --out that already holds a model.")
@click.option("--data-cache", type=click.Path(file_okay=False), default=None,
              help="Where files of a remote manifest root (s3://...) are fetched to, once [default: data-cache/ "
                   "beside the run directory]. Storage options: $DATACLEAN_STORAGE_OPTIONS (JSON).")
@click.option("--keep-checkpoints", is_flag=True,
              help="Also keep each phase's best weights in --out/checkpoints/ (model.keras has them anyway).")
@click.option("--verbose", "-v", is_flag=True, help="Show TensorFlow's own start-up and runtime logs.")
def train(manifest: str, arch: str, weights: str | None, image_size: int | None, batch_size: int, epochs: int,
          fine_tune_epochs: int, unfreeze: int, learning_rate: float, fine_tune_learning_rate: float | None,
          dropout: float, hidden_units: int, augment: str, class_weight: str, patience: int, cache: bool,
          seed: int, out: str | None, overwrite: bool, keep_checkpoints: bool, verbose: bool,
          data_cache: str | None) -> None:
    """Train a classifier on a clean manifest; evaluate it on the test split.

    Transfer learning (the default): the new head (pooling, dropout, softmax) on a frozen backbone,
    then the last --unfreeze layers fine-tuned at a lower learning rate. With --weights none there is
    nothing to transfer: the whole network trains from scratch in one phase of --epochs. Early
    stopping watches val_loss; the best epoch's weights are the ones saved.

    No pretrained weights at hand (offline, or a CPU only)? --arch simplecnn: a small CNN that trains
    from scratch in minutes on a CPU at 128 px.

    The manifest is checked before TensorFlow loads; nothing is written to --out until the run is done.
    Writes model.keras, labels.json, config.json, history.csv, metrics.json, errors.csv and PNG plots
    to --out.
    """
    from train.config import check_run_dir, check_weights_reachable
    from train.data import load_splits

    out = out or os.path.join("runs", f"{arch.lower()}-{datetime.now():%Y%m%d-%H%M%S}")
    cfg = TrainConfig(manifest=manifest, out=out, arch=arch, weights=weights, image_size=image_size,
                      batch_size=batch_size, epochs=epochs, fine_tune_epochs=fine_tune_epochs, unfreeze=unfreeze,
                      learning_rate=learning_rate, fine_tune_learning_rate=fine_tune_learning_rate,
                      dropout=dropout, hidden_units=hidden_units, augment=augment, class_weight=class_weight,
                      patience=patience, cache=cache, seed=seed, keep_checkpoints=keep_checkpoints,
                      data_cache=data_cache)
    # every check that needs no TensorFlow, before its import (remote files fetched into the data cache)
    splits = load_splits(cfg.manifest, data_cache=cfg.remote_cache)
    check_run_dir(cfg.out, overwrite)
    check_weights_reachable(cfg)
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("loading TensorFlow"):
        from train.tfenv import import_tensorflow

        import_tensorflow(verbose)
        from train.evaluate import metrics_table
        from train.run import run_training

    result = run_training(cfg, overwrite=overwrite, console=console, splits=splits)
    out_console = Console()
    out_console.print(metrics_table(result.evaluation.metrics))
    for pair in result.evaluation.metrics["most_confused"][:3]:
        out_console.print(f"most confused: {pair['true']} -> {pair['predicted']} ({pair['count']})", highlight=False,
                          markup=False)
    out_console.print(f"run written to {result.run_dir}", highlight=False, markup=False)


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="A run directory, or the model.keras in one (labels.json must be beside it).")
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True,
              help="text: one line per image; csv: path,rank,label,probability,error rows; json: a list of objects.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images per model call.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images with more pixels (decompression bombs) [default: 89,478,485].")
@click.option("--verbose", "-v", is_flag=True, help="Show TensorFlow's own start-up logs.")
@click.argument("images", nargs=-1, required=True, type=click.Path())
def predict(model_path: str, top_k: int, fmt: str, batch_size: int, max_pixels: int | None, verbose: bool,
            images: tuple[str, ...]) -> None:
    """Print the TOP_K most likely classes, with probabilities, for each image in IMAGES.

    IMAGES are files, or folders searched recursively for image files. Every format Pillow reads is
    accepted (decoded as in training). A file that cannot be read gets a one-line reason on stderr
    (and in the csv/json output) and the others go on.

    \b
    Exit codes: 0 every image predicted, 1 some could not be read, 2 bad model or options.

    \b
    Examples:
      dataclean predict --model runs/resnet photo1.jpg photo2.png --top-k 5
      dataclean predict --model runs/resnet/model.keras photos/ --format csv > predictions.csv
    """
    from train.decode import DEFAULT_MAX_PIXELS
    from train.predict import model_file, read_labels

    read_labels(model_path)  # before TensorFlow loads: a wrong --model fails at once
    if not model_file(model_path).is_file():
        from dataclean.errors import DatacleanError

        raise DatacleanError(f"model not found: {model_file(model_path)}")
    from train.tfenv import import_tensorflow

    import_tensorflow(verbose)
    from train.predict import Predictor, iter_images, predict_paths

    predictor = Predictor(model_path)
    failed = 0
    records = []
    if fmt == "csv":
        click.echo("path,rank,label,probability,error")
    for result in predict_paths(predictor, iter_images(images), top_k, batch_size, max_pixels or DEFAULT_MAX_PIXELS):
        if result.error:
            failed += 1
            click.echo(f"skipped {result.path}: {result.error}", err=True)
        if fmt == "text" and not result.error:
            click.echo(f"{result.path}: " + ", ".join(f"{c} {p:.3f}" for c, p in result.ranked))
        elif fmt == "csv":
            _csv_rows(result)
        elif fmt == "json":
            records.append({"path": result.path, "error": result.error} if result.error else
                           {"path": result.path, "predictions": [{"label": c, "probability": p} for c, p in result.ranked]})
    if fmt == "json":
        import json

        click.echo(json.dumps(records, indent=2))
    if failed:
        raise SystemExit(1)


def _csv_rows(result: Prediction) -> None:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if result.error:
        writer.writerow([result.path, "", "", "", result.error])
    for rank, (label, prob) in enumerate(result.ranked, 1):
        writer.writerow([result.path, rank, label, f"{prob:.6f}", ""])
    click.echo(buf.getvalue(), nl=False)


SERVE_EPILOG = """\b
Exposing it: the default --host 127.0.0.1 accepts connections from this
machine only. --host 0.0.0.0 (or a LAN address) lets anyone who can reach the
port upload images and read the model's predictions and class names: there is
no authentication, no TLS and no rate limit. Do that only on a network you
trust, or behind a reverse proxy that adds them.

\b
Endpoints:
  GET  /          upload page (choose or drop an image, see its top classes)
  GET  /health    {"status": "ok", "model": ..., "classes": [...], ...}
  POST /predict   multipart field 'file' [?top_k=N] -> {"predictions": [...]}

\b
Examples:
  dataclean serve runs/demo
  dataclean serve runs/demo --port 9000 --max-upload-mb 5
  curl -F file=@photo.jpg 'http://127.0.0.1:8000/predict?top_k=3'
"""


@click.command(epilog=SERVE_EPILOG)
@click.argument("run_dir", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only; see 'Exposing it' below).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
              help="Larger uploads get 413.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=40_000_000, show_default=True,
              help="Images with more pixels (decompression bombs) get 413, refused from their header.")
@click.option("--verbose", "-v", is_flag=True, help="Show TensorFlow's logs and uvicorn's access log.")
def serve(run_dir: str, host: str, port: int, max_upload_mb: float, max_pixels: int, verbose: bool) -> None:
    """Serve the model in RUN_DIR over HTTP: an upload page, /health and /predict.

    The model is loaded once at start-up; concurrent requests are safe. Bad uploads (not an image,
    truncated, too many pixels, too large) get a 4xx JSON {"error": ...}. Needs the serve extra:
    pip install 'dataclean[serve]'.
    """
    import importlib.util
    import socket

    from dataclean.errors import DatacleanError
    from train.predict import model_file, read_labels

    missing = [m for m in ("fastapi", "uvicorn", "python_multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise DatacleanError(f"`dataclean serve` needs the serve extra (cannot import {', '.join(missing)}): "
                             "pip install 'dataclean[serve]'")
    import uvicorn
    read_labels(run_dir)
    if not model_file(run_dir).is_file():
        raise DatacleanError(f"model not found: {model_file(run_dir)}")
    try:  # a taken port or a bad address: one line now, not a uvicorn traceback after the model loads
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise DatacleanError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"loading {model_file(run_dir)}"):
        from train.tfenv import import_tensorflow

        import_tensorflow(verbose)
        from train.serve import create_app

        app = create_app(run_dir, max_upload_mb=max_upload_mb, max_pixels=max_pixels)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"serving {model_file(run_dir)} on http://{shown}:{port}/ (Ctrl-C stops)", highlight=False,
                  markup=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]listening on {host}: anyone who can reach this port can use the model "
                      "(no authentication)[/]")
    uvicorn.run(app, host=host, port=port, log_level="info" if verbose else "warning", access_log=verbose)
