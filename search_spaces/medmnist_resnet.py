"""Search space of ``medmnist_resnet``: report 004's ResNet-18 on BreastMNIST."""

from __future__ import annotations

from typing import Any

import optuna

DEFAULTS: dict[str, Any] = {"optimizer": "adam", "momentum": 0.9, "weight_decay": 0.0}


def space(trial: optuna.Trial) -> None:
    """Learning rate, batch size, augmentation on / off, weight init."""
    trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [8, 16, 32, 64])
    trial.suggest_categorical("augment", ["none", "medmnist"])
    trial.suggest_categorical("init", ["default", "glorot_uniform", "he_normal"])


def report004(trial: optuna.Trial) -> None:
    """Report 004: Adam 1e-4, batch 8, flips / rotation / colour jitter / resized crop."""
    trial.suggest_categorical("lr", [1e-4])
    trial.suggest_categorical("batch_size", [8])
    trial.suggest_categorical("augment", ["medmnist"])
    trial.suggest_categorical("init", ["default"])


PRESETS = {"report004": report004}

#: Report 004's configuration (BreastMNIST test acc 83.3 %).
START_POINTS: list[dict[str, Any]] = [
    {"lr": 1e-4, "batch_size": 8, "augment": "medmnist", "init": "default"},
]
