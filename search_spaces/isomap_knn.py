"""Search space of ``isomap_knn``: Isomap codes scored by k-NN (report 004).

Isomap is quadratic in the images it is fitted on: it is fitted on ``isomap_subsample``
seeded random training images (default 2000; report 004 used 10 % of CIFAR-10, i.e.
``--set isomap_subsample=5000``) and then embeds every split. ``n_components`` and
``isomap_neighbors`` are clamped to that subsample at fit time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from search_spaces.common import (
    MAX_NEIGHBORS,
    REPORT_K,
    REPORT_KNN,
    KnnSettings,
    Preset,
    knn_space,
)


@dataclass(frozen=True, kw_only=True)
class IsomapKnnSettings(KnnSettings):
    """What an ``isomap_knn`` trial reads (``trainables.knn.IsomapKnnTask``)."""

    n_components: int
    isomap_neighbors: int
    isomap_subsample: int = 2000


DEFAULTS: dict[str, Any] = IsomapKnnSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = IsomapKnnSettings.choices()


def space(trial: optuna.Trial) -> None:
    """Number of components, k-NN neighbours and options, Isomap's own graph neighbours."""
    trial.suggest_int("n_components", 2, 128, log=True)
    trial.suggest_int("n_neighbors", 1, MAX_NEIGHBORS)
    trial.suggest_int("isomap_neighbors", 3, 50, log=True)
    knn_space(trial)


PRESETS = {"report004": Preset(
    {"n_components": [9, 23, 27], "n_neighbors": list(REPORT_K), "isomap_neighbors": 5,
     **REPORT_KNN},
    source="report 004: Isomap (fitted on 10 % of CIFAR-10) + k-NN, best 27.10 % "
           "(23 components with k 51 and 85, 27 with k 45); Fournier & Aloise 2021: 33.61 %",
    settings={"isomap_subsample": 5000},
    gaps="Isomap's own graph: scikit-learn's default 5 neighbours (the report names none)")}

#: Report 004's best Isomap points.
START_POINTS: list[dict[str, Any]] = [
    {"n_components": 23, "n_neighbors": 51, "isomap_neighbors": 5, **REPORT_KNN},
    {"n_components": 27, "n_neighbors": 45, "isomap_neighbors": 5, **REPORT_KNN},
]
