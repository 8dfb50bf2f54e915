"""Search space of ``vae_knn``: VAE latent spaces scored by k-NN (report 004)."""

from __future__ import annotations

from typing import Any

import optuna

from trainables.nets import INIT_SCHEMES

DEFAULTS: dict[str, Any] = {"k_max": 50, "batchnorm": True, "weight_decay": 0.0}


def space(trial: optuna.Trial) -> None:
    """Architecture, latent size, neighbours, optimiser and VAE knobs."""
    trial.suggest_categorical("arch", ["dense", "conv"])
    trial.suggest_int("latent_dim", 2, 128, log=True)
    trial.suggest_int("n_neighbors", 1, 50)
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("init", list(INIT_SCHEMES[:3]))
    trial.suggest_float("beta", 0.1, 4.0, log=True)
    trial.suggest_categorical("batch_size", [32, 64, 128, 256])


def report004(trial: optuna.Trial) -> None:
    """Report 004's own grid: dense latent 40/70 and conv latent 50/90 (one choice set, as
    Optuna needs), k in 5..50, batch-norm VAEs without dropout, Adam 1e-3."""
    trial.suggest_categorical("arch", ["dense", "conv"])
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
