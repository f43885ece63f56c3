"""``dataclean fix``: apply a policy to an audit manifest, split what is kept, optionally quarantine.

The click command lives in :mod:`dataclean.fix.cli`; these are the library entry points. They are
loaded on first use, so that ``dataclean audit`` can use :mod:`dataclean.fix.policy` without
importing pandas through the rest of the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FixPlan": "engine", "apply_quarantine": "engine", "plan_fix": "engine", "write_outputs": "engine",
    "DEFAULT_ACTIONS": "policy", "KEEP_ONE_RULE": "policy", "Policy": "policy", "load_policy": "policy",
    "propose_actions": "policy", "undo": "quarantine", "assign_splits": "split", "render_summary": "summary",
    "summarize": "summary",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


import sys as _sys  # noqa: E402

from dataclean import make_callable as _make_callable  # noqa: E402

_make_callable(_sys.modules[__name__])  # `dataclean.fix(...)` is the public API: see dataclean/__init__.py
