"""dataclean: audit and clean image-classification datasets.

The Python API (see :mod:`dataclean.api`)::

    import dataclean
    result = dataclean.audit("data/", workers=2)
    clean = dataclean.fix(result)

``dataclean.audit``, ``dataclean.fix`` and ``dataclean.report`` are also the names of the audit module,
the fix package and the terminal report module; all three are callable (they call
:func:`dataclean.api.audit`, :func:`~dataclean.api.fix`, :func:`~dataclean.api.report`), so the two
spellings never get in each other's way. Nothing is imported until first use.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "audit", "fix", "report"]


class CallableModule(types.ModuleType):
    """A module that, called, runs the public API function of the same name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from dataclean import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


def make_callable(module: types.ModuleType) -> None:
    module.__class__ = CallableModule


def __getattr__(name: str) -> Any:
    if name in ("audit", "fix", "report"):  # the submodule, made callable when it loads
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
