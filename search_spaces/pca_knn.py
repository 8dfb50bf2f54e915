"""Search space of ``pca_knn``: PCA codes scored by k-NN (report 004).

``n_components`` above what the data allows (64 features on digits) is clamped at fit time;
the value used is reported as ``n_components_fit``. ``whiten`` is this method's code scaling:
``knn_scale=standardize`` divides each component by its standard deviation on the reference
images as whitening does (the same neighbours in validation), and ``knn_scale=whiten`` would
whiten the whitened codes again, so it is a constant here (``none``), not searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import KNN_SCALES
from core.settings import OneOf
from search_spaces.common import (
    MAX_NEIGHBORS,
    REPORT_K,
    REPORT_KNN,
    KnnSettings,
    Preset,
    knn_space,
)


@dataclass(frozen=True, kw_only=True)
class PcaKnnSettings(KnnSettings):
    """What a ``pca_knn`` trial reads (``trainables.knn.PcaKnnTask``)."""

    n_components: int
    whiten: bool
    knn_scale: Annotated[str, OneOf(KNN_SCALES)] = REPORT_KNN["knn_scale"]


DEFAULTS: dict[str, Any] = PcaKnnSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = PcaKnnSettings.choices()
#: The k-NN options searched (not ``knn_scale``: see the module docstring).
KNN_SEARCHED = ("knn_metric", "knn_weights")


def space(trial: optuna.Trial) -> None:
    """Number of components, neighbours, whitening, k-NN metric and vote weights."""
    trial.suggest_int("n_components", 2, 256, log=True)
    trial.suggest_int("n_neighbors", 1, MAX_NEIGHBORS)
    trial.suggest_categorical("whiten", [False, True])
    knn_space(trial, KNN_SEARCHED)


PRESETS = {"report004": Preset(
    {"n_components": [19, 45, 75, 91], "n_neighbors": list(REPORT_K), "whiten": False,
     **REPORT_KNN},
    source="report 004: PCA + k-NN on CIFAR-10, best 41.50 % (19 components, k 31); "
           "Fournier & Aloise 2021: 42.35 %",
    gaps="k: the k of the report's tables plus those of its printed best points; the "
         "report's random search drew others too")}

#: Report 004's best PCA (19 components, k 31: 41.50 % on CIFAR-10).
START_POINTS: list[dict[str, Any]] = [
    {"n_components": 19, "n_neighbors": 31, "whiten": False,
     **{name: REPORT_KNN[name] for name in KNN_SEARCHED}}]
