"""Search space of ``vae_knn``: VAE latent spaces scored by k-NN (report 004)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from search_spaces.ae_knn import ARCHS, AutoencoderKnnSettings, autoencoder_knn_space


@dataclass(frozen=True, kw_only=True)
class VaeKnnSettings(AutoencoderKnnSettings):
    """What a ``vae_knn`` trial reads (``trainables.knn.VaeKnnTask``): the KL weight too."""

    beta: float


DEFAULTS: dict[str, Any] = VaeKnnSettings.defaults()


def space(trial: optuna.Trial) -> None:
    """Architecture, latent size, neighbours, optimiser and VAE knobs."""
    autoencoder_knn_space(trial, variational=True)


def report004(trial: optuna.Trial) -> None:
    """Report 004's own grid: dense latent 40/70 and conv latent 50/90 (one choice set, as
    Optuna needs), k in 5..50, batch-norm VAEs without dropout, Adam 1e-3."""
    trial.suggest_categorical("arch", list(ARCHS))
    trial.suggest_categorical("latent_dim", [40, 50, 70, 90])
    trial.suggest_categorical("n_neighbors", [5, 10, 15, 25, 35, 50])
    trial.suggest_categorical("lr", [1e-3])
    trial.suggest_categorical("dropout", [0.0])
    trial.suggest_categorical("init", ["default"])
    trial.suggest_categorical("beta", [1.0])
    trial.suggest_categorical("batch_size", [128])


PRESETS = {"report004": report004}

#: Report 004's best VAE (dense, latent 40, k 25) as the searcher's first point.
START_POINTS: list[dict[str, Any]] = [
    {"arch": "dense", "latent_dim": 40, "n_neighbors": 25, "lr": 1e-3, "dropout": 0.0,
     "init": "default", "beta": 1.0, "batch_size": 128},
]
