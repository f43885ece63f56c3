"""``dataclean train`` and ``dataclean predict``. TensorFlow is imported inside the commands only,
so registering them on the ``dataclean`` group keeps ``dataclean --help`` fast."""

from __future__ import annotations

import os
from datetime import datetime

import click

from train.config import ARCHS, AUGMENT_LEVELS, CLASS_WEIGHT_MODES, TrainConfig

_ARCH_HELP = "\n".join(
    f"  {a.name:<17}default {a.default_size}px, min {a.min_size}px; preprocessing: {a.preprocessing}"
    for a in ARCHS.values())

TRAIN_EPILOG = f"""\b
Architectures (--arch):
{_ARCH_HELP}

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
  dataclean train --manifest audit/clean.csv --arch resnet50v2 --image-size 224 \\
      --batch-size 32 --epochs 10 --fine-tune-epochs 10 --unfreeze 30 --out runs/resnet
  dataclean train --manifest audit/clean.csv --arch resnet50 --weights none \\
      --image-size 96 --epochs 30 --out runs/scratch
"""


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.command(epilog=TRAIN_EPILOG)
@click.option("--manifest", required=True, type=click.Path(dir_okay=False),
              help="Clean manifest from `dataclean fix` (columns path, root, label, split).")
@click.option("--arch", type=click.Choice(list(ARCHS), case_sensitive=False), default="inceptionv3",
              show_default=True, help="Backbone (see the list below).")
@click.option("--weights", default="imagenet", show_default=True,
              help="imagenet | PATH to a *_notop.h5 file (transfer) | none (from scratch).")
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
              help="Adam, phase 1 (from scratch: the only phase).")
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
def train(manifest: str, arch: str, weights: str, image_size: int | None, batch_size: int, epochs: int,
          fine_tune_epochs: int, unfreeze: int, learning_rate: float, fine_tune_learning_rate: float | None,
          dropout: float, hidden_units: int, augment: str, class_weight: str, patience: int, cache: bool,
          seed: int, out: str | None, overwrite: bool, data_cache: str | None) -> None:
    """Train a transfer-learning classifier on a clean manifest; evaluate it on the test split.

    Two phases: the new head (pooling, dropout, softmax) on a frozen backbone, then the last
    --unfreeze layers fine-tuned at a lower learning rate. With --weights none there is nothing to
    transfer: the whole network trains from scratch in one phase of --epochs. Early stopping
    watches val_loss.
    Writes model.keras, labels.json, config.json, history.csv, metrics.json, errors.csv and PNG plots
    to --out.
    """
    out = out or os.path.join("runs", f"{arch.lower()}-{datetime.now():%Y%m%d-%H%M%S}")
    cfg = TrainConfig(manifest=manifest, out=out, arch=arch, weights=weights, image_size=image_size,
                      batch_size=batch_size, epochs=epochs, fine_tune_epochs=fine_tune_epochs, unfreeze=unfreeze,
                      learning_rate=learning_rate, fine_tune_learning_rate=fine_tune_learning_rate,
                      dropout=dropout, hidden_units=hidden_units, augment=augment, class_weight=class_weight,
                      patience=patience, cache=cache, seed=seed, data_cache=data_cache)
    _quiet_tensorflow()
    from rich.console import Console

    from train.evaluate import metrics_table
    from train.run import run_training

    result = run_training(cfg, overwrite=overwrite)
    console = Console()
    console.print(metrics_table(result.evaluation.metrics))
    for pair in result.evaluation.metrics["most_confused"][:3]:
        console.print(f"most confused: {pair['true']} -> {pair['predicted']} ({pair['count']})", highlight=False,
                      markup=False)
    console.print(f"run written to {result.run_dir}", highlight=False, markup=False)


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="model.keras from a run directory (labels.json must be beside it).")
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True)
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def predict(model_path: str, top_k: int, images: tuple[str, ...]) -> None:
    """Print the TOP_K most likely classes, with probabilities, for each IMAGE.

    \b
    Example:
      dataclean predict --model runs/resnet/model.keras photo1.jpg photo2.png --top-k 5
    """
    _quiet_tensorflow()
    from train.predict import load_model, predict_images, read_labels

    classes = read_labels(model_path)
    missing = [i for i in images if not os.path.isfile(i)]
    if missing:
        from dataclean.errors import DatacleanError

        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatacleanError(f"image not found: {missing[0]}{more}")
    model = load_model(model_path)
    for image, ranked in zip(images, predict_images(model, classes, images, top_k)):
        click.echo(f"{image}: " + ", ".join(f"{c} {p:.3f}" for c, p in ranked))
