"""Search space of ``pca_knn``: PCA codes scored by k-NN (report 004).

``n_components`` above what the data allows (64 features on digits) is clamped at fit time;
the value used is reported as ``n_components_fit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from search_spaces.common import KnnSettings


@dataclass(frozen=True, kw_only=True)
class PcaKnnSettings(KnnSettings):
    """What a ``pca_knn`` trial reads (``trainables.knn.PcaKnnTask``)."""

    n_components: int
    whiten: bool


DEFAULTS: dict[str, Any] = PcaKnnSettings.defaults()


def space(trial: optuna.Trial) -> None:
    """Number of components, neighbours and whitening."""
    trial.suggest_int("n_components", 2, 256, log=True)
    trial.suggest_int("n_neighbors", 1, 50)
    trial.suggest_categorical("whiten", [False, True])


def report004(trial: optuna.Trial) -> None:
    """Report 004's grid: latent sizes 10..100 around its best (19), the k of its tables
    plus its best k = 31, no whitening (scikit-learn's default)."""
    trial.suggest_categorical("n_components", [10, 19, 20, 30, 40, 50, 60, 80, 100])
    trial.suggest_categorical("n_neighbors", [5, 10, 15, 25, 31, 35, 50])
    trial.suggest_categorical("whiten", [False])


PRESETS = {"report004": report004}

#: Report 004's best PCA (19 components, k 31: 41.50 % on CIFAR-10).
START_POINTS: list[dict[str, Any]] = [{"n_components": 19, "n_neighbors": 31, "whiten": False}]
