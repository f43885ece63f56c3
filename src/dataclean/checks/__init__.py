"""Dataset checks. Every module in this package registers its checks on import (see base.check)."""

from __future__ import annotations

import importlib
import pkgutil

from dataclean.checks.base import REGISTRY, AuditContext, CheckSpec, Finding, check, ordered_checks

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "base":
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["REGISTRY", "AuditContext", "CheckSpec", "Finding", "check", "ordered_checks"]
