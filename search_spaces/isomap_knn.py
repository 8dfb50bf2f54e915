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

from search_spaces.common import KnnSettings


@dataclass(frozen=True, kw_only=True)
class IsomapKnnSettings(KnnSettings):
    """What an ``isomap_knn`` trial reads (``trainables.knn.IsomapKnnTask``)."""

    n_components: int
    isomap_neighbors: int
    isomap_subsample: int = 2000


DEFAULTS: dict[str, Any] = IsomapKnnSettings.defaults()


def space(trial: optuna.Trial) -> None:
    """Number of components, k-NN neighbours and Isomap's own graph neighbours."""
    trial.suggest_int("n_components", 2, 128, log=True)
    trial.suggest_int("n_neighbors", 1, 50)
    trial.suggest_int("isomap_neighbors", 3, 50, log=True)


def report004(trial: optuna.Trial) -> None:
    """Report 004's grid: the latent sizes and k of its PCA / AE tables, with scikit-learn's
    default graph of 5 neighbours (the report does not name another)."""
    trial.suggest_categorical("n_components", [10, 19, 20, 30, 40, 50, 60, 80, 100])
    trial.suggest_categorical("n_neighbors", [5, 10, 15, 25, 35, 50])
    trial.suggest_categorical("isomap_neighbors", [5])


PRESETS = {"report004": report004}

#: Report 004 prints only Isomap's best accuracy (27.10 %), not its configuration: this
#: start point is its best PCA size (19) with its AE's best k (25) and scikit-learn's
#: default graph.
START_POINTS: list[dict[str, Any]] = [
    {"n_components": 19, "n_neighbors": 25, "isomap_neighbors": 5},
]
