"""Search space of ``medmnist_resnet``: report 004's ResNet-18 on BreastMNIST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import optuna

from core.settings import OneOf
from search_spaces.common import OPTIMIZERS, ClassifierSettings, Preset


@dataclass(frozen=True, kw_only=True)
class MedmnistResnetSettings(ClassifierSettings):
    """What a ``medmnist_resnet`` trial reads: report 004's classifier, trained with Adam
    (``--set optimizer=sgd`` uses momentum 0.9)."""

    optimizer: Annotated[str, OneOf(OPTIMIZERS)] = "adam"
    momentum: float | None = 0.9


DEFAULTS: dict[str, Any] = MedmnistResnetSettings.defaults()


def space(trial: optuna.Trial) -> None:
    """Learning rate, batch size, augmentation on / off, weight init."""
    trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [8, 16, 32, 64])
    trial.suggest_categorical("augment", ["none", "medmnist"])
    trial.suggest_categorical("init", ["default", "glorot_uniform", "he_normal"])


#: Report 004's classifier: Adam 1e-4, batch 8, flips / rotation / colour jitter / resized
#: crop.
REPORT004: dict[str, Any] = {"lr": 1e-4, "batch_size": 8, "augment": "medmnist",
                             "init": "default"}

PRESETS = {"report004": Preset(
    REPORT004, source="report 004: BreastMNIST test accuracy 83.3 %, confusion "
                      "[[21 21] [5 109]]",
    study={"max_epochs": 50},
    gaps="BreastMNIST's own validation split selects the epoch (MedMNIST's protocol; the "
         "report does not say which epoch it tested)")}

#: Report 004's configuration, as the searcher's first trial.
START_POINTS: list[dict[str, Any]] = [REPORT004]
