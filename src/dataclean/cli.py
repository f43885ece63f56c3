"""Command-line interface: argument parsing only; the work is done by the library modules.

Every DatacleanError becomes a one-line ``Error: ...`` on stderr and exit code 2, in one place
(:class:`DatacleanGroup`), so no command prints a traceback for bad input.
"""

from __future__ import annotations

from typing import Any

import click

from dataclean import __version__
from dataclean.errors import DatacleanError


class DatacleanGroup(click.Group):
    """A click group that turns domain errors into clean usage errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatacleanError as exc:
            err = click.ClickException(str(exc))
            err.exit_code = exc.exit_code
            raise err from None


@click.group(cls=DatacleanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dataclean")
def main() -> None:
    """Audit, clean and train on image-classification datasets laid out as DATA/<class>/<image>.

    \b
    Typical flow:
      dataclean audit data/                          # -> audit/manifest.csv, issues.csv, summary.json
      dataclean fix --manifest audit/manifest.csv    # -> audit/clean.csv with a leak-proof split
      dataclean train --manifest audit/clean.csv     # -> runs/<name>/ model, metrics, plots
    """
