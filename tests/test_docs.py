"""Every command teaches through --help, and the README's commands exist."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from dataclean.checks import REGISTRY
from dataclean.cli import main

COMMANDS = ["audit", "checks", "fix", "report", "train", "predict", "serve"]


@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS)
def test_every_command_has_help(command: str) -> None:
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0, res.output
    assert len(res.output.splitlines()) > 8


def test_group_lists_every_command() -> None:
    res = CliRunner().invoke(main, ["--help"])
    assert all(re.search(rf"^\s+{c}\s", res.output, re.M) for c in COMMANDS)


def test_checks_command_lists_every_registered_check() -> None:
    res = CliRunner().invoke(main, ["checks"], terminal_width=200)
    assert res.exit_code == 0
    assert all(name in res.output for name in REGISTRY)


def test_every_check_has_a_description_and_known_severity() -> None:
    for spec in REGISTRY.values():
        assert spec.description and spec.severity in ("error", "warning", "info")
