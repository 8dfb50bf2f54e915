"""Search space of ``ae_knn``: plain autoencoder codes scored by k-NN (report 004)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import BETA_SCHEDULES, INIT_SCHEMES
from core.settings import OneOf, searched
from search_spaces.common import (
    MAX_NEIGHBORS,
    REPORT_KNN,
    Init,
    KnnSettings,
    Preset,
    knn_space,
)

ARCHS = ("dense", "conv")
#: The dense autoencoder's first hidden width and depth the space samples; each further
#: layer halves the width (``AutoencoderKnnSettings.hidden``).
DENSE_WIDTHS = (256, 512, 1024, 2048)
DENSE_DEPTHS = (1, 3)
#: The dense autoencoder of report 004 as assumed here (the report prints no widths):
#: 512 -> 256 -> code.
REPORT_DENSE = {"dense_width": 512, "dense_depth": 2}


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
    #: The dense encoder's hidden widths: ``dense_width``, halved ``dense_depth - 1`` times
    #: (the decoder mirrors them); the conv autoencoder ignores both.
    dense_width: int = searched(REPORT_DENSE["dense_width"])
    dense_depth: int = searched(REPORT_DENSE["dense_depth"])

    def __post_init__(self) -> None:
        for name in ("dense_width", "dense_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def hidden(self) -> tuple[int, ...]:
        """The dense autoencoder's hidden widths, e.g. ``(512, 256)``."""
        return tuple(max(1, self.dense_width >> i) for i in range(self.dense_depth))


DEFAULTS: dict[str, Any] = AutoencoderKnnSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = AutoencoderKnnSettings.choices()

#: The k of report 004's AE and VAE tables.
TABLE_K = [5, 10, 15, 25, 35, 50]
#: Report 004's training of its autoencoders (the report prints no epoch count: 20 here)
#: and its k-NN.
REPORT_TRAINING = {"lr": 1e-3, "init": "default", "batch_size": 128, **REPORT_KNN}
REPORT_EPOCHS = {"max_epochs": 20}


def space(trial: optuna.Trial) -> None:
    """Architecture, latent size, neighbours, k-NN options and optimiser knobs."""
    autoencoder_knn_space(trial, variational=False)


def autoencoder_knn_space(trial: optuna.Trial, *, variational: bool) -> None:
    """The space ``ae_knn`` and ``vae_knn`` share (a dense autoencoder's width and depth
    too); a VAE adds its KL weight ``beta`` and that weight's schedule."""
    if trial.suggest_categorical("arch", list(ARCHS)) == "dense":
        trial.suggest_categorical("dense_width", list(DENSE_WIDTHS))
        trial.suggest_int("dense_depth", *DENSE_DEPTHS)
    trial.suggest_int("latent_dim", 2, 128, log=True)
    trial.suggest_int("n_neighbors", 1, MAX_NEIGHBORS)
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("init", list(INIT_SCHEMES[:3]))
    if variational:
        trial.suggest_float("beta", 0.1, 4.0, log=True)
        schedule = trial.suggest_categorical("beta_schedule", list(BETA_SCHEDULES))
        if schedule == "warmup":
            trial.suggest_int("beta_warmup_epochs", 1, 10)
        elif schedule == "cyclical":
            trial.suggest_int("beta_cycles", 2, 5)
    trial.suggest_categorical("batch_size", [32, 64, 128, 256])
    knn_space(trial)


PRESETS = {"report004": Preset(
    [{"arch": "dense", "latent_dim": [40, 80], "n_neighbors": TABLE_K, "dropout": 0.2,
      "batchnorm": False, **REPORT_TRAINING},
     {"arch": "conv", "latent_dim": [30, 90], "n_neighbors": TABLE_K, "dropout": 0.0,
      "batchnorm": True, **REPORT_TRAINING}],
    source="report 004: AE + k-NN on CIFAR-10: dense (dropout) latent 40 42.31 %, latent 80 "
           "44.91 % (k 25); conv (batch norm) latent 30 40.84 %, latent 90 42.02 %; "
           "Fournier & Aloise 2021: 45.77 %",
    study=REPORT_EPOCHS,
    gaps="epochs, dropout rate (0.2), batch size (128) and the dense widths (512, 256) are "
         "not printed in the report")}

#: Report 004's best AE (dense with dropout, latent 80, k 25: 44.91 % on CIFAR-10).
START_POINTS: list[dict[str, Any]] = [
    {"arch": "dense", "latent_dim": 80, "n_neighbors": 25, "dropout": 0.2, **REPORT_DENSE,
     **REPORT_TRAINING},
]
