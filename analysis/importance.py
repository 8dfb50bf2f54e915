"""Hyperparameter importances: Optuna's fANOVA on an Optuna study rebuilt from the trials."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from analysis.results import Study, plain

logger = logging.getLogger(__name__)

MIN_TRIALS = 4
#: max / min above which a positive numeric range is treated as log-scaled.
LOG_SPAN = 30.0


def distributions(trials: pd.DataFrame, params: list[str]) -> dict[str, Any]:
    """Optuna distributions inferred from the observed values (constant columns left out)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for p in params:
        values = trials[p].dropna()
        if values.nunique() < 2:
            continue
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            out[p] = CategoricalDistribution(sorted({plain(v) for v in values}, key=str))
            continue
        lo, hi = float(values.min()), float(values.max())
        log = lo > 0 and hi / lo >= LOG_SPAN
        if pd.api.types.is_integer_dtype(values):
            out[p] = IntDistribution(int(lo), int(hi), log=log)
        else:
            out[p] = FloatDistribution(lo, hi, log=log)
    return out


def fanova(study: Study, seed: int = 0) -> tuple[pd.DataFrame | None, str]:
    """Importance of each searched hyperparameter for the final objective, and a note.

    Every trial with a finite objective enters (ASHA-stopped ones with their last value).
    Returns ``(None, reason)`` when there are too few trials or varying parameters.
    """
    t = study.trials
    t = t[np.isfinite(t[study.metric].astype(float))] if study.metric in t else t.iloc[:0]
    if len(t) < MIN_TRIALS:
        return None, (f"fANOVA skipped: {len(t)} trial(s) with a {study.metric}; "
                      f"needs at least {MIN_TRIALS}.")
    dists = distributions(t, study.params)
    if not dists:
        return None, "fANOVA skipped: no hyperparameter varies across the trials."
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if study.maximize else "minimize"
    rebuilt = optuna.create_study(direction=direction)
    for _, row in t.iterrows():  # conditional parameters: each trial has only its own
        params = {p: plain(row[p]) for p in dists if not pd.isna(row[p])}
        rebuilt.add_trial(optuna.trial.create_trial(
            params=params, distributions={p: dists[p] for p in params},
            value=float(row[study.metric])))
    try:
        scores = optuna.importance.get_param_importances(
            rebuilt, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed),
            normalize=True)
    except (RuntimeError, ValueError) as err:  # e.g. a constant objective
        logger.warning("fANOVA failed: %s", err)
        return None, f"fANOVA skipped: {err}"
    if not scores:
        return None, "fANOVA skipped: no hyperparameter was sampled in every trial."
    frame = pd.DataFrame({"hyperparameter": list(scores), "importance": list(scores.values())})
    frame = frame.sort_values("importance", ascending=False, kind="stable")
    note = (f"Optuna fANOVA (random-forest functional ANOVA, seed {seed}) on "
            f"{len(rebuilt.trials)} trials' final {study.metric}; importances sum to 1. "
            "Conditional hyperparameters (not sampled in every trial) are left out; with few "
            "trials treat the numbers as rough.")
    return frame.reset_index(drop=True), note
