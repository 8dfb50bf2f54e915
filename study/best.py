"""A finished study's best configuration on validation, as the values a new study fixes:
the rerun of a campaign's searched study, and ``python -m study.run --best-of STUDY_DIR``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from core import storage
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


def best_of(study_dir: str, fixed_on_top: Mapping[str, Any]) -> dict[str, Any]:
    """StudySpec values that rerun ``study_dir``'s best configuration: its method, data,
    budget, seed and space, every value its best trial ran with fixed, one configuration to
    the last epoch (FIFO) into a new study beside it (``<its name>-best``), on a local Ray
    with no tracker unless the command line says otherwise. ``fixed_on_top`` (the study
    file's and the command line's ``--set``) wins, and a best value whose branch it closes
    (``--set finetune_epochs=0`` and the best trial's ``finetune_lr``) is dropped."""
    from study.plan import resolve
    from study.space import asked, parameters

    if storage.is_uri(study_dir):
        raise StudyError(f"--best-of {study_dir}: needs a local study directory (copy it "
                         "down first)")
    folder = Path(storage.resolve(study_dir))
    saved = load_saved(str(folder))
    if saved.preset is not None:
        raise StudyError(f"--best-of {study_dir}: a --preset {saved.preset} study runs a "
                         "report's grid; rerun its best point with --preset and --set")
    plan = resolve(saved)
    best = best_configuration(folder, parameters(plan.space), plan.defaults)
    if best is None:
        raise StudyError(f"--best-of {study_dir}: no trial completed, so it has no best "
                         "configuration")
    still = asked(plan.space, {**best, **fixed_on_top}) | set(plan.defaults)
    fixed = {k: v for k, v in best.items() if k in still}
    return {**dataclasses.asdict(saved), "fixed": fixed, "scheduler": "fifo",
            "num_samples": 1, "repeats": 1, "time_budget": None, "resume": False,
            "overwrite": False, "report": True, "reproducible": False, "address": None,
            "mlflow": None, "wandb": None, "name": folder.name + SUFFIX,
            "storage": str(folder.parent)}
