"""Search space of ``vae_knn``: VAE latent spaces scored by k-NN (report 004)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import BETA_SCHEDULES
from core.settings import OneOf, searched
from search_spaces.ae_knn import (
    REPORT_DENSE,
    REPORT_EPOCHS,
    REPORT_TRAINING,
    TABLE_K,
    AutoencoderKnnSettings,
    autoencoder_knn_space,
)
from search_spaces.common import Preset


@dataclass(frozen=True, kw_only=True)
class VaeKnnSettings(AutoencoderKnnSettings):
    """What a ``vae_knn`` trial reads (``trainables.knn.VaeKnnTask``): the KL weight
    ``beta`` too, and its schedule over the epochs (``trainables.knn.kl_weight``)."""

    beta: float
    beta_schedule: Annotated[str, OneOf(BETA_SCHEDULES)] = searched(BETA_SCHEDULES[0])
    #: Epochs of ``warmup``'s linear ramp up to ``beta``.
    beta_warmup_epochs: int = searched(5)
    #: Ramps of ``cyclical`` over the trial's ``max_epochs`` (Fu et al.'s 4; at most one
    #: per two epochs).
    beta_cycles: int = searched(4)
    #: The loop's epochs, which ``cyclical`` divides into its cycles.
    max_epochs: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta_schedule == "cyclical":
            self.require("max_epochs", "with beta_schedule=cyclical")
        for name in ("beta_warmup_epochs", "beta_cycles"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


DEFAULTS: dict[str, Any] = VaeKnnSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = VaeKnnSettings.choices()


def space(trial: optuna.Trial) -> None:
    """Architecture, latent size, neighbours, k-NN options, optimiser and VAE knobs."""
    autoencoder_knn_space(trial, variational=True)


#: Report 004's VAEs: batch norm (the default), no dropout (it destabilised them), the
#: plain ELBO.
REPORT_VAE = {"dropout": 0.0, "beta": 1.0, "beta_schedule": BETA_SCHEDULES[0],
              **REPORT_TRAINING}

PRESETS = {"report004": Preset(
    [{"arch": "dense", "latent_dim": [40, 70], "n_neighbors": TABLE_K, **REPORT_VAE},
     {"arch": "conv", "latent_dim": [50, 90], "n_neighbors": TABLE_K, **REPORT_VAE}],
    source="report 004: VAE + k-NN on CIFAR-10: dense latent 40 43.61 %, latent 70 "
           "42.80 %; conv latent 50 43.04 %, latent 90 40.69 %; Fournier & Aloise 2021: "
           "44.39 %",
    study=REPORT_EPOCHS,
    gaps="epochs and batch size (128) are not printed in the report")}

#: Report 004's best VAE (dense, latent 40, k 25) as the searcher's first point.
START_POINTS: list[dict[str, Any]] = [
    {"arch": "dense", "latent_dim": 40, "n_neighbors": 25, **REPORT_DENSE, **REPORT_VAE},
]
