"""A method's presets: the named report setups (``search_spaces.common.Preset``) that
``--preset`` runs as a grid, and what they put under the study's own options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import StudyError
from search_spaces.common import Preset
from study import registry
from study.space import SpaceFn
from study.space import check_fixed as check_space

#: Study options a preset may set (a test checks every preset against this list).
STUDY_OPTIONS = ("max_epochs", "val_fraction", "image_size", "grayscale", "split_ratio")


def lookup(method: str, name: str) -> Preset:
    """``method``'s preset ``name`` (StudyError naming the method's presets otherwise)."""
    presets: Mapping[str, Preset] = registry.get(method).space_module().PRESETS
    if name not in presets:
        raise StudyError(f"--preset {name!r}: {method} has "
                         f"{', '.join(presets) or 'no presets'}")
    return presets[name]


def under(values: dict[str, Any]) -> dict[str, Any]:
    """Study options (``values``: the YAML file's and command line's) with the preset's
    own options beneath them and the number of grid points as ``num_samples``.

    A preset enumerates its grid: ``--num-samples`` and ``--searcher`` have no meaning
    with it.
    """
    preset = lookup(values["method"], values["preset"])
    for option in ("num_samples", "searcher"):
        if option in values:
            raise StudyError(f"--{option.replace('_', '-')}: --preset runs each point of "
                             "the report's grid once per seed (--repeats); drop one of them")
    points = grid(preset, values.get("fixed", {}))
    return {**preset.study, **values, "num_samples": len(points), "searcher": "grid"}


def check_fixed(preset: Preset, space: SpaceFn, fixed: Mapping[str, Any],
                defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The ``--set`` values of a preset study: a value the grid has is the report's own;
    any other is checked against the method's space and defaults
    (``study.space.check_fixed``)."""
    known = preset.values()
    own = {k: v for k, v in fixed.items() if v in known.get(k, ())}
    others = {k: v for k, v in fixed.items() if k not in own}
    return {**check_space(space, others, defaults), **own}


def grid(preset: Preset, fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The preset's distinct points once the ``--set`` keys are taken out: a fixed value
    replaces the grid's values of that parameter in every point (so ``--set
    split_ratio=0.3`` runs the report's experiments at that split)."""
    points: list[dict[str, Any]] = []
    for point in preset.points():
        point = {k: v for k, v in point.items() if k not in fixed}
        if point not in points:
            points.append(point)
    return points
