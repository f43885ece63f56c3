"""Command-line interface: argument parsing only; the work is done by the library modules.

Every DatacleanError becomes a one-line ``Error: ...`` on stderr and exit code 2, in one place
(:class:`DatacleanGroup`), so no command prints a traceback for bad input.
"""

from __future__ import annotations

from typing import Any

import click

from dataclean import __version__
from dataclean.errors import DatacleanError
from dataclean.text import printable

#: Commands defined outside this module, imported only when used (keeps `audit --help` fast and
#: TensorFlow out of everything but `train` / `predict`).
LAZY_COMMANDS = {
    "fix": "dataclean.fix.cli:fix",
    "train": "train.cli:train",
    "predict": "train.cli:predict",
    "serve": "train.cli:serve",
}


class _Failure(click.ClickException):
    """A DatacleanError (or OSError) as click prints it: ``Error: <one line>`` and exit code 2."""

    exit_code = DatacleanError.exit_code


class DatacleanGroup(click.Group):
    """A click group that loads some commands lazily and turns domain and I/O errors into one-line errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            try:
                command = getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as exc:
                raise click.ClickException(f"`dataclean {cmd_name}` is unavailable: cannot import {exc.name}") from None
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatacleanError as exc:
            raise _Failure(printable(str(exc))) from None
        except OSError as exc:  # a file or folder we could not read or write: name it, no traceback
            where = f": {exc.filename}" if exc.filename else ""
            raise _Failure(printable(f"{exc.strerror or exc}{where}")) from None


@click.group(cls=DatacleanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dataclean")
def main() -> None:
    """Audit, clean and train on image-classification datasets: DATA/<class>/<image>, pre-split
    DATA/<train|val|test>/<class>/<image>, or images with index files (see `dataclean audit --help`).

    \b
    Typical flow:
      dataclean audit data/                          # -> audit/manifest.csv, issues.csv, summary.json
      dataclean fix --manifest audit/manifest.csv    # -> audit/clean.csv with a leak-proof split
      dataclean train --manifest audit/clean.csv     # -> runs/<name>/ model, metrics, plots
      dataclean predict --model runs/<name> photos/  # top classes per image
      dataclean serve runs/<name>                    # the model over HTTP on 127.0.0.1:8000
    """


def _check_list(value: str | None) -> list[str]:
    from dataclean.checks import REGISTRY

    if not value:
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    if names == ["any"]:
        return sorted(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise DatacleanError(f"--fail-on: unknown check {', '.join(unknown)} (known: any, {', '.join(sorted(REGISTRY))})")
    return names


@main.command()
@click.argument("data", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.option("--out", "-o", default="audit", show_default=True, type=click.Path(file_okay=False),
              help="Folder for manifest.csv, issues.csv and summary.json.")
@click.option("--workers", "-j", type=click.IntRange(min=0), default=None,
              help="Processes inspecting files [default: all cores]; 0 inspects in this process.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="CSV with columns path,label (paths relative to DATA): enables the misplaced check.")
@click.option("--layout", type=click.Choice(["auto", "classes", "splits", "flat"]), default="auto", show_default=True,
              help="How DATA is laid out: classes (DATA/<class>/...), splits (DATA/<train|val|test>/<class>/...), "
                   "flat (no labels); auto detects split folders by name (train, validation, test_set, ...).")
@click.option("--index", "index", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Index file giving labels (and splits): a CSV path,label[,split] or lines 'relative/path label' "
                   "(IP102's train.txt; the split comes from the file name). Repeatable; paths are relative to DATA.")
@click.option("--class-names", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Lines 'id name' (IP102's classes.txt) mapping the index's label ids (or folder names) to names.")
@click.option("--fail-on", default="", metavar="CHECKS",
              help="Comma-separated checks (or 'any') that make the exit code 1 when they find something.")
@click.option("--set", "settings", multiple=True, metavar="CHECK.PARAM=VALUE",
              help="Override a check parameter, e.g. --set dark.max_brightness=0.05 (repeatable; see `dataclean checks`).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Decompression-bomb cap: images with more pixels are reported as too_large [default: 89,478,485].")
@click.option("--max-file-mb", type=click.IntRange(min=1), default=None,
              help="Files bigger than this are hashed in chunks, not decoded, and reported as too_large [default: 512].")
@click.option("--format", "fmt", type=click.Choice(["rich", "json"]), default="rich", show_default=True,
              help="rich: the terminal report; json: the summary as JSON on stdout, for scripts.")
@click.option("--examples", default=3, show_default=True, type=click.IntRange(min=0), help="Example files shown per check.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or report; one summary line (for CI logs).")
@click.option("--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE",
              help="Option for DATA's fsspec filesystem, e.g. endpoint_url=http://127.0.0.1:9000 or anon=true "
                   "(repeatable; values parsed as JSON when they parse).")
@click.option("--no-cache", is_flag=True,
              help="Inspect every file and write no cache (default: files unchanged since the last audit into --out "
                   "are not read again; the cache is --out/cache.sqlite).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: a process pool on this machine; dask: tasks on a Dask cluster (needs dataclean[scale]).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler for --engine dask, e.g. tcp://10.0.0.5:8786 [default: $DASK_SCHEDULER_ADDRESS, "
                   "else a local cluster of --workers processes].")
@click.option("--html", "html", is_flag=True, help="Also write --out/report.html (as `dataclean report` does).")
@click.option("--max-per-check", default=200, show_default=True, type=click.IntRange(min=0),
              help="With --html: files shown (with thumbnails) per check; the rest are counted.")
def audit(data: str, out: str, workers: int | None, labels: str | None, layout: str, index: tuple[str, ...],
          class_names: str | None, fail_on: str, settings: tuple[str, ...], max_pixels: int | None,
          max_file_mb: int | None, fmt: str, examples: int, quiet: bool, html: bool, max_per_check: int,
          storage_options: tuple[str, ...], no_cache: bool, engine: str, scheduler: str | None) -> None:
    """Audit the image dataset in DATA: DATA/<class>/<image>, pre-split DATA/<train|val|test>/<class>/<image>,
    a flat folder of images, or any folder with index files (--index).

    DATA is a folder or any fsspec URL (s3://bucket/prefix, gs://..., az://...); remote data is only
    read, never written.

    Every file is read once (MD5) and decoded once, in parallel. Checks: corrupt files, exact and
    near duplicates, dark / bright / low-contrast images, resolution outliers, duplicate file
    names, naming problems, label conflicts, misplaced files (with --labels), class imbalance, and
    for a dataset that came split, leaks of an image across its splits (split_leak). With --index:
    listed files that are missing, and images no index lists. Nothing in DATA is modified.

    \b
    Writes to --out: manifest.csv (one row per file), issues.csv (one row per finding),
    summary.json (counts, statistics, parameters).

    \b
    Re-auditing into the same --out reads only new or changed files (same path, size and mtime or
    ETag: the record comes from --out/cache.sqlite); the checks always run on the whole table.

    \b
    Exit codes: 0 done (nothing matched --fail-on), 1 a --fail-on check fired, 2 bad input.

    \b
    Examples:
      dataclean audit data/
      dataclean audit data/ --out audit/ --workers 2 --fail-on corrupt,exact_duplicate
      dataclean audit data/ --set near_duplicate.max_distance=6 --format json
      dataclean audit clothing/ --layout classes        # a real class called "test": no split detection
      dataclean audit ip102/images --index ip102/train.txt --index ip102/val.txt
          --index ip102/test.txt --class-names ip102/classes.txt    # IP102: lists + class names
      dataclean audit data/ --html                      # + audit/report.html, galleries to review
      dataclean audit s3://bucket/photos --storage-option endpoint_url=http://127.0.0.1:9000
      dataclean audit s3://bucket/photos --engine dask --scheduler tcp://10.0.0.5:8786
    """
    import json
    import os

    # One process per core already decodes; OpenBLAS's own thread pool would only add threads that
    # spin at numpy's import (~0.1 s of CPU) for matrix products too small to share. Before numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from dataclean.launch import start_audit
    from dataclean.layout import layout_options
    from dataclean.record import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
    from dataclean.storage import parse_storage_options

    # Submit the files to the workers first: everything imported below (the checks, the report) is
    # loaded while they decode.
    job = start_audit(data, workers=workers, labels_path=labels, max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
                      out_dir=out, layout=layout_options(layout, index, class_names),
                      max_bytes=max_file_mb * 1_000_000 if max_file_mb else DEFAULT_MAX_BYTES,
                      storage_options=parse_storage_options(storage_options), use_cache=not no_cache, engine=engine,
                      scheduler=scheduler)
    try:  # the --out folder stays locked until its outputs are written
        try:
            from rich.console import Console

            from dataclean.audit import finish_audit, parse_params, read_labels_file, write_outputs
            from dataclean.report import audit_report

            fail_checks = _check_list(fail_on)
            params = parse_params(settings)
            labels_file = read_labels_file(labels) if labels else None
        except BaseException:
            job.inspection.close()
            raise
        err = Console(stderr=True)
        for warning in job.warnings:
            err.print(f"Warning: {warning}", style="yellow", markup=False, highlight=False, soft_wrap=True)
        # a live bar only where someone can see it (rich draws nothing on a pipe or file anyway)
        with _Progress(err, enabled=fmt == "rich" and not quiet and err.is_terminal) as progress:
            progress.start(len(job.found.paths))
            result = finish_audit(job, labels_file, labels, params, on_progress=progress.advance, on_stage=progress.stage)
        written = write_outputs(result, out)
        if html:
            from dataclean.htmlreport import write_audit_report

            written["report"] = write_audit_report(out, max_per_check=max_per_check, workers=workers).path
        fired = [c for c in fail_checks if result.findings.get(c)]
        if fmt == "json":
            click.echo(json.dumps(result.summary, indent=2, sort_keys=True, default=str))
        elif quiet:
            counts = ", ".join(f"{n} {result.summary['checks'][n]['files'] or len(result.findings[n])}" for n in result.fired)
            click.echo(printable(f"audited {result.summary['files']} files: {counts or 'no issues'}; outputs in {out}/"))
        else:
            console = Console(emoji=False)  # file and class names are shown as they are: no :emoji: codes
            console.print(audit_report(result, examples))
            console.print(printable(f"Wrote {', '.join(str(p) for p in written.values())}"), style="dim", markup=False,
                          highlight=False)
        if fired:
            err.print(f"[red]failing: {', '.join(fired)} found issues (--fail-on)[/red]")
            raise SystemExit(1)
    finally:
        job.release()


@main.command()
@click.argument("folder", type=click.Path(path_type=str))
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write [default: FOLDER/report.html].")
@click.option("--max-per-check", default=200, show_default=True, type=click.IntRange(min=0),
              help="Files shown (with thumbnails) per check; the rest are counted and listed in issues.csv.")
@click.option("--workers", "-j", type=click.IntRange(min=0), default=None,
              help="Processes making thumbnails [default: all cores]; 0 works in this process.")
def report(folder: str, out: str | None, max_per_check: int, workers: int | None) -> None:
    """Write a self-contained HTML report of an audit folder (or a training run folder).

    From an audit's --out folder (manifest.csv, issues.csv, summary.json): the checks, the classes,
    dataset statistics and one gallery per check, with duplicate clusters shown as groups. Each card
    has keep / drop (and relabel for label problems); "download decisions" saves decisions.csv for
    `dataclean fix --decisions`. From a `dataclean train` run folder: the test metrics, the plots and
    the misclassified test images. One file, thumbnails embedded, nothing fetched from the network.

    \b
    Examples:
      dataclean report audit/
      dataclean report audit/ --max-per-check 50 --out review.html
      dataclean fix --manifest audit/manifest.csv --decisions ~/Downloads/decisions.csv
      dataclean report runs/demo/
    """
    from dataclean.api import report as write_report

    written = write_report(folder, out=out, max_per_check=max_per_check, workers=workers)
    click.echo(printable(f"wrote {written.path} ({written.bytes / 1e6:.2f} MB, {written.thumbnails} thumbnails, "
                         f"{written.seconds:.1f} s)"))


@main.command(name="checks")
def list_checks() -> None:
    """List every check with its severity, what it finds and its parameters.

    Severity: error (the file cannot be trained on as is), warning (likely wrong), info (worth a look).
    Override any parameter for one audit with --set CHECK.PARAM=VALUE.

    \b
    Example:
      dataclean checks
      dataclean audit data/ --set near_duplicate.max_distance=6 --set dark.max_brightness=0.08
    """
    from rich.console import Console
    from rich.table import Table

    from dataclean.checks import ordered_checks

    table = Table()
    for col in ("check", "severity", "finds", "parameters (defaults)"):
        table.add_column(col, overflow="fold")
    for spec in ordered_checks():
        params = ", ".join(f"{k}={v}" for k, v in spec.params.items())
        table.add_row(spec.name, spec.severity, spec.description, params)
    Console().print(table)


class _Progress:
    """A rich progress bar on stderr (a no-op when disabled): files inspected, then the stages of the
    work after the last file (the near-duplicate search's steps, the checks), so that a big dataset's
    minute of searching does not look like a finished bar."""

    def __init__(self, console: Any, enabled: bool) -> None:
        self.enabled = enabled
        self.console = console
        self._bar: Any = None
        self._task: Any = None
        self._stage = ""

    def __enter__(self) -> _Progress:
        return self

    def start(self, total: int) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                             console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task("inspecting", total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def stage(self, name: str, done: int, total: int) -> None:
        """``done`` of ``total`` steps of stage ``name`` (the search's threads call this too: rich's
        Progress takes a lock). A new stage starts its own bar, drawn at once."""
        if self._bar is None:
            return
        if name != self._stage:
            self._stage = name
            self._bar.remove_task(self._task)
            self._task = self._bar.add_task(name, total=total, completed=done)
            self._bar.refresh()
        else:
            self._bar.update(self._task, total=total, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def run() -> None:
    """The console entry point: :func:`main`, then a quicker exit.

    By the time ``main`` returns (it always exits by SystemExit), every output is written and closed.
    Freezing the heap spares the interpreter's final garbage collection over every object the run
    created or imported (numpy, rich, the audit's columns): ~60 ms of a ~2 s audit spent on teardown.
    """
    import gc

    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    run()
