"""Shared fixtures: a seeded synthetic dataset with every problem planted, audited once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataclean.audit import AuditResult, run_audit
from dataclean.synth import make_dataset


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("planted") / "data"
    return root, make_dataset(root, seed=7)


@pytest.fixture(scope="session")
def planted_audit(planted: tuple[Path, dict[str, list[str]]]) -> AuditResult:
    root, _ = planted
    return run_audit(root, workers=0, labels_path=root / "labels.csv")


@pytest.fixture(scope="session")
def mobilenet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MobileNetV3Small backbone weights file (random init), standing in for pretrained weights offline."""
    from train.model import build_backbone

    path = tmp_path_factory.mktemp("weights") / "mobilenet_v3_small_notop.weights.h5"
    build_backbone("mobilenetv3small", 32, None).save_weights(path)
    return path
