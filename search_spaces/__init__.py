"""Optuna define-by-run search spaces, one module per method (``common``: what they share).

Each module has ``space(trial)`` (sampled parameters; returns None), a typed settings
dataclass (:mod:`core.settings`) declaring every config key its trial reads, ``DEFAULTS``
(derived from it: the keys the trainable reads that are not searched but may be fixed with
``--set``), ``CHOICES`` (derived from it too: the names each restricted string may take),
``PRESETS`` (name -> another space reproducing a report's grid) and
``START_POINTS`` (the report's best configurations, evaluated first).
"""
