"""Importing TensorFlow quietly. No TensorFlow import at module level.

TensorFlow's C++ runtime writes start-up lines straight to file descriptor 2 before its own log level
applies ("oneDNN custom operations are on", "Could not find cuda drivers", "failed call to cuInit:
INTERNAL: CUDA error", CPU instruction notes), some of them twice. None of them is a failure, but they
read like one. :func:`import_tensorflow` silences them: ``TF_CPP_MIN_LOG_LEVEL=3`` for what the runtime
logs later, and descriptor 2 pointed at a temporary file while the library loads and lists its
devices. If the import fails, what was captured is written back to stderr, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

_state = {"verbose": False}


@contextlib.contextmanager
def native_stderr_captured(enabled: bool = True) -> Iterator[None]:
    """Point file descriptor 2 at a temporary file for the block; replay it to stderr if the block raises."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (embedded interpreters): nothing to silence
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            os.write(2, sink.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow(verbose: bool = False) -> Any:
    """``import tensorflow`` (and Keras), its start-up logs silenced unless ``verbose``; returns the module.

    Also lists the physical devices once (that is when CUDA is probed and complains on CPU machines)
    and sets TensorFlow's and absl's Python loggers to errors only.
    """
    _state["verbose"] = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    elif os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3":
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    with native_stderr_captured(not verbose):
        import keras  # noqa: F401  loads with TensorFlow: its import notes are silenced too
        import tensorflow as tf

        tf.config.list_physical_devices()
    if not verbose:
        import logging

        tf.get_logger().setLevel(logging.ERROR)
        with contextlib.suppress(ImportError):
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
    return tf


def is_verbose() -> bool:
    """Whether :func:`import_tensorflow` was asked to show TensorFlow's logs."""
    return _state["verbose"]


__all__ = ["import_tensorflow", "is_verbose", "native_stderr_captured"]
