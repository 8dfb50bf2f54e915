"""A finished study's best configuration on validation, as the values a new study fixes:
the rerun of a campaign's searched study, and ``python -m study.run --best-of STUDY_DIR``."""

from __future__ import annotations

import dataclasses
import json
import posixpath
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from core.errors import StudyError
from study.spec import load_saved

#: The name of a ``--best-of`` study beside its source: ``<source>-best``.
SUFFIX = "-best"


def best_configuration(study_dir: Path, names: Collection[str],
                       defaults: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """What a study's best trial on validation ran with, as its params.json has it (None
    when no trial completed): the values of the parameters ``names`` (those the space
    samples; each taken, also one that no trial happened to vary), and every value of a
    ``defaults`` key that differs from its default (a preset's settings, ``--set``
    constants)."""
    from analysis import results

    try:
        study = results.load(study_dir)
    except StudyError:
        return None
    best = study.best_trial()
    if best is None:
        return None
    config = json.loads((study.trial_dir(str(best["trial_id"])) / "params.json").read_text())
    changed = {k: v for k, v in config.items()
               if k in (defaults or {}) and v is not None and v != defaults[k]}
    return {**changed, **{k: config[k] for k in names if config.get(k) is not None}}


def best_of(study_dir: str) -> dict[str, Any]:
    """StudySpec values that rerun ``study_dir``'s best configuration: its method, data
    and budget, every value its best trial ran with fixed, one configuration to the last
    epoch (FIFO) into a new study beside it (``<its name>-best``); the command line's
    options go on top."""
    from study.plan import resolve
    from study.space import parameters

    saved = load_saved(study_dir)
    plan = resolve(saved)
    best = best_configuration(Path(study_dir), parameters(plan.space), plan.defaults)
    if best is None:
        raise StudyError(f"--best-of {study_dir}: no trial completed, so it has no best "
                         "configuration")
    folder = study_dir.rstrip("/")
    return {**dataclasses.asdict(saved), "fixed": best, "space": {}, "preset": None,
            "searcher": "optuna", "scheduler": "fifo", "num_samples": 1, "repeats": 1,
            "time_budget": None, "resume": False, "overwrite": False,
            "name": posixpath.basename(folder) + SUFFIX,
            "storage": posixpath.dirname(folder) or "."}
