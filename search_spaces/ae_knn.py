"""Search space of ``ae_knn``: plain autoencoder codes scored by k-NN (report 004)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import INIT_SCHEMES
from core.settings import OneOf
from search_spaces.common import Init, KnnSettings

ARCHS = ("dense", "conv")


@dataclass(frozen=True, kw_only=True)
class AutoencoderKnnSettings(KnnSettings):
    """What an ``ae_knn`` trial reads (``trainables.knn.AutoencoderKnnTask``)."""

    arch: Annotated[str, OneOf(ARCHS)]
    latent_dim: int
    lr: float
    dropout: float
    init: Init
    batch_size: int
    batchnorm: bool = True
    weight_decay: float = 0.0


DEFAULTS: dict[str, Any] = AutoencoderKnnSettings.defaults()

#: Report 004's dense AE used dropout (rate not printed; 0.2 here), its conv AE batch norm.
REPORT_DROPOUT = {"dense": 0.2, "conv": 0.0}


def space(trial: optuna.Trial) -> None:
    """Architecture, latent size, neighbours and optimiser knobs."""
    autoencoder_knn_space(trial, variational=False)


def autoencoder_knn_space(trial: optuna.Trial, *, variational: bool) -> None:
    """The space ``ae_knn`` and ``vae_knn`` share; a VAE adds its KL weight ``beta``."""
    trial.suggest_categorical("arch", list(ARCHS))
    trial.suggest_int("latent_dim", 2, 128, log=True)
    trial.suggest_int("n_neighbors", 1, 50)
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("init", list(INIT_SCHEMES[:3]))
    if variational:
        trial.suggest_float("beta", 0.1, 4.0, log=True)
    trial.suggest_categorical("batch_size", [32, 64, 128, 256])


def report004(trial: optuna.Trial) -> None:
    """Report 004's grid: dense latent 40/80 and conv latent 30/90 (one choice set, as
    Optuna needs), k in 5..50, dropout for the dense AE only, Adam 1e-3."""
    arch = trial.suggest_categorical("arch", list(ARCHS))
    trial.suggest_categorical("latent_dim", [30, 40, 80, 90])
    trial.suggest_categorical("n_neighbors", [5, 10, 15, 25, 35, 50])
    trial.suggest_categorical("lr", [1e-3])
    # A float range of one value per arch: Optuna refuses categorical choices that change
    # between trials, but accepts float ranges that do.
    trial.suggest_float("dropout", REPORT_DROPOUT[arch], REPORT_DROPOUT[arch])
    trial.suggest_categorical("init", ["default"])
    trial.suggest_categorical("batch_size", [128])


PRESETS = {"report004": report004}

#: Report 004's best AE (dense with dropout, latent 80, k 25: 44.91 % on CIFAR-10).
START_POINTS: list[dict[str, Any]] = [
    {"arch": "dense", "latent_dim": 80, "n_neighbors": 25, "lr": 1e-3, "dropout": 0.2,
     "init": "default", "batch_size": 128},
]
