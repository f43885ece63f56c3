"""The trainer behind ``dataclean train``: the only package that imports TensorFlow/Keras.

Importing ``train`` (or ``train.cli``/``train.config``) does not import TensorFlow; the modules
``train.model``, ``train.fit``, ``train.run`` and ``train.predict`` do.

Flow: manifest -> :func:`train.data.load_splits` -> :func:`train.data.build_dataset` ->
:func:`train.model.build_model` -> :func:`train.fit.fit_two_phase` -> :func:`train.evaluate.evaluate`
-> :func:`train.run.write_run`; :func:`train.run.run_training` does all of it for a :class:`TrainConfig`.
"""

from train.config import ARCHS, TrainConfig

__all__ = ["ARCHS", "TrainConfig"]
