"""`StudyPlan`: a study resolved once, before anything runs.

Everything the Tuner is built from and every trial's config comes from: the registered
method, its space (searched, or checking ``--set`` values beside a preset's grid), a
preset's grid, the constants a trial reads besides the sampled values (a preset's settings
among them), the ``--set`` values checked against both, and the start points the space can
produce. Resolving it validates the method, ``--preset`` and ``--set`` (StudyError).

>>> from study.spec import StudySpec
>>> plan = resolve(StudySpec(method="vae_knn", fixed={"latent_dim": 8}))
>>> plan.fixed["latent_dim"], plan.constants["max_epochs"]
(8, 15)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from core.defaults import LOOP_CHOICES, LOOP_DEFAULTS
from core.errors import StudyError
from study import presets, registry
from study.space import SpaceFn, check_choices, check_fixed, override
from study.spec import StudySpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyPlan:
    """A validated study: its spec, method, space (with the study file's ``space:``
    overrides) and the values every trial receives."""

    spec: StudySpec
    method: registry.Method
    space: SpaceFn
    #: Non-searched config keys the trainable reads, with their defaults (fixable by --set).
    defaults: Mapping[str, Any]
    #: The ``--set`` values, checked against the space and typed like the defaults.
    fixed: Mapping[str, Any]
    #: Every trial's config besides the sampled values (defaults, budget, seed, precision).
    constants: Mapping[str, Any]
    #: The method's START_POINTS that this space can produce: the searcher's first trials.
    start_points: tuple[Mapping[str, Any], ...]
    #: A preset's distinct grid points (less the ``--set`` keys), each run once per seed;
    #: empty for a search.
    grid: tuple[Mapping[str, Any], ...] = ()

    @property
    def objective(self) -> str:
        """What ASHA and the searcher rank trials on (``registry.Method.objective``)."""
        return self.method.objective(self.fixed)


def resolve(spec: StudySpec) -> StudyPlan:
    """Resolve ``spec`` into its plan (StudyError for an unknown method, preset or --set)."""
    method = registry.get(spec.method)
    module = method.space_module()
    preset = presets.lookup(spec.method, spec.preset) if spec.preset else None
    if preset and spec.space:
        raise StudyError(f"--preset {spec.preset} runs the report's grid; a study file's "
                         "`space:` changes the searched space: drop one of them")
    space: SpaceFn = override(module.space, spec.space)
    defaults = {**LOOP_DEFAULTS, **module.DEFAULTS}
    choices = {**LOOP_CHOICES, "select_metric": method.select_metrics, **module.CHOICES}
    check_choices(spec.fixed, {name: names for name, names in choices.items()
                               if name in defaults})
    if preset:
        fixed = presets.check_fixed(preset, space, spec.fixed, defaults)
        grid = presets.grid(preset, fixed)
    else:
        fixed, grid = check_fixed(space, spec.fixed, defaults), []
    constants = {**defaults, **(preset.settings if preset else {}),
                 "max_epochs": spec.max_epochs, "seed": spec.seed,
                 "val_fraction": spec.val_fraction, "precision": spec.precision,
                 "compile": spec.compile}
    if spec.reproducible:
        constants["deterministic"] = True
    points = () if preset else tuple(p for p in getattr(module, "START_POINTS", None) or []
                                     if _inside(space, p, defaults))
    return StudyPlan(spec, method, space, _frozen(defaults), _frozen(fixed),
                     _frozen(constants), tuple(_frozen(p) for p in points),
                     tuple(_frozen(p) for p in grid))


def _inside(space: SpaceFn, point: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    """Whether the space can produce ``point``: a preset reproducing one report need not
    hold another report's best point (Optuna would refuse to enqueue it)."""
    try:
        check_fixed(space, point, defaults)
    except StudyError:
        logger.info("start point %s lies outside this space; skipped", dict(point))
        return False
    return True


def _frozen(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))
