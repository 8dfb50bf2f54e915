"""Search space of ``ae_classifier``: autoencoder pretraining, frozen-encoder head, fine-tuning
(reports 000 and 001).

``ae_epochs`` / ``head_epochs`` / ``finetune_epochs`` are relative stage lengths scaled to
``--max-epochs`` (exact when they sum to it; see ``trainables.ae_classifier``).
``latent_dim`` exists for ``arch=mlp`` only (report 000's conv code is the 256-channel map),
``finetune_lr`` only when there is a fine-tuning stage. ``augment``, ``lr_schedule`` and
``weight_average`` shape the classification stages only (neither report had them: their
presets keep ``none``, ``constant`` and ``none``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.names import INIT_SCHEMES, LR_SCHEDULES
from core.settings import OneOf, searched
from search_spaces.common import (
    REPORT_CLASSIFIER,
    Init,
    Preset,
    WeightAverageSettings,
    weight_average_space,
)

ARCHS = ("conv", "mlp")
#: The augmentation policies the space samples (``trainables.augment.POLICIES``).
AUGMENTS = ("none", "flip_crop", "affine")
#: What neither report did: no augmentation, a constant rate, the trained weights scored.
REPORT_TRAINING: dict[str, Any] = {"augment": AUGMENTS[0], "lr_schedule": LR_SCHEDULES[0],
                                   "weight_average": REPORT_CLASSIFIER["weight_average"]}


@dataclass(frozen=True, kw_only=True)
class AeClassifierSettings(WeightAverageSettings):
    """What an ``ae_classifier`` trial reads (``trainables.ae_classifier``); each
    classification stage averages its own weights (``weight_average=ema``)."""

    arch: Annotated[str, OneOf(ARCHS)]
    latent_dim: int | None = None
    lr: float
    weight_decay: float
    dropout: float
    init: Init
    batch_size: int
    ae_epochs: int
    head_epochs: int
    finetune_epochs: int
    finetune_lr: float | None = None
    max_epochs: int
    batchnorm: bool = True
    #: On-device augmentation of the head and fine-tuning stages' batches.
    augment: Annotated[str, OneOf(AUGMENTS)] = searched(REPORT_TRAINING["augment"])
    #: Each classification stage's learning-rate schedule, spanning that stage's epochs.
    lr_schedule: Annotated[str, OneOf(LR_SCHEDULES)] = searched(REPORT_TRAINING["lr_schedule"])
    #: The k-NN probe scoring the codes while pretraining.
    probe_neighbors: int = 10
    probe_samples: int = 5000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arch == "mlp":
            self.require("latent_dim", "with arch=mlp")
        if self.finetune_epochs > 0:
            self.require("finetune_lr", "with finetune_epochs > 0")


DEFAULTS: dict[str, Any] = AeClassifierSettings.defaults()
CHOICES: dict[str, tuple[str, ...]] = AeClassifierSettings.choices()


def space(trial: optuna.Trial) -> None:
    """Architecture, code size, optimiser, head dropout, the three stage lengths, and the
    classification stages' augmentation, schedule and weight averaging."""
    if trial.suggest_categorical("arch", list(ARCHS)) == "mlp":
        trial.suggest_int("latent_dim", 2, 128, log=True)
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.suggest_categorical("weight_decay", [0.0, 1e-5, 1e-4])
    trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("init", list(INIT_SCHEMES[:3]))
    trial.suggest_categorical("batch_size", [32, 64, 100, 128, 256])
    trial.suggest_int("ae_epochs", 0, 20)
    trial.suggest_int("head_epochs", 1, 20)
    if trial.suggest_int("finetune_epochs", 0, 20) > 0:
        trial.suggest_float("finetune_lr", 1e-5, 1e-2, log=True)
    trial.suggest_categorical("augment", list(AUGMENTS))
    trial.suggest_categorical("lr_schedule", list(LR_SCHEDULES))
    weight_average_space(trial)


#: Report 000's classifier: conv AE (batch norm), Adam 1e-3 (Keras' default) in every stage,
#: batch 64, equal pretraining / frozen-head / fine-tuning stages.
REPORT000: dict[str, Any] = {
    "arch": "conv", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.0, "init": "default",
    "batch_size": 64, "ae_epochs": 10, "head_epochs": 10, "finetune_epochs": 10,
    "finetune_lr": 1e-3, **REPORT_TRAINING}
#: Report 001's classifier: MLP AE with a 30-d code, Adam 1e-3, weight decay 1e-5, batch 100,
#: 10 pretraining + 10 head epochs, no fine-tuning.
REPORT001: dict[str, Any] = {
    "arch": "mlp", "latent_dim": 30, "lr": 1e-3, "weight_decay": 1e-5, "dropout": 0.0,
    "init": "default", "batch_size": 100, "ae_epochs": 10, "head_epochs": 10,
    "finetune_epochs": 0, **REPORT_TRAINING}

PRESETS = {
    "report000": Preset(
        REPORT000, source="report 000: Fashion-MNIST test accuracy 0.9188 (macro F1 0.92)",
        study={"max_epochs": 30, "val_fraction": 0.2},
        gaps="the report prints no epochs: 10 per stage assumed"),
    "report001": Preset(
        REPORT001, source="report 001: MNIST test accuracy 93 %",
        study={"max_epochs": 20},
        gaps="the report trained on all 60,000 training images; here 20 % of them are the "
             "validation split that selects the epoch"),
}

#: Both reports' configurations, as the searcher's first trials (a study runs the one
#: its data favours first; a dataset does not say which report it came from).
START_POINTS: list[dict[str, Any]] = [REPORT001, REPORT000]
