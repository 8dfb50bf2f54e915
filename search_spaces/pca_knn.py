"""Search space of ``pca_knn``: PCA codes scored by k-NN (report 004).

``n_components`` above what the data allows (64 features on digits) is clamped at fit time;
the value used is reported as ``n_components_fit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from search_spaces.common import MAX_NEIGHBORS, REPORT_K, KnnSettings, Preset


@dataclass(frozen=True, kw_only=True)
class PcaKnnSettings(KnnSettings):
    """What a ``pca_knn`` trial reads (``trainables.knn.PcaKnnTask``)."""

    n_components: int
    whiten: bool


DEFAULTS: dict[str, Any] = PcaKnnSettings.defaults()


def space(trial: optuna.Trial) -> None:
    """Number of components, neighbours and whitening."""
    trial.suggest_int("n_components", 2, 256, log=True)
    trial.suggest_int("n_neighbors", 1, MAX_NEIGHBORS)
    trial.suggest_categorical("whiten", [False, True])


PRESETS = {"report004": Preset(
    {"n_components": [19, 45, 75, 91], "n_neighbors": list(REPORT_K), "whiten": False},
    source="report 004: PCA + k-NN on CIFAR-10, best 41.50 % (19 components, k 31); "
           "Fournier & Aloise 2021: 42.35 %",
    gaps="k: the k of the report's tables plus those of its printed best points; the "
         "report's random search drew others too")}

#: Report 004's best PCA (19 components, k 31: 41.50 % on CIFAR-10).
START_POINTS: list[dict[str, Any]] = [{"n_components": 19, "n_neighbors": 31, "whiten": False}]
