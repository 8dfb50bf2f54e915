"""Optuna define-by-run search spaces, one module per method.

Each module has ``space(trial)`` (sampled parameters; returns None), ``PRESETS`` (name ->
another space function reproducing a report's grid), ``DEFAULTS`` (config keys the
trainable reads that are not searched but may be fixed with ``--set``) and
``START_POINTS`` (the report's best configurations, evaluated first).
"""
